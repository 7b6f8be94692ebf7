/* test_cases.c - the case journal on a real loop in a temporary folder: replay, versions, torn tail, bad CRC, compaction. */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "cases.h"
#include "digest.h"
#include "hex.h"
#include "ck_main.h"

static char tmpdir[256], journal[300];
static uv_loop_t loop;
static int done_calls, done_status;

static const char P1[] = "1111111111111111111111111111111111111111111111111111111111111111";
static const char P2[] = "2222222222222222222222222222222222222222222222222222222222222222";
static const char RD[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
static const char VD[] = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void setup(void)
{
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	snprintf(tmpdir, sizeof(tmpdir), "%s/test_cases.XXXXXX", base);
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(journal, sizeof(journal), "%s/cases/journal", tmpdir);
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	done_calls = 0;
	done_status = 1;
}

static void teardown(void)
{
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void on_done(void *data, int status)
{
	done_calls++;
	done_status = status;
}

static void on_shut(void *data)
{
	*(int *)data = 1;
}

static struct cases *open_cases(void)
{
	struct cases *cs = NULL;
	char err[512];

	ck_assert_msg(cases_open(&loop, tmpdir, &cs, err, sizeof(err)) == 0, "%s", err);
	return cs;
}

static void close_cases(struct cases *cs)
{
	int shut = 0;

	cases_shutdown(cs, on_shut, &shut);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(shut, 1);
	cases_free(cs);
}

static off_t file_size(const char *p)
{
	struct stat sb;

	ck_assert_int_eq(stat(p, &sb), 0);
	return sb.st_size;
}

/* Two cases: a with versions 1 and 2 (posted), b closed. */
static void fill(struct cases *cs)
{
	struct kcase *a;
	unsigned n = 0;

	ck_assert_int_eq(cases_add(cs, "a", RD, "{\"id\":\"a\"}", P1, VD, "{\"d\":\"clear\"}",
				   on_done, NULL), 0);
	/* A second open of the same id before the first is durable. */
	ck_assert_int_eq(cases_add(cs, "a", RD, "{}", P1, VD, "{}", on_done, NULL), -EBUSY);
	ck_assert_int_eq(cases_add(cs, "b", RD, "{\"id\":\"b\"}", P1, VD, "{\"d\":\"clear\"}",
				   on_done, NULL), 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(done_calls, 2);
	ck_assert_int_eq(done_status, 0);
	a = cases_get(cs, "a");
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(cases_add_version(cs, a, P2, "{\"version\":2}", 13, "{\"d\":\"deny\"}", &n,
					   on_done, NULL), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(cases_posted(cs, a, 2), 0);
	ck_assert_int_eq(cases_close(cs, cases_get(cs, "b"), CASE_CLOSED, on_done, NULL), 0);
	ck_assert_int_eq(cases_close(cs, cases_get(cs, "b"), CASE_CLOSED, on_done, NULL), -EALREADY);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(done_calls, 4);
	ck_assert_int_eq(done_status, 0);
}

/* The request of c reads back as want (from the journal, not memory). */
static void check_request(struct cases *cs, const struct kcase *c, const char *want)
{
	char *req = NULL;

	ck_assert_ptr_null(c->pending_request);
	ck_assert_int_eq(cases_request(cs, c, &req), 0);
	ck_assert_str_eq(req, want);
	free(req);
}

static void check_filled(struct cases *cs)
{
	struct kcase *a = cases_get(cs, "a"), *b = cases_get(cs, "b");
	enum case_state st;
	unsigned v = 0;
	char dg[65], want[65], hx[65], long_hex[66];
	unsigned char bin[32];

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	check_request(cs, a, "{\"id\":\"a\"}");
	check_request(cs, b, "{\"id\":\"b\"}");
	ck_assert_uint_eq(a->n_v, 2);
	ck_assert_str_eq(a->v[1].msg, "{\"version\":2}");
	ck_assert(a->v[1].posted);
	ck_assert_str_eq(a->policy, P2);
	ck_assert_int_eq(cases_current(cs, "a", &v, dg, &st), 0);
	ck_assert_uint_eq(v, 2);
	ck_assert_int_eq(st, CASE_OPEN);
	/* The digest held in binary reads back as the hex of the text. */
	ck_assert_int_eq(digest_buffer(a->v[1].msg, strlen(a->v[1].msg), want), 0);
	ck_assert_str_eq(dg, want);
	hex_encode(a->v[1].digest, 32, hx);
	ck_assert_str_eq(hx, want);
	/* What the hex parser refuses: upper case, short, long, other bytes. */
	ck_assert_int_eq(hex_decode(want, bin, 32), 0);
	ck_assert_mem_eq(bin, a->v[1].digest, 32);
	strcpy(hx, want);
	hx[5] = 'A';
	ck_assert_int_eq(hex_decode(hx, bin, 32), -EINVAL);
	hx[5] = 'g';
	ck_assert_int_eq(hex_decode(hx, bin, 32), -EINVAL);
	ck_assert_int_eq(hex_decode("0123", bin, 32), -EINVAL);
	ck_assert_int_eq(hex_decode(NULL, bin, 32), -EINVAL);
	strcpy(long_hex, want);
	strcat(long_hex, "0");
	ck_assert_int_eq(hex_decode(long_hex, bin, 32), -EINVAL);
	ck_assert(!cases_request_is(a, hx));
	ck_assert_int_eq(cases_current(cs, "b", &v, NULL, &st), 0);
	ck_assert_int_eq(st, CASE_CLOSED);
	ck_assert_int_eq(cases_current(cs, "zz", &v, NULL, NULL), -ENOENT);
	ck_assert_uint_eq(cases_count(cs), 2);
	ck_assert_ptr_eq(cases_nth(cs, 0), a);
}

START_TEST(replay_restores_everything)
{
	struct cases *cs = open_cases();

	fill(cs);
	close_cases(cs);
	cs = open_cases();
	check_filled(cs);
	/* The next version continues from the journal. */
	{
		unsigned n = 0;

		ck_assert_int_eq(cases_add_version(cs, cases_get(cs, "a"), P1, "{}", 2, "{}", &n,
						   NULL, NULL), 0);
		ck_assert_uint_eq(n, 3);
		ck_assert_int_eq(cases_add_version(cs, cases_get(cs, "b"), P1, "{}", 2, "{}", &n,
						   NULL, NULL), -EINVAL);
	}
	close_cases(cs);
}
END_TEST

static void history_cb(void *data, const struct case_version *v)
{
	int *n = data;

	ck_assert_uint_eq(v->n, (unsigned)++*n);
}

START_TEST(history_lists_versions)
{
	struct cases *cs = open_cases();
	int n = 0;

	fill(cs);
	ck_assert_int_eq(cases_history(cs, "a", history_cb, &n), 0);
	ck_assert_int_eq(n, 2);
	ck_assert_int_eq(cases_history(cs, "nope", history_cb, &n), -ENOENT);
	close_cases(cs);
}
END_TEST

START_TEST(torn_tail_is_cut)
{
	struct cases *cs = open_cases();
	struct cases_stats st;
	off_t full;
	int fd;

	fill(cs);
	close_cases(cs);
	full = file_size(journal);
	/* Half a record at the end, as a crash mid-write leaves it. */
	fd = open(journal, O_WRONLY | O_APPEND);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "\x40\x00\x00\x00\x01\x02\x03\x04{\"t\":\"c\"", 16), 16);
	close(fd);
	cs = open_cases();
	cases_stats(cs, &st);
	ck_assert_uint_eq(st.torn, 1);
	ck_assert_uint_eq(st.corrupt, 0);
	ck_assert_int_eq(file_size(journal), full);
	check_filled(cs);
	close_cases(cs);
	/* A header cut short is cut too. */
	fd = open(journal, O_WRONLY | O_APPEND);
	ck_assert_int_eq(write(fd, "\x05\x00", 2), 2);
	close(fd);
	cs = open_cases();
	ck_assert_int_eq(file_size(journal), full);
	check_filled(cs);
	close_cases(cs);
}
END_TEST

START_TEST(bad_crc_is_skipped_or_cut)
{
	struct cases *cs = open_cases();
	struct cases_stats st;
	char buf[8];
	off_t size;
	int fd;

	ck_assert_int_eq(cases_add(cs, "x", RD, "{\"id\":\"x\"}", P1, VD, "{}", on_done, NULL), 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(cases_add(cs, "y", RD, "{\"id\":\"y\"}", P1, VD, "{}", on_done, NULL), 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	close_cases(cs);
	/* Flip a byte of the first record's payload: skipped, y survives. */
	fd = open(journal, O_RDWR);
	ck_assert_int_eq(pread(fd, buf, 8, 0), 8);
	ck_assert_int_eq(pread(fd, buf, 1, 20), 1);
	buf[0] ^= 0x20;
	ck_assert_int_eq(pwrite(fd, buf, 1, 20), 1);
	close(fd);
	cs = open_cases();
	cases_stats(cs, &st);
	ck_assert_uint_eq(st.corrupt, 1);
	ck_assert_ptr_null(cases_get(cs, "x"));
	ck_assert_ptr_nonnull(cases_get(cs, "y"));
	close_cases(cs);
	/* A bad CRC in the last record: cut like a torn tail. */
	size = file_size(journal);
	fd = open(journal, O_RDWR);
	ck_assert_int_eq(pread(fd, buf, 1, size - 3), 1);
	buf[0] ^= 0x01;
	ck_assert_int_eq(pwrite(fd, buf, 1, size - 3), 1);
	close(fd);
	cs = open_cases();
	cases_stats(cs, &st);
	ck_assert_uint_eq(st.torn, 1);
	ck_assert_ptr_null(cases_get(cs, "y"));
	ck_assert_int_lt(file_size(journal), size);
	close_cases(cs);
}
END_TEST

START_TEST(mostly_dead_journal_is_compacted)
{
	struct cases *cs = open_cases();
	struct cases_stats st;
	off_t before;

	fill(cs);
	/* Many "checked" records of one case: all but the last are dead. */
	for (int i = 0; i < 4000; i++)
		ck_assert_int_eq(cases_checked(cs, cases_get(cs, "a"), i % 2 ? P1 : P2), 0);
	close_cases(cs);
	before = file_size(journal);
	ck_assert_int_gt(before, 65536);
	cs = open_cases();
	cases_stats(cs, &st);
	ck_assert_int_eq(st.compacted, 1);
	ck_assert_int_lt(file_size(journal), before / 10);
	/* The requests are read from where compaction put them. */
	check_request(cs, cases_get(cs, "a"), "{\"id\":\"a\"}");
	check_request(cs, cases_get(cs, "b"), "{\"id\":\"b\"}");
	ck_assert_str_eq(cases_get(cs, "a")->policy, P1);
	ck_assert_uint_eq(cases_get(cs, "a")->n_v, 2);
	close_cases(cs);
	/* The compacted journal replays to the same state, and is not
	 * compacted again. */
	cs = open_cases();
	cases_stats(cs, &st);
	ck_assert_int_eq(st.compacted, 0);
	ck_assert_str_eq(cases_get(cs, "a")->policy, P1);
	ck_assert_str_eq(cases_get(cs, "a")->v[1].msg, "{\"version\":2}");
	ck_assert(cases_get(cs, "a")->v[1].posted);
	ck_assert_int_eq(cases_get(cs, "b")->state, CASE_CLOSED);
	close_cases(cs);
}
END_TEST

/* The request of case i of many_cases(): about 1 KB, case 700 1.5 MB. */
static char *big_request(int i)
{
	size_t pad = i == 700 ? 1500000 : 900 + (size_t)(i * 37) % 200;
	char *s = malloc(pad + 64);
	int n;

	ck_assert_ptr_nonnull(s);
	n = snprintf(s, 64, "{\"id\":\"c%d\",\"pad\":\"", i);
	memset(s + n, 'a' + i % 26, pad);
	strcpy(s + n + pad, "\"}");
	return s;
}

static void check_many(struct cases *cs, int n)
{
	ck_assert_uint_eq(cases_count(cs), (size_t)n);
	for (int i = 0; i < n; i++) {
		char id[16], *want = big_request(i);

		snprintf(id, sizeof(id), "c%d", i);
		ck_assert_ptr_nonnull(cases_get(cs, id));
		check_request(cs, cases_get(cs, id), want);
		free(want);
	}
}

/* A journal larger than replay's read window (1 MB), with a record larger
 * than the window, replays whole; compacted, it is written in pieces and
 * every request is found where compaction put it. */
START_TEST(journal_larger_than_read_window)
{
	struct cases *cs = open_cases();
	struct cases_stats st;
	const int n = 1500;

	for (int i = 0; i < n; i++) {
		char id[16], *req = big_request(i);

		snprintf(id, sizeof(id), "c%d", i);
		ck_assert_int_eq(cases_add(cs, id, RD, req, P1, VD, "{}", on_done, NULL), 0);
		free(req);
		if (i % 100 == 99)
			uv_run(&loop, UV_RUN_DEFAULT);
	}
	close_cases(cs);
	ck_assert_int_gt(file_size(journal), 3 << 20);
	cs = open_cases();
	cases_stats(cs, &st);
	ck_assert_int_eq(st.compacted, 0);
	ck_assert_int_eq(st.corrupt + st.torn, 0);
	check_many(cs, n);
	/* Dead records past half the file: compacted at the next open. */
	for (int i = 0; i < 40000; i++)
		ck_assert_int_eq(cases_checked(cs, cases_get(cs, "c1"), i % 2 ? P1 : P2), 0);
	close_cases(cs);
	cs = open_cases();
	cases_stats(cs, &st);
	ck_assert_int_eq(st.compacted, 1);
	check_many(cs, n);
	close_cases(cs);
	cs = open_cases();
	check_many(cs, n);
	close_cases(cs);
}
END_TEST

/* A request stays in memory only until its open record is durable; then
 * it is read back, and a damaged record gives -EIO, not a wrong request. */
START_TEST(request_read_back_from_journal)
{
	struct cases *cs = open_cases();
	struct kcase *c;
	char *req = NULL;
	int fd;

	ck_assert_int_eq(cases_add(cs, "r1", RD, "{\"id\":\"r1\"}", P1, VD, "{}", on_done, NULL),
			 0);
	c = cases_get(cs, "r1");
	ck_assert_ptr_nonnull(c->pending_request);
	ck_assert_int_eq(cases_request(cs, c, &req), 0);
	ck_assert_str_eq(req, "{\"id\":\"r1\"}");
	free(req);
	/* A second case queued behind it: its offset counts the first. */
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(cases_add(cs, "r2", RD, "{\"id\":\"r2\"}", P1, VD, "{}", on_done, NULL),
			 0);
	ck_assert_int_eq(cases_add(cs, "r3", RD, "{\"id\":\"r3\"}", P1, VD, "{}", on_done, NULL),
			 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(done_status, 0);
	check_request(cs, c, "{\"id\":\"r1\"}");
	check_request(cs, cases_get(cs, "r2"), "{\"id\":\"r2\"}");
	check_request(cs, cases_get(cs, "r3"), "{\"id\":\"r3\"}");
	/* One byte of r2's record changed on disk. */
	fd = open(journal, O_WRONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, "X", 1, (off_t)cases_get(cs, "r2")->open_off + 20), 1);
	close(fd);
	ck_assert_int_eq(cases_request(cs, cases_get(cs, "r2"), &req), -EIO);
	ck_assert_ptr_null(req);
	check_request(cs, cases_get(cs, "r3"), "{\"id\":\"r3\"}");
	close_cases(cs);
}
END_TEST

START_TEST(unposted_version_stays_unposted)
{
	struct cases *cs = open_cases();
	unsigned n;

	ck_assert_int_eq(cases_add(cs, "a", RD, "{}", P1, VD, "{}", on_done, NULL), 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(cases_add_version(cs, cases_get(cs, "a"), P2, "{\"v\":2}", 7, "{}", &n,
					   on_done, NULL), 0);
	close_cases(cs);
	cs = open_cases();
	ck_assert_uint_eq(cases_get(cs, "a")->n_v, 2);
	ck_assert(!cases_get(cs, "a")->v[1].posted);
	ck_assert_str_eq(cases_get(cs, "a")->v[1].msg, "{\"v\":2}");
	close_cases(cs);
}
END_TEST

START_TEST(policy_lists_survive)
{
	struct cases *cs = open_cases();

	ck_assert_int_eq(cases_set_policy_lists(cs, P1, "{\"own\":\"2026-12-01\"}"), 0);
	ck_assert_int_eq(cases_set_policy_lists(cs, P2, "not json"), -EINVAL);
	close_cases(cs);
	cs = open_cases();
	ck_assert_str_eq(cases_policy_lists(cs, P1), "{\"own\":\"2026-12-01\"}");
	ck_assert_ptr_null(cases_policy_lists(cs, P2));
	close_cases(cs);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cases");
	TCase *tc = tcase_create("journal");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, replay_restores_everything);
	tcase_add_test(tc, history_lists_versions);
	tcase_add_test(tc, torn_tail_is_cut);
	tcase_add_test(tc, bad_crc_is_skipped_or_cut);
	tcase_add_test(tc, mostly_dead_journal_is_compacted);
	tcase_add_test(tc, request_read_back_from_journal);
	tcase_add_test(tc, journal_larger_than_read_window);
	tcase_add_test(tc, unposted_version_stays_unposted);
	tcase_add_test(tc, policy_lists_survive);
	suite_add_tcase(s, tc);
	return ck_main(s);
}
