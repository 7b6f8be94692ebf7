/* rules.c - the text rule engine: libconfig rule files, pcre2 matching, a literal prefilter.
 *
 * Loading (one thread, in a plugin's create()): every rule of every file
 * (of every path, for rules_load_paths) is parsed and checked, its patterns
 * compiled with the JIT, and two sets of literals its patterns require are
 * extracted (see rules_ac.c): the most selective set, and the set with the
 * smallest prefix bound.  All go into one Aho-Corasick automaton for the
 * whole set.  The set is read-only from then on.
 *
 * Screening (any worker thread): each free-text field is scanned once by the
 * automaton; a pattern runs only when literals of both its sets occur, and
 * only in the windows where a match through those occurrences can start (a
 * pcre2 offset limit ends each search), which finds the same matches as a
 * scan of the whole field.  A hit must have a context match within the
 * rule's window, if it names context patterns, and no overlapping (or
 * windowed) exclusion match.  Hits are collected per rule and reported as
 * one finding per rule, in rule order, so findings do not depend on thread
 * or timing.  Every pcre2 call carries match, depth and heap limits; a
 * limit hit becomes a finding.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <libconfig.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "plugin_host.h"
#include "rules.h"
#include "rules_ac.h"

#define RULES_MAX_PATTERNS 64
#define RULES_MAX_PATTERN_LEN 4096
#define RULES_MAX_RULES 100000
#define RULES_MAX_HITS 4096           /* hits kept per rules_screen() */
#define RULES_DEFAULT_WINDOW 200
#define RULES_MAX_WINDOW 100000
#define RULES_MAX_FILES 1000
#define RULES_MAX_PATHS 256           /* paths of one rules_load_paths() set */

struct pat {
	pcre2_code *re;
	int jit;                      /* JIT-compiled: pcre2_jit_match() */
	size_t mark;                  /* context or exclusion pattern: its prefilter
				       * marks, NO_MARK: none (it always runs); a main
				       * pattern's are its rule's pat_base + index */
	uint8_t need;                 /* the roles of its marks that must occur */
	char *src;
};
#define NO_MARK SIZE_MAX

struct patlist {
	struct pat *v;
	size_t n;
};

struct strlist {
	char **v;
	size_t n;
};

struct rule {
	char *id;
	char *limit_id;               /* "<id>.limit" */
	char *limit_title;
	char *list;
	char *entry;
	char *title;
	char *rationale;
	char *file;
	int line;
	enum kvs_severity severity;
	struct patlist pats;
	struct patlist ctx;
	struct patlist excl;
	long long window;
	long long excl_window;        /* 0: exclusion must overlap the hit */
	struct strlist fields;
	struct strlist refs;
	struct strlist positive;
	struct strlist negative;
	char **srcs;                  /* pats[i].src, for rules_get() */
	int always;                   /* no required literal: always runs */
	size_t group;                 /* index of the path it was loaded from */
	size_t pat_base;              /* index of pats.v[0] in the set's marks */
};

struct kvs_ruleset {
	const struct kvs_host *host;
	const kvs_config_ctx *ctx;
	struct rule *rules;
	size_t n, cap;
	struct rules_ac *ac;
	struct rules_ac *ac_near;     /* the literals of context and exclusion patterns */
	size_t n_pats;                /* main patterns of all rules */
	size_t n_marks;               /* and context and exclusion patterns */
	uint8_t *need;                /* per main pattern: roles that must occur */
	size_t *pat_rule;             /* per main pattern: its rule */
	size_t *always;               /* rules without a literal, in order */
	size_t n_always;
	int prefilter;
	int errors;
	size_t group;                 /* path being loaded */
};

/* Where the matches of a pattern can start in the field being screened,
 * after the occurrences of its literal sets (see add_literals): in
 * [lo[k], hi[k]] for the selective (k = 0) and the anchoring set (k = 1),
 * and in one of the windows of the anchoring set's occurrences; `seen`
 * holds the roles of the sets that occurred.  Valid only when gen is the
 * thread's current field generation. */
/* Windows kept per field, over all patterns; past it, a pattern runs
 * from its first to its last anchoring occurrence. */
#define RULES_MAX_SPILL (1u << 16)

struct window {
	size_t lo, hi;
};

struct cand {
	uint32_t gen;
	uint32_t lo[2], hi[2];
	/* The windows of the anchoring set's occurrences, in the thread's
	 * spill list from `spill` on (the newest first); nw counts them,
	 * CAND_SPAN when they did not fit. */
	uint32_t nw;
	uint32_t spill;
	uint8_t seen;                 /* roles whose literals occurred */
};
#define CAND_SPAN UINT32_MAX
#define CAND_ROLES 16                 /* automaton ids: pattern * CAND_ROLES + roles */
#define SPILL_END UINT32_MAX

struct spill {
	struct window w;
	uint32_t next;
};

/* Per-thread scratch: pcre2 match data and limits, candidate marks. */
struct rules_tls {
	pcre2_match_data *md;
	pcre2_match_context *mctx;
	pcre2_match_context *mctx_lim;  /* the same limits and an offset limit */
	pcre2_match_context *mctx_near; /* the same, for context and exclusions */
	struct cand *cand;            /* per main, context and exclusion pattern */
	size_t cand_cap;
	uint32_t gen;                 /* generation of the field being screened */
	int scanned;                  /* the prefilter scanned it: marks are valid */
	/* The automaton of context and exclusion literals, and the field it
	 * scans the first time one of them is needed there (near_done). */
	const struct rules_ac *near_ac;
	const char *near_text;
	size_t near_len;
	int near_done;
	size_t *touched;              /* patterns marked in this generation */
	size_t n_touched;
	uint64_t *sortbits;           /* all zero between fields; sorts touched */
	struct spill *spill;          /* windows past CAND_WINDOWS, this field */
	size_t n_spill, spill_cap;
	/* The windows of the main pattern being run, and of the context or
	 * exclusion pattern being run for one of its matches. */
	struct window *wbuf[2];
	size_t wbuf_cap[2];
};
static __thread struct rules_tls *tls;
/* The key only serves to free a thread's scratch when the thread exits. */
static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

static const char *const severity_names[] = {
	"info", "low", "medium", "high", "critical",
};

static const char *const rule_keys[] = {
	"id", "list", "entry", "title", "rationale", "patterns", "context",
	"context_window", "exclude", "exclude_window", "fields", "severity",
	"references", "positive", "negative", NULL,
};

static void rs_error(struct kvs_ruleset *rs, const char *file, int line,
		     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void rs_error(struct kvs_ruleset *rs, const char *file, int line,
		     const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rs->errors++;
	if (rs->host && rs->host->config_error)
		rs->host->config_error(rs->ctx, NULL, file, line, "%s", msg);
}

static void tls_free(struct rules_tls *t)
{
	if (!t)
		return;
	pcre2_match_data_free(t->md);
	pcre2_match_context_free(t->mctx);
	pcre2_match_context_free(t->mctx_lim);
	pcre2_match_context_free(t->mctx_near);
	free(t->cand);
	free(t->touched);
	free(t->sortbits);
	free(t->spill);
	free(t->wbuf[0]);
	free(t->wbuf[1]);
	free(t);
}

static void tls_destroy(void *p)
{
	tls_free(p);
	tls = NULL;
}

static void tls_key_init(void)
{
	(void)pthread_key_create(&tls_key, tls_destroy);
}

/* The calling thread's scratch, grown to n candidate marks; NULL on ENOMEM.
 * It lives as long as the thread and is freed when the thread exits. */
static struct rules_tls *tls_get(size_t n)
{
	struct rules_tls *t = tls;

	if (!t) {
		pthread_once(&tls_once, tls_key_init);
		t = calloc(1, sizeof(*t));
		if (!t)
			return NULL;
		t->md = pcre2_match_data_create(1, NULL);
		t->mctx = pcre2_match_context_create(NULL);
		if (!t->md || !t->mctx) {
			tls_free(t);
			return NULL;
		}
		pcre2_set_match_limit(t->mctx, RULES_MATCH_LIMIT);
		pcre2_set_depth_limit(t->mctx, RULES_DEPTH_LIMIT);
		pcre2_set_heap_limit(t->mctx, RULES_HEAP_LIMIT_KIB);
		t->mctx_lim = pcre2_match_context_copy(t->mctx);
		t->mctx_near = pcre2_match_context_copy(t->mctx);
		if (!t->mctx_lim || !t->mctx_near) {
			tls_free(t);
			return NULL;
		}
		if (pthread_setspecific(tls_key, t) != 0) {
			tls_free(t);
			return NULL;
		}
		tls = t;
	}
	if (t->cand_cap < n) {
		struct cand *c = realloc(t->cand, n * sizeof(*c));
		size_t *k;

		if (!c)
			return NULL;
		memset(c + t->cand_cap, 0, (n - t->cand_cap) * sizeof(*c));
		t->cand = c;
		k = realloc(t->touched, n * sizeof(*k));
		if (!k)
			return NULL;
		t->touched = k;
		free(t->sortbits);
		t->sortbits = calloc(n / 64 + 1, sizeof(*t->sortbits));
		if (!t->sortbits)
			return NULL;
		t->cand_cap = n;
	}
	return t;
}

static void patlist_free(struct patlist *p)
{
	for (size_t i = 0; i < p->n; i++) {
		pcre2_code_free(p->v[i].re);
		free(p->v[i].src);
	}
	free(p->v);
}

static void strlist_free(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

static void rule_free(struct rule *r)
{
	free(r->id);
	free(r->limit_id);
	free(r->limit_title);
	free(r->list);
	free(r->entry);
	free(r->title);
	free(r->rationale);
	free(r->file);
	patlist_free(&r->pats);
	patlist_free(&r->ctx);
	patlist_free(&r->excl);
	strlist_free(&r->fields);
	strlist_free(&r->refs);
	strlist_free(&r->positive);
	strlist_free(&r->negative);
	free(r->srcs);
}

void rules_free(struct kvs_ruleset *rs)
{
	if (!rs)
		return;
	for (size_t i = 0; i < rs->n; i++)
		rule_free(&rs->rules[i]);
	free(rs->rules);
	free(rs->pat_rule);
	free(rs->always);
	free(rs->need);
	rules_ac_free(rs->ac);
	rules_ac_free(rs->ac_near);
	free(rs);
}

static const char *setting_file(const config_setting_t *s, const char *dflt)
{
	const char *f = config_setting_source_file(s);

	return f ? f : dflt;
}

/* A string setting, or an error naming the rule. */
static int get_str(struct kvs_ruleset *rs, const config_setting_t *s,
		   const char *file, const char *rid, char **out)
{
	const char *v;

	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		rs_error(rs, setting_file(s, file), config_setting_source_line(s),
			 "rule %s: \"%s\" must be a string", rid,
			 config_setting_name(s));
		return -EINVAL;
	}
	v = config_setting_get_string(s);
	if (!*v) {
		rs_error(rs, setting_file(s, file), config_setting_source_line(s),
			 "rule %s: \"%s\" must not be empty", rid,
			 config_setting_name(s));
		return -EINVAL;
	}
	*out = strdup(v);
	return *out ? 0 : -ENOMEM;
}

/* A string or an array/list of strings. */
static int get_strs(struct kvs_ruleset *rs, const config_setting_t *s,
		    const char *file, const char *rid, struct strlist *out)
{
	int t = config_setting_type(s);
	size_t n;

	if (t == CONFIG_TYPE_STRING) {
		out->v = calloc(1, sizeof(char *));
		if (!out->v)
			return -ENOMEM;
		out->v[0] = strdup(config_setting_get_string(s));
		if (!out->v[0])
			return -ENOMEM;
		out->n = 1;
		return 0;
	}
	if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
		goto bad;
	n = (size_t)config_setting_length(s);
	if (n > RULES_MAX_PATTERNS) {
		rs_error(rs, setting_file(s, file), config_setting_source_line(s),
			 "rule %s: \"%s\" has more than %d entries", rid,
			 config_setting_name(s), RULES_MAX_PATTERNS);
		return -EINVAL;
	}
	out->v = calloc(n ? n : 1, sizeof(char *));
	if (!out->v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);

		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			goto bad;
		out->v[i] = strdup(config_setting_get_string(e));
		if (!out->v[i])
			return -ENOMEM;
		out->n = i + 1;
	}
	return 0;
bad:
	rs_error(rs, setting_file(s, file), config_setting_source_line(s),
		 "rule %s: \"%s\" must be a string or a list of strings", rid,
		 config_setting_name(s));
	return -EINVAL;
}

/* Compile the patterns of one setting; errors name the rule and the line.
 * They run with offset limits from the prefilter. */
static int get_pats(struct kvs_ruleset *rs, const config_setting_t *s,
		    const char *file, const char *rid, struct patlist *out)
{
	struct strlist l = {0};
	int rc = get_strs(rs, s, file, rid, &l);

	if (rc < 0)
		goto out;
	out->v = calloc(l.n ? l.n : 1, sizeof(*out->v));
	if (!out->v) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < l.n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		int line = config_setting_source_line(e ? e : s);
		int err;
		PCRE2_SIZE off;
		pcre2_code *re;

		if (!e)
			e = s;
		if (strlen(l.v[i]) > RULES_MAX_PATTERN_LEN || !*l.v[i]) {
			rs_error(rs, setting_file(e, file), line,
				 "rule %s: pattern %zu of \"%s\" is empty or longer than %d bytes",
				 rid, i + 1, config_setting_name(s),
				 RULES_MAX_PATTERN_LEN);
			rc = -EINVAL;
			continue;
		}
		re = pcre2_compile((PCRE2_SPTR)l.v[i], PCRE2_ZERO_TERMINATED,
				   PCRE2_UTF | PCRE2_UCP | PCRE2_CASELESS |
				   PCRE2_MATCH_INVALID_UTF | PCRE2_USE_OFFSET_LIMIT, &err, &off, NULL);
		if (!re) {
			PCRE2_UCHAR buf[256];

			pcre2_get_error_message(err, buf, sizeof(buf));
			rs_error(rs, setting_file(e, file), line,
				 "rule %s: pattern %zu of \"%s\" does not compile at offset %zu: %s",
				 rid, i + 1, config_setting_name(s), (size_t)off,
				 (const char *)buf);
			rc = -EINVAL;
			continue;
		}
		/* Without the JIT (unsupported CPU) the interpreter runs, with the
		 * same results and limits. */
		out->v[out->n].jit = pcre2_jit_compile(re, PCRE2_JIT_COMPLETE) == 0;
		out->v[out->n].re = re;
		out->v[out->n].mark = NO_MARK;
		out->v[out->n].src = l.v[i];
		l.v[i] = NULL;
		out->n++;
	}
out:
	strlist_free(&l);
	return rc;
}

static int get_window(struct kvs_ruleset *rs, const config_setting_t *s,
		      const char *file, const char *rid, long long *out)
{
	int t = config_setting_type(s);
	long long v;

	if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
		goto bad;
	v = config_setting_get_int64(s);
	if (v < 0 || v > RULES_MAX_WINDOW)
		goto bad;
	*out = v;
	return 0;
bad:
	rs_error(rs, setting_file(s, file), config_setting_source_line(s),
		 "rule %s: \"%s\" must be an integer from 0 to %d (bytes)", rid,
		 config_setting_name(s), RULES_MAX_WINDOW);
	return -EINVAL;
}

static int known_key(const char *name)
{
	for (size_t i = 0; rule_keys[i]; i++)
		if (!strcmp(rule_keys[i], name))
			return 1;
	return 0;
}

static int rules_grow(struct kvs_ruleset *rs)
{
	struct rule *v;
	size_t cap;

	if (rs->n < rs->cap)
		return 0;
	if (rs->cap >= RULES_MAX_RULES)
		return -E2BIG;
	cap = rs->cap ? rs->cap * 2 : 64;
	v = realloc(rs->rules, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	rs->rules = v;
	rs->cap = cap;
	return 0;
}

/* Parse one rule group.  On error the rule is not added; errors have been
 * reported.  Returns 0, -EINVAL or -ENOMEM. */
static int parse_rule(struct kvs_ruleset *rs, const config_setting_t *g,
		      const char *file, int index)
{
	const config_setting_t *s;
	struct rule r = {0};
	char rid[160];
	int rc = 0, n;

	r.window = RULES_DEFAULT_WINDOW;
	r.severity = KVS_SEV_MEDIUM;
	r.line = config_setting_source_line(g);
	if (!config_setting_is_group(g)) {
		rs_error(rs, file, r.line, "rule %d: must be a group { id = ...; ... }",
			 index + 1);
		return -EINVAL;
	}
	s = config_setting_get_member(g, "id");
	if (!s) {
		rs_error(rs, file, r.line, "rule %d: missing \"id\"", index + 1);
		return -EINVAL;
	}
	snprintf(rid, sizeof(rid), "%d", index + 1);
	if (get_str(rs, s, file, rid, &r.id) < 0) {
		rc = -EINVAL;
		goto fail;
	}
	snprintf(rid, sizeof(rid), "%.150s", r.id);
	for (size_t i = 0; i < rs->n; i++)
		if (!strcmp(rs->rules[i].id, r.id)) {
			rs_error(rs, file, config_setting_source_line(s),
				 "rule %s: duplicate id (first defined at %s:%d)",
				 rid, rs->rules[i].file, rs->rules[i].line);
			rc = -EINVAL;
		}
	n = config_setting_length(g);
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(e);
		int erc = 0;

		if (!known_key(name)) {
			rs_error(rs, setting_file(e, file), config_setting_source_line(e),
				 "rule %s: unknown key \"%s\"", rid, name);
			rc = -EINVAL;
			continue;
		}
		if (!strcmp(name, "id"))
			continue;
		if (!strcmp(name, "list"))
			erc = get_str(rs, e, file, rid, &r.list);
		else if (!strcmp(name, "entry"))
			erc = get_str(rs, e, file, rid, &r.entry);
		else if (!strcmp(name, "title"))
			erc = get_str(rs, e, file, rid, &r.title);
		else if (!strcmp(name, "rationale"))
			erc = get_str(rs, e, file, rid, &r.rationale);
		else if (!strcmp(name, "patterns"))
			erc = get_pats(rs, e, file, rid, &r.pats);
		else if (!strcmp(name, "context"))
			erc = get_pats(rs, e, file, rid, &r.ctx);
		else if (!strcmp(name, "exclude"))
			erc = get_pats(rs, e, file, rid, &r.excl);
		else if (!strcmp(name, "context_window"))
			erc = get_window(rs, e, file, rid, &r.window);
		else if (!strcmp(name, "exclude_window"))
			erc = get_window(rs, e, file, rid, &r.excl_window);
		else if (!strcmp(name, "fields"))
			erc = get_strs(rs, e, file, rid, &r.fields);
		else if (!strcmp(name, "references"))
			erc = get_strs(rs, e, file, rid, &r.refs);
		else if (!strcmp(name, "positive"))
			erc = get_strs(rs, e, file, rid, &r.positive);
		else if (!strcmp(name, "negative"))
			erc = get_strs(rs, e, file, rid, &r.negative);
		else if (!strcmp(name, "severity")) {
			const char *v = config_setting_get_string(e);
			int found = -1;

			for (int k = 0; v && k <= KVS_SEV_CRITICAL; k++)
				if (!strcmp(v, severity_names[k]))
					found = k;
			if (found < 0) {
				rs_error(rs, setting_file(e, file),
					 config_setting_source_line(e),
					 "rule %s: severity must be one of info, low, medium, high, critical",
					 rid);
				erc = -EINVAL;
			} else {
				r.severity = (enum kvs_severity)found;
			}
		}
		if (erc == -ENOMEM) {
			rc = -ENOMEM;
			goto fail;
		}
		if (erc < 0)
			rc = -EINVAL;
	}
	for (size_t i = 0; i < r.fields.n; i++)
		if (r.fields.v[i][0] != '/') {
			rs_error(rs, file, r.line,
				 "rule %s: field \"%s\" is not a JSON pointer (starts with /)",
				 rid, r.fields.v[i]);
			rc = -EINVAL;
		}
	if (!config_setting_get_member(g, "patterns")) {
		rs_error(rs, file, r.line, "rule %s: missing \"patterns\"", rid);
		rc = -EINVAL;
	}
	if (!r.title) {
		rs_error(rs, file, r.line, "rule %s: missing \"title\"", rid);
		rc = -EINVAL;
	}
	if (rc < 0)
		goto fail;
	r.group = rs->group;
	r.file = strdup(file);
	if (asprintf(&r.limit_id, "%s.limit", r.id) < 0)
		r.limit_id = NULL;
	if (asprintf(&r.limit_title, "rule limit reached: %s", r.id) < 0)
		r.limit_title = NULL;
	r.srcs = calloc(r.pats.n + 1, sizeof(char *));
	for (size_t i = 0; r.srcs && i < r.pats.n; i++)
		r.srcs[i] = r.pats.v[i].src;
	if (!r.file || !r.limit_id || !r.limit_title || !r.srcs) {
		rc = -ENOMEM;
		goto fail;
	}
	if (!r.rationale) {
		if (asprintf(&r.rationale, "The text matches rule %s for %s%s%s.",
			     r.id, r.list ? r.list : "the rule list",
			     r.entry ? " entry " : "", r.entry ? r.entry : "") < 0) {
			r.rationale = NULL;
			rc = -ENOMEM;
			goto fail;
		}
	}
	rc = rules_grow(rs);
	if (rc < 0)
		goto fail;
	rs->rules[rs->n++] = r;
	return 0;
fail:
	rule_free(&r);
	return rc;
}

static int load_file(struct kvs_ruleset *rs, const char *file)
{
	config_t lc;
	const config_setting_t *root, *list;
	int rc = 0, n;

	config_init(&lc);
	/* The file is part of the effective policy, hence of its digest. */
	if (plugin_ctx_add_file(rs->ctx, file) < 0) {
		rc = -ENOMEM;
		goto out;
	}
	if (config_read_file(&lc, file) != CONFIG_TRUE) {
		const char *ef = config_error_file(&lc);

		if (config_error_type(&lc) == CONFIG_ERR_FILE_IO && !ef) {
			rs_error(rs, file, 0, "cannot read rule file: %s", strerror(errno));
			rc = -ENOENT;
		} else {
			rs_error(rs, ef ? ef : file, config_error_line(&lc), "%s",
				 config_error_text(&lc));
			rc = -EINVAL;
		}
		goto out;
	}
	root = config_root_setting(&lc);
	n = config_setting_length(root);
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(root, (unsigned)i);

		if (strcmp(config_setting_name(e), "rules")) {
			rs_error(rs, setting_file(e, file), config_setting_source_line(e),
				 "unknown key \"%s\" (a rule file holds only rules = ( ... ))",
				 config_setting_name(e));
			rc = -EINVAL;
		}
	}
	list = config_setting_get_member(root, "rules");
	if (!list) {
		rs_error(rs, file, 1, "missing \"rules = ( ... );\"");
		rc = -EINVAL;
		goto out;
	}
	if (!config_setting_is_aggregate(list) || config_setting_is_group(list)) {
		rs_error(rs, file, config_setting_source_line(list),
			 "\"rules\" must be a list ( { ... }, { ... } )");
		rc = -EINVAL;
		goto out;
	}
	n = config_setting_length(list);
	for (int i = 0; i < n; i++) {
		int prc = parse_rule(rs, config_setting_get_elem(list, (unsigned)i),
				     file, i);

		if (prc == -ENOMEM) {
			rc = prc;
			goto out;
		}
		if (prc < 0)
			rc = -EINVAL;
	}
out:
	config_destroy(&lc);
	return rc;
}

static int conf_name(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return d->d_name[0] != '.' && n > 5 && !strcmp(d->d_name + n - 5, ".conf");
}

/* Resolve a relative path against the folder of the configuration file. */
static char *resolve(const kvs_config_ctx *ctx, const char *path)
{
	if (ctx && ctx->cfg && ctx->cfg->dir)
		return cfg_resolve_path(ctx->cfg->dir, path);
	return strdup(path);
}

/* Add the literals of pattern `pat` to the automaton: the most selective
 * set decides whether the pattern runs at all, the set with the smallest
 * prefix bound where it can match, and up to two more sets must occur too
 * (every match holds one literal of each set).  Automaton ids are
 * pat * CAND_ROLES + roles (1: selective, 2: anchoring, 4 and 8: more);
 * *need gets the roles that must all occur. */
static int add_literals(struct rules_ac_builder *b, const char *src, size_t pat,
			uint8_t *need)
{
	struct rules_literals sel = {0}, anc, sets[2], extra[2];
	int rc = rules_literals_extract(src, 0, &sel), n_extra;

	if (rc < 0 && rc != -ENOENT)
		return rc;
	rc = rules_literals_extract(src, 1, &anc);
	if (rc < 0) {
		rules_literals_free(&sel);
		return rc;
	}
	sets[0] = sel;
	sets[1] = anc;
	n_extra = rules_literals_extra(src, sets, 2, extra, 2);
	if (n_extra < 0) {
		rules_literals_free(&sel);
		rules_literals_free(&anc);
		return n_extra;
	}
	*need = 3;
	/* Short anchoring literals alone also do, when they are all there is. */
	if (!sel.n || rules_literals_same(&sel, &anc)) {
		for (size_t k = 0; k < anc.n && rc == 0; k++)
			rc = rules_ac_builder_add(b, anc.v[k], pat * CAND_ROLES + 3);
	} else {
		for (size_t k = 0; k < sel.n && rc == 0; k++)
			rc = rules_ac_builder_add(b, sel.v[k], pat * CAND_ROLES + 1);
		for (size_t k = 0; k < anc.n && rc == 0; k++)
			rc = rules_ac_builder_add(b, anc.v[k], pat * CAND_ROLES + 2);
	}
	for (int e = 0; e < n_extra; e++) {
		for (size_t k = 0; k < extra[e].n && rc == 0; k++)
			rc = rules_ac_builder_add(b, extra[e].v[k], pat * CAND_ROLES + (4u << e));
		*need |= (uint8_t)(4u << e);
		rules_literals_free(&extra[e]);
	}
	rules_literals_free(&sel);
	rules_literals_free(&anc);
	return rc;
}

/* Extract the literals of every rule and build the automata. */
static int build_prefilter(struct kvs_ruleset *rs)
{
	struct rules_ac_builder *b = rules_ac_builder_new(), *bn = rules_ac_builder_new();
	int rc = 0;

	if (!b || !bn) {
		rules_ac_builder_free(b);
		rules_ac_builder_free(bn);
		return -ENOMEM;
	}
	for (size_t i = 0; i < rs->n; i++)
		rs->n_pats += rs->rules[i].pats.n;
	rs->pat_rule = calloc(rs->n_pats ? rs->n_pats : 1, sizeof(*rs->pat_rule));
	rs->always = calloc(rs->n ? rs->n : 1, sizeof(*rs->always));
	rs->need = calloc(rs->n_pats ? rs->n_pats : 1, sizeof(*rs->need));
	if (!rs->pat_rule || !rs->always || !rs->need)
		rc = -ENOMEM;
	for (size_t i = 0, base = 0; i < rs->n && rc == 0; i++) {
		struct rule *r = &rs->rules[i];

		r->pat_base = base;
		for (size_t p = 0; p < r->pats.n; p++)
			rs->pat_rule[base + p] = i;
		base += r->pats.n;
		for (size_t p = 0; p < r->pats.n && !r->always && rc == 0; p++) {
			/* The automaton marks patterns, not rules: only the
			 * patterns whose literals occur run. */
			rc = add_literals(b, r->pats.v[p].src, r->pat_base + p,
					  &r->pats.v[p].need);
			rs->need[r->pat_base + p] = r->pats.v[p].need;
			if (rc == -ENOENT) {
				r->always = 1;
				rc = 0;
			}
		}
		if (r->always)
			rs->always[rs->n_always++] = i;
	}
	/* Context and exclusion patterns get marks after the main patterns,
	 * from their own automaton: it scans a field only when a match there
	 * needs one of them, and they then run only near their literals. */
	rs->n_marks = rs->n_pats;
	for (size_t i = 0; i < rs->n && rc == 0; i++) {
		struct patlist *pl[2] = { &rs->rules[i].ctx, &rs->rules[i].excl };

		for (size_t k = 0; k < 2; k++)
			for (size_t p = 0; p < pl[k]->n && rc == 0; p++) {
				rc = add_literals(bn, pl[k]->v[p].src, rs->n_marks, &pl[k]->v[p].need);
				if (rc == 0)
					pl[k]->v[p].mark = rs->n_marks++;
				else if (rc == -ENOENT)
					rc = 0;
			}
	}
	if (rc == 0)
		rc = rules_ac_build(b, &rs->ac);
	if (rc == 0 && rs->n_marks > rs->n_pats)
		rc = rules_ac_build(bn, &rs->ac_near);
	rules_ac_builder_free(b);
	rules_ac_builder_free(bn);
	return rc;
}

/* Load the rule file, or the *.conf files of the folder, at path into rs. */
static int load_path(struct kvs_ruleset *rs, const char *path)
{
	struct dirent **names = NULL;
	struct stat st;
	char *full = resolve(rs->ctx, path);
	int rc = 0, nn = 0;

	if (!full)
		return -ENOMEM;
	if (stat(full, &st) < 0) {
		rc = -errno;
		rs_error(rs, full, 0, "cannot open rule file: %s", strerror(errno));
		goto out;
	}
	if (!S_ISDIR(st.st_mode)) {
		rc = load_file(rs, full);
		goto out;
	}
	nn = scandir(full, &names, conf_name, alphasort);
	if (nn < 0) {
		rc = -errno;
		rs_error(rs, full, 0, "cannot read rule folder: %s", strerror(errno));
		goto out;
	}
	if (nn == 0 || nn > RULES_MAX_FILES) {
		rs_error(rs, full, 0, "rule folder holds %d *.conf files (1..%d)",
			 nn, RULES_MAX_FILES);
		rc = -EINVAL;
		goto out;
	}
	for (int i = 0; i < nn; i++) {
		char *f;
		int frc;

		if (asprintf(&f, "%s/%s", full, names[i]->d_name) < 0) {
			rc = -ENOMEM;
			goto out;
		}
		frc = load_file(rs, f);
		free(f);
		if (frc == -ENOMEM) {
			rc = frc;
			goto out;
		}
		if (frc < 0)
			rc = frc;
	}
out:
	for (int i = 0; i < nn; i++)
		free(names[i]);
	free(names);
	free(full);
	return rc;
}

int rules_load_paths(const struct kvs_host *host, const kvs_config_ctx *ctx,
		     const char *const *paths, size_t n, struct kvs_ruleset **out)
{
	struct kvs_ruleset *rs;
	int rc = 0;

	*out = NULL;
	if (n == 0 || n > RULES_MAX_PATHS)
		return -EINVAL;
	rs = calloc(1, sizeof(*rs));
	if (!rs)
		return -ENOMEM;
	rs->host = host;
	rs->ctx = ctx;
	rs->prefilter = 1;
	for (size_t k = 0; k < n; k++) {
		int prc;

		rs->group = k;
		prc = paths[k] ? load_path(rs, paths[k]) : -EINVAL;
		if (prc == -ENOMEM) {
			rc = prc;
			break;
		}
		if (prc < 0)
			rc = prc;
	}
	if (rc == 0 && rs->errors)
		rc = -EINVAL;
	if (rc == 0) {
		rc = build_prefilter(rs);
		if (rc == -E2BIG)
			rs_error(rs, paths[0], 0,
				 "the literals of these %zu rules make too large a prefilter "
				 "automaton (more than %u states); split them into several "
				 "rule sets or use fewer [0-9] classes in a row", rs->n,
				 rules_ac_max_states());
		if (rc == -E2BIG)
			rc = -EINVAL;
	}
	if (rc < 0) {
		rules_free(rs);
		return rc;
	}
	*out = rs;
	return 0;
}

int rules_load(const struct kvs_host *host, const kvs_config_ctx *ctx,
	       const char *path, struct kvs_ruleset **out)
{
	return rules_load_paths(host, ctx, &path, 1, out);
}

void rules_set_prefilter(struct kvs_ruleset *rs, int on)
{
	rs->prefilter = on;
}

size_t rules_count(const struct kvs_ruleset *rs)
{
	return rs->n;
}

int rules_get(const struct kvs_ruleset *rs, size_t i, struct rules_info *out)
{
	const struct rule *r;

	if (i >= rs->n)
		return -ERANGE;
	r = &rs->rules[i];
	out->id = r->id;
	out->list = r->list;
	out->entry = r->entry;
	out->title = r->title;
	out->file = r->file;
	out->line = r->line;
	out->severity = r->severity;
	out->first_field = r->fields.n ? r->fields.v[0] : NULL;
	out->has_literal = !r->always;
	out->patterns = (const char *const *)r->srcs;
	out->n_patterns = r->pats.n;
	out->positive = (const char *const *)r->positive.v;
	out->n_positive = r->positive.n;
	out->negative = (const char *const *)r->negative.v;
	out->n_negative = r->negative.n;
	return 0;
}

/* ---- Screening ---------------------------------------------------------- */

struct hit {
	size_t rule;
	size_t seq;
	const char *path;
	size_t start, end;
	int limit;
};

struct hits {
	struct hit *v;
	size_t n, cap, seq;
};

static int hits_add(struct hits *h, size_t rule, const char *path, size_t s,
		    size_t e, int limit)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 32;
		struct hit *v;

		if (h->cap >= RULES_MAX_HITS)
			return 0;        /* enough evidence; drop the rest */
		v = realloc(h->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		h->v = v;
		h->cap = cap;
	}
	h->v[h->n++] = (struct hit){ rule, h->seq++, path, s, e, limit };
	return 0;
}

static int hit_cmp(const void *a, const void *b)
{
	const struct hit *x = a, *y = b;

	if (x->limit != y->limit)
		return x->limit - y->limit;
	if (x->rule != y->rule)
		return x->rule < y->rule ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int is_limit(int rc)
{
	return rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
	       rc == PCRE2_ERROR_HEAPLIMIT || rc == PCRE2_ERROR_JIT_STACKLIMIT ||
	       rc == PCRE2_ERROR_NOMEMORY;
}

/* Move back to the start of a UTF-8 character. */
static size_t utf8_floor(const char *t, size_t i)
{
	while (i > 0 && ((unsigned char)t[i] & 0xC0) == 0x80)
		i--;
	return i;
}

static size_t utf8_ceil(const char *t, size_t len, size_t i)
{
	while (i < len && ((unsigned char)t[i] & 0xC0) == 0x80)
		i++;
	return i;
}

/* pcre2_match() of one pattern; the JIT's own entry when it compiled
 * (same results, without the interpreter's dispatch and checks). */
static int pat_match(const struct pat *p, const char *t, size_t len, size_t off,
		     pcre2_match_data *md, pcre2_match_context *mctx)
{
	if (p->jit)
		return pcre2_jit_match(p->re, (PCRE2_SPTR)t, len, off, 0, md, mctx);
	return pcre2_match(p->re, (PCRE2_SPTR)t, len, off, 0, md, mctx);
}

static rules_ac_mark_fn mark_near;

static int cmp_window(const void *a, const void *b)
{
	const struct window *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* The windows where the matches of a marked pattern can start, sorted and
 * merged, clipped to the selective set's bounds, in x->wbuf (or in span
 * when they do not fit).  Returns their count and sets *out. */
static size_t cand_windows(const struct cand *c, struct rules_tls *x, int buf,
			   struct window *span, struct window **out)
{
	size_t n = 0, lo0 = c->lo[0], hi0 = c->hi[0];

	struct window *w = x->wbuf[buf];

	if (c->nw > x->wbuf_cap[buf] && c->nw != CAND_SPAN) {
		size_t cap = c->nw * 2;
		struct window *v = realloc(w, cap * sizeof(*v));

		if (v) {
			x->wbuf[buf] = w = v;
			x->wbuf_cap[buf] = cap;
		}
	}
	if (c->nw > x->wbuf_cap[buf]) {
		w = span;
		w[n++] = (struct window){ c->lo[1], c->hi[1] };
	} else {
		/* Oldest first: each lane's occurrences come in order. */
		n = c->nw;
		for (uint32_t k = c->spill, i = c->nw; k != SPILL_END; k = x->spill[k].next)
			w[--i] = x->spill[k].w;
		if (n > 16) {
			qsort(w, n, sizeof(*w), cmp_window);
		} else {
			for (size_t i = 1; i < n; i++) {
				struct window v = w[i];
				size_t j = i;

				for (; j > 0 && w[j - 1].lo > v.lo; j--)
					w[j] = w[j - 1];
				w[j] = v;
			}
		}
	}
	*out = w;
	/* Overlapping windows become one: one pcre2 call instead of two
	 * trying the same start positions. */
	size_t m = 0;

	for (size_t i = 0; i < n; i++) {
		if (w[i].lo < lo0)
			w[i].lo = lo0;
		if (w[i].hi > hi0)
			w[i].hi = hi0;
		if (m && w[i].lo <= w[m - 1].hi) {
			if (w[i].hi > w[m - 1].hi)
				w[m - 1].hi = w[i].hi;
		} else if (w[i].lo <= w[i].hi) {
			w[m++] = w[i];
		}
	}
	return m;
}

/* 1 if a pattern of pl matches inside [lo, hi) of t (overlapping [s, e) when
 * `overlap`), 0 if not, or a negative pcre2 limit error.  When the
 * prefilter scanned the field, a pattern with literals runs only where
 * their occurrences say its matches can start, and not at all without
 * one: the same answer with less work. */
static int window_match(const struct patlist *pl, const char *t, size_t lo,
			size_t hi, size_t s, size_t e, int overlap, struct rules_tls *x)
{
	for (size_t p = 0; p < pl->n; p++) {
		const struct pat *re = &pl->v[p];
		struct window whole = { lo, hi }, span, *w = &whole;
		size_t nw = 1, off = lo;
		int done = 0;

		if (x->scanned && re->mark != NO_MARK) {
			const struct cand *c = &x->cand[re->mark];

			if (!x->near_done) {
				rules_ac_scan(x->near_ac, x->near_text, x->near_len, mark_near, x);
				x->near_done = 1;
			}
			if (c->gen != x->gen || (c->seen & re->need) != re->need)
				continue;
			nw = cand_windows(c, x, 1, &span, &w);
		}
		for (size_t i = 0; i < nw && !done && w[i].lo <= hi; i++) {
			size_t whi = w[i].hi < hi ? w[i].hi : hi;
			pcre2_match_context *mctx = x->mctx;

			if (off < w[i].lo)
				off = w[i].lo;
			if (whi < hi) {
				pcre2_set_offset_limit(x->mctx_near, whi);
				mctx = x->mctx_near;
			}
			while (off <= whi) {
				int rc = pat_match(re, t, hi, off, x->md, mctx);
				PCRE2_SIZE *ov;

				if (rc == PCRE2_ERROR_NOMATCH)
					break;
				if (rc < 0)
					return is_limit(rc) ? rc : 0;
				ov = pcre2_get_ovector_pointer(x->md);
				if (!overlap || (ov[0] < e && ov[1] > s) ||
				    (ov[0] == ov[1] && ov[0] >= s && ov[0] <= e))
					return 1;
				if (ov[0] >= e) {
					done = 1;
					break;
				}
				off = ov[1] > ov[0] ? ov[1] : utf8_ceil(t, hi, ov[0] + 1);
			}
		}
	}
	return 0;
}

/* Collect the match [s, e) of rule r if its context and exclusions allow:
 * 1 if kept, 0 if not, -ENOMEM, or a (negative) pcre2 limit error of a
 * context or exclusion pattern. */
static int keep_match(const struct rule *r, size_t ri, const char *path, const char *t,
		      size_t len, size_t s, size_t e, struct rules_tls *x, struct hits *h)
{
	size_t lo, hi;
	int ok = 1;

	if (r->ctx.n) {
		lo = utf8_floor(t, s > (size_t)r->window ? s - (size_t)r->window : 0);
		hi = utf8_ceil(t, len, e + (size_t)r->window < len ?
			       e + (size_t)r->window : len);
		ok = window_match(&r->ctx, t, lo, hi, s, e, 0, x);
	}
	if (ok > 0 && r->excl.n) {
		size_t w = r->excl_window ? (size_t)r->excl_window : RULES_DEFAULT_WINDOW;
		int ex;

		lo = utf8_floor(t, s > w ? s - w : 0);
		hi = utf8_ceil(t, len, e + w < len ? e + w : len);
		ex = window_match(&r->excl, t, lo, hi, s, e, r->excl_window == 0, x);
		ok = ex < 0 ? ex : !ex;
	}
	if (ok < 0)
		return ok;
	if (ok) {
		int rc = hits_add(h, ri, path, s, e, 0);

		if (rc < 0)
			return rc;
	}
	return ok;
}

/* Find the matches of pattern re that start in [*off, end] (end == len:
 * anywhere), one after the other as a scan of the whole field would;
 * *off is left where the next search starts.  Returns 0, 1 when a pcre2
 * limit was hit, or -ENOMEM. */
static int run_window(const struct rule *r, size_t ri, const struct pat *re,
		      const char *path, const char *t, size_t len, size_t *off,
		      size_t end, struct rules_tls *x, struct hits *h, size_t *found)
{
	pcre2_match_context *mctx = x->mctx;

	if (end < len) {
		pcre2_set_offset_limit(x->mctx_lim, end);
		mctx = x->mctx_lim;
	}
	while (*off <= end && *found < RULES_MAX_EVIDENCE) {
		int rc = pat_match(re, t, len, *off, x->md, mctx);
		PCRE2_SIZE *ov;
		size_t s, e;

		if (rc == PCRE2_ERROR_NOMATCH)
			return 0;
		if (rc < 0)
			return is_limit(rc);
		ov = pcre2_get_ovector_pointer(x->md);
		s = ov[0];
		e = ov[1];
		*off = e > s ? e : utf8_ceil(t, len, s + 1);
		rc = keep_match(r, ri, path, t, len, s, e, x, h);
		if (rc == -ENOMEM)
			return rc;
		if (rc < 0)
			return 1;
		*found += (size_t)rc;
	}
	return 0;
}

/* Run rule r over one field and append its hits.  With `mark`, only the
 * patterns marked there run, and only where the prefilter says their
 * matches can start: the same matches as a scan of the whole field, found
 * with less work. */
static int match_rule(const struct rule *r, size_t ri, const char *path,
		      const char *t, size_t len, const struct cand *mark,
		      struct rules_tls *x, struct hits *h)
{
	size_t found = 0;
	int limited = 0;

	for (size_t p = 0; p < r->pats.n && found < RULES_MAX_EVIDENCE; p++) {
		const struct pat *re = &r->pats.v[p];
		struct window span, *w;
		size_t off = 0, nw;
		int rc = 0;

		if (!mark) {
			rc = run_window(r, ri, re, path, t, len, &off, len, x, h, &found);
		} else {
			const struct cand *c = &mark[p];

			if (c->gen != x->gen || (c->seen & re->need) != re->need)
				continue;
			nw = cand_windows(c, x, 0, &span, &w);
			for (size_t i = 0; i < nw && rc == 0; i++) {
				if (off < w[i].lo)
					off = w[i].lo;
				if (off <= w[i].hi)
					rc = run_window(r, ri, re, path, t, len, &off, w[i].hi,
							x, h, &found);
			}
		}
		if (rc < 0)
			return rc;
		limited |= rc;
	}
	if (limited)
		return hits_add(h, ri, path, 0, len, 1);
	return 0;
}

static int field_selected(const struct rule *r, const char *path)
{
	if (!r->fields.n)
		return 1;
	for (size_t i = 0; i < r->fields.n; i++) {
		size_t n = strlen(r->fields.v[i]);

		if (!strncmp(path, r->fields.v[i], n) &&
		    (path[n] == '\0' || path[n] == '/' || r->fields.v[i][n - 1] == '/'))
			return 1;
	}
	return 0;
}

/* Hand the collected hits to emit, one finding per rule (and per limited
 * rule); a negative return from emit stops and is returned. */
static int report_hits(const struct kvs_ruleset *rs, struct hits *h,
		       rules_emit_fn *emit, void *arg, int *counts)
{
	struct kvs_evidence ev[RULES_MAX_EVIDENCE];
	int count = 0;

	if (h->n)
		qsort(h->v, h->n, sizeof(*h->v), hit_cmp);
	for (size_t i = 0; i < h->n;) {
		const struct rule *r = &rs->rules[h->v[i].rule];
		int limit = h->v[i].limit;
		struct kvs_finding f = {0};
		size_t j = i, ne = 0;
		int rc;

		while (j < h->n && h->v[j].rule == h->v[i].rule &&
		       h->v[j].limit == limit) {
			if (ne < RULES_MAX_EVIDENCE)
				ev[ne++] = (struct kvs_evidence){ h->v[j].path,
					h->v[j].start, h->v[j].end };
			j++;
		}
		f.references = (const char *const *)r->refs.v;
		f.n_references = r->refs.n;
		f.evidence = ev;
		f.n_evidence = ne;
		if (limit) {
			f.rule = r->limit_id;
			f.severity = KVS_SEV_MEDIUM;
			f.title = r->limit_title;
			f.rationale = "A pattern of this rule hit its pcre2 match, depth or "
				      "heap limit on this text, so the text could not be "
				      "screened completely by it; a person must read it.";
		} else {
			f.rule = r->id;
			f.severity = r->severity;
			f.title = r->title;
			f.rationale = r->rationale;
			count++;
			if (counts)
				counts[r->group]++;
		}
		rc = emit(arg, &f, limit);
		if (rc < 0)
			return rc;
		i = j;
	}
	return count;
}

/* Record an occurrence of a literal of pattern id / CAND_ROLES (of its
 * selective set with id & 1, of its anchoring set with id & 2, of the
 * other sets with id & 12); with `main`, list
 * the pattern as touched in this field. */
static inline void cand_mark(struct rules_tls *x, size_t id, size_t lo, size_t hi, int main)
{
	size_t pat = id / CAND_ROLES;
	struct cand *c = &x->cand[pat];

	if (c->gen != x->gen) {
		c->gen = x->gen;
		c->seen = 0;
		c->lo[0] = c->lo[1] = UINT32_MAX;
		c->hi[0] = c->hi[1] = 0;
		c->nw = 0;
		c->spill = SPILL_END;
		if (main)
			x->touched[x->n_touched++] = pat;
	}
	c->seen |= (uint8_t)(id % CAND_ROLES);
	if (id & 2) {
		struct window *last = c->nw && c->nw != CAND_SPAN ? &x->spill[c->spill].w : NULL;

		if (last && lo <= last->hi && hi >= last->lo) {
			/* Overlapping the newest window: one window of both. */
			if (lo < last->lo)
				last->lo = lo;
			if (hi > last->hi)
				last->hi = hi;
		} else if (c->nw != CAND_SPAN) {
			if (x->n_spill == x->spill_cap && x->spill_cap < RULES_MAX_SPILL) {
				size_t cap = x->spill_cap ? x->spill_cap * 2 : 1024;
				struct spill *v = realloc(x->spill, cap * sizeof(*v));

				if (v) {
					x->spill = v;
					x->spill_cap = cap;
				}
			}
			if (x->n_spill < x->spill_cap) {
				x->spill[x->n_spill] = (struct spill){ { lo, hi }, c->spill };
				c->spill = (uint32_t)x->n_spill++;
				c->nw++;
			} else {
				c->nw = CAND_SPAN;
			}
		}
	}
	for (int k = 0; k < 2; k++)
		if (id & (1u << k)) {
			if (lo < c->lo[k])
				c->lo[k] = (uint32_t)lo;
			if (hi > c->hi[k])
				c->hi[k] = (uint32_t)hi;
		}
}

static void mark_pattern(void *arg, size_t id, size_t lo, size_t hi)
{
	cand_mark(arg, id, lo, hi, 1);
}

static void mark_near(void *arg, size_t id, size_t lo, size_t hi)
{
	cand_mark(arg, id, lo, hi, 0);
}

/* Run rule i over the field if it is screened there. */
static int run_rule(const struct kvs_ruleset *rs, size_t i, const char *path,
		    const char *text, size_t len, struct rules_tls *x, struct hits *h)
{
	const struct rule *r = &rs->rules[i];

	if (!field_selected(r, path))
		return 0;
	return match_rule(r, i, path, text, len,
			  rs->prefilter && !r->always ? x->cand + r->pat_base : NULL, x, h);
}

/* Screen one field: with the prefilter, only the rules without a literal
 * and those with a marked pattern, in rule order. */
static int scan_field(const struct kvs_ruleset *rs, const char *path, const char *text,
		      size_t len, struct rules_tls *x, struct hits *h)
{
	size_t a = 0, last = SIZE_MAX, m = 0;
	int rc = 0;

	/* Marks hold 32-bit offsets: a longer field runs every rule whole. */
	x->scanned = rs->prefilter && rs->ac && len < UINT32_MAX;
	x->near_ac = rs->ac_near;
	x->near_text = text;
	x->near_len = len;
	x->near_done = 0;
	if (!x->scanned) {
		for (size_t i = 0; i < rs->n && rc == 0; i++)
			rc = run_rule(rs, i, path, text, len, x, h);
		return rc;
	}
	if (++x->gen == 0) {
		for (size_t i = 0; i < x->cand_cap; i++)
			x->cand[i].gen = 0;
		x->gen = 1;
	}
	x->n_touched = 0;
	x->n_spill = 0;
	rules_ac_scan(rs->ac, text, len, mark_pattern, x);
	/* Only patterns whose two literal sets both occurred can match. */
	for (size_t k = 0, n = x->n_touched; k < n; k++) {
		const struct cand *c = &x->cand[x->touched[k]];

		if ((c->seen & rs->need[x->touched[k]]) == rs->need[x->touched[k]])
			x->touched[m++] = x->touched[k];
	}
	x->n_touched = m;
	if (x->n_touched > 32) {
		/* Many patterns: set their bits and read them back in order. */
		size_t lo = SIZE_MAX, hi = 0;

		for (size_t k = 0; k < x->n_touched; k++) {
			size_t v = x->touched[k];

			x->sortbits[v / 64] |= (uint64_t)1 << (v % 64);
			lo = v / 64 < lo ? v / 64 : lo;
			hi = v / 64 > hi ? v / 64 : hi;
		}
		m = 0;
		for (size_t wi = lo; wi <= hi; wi++)
			for (uint64_t w = x->sortbits[wi]; w; w &= w - 1)
				x->touched[m++] = wi * 64 + (size_t)__builtin_ctzll(w);
		memset(x->sortbits + lo, 0, (hi - lo + 1) * sizeof(*x->sortbits));
	} else {
		/* Few patterns: insertion sort beats qsort's calls. */
		for (size_t k = 1; k < x->n_touched; k++) {
			size_t v = x->touched[k], j = k;

			for (; j > 0 && x->touched[j - 1] > v; j--)
				x->touched[j] = x->touched[j - 1];
			x->touched[j] = v;
		}
	}
	for (size_t k = 0; k <= x->n_touched && rc == 0; k++) {
		size_t i = k < x->n_touched ? rs->pat_rule[x->touched[k]] : rs->n;

		for (; a < rs->n_always && rs->always[a] <= i && rc == 0; a++)
			if (rs->always[a] != last)
				rc = run_rule(rs, last = rs->always[a], path, text, len, x, h);
		if (i < rs->n && i != last && rc == 0)
			rc = run_rule(rs, last = i, path, text, len, x, h);
	}
	return rc;
}

/* rules_scan, and with counts the rule findings per path of the set. */
static int scan(const struct kvs_ruleset *rs, const kvs_request *req,
		const kvs_report *rep, const char *prefix,
		rules_emit_fn *emit, void *arg, int *counts)
{
	const struct kvs_host *host = rs->host;
	struct kvs_text_iter it = KVS_TEXT_ITER_INIT;
	struct hits h = {0};
	struct rules_tls *x;
	const char *path, *text;
	size_t len, plen = prefix ? strlen(prefix) : 0;
	int rc = 0;

	x = tls_get(rs->n_marks ? rs->n_marks : 1);
	if (!x)
		return -ENOMEM;
	while (host->text_next(req, &it, &path, &text, &len)) {
		if (prefix && (strncmp(path, prefix, plen) ||
			       (path[plen] != '\0' && path[plen] != '/' &&
				plen && prefix[plen - 1] != '/')))
			continue;
		if (rep && host->report_expired && host->report_expired(rep))
			break;
		rc = scan_field(rs, path, text, len, x, &h);
		if (rc < 0)
			goto out;
	}
	rc = report_hits(rs, &h, emit, arg, counts);
out:
	free(h.v);
	return rc;
}

struct report_arg {
	const struct kvs_host *host;
	kvs_report *rep;
};

static int emit_report(void *arg, const struct kvs_finding *f, int limit)
{
	const struct report_arg *ra = arg;

	(void)limit;
	return ra->host->report_add(ra->rep, f);
}

int rules_scan(const struct kvs_ruleset *rs, const kvs_request *req,
	       const kvs_report *rep, const char *prefix,
	       rules_emit_fn *emit, void *arg)
{
	return scan(rs, req, rep, prefix, emit, arg, NULL);
}

int rules_screen(const struct kvs_ruleset *rs, const kvs_request *req,
		 kvs_report *rep, const char *prefix)
{
	struct report_arg ra = { rs->host, rep };

	return scan(rs, req, rep, prefix, emit_report, &ra, NULL);
}

int rules_screen_counted(const struct kvs_ruleset *rs, const kvs_request *req,
			 kvs_report *rep, const char *prefix, int *counts)
{
	struct report_arg ra = { rs->host, rep };

	return scan(rs, req, rep, prefix, emit_report, &ra, counts);
}
