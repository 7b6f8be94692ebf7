/* test_investment.c - the investment plugin through the real pipeline: scope, thresholds, risk factors.
 *
 * Every test opens an engine from a temporary configuration that loads the
 * built plugin (plugins/investment) and the in-tree rule files, screens
 * requests built with jansson, and asserts the exact set of findings.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_host.h"
#include "rules.h"
#include "testutil.h"
#include "ck_main.h"

/* ---- engine and request helpers ------------------------------------------ */

static const char *builddir(void)
{
	const char *b = getenv("KVS_BUILDDIR");

	return b && *b ? b : KVS_BUILDDIR;
}

/* Config text for the plugin with `extra` options appended to its group;
 * when `extra` sets a *_rules option itself, the in-tree rule files are left
 * out, and when it sets lists, the institute's own list is. */
static char *config_text(const char *extra)
{
	char *hs = tu_src("conf/rules/investment/sensitive-technology.conf");
	char *mil = tu_src("conf/rules/investment/military.conf");
	char *du = tu_src("conf/rules/investment/dual-use.conf");
	char *own = tu_src("conf/lists/institute-own.csv");
	char *text;

	if (extra && strstr(extra, "_rules")) {
		ck_assert(asprintf(&text, "daemon: { plugin_dir = \"%s/plugins\"; };\n"
				   "plugins: { investment: { %s }; };\n", builddir(), extra) > 0);
		free(hs);
		free(mil);
		free(du);
		free(own);
		return text;
	}
	ck_assert(asprintf(&text,
			   "daemon: { plugin_dir = \"%s/plugins\"; threads = 2; };\n"
			   "plugins: { investment: {\n"
			   "  highly_sensitive_rules = [ \"%s\" ];\n"
			   "  military_rules = [ \"%s\" ];\n"
			   "  dual_use_rules = [ \"%s\" ];\n"
			   "  %s%s%s\n"
			   "  %s\n"
			   "}; };\n", builddir(), hs, mil, du,
			   extra && strstr(extra, "lists =") ? "" : "lists = [ \"kvs:institute_own:high:",
			   extra && strstr(extra, "lists =") ? "" : own,
			   extra && strstr(extra, "lists =") ? "" : "\" ];",
			   extra ? extra : "") > 0);
	free(own);
	free(hs);
	free(mil);
	free(du);
	return text;
}

static struct engine *engine(const char *extra)
{
	char *text = config_text(extra);
	struct engine *en = tu_engine(text);

	free(text);
	return en;
}

/* A request: target (country may be NULL, activities a JSON array or NULL),
 * acquirer (a JSON object or NULL), investment block (JSON or NULL). */
static char *request(const char *type, const char *description, const char *target_country,
		     const char *activities, const char *acquirer, const char *investment)
{
	json_t *r = json_object(), *parties = json_array(), *t = json_object();
	json_error_t err;
	char *s;

	json_object_set_new(r, "id", json_string("inv-test"));
	json_object_set_new(r, "type", json_string(type));
	json_object_set_new(r, "title", json_string("Investment"));
	if (description)
		json_object_set_new(r, "description", json_string(description));
	json_object_set_new(t, "role", json_string("target"));
	json_object_set_new(t, "name", json_string("Spin B.V."));
	if (target_country)
		json_object_set_new(t, "country", json_string(target_country));
	if (activities)
		json_object_set_new(t, "activities", json_loads(activities, 0, &err));
	json_array_append_new(parties, t);
	if (acquirer) {
		json_t *a = json_loads(acquirer, 0, &err);

		ck_assert_msg(a != NULL, "bad acquirer JSON %s: %s", acquirer, err.text);
		json_object_set_new(a, "role", json_string("acquirer"));
		json_array_append_new(parties, a);
	}
	json_object_set_new(r, "parties", parties);
	if (investment) {
		json_t *i = json_loads(investment, 0, &err);

		ck_assert_msg(i != NULL, "bad investment JSON %s: %s", investment, err.text);
		json_object_set_new(r, "investment", i);
	}
	s = json_dumps(r, JSON_COMPACT);
	json_decref(r);
	return s;
}

static json_t *screen(struct engine *en, const char *req)
{
	json_t *v = tu_screen(en, req);

	ck_assert_msg(v != NULL, "request rejected: %s", req);
	ck_assert_str_eq(json_string_value(json_object_get(
		json_array_get(json_object_get(v, "plugins"), 0), "status")), "ok");
	return v;
}

static const char *decision(json_t *v)
{
	return json_string_value(json_object_get(v, "decision"));
}

static json_t *finding(json_t *v, const char *rule)
{
	size_t i;
	json_t *f;

	json_array_foreach(json_object_get(v, "findings"), i, f)
		if (strcmp(json_string_value(json_object_get(f, "rule")), rule) == 0)
			return f;
	return NULL;
}

/* The verdict's rule ids, sorted and joined by spaces; rules of the rule
 * engine (INV-...) are left out unless `with_text` is set. */
static char *rules_of(json_t *v, int with_text)
{
	const char *ids[64];
	size_t n = 0, i, len = 0;
	json_t *f;
	char *out;

	json_array_foreach(json_object_get(v, "findings"), i, f) {
		const char *id = json_string_value(json_object_get(f, "rule"));

		if (!with_text && strncmp(id, "INV-", 4) == 0)
			continue;
		ck_assert_uint_lt(n, 64);
		ids[n++] = id;
		len += strlen(id) + 1;
	}
	for (size_t a = 1; a < n; a++)
		for (size_t b = a; b > 0 && strcmp(ids[b - 1], ids[b]) > 0; b--) {
			const char *t = ids[b];

			ids[b] = ids[b - 1];
			ids[b - 1] = t;
		}
	out = calloc(1, len + 1);
	for (i = 0; i < n; i++) {
		if (i)
			strcat(out, " ");
		strcat(out, ids[i]);
	}
	return out;
}

static void expect_rules(json_t *v, const char *want, const char *what)
{
	char *got = rules_of(v, 0);

	ck_assert_msg(strcmp(got, want) == 0, "%s: findings \"%s\", expected \"%s\"", what, got, want);
	free(got);
}

static const char *rationale(json_t *f)
{
	ck_assert_ptr_nonnull(f);
	return json_string_value(json_object_get(f, "rationale"));
}

/* ---- the decision table --------------------------------------------------- */

enum { NOTIFY_NONE, NOTIFY_CONTROL, NOTIFY_INFLUENCE };

static const struct crossing_case {
	const char *name;
	const char *investment;
	int all;       /* outcome for every category in scope */
	int hs;        /* outcome for highly sensitive technology */
	const char *hs_says;   /* part of the rationale for hs */
} crossings[] = {
	{ "9->10", "{\"instrument\":\"equity\",\"current_voting_rights_percent\":9,"
	  "\"voting_rights_percent\":10}", NOTIFY_NONE, NOTIFY_INFLUENCE, "reaching 10% of the votes" },
	{ "10->19", "{\"instrument\":\"equity\",\"current_voting_rights_percent\":10,"
	  "\"voting_rights_percent\":19}", NOTIFY_NONE, NOTIFY_NONE, NULL },
	{ "19->20", "{\"instrument\":\"equity\",\"current_voting_rights_percent\":19,"
	  "\"voting_rights_percent\":20}", NOTIFY_NONE, NOTIFY_INFLUENCE, "reaching 20% of the votes" },
	{ "24->25", "{\"instrument\":\"equity\",\"current_stake_percent\":24,"
	  "\"stake_percent\":25}", NOTIFY_NONE, NOTIFY_INFLUENCE, "reaching 25% of the votes" },
	{ "25->49", "{\"instrument\":\"equity\",\"current_voting_rights_percent\":25,"
	  "\"voting_rights_percent\":49}", NOTIFY_NONE, NOTIFY_NONE, NULL },
	{ "49->51", "{\"instrument\":\"equity\",\"current_voting_rights_percent\":49,"
	  "\"voting_rights_percent\":51}", NOTIFY_CONTROL, NOTIFY_CONTROL,
	  "more than the control share of the votes" },
	{ "0->50 exactly", "{\"instrument\":\"equity\",\"current_voting_rights_percent\":25,"
	  "\"voting_rights_percent\":50}", NOTIFY_NONE, NOTIFY_NONE, NULL },
	{ "board seat right", "{\"instrument\":\"equity\",\"voting_rights_percent\":5,"
	  "\"board_seats\":1,\"board_size\":5}", NOTIFY_NONE, NOTIFY_INFLUENCE,
	  "the right to appoint a board member" },
	{ "second board seat", "{\"instrument\":\"equity\",\"voting_rights_percent\":5,"
	  "\"current_board_seats\":1,\"board_seats\":2,\"board_size\":5}", NOTIFY_NONE, NOTIFY_NONE,
	  NULL },
	{ "board majority", "{\"instrument\":\"equity\",\"voting_rights_percent\":5,"
	  "\"current_board_seats\":1,\"board_seats\":3,\"board_size\":5}", NOTIFY_CONTROL,
	  NOTIFY_CONTROL, "the power to appoint the majority of the board" },
	{ "control flag", "{\"instrument\":\"joint_venture\",\"voting_rights_percent\":5,"
	  "\"control\":true}", NOTIFY_CONTROL, NOTIFY_CONTROL,
	  "the request states that control is acquired" },
	{ "existing control", "{\"instrument\":\"equity\",\"current_control\":true,"
	  "\"current_voting_rights_percent\":60,\"voting_rights_percent\":70,\"control\":true}",
	  NOTIFY_NONE, NOTIFY_NONE, NULL },
	{ "merger", "{\"instrument\":\"merger\"}", NOTIFY_CONTROL, NOTIFY_CONTROL, "a merger" },
	{ "loan", "{\"instrument\":\"loan\",\"voting_rights_percent\":0}", NOTIFY_NONE, NOTIFY_NONE,
	  NULL },
};

static const struct target_case {
	const char *name;
	const char *country;
	const char *activities;
	int in_scope;
	int hs;
	const char *label;
} targets[] = {
	{ "vital provider", "NL", "[\"vital_provider\"]", 1, 0, "vital provider" },
	{ "business campus", "NL", "[\"business_campus\"]", 1, 0, "business campus manager" },
	{ "military goods", "NL", "[\"military_goods\"]", 1, 0, "military goods" },
	{ "dual-use goods", "NL", "[\"dual_use_goods\"]", 1, 0, "dual-use items" },
	{ "highly sensitive", "NL", "[\"highly_sensitive_technology\"]", 1, 1,
	  "highly sensitive technology" },
	{ "no country (assumed NL)", NULL, "[\"highly_sensitive_technology\"]", 1, 1,
	  "highly sensitive technology" },
	{ "no activity", "NL", "[]", 0, 0, NULL },
	{ "established in Germany", "DE", "[\"highly_sensitive_technology\",\"vital_provider\"]",
	  0, 0, NULL },
};

static const struct acquirer_case {
	const char *name;
	const char *json;
	const char *rules;       /* risk-factor findings it adds */
	const char *decision_alone;  /* decision when nothing notifies */
	const char *decision_notified;  /* and when the transaction notifies */
} acquirers[] = {
	{ "Dutch private", "{\"name\":\"Brabant Ventures B.V.\",\"country\":\"NL\",\"kind\":\"company\","
	  "\"parent\":\"Brabant Holding\"}", "", "clear", "escalate" },
	{ "EU private", "{\"name\":\"Rhein Kapital GmbH\",\"country\":\"DE\",\"kind\":\"company\","
	  "\"ubo\":\"K. Muller\"}", "", "clear", "escalate" },
	{ "third-country private", "{\"name\":\"Pacific Growth LLC\",\"country\":\"US\","
	  "\"kind\":\"company\",\"parent\":\"Pacific Holdings Inc\"}", "fdi.acquirer.third_country",
	  "clear", "escalate" },
	{ "third-country state-owned", "{\"name\":\"Great Wall Tech Investment\",\"country\":\"CN\","
	  "\"kind\":\"company\",\"state_owned\":true,\"parent\":\"SASAC\"}",
	  "fdi.acquirer.state_control", "escalate", "escalate" },
	{ "opaque", "{\"name\":\"Nameless Holdings Ltd\",\"country\":\"KY\",\"kind\":\"company\"}",
	  "fdi.acquirer.opaque_ownership fdi.acquirer.third_country", "review", "escalate" },
	/* Opaque but in the EU: a note for the file unless the deal notifies. */
	{ "opaque Dutch", "{\"name\":\"Noorder Leermiddelen B.V.\",\"country\":\"NL\","
	  "\"kind\":\"company\"}", "fdi.acquirer.opaque_ownership", "clear", "escalate" },
	{ "recorded history", "{\"name\":\"Shadow Capital\",\"country\":\"NL\",\"kind\":\"company\","
	  "\"parent\":\"Shadow Group\",\"security_history\":[\"convicted of sanctions evasion 2021\"]}",
	  "fdi.acquirer.security_history", "escalate", "escalate" },
	/* On the institute's own list (conf/lists/institute-own.csv): high
	 * alone, critical (deny) together with a notification duty. */
	{ "listed", "{\"name\":\"Example Photonics Trading Ltd.\",\"country\":\"HK\","
	  "\"kind\":\"company\",\"parent\":\"EPT Group\"}",
	  "fdi.acquirer.listed fdi.acquirer.third_country", "escalate", "deny" },
	{ "listed parent", "{\"name\":\"Harbour Ventures B.V.\",\"country\":\"NL\","
	  "\"kind\":\"company\",\"parent\":\"EPT Trading\"}",
	  "fdi.acquirer.listed", "escalate", "deny" },
	/* A ubo that is a listed company weighs as a listed parent; only a
	 * listed person's name-only hit is capped at escalate (test
	 * listed_person_owner). */
	{ "listed owner", "{\"name\":\"Polder Invest B.V.\",\"country\":\"NL\","
	  "\"kind\":\"company\",\"ubo\":\"EPT Trading\"}",
	  "fdi.acquirer.listed", "escalate", "deny" },
};

/* Every target category x threshold crossing x acquirer kind. */
START_TEST(decision_table)
{
	struct engine *en = engine(NULL);
	size_t rows = 0;

	for (size_t t = 0; t < sizeof(targets) / sizeof(targets[0]); t++)
		for (size_t c = 0; c < sizeof(crossings) / sizeof(crossings[0]); c++)
			for (size_t a = 0; a < sizeof(acquirers) / sizeof(acquirers[0]); a++) {
				const struct target_case *tc = &targets[t];
				const struct crossing_case *cc = &crossings[c];
				const struct acquirer_case *ac = &acquirers[a];
				int outcome = !tc->in_scope ? NOTIFY_NONE : tc->hs ? cc->hs : cc->all;
				const char *nrule = outcome == NOTIFY_CONTROL ? "vifo.notify.control" :
						    outcome == NOTIFY_INFLUENCE ?
						    "vifo.notify.significant_influence" : NULL;
				char *req = request("investment", NULL, tc->country, tc->activities,
						    ac->json, cc->investment);
				char what[256], want[256];
				json_t *v = screen(en, req), *f;

				snprintf(what, sizeof(what), "%s x %s x %s", tc->name, cc->name, ac->name);
				snprintf(want, sizeof(want), "%s%s%s", *ac->rules ? ac->rules : "",
					 *ac->rules && nrule ? " " : "", nrule ? nrule : "");
				/* Sorted: fdi.* sorts before vifo.* */
				expect_rules(v, want, what);
				if (nrule) {
					f = finding(v, nrule);
					ck_assert_str_eq(json_string_value(json_object_get(f, "severity")), "high");
					ck_assert_msg(strstr(json_string_value(json_object_get(f, "title")),
							     tc->label), "%s: title lacks %s", what, tc->label);
					if (tc->hs && cc->hs_says)
						ck_assert_msg(strstr(rationale(f), cc->hs_says),
							      "%s: rationale lacks \"%s\": %s", what,
							      cc->hs_says, rationale(f));
					ck_assert_ptr_nonnull(strstr(rationale(f), "standstill"));
					ck_assert_ptr_nonnull(strstr(rationale(f), "Bureau Toetsing Investeringen"));
					ck_assert_uint_ge(json_array_size(json_object_get(f, "references")), 3);
					ck_assert_msg(strcmp(decision(v), ac->decision_notified) == 0,
						      "%s: decision %s, expected %s", what, decision(v),
						      ac->decision_notified);
				} else {
					f = finding(v, "fdi.acquirer.opaque_ownership");
					ck_assert_msg(!f || !strstr(rationale(f), "notification must"),
						      "%s: no duty, yet \"%s\"", what, rationale(f));
					ck_assert_msg(strcmp(decision(v), ac->decision_alone) == 0,
						      "%s: decision %s, expected %s", what, decision(v),
						      ac->decision_alone);
				}
				json_decref(v);
				free(req);
				rows++;
			}
	ck_assert_uint_eq(rows, 8 * 14 * (sizeof(acquirers) / sizeof(acquirers[0])));
	engine_unref(en);
}
END_TEST

/* ---- scope from text ------------------------------------------------------ */

START_TEST(description_only_scope)
{
	struct engine *en = engine(NULL);
	const char *acq = "{\"name\":\"Brabant Ventures B.V.\",\"country\":\"NL\",\"kind\":\"company\","
			  "\"parent\":\"Brabant Holding\"}";
	const char *q = "A spin-off developing cryogenic control electronics for quantum computers.";
	char *req;
	json_t *v, *f, *ev;

	/* Nobody ticked the box: the description alone puts it in highly
	 * sensitive technology, so 9% -> 10% notifies. */
	req = request("investment", q, "NL", NULL, acq,
		      "{\"current_voting_rights_percent\":9,\"voting_rights_percent\":10}");
	v = screen(en, req);
	expect_rules(v, "vifo.notify.significant_influence", "quantum description");
	ck_assert_str_eq(decision(v), "escalate");
	ck_assert_ptr_nonnull(strstr(rationale(finding(v, "vifo.notify.significant_influence")),
				     "inferred from the request text"));
	f = finding(v, "INV-HS-QUANTUM");
	ck_assert_ptr_nonnull(f);
	ck_assert_str_eq(json_string_value(json_object_get(f, "severity")), "info");
	ev = json_array_get(json_object_get(f, "evidence"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(ev, "path")), "/description");
	json_decref(v);
	free(req);

	/* Military text: control notifies, 10% does not. */
	req = request("investment", "Levert militaire goederen aan defensie.", "NL", NULL, acq,
		      "{\"voting_rights_percent\":51}");
	v = screen(en, req);
	expect_rules(v, "vifo.notify.control", "military description, control");
	ck_assert_ptr_nonnull(finding(v, "INV-MIL-GOODS"));
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(
		finding(v, "vifo.notify.control"), "title")), "military goods"));
	json_decref(v);
	free(req);
	req = request("investment", "Levert militaire goederen aan defensie.", "NL", NULL, acq,
		      "{\"voting_rights_percent\":10}");
	v = screen(en, req);
	expect_rules(v, "", "military description, 10%");
	ck_assert_str_eq(decision(v), "clear");
	json_decref(v);
	free(req);

	/* Near misses stay out of scope even with control. */
	static const char *const near[] = {
		"A quantum leap in customer service for web shops.",
		"Potato chips and a chip shop in Utrecht.",
		"Quality assurance software for web shops.",
		"A chair in military history and a public defence of the thesis.",
		"A dual-purpose lecture hall; we encrypt backups of our customer data.",
		"A photography studio with a photo booth.",
	};
	for (size_t i = 0; i < sizeof(near) / sizeof(near[0]); i++) {
		char *got;

		req = request("investment", near[i], "NL", NULL, acq, "{\"voting_rights_percent\":80}");
		v = screen(en, req);
		got = rules_of(v, 1);
		ck_assert_msg(strcmp(got, "") == 0, "near miss \"%s\" gave \"%s\"", near[i], got);
		free(got);
		json_decref(v);
		free(req);
	}
	engine_unref(en);
}
END_TEST

/* Every positive phrase of every rule file puts a target in scope of its
 * category, and no negative phrase does. */
static void check_rule_phrases(struct engine *en, const char *rel, const char *want_rule,
			       const char *investment)
{
	char *path = tu_src(rel);
	struct kvs_ruleset *rs = NULL;
	size_t n_pos = 0;

	ck_assert_int_eq(rules_load(&plugin_host_table, NULL, path, &rs), 0);
	for (size_t i = 0; i < rules_count(rs); i++) {
		struct rules_info ri;

		ck_assert_int_eq(rules_get(rs, i, &ri), 0);
		for (size_t k = 0; k < ri.n_positive + ri.n_negative; k++) {
			int pos = k < ri.n_positive;
			const char *phrase = pos ? ri.positive[k] : ri.negative[k - ri.n_positive];
			char *req = request("investment", phrase, "NL", NULL,
					    "{\"name\":\"A\",\"country\":\"NL\",\"ubo\":\"B\"}",
					    investment);
			json_t *v = screen(en, req);

			ck_assert_msg(pos == (finding(v, ri.id) != NULL),
				      "%s: rule %s %s on \"%s\"", rel, ri.id,
				      pos ? "did not fire" : "fired", phrase);
			ck_assert_msg(pos == (finding(v, want_rule) != NULL),
				      "%s: \"%s\" %s %s", rel, phrase, pos ? "did not give" : "gave",
				      want_rule);
			n_pos += pos;
			json_decref(v);
			free(req);
		}
	}
	ck_assert_uint_gt(n_pos, 0);
	rules_free(rs);
	free(path);
}

START_TEST(rule_file_phrases)
{
	struct engine *en = engine(NULL);
	char *hs24 = tu_src("conf/rules/investment/proposed-2024.conf");

	check_rule_phrases(en, "conf/rules/investment/sensitive-technology.conf",
			   "vifo.notify.significant_influence", "{\"voting_rights_percent\":10}");
	check_rule_phrases(en, "conf/rules/investment/military.conf", "vifo.notify.control",
			   "{\"voting_rights_percent\":60}");
	check_rule_phrases(en, "conf/rules/investment/dual-use.conf", "vifo.notify.control",
			   "{\"voting_rights_percent\":60}");
	engine_unref(en);

	/* The 2024 proposal is a configuration edit: one more file in
	 * highly_sensitive_rules. */
	{
		char *hs = tu_src("conf/rules/investment/sensitive-technology.conf");
		char *mil = tu_src("conf/rules/investment/military.conf");
		char *du = tu_src("conf/rules/investment/dual-use.conf");
		char *text;

		ck_assert(asprintf(&text,
				   "daemon: { plugin_dir = \"%s/plugins\"; };\n"
				   "plugins: { investment: { highly_sensitive_rules = [ \"%s\", \"%s\" ];\n"
				   "  military_rules = [ \"%s\" ]; dual_use_rules = [ \"%s\" ]; }; };\n",
				   builddir(), hs, hs24, mil, du) > 0);
		en = tu_engine(text);
		free(text);
		free(hs);
		free(mil);
		free(du);
	}
	check_rule_phrases(en, "conf/rules/investment/proposed-2024.conf",
			   "vifo.notify.significant_influence", "{\"voting_rights_percent\":10}");
	engine_unref(en);
	/* Without it, AI is not highly sensitive. */
	en = engine(NULL);
	{
		char *req = request("investment", "artificial intelligence for radiology", "NL", NULL,
				    "{\"name\":\"A\",\"country\":\"NL\",\"ubo\":\"B\"}",
				    "{\"voting_rights_percent\":10}");
		json_t *v = screen(en, req);

		expect_rules(v, "", "AI without the 2024 rules");
		json_decref(v);
		free(req);
	}
	engine_unref(en);
	free(hs24);
}
END_TEST

/* ---- acquirers ------------------------------------------------------------- */

START_TEST(dutch_acquirer_notifies)
{
	struct engine *en = engine(NULL);
	char *req = request("investment", NULL, "NL", "[\"vital_provider\"]",
			    "{\"name\":\"Rijksinvest N.V.\",\"country\":\"NL\",\"kind\":\"company\","
			    "\"parent\":\"Holding\"}", "{\"instrument\":\"acquisition\","
			    "\"voting_rights_percent\":100}");
	json_t *v = screen(en, req);

	/* Country-neutral: a Dutch acquirer taking control of a vital provider
	 * notifies like anyone else. */
	expect_rules(v, "vifo.notify.control", "Dutch acquirer");
	ck_assert_str_eq(decision(v), "escalate");
	ck_assert_ptr_nonnull(strstr(rationale(finding(v, "vifo.notify.control")), "from 0% to 100%"));
	json_decref(v);
	free(req);
	engine_unref(en);
}
END_TEST

START_TEST(state_owned_acquirers)
{
	struct engine *en = engine(NULL);
	static const struct {
		const char *acq, *severity, *title_part;
	} cases[] = {
		{ "{\"name\":\"Great Wall Tech\",\"country\":\"CN\",\"state_owned\":true}", "high",
		  "a third-country government" },
		{ "{\"name\":\"Ministry of Industry\",\"country\":\"RU\",\"kind\":\"government\"}",
		  "high", "a third-country government" },
		{ "{\"name\":\"Armed Forces Fund\",\"kind\":\"military\"}", "high",
		  "country unknown" },
		{ "{\"name\":\"Invest-NL\",\"country\":\"NL\",\"kind\":\"company\",\"state_owned\":true}",
		  "low", "an EU government" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *req = request("investment", NULL, "NL", "[\"highly_sensitive_technology\"]",
				    cases[i].acq, "{\"voting_rights_percent\":5}");
		json_t *v = screen(en, req), *f = finding(v, "fdi.acquirer.state_control");

		ck_assert_msg(f != NULL, "no state_control for %s", cases[i].acq);
		ck_assert_str_eq(json_string_value(json_object_get(f, "severity")), cases[i].severity);
		ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(f, "title")),
					     cases[i].title_part));
		ck_assert_str_eq(json_string_value(json_array_get(json_object_get(f, "references"), 0)),
				 "Regulation (EU) 2019/452 Art. 4(2)(a)");
		/* State bodies are not "opaque companies". */
		ck_assert_ptr_null(finding(v, "fdi.acquirer.opaque_ownership"));
		json_decref(v);
		free(req);
	}
	engine_unref(en);
}
END_TEST

START_TEST(security_history_evidence)
{
	struct engine *en = engine(NULL);
	char *req = request("investment", NULL, "NL", "[]",
			    "{\"name\":\"Shadow Capital\",\"ubo\":\"X\",\"security_history\":"
			    "[\"sabotage of a port crane 2019\",\"espionage case 2022\"]}",
			    "{\"voting_rights_percent\":5}");
	json_t *v = screen(en, req), *f = finding(v, "fdi.acquirer.security_history"), *ev;

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(json_array_size(json_object_get(f, "evidence")), 2);
	ev = json_array_get(json_object_get(f, "evidence"), 1);
	ck_assert_str_eq(json_string_value(json_object_get(ev, "path")), "/parties/1/security_history/1");
	ck_assert_str_eq(json_string_value(json_object_get(ev, "text")), "espionage case 2022");
	ck_assert_str_eq(decision(v), "escalate");
	json_decref(v);
	free(req);
	engine_unref(en);
}
END_TEST

/* A ubo that matches a listed PERSON on the name alone is not identified:
 * at most escalate, even when the deal must be notified; a listed company
 * as ubo denies (the "listed owner" row of decision_table). */
START_TEST(listed_person_owner)
{
	char *un = tu_src("conf/lists/un-sc/consolidated.xml"), *extra;
	struct engine *en;
	char *req;
	json_t *v, *f;

	ck_assert(asprintf(&extra, "lists = [ \"un:un_sc:critical:%s\" ];", un) > 0);
	en = engine(extra);
	req = request("investment", NULL, "NL", "[\"military_goods\"]",
		      "{\"name\":\"Polder Invest B.V.\",\"country\":\"NL\",\"kind\":\"company\","
		      "\"ubo\":\"Eric Badege\"}", "{\"voting_rights_percent\":75}");
	v = screen(en, req);
	f = finding(v, "fdi.acquirer.listed");
	ck_assert_ptr_nonnull(f);
	ck_assert_str_eq(json_string_value(json_object_get(f, "severity")), "high");
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(f, "title")),
				     "name only — verify identity"));
	ck_assert_str_eq(decision(v), "escalate");
	json_decref(v);
	free(req);
	engine_unref(en);
	free(extra);
	free(un);
}
END_TEST

START_TEST(listed_acquirer)
{
	struct engine *en = engine(NULL);
	char *req = request("investment", NULL, "NL", "[\"military_goods\"]",
			    "{\"name\":\"Harbour Ventures B.V.\",\"country\":\"NL\","
			    "\"parent\":\"Example Photonics\"}", "{\"voting_rights_percent\":75}");
	json_t *v = screen(en, req), *f = finding(v, "fdi.acquirer.listed"), *ev;

	ck_assert_ptr_nonnull(f);
	ck_assert_str_eq(json_string_value(json_object_get(f, "severity")), "critical");
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(f, "title")),
				     "Parent Example Photonics of acquirer Harbour Ventures B.V. is on list "
				     "institute_own"));
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(f, "references"), 1)),
			 "institute_own entry OWN-0001 (institute-own)");
	ev = json_array_get(json_object_get(f, "evidence"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(ev, "path")), "/parties/1/parent");
	ck_assert_str_eq(decision(v), "deny");
	json_decref(v);
	free(req);
	/* ubo as an array of names: each is screened, and the array counts
	 * as disclosed ownership. */
	req = request("investment", NULL, "NL", "[\"military_goods\"]",
		      "{\"name\":\"Harbour Ventures B.V.\",\"country\":\"NL\","
		      "\"ubo\":[\"Jan Jansen\",\"Example Photonics\"]}", "{\"voting_rights_percent\":75}");
	v = screen(en, req);
	f = finding(v, "fdi.acquirer.listed");
	ck_assert_ptr_nonnull(f);
	ev = json_array_get(json_object_get(f, "evidence"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(ev, "path")), "/parties/1/ubo/1");
	ck_assert_ptr_null(finding(v, "fdi.acquirer.opaque_ownership"));
	ck_assert_str_eq(decision(v), "deny");
	json_decref(v);
	free(req);
	/* A near name is not a match. */
	req = request("investment", NULL, "NL", "[]", "{\"name\":\"Example Phonetics Training\","
		      "\"country\":\"NL\",\"ubo\":\"X\"}", "{\"voting_rights_percent\":75}");
	v = screen(en, req);
	expect_rules(v, "", "near name");
	json_decref(v);
	free(req);
	engine_unref(en);
}
END_TEST

/* ---- partnerships, examples, incomplete requests ---------------------------- */

START_TEST(partnership_with_investment)
{
	struct engine *en = engine(NULL);
	const char *req =
		"{\"id\":\"p-9\",\"type\":\"partnership\",\"title\":\"Joint lab on integrated photonics\","
		"\"parties\":[{\"role\":\"partner\",\"name\":\"Shenzhen Photon Co\",\"country\":\"CN\","
		"\"kind\":\"company\",\"parent\":\"Photon Group\"}],"
		"\"cooperation\":{\"form\":\"joint_lab\",\"funding\":[{\"source\":\"Provincial Fund\","
		"\"country\":\"CN\",\"state_linked\":true},{\"source\":\"NWO\",\"country\":\"NL\","
		"\"state_linked\":true}]},"
		"\"investment\":{\"instrument\":\"joint_venture\",\"voting_rights_percent\":30,"
		"\"board_seats\":1,\"board_size\":4}}";
	json_t *v = screen(en, req), *f;

	/* No target party: the request itself (the institute's joint lab) is
	 * the target, in scope by its photonics title. */
	expect_rules(v, "fdi.acquirer.state_funding fdi.acquirer.third_country "
		     "vifo.notify.significant_influence", "partnership");
	f = finding(v, "fdi.acquirer.state_funding");
	ck_assert_str_eq(json_string_value(json_object_get(f, "severity")), "medium");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(
		json_object_get(f, "evidence"), 0), "text")), "Provincial Fund");
	json_decref(v);
	/* A partnership without an investment block is not this plugin's. */
	v = screen(en, "{\"id\":\"p-10\",\"type\":\"partnership\",\"title\":\"quantum computers\"}");
	expect_rules(v, "", "partnership without investment");
	ck_assert_uint_eq(json_array_size(json_object_get(v, "findings")), 0);
	ck_assert_str_eq(decision(v), "clear");
	json_decref(v);
	engine_unref(en);
}
END_TEST

START_TEST(example_spinoff)
{
	struct engine *en = engine(NULL);
	char *path = tu_src("conf/examples/investment-spinoff.json");
	char *req = tu_read_file(path);
	json_t *v = screen(en, req), *f;

	expect_rules(v, "fdi.acquirer.third_country vifo.notify.significant_influence", "example");
	ck_assert_str_eq(decision(v), "escalate");
	f = finding(v, "vifo.notify.significant_influence");
	ck_assert_str_eq(json_string_value(json_object_get(f, "title")),
			 "Vifo notification required: significant influence in QPhotonix B.V. "
			 "(highly sensitive technology)");
	ck_assert_ptr_nonnull(strstr(rationale(f), "from 0% to 24%"));
	ck_assert_ptr_nonnull(strstr(rationale(f), "reaching 10% of the votes, reaching 20% of the "
				     "votes and the right to appoint a board member"));
	ck_assert_ptr_nonnull(finding(v, "INV-HS-QUANTUM"));
	ck_assert_ptr_nonnull(finding(v, "INV-HS-PHOTONICS"));
	json_decref(v);
	free(req);
	free(path);
	engine_unref(en);
}
END_TEST

START_TEST(incomplete_requests)
{
	struct engine *en = engine(NULL);
	json_t *v;
	char *req;

	v = screen(en, "{\"id\":\"i-1\",\"type\":\"investment\",\"title\":\"x\"}");
	expect_rules(v, "vifo.incomplete", "no block");
	ck_assert_str_eq(decision(v), "review");
	json_decref(v);
	/* In scope, but nothing to measure the transaction by. */
	req = request("investment", NULL, "NL", "[\"business_campus\"]",
		      "{\"name\":\"A\",\"country\":\"NL\",\"ubo\":\"B\"}", "{\"instrument\":\"equity\"}");
	v = screen(en, req);
	expect_rules(v, "vifo.incomplete", "no figures");
	ck_assert_str_eq(decision(v), "review");
	json_decref(v);
	free(req);
	/* No acquirer. */
	req = request("investment", NULL, "NL", "[]", NULL, "{\"voting_rights_percent\":5}");
	v = screen(en, req);
	expect_rules(v, "vifo.incomplete", "no acquirer");
	json_decref(v);
	free(req);
	engine_unref(en);
}
END_TEST

/* A 3000-byte name of two-byte characters overflows the title and
 * rationale buffers; the finding must still be valid UTF-8. */
START_TEST(long_names)
{
	struct engine *en = engine(NULL);
	char name[3001], *req, *p;
	json_t *v, *f;

	for (size_t i = 0; i < 3000; i += 2)
		memcpy(name + i, "\xc3\xa9", 2);
	name[3000] = '\0';
	req = request("investment", NULL, "NL", "[\"vital_provider\"]",
		      "{\"name\":\"A\",\"country\":\"NL\",\"ubo\":\"B\"}", "{\"voting_rights_percent\":60}");
	/* Put the long name on the target. */
	p = strstr(req, "Spin B.V.");
	ck_assert_ptr_nonnull(p);
	{
		char *r2;

		ck_assert(asprintf(&r2, "%.*s%s%s", (int)(p - req), req, name, p + 9) > 0);
		free(req);
		req = r2;
	}
	v = screen(en, req);
	f = finding(v, "vifo.notify.control");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_lt(strlen(json_string_value(json_object_get(f, "title"))), 1536);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(
		json_object_get(f, "evidence"), 0), "end")), 3000);
	json_decref(v);
	free(req);
	engine_unref(en);
}
END_TEST

/* ---- options ---------------------------------------------------------------- */

START_TEST(options_tune_policy)
{
	const char *acq = "{\"name\":\"A\",\"country\":\"NL\",\"ubo\":\"B\"}";
	struct engine *en;
	json_t *v;
	char *req;

	/* Thresholds and severities are configuration. */
	en = engine("influence_thresholds = \"5, 15\"; notify_severity = \"critical\";\n"
		    "third_country_severity = \"medium\"; control_percent = 40.0;");
	req = request("investment", NULL, "NL", "[\"highly_sensitive_technology\"]", acq,
		      "{\"current_voting_rights_percent\":4,\"voting_rights_percent\":9}");
	v = screen(en, req);
	expect_rules(v, "vifo.notify.significant_influence", "5% threshold");
	ck_assert_str_eq(decision(v), "deny");
	json_decref(v);
	free(req);
	req = request("investment", NULL, "NL", "[\"vital_provider\"]", acq,
		      "{\"voting_rights_percent\":45}");
	v = screen(en, req);
	expect_rules(v, "vifo.notify.control", "control at 40%");
	json_decref(v);
	free(req);
	engine_unref(en);

	/* Without the NL assumption a country-less target is out of scope; a
	 * merger need not be control; a board seat need not be influence. */
	en = engine("assume_target_nl = false; merger_is_control = false;");
	req = request("investment", NULL, NULL, "[\"vital_provider\"]", acq,
		      "{\"voting_rights_percent\":90}");
	v = screen(en, req);
	expect_rules(v, "", "country-less target");
	json_decref(v);
	free(req);
	req = request("investment", NULL, "NL", "[\"vital_provider\"]", acq,
		      "{\"instrument\":\"merger\",\"voting_rights_percent\":0}");
	v = screen(en, req);
	expect_rules(v, "", "merger not control");
	json_decref(v);
	free(req);
	engine_unref(en);
}
END_TEST

/* engine_open must refuse a bad option value, naming it. */
static void expect_config_error(const char *extra, const char *want)
{
	char *text = config_text(extra), *path = tu_write_config(text), *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	struct cfg_errors e = { .out = out };
	struct engine *en = NULL;

	ck_assert_int_gt(engine_open(path, &en, &e), 0);
	ck_assert_ptr_null(en);
	fclose(out);
	ck_assert_msg(buf && strstr(buf, want), "error output \"%s\" lacks \"%s\"", buf ? buf : "",
		      want);
	free(buf);
	free(path);
	free(text);
}

START_TEST(config_errors)
{
	expect_config_error("influence_thresholds = \"10, 5\";", "influence_thresholds: expected");
	expect_config_error("influence_thresholds = \"10, 20x\";", "influence_thresholds:");
	expect_config_error("influence_thresholds = \"0\";", "influence_thresholds: expected");
	expect_config_error("notify_severity = \"urgent\";",
			    "kvscreend.conf:7: notify_severity: \"urgent\" is not a severity (info, low, medium, high or critical)");
	expect_config_error("eu_countries = \"NL de\";", "eu_countries: expected");
	expect_config_error("control_percent = 120.0;", "control_percent");
	expect_config_error("military_rules = [ \"/nonexistent/military.conf\" ];",
			    "/nonexistent/military.conf");
	expect_config_error("military_rules = \"military.conf\";", "military_rules: expected");
	{
		/* A broken rule file is reported at its own file:line. */
		char *bad = tu_src("tests/data/rules/bad_regex.conf"), *extra;

		ck_assert(asprintf(&extra, "dual_use_rules = [ \"%s\" ];", bad) > 0);
		expect_config_error(extra, "bad_regex.conf:");
		free(extra);
		free(bad);
	}
	expect_config_error("colour = \"blue\";", "colour");
	expect_config_error("lists = [ \"kvs:own:urgent:x.csv\" ];", "kvscreend.conf:7: lists[0]: \"kvs:own:urgent:x.csv\" has an unknown severity (" KVS_SEVERITY_CHOICES ")");
}
END_TEST

/* The same request gives the same findings, whatever the thread. */
START_TEST(deterministic)
{
	struct engine *en = engine(NULL);
	char *path = tu_src("conf/examples/investment-spinoff.json");
	char *req = tu_read_file(path);
	char *first = NULL;

	for (int i = 0; i < 20; i++) {
		json_t *v = screen(en, req);
		char *f = json_dumps(json_object_get(v, "findings"), JSON_COMPACT | JSON_SORT_KEYS);

		if (!first)
			first = f;
		else {
			ck_assert_str_eq(f, first);
			free(f);
		}
		json_decref(v);
	}
	free(first);
	free(req);
	free(path);
	engine_unref(en);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("investment");
	TCase *tc = tcase_create("vifo");

	tcase_add_test(tc, decision_table);
	tcase_add_test(tc, description_only_scope);
	tcase_add_test(tc, rule_file_phrases);
	tcase_add_test(tc, dutch_acquirer_notifies);
	tcase_add_test(tc, state_owned_acquirers);
	tcase_add_test(tc, security_history_evidence);
	tcase_add_test(tc, listed_acquirer);
	tcase_add_test(tc, listed_person_owner);
	tcase_add_test(tc, partnership_with_investment);
	tcase_add_test(tc, example_spinoff);
	tcase_add_test(tc, incomplete_requests);
	tcase_add_test(tc, long_names);
	tcase_add_test(tc, options_tune_policy);
	tcase_add_test(tc, config_errors);
	tcase_add_test(tc, deterministic);
	suite_add_tcase(s, tc);
	return ck_main(s);
}
