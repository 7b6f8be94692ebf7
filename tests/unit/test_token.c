/* test_token.c - the API token file: creation, permissions, parsing, checking. */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "token.h"
#include "ck_main.h"

static char dir[64];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/kvs-token-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	ck_assert_int_eq(chmod(path, mode), 0);
}

START_TEST(created_when_missing)
{
	struct token_set ts;
	char path[128], err[256], tok[128];
	struct stat st;
	int created = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/api-token", dir);
	ck_assert_int_eq(token_load(path, 1, &ts, &created, err, sizeof(err)), 0);
	ck_assert_int_eq(created, 1);
	ck_assert_uint_eq(ts.n, 1);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(fgets(tok, sizeof(tok), f));
	fclose(f);
	ck_assert_uint_eq(strlen(tok), 65);
	ck_assert_uint_eq(strspn(tok, "0123456789abcdef"), 64);
	ck_assert_int_eq(token_check(&ts, tok, 64), 1);
	ck_assert_int_eq(token_check(&ts, tok, 63), 0);
	tok[0] = tok[0] == 'a' ? 'b' : 'a';
	ck_assert_int_eq(token_check(&ts, tok, 64), 0);
	/* Loading again reads the same file, creates nothing. */
	ck_assert_int_eq(token_load(path, 1, &ts, &created, err, sizeof(err)), 0);
	ck_assert_int_eq(created, 0);
	/* Without create, a missing file is an error. */
	snprintf(path, sizeof(path), "%s/none", dir);
	ck_assert_int_lt(token_load(path, 0, &ts, &created, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, path));
}
END_TEST

START_TEST(several_tokens_and_comments)
{
	struct token_set ts;
	char path[128], err[256];

	snprintf(path, sizeof(path), "%s/tokens", dir);
	write_file(path, "# admins keep this file\n\n  alpha-token  \nbeta\r\n# gone\n", 0600);
	ck_assert_int_eq(token_load(path, 0, &ts, NULL, err, sizeof(err)), 0);
	ck_assert_uint_eq(ts.n, 2);
	ck_assert_int_eq(token_check(&ts, "alpha-token", 11), 1);
	ck_assert_int_eq(token_check(&ts, "beta", 4), 1);
	ck_assert_int_eq(token_check(&ts, "# gone", 6), 0);
	ck_assert_int_eq(token_check(&ts, "", 0), 0);
}
END_TEST

START_TEST(refused_files)
{
	struct token_set ts;
	char path[128], err[256];

	snprintf(path, sizeof(path), "%s/t", dir);
	write_file(path, "secret\n", 0620);
	ck_assert_int_eq(token_load(path, 0, &ts, NULL, err, sizeof(err)), -EPERM);
	ck_assert_ptr_nonnull(strstr(err, "writable"));
	write_file(path, "secret\n", 0602);
	ck_assert_int_eq(token_load(path, 0, &ts, NULL, err, sizeof(err)), -EPERM);
	write_file(path, "# only a comment\n", 0600);
	ck_assert_int_eq(token_load(path, 0, &ts, NULL, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "no token"));
	write_file(path, "tok\001en\n", 0600);
	ck_assert_int_eq(token_load(path, 0, &ts, NULL, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, ":1: "));
	write_file(path, "token name\001\n", 0600);
	ck_assert_int_eq(token_load(path, 0, &ts, NULL, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, ":1: the name after the token contains a control"));
	ck_assert_int_eq(token_load(dir, 0, &ts, NULL, err, sizeof(err)), -EINVAL);
}
END_TEST

/* "TOKEN NAME": an officer's own token; the name is not part of the token. */
START_TEST(named_tokens)
{
	struct token_set ts;
	char path[128], err[256], longname[200];

	snprintf(path, sizeof(path), "%s/t", dir);
	write_file(path, "shared-token\nofficer-token   Jan de Vries  \n", 0600);
	ck_assert_int_eq(token_load(path, 0, &ts, NULL, err, sizeof(err)), 0);
	ck_assert_uint_eq(ts.n, 2);
	ck_assert_int_eq(token_find(&ts, "shared-token", 12), 0);
	ck_assert_str_eq(ts.name[0], "");
	ck_assert_int_eq(token_find(&ts, "officer-token", 13), 1);
	ck_assert_str_eq(ts.name[1], "Jan de Vries");
	ck_assert_int_eq(token_find(&ts, "officer-token Jan de Vries", 26), -1);
	ck_assert_int_eq(token_check(&ts, "officer-token", 13), 1);
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	{
		char text[300];

		snprintf(text, sizeof(text), "tok %s\n", longname);
		write_file(path, text, 0600);
	}
	ck_assert_int_eq(token_load(path, 0, &ts, NULL, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "longer than 128 bytes"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("token");
	TCase *tc = tcase_create("token");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, created_when_missing);
	tcase_add_test(tc, several_tokens_and_comments);
	tcase_add_test(tc, refused_files);
	tcase_add_test(tc, named_tokens);
	suite_add_tcase(s, tc);
	return ck_main(s);
}
