/* test_sanctions.c - tests of the sanctions bans of the export_control plugin (plugins/export_control/sanctions.c) through a mock host. */
#include "config.h"

#include <check.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules_mock.h"
#include "ck_main.h"

#define SO KVS_BUILDDIR "/plugins/export_control/.libs/export_control.so"
#define RULES KVS_SRCDIR "/conf/rules/export_control/"
#define BAD KVS_SRCDIR "/tests/data/export_control/sanctions-bad/"

static void *dl;
static const struct kvs_plugin *desc;
static void *state;
static void *config;

static void set_opt(const char *name, const void *value, size_t size)
{
	for (const struct kvs_option *o = desc->options; o->name; o++)
		if (!strcmp(o->name, name)) {
			memcpy((char *)config + o->offset, value, size);
			return;
		}
	ck_abort_msg("no option %s", name);
}

/* Fill the options as the shipped configuration does, with `sanctions`. */
static int create_with(const char *sanctions)
{
	static const char *const rules[] = { RULES "dual-use", NULL };
	static const char *const mil[] = { RULES "military.conf", NULL };
	static const char *const ca[] = { RULES "catch-all.conf", NULL };
	static const char *const ex[] = { RULES "exemptions.conf", NULL };
	const char *entries = RULES "annex-i-entries.txt", *home = "NL";
	const void *p;
	int one = 1;

	dl = dlopen(SO, RTLD_NOW | RTLD_LOCAL);
	ck_assert_msg(dl != NULL, "%s", dlerror());
	desc = dlsym(dl, "kvs_plugin");
	ck_assert_ptr_nonnull(desc);
	config = calloc(1, desc->config_size);
	p = rules;
	set_opt("rules", &p, sizeof(p));
	p = mil;
	set_opt("military_rules", &p, sizeof(p));
	p = ca;
	set_opt("catch_all_rules", &p, sizeof(p));
	p = ex;
	set_opt("exemption_rules", &p, sizeof(p));
	set_opt("entries", &entries, sizeof(entries));
	set_opt("intangible_is_export", &one, sizeof(one));
	set_opt("home_country", &home, sizeof(home));
	set_opt("sanctions", &sanctions, sizeof(sanctions));
	mock_errors[0] = '\0';
	state = NULL;
	return desc->create(&mock_host, NULL, config, &state);
}

static void setup(void)
{
	ck_assert_msg(create_with(RULES "sanctions.conf") == 0, "%s", mock_errors);
}

static void teardown(void)
{
	if (state)
		desc->destroy(state, &mock_host);
	free(config);
	dlclose(dl);
}

struct item {
	const char *desc, *cls, *hs, *kind;
};

/* Screen an export of one item to `cc` (with a consignee there). */
static void screen_export(const struct item *it, const char *cc, const char *transfer,
			  struct kvs_report *rep)
{
	struct kvs_request *r = mock_request(KVS_REQ_EXPORT);

	mock_set(r, "/title", "Shipment to a project partner", SIZE_MAX, 1);
	mock_set(r, "/items/0/description", it->desc, SIZE_MAX, 1);
	mock_set(r, "/items/0/kind", it->kind ? it->kind : "goods", SIZE_MAX, 0);
	if (it->cls)
		mock_set(r, "/items/0/classification", it->cls, SIZE_MAX, 0);
	if (it->hs)
		mock_set(r, "/items/0/hs_code", it->hs, SIZE_MAX, 0);
	if (transfer)
		mock_set(r, "/transfer", transfer, SIZE_MAX, 0);
	mock_set(r, "/destination/country", cc, SIZE_MAX, 0);
	mock_set(r, "/parties/0/role", "consignee", SIZE_MAX, 0);
	mock_set(r, "/parties/0/name", "Partner institute", SIZE_MAX, 1);
	mock_set(r, "/parties/0/country", cc, SIZE_MAX, 0);
	memset(rep, 0, sizeof(*rep));
	ck_assert_int_eq(desc->screen(state, &mock_host, r, rep), 0);
	mock_request_free(r);
}

static const char *rules_of(const struct kvs_report *rep)
{
	static char all[4096];

	all[0] = '\0';
	for (size_t i = 0; i < rep->n; i++) {
		strncat(all, rep->v[i].rule, sizeof(all) - strlen(all) - 2);
		strncat(all, " ", sizeof(all) - strlen(all) - 1);
	}
	return all;
}

static const struct mock_finding *expect(const struct kvs_report *rep, const char *rule, int sev)
{
	const struct mock_finding *f = mock_find(rep, rule);

	ck_assert_msg(f != NULL, "no %s among: %s", rule, rules_of(rep));
	if (sev >= 0)
		ck_assert_msg((int)f->severity == sev, "%s has severity %d, wanted %d", rule,
			      f->severity, sev);
	return f;
}

static void expect_no_ban(const struct kvs_report *rep)
{
	for (size_t i = 0; i < rep->n; i++)
		ck_assert_msg(strncmp(rep->v[i].rule, "SANCT-", 6) || rep->v[i].severity < KVS_SEV_CRITICAL,
			      "unexpected ban %s", rep->v[i].rule);
}

/* A ban finding names Regulation and Article, says why it is prohibited
 * and gives the next step. */
static void expect_ban(const struct kvs_report *rep, const char *rule, const char *basis,
		       const char *action_has)
{
	const struct mock_finding *f = expect(rep, rule, KVS_SEV_CRITICAL);

	ck_assert_uint_ge(f->n_refs, 1);
	ck_assert_str_eq(f->refs[0], basis);
	ck_assert_ptr_nonnull(f->rationale);
	ck_assert_msg(strstr(f->rationale, "no licence can be granted") ||
		      strstr(f->rationale, "no licence"), "%s: %s", rule, f->rationale);
	ck_assert_ptr_nonnull(f->action);
	ck_assert_msg(strstr(f->action, action_has), "%s action: %s", rule, f->action);
}

static const struct item camera = {
	"Uncooled LWIR thermal imaging camera, 640x512 microbolometer", "6A003.b.4.b", "8525 89", NULL,
};
static const struct item centrifuge = { "Gas centrifuge for isotope separation", NULL, NULL, NULL };
static const struct item laptops = { "20 laptops for the project office", NULL, "8471 30 00", NULL };
static const struct item laptops_unclassified = { "20 laptops for the project office", NULL, NULL, NULL };
static const struct item chair = { "Ordinary office chair with armrests", NULL, "9401 31", NULL };
static const struct item annex_vii = { "Discrete electronic components", "X.A.I.001", NULL, NULL };
static const struct item uav = { "Two-stroke UAV engines for a survey drone", NULL, NULL, NULL };

START_TEST(test_item_bans)
{
	static const struct row {
		const struct item *it;
		const char *cc, *rule, *basis, *action;
	} rows[] = {
		{ &camera, "RU", "SANCT-RU-833-ART2", "Council Regulation (EU) No 833/2014, Article 2(1)",
		  "Art. 2 of Reg. (EU) 833/2014; no licence can be granted. Report attempted circumvention to the CDIU" },
		{ &camera, "BY", "SANCT-BY-765-ART1E", "Council Regulation (EC) No 765/2006, Article 1e(1)",
		  "Art. 1e of Reg. (EC) 765/2006" },
		{ &camera, "KP", "SANCT-KP-1509-ART3", "Council Regulation (EU) 2017/1509, Article 3",
		  "Reg. (EU) 2017/1509" },
		{ &camera, "SY", "SANCT-SY-36-ART2", "Council Regulation (EU) No 36/2012, Article 2",
		  "Reg. (EU) 36/2012" },
		{ &centrifuge, "KP", "SANCT-KP-1509-ART3", "Council Regulation (EU) 2017/1509, Article 3",
		  "Reg. (EU) 2017/1509" },
		{ &centrifuge, "IR", "SANCT-IR-267-ART2",
		  "Council Regulation (EU) No 267/2012, Article 2 (Annexes I and II)", "Reg. (EU) 267/2012" },
		{ &laptops, "RU", "SANCT-RU-833-ART3K",
		  "Council Regulation (EU) No 833/2014, Article 3k(1) and Annex XXIII", "Art. 3k" },
		{ &laptops_unclassified, "RU", "SANCT-RU-833-ART3K",
		  "Council Regulation (EU) No 833/2014, Article 3k(1) and Annex XXIII", "Art. 3k" },
		{ &annex_vii, "RU", "SANCT-RU-833-ART2A",
		  "Council Regulation (EU) No 833/2014, Article 2a(1) and Annex VII", "Art. 2a" },
		{ &annex_vii, "BY", "SANCT-BY-765-ART1F",
		  "Council Regulation (EC) No 765/2006, Article 1f(1) and Annex V", "Art. 1f" },
		{ &uav, "IR", "SANCT-IR-1529-ART2", "Council Regulation (EU) 2023/1529, Article 2 and Annex II",
		  "Reg. (EU) 2023/1529" },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(*rows); i++) {
		struct kvs_report rep;
		const struct mock_finding *f;

		screen_export(rows[i].it, rows[i].cc, "physical", &rep);
		expect_ban(&rep, rows[i].rule, rows[i].basis, rows[i].action);
		f = mock_find(&rep, rows[i].rule);
		ck_assert_uint_eq(f->n_ev, 1);
		ck_assert_str_eq(f->ev[0].path, "/destination/country");
		mock_report_reset(&rep);
	}
}
END_TEST

/* The same items where no ban applies. */
START_TEST(test_item_near_misses)
{
	static const struct row {
		const struct item *it;
		const char *cc;
	} rows[] = {
		{ &camera, "US" }, { &camera, "JP" }, { &camera, "CN" }, { &camera, "TR" },
		{ &centrifuge, "US" }, { &laptops, "US" }, { &laptops, "BY" }, { &chair, "RU" },
		{ &camera, "IR" },      /* 6A003 is neither an NSG nor an MTCR entry */
		{ &annex_vii, "US" }, { &uav, "RU" },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(*rows); i++) {
		struct kvs_report rep;

		screen_export(rows[i].it, rows[i].cc, "physical", &rep);
		expect_no_ban(&rep);
		mock_report_reset(&rep);
	}
	/* The licence-only embargo finding for China stays as it was. */
	{
		struct kvs_report rep;

		screen_export(&camera, "CN", "physical", &rep);
		expect(&rep, "EC-DEST-EMBARGO-DU", KVS_SEV_HIGH);
		mock_report_reset(&rep);
		screen_export(&camera, "RU", "physical", &rep);
		expect(&rep, "EC-DEST-EMBARGO-DU", KVS_SEV_HIGH);
		mock_report_reset(&rep);
	}
}
END_TEST

START_TEST(test_technical_assistance)
{
	static const struct item tech = {
		"Calibration technology and design drawings for the thermal imaging camera", "6A003",
		NULL, "technology",
	};
	struct kvs_report rep;
	const struct mock_finding *f;
	int found = 0;

	screen_export(&tech, "RU", "intangible", &rep);
	f = expect(&rep, "SANCT-RU-833-ART2", KVS_SEV_CRITICAL);
	for (size_t i = 0; i < f->n_refs; i++)
		found |= !strcmp(f->refs[i], "Council Regulation (EU) No 833/2014, Article 2(2) "
				 "(technical assistance, brokering, financing)");
	ck_assert_msg(found, "no Article 2(2) reference");
	ck_assert_ptr_nonnull(strstr(f->rationale, "technical assistance"));
	mock_report_reset(&rep);
	/* A physical shipment of goods does not cite technical assistance. */
	screen_export(&camera, "RU", "physical", &rep);
	f = expect(&rep, "SANCT-RU-833-ART2", KVS_SEV_CRITICAL);
	ck_assert_uint_eq(f->n_refs, 2);
	ck_assert_ptr_null(strstr(f->rationale, "technical assistance"));
	mock_report_reset(&rep);
}
END_TEST

/* The shipped configuration names Annex IV, which is not shipped: every
 * export leaving the EU says so, with the next step. */
START_TEST(test_annex_iv_missing)
{
	struct kvs_report rep;
	const struct mock_finding *f;

	screen_export(&chair, "KZ", "physical", &rep);
	f = expect(&rep, "EC-SANCTIONS-ANNEX-MISSING", KVS_SEV_MEDIUM);
	ck_assert_ptr_nonnull(strstr(f->action, "lists/eu-833/32014R0833.csv"));
	ck_assert_str_eq(f->refs[0], "Council Regulation (EU) No 833/2014, Article 2b and Annex IV");
	mock_report_reset(&rep);
	screen_export(&chair, "BE", "physical", &rep);
	ck_assert_ptr_null(mock_find(&rep, "EC-SANCTIONS-ANNEX-MISSING"));
	ck_assert_uint_eq(rep.n, 0);
	mock_report_reset(&rep);
}
END_TEST

struct party {
	const char *name, *country, *kind, *state_owned;
};

/* A partnership on an astrochemistry objective (CORDIS 101163161, IRASTRO)
 * with one partner and one funding line. */
static void screen_partnership(const struct party *p, const char *source, const char *fcc,
			       const char *extra, const char *form, struct kvs_report *rep)
{
	struct kvs_request *r = mock_request(KVS_REQ_PARTNERSHIP);
	char text[1024];

	snprintf(text, sizeof(text), "The James Webb Space Telescope has ushered in a new era in "
		 "observational astrochemistry. This project establishes an interdisciplinary, "
		 "synergistic research programme on molecular quantum dynamics in ices.%s%s",
		 extra ? " " : "", extra ? extra : "");
	mock_set(r, "/title", "Molecular quantum dynamics in low temperature condensed phase astrochemistry",
		 SIZE_MAX, 1);
	mock_set(r, "/description", text, SIZE_MAX, 1);
	mock_set(r, "/parties/0/role", "partner", SIZE_MAX, 0);
	mock_set(r, "/parties/0/name", p->name, SIZE_MAX, 1);
	mock_set(r, "/parties/0/country", p->country, SIZE_MAX, 0);
	mock_set(r, "/parties/0/kind", p->kind, SIZE_MAX, 0);
	if (p->state_owned)
		mock_set(r, "/parties/0/state_owned", p->state_owned, SIZE_MAX, 0);
	mock_set(r, "/cooperation/form", form ? form : "joint_research", SIZE_MAX, 0);
	if (source) {
		mock_set(r, "/cooperation/funding/0/source", source, SIZE_MAX, 1);
		mock_set(r, "/cooperation/funding/0/country", fcc, SIZE_MAX, 0);
		mock_set(r, "/cooperation/funding/0/state_linked", "true", SIZE_MAX, 0);
	}
	memset(rep, 0, sizeof(*rep));
	ck_assert_int_eq(desc->screen(state, &mock_host, r, rep), 0);
	mock_request_free(r);
}

static const struct party msu = { "Lomonosov Moscow State University", "RU", "university", "true" };
static const struct party ministry = { "Ministry of Science and Higher Education", "RU", "government", NULL };
static const struct party private_ru = { "Nanoscale Instruments LLC", "RU", "company", "false" };
static const struct party uni_de = { "Universität Heidelberg", "DE", "university", "true" };

START_TEST(test_art5l)
{
	static const char *const basis = "Council Regulation (EU) No 833/2014, Article 5l";
	struct kvs_report rep;
	const struct mock_finding *f;

	/* Union, Euratom and Member State programmes, publicly owned or
	 * controlled Russian partner: deny. */
	screen_partnership(&msu, "European Research Council (Horizon Europe ERC Synergy Grant)", "BE",
			   NULL, NULL, &rep);
	expect_ban(&rep, "SANCT-RU-833-ART5L", basis, "Art. 5l of Reg. (EU) 833/2014");
	f = mock_find(&rep, "SANCT-RU-833-ART5L");
	ck_assert_str_eq(f->ev[0].path, "/parties/0/name");
	mock_report_reset(&rep);
	screen_partnership(&msu, "NWO Open Competition", "NL", NULL, NULL, &rep);
	expect_ban(&rep, "SANCT-RU-833-ART5L", basis, "Art. 5l");
	mock_report_reset(&rep);
	screen_partnership(&ministry, "Euratom Research and Training Programme", "BE", NULL, NULL, &rep);
	expect_ban(&rep, "SANCT-RU-833-ART5L", basis, "Art. 5l");
	mock_report_reset(&rep);
	/* A Member State's state-linked money under a name no rule knows. */
	screen_partnership(&msu, "Sonderforschungsbereich 956", "DE", NULL, NULL, &rep);
	expect_ban(&rep, "SANCT-RU-833-ART5L", basis, "Art. 5l");
	mock_report_reset(&rep);

	/* Near misses: a private company, no programme money, not Russia. */
	screen_partnership(&private_ru, "European Research Council", "BE", NULL, NULL, &rep);
	ck_assert_ptr_null(mock_find(&rep, "SANCT-RU-833-ART5L"));
	ck_assert_ptr_null(mock_find(&rep, "SANCT-RU-833-ART5L-EXCEPTION"));
	mock_report_reset(&rep);
	screen_partnership(&msu, NULL, NULL, NULL, NULL, &rep);
	ck_assert_ptr_null(mock_find(&rep, "SANCT-RU-833-ART5L"));
	mock_report_reset(&rep);
	screen_partnership(&msu, "Russian Science Foundation", "RU", NULL, NULL, &rep);
	ck_assert_ptr_null(mock_find(&rep, "SANCT-RU-833-ART5L"));
	mock_report_reset(&rep);
	screen_partnership(&uni_de, "European Research Council", "BE", NULL, NULL, &rep);
	expect_no_ban(&rep);
	mock_report_reset(&rep);
}
END_TEST

START_TEST(test_art5l_exceptions)
{
	static const struct row {
		const char *extra, *form, *rule;
	} rows[] = {
		{ "The Russian partner contributes data for humanitarian purposes only.", NULL,
		  "EXCEPTION-HUMANITARIAN" },
		{ "The work is part of intergovernmental cooperation in space programmes.", NULL,
		  "EXCEPTION-SPACE" },
		{ "The spectrometer is a diagnostic for ITER.", NULL, "EXCEPTION-ITER" },
		{ "The partner shares civil nuclear research on the safety of research reactors.", NULL,
		  "EXCEPTION-CIVIL-NUCLEAR" },
		{ "The grant funds people-to-people contacts between students.", NULL,
		  "EXCEPTION-MOBILITY" },
		{ NULL, "visiting_researcher", "EXCEPTION-MOBILITY (cooperation.form visiting_researcher)" },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(*rows); i++) {
		struct kvs_report rep;
		const struct mock_finding *f;

		screen_partnership(&msu, "Horizon Europe", "BE", rows[i].extra, rows[i].form, &rep);
		f = expect(&rep, "SANCT-RU-833-ART5L-EXCEPTION", KVS_SEV_MEDIUM);
		ck_assert_msg(strstr(f->title, rows[i].rule), "row %zu: %s", i, f->title);
		ck_assert_ptr_nonnull(strstr(f->action, "Art. 5l(2)"));
		ck_assert_ptr_null(mock_find(&rep, "SANCT-RU-833-ART5L"));
		mock_report_reset(&rep);
	}
}
END_TEST

START_TEST(test_dprk_cooperation)
{
	static const struct party kimilsung = { "Kim Il Sung University", "KP", "university", "true" };
	static const struct party snu = { "Seoul National University", "KR", "university", "true" };
	struct kvs_report rep;
	const struct mock_finding *f;

	screen_partnership(&kimilsung, NULL, NULL, NULL, NULL, &rep);
	expect_ban(&rep, "SANCT-KP-UNSC-2321-11",
		   "UN Security Council Resolution 2321 (2016), paragraph 11", "1718 Sanctions Committee");
	f = mock_find(&rep, "SANCT-KP-UNSC-2321-11");
	ck_assert_str_eq(f->ev[0].path, "/parties/0/country");
	mock_report_reset(&rep);
	screen_partnership(&snu, NULL, NULL, NULL, NULL, &rep);
	expect_no_ban(&rep);
	mock_report_reset(&rep);
}
END_TEST

/* Errors in the sanctions file name file:line. */
START_TEST(test_config_errors)
{
	static const struct row {
		const char *file, *err;
	} rows[] = {
		{ "unknown-key.conf", ":9: unknown key \"countrys\"\n" },
		{ "bad-country.conf", ":10: country \"Russia\" is not an ISO 3166-1 alpha-2 code\n" },
		{ "bad-cover.conf", ":11: cover \"laptops\" is not dual-use, dual-use:ENTRY-PREFIX, military or a goods id\n" },
		{ "bad-since.conf", ":12: since must be a date YYYY-MM-DD\n" },
		{ "bad-kind.conf", ":7: kind \"export\" is not items, end_users, programme_support or cooperation\n" },
		{ "missing-action.conf", ":4: \"action\" is required\n" },
		{ "syntax.conf", ":6: syntax error\n" },
	};

	teardown();
	for (size_t i = 0; i < sizeof(rows) / sizeof(*rows); i++) {
		char path[512], want[1024];

		snprintf(path, sizeof(path), "%s%s", BAD, rows[i].file);
		ck_assert_int_ne(create_with(path), 0);
		snprintf(want, sizeof(want), "%s%s", path, rows[i].err);
		ck_assert_str_eq(mock_errors, want);
		ck_assert_ptr_null(state);
		teardown();
	}
	ck_assert_int_eq(create_with(RULES "sanctions.conf"), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sanctions");
	TCase *tc = tcase_create("bans");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_item_bans);
	tcase_add_test(tc, test_item_near_misses);
	tcase_add_test(tc, test_technical_assistance);
	tcase_add_test(tc, test_annex_iv_missing);
	tcase_add_test(tc, test_art5l);
	tcase_add_test(tc, test_art5l_exceptions);
	tcase_add_test(tc, test_dprk_cooperation);
	tcase_add_test(tc, test_config_errors);
	suite_add_tcase(s, tc);
	return ck_main(s);
}
