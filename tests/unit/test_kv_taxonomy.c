/* test_kv_taxonomy.c - the kennisveiligheid taxonomy, node by node, on the rule engine. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rules.h"
#include "rules_mock.h"
#include "ck_main.h"

static char *src_path(const char *rel)
{
	const char *src = getenv("KVS_SRCDIR");
	char *p;

	ck_assert(asprintf(&p, "%s/%s", src && *src ? src : KVS_SRCDIR, rel) > 0);
	return p;
}

/* ---- Taxonomy: every node fires on its positives, not on its negatives ---- */

static int fired(struct kvs_ruleset *rs, const char *id, const char *text)
{
	struct kvs_request *req = mock_request(KVS_REQ_PARTNERSHIP);
	struct kvs_report rep = {0};
	int hit;

	mock_set(req, "/description", text, SIZE_MAX, 1);
	ck_assert_int_ge(rules_screen(rs, req, &rep, NULL), 0);
	hit = mock_find(&rep, id) != NULL;
	mock_report_reset(&rep);
	mock_request_free(req);
	return hit;
}

START_TEST(taxonomy_nodes)
{
	char *path = src_path("conf/rules/kennisveiligheid/taxonomy.conf");
	struct kvs_ruleset *rs = NULL;
	size_t pos = 0, neg = 0, nld = 0, dbg = 0, eu = 0, bad = 0;
	char seen[11][11] = {{0}};
	static const int subareas[11] = { 0, 4, 5, 5, 6, 6, 6, 4, 3, 4, 10 };
	static const char *const covered[] = {   /* sub-areas an NLD node covers */
		"2.1 ", "2.2 ", "2.3 ", "2.5 ", "8.1 ", "10.4 ", NULL,
	};

	mock_errors[0] = '\0';
	ck_assert_msg(rules_load(&mock_host, NULL, path, &rs) == 0, "%s", mock_errors);
	for (size_t i = 0; i < rules_count(rs); i++) {
		struct rules_info ri;
		int a, s;

		ck_assert_int_eq(rules_get(rs, i, &ri), 0);
		ck_assert_msg(ri.n_positive >= 2 && ri.n_negative >= 2,
			      "%s: needs English and Dutch positives and two negatives", ri.id);
		for (size_t k = 0; k < ri.n_positive; k++, pos++)
			if (!fired(rs, ri.id, ri.positive[k])) {
				printf("%s:%d: node %s does not fire on \"%s\"\n", ri.file,
				       ri.line, ri.id, ri.positive[k]);
				bad++;
			}
		for (size_t k = 0; k < ri.n_negative; k++, neg++)
			if (fired(rs, ri.id, ri.negative[k])) {
				printf("%s:%d: node %s fires on its near miss \"%s\"\n", ri.file,
				       ri.line, ri.id, ri.negative[k]);
				bad++;
			}
		if (!ri.has_literal)
			printf("node %s has no prefilter literal (runs on every field)\n", ri.id);
		if (!strncmp(ri.id, "NLD.", 4)) {
			nld++;
			ck_assert_msg(ri.severity >= KVS_SEV_HIGH, "%s: NLD nodes weigh highest", ri.id);
		}
		if (!strncmp(ri.id, "EU.", 3))
			eu++;
		if (sscanf(ri.id, "DBG.%d.%d.", &a, &s) == 2 && a >= 1 && a <= 10 && s >= 1 &&
		    s <= 10) {
			dbg++;
			seen[a][s] = 1;
			ck_assert_int_le(ri.severity, KVS_SEV_HIGH);
		}
	}
	/* Every defence base sub-area 1.1 .. 10.10 has a node or is covered
	 * by the NLD node named in the file header. */
	for (int a = 1; a <= 10; a++)
		for (int s = 1; s <= subareas[a]; s++) {
			char key[32];
			int ok = seen[a][s];

			snprintf(key, sizeof(key), "%d.%d ", a, s);
			for (size_t k = 0; covered[k]; k++)
				ok |= !strcmp(key, covered[k]);
			ck_assert_msg(ok, "defence base sub-area %d.%d has no taxonomy node", a, s);
		}
	printf("taxonomy: %zu nodes (%zu NLD, %zu defence base, %zu EU), %zu positive and "
	       "%zu negative examples\n", rules_count(rs), nld, dbg, eu, pos, neg);
	ck_assert_msg(bad == 0, "%zu examples fail (listed above)", bad);
	ck_assert_uint_ge(nld, 20);
	rules_free(rs);
	free(path);
}
END_TEST

/* The soil-moisture case of the issue, in both languages. */
START_TEST(taxonomy_soil_moisture)
{
	char *path = src_path("conf/rules/kennisveiligheid/taxonomy.conf");
	struct kvs_ruleset *rs = NULL;
	struct kvs_request *req = mock_request(KVS_REQ_PARTNERSHIP);
	struct kvs_report rep = {0};

	ck_assert_int_eq(rules_load(&mock_host, NULL, path, &rs), 0);
	mock_set(req, "/title", "Wireless sensor networks and sensor fusion for soil moisture", SIZE_MAX, 1);
	mock_set(req, "/description", "We fuse data from low-cost soil moisture sensors, a sensor "
		 "network in the field and satellite data to schedule irrigation of crops. "
		 "Bodemvochtsensoren in een sensornetwerk sturen de beregening.", SIZE_MAX, 1);
	ck_assert_int_ge(rules_screen(rs, req, &rep, NULL), 0);
	for (size_t i = 0; i < rep.n; i++)
		ck_assert_msg(strncmp(rep.v[i].rule, "NLD.SENSORS.", 12) != 0,
			      "soil moisture fired %s", rep.v[i].rule);
	mock_report_reset(&rep);
	mock_request_free(req);
	rules_free(rs);
	free(path);
}
END_TEST

/* Time the taxonomy alone on 20 KB of real project text (CORDIS
 * objectives), one thread: the knowledge-area part of the plugin's budget. */
struct text_acc {
	char *buf;
	size_t len;
};

static void add_text(void *arg, const char *colname, const char *text, size_t len)
{
	struct text_acc *a = arg;

	(void)colname;
	if (a->len + len + 1 >= 20000)
		return;
	memcpy(a->buf + a->len, text, len);
	a->len += len;
	a->buf[a->len++] = ' ';
}

START_TEST(taxonomy_speed)
{
	static const char *const cols[] = { "objective", NULL };
	const char *data = mock_shared_data();
	char *path = src_path("conf/rules/kennisveiligheid/taxonomy.conf"), file[1024];
	struct text_acc acc = { calloc(1, 20001), 0 };
	struct kvs_ruleset *rs = NULL;
	struct kvs_request *req;
	struct timespec t0, t1;
	const int runs = 200;
	double us;

	if (!data) {
		printf("taxonomy speed: shared data folder missing, skipped\n");
		free(acc.buf);
		free(path);
		return;
	}
	snprintf(file, sizeof(file), "%s/cordis-china-partner-projects/projects.csv", data);
	ck_assert_int_gt(mock_csv_each(file, cols, add_text, &acc), 0);
	ck_assert_int_eq(rules_load(&mock_host, NULL, path, &rs), 0);
	req = mock_request(KVS_REQ_PARTNERSHIP);
	mock_set(req, "/description", acc.buf, acc.len, 1);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
	for (int i = 0; i < runs; i++) {
		struct kvs_report rep = {0};

		ck_assert_int_ge(rules_screen(rs, req, &rep, NULL), 0);
		mock_report_reset(&rep);
	}
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
	us = ((double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3) / runs;
	printf("taxonomy speed: %zu bytes of CORDIS text, %zu nodes: %.0f us CPU per screen\n",
	       acc.len, rules_count(rs), us);
	mock_request_free(req);
	rules_free(rs);
	free(acc.buf);
	free(path);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("kv_taxonomy");
	TCase *t = tcase_create("taxonomy");

	tcase_add_test(t, taxonomy_nodes);
	tcase_add_test(t, taxonomy_soil_moisture);
	tcase_add_test(t, taxonomy_speed);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return ck_main(suite());
}
