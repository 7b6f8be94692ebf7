/* test_export_control.c - tests of the export_control plugin: the built shared object driven through a mock host. */
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

static void setup(void)
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
	ck_assert_uint_eq(desc->abi_version, KVS_ABI_VERSION);
	ck_assert_str_eq(desc->name, "export_control");
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
	mock_errors[0] = '\0';
	ck_assert_msg(desc->create(&mock_host, NULL, config, &state) == 0, "%s", mock_errors);
}

static void teardown(void)
{
	desc->destroy(state, &mock_host);
	free(config);
	dlclose(dl);
}

/* Screen an export of one item to `cc`; returns the report. */
static void screen_export(const char *item, const char *cls, const char *cc,
			  const char *end_use, const char *transfer, struct kvs_report *rep)
{
	struct kvs_request *r = mock_request(KVS_REQ_EXPORT);

	mock_set(r, "/title", "Shipment to a project partner", SIZE_MAX, 1);
	mock_set(r, "/items/0/description", item, SIZE_MAX, 1);
	mock_set(r, "/items/0/kind", "goods", SIZE_MAX, 0);
	if (cls)
		mock_set(r, "/items/0/classification", cls, SIZE_MAX, 0);
	if (end_use)
		mock_set(r, "/end_use", end_use, SIZE_MAX, 1);
	if (transfer) {
		mock_set(r, "/transfer", transfer, SIZE_MAX, 0);
		mock_set(r, "/items/1/description", "source code of the control firmware", SIZE_MAX, 1);
		mock_set(r, "/items/1/kind", "software", SIZE_MAX, 0);
	}
	if (cc)
		mock_set(r, "/destination/country", cc, SIZE_MAX, 0);
	memset(rep, 0, sizeof(*rep));
	ck_assert_int_eq(desc->screen(state, &mock_host, r, rep), 0);
	mock_request_free(r);
}

static enum kvs_severity max_sev(const struct kvs_report *rep)
{
	enum kvs_severity m = KVS_SEV_INFO;

	for (size_t i = 0; i < rep->n; i++)
		if (rep->v[i].severity > m)
			m = rep->v[i].severity;
	return m;
}

static void expect(const struct kvs_report *rep, const char *rule, int sev)
{
	const struct mock_finding *f = mock_find(rep, rule);
	char all[2048] = "";

	for (size_t i = 0; i < rep->n; i++) {
		strncat(all, rep->v[i].rule, sizeof(all) - strlen(all) - 2);
		strncat(all, " ", sizeof(all) - strlen(all) - 1);
	}
	ck_assert_msg(f != NULL, "no %s among: %s", rule, all);
	if (sev >= 0)
		ck_assert_msg((int)f->severity == sev, "%s has severity %d, wanted %d", rule,
			      f->severity, sev);
}

static void expect_not(const struct kvs_report *rep, const char *rule)
{
	ck_assert_msg(mock_find(rep, rule) == NULL, "unexpected %s", rule);
}

/* The destination decision table: one row per (item list, destination). */
START_TEST(test_destination_table)
{
	static const struct row {
		const char *item, *cc, *rule;
		int sev;
		const char *absent;
	} rows[] = {
		{ "EUV lithography scanners", "US", "EC-DEST-EU001", KVS_SEV_MEDIUM, "EC-DEST-LICENCE" },
		{ "EUV lithography scanners", "JP", "EC-DEST-EU001", KVS_SEV_MEDIUM, "EC-DEST-LICENCE" },
		{ "EUV lithography scanners", "TR", "EC-DEST-LICENCE", KVS_SEV_HIGH, "EC-DEST-EU001" },
		{ "EUV lithography scanners", "DE", "EC-DEST-EU", KVS_SEV_INFO, "EC-DEST-LICENCE" },
		{ "EUV lithography scanners", "CN", "EC-DEST-EMBARGO-DU", KVS_SEV_HIGH, "EC-DEST-EMBARGO-ML" },
		{ "spare parts for assault rifles", "RU", "EC-DEST-EMBARGO-ML", KVS_SEV_CRITICAL, NULL },
		{ "spare parts for assault rifles", "US", "EC-DEST-ML-LICENCE", KVS_SEV_HIGH, "EC-DEST-EU001" },
		{ "spare parts for assault rifles", "BE", "EC-DEST-EU-ML", KVS_SEV_MEDIUM, "EC-DEST-EU" },
		{ "spare parts for assault rifles", "NL", "EC-ML1-SMALLARMS", KVS_SEV_HIGH, "EC-DEST-EU-ML" },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct kvs_report rep;
		const struct mock_finding *f;

		screen_export(rows[i].item, NULL, rows[i].cc, NULL, NULL, &rep);
		expect(&rep, rows[i].rule, rows[i].sev);
		if (rows[i].absent)
			expect_not(&rep, rows[i].absent);
		f = mock_find(&rep, rows[i].rule);
		if (!strncmp(rows[i].rule, "EC-DEST", 7)) {
			ck_assert_uint_eq(f->n_ev, 1);
			ck_assert_str_eq(f->ev[0].path, "/destination/country");
			ck_assert_uint_eq(f->ev[0].end, 2);
		}
		mock_report_reset(&rep);
	}
}
END_TEST

START_TEST(test_benign_export_clear)
{
	struct kvs_report rep;

	screen_export("soil sampling kit for agricultural field work", NULL, "TR",
		      "Academic research on crop yields", "physical", &rep);
	ck_assert_uint_eq(rep.n, 0);
	mock_report_reset(&rep);
}
END_TEST

START_TEST(test_catch_all)
{
	struct kvs_report rep;
	struct kvs_request *r;

	/* No listed item, but a military end use in an embargoed destination. */
	screen_export("soil sampling kit", NULL, "IR", "for use by the navy", NULL, &rep);
	expect(&rep, "EC-ART4-MILITARY", KVS_SEV_MEDIUM);
	expect(&rep, "EC-ART4-EMBARGO", KVS_SEV_HIGH);
	expect_not(&rep, "EC-DEST-EMBARGO-DU");
	mock_report_reset(&rep);
	/* The same end use elsewhere is only the rule's finding. */
	screen_export("soil sampling kit", NULL, "TR", "for use by the navy", NULL, &rep);
	expect(&rep, "EC-ART4-MILITARY", KVS_SEV_MEDIUM);
	expect_not(&rep, "EC-ART4-EMBARGO");
	mock_report_reset(&rep);
	/* A military end user (party kind) in an embargoed destination. */
	r = mock_request(KVS_REQ_EXPORT);
	mock_set(r, "/items/0/description", "office chairs", SIZE_MAX, 1);
	mock_set(r, "/destination/country", "RU", SIZE_MAX, 0);
	mock_set(r, "/parties/0/role", "end_user", SIZE_MAX, 0);
	mock_set(r, "/parties/0/name", "Academy of the General Staff", SIZE_MAX, 1);
	mock_set(r, "/parties/0/country", "RU", SIZE_MAX, 0);
	mock_set(r, "/parties/0/kind", "military", SIZE_MAX, 0);
	memset(&rep, 0, sizeof(rep));
	ck_assert_int_eq(desc->screen(state, &mock_host, r, &rep), 0);
	expect(&rep, "EC-ART4-EMBARGO", KVS_SEV_HIGH);
	mock_report_reset(&rep);
	mock_request_free(r);
	/* WMD wording fires anywhere. */
	screen_export("office chairs", NULL, "TR", "the end user develops nuclear weapons", NULL, &rep);
	expect(&rep, "EC-ART4-WMD", KVS_SEV_HIGH);
	mock_report_reset(&rep);
}
END_TEST

START_TEST(test_classifications)
{
	struct kvs_report rep;
	const struct mock_finding *f;

	/* A real entry counts as a listed item even with bland text. */
	screen_export("a small box", "5A002.a", "TR", NULL, NULL, &rep);
	expect(&rep, "EC-DEST-LICENCE", KVS_SEV_HIGH);
	expect_not(&rep, "EC-CLASS-UNKNOWN");
	mock_report_reset(&rep);
	screen_export("a small box", "ML10.c", "US", NULL, NULL, &rep);
	expect(&rep, "EC-DEST-ML-LICENCE", KVS_SEV_HIGH);
	mock_report_reset(&rep);
	/* Entries that do not exist. */
	screen_export("a small box", "5A099", "TR", NULL, NULL, &rep);
	f = mock_find(&rep, "EC-CLASS-UNKNOWN");
	ck_assert_ptr_nonnull(f);
	ck_assert_str_eq(f->ev[0].path, "/items/0/classification");
	ck_assert_uint_eq(f->ev[0].end, 5);
	expect_not(&rep, "EC-DEST-LICENCE");
	mock_report_reset(&rep);
	screen_export("a small box", "ML23", "TR", NULL, NULL, &rep);
	expect(&rep, "EC-CLASS-UNKNOWN", KVS_SEV_MEDIUM);
	mock_report_reset(&rep);
	/* Claimed unlisted, but the text points at a listed entry. */
	screen_export("hardware security modules for key storage", "EAR99", "TR", NULL, NULL, &rep);
	expect(&rep, "EC-5A002-CRYPTO", KVS_SEV_MEDIUM);
	expect(&rep, "EC-CLASS-CONFLICT", KVS_SEV_MEDIUM);
	mock_report_reset(&rep);
	screen_export("office chairs", "EAR99", "TR", NULL, NULL, &rep);
	ck_assert_uint_eq(rep.n, 0);
	mock_report_reset(&rep);
}
END_TEST

START_TEST(test_transfers_and_exemptions)
{
	struct kvs_report rep;

	screen_export("hardware security modules", NULL, "TR", NULL, "electronic", &rep);
	expect(&rep, "EC-TRANSFER-INTANGIBLE", KVS_SEV_MEDIUM);
	mock_report_reset(&rep);
	screen_export("office chairs", NULL, "TR", NULL, "electronic", &rep);
	expect(&rep, "EC-TRANSFER-INTANGIBLE", KVS_SEV_LOW);
	mock_report_reset(&rep);
	screen_export("hardware security modules", NULL, "TR", NULL, "deemed", &rep);
	expect(&rep, "EC-TRANSFER-DEEMED", KVS_SEV_MEDIUM);
	mock_report_reset(&rep);
	screen_export("hardware security modules", NULL, "TR", NULL, "physical", &rep);
	expect_not(&rep, "EC-TRANSFER-INTANGIBLE");
	mock_report_reset(&rep);
	/* A claimed exemption is reported, never silently passed. */
	screen_export("QKD test bench; this is basic scientific research", NULL, "TR", NULL, NULL,
		      &rep);
	expect(&rep, "EC-EXEMPT-BASIC-RESEARCH", KVS_SEV_LOW);
	expect(&rep, "EC-5A002-QKD", KVS_SEV_MEDIUM);
	expect(&rep, "EC-DEST-LICENCE", KVS_SEV_HIGH);
	mock_report_reset(&rep);
}
END_TEST

/* ---- Every CORDIS project objective as a partnership request ---- */

struct proj {
	char id[32];
	char field[128];
	char *title, *objective;
};

struct projs {
	struct proj *v;
	size_t n, cap;
	char cur[32];
};

static void proj_cb(void *arg, const char *col, const char *text, size_t len)
{
	struct projs *p = arg;
	struct proj *x;

	if (!strcmp(col, "id")) {
		if (p->n == p->cap) {
			p->cap = p->cap ? 2 * p->cap : 128;
			p->v = realloc(p->v, p->cap * sizeof(*p->v));
			if (!p->v)
				abort();
		}
		x = &p->v[p->n++];
		memset(x, 0, sizeof(*x));
		snprintf(x->id, sizeof(x->id), "%.*s", (int)len, text);
		return;
	}
	if (!p->n)
		return;
	x = &p->v[p->n - 1];
	if (!strcmp(col, "title") && !x->title)
		x->title = strndup(text, len);
	else if (!strcmp(col, "objective") && !x->objective)
		x->objective = strndup(text, len);
}

static void field_cb(void *arg, const char *col, const char *text, size_t len)
{
	struct projs *p = arg;

	if (!strcmp(col, "projectID")) {
		snprintf(p->cur, sizeof(p->cur), "%.*s", (int)len, text);
		return;
	}
	for (size_t i = 0; i < p->n; i++)
		if (!strcmp(p->v[i].id, p->cur) && !p->v[i].field[0])
			snprintf(p->v[i].field, sizeof(p->v[i].field), "%.*s", (int)len, text);
}

START_TEST(test_cordis_corpus)
{
	static const char *const pcols[] = { "id", "title", "objective", NULL };
	static const char *const fcols[] = { "projectID", "euroSciVocPath", NULL };
	const char *data = mock_shared_data();
	struct projs p = {0};
	char path[4096];
	size_t fired = 0, benign = 0, high = 0, findings = 0;

	if (!data) {
		printf("CORDIS data not found beside the checkout: skipped\n");
		return;
	}
	snprintf(path, sizeof(path), "%s/cordis-horizon-europe-sample-100/project_df_100.csv", data);
	ck_assert_int_ge(mock_csv_each(path, pcols, proj_cb, &p), 100);
	snprintf(path, sizeof(path), "%s/cordis-horizon-europe-sample-100/euroSciVoc_df_100.csv", data);
	ck_assert_int_gt(mock_csv_each(path, fcols, field_cb, &p), 0);
	for (size_t i = 0; i < p.n; i++) {
		struct kvs_request *r = mock_request(KVS_REQ_PARTNERSHIP);
		struct kvs_report rep = {0};
		int is_benign = !strncmp(p.v[i].field, "/social sciences", 16) ||
				!strncmp(p.v[i].field, "/humanities", 11) ||
				!strncmp(p.v[i].field, "/agricultural sciences", 22);

		if (p.v[i].title)
			mock_set(r, "/title", p.v[i].title, SIZE_MAX, 1);
		if (p.v[i].objective)
			mock_set(r, "/description", p.v[i].objective, SIZE_MAX, 1);
		ck_assert_int_eq(desc->screen(state, &mock_host, r, &rep), 0);
		findings += rep.n;
		fired += rep.n > 0;
		high += max_sev(&rep) >= KVS_SEV_HIGH;
		if (is_benign) {
			benign++;
			for (size_t k = 0; k < rep.n; k++)
				ck_assert_msg(rep.v[k].severity < KVS_SEV_HIGH,
					      "benign project %s (%s) fires %s", p.v[i].id,
					      p.v[i].field, rep.v[k].rule);
		}
		mock_report_reset(&rep);
		mock_request_free(r);
		free(p.v[i].title);
		free(p.v[i].objective);
	}
	printf("CORDIS corpus: %zu projects, %zu with findings (%zu findings, %zu high or critical); "
	       "%zu social-science/humanities/agriculture projects, none high\n",
	       p.n, fired, findings, high, benign);
	ck_assert_uint_ge(benign, 10);
	free(p.v);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("export_control");
	TCase *tc = tcase_create("plugin");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_destination_table);
	tcase_add_test(tc, test_benign_export_clear);
	tcase_add_test(tc, test_catch_all);
	tcase_add_test(tc, test_classifications);
	tcase_add_test(tc, test_transfers_and_exemptions);
	tcase_add_test(tc, test_cordis_corpus);
	suite_add_tcase(s, tc);
	return ck_main(s);
}
