/* test_plugin_test.c - the installed plugin test harness (kvscreen/plugin_test.h) on the investment plugin.
 *
 * Linked against libkvscreen-plugin-test alone, as a plugin author's test
 * program is: loads the built investment.so with options, screens the
 * shipped spin-off example and checks the notification finding and its
 * evidence (the voting share, a number); option and request errors come
 * back as text.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvscreen/plugin_test.h"
#include "ck_main.h"

#define SO KVS_BUILDDIR "/plugins/investment/.libs/investment.so"
#define CONF KVS_SRCDIR "/conf"

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = calloc(1, 1 << 16);
	size_t n;

	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(buf);
	n = fread(buf, 1, (1 << 16) - 1, f);
	ck_assert_uint_gt(n, 0);
	fclose(f);
	return buf;
}

START_TEST(screens_investment)
{
	struct kvs_test *t = NULL;
	char err[2048], *req = read_file(CONF "/examples/investment-spinoff.json");

	ck_assert_msg(kvs_test_open(&t, SO,
				    "highly_sensitive_rules = [ \"rules/investment/sensitive-technology.conf\" ];",
				    CONF, err, sizeof(err)) == 0, "%s", err);
	ck_assert_ptr_null(kvs_test_verdict(t));
	ck_assert_msg(kvs_test_screen(t, req, err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(kvs_test_status(t), "ok");
	ck_assert_str_eq(kvs_test_decision(t), "escalate");
	ck_assert_uint_eq(kvs_test_count(t, "vifo.notify.significant_influence"), 1);
	ck_assert_str_eq(kvs_test_severity(t, "vifo.notify.significant_influence"), "high");
	/* The voting share that crossed the threshold: whole-value evidence. */
	ck_assert_msg(kvs_test_has_evidence(t, "vifo.notify.significant_influence",
					    "/investment/voting_rights_percent", "24"),
		      "%s", kvs_test_verdict(t));
	ck_assert(!kvs_test_has_evidence(t, "vifo.notify.significant_influence",
					 "/investment/voting_rights_percent", "25"));
	ck_assert_uint_eq(kvs_test_count(t, "no.such.rule"), 0);
	ck_assert_int_eq(kvs_test_screen(t, "{\"id\":\"x\",\"type\":\"gift\"}", err,
					 sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, "invalid_request") != NULL, "%s", err);
	kvs_test_close(t);
	free(req);
}
END_TEST

START_TEST(option_errors)
{
	struct kvs_test *t = NULL;
	char err[2048];

	ck_assert_int_eq(kvs_test_open(&t, SO, "control_percent = 50.0;\nnotify_severity = \"urgent\";",
				       CONF, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_null(t);
	ck_assert_msg(strstr(err, "options:2: notify_severity: \"urgent\" is not a severity") != NULL,
		      "%s", err);
	ck_assert_int_eq(kvs_test_open(&t, KVS_BUILDDIR "/nonexistent.so", NULL, NULL, err,
				       sizeof(err)), -EINVAL);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("plugin_test");
	TCase *tc = tcase_create("harness");

	tcase_add_test(tc, screens_investment);
	tcase_add_test(tc, option_errors);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return ck_main(suite());
}
