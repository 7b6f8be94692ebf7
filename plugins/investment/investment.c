/* investment.c - the investment plugin: Dutch investment screening (Vifo) and EU FDI acquirer risk factors.
 *
 * For an `investment` request, or a `partnership` request that carries an
 * `investment` block, the plugin decides three things:
 *   1. whether a target is in scope of the Vifo: established in the
 *      Netherlands and a vital provider, a business campus manager, or active
 *      in sensitive technology (military goods, dual-use items, highly
 *      sensitive technology), from its declared `activities` or from the
 *      request's text screened with the rule engine (one rule set per
 *      category, so a hit says which category it supports);
 *   2. whether the transaction triggers a notification: acquisition of
 *      control for every category, and for highly sensitive technology also
 *      significant influence (reaching each configured share of the votes, or
 *      a first right to appoint a board member), measured from the holding
 *      before the transaction to the holding after it;
 *   3. the acquirer risk factors of Regulation (EU) 2019/452 Art. 4(2):
 *      state control, state funding, opaque ownership, a recorded history of
 *      activities against security, and a listing of the acquirer, its
 *      parent or its UBO on a sanctions or restricted list (through the
 *      host's list service; the denied_party plugin reports the match itself,
 *      this plugin weighs it with the notification duty).
 * A notification duty is one finding per target (severity `notify_severity`,
 * "high" = escalate under the default policy); each risk factor is a finding
 * of its own, with its own configurable severity.
 *
 * Threads: create() builds a read-only state (rule sets, parsed thresholds,
 * severities); screen() only reads it and keeps everything else on its
 * stack, so any number of workers may screen at once.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvscreen/plugin.h"

#define INV_MAX_THRESHOLDS 8
#define INV_MAX_EU 64
#define INV_MAX_RULESETS 16      /* per category */
#define INV_MAX_PARTIES 1000     /* the request model's max_array bound */
#define INV_TEXT 1536            /* rationale and title buffers */
#define INV_MAX_LISTS 32

/* Parsed options, laid out by the option table below. */
struct inv_conf {
	const char *const *highly_sensitive_rules;
	const char *const *military_rules;
	const char *const *dual_use_rules;
	double control_percent;
	const char *influence_thresholds;
	int board_member_is_influence;
	int merger_is_control;
	int assume_target_nl;
	const char *eu_countries;
	enum kvs_severity notify_severity;
	enum kvs_severity incomplete_severity;
	enum kvs_severity state_control_severity;
	enum kvs_severity state_control_eu_severity;
	enum kvs_severity state_funding_severity;
	enum kvs_severity opaque_ownership_severity;
	enum kvs_severity opaque_unnotified_severity;
	enum kvs_severity security_history_severity;
	enum kvs_severity third_country_severity;
	struct kvs_list *const *lists;
	double list_threshold;
	int lists_strict;
	enum kvs_severity listed_severity;
	enum kvs_severity listed_notify_severity;
};

#define O(f) offsetof(struct inv_conf, f)
static const struct kvs_option inv_options[] = {
	{ "highly_sensitive_rules", KVS_OPT_STRINGS, NULL, O(highly_sensitive_rules),
	  "rule files or folders whose hits put a target in highly sensitive technology "
	  "(Besluit toepassingsbereik sensitieve technologie, Stb. 2023, 172)", 0, 0, 0, NULL, NULL },
	{ "military_rules", KVS_OPT_STRINGS, NULL, O(military_rules),
	  "rule files or folders whose hits put a target in military goods", 0, 0, 0, NULL, NULL },
	{ "dual_use_rules", KVS_OPT_STRINGS, NULL, O(dual_use_rules),
	  "rule files or folders whose hits put a target in dual-use items", 0, 0, 0, NULL, NULL },
	{ "control_percent", KVS_OPT_REAL, "50", O(control_percent),
	  "votes strictly above this share are control (competition-law concept)", 0, 0, 100, NULL, NULL },
	{ "influence_thresholds", KVS_OPT_STRING, "10, 20, 25", O(influence_thresholds),
	  "shares of the votes whose reaching is significant influence in highly sensitive "
	  "technology, comma separated, ascending", 0, 0, 0, NULL, NULL },
	{ "board_member_is_influence", KVS_OPT_BOOL, "true", O(board_member_is_influence),
	  "a first right to appoint a board member is significant influence", 0, 0, 0, NULL, NULL },
	{ "merger_is_control", KVS_OPT_BOOL, "true", O(merger_is_control),
	  "instrument \"merger\" counts as acquisition of control", 0, 0, 0, NULL, NULL },
	{ "assume_target_nl", KVS_OPT_BOOL, "true", O(assume_target_nl),
	  "a target without a country is taken as established in the Netherlands", 0, 0, 0, NULL, NULL },
	{ "eu_countries", KVS_OPT_STRING,
	  "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE",
	  O(eu_countries), "member states; any other country is a third country", 0, 0, 0, NULL, NULL },
	{ "notify_severity", KVS_OPT_SEVERITY, "high", O(notify_severity),
	  "severity of a notification duty", 0, 0, 0, NULL, NULL },
	{ "incomplete_severity", KVS_OPT_SEVERITY, "medium", O(incomplete_severity),
	  "severity when the request lacks what the decision needs", 0, 0, 0, NULL, NULL },
	{ "state_control_severity", KVS_OPT_SEVERITY, "high", O(state_control_severity),
	  "acquirer controlled by a third-country (or unknown) government", 0, 0, 0, NULL, NULL },
	{ "state_control_eu_severity", KVS_OPT_SEVERITY, "low", O(state_control_eu_severity),
	  "acquirer controlled by an EU government", 0, 0, 0, NULL, NULL },
	{ "state_funding_severity", KVS_OPT_SEVERITY, "medium", O(state_funding_severity),
	  "state-linked funding from a third country", 0, 0, 0, NULL, NULL },
	{ "opaque_ownership_severity", KVS_OPT_SEVERITY, "medium", O(opaque_ownership_severity),
	  "acquirer company without a parent or ultimate beneficial owner, in a transaction "
	  "that must be notified or established outside the EU", 0, 0, 0, NULL, NULL },
	{ "opaque_unnotified_severity", KVS_OPT_SEVERITY, "low", O(opaque_unnotified_severity),
	  "the same for an EU acquirer when no notification is due (know-your-investor, for "
	  "the file)", 0, 0, 0, NULL, NULL },
	{ "security_history_severity", KVS_OPT_SEVERITY, "high", O(security_history_severity),
	  "acquirer with recorded activities against security or public order", 0, 0, 0, NULL, NULL },
	{ "third_country_severity", KVS_OPT_SEVERITY, "info", O(third_country_severity),
	  "acquirer established outside the EU", 0, 0, 0, NULL, NULL },
	{ "lists", KVS_OPT_LISTS, NULL, O(lists),
	  "sanctions or restricted lists to match acquirers, parents and UBOs against, each "
	  "\"format:name:severity:path\" as for denied_party (shared with it when the same file)",
	  0, 0, 0, NULL, "lists_strict" },
	{ "list_threshold", KVS_OPT_REAL, "0.86", O(list_threshold),
	  "minimum similarity (0..1) of a name to a listed name", 0, 0.5, 1.0, NULL, NULL },
	{ "lists_strict", KVS_OPT_BOOL, "false", O(lists_strict),
	  "a malformed list row fails the load instead of being skipped", 0, 0, 0, NULL, NULL },
	{ "listed_severity", KVS_OPT_SEVERITY, "high", O(listed_severity),
	  "acquirer, parent or UBO on a list", 0, 0, 0, NULL, NULL },
	{ "listed_notify_severity", KVS_OPT_SEVERITY, "critical", O(listed_notify_severity),
	  "acquirer, parent or UBO on a list in a transaction that must be notified", 0, 0, 0, NULL, NULL },
	{ NULL, 0, NULL, 0, NULL, 0, 0, 0, NULL, NULL }
};
#undef O

/* Target categories, as bits. */
enum inv_cat {
	CAT_VITAL = 1u << 0,
	CAT_CAMPUS = 1u << 1,
	CAT_MILITARY = 1u << 2,
	CAT_DUAL_USE = 1u << 3,
	CAT_HIGHLY_SENSITIVE = 1u << 4,
};

static const struct {
	unsigned bit;
	const char *activity;   /* the request's enum value */
	const char *label;
	const char *reference;
} inv_cats[] = {
	{ CAT_VITAL, "vital_provider", "vital provider",
	  "Vifo art. 7 (vital providers)" },
	{ CAT_CAMPUS, "business_campus", "business campus manager",
	  "Vifo (business campus managers; Kamerstukken 35880 nr. 3, sec. 3.2)" },
	{ CAT_MILITARY, "military_goods", "military goods",
	  "Vifo sensitive technology: military goods (Common Position 2008/944/CFSP)" },
	{ CAT_DUAL_USE, "dual_use_goods", "dual-use items needing an export licence",
	  "Vifo sensitive technology: dual-use items (Reg. (EU) 2021/821 Art. 3(1))" },
	{ CAT_HIGHLY_SENSITIVE, "highly_sensitive_technology", "highly sensitive technology",
	  "Besluit toepassingsbereik sensitieve technologie (Stb. 2023, 172)" },
};
#define N_CATS (sizeof(inv_cats) / sizeof(inv_cats[0]))

/* The text rule sets, by the category their hits support. */
enum { RS_HIGHLY_SENSITIVE, RS_MILITARY, RS_DUAL_USE, RS_N };
static const unsigned rs_cat[RS_N] = { CAT_HIGHLY_SENSITIVE, CAT_MILITARY, CAT_DUAL_USE };

enum inv_sev {
	SEV_NOTIFY, SEV_INCOMPLETE, SEV_STATE, SEV_STATE_EU, SEV_FUNDING, SEV_OPAQUE,
	SEV_HISTORY, SEV_THIRD, SEV_LISTED, SEV_LISTED_NOTIFY, SEV_OPAQUE_UNNOTIFIED, SEV_N
};

#define REF_NOTIFY "Vifo: notification to the Bureau Toetsing Investeringen by acquirer and " \
	"target, standstill until the Minister decides (Kamerstukken 35880 nr. 3, sec. 4.1)"
#define REF_CONTROL "Vifo: acquisition of control (competition-law concept; Kamerstukken " \
	"35880 nr. 3, sec. 3.4)"
#define REF_INFLUENCE "Vifo: significant influence in highly sensitive technology, by share " \
	"of the votes or board appointment (Kamerstukken 35880 nr. 3, sec. 3.4)"
#define REF_FORM "Besluit Vifo art. 2 (notification contents: ownership structure, ultimate " \
	"acquirer)"
#define REF_FDI_A "Regulation (EU) 2019/452 Art. 4(2)(a)"
#define REF_FDI_B "Regulation (EU) 2019/452 Art. 4(2)(b)"
#define REF_FDI "Regulation (EU) 2019/452 Art. 4(2)"

struct inv_state {
	const struct kvs_host *host;
	const struct inv_conf *c;
	kvs_ruleset *rs[RS_N][INV_MAX_RULESETS];
	size_t n_rs[RS_N];
	double thr[INV_MAX_THRESHOLDS];
	size_t n_thr;
	char eu[INV_MAX_EU][3];
	size_t n_eu;
	enum kvs_severity sev[SEV_N];
	struct kvs_list *lists[INV_MAX_LISTS];
	size_t n_lists;
};

/* ---- create / destroy ---------------------------------------------------- */

/* "10, 20, 25": up to INV_MAX_THRESHOLDS ascending shares in (0, 100]. */
static int parse_thresholds(struct inv_state *st, const kvs_config_ctx *ctx, const char *s)
{
	const char *p = s;

	st->n_thr = 0;
	while (*p) {
		char *end;
		double v;

		while (*p == ' ' || *p == ',' || *p == '\t')
			p++;
		if (!*p)
			break;
		v = strtod(p, &end);
		if (end == p || !(v > 0 && v <= 100) || st->n_thr == INV_MAX_THRESHOLDS ||
		    (st->n_thr && v <= st->thr[st->n_thr - 1])) {
			st->host->config_error(ctx, "influence_thresholds", NULL, 0,
					       "influence_thresholds: expected up to %d ascending "
					       "percentages in (0, 100] separated by commas, got \"%s\"",
					       INV_MAX_THRESHOLDS, s);
			return -EINVAL;
		}
		st->thr[st->n_thr++] = v;
		p = end;
		if (*p && *p != ',' && *p != ' ' && *p != '\t') {
			st->host->config_error(ctx, "influence_thresholds", NULL, 0,
					       "influence_thresholds: unexpected \"%c\" in \"%s\"", *p, s);
			return -EINVAL;
		}
	}
	return 0;
}

static int parse_eu(struct inv_state *st, const kvs_config_ctx *ctx, const char *s)
{
	const char *p = s;

	while (*p) {
		while (*p == ' ' || *p == ',' || *p == '\t')
			p++;
		if (!*p)
			break;
		if (!(p[0] >= 'A' && p[0] <= 'Z' && p[1] >= 'A' && p[1] <= 'Z') ||
		    (p[2] && p[2] != ' ' && p[2] != ',' && p[2] != '\t') || st->n_eu == INV_MAX_EU) {
			st->host->config_error(ctx, "eu_countries", NULL, 0,
					       "eu_countries: expected up to %d upper-case ISO 3166-1 "
					       "alpha-2 codes separated by spaces, at \"%.16s\"",
					       INV_MAX_EU, p);
			return -EINVAL;
		}
		memcpy(st->eu[st->n_eu], p, 2);
		st->eu[st->n_eu++][2] = '\0';
		p += 2;
	}
	return 0;
}

/* The lists of the `lists` option, loaded by the host. */
static int load_lists(struct inv_state *st, const kvs_config_ctx *ctx)
{
	struct kvs_list *const *l = st->c->lists;

	for (size_t i = 0; l && l[i]; i++) {
		if (st->n_lists == INV_MAX_LISTS) {
			st->host->config_error(ctx, "lists", NULL, 0, "lists: more than %d lists",
					       INV_MAX_LISTS);
			return -EINVAL;
		}
		st->lists[st->n_lists++] = l[i];
	}
	return 0;
}

static void inv_destroy(void *state, const struct kvs_host *host)
{
	struct inv_state *st = state;

	if (!st)
		return;
	for (int k = 0; k < RS_N; k++)
		for (size_t i = 0; i < st->n_rs[k]; i++)
			st->host->rules_free(st->rs[k][i]);
	(void)host;
	free(st);
}

static int inv_create(const struct kvs_host *host, const kvs_config_ctx *ctx, const void *config,
		      void **state)
{
	static const char *const rs_opt[RS_N] = { "highly_sensitive_rules", "military_rules",
						   "dual_use_rules" };
	const struct inv_conf *c = config;
	const char *const *paths[RS_N] = { c->highly_sensitive_rules, c->military_rules,
					   c->dual_use_rules };
	const enum kvs_severity sevs[SEV_N] = {
		[SEV_NOTIFY] = c->notify_severity,
		[SEV_INCOMPLETE] = c->incomplete_severity,
		[SEV_STATE] = c->state_control_severity,
		[SEV_STATE_EU] = c->state_control_eu_severity,
		[SEV_FUNDING] = c->state_funding_severity,
		[SEV_OPAQUE] = c->opaque_ownership_severity,
		[SEV_HISTORY] = c->security_history_severity,
		[SEV_THIRD] = c->third_country_severity,
		[SEV_LISTED] = c->listed_severity,
		[SEV_LISTED_NOTIFY] = c->listed_notify_severity,
		[SEV_OPAQUE_UNNOTIFIED] = c->opaque_unnotified_severity,
	};
	struct inv_state *st;
	int r = -EINVAL;
	size_t n_paths = 0;

	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->host = host;
	st->c = c;
	memcpy(st->sev, sevs, sizeof(sevs));
	if (parse_thresholds(st, ctx, c->influence_thresholds) < 0 ||
	    parse_eu(st, ctx, c->eu_countries) < 0)
		goto fail;
	for (int k = 0; k < RS_N; k++)
		for (size_t i = 0; paths[k] && paths[k][i]; i++)
			n_paths++;
	if (n_paths && !KVS_HOST_HAS(host, rules_free)) {
		host->config_error(ctx, rs_opt[0], NULL, 0,
				   "this daemon offers no rule engine to plugins; remove the *_rules options");
		goto fail;
	}
	for (int k = 0; k < RS_N; k++) {
		for (size_t i = 0; paths[k] && paths[k][i]; i++) {
			if (st->n_rs[k] == INV_MAX_RULESETS) {
				host->config_error(ctx, rs_opt[k], NULL, 0, "%s: more than %d entries",
						   rs_opt[k], INV_MAX_RULESETS);
				goto fail;
			}
			r = host->rules_load(ctx, paths[k][i], &st->rs[k][st->n_rs[k]]);
			if (r < 0) {
				/* rules_load() reports bad and missing files itself. */
				if (r != -EINVAL && r != -ENOENT)
					host->config_error(ctx, rs_opt[k], NULL, 0, "%s: cannot load \"%s\": %s",
							   rs_opt[k], paths[k][i], strerror(-r));
				goto fail;
			}
			st->n_rs[k]++;
		}
	}
	r = load_lists(st, ctx);
	if (r < 0)
		goto fail;
	if (!n_paths)
		host->log(ctx, KVS_LOG_WARNING,
			  "no *_rules configured: targets are in scope only by their declared activities");
	*state = st;
	return 0;
fail:
	inv_destroy(st, host);
	return r < 0 ? r : -EINVAL;
}

/* ---- screening helpers --------------------------------------------------- */

/* Appends printf output to a fixed buffer, truncating quietly. */
struct sbuf {
	char s[INV_TEXT];
	size_t n;
};

static void sb_add(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_add(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (b->n >= sizeof(b->s) - 1)
		return;
	va_start(ap, fmt);
	k = vsnprintf(b->s + b->n, sizeof(b->s) - b->n, fmt, ap);
	va_end(ap);
	if (k <= 0)
		return;
	if (b->n + (size_t)k < sizeof(b->s)) {
		b->n += (size_t)k;
		return;
	}
	/* Truncated: never leave half a UTF-8 sequence at the end (the host
	 * rejects invalid UTF-8).  Drop trailing continuation bytes and the
	 * lead byte they belong to. */
	b->n = sizeof(b->s) - 1;
	while (b->n > 0 && ((unsigned char)b->s[b->n - 1] & 0xC0) == 0x80)
		b->n--;
	if (b->n > 0 && ((unsigned char)b->s[b->n - 1] & 0xC0) == 0xC0)
		b->n--;
	b->s[b->n] = '\0';
}

/* Percentages are printed without trailing zeros: 24, 24.5. */
static void sb_pct(struct sbuf *b, double v)
{
	sb_add(b, "%g%%", v);
}

static int is_eu(const struct inv_state *st, const char *country)
{
	for (size_t i = 0; i < st->n_eu; i++)
		if (strcmp(st->eu[i], country) == 0)
			return 1;
	return 0;
}

static const char *party_str(const struct kvs_host *h, const kvs_request *req, size_t i,
			     const char *member, size_t *len)
{
	char p[96];

	snprintf(p, sizeof(p), "/parties/%zu/%s", i, member);
	return h->get_string(req, p, len);
}

static int party_bool(const struct kvs_host *h, const kvs_request *req, size_t i,
		      const char *member)
{
	char p[96];
	int v = 0;

	snprintf(p, sizeof(p), "/parties/%zu/%s", i, member);
	return h->get_bool(req, p, &v) == 0 && v;
}

/* Report a finding; `action` is the officer's next step, or NULL. */
static int report_act(const struct inv_state *st, kvs_report *rep, const char *rule,
		      enum kvs_severity sev, const char *title, const char *rationale,
		      const char *const *refs, size_t n_refs, const struct kvs_evidence *ev,
		      size_t n_ev, const char *action)
{
	struct kvs_finding f = {
		.rule = rule, .severity = sev, .title = title, .rationale = rationale,
		.references = refs, .n_references = n_refs, .evidence = ev, .n_evidence = n_ev,
		.action = action,
	};

	return st->host->report_add(rep, &f);
}

static int report(const struct inv_state *st, kvs_report *rep, const char *rule,
		  enum kvs_severity sev, const char *title, const char *rationale,
		  const char *const *refs, size_t n_refs, const struct kvs_evidence *ev,
		  size_t n_ev)
{
	return report_act(st, rep, rule, sev, title, rationale, refs, n_refs, ev, n_ev, NULL);
}

/* The transaction, read from the investment block.  Votes fall back to the
 * stake when voting rights are not given. */
struct deal {
	int has_votes;            /* a share of votes or stake was given */
	double votes, votes0;
	long long seats, seats0, board;
	int control, control0, merger;
	int has_any;              /* anything to decide on at all */
};

static void read_deal(const struct inv_state *st, const kvs_request *req, struct deal *d)
{
	const struct kvs_host *h = st->host;
	const char *instr;

	memset(d, 0, sizeof(*d));
	if (h->get_real(req, "/investment/voting_rights_percent", &d->votes) == 0 ||
	    h->get_real(req, "/investment/stake_percent", &d->votes) == 0)
		d->has_votes = 1;
	if (h->get_real(req, "/investment/current_voting_rights_percent", &d->votes0) != 0 &&
	    h->get_real(req, "/investment/current_stake_percent", &d->votes0) != 0)
		d->votes0 = 0;
	if (d->votes0 > d->votes)       /* validation forbids it; keep the maths sane */
		d->votes0 = d->votes;
	h->get_int(req, "/investment/board_seats", &d->seats);
	h->get_int(req, "/investment/current_board_seats", &d->seats0);
	h->get_int(req, "/investment/board_size", &d->board);
	h->get_bool(req, "/investment/control", &d->control);
	h->get_bool(req, "/investment/current_control", &d->control0);
	instr = h->get_string(req, "/investment/instrument", NULL);
	d->merger = st->c->merger_is_control && instr && strcmp(instr, "merger") == 0;
	d->has_any = d->has_votes || d->seats > 0 ||
		     h->value_kind(req, "/investment/control") == KVS_KIND_BOOL || d->merger;
}

/* What the transaction crosses: control, and the influence thresholds. */
struct crossing {
	int control;
	const char *control_how;  /* why it is control */
	double thr[INV_MAX_THRESHOLDS];
	size_t n_thr;
	int board_member;
};

static void cross(const struct inv_state *st, const struct deal *d, struct crossing *x)
{
	double cp = st->c->control_percent;
	int board_now = d->board > 0 && d->seats * 2 > d->board;
	int before = d->control0 || d->votes0 > cp || (d->board > 0 && d->seats0 * 2 > d->board);

	memset(x, 0, sizeof(*x));
	if (d->control)
		x->control_how = "the request states that control is acquired";
	else if (d->votes > cp)
		x->control_how = "more than the control share of the votes";
	else if (board_now)
		x->control_how = "the power to appoint the majority of the board";
	else if (d->merger)
		x->control_how = "a merger";
	x->control = x->control_how && !before;
	for (size_t i = 0; i < st->n_thr; i++)
		if (d->votes0 < st->thr[i] && d->votes >= st->thr[i])
			x->thr[x->n_thr++] = st->thr[i];
	x->board_member = st->c->board_member_is_influence && d->seats >= 1 && d->seats0 == 0;
}

/* Categories the request's text supports, one bit per rule-set kind that
 * fired.  The rule engine reports its own findings (with evidence). */
static int text_categories(const struct inv_state *st, const kvs_request *req, kvs_report *rep,
			   unsigned *cats)
{
	*cats = 0;
	for (int k = 0; k < RS_N; k++)
		for (size_t i = 0; i < st->n_rs[k]; i++) {
			int n = st->host->rules_screen(st->rs[k][i], req, rep, NULL);

			if (n < 0)
				return n;
			if (n > 0)
				*cats |= rs_cat[k];
		}
	return 0;
}

static void sb_cats(struct sbuf *b, unsigned cats)
{
	int first = 1;

	for (size_t i = 0; i < N_CATS; i++)
		if (cats & inv_cats[i].bit) {
			sb_add(b, "%s%s", first ? "" : ", ", inv_cats[i].label);
			first = 0;
		}
}

/* The categories (bits) of the activities party idx declares. */
static unsigned declared_activities(const struct kvs_host *h, const kvs_request *req, long idx)
{
	char path[64];
	unsigned declared = 0;
	size_t n;

	snprintf(path, sizeof(path), "/parties/%ld/activities", idx);
	n = h->get_size(req, path);
	for (size_t i = 0; i < n; i++) {
		char ap[96];
		const char *a;

		snprintf(ap, sizeof(ap), "/parties/%ld/activities/%zu", idx, i);
		a = h->get_string(req, ap, NULL);
		for (size_t c = 0; a && c < N_CATS; c++)
			if (strcmp(a, inv_cats[c].activity) == 0)
				declared |= inv_cats[c].bit;
	}
	return declared;
}

/* The sentences of a notification's rationale that say what transaction d
 * does (votes, board seats) and which of x's crossings make it control or
 * (with influence) significant influence. */
static void sb_deal(struct sbuf *why, const struct deal *d, const struct crossing *x,
		    int influence)
{
	sb_add(why, ". The transaction ");
	if (d->has_votes) {
		sb_add(why, "takes the acquirer's votes from ");
		sb_pct(why, d->votes0);
		sb_add(why, " to ");
		sb_pct(why, d->votes);
	} else {
		sb_add(why, "gives no share of the votes");
	}
	if (d->seats)
		sb_add(why, " and gives the right to appoint %lld board member(s) (before: %lld%s)",
		       d->seats, d->seats0, d->board ? "" : "; board size not given");
	if (d->board)
		sb_add(why, " of a board of %lld", d->board);
	sb_add(why, ".");
	if (x->control)
		sb_add(why, " It acquires control: %s.", x->control_how);
	if (influence) {
		sb_add(why, " It acquires significant influence in highly sensitive technology:");
		for (size_t i = 0; i < x->n_thr; i++) {
			sb_add(why, "%s reaching ", i ? "," : "");
			sb_pct(why, x->thr[i]);
			sb_add(why, " of the votes");
		}
		if (x->board_member)
			sb_add(why, "%s the right to appoint a board member", x->n_thr ? " and" : "");
		sb_add(why, ".");
	}
}

/* One target: the notification finding, if the transaction triggers one.
 * `idx` is the party index or -1 for a target not named as a party.
 * Sets *notified when a duty was reported. */
static int screen_target(const struct inv_state *st, const kvs_request *req, kvs_report *rep,
			 long idx, unsigned text_cats, const struct deal *d, int *notified)
{
	const struct kvs_host *h = st->host;
	const char *refs[2 + N_CATS + 1];
	struct kvs_evidence ev = { 0 }, evs[2];
	struct crossing x;
	struct sbuf title = { .n = 0 }, why = { .n = 0 };
	unsigned declared = 0, cats;
	const char *name = "the target", *country = NULL;
	char path[64];
	size_t len = 0, n_refs = 0, n_ev = 0;
	int assumed_nl = 0, influence;

	if (idx >= 0) {
		name = party_str(h, req, (size_t)idx, "name", &len);
		country = party_str(h, req, (size_t)idx, "country", NULL);
		declared = declared_activities(h, req, idx);
		snprintf(path, sizeof(path), "/parties/%ld/name", idx);
		ev = (struct kvs_evidence){ .path = path, .start = 0, .end = len };
		n_ev = 1;
	}
	if (country && strcmp(country, "NL") != 0)
		return 0;       /* the Vifo covers targets established in the Netherlands */
	if (!country) {
		if (!st->c->assume_target_nl)
			return 0;
		assumed_nl = 1;
	}
	cats = declared | text_cats;
	if (!cats)
		return 0;
	if (!d->has_any) {
		sb_add(&title, "Vifo: cannot tell whether the investment in %s must be notified", name);
		sb_add(&why, "The target is in scope of the Vifo (");
		sb_cats(&why, cats);
		sb_add(&why, "), but the investment block gives no voting rights, stake, board seats "
		       "or control flag, so control and significant influence cannot be assessed.");
		refs[n_refs++] = REF_NOTIFY;
		return report_act(st, rep, "vifo.incomplete", st->sev[SEV_INCOMPLETE], title.s,
				  why.s, refs, n_refs, n_ev ? &ev : NULL, n_ev,
				  "Complete the investment block (voting rights, stake, board seats, "
				  "control) and screen the request again");
	}
	cross(st, d, &x);
	influence = (cats & CAT_HIGHLY_SENSITIVE) && (x.n_thr || x.board_member);
	if (!x.control && !influence)
		return 0;

	/* Control notifies in every category; influence only in highly
	 * sensitive technology, so name the categories that apply. */
	if (!x.control)
		cats &= CAT_HIGHLY_SENSITIVE;
	sb_add(&title, "Vifo notification required: %s %s (", x.control ?
	       "acquisition of control of" : "significant influence in", name);
	sb_cats(&title, cats);
	sb_add(&title, ")");

	sb_add(&why, "%s is %sestablished in the Netherlands and in scope as ", name,
	       assumed_nl ? "taken as " : "");
	sb_cats(&why, cats);
	if (cats & declared)
		sb_add(&why, " (declared activities%s)", (cats & text_cats & ~declared) ?
		       "; also inferred from the request text" : "");
	else
		sb_add(&why, " (inferred from the request text by the %s rules; see their findings)",
		       (cats & CAT_HIGHLY_SENSITIVE) ? "sensitive-technology" : "investment");
	sb_deal(&why, d, &x, influence);
	sb_add(&why, " Acquirer and target must both notify the Bureau Toetsing Investeringen "
	       "before closing, and the transaction may not be completed until the Minister has "
	       "decided (standstill). An unnotified transaction risks a fine of up to 10%% of "
	       "turnover and can be unwound.");

	refs[n_refs++] = REF_NOTIFY;
	refs[n_refs++] = x.control ? REF_CONTROL : REF_INFLUENCE;
	for (size_t i = 0; i < N_CATS; i++)
		if (cats & inv_cats[i].bit)
			refs[n_refs++] = inv_cats[i].reference;
	*notified = 1;
	/* The evidence: the target's name, and the share of the votes that
	 * crossed the threshold (a number: evidence of the whole value). */
	evs[0] = ev;
	if (h->value_kind(req, "/investment/voting_rights_percent") == KVS_KIND_INT ||
	    h->value_kind(req, "/investment/voting_rights_percent") == KVS_KIND_REAL)
		evs[n_ev++] = (struct kvs_evidence)KVS_EVIDENCE_VALUE("/investment/voting_rights_percent");
	else if (h->value_kind(req, "/investment/stake_percent") == KVS_KIND_INT ||
		 h->value_kind(req, "/investment/stake_percent") == KVS_KIND_REAL)
		evs[n_ev++] = (struct kvs_evidence)KVS_EVIDENCE_VALUE("/investment/stake_percent");
	return report_act(st, rep, x.control ? "vifo.notify.control" :
			  "vifo.notify.significant_influence", st->sev[SEV_NOTIFY], title.s, why.s,
			  refs, n_refs, n_ev ? evs : NULL, n_ev,
			  "Notify the BTI (Bureau Toetsing Investeringen) under the Vifo act before "
			  "closing, together with the acquirer; do not close before the Minister's "
			  "decision (standstill)");
}

/* Whether the acquirer, one of its aliases, its parent or its UBO is on a
 * configured list: reports the best match of the first of those that has
 * one, more severe when the transaction must also be notified.  The one
 * place that asks the list service; without lists it finds nothing. */
static int acquirer_listed(const struct inv_state *st, const kvs_request *req, size_t idx,
			   int notified, kvs_report *rep)
{
	static const char *const what[] = { "name", "aliases", "parent", "ubo" };
	const struct kvs_host *h = st->host;
	const char *acq = party_str(h, req, idx, "name", NULL);

	if (!st->n_lists)
		return 0;
	for (size_t w = 0; w < sizeof(what) / sizeof(what[0]); w++) {
		char base[64];
		size_t n;

		snprintf(base, sizeof(base), "/parties/%zu/%s", idx, what[w]);
		/* aliases, and ubo when it is an array of names, are indexed. */
		n = strcmp(what[w], "aliases") && h->value_kind(req, base) != KVS_KIND_ARRAY
			    ? 1 : h->get_size(req, base);
		for (size_t k = 0; k < n && k < 64; k++) {
			struct kvs_list_match m = { .size = sizeof(struct kvs_list_match) };
			struct sbuf title = { .n = 0 }, why = { .n = 0 };
			enum kvs_severity sev;
			struct kvs_evidence ev;
			char path[96], ref[256];
			const char *refs[2] = { REF_FDI, ref };
			const char *s;
			size_t len = 0;
			int r;

			if (h->report_expired(rep))
				return -ETIMEDOUT;
			if (strcmp(what[w], "aliases") && h->value_kind(req, base) != KVS_KIND_ARRAY)
				snprintf(path, sizeof(path), "%s", base);
			else
				snprintf(path, sizeof(path), "%s/%zu", base, k);
			s = h->get_string(req, path, &len);
			if (!s || !len)
				continue;
			r = h->lists_match((const struct kvs_list *const *)st->lists, st->n_lists, s,
					   len, st->c->list_threshold, &m, 1);
			if (r < 0)
				return r;
			if (r == 0)
				continue;
			ev = (struct kvs_evidence){ .path = path, .start = 0, .end = len };
			snprintf(ref, sizeof(ref), "%s entry %s%s%s%s", m.list, m.entry_id,
				 m.program ? " (" : "", m.program ? m.program : "", m.program ? ")" : "");
			sb_add(&title, "%s %s of acquirer %s is on list %s (%s)",
			       w == 2 ? "Parent" : w == 3 ? "Ultimate beneficial owner" : "Name",
			       s, acq, m.list, m.primary_name);
			sb_add(&why, "\"%s\" matches \"%s\" of %s entry %s with score %.3f.%s%s", s,
			       m.matched_name, m.list, m.entry_id, m.score, m.reason ? " Listed: " : "",
			       m.reason ? m.reason : "");
			sb_add(&why, notified ? " The same transaction must be notified under the Vifo: "
			       "a listed party gaining control or influence over a target in scope weighs "
			       "heaviest." : " Whoever controls the acquirer decides how its stake is used.");
			sev = st->sev[notified ? SEV_LISTED_NOTIFY : SEV_LISTED];
			/* A listed person matched on the name alone is not
			 * identified: at most escalate (docs/name-matching.md).
			 * A ubo may name a person or a company, so the list
			 * entry's kind decides, as in denied_party. */
			if (m.kind && strcmp(m.kind, "person") == 0 &&
			    sev > KVS_SEV_HIGH) {
				sev = KVS_SEV_HIGH;
				sb_add(&title, " (name only — verify identity)");
				sb_add(&why, " A person matched on the name alone: verify the "
				       "identity (date of birth, nationality) before deciding.");
			}
			return report(st, rep, "fdi.acquirer.listed", sev, title.s, why.s,
				      refs, 2, &ev, 1);
		}
	}
	return 0;
}

/* The risk factors of one acquirer (EU 2019/452 Art. 4(2)). */
static int screen_acquirer(const struct inv_state *st, const kvs_request *req, kvs_report *rep,
			   size_t idx, int notified)
{
	const struct kvs_host *h = st->host;
	const char *name, *country, *kind, *refs[2];
	struct kvs_evidence ev[9];
	struct sbuf title = { .n = 0 }, why = { .n = 0 };
	char path[64], hpaths[8][80], ubo_p[64];
	size_t len, n_hist;
	int r, state_owned, third;

	name = party_str(h, req, idx, "name", &len);
	country = party_str(h, req, idx, "country", NULL);
	kind = party_str(h, req, idx, "kind", NULL);
	snprintf(path, sizeof(path), "/parties/%zu/name", idx);
	ev[0] = (struct kvs_evidence){ .path = path, .start = 0, .end = len };
	third = country && !is_eu(st, country);
	state_owned = party_bool(h, req, idx, "state_owned") ||
		      (kind && (!strcmp(kind, "government") || !strcmp(kind, "military")));

	if (state_owned) {
		int eu = country && !third;

		sb_add(&title, "Acquirer %s is controlled by %s government", name,
		       eu ? "an EU" : country ? "a third-country" : "a (country unknown)");
		sb_add(&why, "%s is %s%s%s. Control by a third-country government, including state "
		       "bodies or armed forces, through ownership or significant funding, is a "
		       "factor the screening authority weighs.", name,
		       kind && !strcmp(kind, "military") ? "part of the armed forces" :
		       kind && !strcmp(kind, "government") ? "a government body" : "state-owned",
		       country ? " of " : "", country ? country : "");
		refs[0] = REF_FDI_A;
		r = report(st, rep, "fdi.acquirer.state_control",
			   st->sev[eu ? SEV_STATE_EU : SEV_STATE], title.s, why.s, refs, 1, ev, 1);
		if (r < 0)
			return r;
	} else if (third) {
		title.n = why.n = 0;
		sb_add(&title, "Acquirer %s is established outside the EU (%s)", name, country);
		sb_add(&why, "The Vifo is country-neutral, but the security situation of the "
		       "acquirer's country of establishment is part of the assessment.");
		refs[0] = REF_FDI;
		r = report(st, rep, "fdi.acquirer.third_country", st->sev[SEV_THIRD], title.s, why.s,
			   refs, 1, ev, 1);
		if (r < 0)
			return r;
	}

	/* ubo is a name or an array of names. */
	snprintf(ubo_p, sizeof(ubo_p), "/parties/%zu/ubo", idx);
	if ((!kind || !strcmp(kind, "company") || !strcmp(kind, "other")) &&
	    !party_str(h, req, idx, "parent", NULL) && !party_str(h, req, idx, "ubo", NULL) &&
	    !h->get_size(req, ubo_p) &&
	    !state_owned) {
		title.n = why.n = 0;
		sb_add(&title, "Ownership of acquirer %s is not disclosed", name);
		/* Weighed with the notification duty and the country: where
		 * none is due and the acquirer is in the EU (whose UBO registers
		 * show the owner) it is know-your-investor for the file, not a
		 * reason to review. */
		int weighty = notified || third || !country;

		sb_add(&why, "Neither a parent nor an ultimate beneficial owner is given for %s. ",
		       name);
		if (notified)
			sb_add(&why, "The notification must describe the ownership structure up to "
			       "the ultimate acquirer, and opaque ownership hides who would control "
			       "the target.");
		else if (weighty)
			sb_add(&why, "No Vifo notification is due for this transaction, but the "
			       "acquirer is not established in the EU (or its country is not given), "
			       "where no EU UBO register shows who ultimately owns it.");
		else
			sb_add(&why, "No Vifo notification is due for this transaction and the "
			       "acquirer is established in the EU, so this is for the file: the "
			       "institute should still know who ultimately owns its counterparty "
			       "(the UBO register of its country shows it).");
		refs[0] = REF_FORM;
		refs[1] = REF_FDI;
		r = report_act(st, rep, "fdi.acquirer.opaque_ownership",
			       st->sev[weighty ? SEV_OPAQUE : SEV_OPAQUE_UNNOTIFIED], title.s,
			       why.s, notified ? refs : refs + 1, notified ? 2 : 1, ev, 1,
			       notified ? "Obtain the acquirer's ownership structure up to the "
					  "ultimate acquirer for the Vifo notification to the BTI" :
					  "Ask the acquirer for its ownership structure up to the "
					  "ultimate beneficial owner (e.g. a UBO register extract) and "
					  "keep it with the file");
		if (r < 0)
			return r;
	}

	snprintf(path, sizeof(path), "/parties/%zu/security_history", idx);
	n_hist = h->get_size(req, path);
	if (n_hist) {
		size_t n_ev = 0;

		for (size_t i = 0; i < n_hist && n_ev < 8; i++) {
			size_t hl = 0;

			snprintf(hpaths[n_ev], sizeof(hpaths[n_ev]), "/parties/%zu/security_history/%zu",
				 idx, i);
			if (!h->get_string(req, hpaths[n_ev], &hl))
				continue;
			ev[n_ev] = (struct kvs_evidence){ .path = hpaths[n_ev], .start = 0, .end = hl };
			n_ev++;
		}
		title.n = why.n = 0;
		sb_add(&title, "Acquirer %s has recorded activities against security or public order",
		       name);
		sb_add(&why, "The request records %zu earlier activit%s of %s affecting security or "
		       "public order in a Member State.", n_hist, n_hist == 1 ? "y" : "ies", name);
		refs[0] = REF_FDI_B;
		r = report(st, rep, "fdi.acquirer.security_history", st->sev[SEV_HISTORY], title.s,
			   why.s, refs, 1, ev, n_ev);
		if (r < 0)
			return r;
	}
	return acquirer_listed(st, req, idx, notified, rep);
}

/* State-linked funding from a third country (partnership requests). */
static int screen_funding(const struct inv_state *st, const kvs_request *req, kvs_report *rep)
{
	const struct kvs_host *h = st->host;
	size_t n = h->get_size(req, "/cooperation/funding");

	for (size_t i = 0; i < n; i++) {
		char p[96], ep[96];
		const char *country, *source;
		const char *refs[1] = { REF_FDI_A };
		struct kvs_evidence ev;
		struct sbuf title = { .n = 0 }, why = { .n = 0 };
		size_t len = 0;
		int linked = 0;

		snprintf(p, sizeof(p), "/cooperation/funding/%zu/state_linked", i);
		if (h->get_bool(req, p, &linked) != 0 || !linked)
			continue;
		snprintf(p, sizeof(p), "/cooperation/funding/%zu/country", i);
		country = h->get_string(req, p, NULL);
		if (country && is_eu(st, country))
			continue;
		snprintf(ep, sizeof(ep), "/cooperation/funding/%zu/source", i);
		source = h->get_string(req, ep, &len);
		ev = (struct kvs_evidence){ .path = ep, .start = 0, .end = len };
		sb_add(&title, "State-linked funding from %s", country ? country : "an unknown country");
		sb_add(&why, "Funding%s%s is linked to a %s government; significant state funding is "
		       "a channel of third-country government control.", source ? " from " : "",
		       source ? source : "", country ? "third-country" : "foreign");
		return report(st, rep, "fdi.acquirer.state_funding", st->sev[SEV_FUNDING], title.s,
			      why.s, refs, 1, source ? &ev : NULL, source ? 1 : 0);
	}
	return 0;
}

static int party_role_is(const struct kvs_host *h, const kvs_request *req, size_t i,
			 const char *role)
{
	const char *r = party_str(h, req, i, "role", NULL);

	return r && strcmp(r, role) == 0;
}

static int inv_screen(void *state, const struct kvs_host *host, const kvs_request *req,
		      kvs_report *rep)
{
	const struct inv_state *st = state;
	enum kvs_request_type type = host->request_type(req);
	size_t n_parties = host->get_size(req, "/parties");
	unsigned text_cats = 0;
	struct deal d;
	int r, notified = 0, targets = 0, acquirers = 0;

	if (host->value_kind(req, "/investment") != KVS_KIND_OBJECT) {
		static const char *const refs[] = { REF_NOTIFY };

		if (type != KVS_REQ_INVESTMENT)
			return 0;       /* a partnership without an investment */
		return report(st, rep, "vifo.incomplete", st->sev[SEV_INCOMPLETE],
			      "Investment request without an investment block",
			      "Without the instrument, the voting rights and the board seats the "
			      "plugin cannot tell whether the Vifo requires a notification.", refs, 1,
			      NULL, 0);
	}
	if (n_parties > INV_MAX_PARTIES)
		n_parties = INV_MAX_PARTIES;
	read_deal(st, req, &d);
	r = text_categories(st, req, rep, &text_cats);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n_parties; i++) {
		if (!party_role_is(host, req, i, "target"))
			continue;
		targets++;
		r = screen_target(st, req, rep, (long)i, text_cats, &d, &notified);
		if (r < 0)
			return r;
	}
	if (!targets) {
		r = screen_target(st, req, rep, -1, text_cats, &d, &notified);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < n_parties; i++) {
		if (host->report_expired(rep))
			return -ETIMEDOUT;
		if (!party_role_is(host, req, i, "acquirer"))
			continue;
		acquirers++;
		r = screen_acquirer(st, req, rep, i, notified);
		if (r < 0)
			return r;
	}
	/* In a partnership the investor is a funder or partner. */
	for (size_t i = 0; !acquirers && type == KVS_REQ_PARTNERSHIP && i < n_parties; i++) {
		if (!party_role_is(host, req, i, "funder") && !party_role_is(host, req, i, "partner"))
			continue;
		r = screen_acquirer(st, req, rep, i, notified);
		if (r < 0)
			return r;
	}
	if (!acquirers && type == KVS_REQ_INVESTMENT) {
		static const char *const refs[] = { REF_FORM };

		r = report(st, rep, "vifo.incomplete", st->sev[SEV_INCOMPLETE],
			   "Investment request names no acquirer",
			   "The screening authority looks first at the acquirer and those who control "
			   "it; without a party with role \"acquirer\" its risk factors cannot be "
			   "assessed.", refs, 1, NULL, 0);
		if (r < 0)
			return r;
	}
	return screen_funding(st, req, rep);
}

KVS_PLUGIN_DECLARE = {
	KVS_PLUGIN_INIT,
	.name = "investment",
	.version = "1.0.0",
	.description = "Dutch investment screening (Vifo): notification duty and EU FDI acquirer "
		       "risk factors",
	.types = KVS_REQ_INVESTMENT | KVS_REQ_PARTNERSHIP,
	.options = inv_options,
	.config_size = sizeof(struct inv_conf),
	.create = inv_create,
	.screen = inv_screen,
	.destroy = inv_destroy,
};
