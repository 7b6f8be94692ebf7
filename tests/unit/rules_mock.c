/* rules_mock.c - a mock kvs_host table and request: the host the rule engine and plugins see in tests. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rules.h"
#include "rules_mock.h"

char mock_errors[16384];

static void m_log(const kvs_config_ctx *ctx, enum kvs_log_level level, const char *fmt, ...)
{
	(void)ctx;
	(void)level;
	(void)fmt;
}

static void m_config_error(const kvs_config_ctx *ctx, const char *option, const char *file,
			   int line, const char *fmt, ...)
{
	size_t n = strlen(mock_errors);
	va_list ap;

	(void)ctx;
	if (file)
		n += (size_t)snprintf(mock_errors + n, sizeof(mock_errors) - n, "%s:%d: ", file, line);
	else
		n += (size_t)snprintf(mock_errors + n, sizeof(mock_errors) - n, "option %s: ",
				      option ? option : "-");
	if (n >= sizeof(mock_errors))
		return;
	va_start(ap, fmt);
	n += (size_t)vsnprintf(mock_errors + n, sizeof(mock_errors) - n, fmt, ap);
	va_end(ap);
	if (n + 1 < sizeof(mock_errors))
		strcat(mock_errors, "\n");
}

static const char *m_request_id(const kvs_request *req)
{
	return req->id;
}

static enum kvs_request_type m_request_type(const kvs_request *req)
{
	return req->type;
}

static const struct mock_field *lookup(const kvs_request *req, const char *ptr)
{
	for (size_t i = 0; i < req->n; i++)
		if (!strcmp(req->f[i].path, ptr))
			return &req->f[i];
	return NULL;
}

static enum kvs_kind m_value_kind(const kvs_request *req, const char *ptr)
{
	return lookup(req, ptr) ? KVS_KIND_STRING : KVS_KIND_ABSENT;
}

static const char *m_get_string(const kvs_request *req, const char *ptr, size_t *len)
{
	const struct mock_field *f = lookup(req, ptr);

	if (f && len)
		*len = f->len;
	return f ? f->value : NULL;
}

static int m_get_int(const kvs_request *req, const char *ptr, long long *out)
{
	const struct mock_field *f = lookup(req, ptr);

	if (!f)
		return -ENOENT;
	*out = strtoll(f->value, NULL, 10);
	return 0;
}

static int m_get_real(const kvs_request *req, const char *ptr, double *out)
{
	const struct mock_field *f = lookup(req, ptr);

	if (!f)
		return -ENOENT;
	*out = strtod(f->value, NULL);
	return 0;
}

static int m_get_bool(const kvs_request *req, const char *ptr, int *out)
{
	const struct mock_field *f = lookup(req, ptr);

	if (!f)
		return -ENOENT;
	*out = !strcmp(f->value, "true");
	return 0;
}

/* Elements of an array: the largest N+1 of "<ptr>/N..." paths. */
static size_t m_get_size(const kvs_request *req, const char *ptr)
{
	size_t n = 0, pl = strlen(ptr);

	for (size_t i = 0; i < req->n; i++) {
		const char *p = req->f[i].path;
		char *end;
		unsigned long k;

		if (strncmp(p, ptr, pl) || p[pl] != '/')
			continue;
		k = strtoul(p + pl + 1, &end, 10);
		if (end != p + pl + 1 && (*end == '/' || !*end) && k + 1 > n)
			n = k + 1;
	}
	return n;
}

static int m_text_next(const kvs_request *req, struct kvs_text_iter *it, const char **path,
		       const char **text, size_t *len)
{
	while (it->pos < req->n) {
		const struct mock_field *f = &req->f[it->pos++];

		if (!f->text)
			continue;
		*path = f->path;
		*text = f->value;
		*len = f->len;
		return 1;
	}
	return 0;
}

static void finding_free(struct mock_finding *m)
{
	free(m->rule);
	free(m->title);
	free(m->rationale);
	free(m->action);
	for (size_t i = 0; i < m->n_refs; i++)
		free(m->refs[i]);
	free(m->refs);
	for (size_t i = 0; i < m->n_ev; i++)
		free(m->ev[i].path);
}

/* Adds the whole finding or, on ENOMEM, nothing (as the daemon's does). */
static int m_report_add(kvs_report *rep, const struct kvs_finding *f)
{
	struct mock_finding *m;
	int ok;

	if (rep->n == rep->cap) {
		size_t cap = rep->cap ? rep->cap * 2 : 16;
		void *v = realloc(rep->v, cap * sizeof(*rep->v));

		if (!v)
			return -ENOMEM;
		rep->v = v;
		rep->cap = cap;
	}
	m = &rep->v[rep->n];
	memset(m, 0, sizeof(*m));
	m->rule = strdup(f->rule);
	m->title = strdup(f->title);
	m->severity = f->severity;
	m->rationale = f->rationale ? strdup(f->rationale) : NULL;
	m->action = f->action ? strdup(f->action) : NULL;
	m->refs = calloc(f->n_references + 1, sizeof(char *));
	ok = m->rule && m->title && m->refs && (!f->rationale || m->rationale) &&
	     (!f->action || m->action);
	for (size_t i = 0; ok && i < f->n_references; i++) {
		m->refs[i] = strdup(f->references[i]);
		m->n_refs = i + 1;
		ok = m->refs[i] != NULL;
	}
	for (size_t i = 0; ok && i < f->n_evidence && i < 16; i++) {
		m->ev[i].path = strdup(f->evidence[i].path);
		m->ev[i].start = f->evidence[i].start;
		m->ev[i].end = f->evidence[i].end;
		m->n_ev = i + 1;
		ok = m->ev[i].path != NULL;
	}
	if (!ok) {
		finding_free(m);
		return -ENOMEM;
	}
	rep->n++;
	return 0;
}

static int m_report_expired(const kvs_report *rep)
{
	return rep->expired;
}

static int m_rules_load(const kvs_config_ctx *ctx, const char *path, kvs_ruleset **out)
{
	(void)ctx;
	return rules_load(&mock_host, NULL, path, out);
}

static int m_rules_load_paths(const kvs_config_ctx *ctx, const char *const *paths, size_t n,
			      kvs_ruleset **out)
{
	(void)ctx;
	return rules_load_paths(&mock_host, NULL, paths, n, out);
}

const struct kvs_host mock_host = {
	.abi_version = KVS_ABI_VERSION,
	.size = sizeof(struct kvs_host),
	.log = m_log,
	.config_error = m_config_error,
	.request_id = m_request_id,
	.request_type = m_request_type,
	.value_kind = m_value_kind,
	.get_string = m_get_string,
	.get_int = m_get_int,
	.get_real = m_get_real,
	.get_bool = m_get_bool,
	.get_size = m_get_size,
	.text_next = m_text_next,
	.report_add = m_report_add,
	.report_expired = m_report_expired,
	.rules_load = m_rules_load,
	.rules_screen = rules_screen,
	.rules_free = rules_free,
	.rules_scan = rules_scan,
	.rules_load_paths = m_rules_load_paths,
	.rules_screen_counted = rules_screen_counted,
};

struct kvs_request *mock_request(enum kvs_request_type type)
{
	struct kvs_request *r = calloc(1, sizeof(*r));

	if (r) {
		r->type = type;
		strcpy(r->id, "test-1");
	}
	return r;
}

void mock_set(struct kvs_request *r, const char *path, const char *value, size_t len, int text)
{
	struct mock_field *f;

	if (len == SIZE_MAX)
		len = strlen(value);
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 8;
		r->f = realloc(r->f, r->cap * sizeof(*r->f));
		if (!r->f)
			abort();
	}
	f = &r->f[r->n++];
	f->path = strdup(path);
	f->value = malloc(len + 1);
	if (!f->path || !f->value)
		abort();
	memcpy(f->value, value, len);
	f->value[len] = '\0';
	f->len = len;
	f->text = text;
}

void mock_request_free(struct kvs_request *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++) {
		free(r->f[i].path);
		free(r->f[i].value);
	}
	free(r->f);
	free(r);
}

void mock_report_reset(struct kvs_report *rep)
{
	for (size_t i = 0; i < rep->n; i++)
		finding_free(&rep->v[i]);
	free(rep->v);
	memset(rep, 0, sizeof(*rep));
}

const struct mock_finding *mock_find(const struct kvs_report *rep, const char *rule)
{
	for (size_t i = 0; i < rep->n; i++)
		if (!strcmp(rep->v[i].rule, rule))
			return &rep->v[i];
	return NULL;
}

/* Read one CSV field at *p; returns its malloc'd text, sets *end_row. */
static char *csv_field(const char **p, const char *end, size_t *len, int *end_row)
{
	const char *s = *p;
	size_t cap = 64, n = 0;
	char *out = malloc(cap);

	if (!out)
		abort();
	if (s < end && *s == '"') {
		s++;
		while (s < end) {
			if (*s == '"') {
				if (s + 1 < end && s[1] == '"') {
					s++;
				} else {
					s++;
					break;
				}
			}
			if (n + 1 >= cap && !(out = realloc(out, cap *= 2)))
				abort();
			out[n++] = *s++;
		}
	}
	while (s < end && *s != ',' && *s != '\n') {
		if (*s != '\r') {
			if (n + 1 >= cap && !(out = realloc(out, cap *= 2)))
				abort();
			out[n++] = *s;
		}
		s++;
	}
	out[n] = '\0';
	*len = n;
	*end_row = s >= end || *s == '\n';
	*p = s < end ? s + 1 : s;
	return out;
}

int mock_csv_each(const char *file, const char *const *cols,
		  void (*cb)(void *arg, const char *col, const char *text, size_t len),
		  void *arg)
{
	FILE *fp = fopen(file, "rb");
	char *buf;
	long sz;
	const char *p, *end;
	int want[256] = {0}, rows = 0, col = 0, header = 1, end_row;

	if (!fp)
		return -errno;
	fseek(fp, 0, SEEK_END);
	sz = ftell(fp);
	rewind(fp);
	buf = malloc((size_t)sz + 1);
	if (!buf || fread(buf, 1, (size_t)sz, fp) != (size_t)sz)
		abort();
	fclose(fp);
	p = buf;
	end = buf + sz;
	while (p < end) {
		size_t len;
		char *f = csv_field(&p, end, &len, &end_row);

		if (header) {
			for (size_t k = 0; cols[k]; k++)
				if (col < 256 && !strcmp(f, cols[k]))
					want[col] = (int)k + 1;
		} else if (col < 256 && want[col] && len) {
			cb(arg, cols[want[col] - 1], f, len);
		}
		free(f);
		col++;
		if (end_row) {
			if (!header)
				rows++;
			header = 0;
			col = 0;
		}
	}
	free(buf);
	return rows;
}

const char *mock_shared_data(void)
{
	static const char *const cand[] = {
		KVS_SRCDIR "/../shared/data", KVS_SRCDIR "/../../shared/data",
	};

	for (size_t i = 0; i < 2; i++)
		if (access(cand[i], R_OK) == 0)
			return cand[i];
	return NULL;
}
