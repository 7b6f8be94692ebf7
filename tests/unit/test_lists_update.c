/* test_lists_update.c - the source syntax of lists.sources and the all-or-nothing swap of `kvscreen lists update`.
 *
 * rename(2) is interposed (this file's definition wins over libc's for the
 * objects of libkvs linked into the test) so that the k-th rename fails:
 * the swap must then put back the files it had already replaced.  The
 * download and validation path is tested end to end by
 * tests/lists_update.sh.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lists_update.h"
#include "ck_main.h"

static int fail_at;  /* 0: never; k: the k-th rename() fails with EIO */
static int calls;

int rename(const char *from, const char *to)
{
	if (fail_at && ++calls == fail_at) {
		errno = EIO;
		return -1;
	}
	return renameat(AT_FDCWD, from, AT_FDCWD, to);
}

static char *tmpdir(void)
{
	char *d = strdup("/tmp/kvs-test-swap.XXXXXX");

	ck_assert_ptr_nonnull(mkdtemp(d));
	return d;
}

static void put(const char *dir, const char *name, const char *text)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

/* The text of dir/name, or "" when there is none (static buffer). */
static const char *get(const char *dir, const char *name)
{
	static char buf[256];
	char p[512];
	FILE *f;
	size_t n;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	f = fopen(p, "r");
	if (!f)
		return "";
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void rm_rf(const char *dir)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static const char *const ofac[] = { "sdn.csv", "alt.csv", "add.csv" };

/* A list folder with the three old OFAC files and a stage with new ones. */
static void setup_ofac(char **dir, char **stage, int with_add)
{
	char s[512];

	*dir = tmpdir();
	snprintf(s, sizeof(s), "%s/.kvscreen-update.test", *dir);
	ck_assert_int_eq(mkdir(s, 0700), 0);
	*stage = strdup(s);
	put(*dir, "sdn.csv", "old sdn\n");
	put(*dir, "alt.csv", "old alt\n");
	if (with_add)
		put(*dir, "add.csv", "old add\n");
	put(*stage, "sdn.csv", "new sdn\n");
	put(*stage, "alt.csv", "new alt\n");
	put(*stage, "add.csv", "new add\n");
}

START_TEST(swap_all)
{
	char *dir, *stage, why[256] = "";
	struct stat before, after;
	char p[512];

	setup_ofac(&dir, &stage, 1);
	snprintf(p, sizeof(p), "%s/sdn.csv", dir);
	ck_assert_int_eq(stat(p, &before), 0);
	ck_assert_int_eq(lists_update_swap(dir, stage, ofac, 3, why, sizeof(why)), 0);
	ck_assert_str_eq(get(dir, "sdn.csv"), "new sdn\n");
	ck_assert_str_eq(get(dir, "alt.csv"), "new alt\n");
	ck_assert_str_eq(get(dir, "add.csv"), "new add\n");
	ck_assert_int_eq(stat(p, &after), 0);
	ck_assert(before.st_ino != after.st_ino);   /* renamed, not rewritten */
	/* The old files are kept in the stage until the caller removes it. */
	ck_assert_str_eq(get(stage, "old.sdn.csv"), "old sdn\n");
	ck_assert_str_eq(get(stage, "sdn.csv"), "");
	rm_rf(dir);
	free(dir);
	free(stage);
}
END_TEST

/* The k-th rename fails (k = 1, 2, 3): the files already replaced are put
 * back, so all three are the old ones. */
START_TEST(swap_rollback)
{
	char *dir, *stage, why[256] = "";

	setup_ofac(&dir, &stage, 1);
	calls = 0;
	fail_at = _i + 1;
	ck_assert_int_eq(lists_update_swap(dir, stage, ofac, 3, why, sizeof(why)), -EIO);
	fail_at = 0;
	ck_assert_str_eq(get(dir, "sdn.csv"), "old sdn\n");
	ck_assert_str_eq(get(dir, "alt.csv"), "old alt\n");
	ck_assert_str_eq(get(dir, "add.csv"), "old add\n");
	ck_assert_ptr_nonnull(strstr(why, ofac[_i]));
	ck_assert_ptr_nonnull(strstr(why, _i ? "were put back" : "nothing was replaced"));
	rm_rf(dir);
	free(dir);
	free(stage);
}
END_TEST

/* A file that did not exist before is removed again on rollback. */
START_TEST(swap_rollback_new_file)
{
	char *dir, *stage, why[256] = "";
	char p[512];
	const char *const order[] = { "add.csv", "sdn.csv", "alt.csv" };

	setup_ofac(&dir, &stage, 0);
	calls = 0;
	fail_at = 3;
	ck_assert_int_eq(lists_update_swap(dir, stage, order, 3, why, sizeof(why)), -EIO);
	fail_at = 0;
	snprintf(p, sizeof(p), "%s/add.csv", dir);
	ck_assert_int_eq(access(p, F_OK), -1);
	ck_assert_str_eq(get(dir, "sdn.csv"), "old sdn\n");
	ck_assert_str_eq(get(dir, "alt.csv"), "old alt\n");
	rm_rf(dir);
	free(dir);
	free(stage);
}
END_TEST

START_TEST(swap_single)
{
	char *dir = tmpdir(), why[256] = "";
	const char *const one[] = { "dpl.txt" };
	char s[512];

	snprintf(s, sizeof(s), "%s/.kvscreen-update.test", dir);
	ck_assert_int_eq(mkdir(s, 0700), 0);
	put(dir, "dpl.txt", "old\n");
	put(s, "dpl.txt", "new\n");
	ck_assert_int_eq(lists_update_swap(dir, s, one, 1, why, sizeof(why)), 0);
	ck_assert_str_eq(get(dir, "dpl.txt"), "new\n");
	/* One file needs no backup: its rename is atomic by itself. */
	ck_assert_str_eq(get(s, "old.dpl.txt"), "");
	put(s, "dpl.txt", "newer\n");
	calls = 0;
	fail_at = 1;
	ck_assert_int_eq(lists_update_swap(dir, s, one, 1, why, sizeof(why)), -EIO);
	fail_at = 0;
	ck_assert_str_eq(get(dir, "dpl.txt"), "new\n");
	ck_assert_int_eq(lists_update_swap(dir, s, one, 4, why, sizeof(why)), -EINVAL);
	rm_rf(dir);
	free(dir);
}
END_TEST

START_TEST(sources_valid)
{
	static const char *const ok[] = {
		"us_csl = https://data.trade.gov/consolidated.csv",
		"  ofac_sdn=https://a.example/SDN.CSV\thttps://a.example/ALT.CSV https://a.example/ADD.CSV ",
		"institute_own =",
		"un.sc-2 = HTTPS://scsanctions.un.org/resources/xml/en/consolidated.xml",
	};
	char err[256];

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		ck_assert_msg(lists_source_check(ok[i], 0, err, sizeof(err)) == 0, "%s: %s",
			      ok[i], err);
	ck_assert_int_eq(lists_source_check("x = http://127.0.0.1:8000/x.csv", 1, err,
					    sizeof(err)), 0);
}
END_TEST

START_TEST(sources_invalid)
{
	static const struct {
		const char *s;
		int allow_http;
		const char *err;
	} bad[] = {
		{ "= https://a.example/x", 0, "does not start with a list name" },
		{ "us csl = https://a.example/x", 0, "is not \"name = URL" },
		{ "us_csl https://a.example/x", 0, "is not \"name = URL" },
		{ "us_csl = http://a.example/x", 0, "lists.allow_http also permits http://" },
		{ "us_csl = file:///etc/passwd", 1, "only https:// URLs and http:// URLs" },
		{ "us_csl = ftp://a.example/x", 0, "only https:// URLs" },
		{ "us_csl = https://", 0, "only https:// URLs" },
		{ "a = https://x/1 https://x/2 https://x/3 https://x/4", 0, "more than 3 URLs" },
		{ "us_csl = https://a.example/\x01x", 0, "control character" },
	};
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		ck_assert_int_eq(lists_source_check(bad[i].s, bad[i].allow_http, err,
						    sizeof(err)), -EINVAL);
		ck_assert_msg(strstr(err, bad[i].err), "%s: got \"%s\"", bad[i].s, err);
	}
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("lists_update");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, swap_all);
	tcase_add_loop_test(tc, swap_rollback, 0, 3);
	tcase_add_test(tc, swap_rollback_new_file);
	tcase_add_test(tc, swap_single);
	tcase_add_test(tc, sources_valid);
	tcase_add_test(tc, sources_invalid);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return ck_main(suite());
}
