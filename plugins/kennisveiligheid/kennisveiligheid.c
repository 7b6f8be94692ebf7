/* kennisveiligheid.c - the knowledge-security plugin: weighs knowledge area,
 * country, partner and form of cooperation of a request into one risk level,
 * following the Nationale leidraad kennisveiligheid (2022), chapter 5.
 *
 * The combination rule (documented for admins in conf/kvscreend.conf):
 *   area A      the most sensitive taxonomy node that fired (rule engine,
 *               conf/rules/kennisveiligheid/): 0 not sensitive (none / low),
 *               1 medium, 2 high, 3 critical (NLD focus area).
 *   country C   per counterparty country: the sum of its signal weights
 *               (countries.conf, signal_weights), mapped to 0..3 by
 *               country_medium / country_high / country_very_high.
 *   partner P   per party, person's affiliation, parent and funder: a
 *               research-security list entry (ASPI, DoD 1260H/1286, CSL
 *               Entity List, own list) by its severity (high+ 3, medium 2,
 *               else 1), a fuzzy match to an entry of another country than
 *               the party's dropped; kind "military" 3 (1 in a trusted
 *               country); state_owned in a country of level >= 1 is one
 *               level above that country when the area is sensitive
 *               (A >= 1), else at the country's level (one factor, not a
 *               verdict); a government body at its level.
 *   base        matrix[A][max(C, P)], each cell L/M/H/V (low .. very high);
 *               default rows LLLM, LLMH, LMMV, LMHV.
 *   cooperation the product M of the factors that apply (form, access,
 *               state-linked funding, its share, duration); when the base
 *               is at least medium it rises one level for M >= raise_one
 *               and two for M >= raise_two (at most very high).
 * The risk level maps to a finding severity (severity_low .. _very_high).
 * One finding "kv.risk" carries the combined level; the factor findings
 * (kv.area.*, kv.country.*, kv.partner.*, kv.cooperation) explain it and
 * never carry a higher severity than it does.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

#include "kvscreen/plugin.h"

#define KV_MAX_LISTS 16
#define KV_MAX_NODES 64          /* taxonomy nodes kept per request */
#define KV_MAX_AREA_EV 8
#define KV_MAX_REFS 6
#define KV_MAX_CP 64             /* counterparties weighed per request */
#define KV_MAX_FACTORS 24
#define KV_MAX_SIGNALS 16
#define KV_TEXT 2048

static const char *const ref_area = "Nationale leidraad kennisveiligheid (2022), 5.1 kennisgebieden";
static const char *const ref_country = "Nationale leidraad kennisveiligheid (2022), 5.2 landen";
static const char *const ref_partner = "Nationale leidraad kennisveiligheid (2022), 5.3 ken je partners";
static const char *const ref_coop = "Nationale leidraad kennisveiligheid (2022), ch. 7 samenwerkingsverbanden";
static const char *const ref_dsii = "D-SII 2025-2029, Sterktes beschermen: Nationale Aanpak Kennisveiligheid";

static const char *const level_names[4] = { "low", "medium", "high", "very high" };

struct kv_config {
	const char *taxonomy;
	const char *countries;
	struct kvs_list *const *lists;
	double threshold;
	const char *const *csl_programs;
	const char *const *signal_weights;
	long long country_medium, country_high, country_very_high;
	const char *const *matrix;
	const char *const *factors;
	double raise_one, raise_two;
	long long long_months;
	double funding_share;
	enum kvs_severity sev[4];
	int screen_export, screen_investment;
	long long max_area_findings;
};

struct kv_signal {
	char *id, *title, *reference;
	double weight;
};

struct kv_country {
	char code[3];
	char *name, *basis;
	int trusted;
	size_t n_sig;
	size_t sig[KV_MAX_SIGNALS];     /* indexes into kv_state.signals */
	char *source[KV_MAX_SIGNALS];
	int score, level;
};

struct kv_factor {
	const char *key;
	double value;
};

struct kv_state {
	const struct kvs_host *host;
	const struct kv_config *cfg;
	kvs_ruleset *taxonomy;
	struct kvs_list *lists[KV_MAX_LISTS];
	int is_csl[KV_MAX_LISTS];
	const char *list_names[KV_MAX_LISTS]; /* borrowed from the lists */
	size_t n_lists;
	struct kv_signal *signals;
	size_t n_signals;
	struct kv_country *countries;
	size_t n_countries;
	char matrix[4][4];              /* risk level 0..3 by [area][counterparty] */
	struct kv_factor factors[KV_MAX_FACTORS];
	size_t n_factors;
	enum kvs_severity sev[4];
};

/* Defaults of the cooperation factors; `factors` entries override them. */
static const struct kv_factor factor_defaults[] = {
	{ "form.joint_lab", 1.5 }, { "form.visiting_researcher", 1.3 },
	{ "form.phd", 1.3 }, { "form.contract_research", 1.2 },
	{ "form.data_sharing", 1.2 }, { "form.licence", 1.2 },
	{ "form.joint_research", 1.0 }, { "form.education", 1.0 },
	{ "access.lab", 1.3 }, { "access.infrastructure", 1.2 },
	{ "access.datasets", 1.2 }, { "access.classified", 2.0 },
	{ "funding.state_linked", 1.5 }, { "funding.major_share", 1.2 },
	{ "duration.long", 1.2 },
};

#define OFF(m) offsetof(struct kv_config, m)
static const struct kvs_option kv_options[] = {
	{ "taxonomy", KVS_OPT_PATH, "rules/kennisveiligheid/taxonomy.conf", OFF(taxonomy),
	  "rule file or folder of the knowledge-area taxonomy", 0, 0, 0, NULL, NULL },
	{ "countries", KVS_OPT_PATH, "kennisveiligheid/countries.conf", OFF(countries),
	  "country profiles with sourced signals (libconfig)", 0, 0, 0, NULL, NULL },
	{ "lists", KVS_OPT_LISTS, NULL, OFF(lists),
	  "research-security lists, each \"format:name:severity:path\" (format "
	  "ofac|csl|un|eu|aspi|kvs); may be empty", 0, 0, 0, NULL, NULL },
	{ "threshold", KVS_OPT_REAL, "0.92", OFF(threshold),
	  "minimum similarity (0..1) of a name to a listed name", 0, 0.5, 1.0, NULL, NULL },
	{ "csl_programs", KVS_OPT_STRINGS, NULL, OFF(csl_programs),
	  "for csl lists, the programmes that count (substrings, e.g. \"Entity List\"); "
	  "empty: all", 0, 0, 0, NULL, NULL },
	{ "signal_weights", KVS_OPT_STRINGS, NULL, OFF(signal_weights),
	  "overrides of signal weights, each \"signal=weight\" (0..100)", 0, 0, 0, NULL, NULL },
	{ "country_medium", KVS_OPT_INT, "20", OFF(country_medium),
	  "country score from which its level is medium", 0, 1, 100, NULL, NULL },
	{ "country_high", KVS_OPT_INT, "50", OFF(country_high),
	  "country score from which its level is high", 0, 1, 100, NULL, NULL },
	{ "country_very_high", KVS_OPT_INT, "90", OFF(country_very_high),
	  "country score from which its level is very high", 0, 1, 100, NULL, NULL },
	{ "matrix", KVS_OPT_STRINGS, NULL, OFF(matrix),
	  "4 rows (area not sensitive, medium, high, critical) of 4 letters "
	  "L/M/H/V (counterparty low .. very high)", 0, 0, 0, NULL, NULL },
	{ "factors", KVS_OPT_STRINGS, NULL, OFF(factors),
	  "cooperation factors, each \"key=factor\" (e.g. \"form.joint_lab=1.5\")", 0, 0, 0, NULL, NULL },
	{ "raise_one", KVS_OPT_REAL, "1.5", OFF(raise_one),
	  "cooperation product from which the risk rises one level", 0, 1.0, 100.0, NULL, NULL },
	{ "raise_two", KVS_OPT_REAL, "2.5", OFF(raise_two),
	  "cooperation product from which the risk rises two levels", 0, 1.0, 100.0, NULL, NULL },
	{ "long_months", KVS_OPT_INT, "36", OFF(long_months),
	  "duration from which duration.long applies", 0, 1, 1200, NULL, NULL },
	{ "funding_share", KVS_OPT_REAL, "0.5", OFF(funding_share),
	  "share of the budget paid by state-linked foreign funding from which "
	  "funding.major_share applies", 0, 0.0, 1.0, NULL, NULL },
	{ "severity_low", KVS_OPT_SEVERITY, "info", OFF(sev[0]),
	  "finding severity of a low risk", 0, 0, 0, NULL, NULL },
	{ "severity_medium", KVS_OPT_SEVERITY, "medium", OFF(sev[1]),
	  "finding severity of a medium risk", 0, 0, 0, NULL, NULL },
	{ "severity_high", KVS_OPT_SEVERITY, "high", OFF(sev[2]),
	  "finding severity of a high risk", 0, 0, 0, NULL, NULL },
	{ "severity_very_high", KVS_OPT_SEVERITY, "high", OFF(sev[3]),
	  "finding severity of a very high risk", 0, 0, 0, NULL, NULL },
	{ "screen_export", KVS_OPT_BOOL, "true", OFF(screen_export),
	  "also weigh country and partner of export requests", 0, 0, 0, NULL, NULL },
	{ "screen_investment", KVS_OPT_BOOL, "false", OFF(screen_investment),
	  "also weigh country and partner of investment requests", 0, 0, 0, NULL, NULL },
	{ "max_area_findings", KVS_OPT_INT, "5", OFF(max_area_findings),
	  "knowledge-area findings reported at most (most sensitive first)", 0, 1, 50, NULL, NULL },
	{ NULL, 0, NULL, 0, NULL, 0, 0, 0, NULL, NULL },
};

static const char *const default_matrix[4] = { "LLLM", "LLMH", "LMMV", "LMHV" };

/* ---- Small helpers ---- */

/* Append printf output to a bounded buffer; truncates silently. */
static void bprintf(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void bprintf(char *buf, size_t size, const char *fmt, ...)
{
	size_t o = strnlen(buf, size);
	va_list ap;

	if (o + 1 >= size)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + o, size - o, fmt, ap);
	va_end(ap);
}

static int has_lists(const struct kvs_host *h)
{
	return KVS_HOST_HAS(h, lists_normalise) && h->lists_load && h->lists_match;
}

static int has_rules(const struct kvs_host *h)
{
	return KVS_HOST_HAS(h, rules_scan) && h->rules_load && h->rules_free;
}

/* ---- Configuration ---- */

static void kv_destroy(void *p, const struct kvs_host *host)
{
	struct kv_state *st = p;

	if (!st)
		return;
	if (st->taxonomy)
		st->host->rules_free(st->taxonomy);
	(void)host;
	for (size_t i = 0; i < st->n_signals; i++) {
		free(st->signals[i].id);
		free(st->signals[i].title);
		free(st->signals[i].reference);
	}
	free(st->signals);
	for (size_t i = 0; i < st->n_countries; i++) {
		free(st->countries[i].name);
		free(st->countries[i].basis);
		for (size_t k = 0; k < st->countries[i].n_sig; k++)
			free(st->countries[i].source[k]);
	}
	free(st->countries);
	free(st);
}

static char *dup_member(const config_setting_t *g, const char *name)
{
	const char *s = NULL;

	if (!config_setting_lookup_string(g, name, &s))
		return NULL;
	return strdup(s);
}

static int find_signal(const struct kv_state *st, const char *id)
{
	for (size_t i = 0; i < st->n_signals; i++)
		if (!strcmp(st->signals[i].id, id))
			return (int)i;
	return -1;
}

/* Report a countries.conf error at the setting's line. */
#define CERR(s, ...) st->host->config_error(ctx, NULL, file, \
	(s) ? config_setting_source_line(s) : 0, __VA_ARGS__)

static int load_signals(struct kv_state *st, const kvs_config_ctx *ctx,
			const char *file, const config_setting_t *sig)
{
	int n = sig ? config_setting_length(sig) : 0;

	if (!sig || !config_setting_is_group(sig)) {
		CERR(sig, "\"signals\" must be a group of signal groups");
		return -EINVAL;
	}
	st->signals = calloc((size_t)n + 1, sizeof(*st->signals));
	if (!st->signals)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(sig, (unsigned)i);
		struct kv_signal *s = &st->signals[st->n_signals];
		double w = 0;
		int iw;

		if (!config_setting_is_group(g)) {
			CERR(g, "signal \"%s\" must be a group { title; weight; reference; }",
			     config_setting_name(g));
			return -EINVAL;
		}
		if (config_setting_lookup_int(g, "weight", &iw))
			w = iw;
		else if (!config_setting_lookup_float(g, "weight", &w)) {
			CERR(g, "signal \"%s\" has no numeric weight", config_setting_name(g));
			return -EINVAL;
		}
		if (w < 0 || w > 100) {
			CERR(config_setting_get_member(g, "weight"),
			     "signal \"%s\": weight must be 0..100", config_setting_name(g));
			return -EINVAL;
		}
		s->id = strdup(config_setting_name(g));
		s->title = dup_member(g, "title");
		s->reference = dup_member(g, "reference");
		s->weight = w;
		st->n_signals++;
		if (!s->id || !s->title || !s->reference) {
			if (s->id && (!s->title || !s->reference)) {
				CERR(g, "signal \"%s\" needs a title and a reference", s->id);
				return -EINVAL;
			}
			return -ENOMEM;
		}
	}
	return 0;
}

static int load_country(struct kv_state *st, const kvs_config_ctx *ctx,
			const char *file, const config_setting_t *g)
{
	struct kv_country *c = &st->countries[st->n_countries];
	const char *code = config_setting_name(g);
	const config_setting_t *sigs;
	int trusted = 0;

	if (strlen(code) != 2 || code[0] < 'A' || code[0] > 'Z' ||
	    code[1] < 'A' || code[1] > 'Z') {
		CERR(g, "country \"%s\" is not an ISO 3166-1 alpha-2 code", code);
		return -EINVAL;
	}
	if (!config_setting_is_group(g)) {
		CERR(g, "country %s must be a group { name; signals; }", code);
		return -EINVAL;
	}
	for (size_t i = 0; i < st->n_countries; i++)
		if (!strcmp(st->countries[i].code, code)) {
			CERR(g, "country %s is listed twice", code);
			return -EINVAL;
		}
	memcpy(c->code, code, 3);
	st->n_countries++;
	c->name = dup_member(g, "name");
	c->basis = dup_member(g, "basis");
	if (!c->name) {
		CERR(g, "country %s has no name", code);
		return -EINVAL;
	}
	if (config_setting_lookup_bool(g, "trusted", &trusted))
		c->trusted = trusted;
	for (int i = 0; i < config_setting_length(g); i++) {
		const char *k = config_setting_name(config_setting_get_elem(g, (unsigned)i));

		if (strcmp(k, "name") && strcmp(k, "basis") && strcmp(k, "trusted") &&
		    strcmp(k, "signals")) {
			CERR(config_setting_get_elem(g, (unsigned)i),
			     "country %s: unknown key \"%s\"", code, k);
			return -EINVAL;
		}
	}
	sigs = config_setting_get_member(g, "signals");
	if (!sigs)
		return 0;
	if (!config_setting_is_list(sigs) && !config_setting_is_array(sigs)) {
		CERR(sigs, "country %s: signals must be a list ( { id; source; }, ... )", code);
		return -EINVAL;
	}
	for (int i = 0; i < config_setting_length(sigs); i++) {
		const config_setting_t *e = config_setting_get_elem(sigs, (unsigned)i);
		const char *id = NULL, *src = NULL;
		int si;

		if (!config_setting_lookup_string(e, "id", &id) ||
		    !config_setting_lookup_string(e, "source", &src) || !*src) {
			CERR(e, "country %s: signal %d needs an id and a source", code, i + 1);
			return -EINVAL;
		}
		si = find_signal(st, id);
		if (si < 0) {
			CERR(e, "country %s: unknown signal \"%s\" (not in signals)", code, id);
			return -EINVAL;
		}
		if (c->n_sig == KV_MAX_SIGNALS) {
			CERR(e, "country %s: more than %d signals", code, KV_MAX_SIGNALS);
			return -EINVAL;
		}
		c->sig[c->n_sig] = (size_t)si;
		c->source[c->n_sig] = strdup(src);
		if (!c->source[c->n_sig])
			return -ENOMEM;
		c->n_sig++;
	}
	return 0;
}

static int load_countries(struct kv_state *st, const kvs_config_ctx *ctx,
			  const char *file)
{
	const config_setting_t *cs;
	config_t lc;
	int rc = 0, n;

	config_init(&lc);
	if (!config_read_file(&lc, file)) {
		st->host->config_error(ctx, NULL, config_error_file(&lc) ?
				       config_error_file(&lc) : file,
				       config_error_line(&lc), "%s", config_error_text(&lc));
		rc = -EINVAL;
		goto fail;
	}
	for (int i = 0; i < config_setting_length(config_root_setting(&lc)); i++) {
		const config_setting_t *e = config_setting_get_elem(config_root_setting(&lc),
								     (unsigned)i);

		if (strcmp(config_setting_name(e), "signals") &&
		    strcmp(config_setting_name(e), "countries")) {
			CERR(e, "unknown key \"%s\"", config_setting_name(e));
			rc = -EINVAL;
			goto fail;
		}
	}
	rc = load_signals(st, ctx, file, config_lookup(&lc, "signals"));
	if (rc < 0)
		goto fail;
	cs = config_lookup(&lc, "countries");
	if (!cs || !config_setting_is_group(cs)) {
		CERR(cs, "\"countries\" must be a group of country groups");
		rc = -EINVAL;
		goto fail;
	}
	n = config_setting_length(cs);
	st->countries = calloc((size_t)n + 1, sizeof(*st->countries));
	if (!st->countries) {
		rc = -ENOMEM;
		goto fail;
	}
	for (int i = 0; i < n; i++) {
		rc = load_country(st, ctx, file, config_setting_get_elem(cs, (unsigned)i));
		if (rc < 0)
			goto fail;
	}
fail:
	config_destroy(&lc);
	return rc;
}

/* Apply signal_weights overrides, then score every country. */
static int score_countries(struct kv_state *st, const kvs_config_ctx *ctx)
{
	const struct kv_config *cfg = st->cfg;

	for (size_t i = 0; cfg->signal_weights && cfg->signal_weights[i]; i++) {
		const char *s = cfg->signal_weights[i], *eq = strchr(s, '=');
		char id[64], *end;
		double w;
		int si;

		if (!eq || eq == s || (size_t)(eq - s) >= sizeof(id)) {
			st->host->config_error(ctx, "signal_weights", NULL, 0,
					       "\"%s\" is not signal=weight", s);
			return -EINVAL;
		}
		memcpy(id, s, (size_t)(eq - s));
		id[eq - s] = '\0';
		w = strtod(eq + 1, &end);
		si = find_signal(st, id);
		if (si < 0 || *end || end == eq + 1 || w < 0 || w > 100) {
			st->host->config_error(ctx, "signal_weights", NULL, 0, si < 0
				? "\"%s\": no such signal in the countries file"
				: "\"%s\": weight must be a number 0..100", s);
			return -EINVAL;
		}
		st->signals[si].weight = w;
	}
	if (!(cfg->country_medium <= cfg->country_high &&
	      cfg->country_high <= cfg->country_very_high)) {
		st->host->config_error(ctx, "country_high", NULL, 0,
			"country_medium <= country_high <= country_very_high must hold");
		return -EINVAL;
	}
	for (size_t i = 0; i < st->n_countries; i++) {
		struct kv_country *c = &st->countries[i];
		double sum = 0;

		for (size_t k = 0; k < c->n_sig; k++)
			sum += st->signals[c->sig[k]].weight;
		c->score = sum > 100 ? 100 : (int)lround(sum);
		c->level = c->score >= cfg->country_very_high ? 3 :
			   c->score >= cfg->country_high ? 2 :
			   c->score >= cfg->country_medium ? 1 : 0;
	}
	return 0;
}

static int parse_matrix_and_factors(struct kv_state *st, const kvs_config_ctx *ctx)
{
	const struct kv_config *cfg = st->cfg;
	const char *const *m = cfg->matrix ? cfg->matrix : default_matrix;
	size_t rows = 4;

	if (cfg->matrix)
		for (rows = 0; m[rows]; rows++)
			;
	if (rows != 4) {
		st->host->config_error(ctx, "matrix", NULL, 0,
				       "needs 4 rows, has %zu", rows);
		return -EINVAL;
	}
	for (int a = 0; a < 4; a++) {
		if (strlen(m[a]) != 4) {
			st->host->config_error(ctx, "matrix", NULL, 0,
				"row %d \"%s\" needs 4 letters of L, M, H, V", a + 1, m[a]);
			return -EINVAL;
		}
		for (int r = 0; r < 4; r++) {
			const char *p = strchr("LMHV", m[a][r]);

			if (!p || !m[a][r]) {
				st->host->config_error(ctx, "matrix", NULL, 0,
					"row %d \"%s\": '%c' is not L, M, H or V", a + 1, m[a], m[a][r]);
				return -EINVAL;
			}
			st->matrix[a][r] = (char)(p - "LMHV");
		}
	}
	for (size_t i = 0; i < sizeof(factor_defaults) / sizeof(*factor_defaults); i++)
		st->factors[st->n_factors++] = factor_defaults[i];
	for (size_t i = 0; cfg->factors && cfg->factors[i]; i++) {
		const char *s = cfg->factors[i], *eq = strchr(s, '=');
		char *end;
		double v;
		size_t k;

		for (k = 0; eq && k < st->n_factors; k++)
			if (strlen(st->factors[k].key) == (size_t)(eq - s) &&
			    !strncmp(st->factors[k].key, s, (size_t)(eq - s)))
				break;
		v = eq ? strtod(eq + 1, &end) : 0;
		if (!eq || k == st->n_factors || *end || end == eq + 1 || v < 0.1 || v > 10) {
			st->host->config_error(ctx, "factors", NULL, 0,
				!eq || k == st->n_factors
				? "\"%s\": not key=factor with a known key (form.*, access.*, "
				  "funding.state_linked, funding.major_share, duration.long)"
				: "\"%s\": factor must be a number 0.1..10", s);
			return -EINVAL;
		}
		st->factors[k].value = v;
	}
	if (cfg->raise_two < cfg->raise_one) {
		st->host->config_error(ctx, "raise_two", NULL, 0,
				       "raise_two must not be below raise_one");
		return -EINVAL;
	}
	for (int i = 0; i < 4; i++) {
		static const char *const opt[4] = { "severity_low", "severity_medium",
			"severity_high", "severity_very_high" };
		st->sev[i] = cfg->sev[i];
		if (i && st->sev[i] < st->sev[i - 1]) {
			st->host->config_error(ctx, opt[i], NULL, 0,
				"severities must not fall as the risk rises");
			return -EINVAL;
		}
	}
	return 0;
}

/* The research-security lists, loaded by the host from the `lists` option:
 * their names, and which are CSL lists (filtered by csl_programs). */
static int load_lists(struct kv_state *st, const kvs_config_ctx *ctx)
{
	const struct kv_config *cfg = st->cfg;

	for (size_t i = 0; cfg->lists && cfg->lists[i]; i++) {
		struct kvs_list_info in = KVS_LIST_INFO_INIT;

		if (st->n_lists == KV_MAX_LISTS) {
			st->host->config_error(ctx, "lists", NULL, 0, "more than %d lists",
					       KV_MAX_LISTS);
			return -EINVAL;
		}
		if (st->host->lists_info(cfg->lists[i], &in) < 0)
			return -EINVAL;
		st->lists[st->n_lists] = cfg->lists[i];
		st->list_names[st->n_lists] = in.name;
		st->is_csl[st->n_lists] = !strcmp(in.format, "csl");
		st->n_lists++;
	}
	return 0;
}

static int kv_create(const struct kvs_host *host, const kvs_config_ctx *ctx,
		     const void *config, void **state)
{
	struct kv_state *st;
	char *abs;
	int rc;

	if (!has_rules(host)) {
		host->config_error(ctx, NULL, NULL, 0,
				   "the host offers no rule engine with rules_scan (too old)");
		return -ENOTSUP;
	}
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->host = host;
	st->cfg = config;
	rc = parse_matrix_and_factors(st, ctx);
	if (rc < 0)
		goto fail;
	rc = load_countries(st, ctx, st->cfg->countries);
	if (rc < 0)
		goto fail;
	rc = score_countries(st, ctx);
	if (rc < 0)
		goto fail;
	if (st->cfg->lists && st->cfg->lists[0] && !has_lists(host)) {
		host->config_error(ctx, "lists", NULL, 0,
				   "the host offers no list service (lists_load)");
		rc = -ENOTSUP;
		goto fail;
	}
	rc = load_lists(st, ctx);
	if (rc < 0)
		goto fail;
	/* The host resolved the option against the configuration's folder
	 * (possibly relative to the working directory); make it absolute so
	 * that rules_load does not resolve it a second time. */
	abs = realpath(st->cfg->taxonomy, NULL);
	if (!abs) {
		rc = -errno;
		host->config_error(ctx, "taxonomy", NULL, 0, "%s: %s", st->cfg->taxonomy,
				   strerror(errno));
		goto fail;
	}
	rc = host->rules_load(ctx, abs, &st->taxonomy);
	free(abs);
	if (rc < 0)
		goto fail;
	*state = st;
	return 0;
fail:
	kv_destroy(st, host);
	return rc;
}

/* ---- Screening ---- */

struct kv_node {                 /* a taxonomy node that fired */
	char *id, *title, *rationale;
	enum kvs_severity sens;
	char *refs[KV_MAX_REFS];
	size_t n_refs;
	struct kvs_evidence ev[KV_MAX_AREA_EV];
	size_t n_ev;
};

struct kv_cp {                   /* a counterparty: party, person, funder, destination */
	char name_path[96];      /* "" when there is no name (a bare destination) */
	char country_path[96];
	const char *name;
	size_t name_len;
	const struct kv_country *country;
	char cc[3];
	int partner_level;
	const char *rule;        /* strongest partner reason, e.g. "kv.partner.listed" */
	char why[768];
	char match_path[96];     /* the field that matched a list (name, alias, parent) */
};

struct kv_eval {
	const struct kv_state *st;
	const kvs_request *req;
	kvs_report *rep;
	size_t n_nodes;
	size_t n_cp;
	int area, country, partner, base, level;
	const struct kv_cp *worst;   /* counterparty that set max(C, P) */
	double mult;
	char coop_why[768];
	struct kvs_evidence coop_ev[4];
	char coop_paths[4][64];
	size_t n_coop_ev;
	int err;
	/* Last, and not zeroed: each entry is cleared as it is taken. */
	struct kv_node nodes[KV_MAX_NODES];
	struct kv_cp cps[KV_MAX_CP];
};

static void node_free(struct kv_node *n)
{
	free(n->id);
	free(n->title);
	free(n->rationale);
	for (size_t i = 0; i < n->n_refs; i++)
		free(n->refs[i]);
	for (size_t i = 0; i < n->n_ev; i++)
		free((char *)n->ev[i].path);
}

static int area_level(enum kvs_severity s)
{
	return s >= KVS_SEV_CRITICAL ? 3 : s == KVS_SEV_HIGH ? 2 : s == KVS_SEV_MEDIUM ? 1 : 0;
}

/* rules_scan callback: keep what fired; pass limit findings straight on. */
static int on_rule(void *arg, const struct kvs_finding *f, int limit)
{
	struct kv_eval *ev = arg;
	struct kv_node *n;

	if (limit)
		return ev->st->host->report_add(ev->rep, f);
	for (size_t i = 0; i < ev->n_nodes; i++)
		if (!strcmp(ev->nodes[i].id, f->rule)) {
			n = &ev->nodes[i];    /* the same node in another field */
			goto evidence;
		}
	if (ev->n_nodes == KV_MAX_NODES)
		return 0;
	n = &ev->nodes[ev->n_nodes++];
	memset(n, 0, sizeof(*n));
	n->sens = f->severity;
	n->id = strdup(f->rule);
	n->title = strdup(f->title);
	n->rationale = f->rationale ? strdup(f->rationale) : NULL;
	if (!n->id || !n->title || (f->rationale && !n->rationale))
		return -ENOMEM;
	for (size_t i = 0; i < f->n_references && n->n_refs < KV_MAX_REFS; i++)
		if (!(n->refs[n->n_refs++] = strdup(f->references[i])))
			return -ENOMEM;
evidence:
	for (size_t i = 0; i < f->n_evidence && n->n_ev < KV_MAX_AREA_EV; i++) {
		n->ev[n->n_ev] = f->evidence[i];
		n->ev[n->n_ev].path = strdup(f->evidence[i].path);
		if (!n->ev[n->n_ev++].path)
			return -ENOMEM;
	}
	return 0;
}

static const struct kv_country *country_find(const struct kv_state *st, const char *cc)
{
	for (size_t i = 0; cc && i < st->n_countries; i++)
		if (!strcmp(st->countries[i].code, cc))
			return &st->countries[i];
	return NULL;
}

static int list_level(enum kvs_severity s)
{
	return s >= KVS_SEV_HIGH ? 3 : s == KVS_SEV_MEDIUM ? 2 : 1;
}

/* Best list match of one name, honouring csl_programs; 1 and *out, or 0.
 * A fuzzy match (below 0.99) to an entry of another country than the
 * party's (when both are known) is dropped: "Nanyang Technological
 * University" (SG) is not "Nanjing Tech University" (CN). */
static int match_name(const struct kv_state *st, const char *name, size_t len,
		      const char *cc, struct kvs_list_match *out)
{
	struct kvs_list_match m[8];
	int n;

	m[0].size = sizeof(m[0]);
	if (!st->n_lists || !name || !len)
		return 0;
	n = st->host->lists_match((const struct kvs_list *const *)st->lists, st->n_lists,
				  name, len, st->cfg->threshold, m, 8);
	for (int i = 0; i < n && i < 8; i++) {
		int ok = 1;

		for (size_t l = 0; l < st->n_lists; l++) {
			if (!st->is_csl[l] || strcmp(st->list_names[l], m[i].list) ||
			    !st->cfg->csl_programs || !st->cfg->csl_programs[0])
				continue;
			ok = 0;
			for (size_t k = 0; st->cfg->csl_programs[k] && m[i].program; k++)
				if (strstr(m[i].program, st->cfg->csl_programs[k]))
					ok = 1;
		}
		if (ok && cc && cc[0] && m[i].country && strlen(m[i].country) == 2 &&
		    strcmp(m[i].country, cc) && m[i].score < 0.99)
			ok = 0;
		if (ok) {
			*out = m[i];
			return 1;
		}
	}
	return 0;
}

static void partner_raise(struct kv_cp *cp, int level, const char *rule)
{
	if (level > cp->partner_level || !cp->rule) {
		if (level >= cp->partner_level)
			cp->rule = rule;
		if (level > cp->partner_level)
			cp->partner_level = level;
	}
}

static void describe_match(struct kv_cp *cp, const char *what, const struct kvs_list_match *m)
{
	bprintf(cp->why, sizeof(cp->why), "%s%s matches \"%s\" on %s (entry %s, similarity %.2f)%s%s. ",
		cp->why[0] ? "" : "", what, m->primary_name, m->list, m->entry_id, m->score,
		m->reason ? ": " : "", m->reason ? m->reason : "");
}

/* The partner check (guideline 5.3): list matches of the name, its aliases
 * and its parent, and the kind / state_owned signals.  `base` is the JSON
 * pointer of the party ("/parties/3"), or NULL for a name-only
 * counterparty (person's affiliation, funder) whose name is at name_path. */
static void kv_partner_check(const struct kv_state *st, const kvs_request *req,
			     struct kv_cp *cp, const char *base, int country_level, int area)
{
	const struct kvs_host *h = st->host;
	struct kvs_list_match m = { .size = sizeof(struct kvs_list_match) };
	char p[96];
	const char *s;
	size_t len;
	int b;

	if (cp->name && match_name(st, cp->name, cp->name_len, cp->cc, &m)) {
		describe_match(cp, "The name", &m);
		snprintf(cp->match_path, sizeof(cp->match_path), "%s", cp->name_path);
		partner_raise(cp, list_level(m.severity), "kv.partner.listed");
	}
	if (!base)
		return;
	for (size_t i = 0; i < 8; i++) {
		snprintf(p, sizeof(p), "%s/aliases/%zu", base, i);
		s = h->get_string(req, p, &len);
		if (!s)
			break;
		if (match_name(st, s, len, cp->cc, &m)) {
			describe_match(cp, "An alias", &m);
			if (!cp->match_path[0])
				snprintf(cp->match_path, sizeof(cp->match_path), "%s", p);
			partner_raise(cp, list_level(m.severity), "kv.partner.listed");
		}
	}
	snprintf(p, sizeof(p), "%s/parent", base);
	s = h->get_string(req, p, &len);
	if (s && match_name(st, s, len, cp->cc, &m)) {
		describe_match(cp, "The parent organisation", &m);
		if (!cp->match_path[0])
			snprintf(cp->match_path, sizeof(cp->match_path), "%s", p);
		partner_raise(cp, list_level(m.severity), "kv.partner.parent_listed");
	}
	snprintf(p, sizeof(p), "%s/kind", base);
	s = h->get_string(req, p, NULL);
	if (s && !strcmp(s, "military")) {
		int lvl = cp->country && cp->country->trusted ? 1 : 3;

		bprintf(cp->why, sizeof(cp->why),
			"The party is a military organisation%s. ",
			lvl == 1 ? " of a trusted country" : "");
		partner_raise(cp, lvl, "kv.partner.military");
	}
	snprintf(p, sizeof(p), "%s/state_owned", base);
	if (h->get_bool(req, p, &b) == 0 && b) {
		/* One factor, not a verdict: it adds a level only where the
		 * knowledge is sensitive (a state conservatory of music is not a
		 * risk because the state owns it). */
		int lvl = country_level < 1 ? 0 : area < 1 ? country_level :
			  country_level < 3 ? country_level + 1 : 3;

		bprintf(cp->why, sizeof(cp->why), "The party is state-owned%s. ",
			!lvl ? " (no country signals)" :
			area < 1 ? ", in a country with risk signals; the knowledge area is not "
				   "sensitive, so it weighs at the country's level" :
				   ", in a country with risk signals, on sensitive knowledge");
		partner_raise(cp, lvl, "kv.partner.state_owned");
	}
	if (s && !strcmp(s, "government") && country_level >= 1) {
		bprintf(cp->why, sizeof(cp->why),
			"The party is a government body of a country with risk signals "
			"(weighed at the country's level). ");
		partner_raise(cp, country_level, "kv.partner.government");
	}
}

static struct kv_cp *cp_add(struct kv_eval *ev, const char *name_path, const char *country_path)
{
	const struct kvs_host *h = ev->st->host;
	struct kv_cp *cp;
	const char *cc;

	if (ev->n_cp == KV_MAX_CP)
		return NULL;
	cp = &ev->cps[ev->n_cp++];
	memset(cp, 0, sizeof(*cp));
	if (name_path) {
		snprintf(cp->name_path, sizeof(cp->name_path), "%s", name_path);
		cp->name = h->get_string(ev->req, name_path, &cp->name_len);
	}
	if (country_path) {
		cc = h->get_string(ev->req, country_path, NULL);
		if (cc && strlen(cc) == 2) {
			snprintf(cp->country_path, sizeof(cp->country_path), "%s", country_path);
			memcpy(cp->cc, cc, 3);
			cp->country = country_find(ev->st, cc);
		}
	}
	return cp;
}

static void collect_counterparties(struct kv_eval *ev)
{
	const struct kvs_host *h = ev->st->host;
	char base[48], np[64], cpath[64];
	size_t n;

	n = h->get_size(ev->req, "/parties");
	for (size_t i = 0; i < n; i++) {
		const char *role;
		struct kv_cp *cp;

		snprintf(base, sizeof(base), "/parties/%zu", i);
		snprintf(np, sizeof(np), "%s/role", base);
		role = h->get_string(ev->req, np, NULL);
		if (role && !strcmp(role, "target"))
			continue;      /* the institute's own side of an investment */
		snprintf(np, sizeof(np), "%s/name", base);
		snprintf(cpath, sizeof(cpath), "%s/country", base);
		cp = cp_add(ev, np, cpath);
		if (!cp)
			return;
		kv_partner_check(ev->st, ev->req, cp, base,
				 cp->country ? cp->country->level : 0, ev->area);
	}
	n = h->get_size(ev->req, "/people");
	for (size_t i = 0; i < n; i++) {
		struct kv_cp *cp;

		snprintf(np, sizeof(np), "/people/%zu/affiliation", i);
		if (!h->get_string(ev->req, np, NULL))
			continue;
		cp = cp_add(ev, np, NULL);
		if (!cp)
			return;
		kv_partner_check(ev->st, ev->req, cp, NULL, 0, ev->area);
	}
	n = h->get_size(ev->req, "/cooperation/funding");
	for (size_t i = 0; i < n; i++) {
		struct kv_cp *cp;

		snprintf(np, sizeof(np), "/cooperation/funding/%zu/source", i);
		snprintf(cpath, sizeof(cpath), "/cooperation/funding/%zu/country", i);
		cp = cp_add(ev, np, cpath);
		if (!cp)
			return;
		kv_partner_check(ev->st, ev->req, cp, NULL, 0, ev->area);
	}
	if (h->get_string(ev->req, "/destination/country", NULL))
		cp_add(ev, NULL, "/destination/country");
}

static double factor(const struct kv_state *st, const char *key)
{
	for (size_t i = 0; i < st->n_factors; i++)
		if (!strcmp(st->factors[i].key, key))
			return st->factors[i].value;
	return 1.0;
}

static void coop_apply(struct kv_eval *ev, const char *key, const char *path, const char *what)
{
	double f = factor(ev->st, key);

	if (f == 1.0)
		return;
	ev->mult *= f;
	bprintf(ev->coop_why, sizeof(ev->coop_why), "%s%s x%.2g", ev->coop_why[0] ? ", " : "",
		what, f);
	if (path && ev->n_coop_ev < 4) {
		size_t len = 0;

		if (ev->st->host->get_string(ev->req, path, &len)) {
			snprintf(ev->coop_paths[ev->n_coop_ev], 64, "%s", path);
			ev->coop_ev[ev->n_coop_ev] = (struct kvs_evidence){
				ev->coop_paths[ev->n_coop_ev], 0, len, 0 };
			ev->n_coop_ev++;
		}
	}
}

/* Cooperation (guideline ch. 7): the product of the factors that apply. */
static void cooperation(struct kv_eval *ev)
{
	const struct kvs_host *h = ev->st->host;
	const char *s;
	char key[64], p[64], what[96];
	double total = 0, linked = 0, amt;
	long long months;
	size_t n;
	int b, any_linked = 0;

	ev->mult = 1.0;
	s = h->get_string(ev->req, "/cooperation/form", NULL);
	if (s) {
		snprintf(key, sizeof(key), "form.%s", s);
		snprintf(what, sizeof(what), "form %s", s);
		coop_apply(ev, key, "/cooperation/form", what);
	}
	n = h->get_size(ev->req, "/cooperation/access");
	for (size_t i = 0; i < n && i < 8; i++) {
		snprintf(p, sizeof(p), "/cooperation/access/%zu", i);
		s = h->get_string(ev->req, p, NULL);
		if (!s)
			continue;
		snprintf(key, sizeof(key), "access.%s", s);
		snprintf(what, sizeof(what), "access to %s", s);
		coop_apply(ev, key, p, what);
	}
	n = h->get_size(ev->req, "/cooperation/funding");
	for (size_t i = 0; i < n; i++) {
		snprintf(p, sizeof(p), "/cooperation/funding/%zu/amount_eur", i);
		amt = 0;
		if (h->get_real(ev->req, p, &amt) < 0 || amt < 0)
			amt = 0;
		total += amt;
		snprintf(p, sizeof(p), "/cooperation/funding/%zu/state_linked", i);
		if (h->get_bool(ev->req, p, &b) == 0 && b) {
			linked += amt;
			if (!any_linked) {
				snprintf(p, sizeof(p), "/cooperation/funding/%zu/source", i);
				coop_apply(ev, "funding.state_linked", p, "state-linked foreign funding");
			}
			any_linked = 1;
		}
	}
	if (any_linked && total > 0 && linked / total >= ev->st->cfg->funding_share) {
		snprintf(what, sizeof(what), "state-linked funding pays %.0f%% of the budget",
			 100.0 * linked / total);
		coop_apply(ev, "funding.major_share", NULL, what);
	}
	if (h->get_int(ev->req, "/cooperation/duration_months", &months) == 0 &&
	    months >= ev->st->cfg->long_months) {
		snprintf(what, sizeof(what), "duration %lld months", months);
		coop_apply(ev, "duration.long", NULL, what);
	}
}

static enum kvs_severity cap(enum kvs_severity s, enum kvs_severity max)
{
	return s > max ? max : s;
}

static enum kvs_severity factor_sev(int level)
{
	static const enum kvs_severity m[4] = { KVS_SEV_INFO, KVS_SEV_LOW,
						KVS_SEV_MEDIUM, KVS_SEV_HIGH };

	return m[level < 0 ? 0 : level > 3 ? 3 : level];
}

/* Quote the matched words of an evidence span into buf. */
static void quote_ev(const struct kv_eval *ev, const struct kvs_evidence *e, char *buf, size_t size)
{
	size_t len = 0;
	const char *s = ev->st->host->get_string(ev->req, e->path, &len);

	if (s && e->end <= len && e->start < e->end)
		bprintf(buf, size, "\"%.*s\"", (int)(e->end - e->start > 60 ? 60 : e->end - e->start),
			s + e->start);
}

static int report_act(struct kv_eval *ev, const char *rule, enum kvs_severity sev,
		      const char *title, const char *rationale, const char *const *refs,
		      size_t n_refs, const struct kvs_evidence *evs, size_t n_ev,
		      const char *action)
{
	struct kvs_finding f = {
		.rule = rule, .severity = sev, .title = title, .rationale = rationale,
		.references = refs, .n_references = n_refs, .evidence = evs, .n_evidence = n_ev,
		.action = action,
	};

	return ev->st->host->report_add(ev->rep, &f);
}

static int report(struct kv_eval *ev, const char *rule, enum kvs_severity sev,
		  const char *title, const char *rationale, const char *const *refs,
		  size_t n_refs, const struct kvs_evidence *evs, size_t n_ev)
{
	struct kvs_finding f = {
		.rule = rule, .severity = sev, .title = title, .rationale = rationale,
		.references = refs, .n_references = n_refs, .evidence = evs, .n_evidence = n_ev,
	};

	return ev->st->host->report_add(ev->rep, &f);
}

static int node_cmp(const void *a, const void *b)
{
	const struct kv_node *x = a, *y = b;

	if (x->sens != y->sens)
		return x->sens > y->sens ? -1 : 1;
	return strcmp(x->id, y->id);
}

static int report_area(struct kv_eval *ev, enum kvs_severity risk_sev)
{
	size_t max = (size_t)ev->st->cfg->max_area_findings;

	for (size_t i = 0; i < ev->n_nodes && i < max; i++) {
		const struct kv_node *n = &ev->nodes[i];
		const char *refs[KV_MAX_REFS + 2];
		char rule[128], title[256], why[KV_TEXT] = "";
		size_t nr = 0;
		int rc;

		snprintf(rule, sizeof(rule), "kv.area.%s", n->id);
		snprintf(title, sizeof(title), "Knowledge area (5.1): %s, sensitivity %s",
			 n->title, kvs_severity_name(n->sens));
		bprintf(why, sizeof(why), "Taxonomy node %s (sensitivity %s) matched ", n->id,
			kvs_severity_name(n->sens));
		for (size_t k = 0; k < n->n_ev && k < 3; k++) {
			if (k)
				bprintf(why, sizeof(why), ", ");
			quote_ev(ev, &n->ev[k], why, sizeof(why));
			bprintf(why, sizeof(why), " in %s", n->ev[k].path);
		}
		bprintf(why, sizeof(why), ". %s", n->rationale ? n->rationale : "");
		refs[nr++] = ref_area;
		for (size_t k = 0; k < n->n_refs; k++)
			if (strcmp(n->refs[k], ref_area))
				refs[nr++] = n->refs[k];
		rc = report(ev, rule, cap(factor_sev(area_level(n->sens)), risk_sev), title, why,
			    refs, nr, n->ev, n->n_ev);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int report_countries(struct kv_eval *ev, enum kvs_severity risk_sev)
{
	const struct kv_state *st = ev->st;

	for (size_t i = 0; i < ev->n_cp; i++) {
		const struct kv_cp *cp = &ev->cps[i];
		const struct kv_country *c = cp->country;
		const char *refs[KV_MAX_SIGNALS + 1];
		char rule[32], title[200], why[KV_TEXT] = "";
		struct kvs_evidence e;
		size_t nr = 0, len = 0;
		int dup = 0, rc;

		if (!c || !c->n_sig)
			continue;
		for (size_t k = 0; k < i; k++)
			if (ev->cps[k].country == c)
				dup = 1;
		if (dup)
			continue;
		snprintf(rule, sizeof(rule), "kv.country.%s", c->code);
		snprintf(title, sizeof(title), "Country (5.2): %s (%s), risk %s (score %d)",
			 c->name, c->code, level_names[c->level], c->score);
		bprintf(why, sizeof(why), "%s is the country of %s. Signals that apply: ",
			c->name, cp->name_path[0] ? cp->name_path : cp->country_path);
		refs[nr++] = ref_country;
		for (size_t k = 0; k < c->n_sig; k++) {
			const struct kv_signal *s = &st->signals[c->sig[k]];

			bprintf(why, sizeof(why), "%s%s (%s, weight %g; source: %s)", k ? "; " : "",
				s->title, s->id, s->weight, c->source[k]);
			if (nr < KV_MAX_SIGNALS + 1)
				refs[nr++] = s->reference;
		}
		bprintf(why, sizeof(why), ". Score %d against thresholds %lld/%lld/%lld gives %s.",
			c->score, st->cfg->country_medium, st->cfg->country_high,
			st->cfg->country_very_high, level_names[c->level]);
		st->host->get_string(ev->req, cp->country_path, &len);
		e = (struct kvs_evidence){ cp->country_path, 0, len, 0 };
		rc = report(ev, rule, cap(factor_sev(c->level), risk_sev), title, why, refs, nr, &e, 1);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int report_partners(struct kv_eval *ev, enum kvs_severity risk_sev)
{
	for (size_t i = 0; i < ev->n_cp; i++) {
		const struct kv_cp *cp = &ev->cps[i];
		const char *refs[2] = { ref_partner, ref_dsii };
		char title[256];
		struct kvs_evidence e;
		size_t len = 0;
		const char *p = cp->match_path[0] ? cp->match_path : cp->name_path;
		int rc;

		if (!cp->partner_level || !cp->rule)
			continue;
		snprintf(title, sizeof(title), "Partner (5.3): %.*s, risk %s",
			 (int)(cp->name_len > 120 ? 120 : cp->name_len), cp->name ? cp->name : "",
			 level_names[cp->partner_level]);
		ev->st->host->get_string(ev->req, p, &len);
		e = (struct kvs_evidence){ p, 0, len, 0 };
		rc = report(ev, cp->rule, cap(factor_sev(cp->partner_level), risk_sev), title,
			    cp->why, refs, 2, &e, len ? 1 : 0);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int report_risk(struct kv_eval *ev, enum kvs_severity sev)
{
	const struct kv_state *st = ev->st;
	const char *refs[5] = { ref_area, ref_country, ref_partner, ref_coop, ref_dsii };
	struct kvs_evidence evs[8];
	char title[256], why[KV_TEXT] = "";
	size_t ne = 0;
	int raw = (ev->country > ev->partner ? ev->country : ev->partner);

	snprintf(title, sizeof(title), "Knowledge-security risk %s: area %s, counterparty %s%s",
		 level_names[ev->level],
		 ev->area == 3 ? "critical (NLD)" : ev->area == 2 ? "high" :
		 ev->area == 1 ? "medium" : "not sensitive",
		 level_names[raw], ev->level > ev->base ? ", raised by the form of cooperation" : "");
	if (ev->n_nodes) {
		bprintf(why, sizeof(why), "Knowledge area (5.1): %s (%s", ev->nodes[0].title,
			ev->nodes[0].id);
		for (size_t k = 1; k < ev->n_nodes && k < 4; k++)
			bprintf(why, sizeof(why), ", %s", ev->nodes[k].id);
		bprintf(why, sizeof(why), "%s). ", ev->n_nodes > 4 ? ", ..." : "");
	} else {
		bprintf(why, sizeof(why), "Knowledge area (5.1): no node of the taxonomy fired. ");
	}
	bprintf(why, sizeof(why), "Country (5.2): %s", level_names[ev->country]);
	for (size_t i = 0, n = 0; ev->country && i < ev->n_cp && n < 4; i++) {
		const struct kv_country *c = ev->cps[i].country;
		int seen = 0;

		for (size_t k = 0; k < i; k++)
			seen |= ev->cps[k].country == c;
		if (c && c->level == ev->country && !seen)
			bprintf(why, sizeof(why), "%s%s", n++ ? ", " : " (", c->code);
		if (n && (n == 4 || i + 1 == ev->n_cp)) {
			bprintf(why, sizeof(why), ")");
			break;
		}
	}
	bprintf(why, sizeof(why), ". Partner (5.3): %s", level_names[ev->partner]);
	if (ev->partner && ev->worst && ev->worst->name)
		bprintf(why, sizeof(why), " (%.*s: %.200s)",
			(int)(ev->worst->name_len > 80 ? 80 : ev->worst->name_len), ev->worst->name,
			ev->worst->why);
	bprintf(why, sizeof(why), ". Matrix[area %d][counterparty %d] = %s", ev->area, raw,
		level_names[ev->base]);
	if (ev->mult != 1.0)
		bprintf(why, sizeof(why), "; cooperation product %.2f (%s)%s", ev->mult,
			ev->coop_why, ev->level > ev->base ? " raises it to " : ", no change");
	if (ev->level > ev->base)
		bprintf(why, sizeof(why), "%s", level_names[ev->level]);
	bprintf(why, sizeof(why), ".");
	for (size_t k = 0; ev->n_nodes && k < ev->nodes[0].n_ev && ne < 4; k++)
		evs[ne++] = ev->nodes[0].ev[k];
	if (ev->worst && ev->worst->name_path[0] && ne < 8) {
		size_t len = 0;
		const char *p = ev->worst->match_path[0] ? ev->worst->match_path : ev->worst->name_path;

		if (st->host->get_string(ev->req, p, &len))
			evs[ne++] = (struct kvs_evidence){ p, 0, len, 0 };
	}
	/* The next step by level: low needs none. */
	static const char *const actions[4] = {
		NULL,
		"Have the research-security advisor review the partner and the terms before "
		"signing (know your partner, Nationale leidraad 5.3)",
		"Consult the institute's research-security advisor and the Loket Kennisveiligheid "
		"before committing; agree risk-mitigating conditions (access, data, publication)",
		"Consult the institute's research-security advisor and the Loket Kennisveiligheid "
		"before committing; the board decides whether to proceed",
	};

	return report_act(ev, "kv.risk", sev, title, why, refs, 5, evs, ne, actions[ev->level]);
}

/* The fields that say what the knowledge is; names of parties are not. */
static const char *const area_fields[] = {
	"/title", "/description", "/technology", "/items", "/end_use", NULL,
};

static int kv_screen(void *state, const struct kvs_host *host, const kvs_request *req,
		     kvs_report *rep)
{
	const struct kv_state *st = state;
	enum kvs_request_type type = host->request_type(req);
	enum kvs_severity sev;
	struct kv_eval *ev;
	int rc, raw;

	if ((type == KVS_REQ_EXPORT && !st->cfg->screen_export) ||
	    (type == KVS_REQ_INVESTMENT && !st->cfg->screen_investment))
		return 0;
	/* ~100 KB, nearly all of it the node and counterparty tables: only
	 * the head is cleared.  A calloc of it cost 15% of the daemon's CPU:
	 * jemalloc zeroes a large block by purging its pages (madvise, a TLB
	 * shootdown) and faulting them in again. */
	ev = malloc(sizeof(*ev));
	if (!ev)
		return -ENOMEM;
	memset(ev, 0, offsetof(struct kv_eval, nodes));
	ev->st = st;
	ev->req = req;
	ev->rep = rep;
	for (size_t i = 0; area_fields[i]; i++) {
		rc = host->rules_scan(st->taxonomy, req, rep, area_fields[i], on_rule, ev);
		if (rc < 0)
			goto out;
	}
	if (ev->n_nodes > 1)
		qsort(ev->nodes, ev->n_nodes, sizeof(*ev->nodes), node_cmp);
	ev->area = ev->n_nodes ? area_level(ev->nodes[0].sens) : 0;
	collect_counterparties(ev);
	for (size_t i = 0; i < ev->n_cp; i++) {
		const struct kv_cp *cp = &ev->cps[i];
		int c = cp->country ? cp->country->level : 0;

		if (c > ev->country)
			ev->country = c;
		if (cp->partner_level > ev->partner ||
		    (cp->partner_level == ev->partner && cp->partner_level && !ev->worst)) {
			ev->partner = cp->partner_level;
			ev->worst = cp;
		}
	}
	if (type == KVS_REQ_PARTNERSHIP)
		cooperation(ev);
	else
		ev->mult = 1.0;
	raw = ev->country > ev->partner ? ev->country : ev->partner;
	ev->base = st->matrix[ev->area][raw];
	ev->level = ev->base;
	if (ev->base >= 1) {
		ev->level += ev->mult >= st->cfg->raise_two ? 2 : ev->mult >= st->cfg->raise_one ? 1 : 0;
		if (ev->level > 3)
			ev->level = 3;
	}
	sev = st->sev[ev->level];
	if (host->report_expired(rep)) {
		rc = -ETIME;
		goto out;
	}
	rc = report_risk(ev, sev);
	if (rc >= 0)
		rc = report_area(ev, sev);
	if (rc >= 0)
		rc = report_countries(ev, sev);
	if (rc >= 0)
		rc = report_partners(ev, sev);
	if (rc >= 0 && ev->mult != 1.0) {
		const char *refs[2] = { ref_coop, ref_partner };
		char title[128], why[KV_TEXT];
		int lvl = ev->mult >= st->cfg->raise_two ? 2 : ev->mult >= st->cfg->raise_one ? 1 : 0;

		snprintf(title, sizeof(title), "Cooperation: risk factor x%.2f", ev->mult);
		snprintf(why, sizeof(why), "Form, access, funding and duration of the cooperation: "
			 "%s. A product of at least %.2g raises a risk of medium or more one level, "
			 "of at least %.2g two levels.", ev->coop_why, st->cfg->raise_one,
			 st->cfg->raise_two);
		rc = report(ev, "kv.cooperation", cap(factor_sev(lvl), sev), title, why, refs, 2,
			    ev->coop_ev, ev->n_coop_ev);
	}
	if (rc > 0)
		rc = 0;
out:
	for (size_t i = 0; i < ev->n_nodes; i++)
		node_free(&ev->nodes[i]);
	free(ev);
	return rc < 0 ? rc : 0;
}

KVS_PLUGIN_DECLARE = {
	KVS_PLUGIN_INIT,
	.name = "kennisveiligheid",
	.version = "0.1.0",
	.description = "knowledge security (Nationale leidraad kennisveiligheid 2022): "
		       "knowledge area, country, partner and cooperation combined into a risk level",
	.types = KVS_REQ_PARTNERSHIP | KVS_REQ_EXPORT | KVS_REQ_INVESTMENT,
	.options = kv_options,
	.config_size = sizeof(struct kv_config),
	.create = kv_create,
	.screen = kv_screen,
	.destroy = kv_destroy,
};
