/* sanctions.c - sanctions bans: exports, end users, programme support and cooperation that EU or UN law prohibits outright.
 *
 * An arms embargo (export_control.c) makes an export licensable; a ban makes
 * it prohibited: no licence can be granted.  The bans are data, read from a
 * libconfig file (conf/rules/export_control/sanctions.conf) with the
 * countries, the goods, the legal basis and the officer's next step of each,
 * so that a new sanctions package is a file edit.  Four kinds of ban:
 *
 *   items              listed goods (dual-use, Common Military List, or a
 *                      goods list of the file: HS codes, claimed entries,
 *                      text rules) for a destination or party in a country
 *   end_users          listed goods for a party on an annex of named end
 *                      users (e.g. Annex IV of Reg. 833/2014), wherever the
 *                      party is; the annex loads through the host's list
 *                      service and may be absent (then every export says so)
 *   programme_support  a partnership funded by a Union or Member State
 *                      programme with a publicly owned or controlled party
 *                      in a country (Art. 5l of Reg. 833/2014), with the
 *                      Article's exceptions as review
 *   cooperation        any partnership with a party of a country (UN SC
 *                      Res. 2321 (2016) para. 11 for the DPRK)
 *
 * sanctions_load() runs in create(); the state is read-only afterwards, so
 * sanctions_screen() runs on any number of worker threads.
 */
#include <ctype.h>
#include <errno.h>
#include <libconfig.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "sanctions.h"

#define SN_MAX_BANS 64
#define SN_MAX_GOODS 32
#define SN_MAX_LIST 64        /* countries, covers, codes, references of one entry */
#define SN_MAX_CODES 64       /* Annex I entries found in one request */
#define SN_MAX_ANNEX 20000    /* rows of one end-user annex */
#define SN_MAX_FILE (64u << 20)

enum sn_kind { K_ITEMS, K_END_USERS, K_PROGRAMME, K_COOPERATION };

struct sn_strs {
	char **v;
	size_t n;
};

struct sn_goods {
	char *id, *name;
	struct sn_strs hs, cls;
	kvs_ruleset *rules;
};

struct sn_ban {
	enum sn_kind kind;
	char *id, *title, *rationale, *action, *since, *basis;
	struct sn_strs refs, countries, covers, roles, mobility;
	char *assistance;
	/* end_users */
	char *path, *annex, *format, *source;
	struct kvs_list *list;
	char **annex_ids;       /* sorted normalised names of the annex's rows */
	size_t n_annex_ids;
	double threshold;
	int missing_severity;
	int missing;
	/* programme_support */
	kvs_ruleset *rules;
	char *exception_action;
};

struct sanctions {
	const struct kvs_host *h;
	char *date;
	struct sn_goods goods[SN_MAX_GOODS];
	size_t n_goods;
	struct sn_ban bans[SN_MAX_BANS];
	size_t n_bans;
};

/* ---- Loading ------------------------------------------------------------ */

struct ld {
	struct sanctions *s;
	const kvs_config_ctx *ctx;
	const char *file;
	char dir[PATH_MAX];
};

#define ERR(l, set, ...) ((l)->s->h->config_error((l)->ctx, NULL, (l)->file, \
	(set) ? (int)config_setting_source_line(set) : 0, __VA_ARGS__), -EINVAL)

static void strs_free(struct sn_strs *x)
{
	for (size_t i = 0; i < x->n; i++)
		free(x->v[i]);
	free(x->v);
	x->v = NULL;
	x->n = 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A string member, or NULL with *rc set when it is present but not a
 * string; `required` makes absence an error. */
static char *get_str(struct ld *l, const config_setting_t *g, const char *key, int required,
		     int *rc)
{
	const config_setting_t *m = config_setting_get_member(g, key);
	const char *v;
	char *d;

	if (!m) {
		if (required)
			*rc = ERR(l, g, "\"%s\" is required", key);
		return NULL;
	}
	v = config_setting_get_string(m);
	if (!v || !*v) {
		*rc = ERR(l, m, "\"%s\" must be a non-empty string", key);
		return NULL;
	}
	d = strdup(v);
	if (!d)
		*rc = -ENOMEM;
	return d;
}

static int get_strs(struct ld *l, const config_setting_t *g, const char *key, int required,
		    struct sn_strs *out)
{
	const config_setting_t *m = config_setting_get_member(g, key);
	int n;

	if (!m)
		return required ? ERR(l, g, "\"%s\" is required", key) : 0;
	if (!config_setting_is_array(m) && !config_setting_is_list(m))
		return ERR(l, m, "\"%s\" must be a list of strings", key);
	n = config_setting_length(m);
	if (n > SN_MAX_LIST)
		return ERR(l, m, "\"%s\" has more than %d strings", key, SN_MAX_LIST);
	out->v = calloc((size_t)n + 1, sizeof(*out->v));
	if (!out->v)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		const char *v = config_setting_get_string_elem(m, i);

		if (!v || !*v)
			return ERR(l, m, "\"%s\": element %d must be a non-empty string", key, i + 1);
		if (!(out->v[out->n++] = strdup(v)))
			return -ENOMEM;
	}
	return 0;
}

static int is_date(const char *s)
{
	return s && strlen(s) == 10 && isdigit((unsigned char)s[0]) && s[4] == '-' && s[7] == '-' &&
	       isdigit((unsigned char)s[5]) && isdigit((unsigned char)s[8]);
}

static int check_keys(struct ld *l, const config_setting_t *g, const char *const *keys)
{
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(m);
		size_t k = 0;

		while (keys[k] && strcmp(keys[k], name))
			k++;
		if (!keys[k])
			return ERR(l, m, "unknown key \"%s\"", name);
	}
	return 0;
}

/* Resolve `p` against the folder of the sanctions file. */
static char *resolve(const struct ld *l, const char *p)
{
	char *out;

	if (p[0] == '/')
		return strdup(p);
	if (asprintf(&out, "%s/%s", l->dir, p) < 0)
		return NULL;
	return out;
}

static int load_rules(struct ld *l, const config_setting_t *g, const char *key, kvs_ruleset **out)
{
	int rc = 0;
	char *rel = get_str(l, g, key, 0, &rc), *abs;

	if (!rel)
		return rc;
	abs = resolve(l, rel);
	free(rel);
	if (!abs)
		return -ENOMEM;
	rc = l->s->h->rules_load(l->ctx, abs, out);
	free(abs);
	return rc;
}

static int load_goods(struct ld *l, const config_setting_t *list)
{
	static const char *const keys[] = { "id", "name", "hs_codes", "classifications", "rules", NULL };
	int rc = 0;

	if (!config_setting_is_list(list))
		return ERR(l, list, "\"goods\" must be a list of groups ( { id; name; ... } )");
	for (int i = 0; i < config_setting_length(list) && rc == 0; i++) {
		const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
		struct sn_goods *x;

		if (!config_setting_is_group(g))
			return ERR(l, g, "goods %d must be a group { id; name; ... }", i + 1);
		if (l->s->n_goods == SN_MAX_GOODS)
			return ERR(l, g, "more than %d goods lists", SN_MAX_GOODS);
		x = &l->s->goods[l->s->n_goods++];
		if ((rc = check_keys(l, g, keys)) < 0)
			return rc;
		x->id = get_str(l, g, "id", 1, &rc);
		x->name = get_str(l, g, "name", 1, &rc);
		if (rc == 0)
			rc = get_strs(l, g, "hs_codes", 0, &x->hs);
		if (rc == 0)
			rc = get_strs(l, g, "classifications", 0, &x->cls);
		if (rc == 0)
			rc = load_rules(l, g, "rules", &x->rules);
		if (rc == 0 && !x->hs.n && !x->cls.n && !x->rules)
			rc = ERR(l, g, "goods \"%s\" needs hs_codes, classifications or rules", x->id);
		for (size_t k = 0; rc == 0 && k < l->s->n_goods - 1; k++)
			if (!strcmp(l->s->goods[k].id, x->id))
				rc = ERR(l, g, "goods id \"%s\" is used twice", x->id);
	}
	return rc;
}

static const struct sn_goods *goods_of(const struct sanctions *s, const char *id)
{
	for (size_t i = 0; i < s->n_goods; i++)
		if (!strcmp(s->goods[i].id, id))
			return &s->goods[i];
	return NULL;
}

/* A cover is "dual-use", "dual-use:PATTERN" (Annex I entries starting with
 * PATTERN, '?' any one character), "military", or a goods id. */
static int check_covers(struct ld *l, const config_setting_t *g, const struct sn_strs *c)
{
	for (size_t i = 0; i < c->n; i++) {
		const char *v = c->v[i];

		if (!strcmp(v, "dual-use") || !strcmp(v, "military") || goods_of(l->s, v))
			continue;
		if (!strncmp(v, "dual-use:", 9) && v[9] && strlen(v + 9) <= 5)
			continue;
		return ERR(l, config_setting_get_member(g, "covers"),
			   "cover \"%s\" is not dual-use, dual-use:ENTRY-PREFIX, military or a goods id", v);
	}
	return 0;
}

/* Read a whole file (bounded). */
static int slurp(const char *path, char **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	long n;
	int rc = 0;

	if (!f)
		return -errno;
	if (fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0) {
		rc = -EIO;
		goto out;
	}
	if ((unsigned long)n > SN_MAX_FILE) {
		rc = -EFBIG;
		goto out;
	}
	*buf = malloc((size_t)n + 1);
	if (!*buf) {
		rc = -ENOMEM;
		goto out;
	}
	if (fread(*buf, 1, (size_t)n, f) != (size_t)n) {
		free(*buf);
		*buf = NULL;
		rc = -EIO;
		goto out;
	}
	(*buf)[n] = '\0';
	*len = (size_t)n;
out:
	fclose(f);
	return rc;
}

/* Next CSV field (RFC 4180) of buf from *pos, unquoted into out (truncated
 * to outlen); returns 1 when the field ends its record, 0 when more follow,
 * -1 at the end of the buffer. */
static int csv_field(const char *buf, size_t len, size_t *pos, char *out, size_t outlen)
{
	size_t p = *pos, o = 0;
	int q = 0;

	if (p >= len)
		return -1;
	if (buf[p] == '"') {
		q = 1;
		p++;
	}
	for (; p < len; p++) {
		char c = buf[p];

		if (q) {
			if (c == '"' && p + 1 < len && buf[p + 1] == '"') {
				p++;
			} else if (c == '"') {
				q = 0;
				continue;
			}
		} else if (c == ',') {
			*pos = p + 1;
			break;
		} else if (c == '\n' || c == '\r') {
			if (c == '\r' && p + 1 < len && buf[p + 1] == '\n')
				p++;
			*pos = p + 1;
			out[o < outlen ? o : outlen - 1] = '\0';
			return 1;
		}
		if (o + 1 < outlen)
			out[o++] = c;
	}
	if (p >= len)
		*pos = len;
	out[o] = '\0';
	return p >= len ? 1 : 0;
}

/* Collect the normalised names of the rows of `path` whose annex column is
 * b->annex (the per-regulation CSV layout the host's "eu" loader reads).
 * The list service loads every annex of the file; a match counts only when
 * its entry's name is one of these.  (Record ids repeat across annexes, so
 * they cannot tell the annexes apart.) */
static int annex_ids(struct ld *l, const config_setting_t *g, struct sn_ban *b)
{
	char *buf = NULL, f[512], name[512] = "", annex[64] = "", norm[512];
	size_t len = 0, pos = 0, cap = 256;
	int c_name = -1, c_annex = -1, col = 0, r, rc;

	rc = slurp(b->path, &buf, &len);
	if (rc < 0)
		return ERR(l, config_setting_get_member(g, "path"), "cannot read %s: %s", b->path,
			   strerror(-rc));
	do {
		r = csv_field(buf, len, &pos, f, sizeof(f));
		if (r < 0)
			break;
		if (!strcmp(f, "name"))
			c_name = col;
		else if (!strcmp(f, "annex"))
			c_annex = col;
		col++;
	} while (r == 0);
	if (c_name < 0 || c_annex < 0) {
		free(buf);
		return ERR(l, config_setting_get_member(g, "path"),
			   "%s has no name and annex columns", b->path);
	}
	b->annex_ids = calloc(cap, sizeof(*b->annex_ids));
	col = 0;
	while (b->annex_ids && (r = csv_field(buf, len, &pos, f, sizeof(f))) >= 0) {
		if (col == c_name)
			snprintf(name, sizeof(name), "%s", f);
		else if (col == c_annex)
			snprintf(annex, sizeof(annex), "%.63s", f);
		col++;
		if (r == 0)
			continue;
		col = 0;
		if (strcmp(annex, b->annex) ||
		    l->s->h->lists_normalise(name, strlen(name), norm, sizeof(norm)) < 0)
			continue;
		if (b->n_annex_ids == SN_MAX_ANNEX) {
			rc = ERR(l, g, "%s: more than %d rows in annex %s", b->path, SN_MAX_ANNEX,
				 b->annex);
			break;
		}
		if (b->n_annex_ids == cap) {
			char **v = realloc(b->annex_ids, 2 * cap * sizeof(*v));

			if (!v) {
				rc = -ENOMEM;
				break;
			}
			b->annex_ids = v;
			cap *= 2;
		}
		if (!(b->annex_ids[b->n_annex_ids] = strdup(norm))) {
			rc = -ENOMEM;
			break;
		}
		b->n_annex_ids++;
	}
	free(buf);
	if (!b->annex_ids)
		return -ENOMEM;
	if (rc == 0 && !b->n_annex_ids)
		rc = ERR(l, config_setting_get_member(g, "path"), "%s has no rows of annex %s",
			 b->path, b->annex);
	if (b->n_annex_ids > 1)
		qsort(b->annex_ids, b->n_annex_ids, sizeof(*b->annex_ids), cmp_str);
	return rc;
}

static int load_end_users(struct ld *l, const config_setting_t *g, struct sn_ban *b)
{
	const struct kvs_host *h = l->s->h;
	const config_setting_t *m;
	char *rel;
	int rc = 0;

	rel = get_str(l, g, "path", 1, &rc);
	b->annex = get_str(l, g, "annex", 1, &rc);
	b->format = get_str(l, g, "format", 1, &rc);
	b->source = get_str(l, g, "source", 1, &rc);
	if (rc < 0) {
		free(rel);
		return rc;
	}
	b->path = resolve(l, rel);
	free(rel);
	if (!b->path)
		return -ENOMEM;
	if (strcmp(b->format, "eu"))
		return ERR(l, config_setting_get_member(g, "format"),
			   "format \"%s\": only \"eu\" (the per-regulation annex CSV) carries annexes",
			   b->format);
	b->threshold = 0.88;
	if ((m = config_setting_get_member(g, "threshold"))) {
		b->threshold = config_setting_get_float(m);
		if (config_setting_type(m) != CONFIG_TYPE_FLOAT || b->threshold < 0.5 || b->threshold > 1)
			return ERR(l, m, "threshold must be a number between 0.5 and 1.0");
	}
	b->missing_severity = KVS_SEV_MEDIUM;
	if ((m = config_setting_get_member(g, "missing_severity"))) {
		b->missing_severity = kvs_severity_parse(config_setting_get_string(m));
		if (b->missing_severity < 0)
			return ERR(l, m, "missing_severity must be info, low, medium, high or critical");
	}
	if (access(b->path, F_OK) < 0) {
		/* Absent: not an error, but every export says so. */
		b->missing = 1;
		h->log(l->ctx, KVS_LOG_WARNING, "%s:%d: %s: %s is missing; exports will say so (%s)",
		       l->file, config_setting_source_line(g), b->id, b->path, b->source);
		return 0;
	}
	if (h->size < offsetof(struct kvs_host, lists_normalise) + sizeof(h->lists_normalise) ||
	    !h->lists_load || !h->lists_match || !h->lists_normalise)
		return ERR(l, g, "the host has no list service for %s", b->path);
	rc = annex_ids(l, g, b);
	if (rc == 0)
		rc = h->lists_load(l->ctx, b->format, b->path, b->id, KVS_SEV_CRITICAL, 0, &b->list);
	return rc;
}

static int load_ban(struct ld *l, const config_setting_t *g, struct sn_ban *b)
{
	static const char *const keys[] = {
		"id", "kind", "regulation", "article", "references", "countries", "since",
		"title", "rationale", "action", "covers", "assistance", "path", "annex",
		"format", "source", "threshold", "missing_severity", "rules", "mobility_forms",
		"exception_action", "roles", NULL,
	};
	static const char *const kinds[] = { "items", "end_users", "programme_support",
					     "cooperation", NULL };
	char *kind, *reg, *art;
	int rc = check_keys(l, g, keys);

	if (rc < 0)
		return rc;
	b->id = get_str(l, g, "id", 1, &rc);
	kind = get_str(l, g, "kind", 1, &rc);
	reg = get_str(l, g, "regulation", 1, &rc);
	art = get_str(l, g, "article", 1, &rc);
	b->since = get_str(l, g, "since", 1, &rc);
	b->title = get_str(l, g, "title", 1, &rc);
	b->rationale = get_str(l, g, "rationale", 1, &rc);
	b->action = get_str(l, g, "action", 1, &rc);
	if (rc == 0 && asprintf(&b->basis, "%s, %s", reg, art) < 0) {
		b->basis = NULL;
		rc = -ENOMEM;
	}
	free(reg);
	free(art);
	if (rc == 0) {
		size_t k = 0;

		while (kinds[k] && strcmp(kinds[k], kind))
			k++;
		if (!kinds[k])
			rc = ERR(l, config_setting_get_member(g, "kind"),
				 "kind \"%s\" is not items, end_users, programme_support or cooperation",
				 kind);
		b->kind = (enum sn_kind)k;
	}
	free(kind);
	if (rc == 0 && !is_date(b->since))
		rc = ERR(l, config_setting_get_member(g, "since"), "since must be a date YYYY-MM-DD");
	if (rc == 0)
		rc = get_strs(l, g, "references", 0, &b->refs);
	if (rc == 0)
		rc = get_strs(l, g, "countries", b->kind != K_END_USERS, &b->countries);
	for (size_t i = 0; rc == 0 && i < b->countries.n; i++) {
		const char *c = b->countries.v[i];

		if (strlen(c) != 2 || !isupper((unsigned char)c[0]) || !isupper((unsigned char)c[1]))
			rc = ERR(l, config_setting_get_member(g, "countries"),
				 "country \"%s\" is not an ISO 3166-1 alpha-2 code", c);
	}
	if (rc == 0 && (b->kind == K_ITEMS || b->kind == K_END_USERS)) {
		rc = get_strs(l, g, "covers", 1, &b->covers);
		if (rc == 0)
			rc = check_covers(l, g, &b->covers);
	}
	if (rc == 0 && config_setting_get_member(g, "assistance"))
		b->assistance = get_str(l, g, "assistance", 0, &rc);
	if (rc == 0 && b->kind == K_END_USERS)
		rc = load_end_users(l, g, b);
	if (rc == 0 && b->kind == K_PROGRAMME) {
		rc = load_rules(l, g, "rules", &b->rules);
		if (rc == 0 && !b->rules)
			rc = ERR(l, g, "programme_support needs \"rules\" (programme and exception wording)");
		if (rc == 0)
			rc = get_strs(l, g, "mobility_forms", 0, &b->mobility);
		if (rc == 0)
			b->exception_action = get_str(l, g, "exception_action", 1, &rc);
	}
	if (rc == 0 && b->kind == K_COOPERATION)
		rc = get_strs(l, g, "roles", 0, &b->roles);
	return rc;
}

int sanctions_load(const struct kvs_host *host, const kvs_config_ctx *ctx, const char *file,
		   struct sanctions **out)
{
	struct ld l = { .ctx = ctx, .file = file };
	const config_setting_t *root, *m;
	char real[PATH_MAX], *slash;
	config_t lc;
	int rc = 0;

	*out = NULL;
	if (!realpath(file, real)) {
		host->config_error(ctx, "sanctions", NULL, 0, "cannot open %s: %s", file,
				   strerror(errno));
		return -ENOENT;
	}
	snprintf(l.dir, sizeof(l.dir), "%s", real);
	slash = strrchr(l.dir, '/');
	if (slash)
		*slash = '\0';
	l.s = calloc(1, sizeof(*l.s));
	if (!l.s)
		return -ENOMEM;
	l.s->h = host;
	config_init(&lc);
	if (!config_read_file(&lc, file)) {
		host->config_error(ctx, NULL, config_error_file(&lc) ? config_error_file(&lc) : file,
				   config_error_line(&lc), "%s", config_error_text(&lc));
		rc = -EINVAL;
		goto fail;
	}
	root = config_root_setting(&lc);
	for (int i = 0; i < config_setting_length(root) && rc == 0; i++) {
		const char *n = config_setting_name(config_setting_get_elem(root, (unsigned)i));

		if (strcmp(n, "date") && strcmp(n, "goods") && strcmp(n, "bans"))
			rc = ERR(&l, config_setting_get_elem(root, (unsigned)i),
				 "unknown key \"%s\" (date, goods, bans)", n);
	}
	if (rc == 0) {
		l.s->date = get_str(&l, root, "date", 1, &rc);
		if (rc == 0 && !is_date(l.s->date))
			rc = ERR(&l, config_setting_get_member(root, "date"),
				 "date must be YYYY-MM-DD: the day the file was checked against the Official Journal");
	}
	if (rc == 0 && (m = config_setting_get_member(root, "goods")))
		rc = load_goods(&l, m);
	m = config_setting_get_member(root, "bans");
	if (rc == 0 && (!m || !config_setting_is_list(m)))
		rc = ERR(&l, m ? m : root, "\"bans\" must be a list of groups ( { id; kind; ... } )");
	for (int i = 0; rc == 0 && i < config_setting_length(m); i++) {
		const config_setting_t *g = config_setting_get_elem(m, (unsigned)i);

		if (!config_setting_is_group(g)) {
			rc = ERR(&l, g, "ban %d must be a group { id; kind; ... }", i + 1);
			break;
		}
		if (l.s->n_bans == SN_MAX_BANS) {
			rc = ERR(&l, g, "more than %d bans", SN_MAX_BANS);
			break;
		}
		rc = load_ban(&l, g, &l.s->bans[l.s->n_bans++]);
		for (size_t k = 0; rc == 0 && k + 1 < l.s->n_bans; k++)
			if (!strcmp(l.s->bans[k].id, l.s->bans[l.s->n_bans - 1].id))
				rc = ERR(&l, g, "ban id \"%s\" is used twice", l.s->bans[k].id);
	}
	config_destroy(&lc);
	if (rc < 0) {
		sanctions_free(l.s);
		return rc;
	}
	*out = l.s;
	return 0;
fail:
	config_destroy(&lc);
	sanctions_free(l.s);
	return rc;
}

void sanctions_free(struct sanctions *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_goods; i++) {
		struct sn_goods *g = &s->goods[i];

		free(g->id);
		free(g->name);
		strs_free(&g->hs);
		strs_free(&g->cls);
		if (g->rules)
			s->h->rules_free(g->rules);
	}
	for (size_t i = 0; i < s->n_bans; i++) {
		struct sn_ban *b = &s->bans[i];

		free(b->id);
		free(b->title);
		free(b->rationale);
		free(b->action);
		free(b->since);
		free(b->basis);
		free(b->assistance);
		free(b->path);
		free(b->annex);
		free(b->format);
		free(b->source);
		free(b->exception_action);
		strs_free(&b->refs);
		strs_free(&b->countries);
		strs_free(&b->covers);
		strs_free(&b->roles);
		strs_free(&b->mobility);
		for (size_t k = 0; k < b->n_annex_ids; k++)
			free(b->annex_ids[k]);
		free(b->annex_ids);
		if (b->list)
			s->h->lists_release(b->list);
		if (b->rules)
			s->h->rules_free(b->rules);
	}
	free(s->date);
	free(s);
}

/* ---- Screening ---------------------------------------------------------- */

/* What a request carries, worked out once per request and only as needed. */
struct req_facts {
	const struct sanctions *s;
	const struct sanctions_items *it;
	const kvs_request *req;
	const kvs_report *rep;
	int codes_done;
	char codes[SN_MAX_CODES][6];  /* Annex I entries claimed or pointed at */
	size_t n_codes;
	signed char goods[SN_MAX_GOODS]; /* -1 not yet known, 0, 1 */
	int technology;               /* software/technology, or an intangible transfer */
};

static int in_strs(const struct sn_strs *v, const char *s)
{
	for (size_t i = 0; s && i < v->n; i++)
		if (!strcmp(v->v[i], s))
			return 1;
	return 0;
}

static void add_code(struct req_facts *rf, const char *s)
{
	char c[6];

	if (strlen(s) < 5 || !isdigit((unsigned char)s[0]) || s[1] < 'A' || s[1] > 'E' ||
	    !isdigit((unsigned char)s[2]) || !isdigit((unsigned char)s[3]) ||
	    !isdigit((unsigned char)s[4]))
		return;
	memcpy(c, s, 5);
	c[5] = '\0';
	for (size_t i = 0; i < rf->n_codes; i++)
		if (!strcmp(rf->codes[i], c))
			return;
	if (rf->n_codes < SN_MAX_CODES)
		memcpy(rf->codes[rf->n_codes++], c, 6);
}

static int code_emit(void *arg, const struct kvs_finding *f, int limit)
{
	static const char pre[] = "EU 2021/821 Annex I ";

	if (limit)
		return 0;
	for (size_t i = 0; i < f->n_references; i++)
		if (!strncmp(f->references[i], pre, sizeof(pre) - 1))
			add_code(arg, f->references[i] + sizeof(pre) - 1);
	return 0;
}

/* The Annex I entries of the request: claimed classifications and the
 * entries the dual-use rules point at. */
static int find_codes(struct req_facts *rf)
{
	const struct kvs_host *h = rf->s->h;
	size_t n = h->get_size(rf->req, "/items");
	int rc;

	if (rf->codes_done)
		return 0;
	rf->codes_done = 1;
	for (size_t i = 0; i < n && i < 1000; i++) {
		char ptr[64], up[16];
		const char *v;
		size_t k;

		snprintf(ptr, sizeof(ptr), "/items/%zu/classification", i);
		if (!(v = h->get_string(rf->req, ptr, NULL)))
			continue;
		for (k = 0; v[k] && k + 1 < sizeof(up); k++)
			up[k] = (char)toupper((unsigned char)v[k]);
		up[k] = '\0';
		add_code(rf, up);
	}
	if (!rf->it->rules || !h->rules_scan)
		return 0;
	rc = h->rules_scan(rf->it->rules, rf->req, rf->rep, NULL, code_emit, rf);
	return rc < 0 ? rc : 0;
}

static int pattern_match(const char *code, const char *pat)
{
	for (size_t i = 0; pat[i]; i++)
		if (!code[i] || (pat[i] != '?' && pat[i] != code[i]))
			return 0;
	return 1;
}

/* Normalise an HS/CN code: digits only. */
static void digits(const char *s, char *out, size_t n)
{
	size_t o = 0;

	for (; s && *s && o + 1 < n; s++)
		if (isdigit((unsigned char)*s))
			out[o++] = *s;
	out[o] = '\0';
}

/* The goods rules only count: rules_scan returns how many fired. */
static int goods_emit(void *arg, const struct kvs_finding *f, int limit)
{
	(void)arg;
	(void)f;
	(void)limit;
	return 0;
}

/* 1 if the request carries goods of goods list k. */
static int has_goods(struct req_facts *rf, size_t k)
{
	const struct kvs_host *h = rf->s->h;
	const struct sn_goods *g = &rf->s->goods[k];
	size_t n = h->get_size(rf->req, "/items");

	if (rf->goods[k] >= 0)
		return rf->goods[k];
	rf->goods[k] = 0;
	for (size_t i = 0; i < n && i < 1000 && !rf->goods[k]; i++) {
		char ptr[64], hs[32], want[32];
		const char *v;

		snprintf(ptr, sizeof(ptr), "/items/%zu/hs_code", i);
		digits(h->get_string(rf->req, ptr, NULL), hs, sizeof(hs));
		for (size_t c = 0; hs[0] && c < g->hs.n; c++) {
			digits(g->hs.v[c], want, sizeof(want));
			if (want[0] && !strncmp(hs, want, strlen(want)))
				rf->goods[k] = 1;
		}
		snprintf(ptr, sizeof(ptr), "/items/%zu/classification", i);
		v = h->get_string(rf->req, ptr, NULL);
		for (size_t c = 0; v && c < g->cls.n && !rf->goods[k]; c++)
			if (!strncasecmp(v, g->cls.v[c], strlen(g->cls.v[c])))
				rf->goods[k] = 1;
	}
	if (!rf->goods[k] && g->rules) {
		int rc = h->rules_scan(g->rules, rf->req, rf->rep, NULL, goods_emit, NULL);

		if (rc < 0)
			return rc;
		rf->goods[k] = rc > 0;
	}
	return rf->goods[k];
}

/* Does the request carry goods of the ban's covers?  Writes the names of
 * what matched to what[] (for the finding).  1, 0 or a negative errno. */
static int covered(struct req_facts *rf, const struct sn_ban *b, char *what, size_t wlen)
{
	size_t o = 0;
	int hit = 0, rc;

	what[0] = '\0';
	for (size_t i = 0; i < b->covers.n; i++) {
		const char *c = b->covers.v[i];
		const char *name = NULL;
		char buf[96];

		if (!strcmp(c, "dual-use")) {
			if (rf->it->dual_use)
				name = "dual-use items of Annex I to Reg. (EU) 2021/821";
		} else if (!strcmp(c, "military")) {
			if (rf->it->military)
				name = "items of the EU Common Military List";
		} else if (!strncmp(c, "dual-use:", 9)) {
			if (!rf->it->dual_use)
				continue;
			if ((rc = find_codes(rf)) < 0)
				return rc;
			for (size_t k = 0; k < rf->n_codes && !name; k++)
				if (pattern_match(rf->codes[k], c + 9)) {
					snprintf(buf, sizeof(buf), "Annex I entry %s of Reg. (EU) 2021/821",
						 rf->codes[k]);
					name = buf;
				}
		} else {
			for (size_t k = 0; k < rf->s->n_goods; k++)
				if (!strcmp(rf->s->goods[k].id, c)) {
					if ((rc = has_goods(rf, k)) < 0)
						return rc;
					if (rc)
						name = rf->s->goods[k].name;
				}
		}
		if (!name)
			continue;
		hit = 1;
		if (o < wlen)
			o += (size_t)snprintf(what + o, wlen - o, "%s%s", o ? "; " : "", name);
	}
	return hit;
}

static int report(const struct sanctions *s, kvs_report *rep, const struct sn_ban *b,
		  const char *rule, enum kvs_severity sev, const char *title, const char *why,
		  const char *extra_ref, const char *action, const char *path, size_t end)
{
	const char *refs[SN_MAX_LIST + 2];
	size_t n = 0;
	struct kvs_evidence ev = { path, 0, end, 0 };
	struct kvs_finding f = {
		.rule = rule, .severity = sev, .title = title, .rationale = why,
		.references = refs, .evidence = path ? &ev : NULL, .n_evidence = path ? 1 : 0,
		.action = action,
	};

	refs[n++] = b->basis;
	if (extra_ref)
		refs[n++] = extra_ref;
	for (size_t i = 0; i < b->refs.n; i++)
		refs[n++] = b->refs.v[i];
	f.n_references = n;
	return s->h->report_add(rep, &f);
}

struct place {
	const char *cc;
	char path[64];
};

/* The countries an export goes to or through: the destination and every
 * party but funders (consignee, end user, intermediary, partner). */
static size_t export_places(const struct kvs_host *h, const kvs_request *req, struct place *p,
			    size_t max)
{
	size_t n = 0, np = h->get_size(req, "/parties");
	const char *v;

	if ((v = h->get_string(req, "/destination/country", NULL))) {
		p[n].cc = v;
		snprintf(p[n++].path, sizeof(p->path), "/destination/country");
	}
	for (size_t i = 0; i < np && n < max; i++) {
		char ptr[64];
		const char *role;

		snprintf(ptr, sizeof(ptr), "/parties/%zu/role", i);
		role = h->get_string(req, ptr, NULL);
		if (role && !strcmp(role, "funder"))
			continue;
		snprintf(ptr, sizeof(ptr), "/parties/%zu/country", i);
		if ((v = h->get_string(req, ptr, NULL))) {
			p[n].cc = v;
			snprintf(p[n++].path, sizeof(p->path), "%s", ptr);
		}
	}
	return n;
}

static int technology_transfer(const struct kvs_host *h, const kvs_request *req)
{
	const char *t = h->get_string(req, "/transfer", NULL);
	size_t n = h->get_size(req, "/items");

	if (t && (!strcmp(t, "intangible") || !strcmp(t, "deemed") || !strcmp(t, "electronic")))
		return 1;
	for (size_t i = 0; i < n && i < 1000; i++) {
		char ptr[64];
		const char *k;

		snprintf(ptr, sizeof(ptr), "/items/%zu/kind", i);
		k = h->get_string(req, ptr, NULL);
		if (k && (!strcmp(k, "technology") || !strcmp(k, "software")))
			return 1;
	}
	return 0;
}

static int screen_items(struct req_facts *rf, const struct sn_ban *b, kvs_report *rep)
{
	const struct kvs_host *h = rf->s->h;
	struct place p[64];
	size_t n = export_places(h, rf->req, p, 64);
	char what[512], title[512], why[2048], ref[256];
	int rc;

	for (size_t i = 0; i < n; i++) {
		int dup = 0;

		for (size_t k = 0; k < i; k++)
			dup |= !strcmp(p[k].cc, p[i].cc);
		if (dup || !in_strs(&b->countries, p[i].cc))
			continue;
		rc = covered(rf, b, what, sizeof(what));
		if (rc <= 0)
			return rc;
		snprintf(title, sizeof(title), "%s (%s)", b->title, p[i].cc);
		snprintf(why, sizeof(why),
			 "%s Found: %s, for %s (%s). Prohibited since %s, not merely licensable: "
			 "no licence can be granted.%s",
			 b->rationale, what, p[i].cc, p[i].path, b->since,
			 rf->technology && b->assistance ?
			 " The request transfers software or technology: technical assistance, "
			 "brokering and intangible transfers of these items are prohibited as well." : "");
		if (rf->technology && b->assistance)
			snprintf(ref, sizeof(ref), "%s", b->assistance);
		rc = report(rf->s, rep, b, b->id, KVS_SEV_CRITICAL, title, why,
			    rf->technology && b->assistance ? ref : NULL, b->action, p[i].path, 2);
		if (rc < 0)
			return rc;
		return 0;
	}
	return 0;
}

static int matches_annex(const struct sanctions *s, const struct sn_ban *b, const char *name)
{
	char norm[512];
	const char *p = norm;

	return name && s->h->lists_normalise(name, strlen(name), norm, sizeof(norm)) == 0 &&
	       b->n_annex_ids && bsearch(&p, b->annex_ids, b->n_annex_ids, sizeof(*b->annex_ids), cmp_str);
}

/* The first annex entry a name matches, or NULL. */
static const struct kvs_list_match *match_name(const struct sanctions *s, const struct sn_ban *b,
					       const char *name, size_t len,
					       struct kvs_list_match *m, size_t max, int *rc)
{
	const struct kvs_list *const lists[1] = { b->list };
	int n;

	if (max)
		m[0].size = sizeof(m[0]);
	n = s->h->lists_match(lists, 1, name, len, b->threshold, m, max);

	*rc = n < 0 ? n : 0;
	for (int i = 0; i < n && i < (int)max; i++)
		if (matches_annex(s, b, m[i].primary_name))
			return &m[i];
	return NULL;
}

/* Match every party but funders against the ban's annex.  In an export,
 * covered goods make the match critical; otherwise (or in a partnership,
 * which sends no goods) it is high: nothing listed may reach the party. */
static int screen_end_users(struct req_facts *rf, const struct sn_ban *b, kvs_report *rep,
			    int export)
{
	const struct kvs_host *h = rf->s->h;
	size_t np = h->get_size(rf->req, "/parties");
	char what[512], title[512], why[2048];
	int rc;

	if (b->missing && !export)
		return 0;
	if (b->missing) {
		struct place p[64];
		size_t n = export_places(h, rf->req, p, 64);
		int abroad = 0;

		/* Only an export leaving the EU can reach an annex end user. */
		for (size_t i = 0; i < n; i++) {
			int eu = !strcmp(p[i].cc, rf->it->home);

			for (size_t k = 0; rf->it->eu[k] && !eu; k++)
				eu = !strcmp(rf->it->eu[k], p[i].cc);
			abroad |= !eu;
		}
		if (!abroad)
			return 0;
		snprintf(title, sizeof(title), "%s is not loaded: the parties were not checked against it",
			 b->title);
		snprintf(why, sizeof(why),
			 "The file %s is missing, so no party of this export outside the EU was checked "
			 "against %s. Exports of listed goods to these end users are prohibited wherever "
			 "they are.", b->path, b->basis);
		snprintf(what, sizeof(what),
			 "Obtain the annex (%s), place it at %s and reload (kvscreen check-config; "
			 "systemctl reload kvscreend); until then check the parties against the annex by hand",
			 b->source, b->path);
		return report(rf->s, rep, b, "EC-SANCTIONS-ANNEX-MISSING", (enum kvs_severity)b->missing_severity,
			      title, why, NULL, what, NULL, 0);
	}
	for (size_t i = 0; i < np && i < 1000; i++) {
		char ptr[96];
		const char *name, *role;
		size_t len;
		struct kvs_list_match m[8];
		const struct kvs_list_match *hit;
		size_t na;
		int cov;

		snprintf(ptr, sizeof(ptr), "/parties/%zu/role", i);
		role = h->get_string(rf->req, ptr, NULL);
		if (role && !strcmp(role, "funder"))
			continue;
		snprintf(ptr, sizeof(ptr), "/parties/%zu/name", i);
		if (!(name = h->get_string(rf->req, ptr, &len)))
			continue;
		hit = match_name(rf->s, b, name, len, m, 8, &rc);
		snprintf(ptr, sizeof(ptr), "/parties/%zu/aliases", i);
		na = h->get_size(rf->req, ptr);
		snprintf(ptr, sizeof(ptr), "/parties/%zu/name", i);
		for (size_t a = 0; !hit && rc == 0 && a < na && a < 32; a++) {
			char ap[80];

			snprintf(ap, sizeof(ap), "/parties/%zu/aliases/%zu", i, a);
			if (!(name = h->get_string(rf->req, ap, &len)))
				break;
			hit = match_name(rf->s, b, name, len, m, 8, &rc);
			if (hit)
				snprintf(ptr, sizeof(ptr), "%s", ap);
		}
		if (rc < 0)
			return rc;
		if (!hit)
			continue;
		cov = export ? covered(rf, b, what, sizeof(what)) : 0;
		if (cov < 0)
			return cov;
		snprintf(title, sizeof(title), "%s: %s (%s, score %.2f)", b->title, hit->primary_name,
			 hit->entry_id, hit->score);
		if (cov) {
			snprintf(why, sizeof(why),
				 "%s Found: %s, for a party that matches the annex entry \"%s\" (%s). "
				 "Prohibited since %s wherever the party is and whatever country the goods "
				 "pass through: no licence can be granted.",
				 b->rationale, what, hit->matched_name, hit->entry_id, b->since);
			rc = report(rf->s, rep, b, b->id, KVS_SEV_CRITICAL, title, why, NULL, b->action,
				    ptr, len);
		} else {
			snprintf(why, sizeof(why),
				 "The party matches the annex entry \"%s\" (%s). %s No goods the ban "
				 "covers were found in this request, but none may reach this party: classify "
				 "every item, software and technology before anything is sent or shared.",
				 hit->matched_name, hit->entry_id, b->rationale);
			rc = report(rf->s, rep, b, b->id, KVS_SEV_HIGH, title, why, NULL,
				    "Classify every item, software and technology before anything is sent "
				    "or shared with this party; consult the CDIU (Douane)", ptr, len);
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}

struct scan_hits {
	char programme[64], exception[64], exc_rule[64];
	size_t exc_start, exc_end;
};

static int programme_emit(void *arg, const struct kvs_finding *f, int limit)
{
	struct scan_hits *x = arg;

	if (limit || !f->n_evidence)
		return 0;
	if (!strncmp(f->rule, "PROGRAMME-", 10) && !x->programme[0])
		snprintf(x->programme, sizeof(x->programme), "%s", f->evidence[0].path);
	if (!strncmp(f->rule, "EXCEPTION-", 10) && !x->exception[0]) {
		snprintf(x->exception, sizeof(x->exception), "%s", f->evidence[0].path);
		snprintf(x->exc_rule, sizeof(x->exc_rule), "%s", f->rule);
		x->exc_start = f->evidence[0].start;
		x->exc_end = f->evidence[0].end;
	}
	return 0;
}

/* A partner of a ban country that is publicly owned or controlled (state_owned,
 * or of kind government or military); its name's pointer and length go to
 * path and *len (evidence must point at a string). */
static int public_party(const struct kvs_host *h, const kvs_request *req, const struct sn_ban *b,
			char *path, size_t plen, size_t *len)
{
	size_t np = h->get_size(req, "/parties");

	for (size_t i = 0; i < np && i < 1000; i++) {
		char ptr[64];
		const char *v;
		int so = 0;

		snprintf(ptr, sizeof(ptr), "/parties/%zu/role", i);
		if ((v = h->get_string(req, ptr, NULL)) && strcmp(v, "partner"))
			continue;
		snprintf(ptr, sizeof(ptr), "/parties/%zu/country", i);
		if (!in_strs(&b->countries, h->get_string(req, ptr, NULL)))
			continue;
		snprintf(ptr, sizeof(ptr), "/parties/%zu/state_owned", i);
		if (h->get_bool(req, ptr, &so) < 0 || !so) {
			snprintf(ptr, sizeof(ptr), "/parties/%zu/kind", i);
			v = h->get_string(req, ptr, NULL);
			so = v && (!strcmp(v, "government") || !strcmp(v, "military"));
		}
		if (!so)
			continue;
		snprintf(path, plen, "/parties/%zu/name", i);
		*len = 0;
		(void)h->get_string(req, path, len);
		return 1;
	}
	return 0;
}

/* A funding line that is a Member State programme: an EU country's money
 * marked state-linked. */
static int member_state_funding(const struct kvs_host *h, const kvs_request *req,
				const struct sanctions_items *it, char *path, size_t plen)
{
	size_t n = h->get_size(req, "/cooperation/funding");

	for (size_t i = 0; i < n && i < 1000; i++) {
		char ptr[80];
		const char *cc;
		int sl = 0, eu = 0;

		snprintf(ptr, sizeof(ptr), "/cooperation/funding/%zu/country", i);
		cc = h->get_string(req, ptr, NULL);
		for (size_t k = 0; cc && it->eu[k] && !eu; k++)
			eu = !strcmp(it->eu[k], cc);
		snprintf(ptr, sizeof(ptr), "/cooperation/funding/%zu/state_linked", i);
		if (eu && h->get_bool(req, ptr, &sl) == 0 && sl) {
			snprintf(path, plen, "/cooperation/funding/%zu/country", i);
			return 1;
		}
	}
	return 0;
}

static int screen_programme(struct req_facts *rf, const struct sn_ban *b, kvs_report *rep)
{
	const struct kvs_host *h = rf->s->h;
	struct scan_hits x = { .programme = "" };
	char party[64], why[2048], title[512], form_path[] = "/cooperation/form";
	const char *form, *fund;
	size_t plen = 0;
	int rc;

	if (!public_party(h, rf->req, b, party, sizeof(party), &plen))
		return 0;
	rc = h->rules_scan(b->rules, rf->req, rf->rep, NULL, programme_emit, &x);
	if (rc < 0)
		return rc;
	fund = x.programme[0] ? x.programme : NULL;
	if (!fund && member_state_funding(h, rf->req, rf->it, x.programme, sizeof(x.programme)))
		fund = x.programme;
	if (!fund)
		return 0;
	form = h->get_string(rf->req, form_path, NULL);
	if (!x.exception[0] && in_strs(&b->mobility, form)) {
		snprintf(x.exception, sizeof(x.exception), "%s", form_path);
		snprintf(x.exc_rule, sizeof(x.exc_rule), "EXCEPTION-MOBILITY (cooperation.form %s)", form);
		x.exc_start = 0;
		x.exc_end = strlen(form);
	}
	if (x.exception[0]) {
		char rule[128];
		struct kvs_evidence ev[2] = { { party, 0, plen, 0 }, { x.exception, x.exc_start, x.exc_end, 0 } };
		const char *refs[SN_MAX_LIST + 1];
		size_t nr = 0;
		struct kvs_finding f = {
			.rule = rule, .severity = KVS_SEV_MEDIUM, .title = title, .rationale = why,
			.references = refs, .evidence = ev, .n_evidence = 2,
			.action = b->exception_action,
		};

		refs[nr++] = b->basis;
		for (size_t i = 0; i < b->refs.n; i++)
			refs[nr++] = b->refs.v[i];
		f.n_references = nr;
		snprintf(rule, sizeof(rule), "%s-EXCEPTION", b->id);
		snprintf(title, sizeof(title), "%s: an exception of the Article may apply (%s)",
			 b->title, x.exc_rule);
		snprintf(why, sizeof(why),
			 "%s The funding (%s) goes to a publicly owned or controlled party (%s), but the "
			 "request points at an exception of the Article (%s at %s). A person must confirm "
			 "that the exception covers this support before it is given.",
			 b->rationale, fund, party, x.exc_rule, x.exception);
		return h->report_add(rep, &f);
	}
	snprintf(title, sizeof(title), "%s", b->title);
	snprintf(why, sizeof(why),
		 "%s The funding (%s) is a Union or Member State programme and the party (%s) is "
		 "publicly owned or controlled. Prohibited since %s, with no licence; no exception of the "
		 "Article was found in the request.", b->rationale, fund, party, b->since);
	return report(rf->s, rep, b, b->id, KVS_SEV_CRITICAL, title, why, NULL, b->action, party, plen);
}

static int screen_cooperation(struct req_facts *rf, const struct sn_ban *b, kvs_report *rep)
{
	const struct kvs_host *h = rf->s->h;
	size_t np = h->get_size(rf->req, "/parties");
	char title[512], why[2048];

	for (size_t i = 0; i < np && i < 1000; i++) {
		char ptr[64];
		const char *cc, *role;

		snprintf(ptr, sizeof(ptr), "/parties/%zu/role", i);
		role = h->get_string(rf->req, ptr, NULL);
		if (b->roles.n && !in_strs(&b->roles, role))
			continue;
		snprintf(ptr, sizeof(ptr), "/parties/%zu/country", i);
		cc = h->get_string(rf->req, ptr, NULL);
		if (!in_strs(&b->countries, cc))
			continue;
		snprintf(title, sizeof(title), "%s (%s)", b->title, cc);
		snprintf(why, sizeof(why), "%s Suspended since %s: no licence or exception makes the "
			 "partnership lawful without an exemption by the UN Sanctions Committee.",
			 b->rationale, b->since);
		return report(rf->s, rep, b, b->id, KVS_SEV_CRITICAL, title, why, NULL, b->action, ptr, 2);
	}
	return 0;
}

int sanctions_screen(const struct sanctions *s, const kvs_request *req, kvs_report *rep,
		     const struct sanctions_items *it)
{
	struct req_facts rf = { .s = s, .it = it, .req = req, .rep = rep };
	enum kvs_request_type t = s->h->request_type(req);
	int rc = 0;

	memset(rf.goods, -1, sizeof(rf.goods));
	rf.technology = technology_transfer(s->h, req);
	for (size_t i = 0; i < s->n_bans && rc == 0; i++) {
		const struct sn_ban *b = &s->bans[i];

		if (s->h->report_expired(rep))
			return -ETIMEDOUT;
		if (b->kind == K_ITEMS && t == KVS_REQ_EXPORT)
			rc = screen_items(&rf, b, rep);
		else if (b->kind == K_END_USERS)
			rc = screen_end_users(&rf, b, rep, t == KVS_REQ_EXPORT);
		else if (b->kind == K_PROGRAMME && t == KVS_REQ_PARTNERSHIP)
			rc = screen_programme(&rf, b, rep);
		else if (b->kind == K_COOPERATION && t == KVS_REQ_PARTNERSHIP)
			rc = screen_cooperation(&rf, b, rep);
	}
	return rc;
}
