/* ck_main.h - the main() of a Check test program: run one suite, exit 1 when a test failed. */
#ifndef KVS_CK_MAIN_H
#define KVS_CK_MAIN_H

#include <check.h>
#include <stdlib.h>

/* Tests never depend on machine speed: a per-test timeout only catches a
 * test that hangs, so it is generous.  Before main() builds the suite (Check
 * reads these when a test case is made): every test case gets
 * CK_DEFAULT_TIMEOUT = 300 s unless it sets its own, and every timeout is
 * multiplied by KVS_TEST_TIMEOUT_SCALE (default 1; the sanitizer run and a
 * slow machine raise it), through Check's CK_TIMEOUT_MULTIPLIER.  Values
 * the caller set in the environment win. */
__attribute__((constructor)) static void ck_timeouts(void)
{
	const char *scale = getenv("KVS_TEST_TIMEOUT_SCALE");

	setenv("CK_DEFAULT_TIMEOUT", "300", 0);
	if (scale && *scale)
		setenv("CK_TIMEOUT_MULTIPLIER", scale, 0);
}

/* The scale of KVS_TEST_TIMEOUT_SCALE for a bound a test waits itself. */
static inline double ck_timeout_scale(void)
{
	const char *s = getenv("KVS_TEST_TIMEOUT_SCALE");
	double f = s ? strtod(s, NULL) : 1.0;

	return f > 0 ? f : 1.0;
}

static inline int ck_main(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
