/* rules_load.c - the rule engine's loading: libconfig rule files into a read-only rule set.
 *
 * One thread, in a plugin's create(): every rule of every file (of every
 * path, for rules_load_paths) is parsed and checked, its patterns
 * compiled with the JIT, and the sets of literals its patterns require
 * are extracted (see rules_lit.c): the most selective set, the set with
 * the smallest prefix bound, and for weak selective sets up to two more.
 * The main patterns' literals go into one Aho-Corasick automaton for the
 * whole set, those of context and exclusion patterns into a second one.
 * The set is read-only from then on; screening is in rules.c.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <libconfig.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rules_int.h"

static const char *const rule_keys[] = {
	"id", "list", "entry", "title", "rationale", "patterns", "context",
	"context_window", "exclude", "exclude_window", "fields", "severity",
	"references", "positive", "negative", "negation_window", "negators", NULL,
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
	if (rs->env.error)
		load_env_error(&rs->env, file, line, msg);
	else if (rs->host && rs->host->config_error)
		rs->host->config_error(NULL, NULL, file, line, "%s", msg);
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
	strlist_free(&r->negators);
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

/* negation_window: 0 (off) to RULES_MAX_NEG_WORDS words. */
static int get_neg_window(struct kvs_ruleset *rs, const config_setting_t *s,
			  const char *file, const char *rid, long long *out)
{
	int t = config_setting_type(s);
	long long v = -1;

	if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64)
		v = config_setting_get_int64(s);
	if (v < 0 || v > RULES_MAX_NEG_WORDS) {
		rs_error(rs, setting_file(s, file), config_setting_source_line(s),
			 "rule %s: \"negation_window\" must be an integer from 0 to %d (words)",
			 rid, RULES_MAX_NEG_WORDS);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

/* negators: single words of letters (a trailing '-' allowed, as in "non-"),
 * stored in lower case without the '-'. */
static int get_negators(struct kvs_ruleset *rs, const config_setting_t *s,
			const char *file, const char *rid, struct strlist *out)
{
	int rc = get_strs(rs, s, file, rid, out);

	if (rc < 0)
		return rc;
	if (out->n > RULES_MAX_NEGATORS) {
		rs_error(rs, setting_file(s, file), config_setting_source_line(s),
			 "rule %s: at most %d negators", rid, RULES_MAX_NEGATORS);
		return -EINVAL;
	}
	for (size_t i = 0; i < out->n; i++) {
		char *w = out->v[i];
		size_t n = strlen(w);

		if (n && w[n - 1] == '-')
			w[--n] = '\0';
		for (size_t k = 0; k < n; k++) {
			unsigned char c = (unsigned char)w[k];

			if (c < 0x80 && !((c | 0x20) >= 'a' && (c | 0x20) <= 'z'))
				n = 0;
			else if (c < 0x80)
				w[k] = (char)(c | 0x20);
		}
		if (n == 0 || n > RULES_MAX_NEGATOR_LEN) {
			rs_error(rs, setting_file(s, file), config_setting_source_line(s),
				 "rule %s: negator \"%s\" must be one word of 1 to %d letters",
				 rid, out->v[i], RULES_MAX_NEGATOR_LEN);
			return -EINVAL;
		}
	}
	return 0;
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

/* The checks that span a rule's keys, once all are read: reports each
 * problem and returns -EINVAL if there was one, else 0. */
static int rule_check(struct kvs_ruleset *rs, const struct rule *r, const config_setting_t *g,
		      const char *file, const char *rid)
{
	int rc = 0;

	for (size_t i = 0; i < r->fields.n; i++)
		if (r->fields.v[i][0] != '/') {
			rs_error(rs, file, r->line,
				 "rule %s: field \"%s\" is not a JSON pointer (starts with /)",
				 rid, r->fields.v[i]);
			rc = -EINVAL;
		}
	if (r->negators.n && !r->neg_window) {
		rs_error(rs, file, r->line, "rule %s: \"negators\" needs \"negation_window\"", rid);
		rc = -EINVAL;
	}
	if (!config_setting_get_member(g, "patterns")) {
		rs_error(rs, file, r->line, "rule %s: missing \"patterns\"", rid);
		rc = -EINVAL;
	}
	if (!r->title) {
		rs_error(rs, file, r->line, "rule %s: missing \"title\"", rid);
		rc = -EINVAL;
	}
	return rc;
}

/* Fill in what a checked rule derives (its file, limit finding, pattern
 * sources, default rationale) and append it to rs, which then owns it.
 * Returns 0, or -ENOMEM or -E2BIG with *r still the caller's to free. */
static int rule_add(struct kvs_ruleset *rs, struct rule *r, const char *file)
{
	int rc;

	r->group = rs->group;
	r->file = strdup(file);
	if (asprintf(&r->limit_id, "%s.limit", r->id) < 0)
		r->limit_id = NULL;
	if (asprintf(&r->limit_title, "rule limit reached: %s", r->id) < 0)
		r->limit_title = NULL;
	r->srcs = calloc(r->pats.n + 1, sizeof(char *));
	for (size_t i = 0; r->srcs && i < r->pats.n; i++)
		r->srcs[i] = r->pats.v[i].src;
	if (!r->file || !r->limit_id || !r->limit_title || !r->srcs)
		return -ENOMEM;
	if (!r->rationale) {
		if (asprintf(&r->rationale, "The text matches rule %s for %s%s%s.",
			     r->id, r->list ? r->list : "the rule list",
			     r->entry ? " entry " : "", r->entry ? r->entry : "") < 0) {
			r->rationale = NULL;
			return -ENOMEM;
		}
	}
	rc = rules_grow(rs);
	if (rc < 0)
		return rc;
	rs->rules[rs->n++] = *r;
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
		else if (!strcmp(name, "negation_window"))
			erc = get_neg_window(rs, e, file, rid, &r.neg_window);
		else if (!strcmp(name, "negators"))
			erc = get_negators(rs, e, file, rid, &r.negators);
		else if (!strcmp(name, "severity")) {
			const char *v = config_setting_get_string(e);
			int found = kvs_severity_parse(v);

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
	if (rule_check(rs, &r, g, file, rid) < 0)
		rc = -EINVAL;
	if (rc < 0)
		goto fail;
	rc = rule_add(rs, &r, file);
	if (rc < 0)
		goto fail;
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
	if (load_env_add_file(&rs->env, file) < 0) {
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
	if (!rs->pat_rule || !rs->always)
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
	char *full = load_env_resolve(&rs->env, path);
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

int rules_load_paths(const struct kvs_host *host, const struct kvs_load_env *env,
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
	if (env)
		rs->env = *env;
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
				 RULES_AC_MAX_STATES);
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

int rules_load(const struct kvs_host *host, const struct kvs_load_env *env,
	       const char *path, struct kvs_ruleset **out)
{
	return rules_load_paths(host, env, &path, 1, out);
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
