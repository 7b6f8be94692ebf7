/* ck_main.h - the main() of a Check test program: run one suite, exit 1 when a test failed. */
#ifndef KVS_CK_MAIN_H
#define KVS_CK_MAIN_H

#include <check.h>
#include <stdlib.h>

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
