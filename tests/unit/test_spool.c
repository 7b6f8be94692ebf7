/* test_spool.c - the spool intake on a real loop in a temporary folder. */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include <jansson.h>

#include "spool.h"
#include "ck_main.h"

#define MAX_SEEN 64

static char tmpdir[256];
static uv_loop_t loop;

/* What the screen callback saw; items are finished by the tests. */
struct seen {
	int calls;
	struct spool_item *items[MAX_SEEN];
	char names[MAX_SEEN][256];
	char *bufs[MAX_SEEN];
	size_t lens[MAX_SEEN];
};

static struct seen seen;

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void setup(void)
{
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	snprintf(tmpdir, sizeof(tmpdir), "%s/test_spool.XXXXXX", base);
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	memset(&seen, 0, sizeof(seen));
}

static void teardown(void)
{
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	for (int i = 0; i < seen.calls && i < MAX_SEEN; i++)
		free(seen.bufs[i]);
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void screen_cb(void *data, struct spool_item *item, const char *name, const char *buf,
		      size_t len)
{
	int i = seen.calls++;

	ck_assert_int_lt(i, MAX_SEEN);
	ck_assert_uint_eq(strlen(buf), len);
	seen.items[i] = item;
	snprintf(seen.names[i], sizeof(seen.names[i]), "%s", name);
	seen.bufs[i] = strndup(buf, len);
	seen.lens[i] = len;
}

static void run_for(unsigned ms)
{
	uint64_t end;

	uv_update_time(&loop);
	end = uv_now(&loop) + ms;
	while (uv_now(&loop) < end) {
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(2000);
		uv_update_time(&loop);
	}
}

/* Run the loop until cond(arg) holds (60 s at most, scaled). */
static void run_until(int (*cond)(const char *), const char *arg)
{
	uint64_t deadline;

	uv_update_time(&loop);
	deadline = uv_now(&loop) + (uint64_t)(60000 * ck_timeout_scale());
	while (!cond(arg)) {
		ck_assert_msg(uv_now(&loop) < deadline, "timed out waiting for %s", arg);
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(2000);
		uv_update_time(&loop);
	}
}

static int calls_reach(const char *n)
{
	return seen.calls >= atoi(n);
}

static int exists(const char *sub)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, sub);
	return access(path, F_OK) == 0;
}

static void closed_cb(void *data)
{
	(*(int *)data)++;
}

static int closed_flag;

static int is_closed(const char *unused)
{
	return closed_flag > 0;
}

static void close_spool(struct spool *sp)
{
	closed_flag = 0;
	spool_close(sp, closed_cb, &closed_flag);
	run_until(is_closed, "close");
}

static struct spool *open_spool(size_t max_bytes, unsigned max_inflight)
{
	struct spool *sp = NULL;

	ck_assert_int_eq(spool_open(&loop, tmpdir, max_bytes, 100, max_inflight, screen_cb, NULL, &sp), 0);
	spool_set_settle(sp, 50);
	return sp;
}

/* Write `text` to incoming/NAME the way DESIGN.md asks: elsewhere, then
 * rename in. */
static void drop(const char *name, const char *text)
{
	char tmp[512], final[512];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s/incoming/.%s.tmp", tmpdir, name);
	snprintf(final, sizeof(final), "%s/incoming/%s", tmpdir, name);
	f = fopen(tmp, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(rename(tmp, final), 0);
}

static char *slurp(const char *sub)
{
	char path[1024];
	struct stat st;
	char *buf;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, sub);
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	fstat(fileno(f), &st);
	buf = calloc(1, (size_t)st.st_size + 1);
	ck_assert_uint_eq(fread(buf, 1, (size_t)st.st_size, f), (size_t)st.st_size);
	fclose(f);
	return buf;
}

static const char REQ[] = "{\"schema\":\"kvscreen.request/v1\",\"id\":\"r1\",\"type\":\"export\"}";

START_TEST(test_good_file_goes_to_done)
{
	struct spool *sp = open_spool(1 << 20, 4);

	ck_assert(exists("incoming") && exists("done") && exists("rejected"));
	drop("good.json", REQ);
	run_until(calls_reach, "1");
	ck_assert_str_eq(seen.names[0], "good.json");
	ck_assert_str_eq(seen.bufs[0], REQ);
	/* Not moved before the verdict is durable. */
	run_for(300);
	ck_assert_int_eq(seen.calls, 1);
	ck_assert(exists("incoming/good.json"));
	spool_finish(seen.items[0], 0, NULL);
	run_until(exists, "done/good.json");
	ck_assert(!exists("incoming/good.json"));
	run_for(300);
	ck_assert_int_eq(seen.calls, 1);
	close_spool(sp);
}
END_TEST

START_TEST(test_bad_file_goes_to_rejected)
{
	static const char err[] = "{\"error\":{\"code\":\"invalid_json\",\"message\":\"1:2: bad\",\"path\":\"\"}}";
	struct spool *sp = open_spool(1 << 20, 4);
	char *text;

	drop("bad.json", "{not json");
	run_until(calls_reach, "1");
	spool_finish(seen.items[0], -EINVAL, err);
	run_until(exists, "rejected/bad.error.json");
	run_until(exists, "rejected/bad.json");
	ck_assert(!exists("incoming/bad.json"));
	text = slurp("rejected/bad.error.json");
	ck_assert_str_eq(text, err);
	free(text);
	text = slurp("rejected/bad.json");
	ck_assert_str_eq(text, "{not json");
	free(text);
	close_spool(sp);
}
END_TEST

/* A writer reusing a name: the earlier done/ and rejected/ files stay. */
START_TEST(test_reused_name_kept)
{
	struct spool *sp = open_spool(1 << 20, 4);
	char *text;
	int n;

	drop("same.json", "{\"v\":1}");
	run_until(calls_reach, "1");
	spool_finish(seen.items[0], 0, NULL);
	run_until(exists, "done/same.json");
	drop("same.json", "{\"v\":2}");
	run_until(calls_reach, "2");
	spool_finish(seen.items[1], 0, NULL);
	drop("bad.json", "{\"v\":3}");
	run_until(calls_reach, "3");
	spool_finish(seen.items[2], -EINVAL, NULL);
	run_until(exists, "rejected/bad.error.json");
	drop("bad.json", "{\"v\":4}");
	run_until(calls_reach, "4");
	spool_finish(seen.items[3], -EINVAL, NULL);
	run_for(500);
	ck_assert(!exists("incoming/same.json") && !exists("incoming/bad.json"));
	text = slurp("done/same.json");
	ck_assert_str_eq(text, "{\"v\":1}");
	free(text);
	text = slurp("rejected/bad.json");
	ck_assert_str_eq(text, "{\"v\":3}");
	free(text);
	{
		char path[512];
		struct dirent **ents;

		snprintf(path, sizeof(path), "%s/done", tmpdir);
		n = scandir(path, &ents, NULL, alphasort);
		ck_assert_int_eq(n, 4);	/* ., .., same.json, same.<ns>.json */
		for (int i = 0; i < n; i++)
			free(ents[i]);
		free(ents);
		snprintf(path, sizeof(path), "%s/rejected", tmpdir);
		n = scandir(path, &ents, NULL, alphasort);
		ck_assert_int_eq(n, 6);	/* and two error files */
		for (int i = 0; i < n; i++) {
			if (strncmp(ents[i]->d_name, "bad.", 4) == 0 &&
			    strcmp(ents[i]->d_name, "bad.json") != 0 &&
			    strcmp(ents[i]->d_name, "bad.error.json") != 0) {
				size_t l = strlen(ents[i]->d_name);

				ck_assert(strcmp(ents[i]->d_name + l - 5, ".json") == 0);
			}
			free(ents[i]);
		}
		free(ents);
	}
	close_spool(sp);
}
END_TEST

START_TEST(test_transient_failure_retries)
{
	struct spool *sp = open_spool(1 << 20, 4);

	drop("again.json", REQ);
	run_until(calls_reach, "1");
	spool_finish(seen.items[0], -EIO, NULL);
	/* Left in incoming/ and screened again at a later rescan. */
	run_until(calls_reach, "2");
	ck_assert_str_eq(seen.names[1], "again.json");
	ck_assert(exists("incoming/again.json"));
	spool_finish(seen.items[1], 0, NULL);
	run_until(exists, "done/again.json");
	close_spool(sp);
}
END_TEST

START_TEST(test_file_present_at_start)
{
	char path[512];
	struct spool *sp;

	snprintf(path, sizeof(path), "%s/incoming", tmpdir);
	ck_assert_int_eq(mkdir(path, 0750), 0);
	drop("left-over.json", REQ);
	sp = open_spool(1 << 20, 4);
	run_until(calls_reach, "1");
	ck_assert_str_eq(seen.names[0], "left-over.json");
	spool_finish(seen.items[0], 0, NULL);
	run_until(exists, "done/left-over.json");
	close_spool(sp);
}
END_TEST

START_TEST(test_ignores_other_names)
{
	struct spool *sp = open_spool(1 << 20, 4);

	drop(".hidden.json", REQ);
	drop("partial.json.tmp", REQ);
	drop("notes.txt", REQ);
	drop("x.json~", REQ);
	drop("real.json", REQ);
	run_until(calls_reach, "1");
	run_for(400);
	ck_assert_int_eq(seen.calls, 1);
	ck_assert_str_eq(seen.names[0], "real.json");
	spool_finish(seen.items[0], 0, NULL);
	run_until(exists, "done/real.json");
	ck_assert(exists("incoming/.hidden.json") && exists("incoming/partial.json.tmp") &&
		  exists("incoming/notes.txt") && exists("incoming/x.json~"));
	close_spool(sp);
}
END_TEST

/* A writer that creates NAME.json in place and writes it in two halves,
 * pausing longer than the settle time and several rescans in between. */
START_TEST(test_growing_file_not_read_half)
{
	struct spool *sp = open_spool(1 << 20, 4);
	size_t half = sizeof(REQ) / 2;
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/incoming/inplace.json", tmpdir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0640);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, REQ, half), (ssize_t)half);
	run_for(800);
	ck_assert_int_eq(seen.calls, 0);
	ck_assert_int_eq(write(fd, REQ + half, strlen(REQ) - half), (ssize_t)(strlen(REQ) - half));
	run_for(300);
	ck_assert_int_eq(seen.calls, 0);	/* still open for writing */
	ck_assert_int_eq(close(fd), 0);
	run_until(calls_reach, "1");
	ck_assert_str_eq(seen.bufs[0], REQ);
	spool_finish(seen.items[0], 0, NULL);
	run_until(exists, "done/inplace.json");
	close_spool(sp);
}
END_TEST

/* The same writer, renaming its half-written temporary file in only when
 * it is complete. */
START_TEST(test_growing_temp_then_rename)
{
	struct spool *sp = open_spool(1 << 20, 4);
	size_t half = sizeof(REQ) / 2;
	char tmp[512], final[512];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s/incoming/.late.json.part", tmpdir);
	snprintf(final, sizeof(final), "%s/incoming/late.json", tmpdir);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0640);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, REQ, half), (ssize_t)half);
	run_for(400);
	ck_assert_int_eq(seen.calls, 0);
	ck_assert_int_eq(write(fd, REQ + half, strlen(REQ) - half), (ssize_t)(strlen(REQ) - half));
	ck_assert_int_eq(close(fd), 0);
	ck_assert_int_eq(rename(tmp, final), 0);
	run_until(calls_reach, "1");
	ck_assert_str_eq(seen.names[0], "late.json");
	ck_assert_str_eq(seen.bufs[0], REQ);
	spool_finish(seen.items[0], 0, NULL);
	run_until(exists, "done/late.json");
	close_spool(sp);
}
END_TEST

START_TEST(test_size_limit)
{
	struct spool *sp = open_spool(64, 4);
	char big[200];
	json_t *j;
	char *text;

	memset(big, ' ', sizeof(big) - 1);
	big[0] = '{';
	big[sizeof(big) - 2] = '}';
	big[sizeof(big) - 1] = '\0';
	drop("big.json", big);
	drop("small.json", "{}");
	run_until(exists, "rejected/big.error.json");
	run_until(exists, "rejected/big.json");
	text = slurp("rejected/big.error.json");
	j = json_loads(text, 0, NULL);
	ck_assert_ptr_nonnull(j);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
			 "too_large");
	ck_assert_ptr_nonnull(json_object_get(json_object_get(j, "error"), "message"));
	ck_assert_ptr_nonnull(json_object_get(json_object_get(j, "error"), "path"));
	json_decref(j);
	free(text);
	run_until(calls_reach, "1");
	ck_assert_str_eq(seen.names[0], "small.json");
	spool_finish(seen.items[0], 0, NULL);
	run_until(exists, "done/small.json");
	close_spool(sp);
}
END_TEST

START_TEST(test_symlink_rejected)
{
	struct spool *sp;
	char path[512];

	sp = open_spool(1 << 20, 4);
	snprintf(path, sizeof(path), "%s/incoming/link.json", tmpdir);
	ck_assert_int_eq(symlink("/etc/passwd", path), 0);
	run_until(exists, "rejected/link.error.json");
	ck_assert_int_eq(seen.calls, 0);
	close_spool(sp);
}
END_TEST

/* A hard link to a file outside the spool is not read, and nothing of the
 * file lands in the error file. */
START_TEST(test_hard_link_rejected)
{
	struct spool *sp;
	char outside[512], path[512];
	FILE *f;
	char *err;

	snprintf(outside, sizeof(outside), "%s/secret", tmpdir);
	f = fopen(outside, "w");
	ck_assert_ptr_nonnull(f);
	fputs("root:SECRET-HASH:19000:0:99999:7:::\n", f);
	ck_assert_int_eq(fclose(f), 0);
	sp = open_spool(1 << 20, 4);
	snprintf(path, sizeof(path), "%s/incoming/h.json", tmpdir);
	ck_assert_int_eq(link(outside, path), 0);
	run_until(exists, "rejected/h.error.json");
	ck_assert_int_eq(seen.calls, 0);
	err = slurp("rejected/h.error.json");
	ck_assert_msg(strstr(err, "\"hard_link\"") && strstr(err, "2 hard links"), "%s", err);
	ck_assert_ptr_null(strstr(err, "SECRET"));
	ck_assert_ptr_null(strstr(err, "root"));
	free(err);
	ck_assert(!exists("incoming/h.json"));
	close_spool(sp);
}
END_TEST

static int rejected_count(const char *n)
{
	char path[512];
	struct dirent *e;
	DIR *d;
	int k = 0;

	snprintf(path, sizeof(path), "%s/rejected", tmpdir);
	d = opendir(path);
	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL)
		k += e->d_name[0] != '.';
	closedir(d);
	return k >= atoi(n);
}

/* A name too long for the spool goes to rejected/ under a shortened name
 * (its first 100 bytes, "~", 16 hex digits), with an error file saying so;
 * a multi-byte character at the cut is kept whole or dropped whole. */
START_TEST(test_long_name_rejected)
{
	struct spool *sp = open_spool(1 << 20, 4);
	char name[256], want[256], path[512], *err;
	size_t n = 0;

	/* 99 bytes of 'a', then "é" (2 bytes) across byte 100, to 240 bytes. */
	memset(name, 'a', 99);
	n = 99;
	while (n < 235) {
		name[n++] = (char)0xC3;
		name[n++] = (char)0xA9;
	}
	memcpy(name + n, ".json", 6);
	drop(name, REQ);
	run_until(rejected_count, "2");
	ck_assert_int_eq(seen.calls, 0);
	snprintf(path, sizeof(path), "incoming/%s", name);
	ck_assert(!exists(path));
	{
		DIR *d;
		struct dirent *e;
		int found = 0;

		snprintf(path, sizeof(path), "%s/rejected", tmpdir);
		d = opendir(path);
		ck_assert_ptr_nonnull(d);
		memset(want, 'a', 99);
		want[99] = '~';
		while ((e = readdir(d)) != NULL) {
			size_t l = strlen(e->d_name);

			if (l == 99 + 1 + 16 + 5 && !memcmp(e->d_name, want, 100) &&
			    !strcmp(e->d_name + l - 5, ".json")) {
				found = 1;
				snprintf(want, sizeof(want), "rejected/%.*s.error.json",
					 (int)(l - 5), e->d_name);
			}
		}
		closedir(d);
		ck_assert_msg(found, "no shortened name in rejected/");
	}
	err = slurp(want);
	ck_assert_msg(strstr(err, "\"name_too_long\"") && strstr(err, "240 bytes") &&
		      strstr(err, "shortened name"), "%s", err);
	free(err);
	close_spool(sp);
}
END_TEST

START_TEST(test_unreadable_rejected)
{
	struct spool *sp;
	char path[512];
	char *text;

	if (geteuid() == 0)
		return;	/* root reads anything */
	sp = open_spool(1 << 20, 4);
	drop("secret.json", REQ);
	snprintf(path, sizeof(path), "%s/incoming/secret.json", tmpdir);
	ck_assert_int_eq(chmod(path, 0), 0);
	run_until(exists, "rejected/secret.error.json");
	text = slurp("rejected/secret.error.json");
	ck_assert_ptr_nonnull(strstr(text, "\"unreadable\""));
	free(text);
	ck_assert_int_eq(seen.calls, 0);
	close_spool(sp);
}
END_TEST

START_TEST(test_max_inflight)
{
	struct spool *sp = open_spool(1 << 20, 2);
	char name[32];

	for (int i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "f%d.json", i);
		drop(name, REQ);
	}
	run_until(calls_reach, "2");
	run_for(400);
	ck_assert_int_eq(seen.calls, 2);
	spool_finish(seen.items[0], 0, NULL);
	run_until(calls_reach, "3");
	run_for(300);
	ck_assert_int_eq(seen.calls, 3);
	for (int done = 1; done < 6; done++) {
		char want[16];

		spool_finish(seen.items[done], 0, NULL);
		snprintf(want, sizeof(want), "%d", done + 3 < 6 ? done + 3 : 6);
		run_until(calls_reach, want);
	}
	run_until(exists, "done/f5.json");
	close_spool(sp);
}
END_TEST

/* Close waits for a handed-over file to be finished and moved. */
START_TEST(test_close_waits_for_finish)
{
	struct spool *sp = open_spool(1 << 20, 4);

	drop("slow.json", REQ);
	run_until(calls_reach, "1");
	closed_flag = 0;
	spool_close(sp, closed_cb, &closed_flag);
	run_for(200);
	ck_assert_int_eq(closed_flag, 0);
	spool_finish(seen.items[0], 0, NULL);
	run_until(is_closed, "close");
	ck_assert(exists("done/slow.json"));
}
END_TEST

static Suite *spool_suite(void)
{
	Suite *s = suite_create("spool");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_good_file_goes_to_done);
	tcase_add_test(tc, test_bad_file_goes_to_rejected);
	tcase_add_test(tc, test_reused_name_kept);
	tcase_add_test(tc, test_transient_failure_retries);
	tcase_add_test(tc, test_file_present_at_start);
	tcase_add_test(tc, test_ignores_other_names);
	tcase_add_test(tc, test_growing_file_not_read_half);
	tcase_add_test(tc, test_growing_temp_then_rename);
	tcase_add_test(tc, test_size_limit);
	tcase_add_test(tc, test_symlink_rejected);
	tcase_add_test(tc, test_hard_link_rejected);
	tcase_add_test(tc, test_long_name_rejected);
	tcase_add_test(tc, test_unreadable_rejected);
	tcase_add_test(tc, test_max_inflight);
	tcase_add_test(tc, test_close_waits_for_finish);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return ck_main(spool_suite());
}
