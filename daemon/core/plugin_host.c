/* plugin_host.c - loads plugin shared objects and offers them the host table.
 *
 * Loading checks the descriptor before any plugin code runs: the ABI number
 * and struct size first, then the name, types and callbacks.  The plugin's
 * options are parsed from its configuration group with the option table of
 * its descriptor, and create() runs last.  The host function table is what
 * plugins call from screen() on worker threads: request accessors (the
 * request is immutable, so they need no locks) and the report functions
 * (each report belongs to one plugin run on one thread).
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "plugin_host.h"
#include "lists_host.h"
#include "policy.h"
#include "rules.h"
#include "lists.h"
#include "lists_source.h"
#include "utf8.h"

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- Host table: logging and configuration errors ---- */

static void host_log(const kvs_config_ctx *ctx, enum kvs_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, ctx && ctx->cp ? ctx->cp->name : "plugin", fmt, ap);
	va_end(ap);
}

static void host_config_error(const kvs_config_ctx *ctx, const char *option, const char *file,
			      int line, const char *fmt, ...)
{
	struct kvs_config_ctx *c = (struct kvs_config_ctx *)ctx;
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->failed = 1;
	if (!file && c->cp && c->cp->group) {
		const config_setting_t *s = option ? config_setting_get_member(c->cp->group, option)
						   : c->at;

		if (!s)
			s = c->cp->group;
		file = config_setting_source_file(s);
		line = (int)config_setting_source_line(s);
	}
	if (c->errors) {
		cfg_error(c->errors, file, line, "%s", msg);
	} else {
		log_err("%s:%d: %s", file ? file : "?", line, msg);
	}
}

int plugin_ctx_add_file(const kvs_config_ctx *ctx, const char *path)
{
	return ctx && ctx->cfg ? cfg_add_file(ctx->cfg, path) : 0;
}

/* ---- Host table: request accessors ---- */

static const char *host_request_id(const kvs_request *req)
{
	return req->id;
}

static enum kvs_request_type host_request_type(const kvs_request *req)
{
	return req->type;
}

static enum kvs_kind host_value_kind(const kvs_request *req, const char *ptr)
{
	json_t *j = request_lookup(req, ptr);

	if (!j)
		return KVS_KIND_ABSENT;
	switch (json_typeof(j)) {
	case JSON_OBJECT: return KVS_KIND_OBJECT;
	case JSON_ARRAY: return KVS_KIND_ARRAY;
	case JSON_STRING: return KVS_KIND_STRING;
	case JSON_INTEGER: return KVS_KIND_INT;
	case JSON_REAL: return KVS_KIND_REAL;
	case JSON_TRUE:
	case JSON_FALSE: return KVS_KIND_BOOL;
	case JSON_NULL: return KVS_KIND_NULL;
	}
	return KVS_KIND_ABSENT;
}

static const char *host_get_string(const kvs_request *req, const char *ptr, size_t *len)
{
	json_t *j = request_lookup(req, ptr);

	if (!json_is_string(j))
		return NULL;
	if (len)
		*len = json_string_length(j);
	return json_string_value(j);
}

static int host_get_int(const kvs_request *req, const char *ptr, long long *out)
{
	json_t *j = request_lookup(req, ptr);

	if (!j)
		return -ENOENT;
	if (!json_is_integer(j))
		return -EINVAL;
	*out = (long long)json_integer_value(j);
	return 0;
}

static int host_get_real(const kvs_request *req, const char *ptr, double *out)
{
	json_t *j = request_lookup(req, ptr);

	if (!j)
		return -ENOENT;
	if (!json_is_number(j))
		return -EINVAL;
	*out = json_number_value(j);
	return 0;
}

static int host_get_bool(const kvs_request *req, const char *ptr, int *out)
{
	json_t *j = request_lookup(req, ptr);

	if (!j)
		return -ENOENT;
	if (!json_is_boolean(j))
		return -EINVAL;
	*out = json_is_true(j);
	return 0;
}

static size_t host_get_size(const kvs_request *req, const char *ptr)
{
	json_t *j = request_lookup(req, ptr);

	if (json_is_array(j))
		return json_array_size(j);
	if (json_is_object(j))
		return json_object_size(j);
	return 0;
}

static int host_text_next(const kvs_request *req, struct kvs_text_iter *it, const char **path,
			  const char **text, size_t *len)
{
	const struct request_text *t;

	/* An iterator not made with KVS_TEXT_ITER_INIT (size too small for the
	 * position) is never written to. */
	if (it->size < KVS_ABI3_TEXT_ITER_SIZE) {
		log_err("plugin text iterator of %u bytes: not made with KVS_TEXT_ITER_INIT",
			it->size);
		return 0;
	}
	if (it->pos >= req->n_texts)
		return 0;
	t = &req->texts[it->pos++];
	*path = t->path;
	*text = t->text;
	*len = t->len;
	return 1;
}

/* ---- Host table: reports ---- */

void report_init(struct kvs_report *rep, const struct kvs_request *req, uint64_t deadline_ns)
{
	memset(rep, 0, sizeof(*rep));
	rep->req = req;
	rep->deadline_ns = deadline_ns;
	rep->tail = &rep->first;
}

void report_clear(struct kvs_report *rep)
{
	arena_free(&rep->arena);
	rep->first = NULL;
	rep->tail = &rep->first;
	rep->n_findings = 0;
}

void report_set_plugin(struct kvs_report *rep, const struct kvs_plugin *desc)
{
	rep->plugin = desc->name;
	rep->finding_size = desc->finding_size;
	rep->evidence_size = desc->evidence_size;
}

/* Checks one piece of evidence against the request and fills *out (the
 * path copied into the arena, the text or value borrowed from the
 * request), or returns -1 with the reason in why: a span must lie in a
 * string of the request and not cut a UTF-8 character; a whole value must
 * be a number, a boolean or a string. */
static int evidence_check(struct kvs_report *rep, const struct kvs_evidence *ev,
			  struct evidence *out, char *why, size_t whylen)
{
	const char *str;
	size_t len;
	json_t *s;

	if (!ev->path) {
		snprintf(why, whylen, "no path");
		return -1;
	}
	s = request_lookup(rep->req, ev->path);
	if (!s) {
		snprintf(why, whylen, "%.80s is not in the request", ev->path);
		return -1;
	}
	memset(out, 0, sizeof(*out));
	if (ev->whole && (json_is_number(s) || json_is_boolean(s))) {
		out->value = s;
	} else if (ev->whole && !json_is_string(s)) {
		snprintf(why, whylen, "%.80s is an %s, not a number, boolean or string", ev->path,
			 json_is_array(s) ? "array" : json_is_object(s) ? "object" : "null");
		return -1;
	} else if (!json_is_string(s)) {
		snprintf(why, whylen, "%.80s is not a string (a span needs one; "
			 "set whole for a number or boolean)", ev->path);
		return -1;
	} else {
		str = json_string_value(s);
		len = json_string_length(s);
		out->start = ev->whole ? 0 : ev->start;
		out->end = ev->whole ? len : ev->end;
		if (out->start > out->end || out->end > len) {
			snprintf(why, whylen, "span [%zu, %zu) of %.80s lies outside its %zu bytes",
				 ev->start, ev->end, ev->path, len);
			return -1;
		}
		/* The string is UTF-8, so the span is when both ends fall on
		 * the start of a character. */
		if ((out->start < len && (str[out->start] & 0xc0) == 0x80) ||
		    (out->end < len && (str[out->end] & 0xc0) == 0x80)) {
			snprintf(why, whylen, "span [%zu, %zu) of %.80s cuts a UTF-8 character",
				 ev->start, ev->end, ev->path);
			return -1;
		}
		out->text = str + out->start;
	}
	out->path = arena_strndup(&rep->arena, ev->path, strlen(ev->path));
	if (!out->path) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	return 0;
}

/* A copy of a finding's text in the arena.  Plugins often cut request text
 * to a byte count ("%.40s") and so may split a UTF-8 character: each
 * invalid byte becomes U+FFFD instead of the whole finding being refused.
 * NULL only on ENOMEM. */
static const char *text_copy(struct arena *a, const char *text)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t n = strlen(text), o = 0;
	char *buf;

	if (utf8_valid(text, n))
		return arena_strndup(a, text, n);
	buf = n <= SIZE_MAX / 3 - 1 ? arena_alloc(a, n * 3 + 1) : NULL;
	if (!buf)
		return NULL;
	for (size_t i = 0; i < n;) {
		size_t l = utf8_seq_len(s + i, n - i);

		if (l) {
			memcpy(buf + o, s + i, l);
			o += l;
			i += l;
		} else {
			memcpy(buf + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	buf[o] = '\0';
	return buf;
}

/* The plugin's finding f read with its size (no byte beyond it), members it
 * does not know zeroed. */
static void finding_copy(size_t n, const struct kvs_finding *f, struct kvs_finding *out)
{

	memset(out, 0, sizeof(*out));
	memcpy(out, f, n < sizeof(*out) ? n : sizeof(*out));
}

/* Evidence i of the plugin's array (stepped by the plugin's size). */
static struct kvs_evidence evidence_at(size_t n, const struct kvs_evidence *v, size_t i)
{
	struct kvs_evidence ev = { 0 };

	memcpy(&ev, (const char *)v + i * n, n < sizeof(ev) ? n : sizeof(ev));
	return ev;
}

/* report_add with the finding and evidence read with the given sizes: the
 * finding is checked and copied into the report's arena.  A finding that
 * fails a check leaves its partial copy in the arena (freed with it). */
static int report_add_sized(kvs_report *rep, const struct kvs_finding *pf, size_t fsize,
			    size_t esize)
{
	struct kvs_finding fc, *f = &fc;
	struct finding *o = NULL;
	char why[256] = "";

	if (!pf) {
		snprintf(why, sizeof(why), "no finding");
		goto invalid;
	}
	finding_copy(fsize, pf, &fc);
	if (!f->rule || !f->title || (unsigned)f->severity > KVS_SEV_CRITICAL ||
	    (f->n_references && !f->references) || (f->n_evidence && !f->evidence)) {
		snprintf(why, sizeof(why), "%s", !f->rule ? "no rule id" : !f->title ? "no title"
			 : (unsigned)f->severity > KVS_SEV_CRITICAL ? "severity out of range"
			 : f->n_references ? "n_references without references"
			 : "n_evidence without evidence");
		goto invalid;
	}
	if (rep->n_findings >= REPORT_MAX_FINDINGS) {
		rep->truncated = 1;
		return -E2BIG;
	}
	if (!utf8_valid(f->rule, strlen(f->rule))) {
		snprintf(why, sizeof(why), "rule id is not UTF-8");
		goto invalid;
	}
	if (f->n_evidence > 1000) {
		snprintf(why, sizeof(why), "%zu pieces of evidence (at most 1000)", f->n_evidence);
		goto invalid;
	}
	for (size_t i = 0; i < f->n_references; i++)
		if (!f->references[i]) {
			snprintf(why, sizeof(why), "references[%zu] is NULL", i);
			goto invalid;
		}
	o = arena_zalloc(&rep->arena, sizeof(*o));
	if (!o || !(o->rule = arena_strndup(&rep->arena, f->rule, strlen(f->rule))) ||
	    !(o->title = text_copy(&rep->arena, f->title)) ||
	    (f->rationale && !(o->rationale = text_copy(&rep->arena, f->rationale))) ||
	    (f->action && !(o->action = text_copy(&rep->arena, f->action))) ||
	    (f->n_references &&
	     !(o->refs = arena_alloc(&rep->arena, f->n_references * sizeof(*o->refs)))) ||
	    (f->n_evidence && !(o->ev = arena_alloc(&rep->arena, f->n_evidence * sizeof(*o->ev)))))
		goto invalid;
	o->plugin = rep->plugin ? rep->plugin : "?";
	o->severity = f->severity;
	for (size_t i = 0; i < f->n_references; i++)
		if (!(o->refs[i] = text_copy(&rep->arena, f->references[i])))
			goto invalid;
	o->n_refs = f->n_references;
	for (size_t i = 0; i < f->n_evidence; i++) {
		struct kvs_evidence ev = evidence_at(esize, f->evidence, i);
		char what[200];

		if (evidence_check(rep, &ev, &o->ev[i], what, sizeof(what)) < 0) {
			snprintf(why, sizeof(why), "evidence[%zu]: %s", i, what);
			goto invalid;
		}
	}
	o->n_ev = f->n_evidence;
	*rep->tail = o;
	rep->tail = &o->next;
	rep->n_findings++;
	return 0;
invalid:
	/* A plugin that reports garbage has failed: the pipeline records it as
	 * an error, which forces at least review, and says why. */
	if (!why[0])
		snprintf(why, sizeof(why), "out of memory");
	if (!rep->invalid) {
		snprintf(rep->why, sizeof(rep->why), "finding %.64s: %s",
			 pf && f->rule ? f->rule : "?", why);
		log_warn("plugin %s, request %s: invalid finding dropped: %s",
			    rep->plugin ? rep->plugin : "?", rep->req ? rep->req->id : "?",
			    rep->why);
	}
	rep->invalid = 1;
	return -EINVAL;
}

/* A plugin's finding: read with the sizes its descriptor states. */
static int host_report_add(kvs_report *rep, const struct kvs_finding *f)
{
	return report_add_sized(rep, f, rep->finding_size ? rep->finding_size : sizeof(*f),
				rep->evidence_size ? rep->evidence_size
						   : sizeof(struct kvs_evidence));
}

/* A finding the host itself made (the rule engine, for a plugin's report):
 * in the host's own layout, whatever the plugin's sizes. */
static int host_report_add_native(kvs_report *rep, const struct kvs_finding *f)
{
	return report_add_sized(rep, f, sizeof(*f), sizeof(struct kvs_evidence));
}

static int host_report_expired(const kvs_report *rep)
{
	return now_ns() >= rep->deadline_ns;
}

/* ---- Host table: the rule engine (lib/rules/) ---- */

static void env_error(void *arg, const char *file, int line, const char *msg)
{
	host_config_error(arg, NULL, file, line, "%s", msg);
}

static int env_add_file(void *arg, const char *path)
{
	return plugin_ctx_add_file(arg, path);
}

/* What lib/ needs while a plugin's create() loads files: the folder of the
 * configuration, the plugin's error reporting, and the policy digest. */
static struct kvs_load_env ctx_env(const kvs_config_ctx *ctx)
{
	struct kvs_load_env env = { 0 };

	if (ctx) {
		env.base_dir = ctx->cfg ? ctx->cfg->dir : NULL;
		env.error = env_error;
		env.add_file = env_add_file;
		env.arg = (void *)ctx;
	}
	return env;
}

/* ---- Host table: the list service (lists_host.c) ---- */

static void env_warn(void *arg, const char *msg)
{
	host_log(arg, KVS_LOG_WARNING, "%s", msg);
}

static int env_has_source(void *arg, const char *name)
{
	const kvs_config_ctx *ctx = arg;

	return lists_source_has((const char *const *)ctx->cfg->lists.sources, name);
}

/* A list the plugin loaded is not downloaded yet (an empty placeholder):
 * remember its name once, for the plugin's entry in every verdict. */
static void note_missing(struct kvs_config_ctx *c, const char *name)
{
	size_t i;
	json_t *x;

	if (!c->lists_missing && !(c->lists_missing = json_array()))
		return;
	json_array_foreach(c->lists_missing, i, x)
		if (strcmp(json_string_value(x), name) == 0)
			return;
	json_array_append_new(c->lists_missing, json_string(name));
}

/* host->lists_load(): relative paths against the folder of the file holding
 * the plugin's configuration group; a list `kvscreen lists update` can fetch
 * may be missing only when a configuration is being loaded. */
static int host_lists_load(const kvs_config_ctx *ctx, const char *format, const char *path,
			   const char *list_name, enum kvs_severity severity, int strict,
			   struct kvs_list **out)
{
	struct lists_host_env env = { .load = ctx_env(ctx) };
	struct kvs_list_info info = KVS_LIST_INFO_INIT;
	const char *src = ctx && ctx->cp && ctx->cp->group ?
			  config_setting_source_file(ctx->cp->group) : NULL;
	char dir[4096];
	const char *slash;
	int rc;

	env.load.base_dir = NULL;
	if (src && (slash = strrchr(src, '/')) && (size_t)(slash - src) < sizeof(dir)) {
		memcpy(dir, src, (size_t)(slash - src));
		dir[slash - src] = '\0';
		env.load.base_dir = slash == src ? "/" : dir;
	}
	if (ctx) {
		env.at_entry = ctx->at != NULL;
		env.warn = env_warn;
		if (ctx->cfg)
			env.has_source = env_has_source;
	}
	rc = lists_host_load(&env, format, path, list_name, severity, strict, out);
	if (rc == 0 && ctx && lists_host_info(*out, &info) == 0 && info.entries == 0)
		note_missing((struct kvs_config_ctx *)ctx, list_name);
	return rc;
}

static const struct kvs_host plugin_host_internal;

static int host_rules_load(const kvs_config_ctx *ctx, const char *path, kvs_ruleset **out)
{
	struct kvs_load_env env = ctx_env(ctx);

	return rules_load(&plugin_host_internal, &env, path, out);
}

static int host_rules_load_paths(const kvs_config_ctx *ctx, const char *const *paths,
				 size_t n, kvs_ruleset **out)
{
	struct kvs_load_env env = ctx_env(ctx);

	return rules_load_paths(&plugin_host_internal, &env, paths, n, out);
}

#define HOST_TABLE_COMMON \
	.abi_version = KVS_ABI_VERSION, \
	.size = sizeof(struct kvs_host), \
	.log = host_log, \
	.config_error = host_config_error, \
	.request_id = host_request_id, \
	.request_type = host_request_type, \
	.value_kind = host_value_kind, \
	.get_string = host_get_string, \
	.get_int = host_get_int, \
	.get_real = host_get_real, \
	.get_bool = host_get_bool, \
	.get_size = host_get_size, \
	.text_next = host_text_next, \
	.report_expired = host_report_expired, \
	.lists_load = host_lists_load, \
	.lists_release = lists_host_release, \
	.lists_match = lists_host_match, \
	.lists_info = lists_host_info, \
	.lists_normalise = lists_host_normalise, \
	.rules_load = host_rules_load, \
	.rules_screen = rules_screen, \
	.rules_free = rules_free, \
	.rules_scan = rules_scan, \
	.rules_load_paths = host_rules_load_paths, \
	.rules_screen_counted = rules_screen_counted,

const struct kvs_host plugin_host_table = {
	HOST_TABLE_COMMON
	.report_add = host_report_add,
};

/* The table the rule engine gets: its findings are in the host's layout. */
static const struct kvs_host plugin_host_internal = {
	HOST_TABLE_COMMON
	.report_add = host_report_add_native,
};

/* ---- Loading ---- */

static int option_size(enum kvs_opt_type t)
{
	switch (t) {
	case KVS_OPT_STRING:
	case KVS_OPT_PATH: return sizeof(const char *);
	case KVS_OPT_STRINGS: return sizeof(const char *const *);
	case KVS_OPT_INT: return sizeof(long long);
	case KVS_OPT_BOOL: return sizeof(int);
	case KVS_OPT_REAL: return sizeof(double);
	case KVS_OPT_SEVERITY:
	case KVS_OPT_ENUM: return sizeof(int);
	case KVS_OPT_LISTS: return sizeof(struct kvs_list *const *);
	}
	return -1;
}

/* Entry i of the plugin's option table, read with its option_size. */
static struct kvs_option option_at(const struct kvs_plugin *d, size_t i)
{
	struct kvs_option o = { 0 };
	size_t n = d->option_size < sizeof(o) ? d->option_size : sizeof(o);

	memcpy(&o, (const char *)d->options + i * d->option_size, n);
	return o;
}

struct kvs_option *plugin_options(const struct kvs_plugin *d)
{
	struct kvs_option *v;
	size_t n = 0;

	while (d->options && n < PLUGIN_MAX_OPTIONS && option_at(d, n).name)
		n++;
	v = calloc(n + 1, sizeof(*v));
	for (size_t i = 0; v && i < n; i++)
		v[i] = option_at(d, i);
	return v;
}

static int check_descriptor(const struct kvs_plugin *d, char *err, size_t errlen)
{
	const unsigned all = KVS_REQ_PARTNERSHIP | KVS_REQ_EXPORT | KVS_REQ_INVESTMENT;

	if (d->abi_version != KVS_ABI_VERSION) {
		snprintf(err, errlen, "plugin ABI version %u, but this kvscreend speaks version %u",
			 d->abi_version, KVS_ABI_VERSION);
		return -EINVAL;
	}
	if (d->size < sizeof(struct kvs_plugin)) {
		snprintf(err, errlen, "descriptor of %u bytes, expected at least %zu", d->size,
			 sizeof(struct kvs_plugin));
		return -EINVAL;
	}
	if (d->option_size < KVS_ABI3_OPTION_SIZE || d->finding_size < KVS_ABI3_FINDING_SIZE ||
	    d->evidence_size < KVS_ABI3_EVIDENCE_SIZE) {
		snprintf(err, errlen, "descriptor gives struct sizes option %u, finding %u, evidence "
			 "%u, expected at least %zu, %zu, %zu (fill it with KVS_PLUGIN_INIT)",
			 d->option_size, d->finding_size, d->evidence_size, KVS_ABI3_OPTION_SIZE,
			 KVS_ABI3_FINDING_SIZE, KVS_ABI3_EVIDENCE_SIZE);
		return -EINVAL;
	}
	if (!d->name || !d->version || !d->screen) {
		snprintf(err, errlen, "descriptor lacks %s", !d->name ? "a name"
							     : !d->version ? "a version"
									   : "a screen function");
		return -EINVAL;
	}
	for (const char *c = d->name; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_')) {
			snprintf(err, errlen, "plugin name \"%.64s\" is not [a-z0-9_]+", d->name);
			return -EINVAL;
		}
	if (!d->types || (d->types & ~all)) {
		snprintf(err, errlen, "invalid request types 0x%x", d->types);
		return -EINVAL;
	}
	for (size_t i = 0; d->options; i++) {
		struct kvs_option o = option_at(d, i);
		int sz = option_size(o.type);

		if (!o.name)
			break;
		if (i == PLUGIN_MAX_OPTIONS) {
			snprintf(err, errlen, "more than %d options", PLUGIN_MAX_OPTIONS);
			return -EINVAL;
		}
		if (sz < 0 || o.offset + (size_t)sz > d->config_size) {
			snprintf(err, errlen, "option \"%.64s\" lies outside the %zu-byte config block",
				 o.name, d->config_size);
			return -EINVAL;
		}
		if (o.type == KVS_OPT_ENUM && (!o.values || !o.values[0])) {
			snprintf(err, errlen, "enum option \"%.64s\" declares no values", o.name);
			return -EINVAL;
		}
	}
	return 0;
}

int plugin_open(const char *path, void **dl, const struct kvs_plugin **desc, char *err,
		size_t errlen)
{
	const struct kvs_plugin *d;
	void *h;
	int r;

	*dl = NULL;
	*desc = NULL;
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(err, errlen, "cannot load %s: %s", path, dlerror());
		return -EINVAL;
	}
	d = dlsym(h, KVS_PLUGIN_SYMBOL);
	if (!d) {
		snprintf(err, errlen, "%s: no \"%s\" symbol: not a kvscreend plugin", path,
			 KVS_PLUGIN_SYMBOL);
		dlclose(h);
		return -EINVAL;
	}
	r = check_descriptor(d, err, errlen);
	if (r < 0) {
		size_t n = strlen(err);
		char tail[512];

		snprintf(tail, sizeof(tail), "%s", err);
		snprintf(err, errlen, "%s: %s", path, tail);
		(void)n;
		dlclose(h);
		return r;
	}
	*dl = h;
	*desc = d;
	return 0;
}

static void plugin_close_dl(void *dl)
{
	/* Leak reports of unloaded objects cannot be symbolised, so sanitizer
	 * runs keep plugins mapped. */
	if (dl && !getenv("KVS_NO_DLCLOSE"))
		dlclose(dl);
}

void plugin_close(void *dl)
{
	plugin_close_dl(dl);
}

void plugin_set_free(struct plugin_set *ps)
{
	if (!ps)
		return;
	for (size_t i = ps->n; i-- > 0;) {
		struct plugin *p = &ps->v[i];

		if (p->state && p->desc->destroy)
			p->desc->destroy(p->state, &plugin_host_table);
		for (size_t k = 0; k < p->n_lists; k++)
			lists_host_release(p->lists[k]);
		free(p->lists);
		json_decref(p->ctx.lists_missing);
		free(p->options);
		free(p->config);
		plugin_close_dl(p->dl);
	}
	free(ps->v);
	cfg_arena_free(&ps->arena);
	free(ps);
}

/* Load the lists of every KVS_OPT_LISTS option (already checked by
 * cfg_parse_options) and put the NULL-terminated handle array in its slot,
 * in place of the strings.  Returns the number of errors reported. */
static int load_list_options(struct plugin *p, struct cfg_arena *arena)
{
	int errors = 0;

	for (const struct kvs_option *o = p->options; o->name; o++) {
		const config_setting_t *s = config_setting_get_member(p->cp->group, o->name);
		const char *const *specs;
		struct kvs_list **v, **grown;
		int strict = 0;
		size_t n = 0;

		if (o->type != KVS_OPT_LISTS)
			continue;
		memcpy(&specs, (char *)p->config + o->offset, sizeof(specs));
		for (const struct kvs_option *b = p->options; o->strict_key && b->name; b++)
			if (b->type == KVS_OPT_BOOL && strcmp(b->name, o->strict_key) == 0)
				memcpy(&strict, (char *)p->config + b->offset, sizeof(strict));
		while (specs && specs[n])
			n++;
		v = cfg_arena_keep(arena, calloc(n + 1, sizeof(*v)));
		grown = realloc(p->lists, (p->n_lists + n + 1) * sizeof(*grown));
		if (!v || !grown) {
			free(grown);
			cfg_error_at(p->ctx.errors, p->cp->group, "%s: out of memory", o->name);
			return errors + 1;
		}
		p->lists = grown;
		for (size_t i = 0; i < n; i++) {
			struct lists_spec sp;
			const char *why;

			p->ctx.at = s ? config_setting_get_elem(s, (unsigned)i) : NULL;
			if (lists_spec_parse(specs[i], &sp, &why) < 0 ||
			    host_lists_load(&p->ctx, sp.format, sp.path, sp.name, sp.severity, strict,
					    &v[i]) < 0) {
				errors++;
				break;
			}
			p->lists[p->n_lists++] = v[i];
		}
		p->ctx.at = NULL;
		memcpy((char *)p->config + o->offset, &v, sizeof(v));
	}
	return errors;
}

int plugin_set_load(struct kvs_cfg *cfg, struct plugin_set **out, struct cfg_errors *e)
{
	static const char *const host_keys[] = { "path", "enabled", "timeout_ms", NULL };
	struct plugin_set *ps;
	int errors = 0;

	*out = NULL;
	ps = calloc(1, sizeof(*ps));
	if (!ps || !(ps->v = calloc(cfg->n_plugins + 1, sizeof(*ps->v)))) {
		free(ps);
		cfg_error(e, cfg->path, 0, "out of memory");
		return 1;
	}
	for (size_t i = 0; i < cfg->n_plugins; i++) {
		struct cfg_plugin *cp = &cfg->plugins[i];
		struct plugin *p = &ps->v[ps->n];
		char err[1024];
		int nerr;

		if (!cp->enabled)
			continue;
		if (plugin_open(cp->path, &p->dl, &p->desc, err, sizeof(err)) < 0) {
			cfg_error_at(e, cp->group, "plugin %s: %s", cp->name, err);
			errors++;
			continue;
		}
		ps->n++;
		p->cp = cp;
		p->timeout_ms = cp->timeout_ms;
		p->ctx.cp = cp;
		p->ctx.cfg = cfg;
		p->ctx.errors = e;
		if (strcmp(p->desc->name, cp->name) != 0) {
			cfg_error_at(e, cp->group, "plugin %s: %s calls itself \"%s\"", cp->name,
				     cp->path, p->desc->name);
			errors++;
			continue;
		}
		p->config = calloc(1, p->desc->config_size ? p->desc->config_size : 1);
		p->options = plugin_options(p->desc);
		if (!p->config || !p->options) {
			cfg_error_at(e, cp->group, "plugin %s: out of memory", cp->name);
			errors++;
			continue;
		}
		nerr = cfg_parse_options(cp->group, p->options, p->config, cfg->dir, host_keys,
					 &ps->arena, e);
		if (!nerr)
			nerr = load_list_options(p, &ps->arena);
		errors += nerr;
		if (nerr)
			continue;
		for (const struct kvs_option *o = p->options; o->name; o++) {
			const char *v;

			if (o->type != KVS_OPT_PATH)
				continue;
			memcpy(&v, (char *)p->config + o->offset, sizeof(v));
			if (v)
				cfg_add_file(cfg, v);
		}
		if (p->desc->create &&
		    p->desc->create(&plugin_host_table, &p->ctx, p->config, &p->state) != 0) {
			if (!p->ctx.failed)
				cfg_error_at(e, cp->group, "plugin %s: create failed", cp->name);
			p->state = NULL;
			errors++;
			continue;
		}
		p->ctx.errors = NULL;
	}
	if (errors) {
		plugin_set_free(ps);
		return errors;
	}
	*out = ps;
	return 0;
}
