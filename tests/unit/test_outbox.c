/* test_outbox.c - the durable outbox on a real loop in a temporary folder. */
#define _GNU_SOURCE 1
#include "config.h"

#include <check.h>
#include <dlfcn.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "outbox.h"
#include "ck_main.h"

static const char D1[] = "1111111111111111111111111111111111111111111111111111111111111111";
static const char D2[] = "2222222222222222222222222222222222222222222222222222222222222222";


/* A consumer of outbox/new (the sink) may deliver and retire an entry the
 * moment it is renamed in, before the group commit links it into the store.
 * With consumer_first set, this linkat() (the outbox code is linked into
 * this program, so its calls come here) plays that consumer: it removes
 * the new/ entry, then lets the real linkat() fail as it would. */
static volatile int consumer_first;

int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags)
{
	static int (*real)(int, const char *, int, const char *, int);

	if (!real)
		real = (int (*)(int, const char *, int, const char *, int))dlsym(RTLD_NEXT, "linkat");
	if (consumer_first)
		unlinkat(olddirfd, oldpath, 0);
	return real(olddirfd, oldpath, newdirfd, newpath, flags);
}

static char tmpdir[256];
static uv_loop_t loop;

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void setup(void)
{
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	snprintf(tmpdir, sizeof(tmpdir), "%s/test_outbox.XXXXXX", base);
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	ck_assert_int_eq(uv_loop_init(&loop), 0);
}

static void teardown(void)
{
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Run the loop until *count reaches target (60 s at most, scaled). */
static void run_until(const int *count, int target)
{
	uint64_t deadline = uv_now(&loop) + (uint64_t)(60000 * ck_timeout_scale());

	while (*count < target) {
		ck_assert_msg(uv_now(&loop) < deadline, "timed out: %d of %d", *count, target);
		uv_run(&loop, UV_RUN_NOWAIT);
		if (*count < target)
			usleep(1000);
		uv_update_time(&loop);
	}
}

struct done {
	int calls;
	int failures;
	int last_status;
};

static void done_cb(void *data, int status)
{
	struct done *d = data;

	d->calls++;
	d->last_status = status;
	if (status != 0)
		d->failures++;
}

static void closed_cb(void *data)
{
	(*(int *)data)++;
}

static void close_box(struct outbox *ob)
{
	int closed = 0;

	outbox_close(ob, closed_cb, &closed);
	run_until(&closed, 1);
}

static struct outbox *open_box(void)
{
	struct outbox *ob = NULL;

	ck_assert_int_eq(outbox_open(&loop, tmpdir, &ob), 0);
	return ob;
}

/* Names in `sub` (relative to tmpdir), sorted, without dotfiles. */
static int list_dir(const char *sub, char names[][256], int max)
{
	char path[512];
	struct dirent **ents;
	int n, k = 0;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, sub);
	n = scandir(path, &ents, NULL, alphasort);
	ck_assert_int_ge(n, 0);
	for (int i = 0; i < n; i++) {
		if (ents[i]->d_name[0] != '.' && k < max)
			snprintf(names[k++], 256, "%s", ents[i]->d_name);
		free(ents[i]);
	}
	free(ents);
	return k;
}

static char *slurp(const char *path, struct stat *st)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n;

	ck_assert_msg(f != NULL, "cannot open %s", path);
	ck_assert_int_eq(fstat(fileno(f), st), 0);
	buf = calloc(1, (size_t)st->st_size + 1);
	n = fread(buf, 1, (size_t)st->st_size, f);
	ck_assert_int_eq((long)n, (long)st->st_size);
	fclose(f);
	return buf;
}

START_TEST(test_put_writes_files)
{
	static const char *ids[] = { "zeta", "alpha", "mid:1.x_y-z" };
	char verdict[3][64], names[8][256], path[1024];
	struct outbox *ob = open_box();
	struct outbox_stats st;
	struct done d = { 0 };
	struct stat sb;

	for (int i = 0; i < 3; i++) {
		snprintf(verdict[i], sizeof(verdict[i]), "{\"request_id\":\"%s\",\"n\":%d}", ids[i], i);
		ck_assert_int_eq(outbox_put(ob, ids[i], D1, verdict[i], strlen(verdict[i]), done_cb, &d), 0);
	}
	ck_assert_int_eq(d.calls, 0);	/* only queued */
	run_until(&d.calls, 3);
	ck_assert_int_eq(d.failures, 0);

	/* new/: names sort in put order, content is the verdict, mode 0600 */
	ck_assert_int_eq(list_dir("outbox/new", names, 8), 3);
	for (int i = 0; i < 3; i++) {
		char *buf, want[200];

		ck_assert_int_eq(strlen(names[i]), 20 + 1 + strlen(ids[i]) + 5);
		snprintf(want, sizeof(want), ".%s.json", ids[i]);
		ck_assert_str_eq(names[i] + 20, want);
		snprintf(path, sizeof(path), "%s/outbox/new/%.255s", tmpdir, names[i]);
		buf = slurp(path, &sb);
		ck_assert_str_eq(buf, verdict[i]);
		ck_assert_int_eq(sb.st_mode & 07777, 0600);
		free(buf);

		snprintf(path, sizeof(path), "%s/store/%s.%s.json", tmpdir, ids[i], D1);
		buf = slurp(path, &sb);
		ck_assert_str_eq(buf, verdict[i]);
		ck_assert_int_eq(sb.st_mode & 07777, 0600);
		free(buf);
	}
	ck_assert_int_eq(list_dir("outbox/tmp", names, 8), 0);
	ck_assert_int_eq(list_dir("store", names, 8), 3);
	ck_assert_uint_eq(outbox_depth(ob), 3);
	outbox_stats(ob, &st);
	ck_assert_uint_eq(st.batches, 1);
	ck_assert_uint_eq(st.entries, 3);
	ck_assert_uint_eq(st.dir_fsyncs, 2);
	close_box(ob);
}
END_TEST

START_TEST(test_group_commit_groups)
{
	struct outbox *ob = open_box();
	struct outbox_stats st;
	struct done d = { 0 };
	char id[32];

	for (int i = 0; i < 100; i++) {
		snprintf(id, sizeof(id), "req-%03d", i);
		ck_assert_int_eq(outbox_put(ob, id, D1, "{}", 2, done_cb, &d), 0);
	}
	run_until(&d.calls, 100);
	outbox_stats(ob, &st);
	ck_assert_uint_eq(st.batches, 1);
	ck_assert_uint_eq(st.max_batch, 100);
	ck_assert_uint_eq(st.entries, 100);
	ck_assert_uint_eq(st.dir_fsyncs, 2);
	ck_assert_uint_eq(outbox_depth(ob), 100);

	/* A later turn is a second batch. */
	ck_assert_int_eq(outbox_put(ob, "later", D1, "{}", 2, done_cb, &d), 0);
	run_until(&d.calls, 101);
	outbox_stats(ob, &st);
	ck_assert_uint_eq(st.batches, 2);

	/* With a limit of one entry per batch, every put is its own commit. */
	outbox_set_batch_limit(ob, 1);
	for (int i = 0; i < 10; i++) {
		snprintf(id, sizeof(id), "single-%d", i);
		ck_assert_int_eq(outbox_put(ob, id, D1, "{}", 2, done_cb, &d), 0);
	}
	run_until(&d.calls, 111);
	outbox_stats(ob, &st);
	ck_assert_uint_eq(st.batches, 12);
	ck_assert_int_eq(d.failures, 0);
	close_box(ob);
}
END_TEST

START_TEST(test_syncfs_mode)
{
	struct outbox *ob = open_box();
	struct outbox_stats st;
	struct done d = { 0 };
	char id[32], digest[65], names[40][256];

	outbox_set_syncfs(ob, true);
	for (int i = 0; i < 30; i++) {
		snprintf(id, sizeof(id), "fs-%02d", i);
		ck_assert_int_eq(outbox_put(ob, id, D2, "{\"x\":1}", 7, done_cb, &d), 0);
	}
	run_until(&d.calls, 30);
	ck_assert_int_eq(d.failures, 0);
	outbox_stats(ob, &st);
	ck_assert_uint_eq(st.batches, 1);
	ck_assert_int_eq(list_dir("outbox/new", names, 40), 30);
	ck_assert_int_eq(list_dir("store", names, 40), 30);
	ck_assert_int_eq(list_dir("outbox/tmp", names, 40), 0);
	close_box(ob);
	ob = open_box();
	ck_assert_int_eq(outbox_lookup(ob, "fs-29", digest), 0);
	ck_assert_str_eq(digest, D2);
	close_box(ob);
}
END_TEST

/* Puts made while a batch is being written form the next batch. */
struct chain {
	struct outbox *ob;
	struct done d;
	int next;
};

static void chain_cb(void *data, int status)
{
	struct chain *c = data;
	char id[32];

	done_cb(&c->d, status);
	if (c->next >= 200)
		return;
	for (int i = 0; i < 50; i++) {
		snprintf(id, sizeof(id), "chain-%d", c->next++);
		ck_assert_int_eq(outbox_put(c->ob, id, D1, "{}", 2, chain_cb, c), 0);
	}
}

START_TEST(test_puts_during_batch)
{
	struct chain c = { .ob = open_box() };
	struct outbox_stats st;

	chain_cb(&c, 0);
	c.d.calls = 0;
	run_until(&c.d.calls, 200);
	outbox_stats(c.ob, &st);
	ck_assert_uint_eq(st.entries, 200);
	ck_assert_uint_lt(st.batches, 200 / 10);
	ck_assert_int_eq(c.d.failures, 0);
	close_box(c.ob);
}
END_TEST

struct rd {
	int calls;
	int status;
	char text[256];
};

static void read_cb(void *data, int status, const char *json, size_t len)
{
	struct rd *r = data;

	r->calls++;
	r->status = status;
	r->text[0] = '\0';
	if (status == 0) {
		ck_assert_uint_eq(strlen(json), len);
		snprintf(r->text, sizeof(r->text), "%.*s", (int)len, json);
	}
}

START_TEST(test_lookup_and_read_after_reopen)
{
	struct outbox *ob = open_box();
	struct done d = { 0 };
	struct rd r = { 0 };
	char digest[65];
	const char *v1 = "{\"decision\":\"clear\"}", *v2 = "{\"decision\":\"deny\"}";

	ck_assert_int_eq(outbox_put(ob, "one", D1, v1, strlen(v1), done_cb, &d), 0);
	/* Known while queued, and a read waits for durability. */
	ck_assert_int_eq(outbox_lookup(ob, "one", digest), 0);
	ck_assert_str_eq(digest, D1);
	ck_assert_int_eq(outbox_put(ob, "one", D1, v1, strlen(v1), done_cb, &d), -EEXIST);
	ck_assert_int_eq(outbox_read(ob, "one", read_cb, &r), 0);
	run_until(&r.calls, 1);
	ck_assert_int_eq(d.calls, 1);
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.text, v1);
	ck_assert_int_eq(outbox_put(ob, "two", D2, v2, strlen(v2), done_cb, &d), 0);
	run_until(&d.calls, 2);
	ck_assert_int_eq(outbox_lookup(ob, "nope", digest), -ENOENT);
	ck_assert_int_eq(outbox_read(ob, "nope", read_cb, &r), -ENOENT);
	close_box(ob);

	ob = open_box();
	ck_assert_int_eq(outbox_lookup(ob, "one", digest), 0);
	ck_assert_str_eq(digest, D1);
	ck_assert_int_eq(outbox_lookup(ob, "two", digest), 0);
	ck_assert_str_eq(digest, D2);
	ck_assert_int_eq(outbox_put(ob, "two", D2, v2, strlen(v2), done_cb, &d), -EEXIST);
	ck_assert_uint_eq(outbox_depth(ob), 2);
	ck_assert_int_eq(outbox_read(ob, "two", read_cb, &r), 0);
	run_until(&r.calls, 2);
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.text, v2);
	close_box(ob);
}
END_TEST

/* An entry delivered and retired from new/ before the commit linked it into
 * the store is still acknowledged, stored and readable: the store gets its
 * own copy (this failed with ENOENT, a 503, on a busy machine). */
START_TEST(test_consumer_before_store_link)
{
	struct outbox *ob = open_box();
	struct done d = { 0 };
	struct rd r = { 0 };
	char digest[65];
	const char *v = "{\"decision\":\"review\"}";

	consumer_first = 1;
	ck_assert_int_eq(outbox_put(ob, "raced", D1, v, strlen(v), done_cb, &d), 0);
	run_until(&d.calls, 1);
	consumer_first = 0;
	ck_assert_int_eq(d.failures, 0);
	ck_assert_int_eq(d.last_status, 0);
	ck_assert_int_eq(outbox_read(ob, "raced", read_cb, &r), 0);
	run_until(&r.calls, 1);
	ck_assert_int_eq(r.status, 0);
	ck_assert_str_eq(r.text, v);
	close_box(ob);
	ob = open_box();
	ck_assert_int_eq(outbox_lookup(ob, "raced", digest), 0);
	ck_assert_str_eq(digest, D1);
	close_box(ob);
}
END_TEST

/* Many reads at once: all answered, whatever the cap on running ones. */
START_TEST(test_many_reads)
{
	struct outbox *ob = open_box();
	struct done d = { 0 };
	struct rd r[20];
	int answered = 0;
	char id[16];

	memset(r, 0, sizeof(r));
	for (int i = 0; i < 5; i++) {
		snprintf(id, sizeof(id), "m%d", i);
		ck_assert_int_eq(outbox_put(ob, id, D1, id, strlen(id), done_cb, &d), 0);
	}
	for (int i = 0; i < 20; i++) {
		snprintf(id, sizeof(id), "m%d", i % 5);
		ck_assert_int_eq(outbox_read(ob, id, read_cb, &r[i]), 0);
	}
	while (answered < 20) {
		run_until(&d.calls, 5);
		uv_run(&loop, UV_RUN_ONCE);
		answered = 0;
		for (int i = 0; i < 20; i++)
			answered += r[i].calls;
	}
	for (int i = 0; i < 20; i++) {
		snprintf(id, sizeof(id), "m%d", i % 5);
		ck_assert_int_eq(r[i].calls, 1);
		ck_assert_int_eq(r[i].status, 0);
		ck_assert_str_eq(r[i].text, id);
	}
	close_box(ob);
}
END_TEST

START_TEST(test_when_durable)
{
	struct outbox *ob = open_box();
	struct done d = { 0 }, w = { 0 };

	ck_assert_int_eq(outbox_when_durable(ob, "w1", done_cb, &w), -ENOENT);
	ck_assert_int_eq(outbox_when_durable(ob, "../w1", done_cb, &w), -EINVAL);
	ck_assert_int_eq(outbox_put(ob, "w1", D1, "{}", 2, done_cb, &d), 0);
	ck_assert_int_eq(outbox_when_durable(ob, "w1", done_cb, &w), 0);
	ck_assert_int_eq(w.calls, 0);
	run_until(&w.calls, 1);
	/* The put's own callback ran first: durable means durable. */
	ck_assert_int_eq(d.calls, 1);
	ck_assert_int_eq(w.last_status, 0);
	/* Already durable: still called back, never from inside the call. */
	ck_assert_int_eq(outbox_when_durable(ob, "w1", done_cb, &w), 0);
	ck_assert_int_eq(w.calls, 1);
	run_until(&w.calls, 2);
	ck_assert_int_eq(w.failures, 0);
	close_box(ob);
}
END_TEST

START_TEST(test_low_space_refuses)
{
	struct outbox *ob = open_box();
	struct done d = { 0 };

	/* Nothing has this much free space: the next measurement refuses. */
	outbox_set_min_free(ob, ULLONG_MAX - 1);
	ck_assert_int_eq(outbox_put(ob, "s1", D1, "{}", 2, done_cb, &d), -ENOSPC);
	outbox_set_min_free(ob, 0);
	ck_assert_int_eq(outbox_put(ob, "s1", D1, "{}", 2, done_cb, &d), 0);
	run_until(&d.calls, 1);
	ck_assert_int_eq(d.last_status, 0);
	outbox_set_min_free(ob, ULLONG_MAX - 1);
	ck_assert_int_eq(outbox_put(ob, "s2", D1, "{}", 2, done_cb, &d), -ENOSPC);
	outbox_set_min_free(ob, 4096);
	ck_assert_int_eq(outbox_put(ob, "s2", D1, "{}", 2, done_cb, &d), 0);
	run_until(&d.calls, 2);
	close_box(ob);
}
END_TEST

START_TEST(test_names_sort_across_restarts)
{
	struct outbox *ob = open_box();
	struct done d = { 0 };
	char names[4][256];

	ck_assert_int_eq(outbox_put(ob, "b-first", D1, "{}", 2, done_cb, &d), 0);
	run_until(&d.calls, 1);
	close_box(ob);
	ob = open_box();
	ck_assert_int_eq(outbox_put(ob, "a-second", D1, "{}", 2, done_cb, &d), 0);
	run_until(&d.calls, 2);
	ck_assert_int_eq(list_dir("outbox/new", names, 4), 2);
	ck_assert_ptr_nonnull(strstr(names[0], ".b-first.json"));
	ck_assert_ptr_nonnull(strstr(names[1], ".a-second.json"));
	close_box(ob);
}
END_TEST

START_TEST(test_bad_ids_rejected)
{
	static const char *bad[] = { "", ".", "..", "../etc/passwd", "a/b", "/abs", "a b",
				     "x\n", "tab\t", "ünï", "a\\b", "*", "id;rm" };
	struct outbox *ob = open_box();
	struct done d = { 0 };
	struct rd r = { 0 };
	char digest[65], id[200], names[4][256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(!outbox_id_valid(bad[i]), "accepted \"%s\"", bad[i]);
		ck_assert_int_eq(outbox_put(ob, bad[i], D1, "{}", 2, done_cb, &d), -EINVAL);
		ck_assert_int_eq(outbox_lookup(ob, bad[i], digest), -EINVAL);
		ck_assert_int_eq(outbox_read(ob, bad[i], read_cb, &r), -EINVAL);
	}
	ck_assert(!outbox_id_valid(NULL));
	memset(id, 'a', 129);
	id[129] = '\0';
	ck_assert_int_eq(outbox_put(ob, id, D1, "{}", 2, done_cb, &d), -EINVAL);
	id[128] = '\0';
	ck_assert_int_eq(outbox_put(ob, id, D1, "{}", 2, done_cb, &d), 0);
	/* Digests: 64 lowercase hex digits only. */
	ck_assert_int_eq(outbox_put(ob, "d1", "abc", "{}", 2, done_cb, &d), -EINVAL);
	ck_assert_int_eq(outbox_put(ob, "d2", "ABCDEF1111111111111111111111111111111111111111111111111111111111",
				    "{}", 2, done_cb, &d), -EINVAL);
	ck_assert_int_eq(outbox_put(ob, "d3", "../../../../../../../../../../../../../../../../../../../../x/",
				    "{}", 2, done_cb, &d), -EINVAL);
	run_until(&d.calls, 1);
	ck_assert_int_eq(d.failures, 0);
	/* Nothing landed anywhere but where it belongs. */
	ck_assert_int_eq(list_dir("", names, 4), 2);
	ck_assert_int_eq(list_dir("outbox/new", names, 4), 1);
	ck_assert_int_eq(list_dir("store", names, 4), 1);
	close_box(ob);
}
END_TEST

START_TEST(test_open_cleans_tmp_and_ignores_junk)
{
	char path[512], names[4][256], digest[65];
	struct outbox *ob = open_box();
	FILE *f;

	close_box(ob);
	snprintf(path, sizeof(path), "%s/outbox/tmp/00000000000000000001.half.json", tmpdir);
	f = fopen(path, "w");
	fputs("{\"trunc", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/store/not-a-store-name.json", tmpdir);
	f = fopen(path, "w");
	fclose(f);
	snprintf(path, sizeof(path), "%s/store/ok.%s.json", tmpdir, D2);
	f = fopen(path, "w");
	fputs("{}", f);
	fclose(f);
	ob = open_box();
	ck_assert_int_eq(list_dir("outbox/tmp", names, 4), 0);
	ck_assert_int_eq(outbox_lookup(ob, "ok", digest), 0);
	ck_assert_str_eq(digest, D2);
	ck_assert_int_eq(outbox_lookup(ob, "not-a-store-name", digest), -ENOENT);
	close_box(ob);
}
END_TEST

START_TEST(test_depth_follows_retirement)
{
	struct outbox *ob = open_box();
	struct done d = { 0 };
	char id[16], names[8][256], path[1024];

	for (int i = 0; i < 5; i++) {
		snprintf(id, sizeof(id), "r%d", i);
		ck_assert_int_eq(outbox_put(ob, id, D1, "{}", 2, done_cb, &d), 0);
	}
	run_until(&d.calls, 5);
	ck_assert_uint_eq(outbox_depth(ob), 5);
	/* What a sink does after delivery. */
	ck_assert_int_eq(list_dir("outbox/new", names, 8), 5);
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/outbox/new/%.255s", tmpdir, names[i]);
		ck_assert_int_eq(unlink(path), 0);
	}
	outbox_retired(ob, 2);
	ck_assert_uint_eq(outbox_depth(ob), 3);
	outbox_retired(ob, 10);
	ck_assert_uint_eq(outbox_depth(ob), 0);
	close_box(ob);
	ob = open_box();
	ck_assert_uint_eq(outbox_depth(ob), 3);
	close_box(ob);
}
END_TEST

/* A sink that does not call outbox_retired(): the recount catches up. */
static int depth_is(struct outbox *ob, size_t want)
{
	return outbox_depth(ob) == want;
}

static void never_cb(uv_timer_t *t)
{
	ck_abort_msg("the keep-alive timer fired");
}

START_TEST(test_depth_recount)
{
	struct outbox *ob = open_box();
	struct done d = { 0 };
	char names[8][256], path[1024];
	uv_timer_t alive;
	int ok = 0;

	/* The recount timer does not keep a loop alive; a daemon's listeners
	 * do, this timer stands in for them. */
	uv_timer_init(&loop, &alive);
	uv_timer_start(&alive, never_cb, 60000, 0);
	ck_assert_int_eq(outbox_put(ob, "x1", D1, "{}", 2, done_cb, &d), 0);
	ck_assert_int_eq(outbox_put(ob, "x2", D1, "{}", 2, done_cb, &d), 0);
	run_until(&d.calls, 2);
	ck_assert_uint_eq(outbox_depth(ob), 2);
	ck_assert_int_eq(list_dir("outbox/new", names, 8), 2);
	snprintf(path, sizeof(path), "%s/outbox/new/%.255s", tmpdir, names[0]);
	ck_assert_int_eq(unlink(path), 0);
	uv_update_time(&loop);
	for (uint64_t end = uv_now(&loop) + (uint64_t)(60000 * ck_timeout_scale());
	     !ok && uv_now(&loop) < end;) {
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(5000);
		uv_update_time(&loop);
		ok = depth_is(ob, 1);
	}
	ck_assert_msg(ok, "depth still %zu", outbox_depth(ob));
	uv_close((uv_handle_t *)&alive, NULL);
	close_box(ob);
}
END_TEST

START_TEST(test_close_flushes_queue)
{
	struct outbox *ob = open_box();
	struct done d = { 0 };
	char digest[65];

	ck_assert_int_eq(outbox_put(ob, "last", D1, "{}", 2, done_cb, &d), 0);
	close_box(ob);
	ck_assert_int_eq(d.calls, 1);
	ck_assert_int_eq(d.last_status, 0);
	ob = open_box();
	ck_assert_int_eq(outbox_lookup(ob, "last", digest), 0);
	close_box(ob);
}
END_TEST

static void notify_cb(void *data)
{
	(*(int *)data)++;
}

START_TEST(test_notify_and_shutdown)
{
	struct outbox *ob = open_box();
	struct done d = { 0 };
	int notified = 0, closed = 0;
	struct rd r = { 0 };

	outbox_set_notify(ob, notify_cb, &notified);
	ck_assert_int_eq(outbox_put(ob, "n1", D1, "{}", 2, done_cb, &d), 0);
	ck_assert_int_eq(outbox_put(ob, "n2", D1, "{}", 2, done_cb, &d), 0);
	run_until(&d.calls, 2);
	ck_assert_int_eq(notified, 1);
	outbox_close(ob, closed_cb, &closed);
	ck_assert_int_eq(outbox_put(ob, "n3", D1, "{}", 2, done_cb, &d), -ESHUTDOWN);
	ck_assert_int_eq(outbox_read(ob, "n1", read_cb, &r), -ESHUTDOWN);
	run_until(&closed, 1);
}
END_TEST

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The ids of the entries in new/, sorted; each entry must be whole. */
static int list_ids_in_new(char ***out)
{
	char path[512], p2[1024];
	struct dirent *de;
	char **ids = NULL;
	int n = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "%s/outbox/new", tmpdir);
	dir = opendir(path);
	ck_assert_ptr_nonnull(dir);
	while ((de = readdir(dir))) {
		size_t len = strlen(de->d_name);
		struct stat sb;
		char *buf;

		if (de->d_name[0] == '.')
			continue;
		ck_assert_uint_gt(len, 26);
		snprintf(p2, sizeof(p2), "%s/%s", path, de->d_name);
		buf = slurp(p2, &sb);
		ck_assert_msg(buf[0] == '{' && buf[strlen(buf) - 1] == '}', "torn entry %s", p2);
		free(buf);
		ids = realloc(ids, (size_t)(n + 1) * sizeof(*ids));
		ids[n++] = strndup(de->d_name + 21, len - 21 - 5);
	}
	closedir(dir);
	qsort(ids, (size_t)n, sizeof(*ids), cmp_str);
	*out = ids;
	return n;
}

/* Run the helper from verdict `first` on, kill it with SIGKILL once it has
 * acknowledged `kill_after` verdicts, and add what it acknowledged to
 * acked[*nacked...]. */
static void crash_run(const char *first, int kill_after, char **acked, int *nacked)
{
	const char *helper = KVS_BUILDDIR "/tests/unit/outbox_crasher";
	int pipefd[2], status, got = 0;
	char line[256];
	pid_t pid;
	FILE *f;

	ck_assert_int_eq(pipe(pipefd), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(pipefd[1], 1);
		close(pipefd[0]);
		close(pipefd[1]);
		execl(helper, helper, tmpdir, "100000", first, (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	f = fdopen(pipefd[0], "r");
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		ck_assert_int_lt(*nacked, 200000);
		acked[(*nacked)++] = strdup(line);
		if (++got == kill_after)
			kill(pid, SIGKILL);
	}
	fclose(f);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		      "the helper was not killed mid-way (status %d, %d acked)", status, got);
	ck_assert_int_ge(got, kill_after);
}

/* The crash test: a helper puts verdicts and prints each acknowledged id;
 * it is killed with SIGKILL mid-way, restarted on the same folder and
 * killed again.  Every acknowledged id must be whole in new/ and store/
 * and known after reopen, tmp/ must be empty, and the second run's entries
 * must sort after the first run's. */
START_TEST(test_crash_keeps_acknowledged)
{
	char path[512], digest[65], names[4][256];
	char **acked = calloc(200000, sizeof(*acked));
	int nacked = 0, in_new;
	unsigned long long max_first = 0, min_second = ULLONG_MAX;
	char **new_ids;
	struct outbox *ob;
	struct dirent *de;
	DIR *dir;

	crash_run("0", 1500, acked, &nacked);
	crash_run("500000", 800, acked, &nacked);

	snprintf(path, sizeof(path), "%s/outbox/new", tmpdir);
	dir = opendir(path);
	ck_assert_ptr_nonnull(dir);
	while ((de = readdir(dir))) {
		unsigned long long seq;
		const char *idp;

		if (de->d_name[0] == '.')
			continue;
		seq = strtoull(de->d_name, NULL, 10);
		idp = de->d_name + 21;
		if (atoi(idp + 4) < 500000)
			max_first = seq > max_first ? seq : max_first;
		else
			min_second = seq < min_second ? seq : min_second;
	}
	closedir(dir);
	ck_assert_msg(max_first < min_second, "names of the second run sort before the first's");

	ob = open_box();
	ck_assert_int_eq(list_dir("outbox/tmp", names, 4), 0);
	in_new = list_ids_in_new(&new_ids);
	ck_assert_uint_eq(outbox_depth(ob), (size_t)in_new);
	ck_assert_int_ge(in_new, nacked);
	for (int i = 0; i < nacked; i++) {
		char want[256], *buf, *key = acked[i];
		struct stat sb;

		ck_assert_msg(bsearch(&key, new_ids, (size_t)in_new, sizeof(*new_ids), cmp_str),
			      "%s acknowledged but not in new/", acked[i]);
		ck_assert_int_eq(outbox_lookup(ob, acked[i], digest), 0);
		snprintf(want, sizeof(want), "%064x", (unsigned)atoi(acked[i] + 4));
		ck_assert_str_eq(digest, want);
		snprintf(path, sizeof(path), "%s/store/%s.%s.json", tmpdir, acked[i], digest);
		buf = slurp(path, &sb);
		snprintf(want, sizeof(want), "{\"request_id\":\"%s\",\"n\":%d}", acked[i],
			 atoi(acked[i] + 4));
		ck_assert_str_eq(buf, want);
		free(buf);
		free(acked[i]);
	}
	for (int i = 0; i < in_new; i++)
		free(new_ids[i]);
	free(new_ids);
	free(acked);
	close_box(ob);
}
END_TEST

/* outbox_post: delivery only, any number of times per id, in put order
 * with verdicts, never in the store or the index. */
START_TEST(test_post_delivers_without_store)
{
	char names[8][256], path[1024];
	struct outbox *ob = open_box();
	struct done d = { 0 };
	char digest[65];
	struct stat sb;
	char *buf;

	ck_assert_int_eq(outbox_put(ob, "case-1", D1, "{\"v\":1}", 7, done_cb, &d), 0);
	ck_assert_int_eq(outbox_post(ob, "case-1", "{\"v\":2}", 7, done_cb, &d), 0);
	ck_assert_int_eq(outbox_post(ob, "case-1", "{\"v\":3}", 7, done_cb, &d), 0);
	ck_assert_int_eq(outbox_post(ob, "..", "{}", 2, done_cb, &d), -EINVAL);
	run_until(&d.calls, 3);
	ck_assert_int_eq(d.failures, 0);
	ck_assert_int_eq(list_dir("outbox/new", names, 8), 3);
	for (int i = 0; i < 3; i++) {
		char want[16];

		ck_assert_str_eq(names[i] + 20, ".case-1.json");
		snprintf(path, sizeof(path), "%s/outbox/new/%.255s", tmpdir, names[i]);
		buf = slurp(path, &sb);
		snprintf(want, sizeof(want), "{\"v\":%d}", i + 1);
		ck_assert_str_eq(buf, want);
		free(buf);
	}
	ck_assert_int_eq(list_dir("store", names, 8), 1);
	ck_assert_int_eq(outbox_lookup(ob, "case-1", digest), 0);
	ck_assert_str_eq(digest, D1);
	ck_assert_int_eq(outbox_lookup(ob, "only-posted", digest), -ENOENT);
	ck_assert_int_eq(outbox_post(ob, "only-posted", "{}", 2, done_cb, &d), 0);
	run_until(&d.calls, 4);
	ck_assert_int_eq(outbox_lookup(ob, "only-posted", digest), -ENOENT);
	ck_assert_uint_eq(outbox_depth(ob), 4);
	close_box(ob);
}
END_TEST

static Suite *outbox_suite(void)
{
	Suite *s = suite_create("outbox");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_put_writes_files);
	tcase_add_test(tc, test_group_commit_groups);
	tcase_add_test(tc, test_puts_during_batch);
	tcase_add_test(tc, test_syncfs_mode);
	tcase_add_test(tc, test_lookup_and_read_after_reopen);
	tcase_add_test(tc, test_consumer_before_store_link);
	tcase_add_test(tc, test_many_reads);
	tcase_add_test(tc, test_when_durable);
	tcase_add_test(tc, test_low_space_refuses);
	tcase_add_test(tc, test_names_sort_across_restarts);
	tcase_add_test(tc, test_bad_ids_rejected);
	tcase_add_test(tc, test_open_cleans_tmp_and_ignores_junk);
	tcase_add_test(tc, test_depth_follows_retirement);
	tcase_add_test(tc, test_depth_recount);
	tcase_add_test(tc, test_close_flushes_queue);
	tcase_add_test(tc, test_notify_and_shutdown);
	tcase_add_test(tc, test_crash_keeps_acknowledged);
	tcase_add_test(tc, test_post_delivers_without_store);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return ck_main(outbox_suite());
}
