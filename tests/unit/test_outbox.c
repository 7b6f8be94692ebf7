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
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "crc32c.h"
#include "outbox.h"
#include "outbox_log.h"
#include "outbox_reader.h"
#include "ck_main.h"

static const char D1[] = "1111111111111111111111111111111111111111111111111111111111111111";
static const char D2[] = "2222222222222222222222222222222222222222222222222222222222222222";


/* fdatasync() of the outbox code (linked into this program, so its calls
 * come here) is wrapped: after the real call returns, the wrapper records
 * the file's inode and size, so that a callback can check that everything
 * in the segment was synced before it ran.  With fail_sync set, it fails
 * with EIO instead, as a disk would. */
static pthread_mutex_t sync_mu = PTHREAD_MUTEX_INITIALIZER;
static struct { ino_t ino; off_t size; } synced[64];
static int nsynced;
static volatile int fail_sync;

int fdatasync(int fd)
{
	static int (*real)(int);
	struct stat st;
	int rc;

	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	if (fail_sync) {
		errno = EIO;
		return -1;
	}
	rc = real(fd);
	if (rc == 0 && fstat(fd, &st) == 0) {
		int i;

		pthread_mutex_lock(&sync_mu);
		for (i = 0; i < nsynced && synced[i].ino != st.st_ino; i++)
			;
		if (i < 64) {
			synced[i].ino = st.st_ino;
			synced[i].size = st.st_size;
			if (i == nsynced)
				nsynced++;
		}
		pthread_mutex_unlock(&sync_mu);
	}
	return rc;
}

/* The size of the file at `path` when fdatasync last returned for it, or -1. */
static off_t synced_size(const char *path)
{
	struct stat st;
	off_t size = -1;

	if (stat(path, &st) < 0)
		return -1;
	pthread_mutex_lock(&sync_mu);
	for (int i = 0; i < nsynced; i++)
		if (synced[i].ino == st.st_ino)
			size = synced[i].size;
	pthread_mutex_unlock(&sync_mu);
	return size;
}

static char tmpdir[256];
static uv_loop_t loop;

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

/* open() is wrapped too: with retire_path set, opening that segment
 * first moves it to retire_to and then fails with ENOENT, as when
 * kvscreend retires a segment between a reader's listing and its open. */
static char retire_path[4200], retire_to[4200];
static int retired_by_open;

int open(const char *path, int flags, ...)
{
	static int (*real)(const char *, int, ...);
	mode_t mode = 0;

	if (!real)
		real = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
	if (flags & (O_CREAT | O_TMPFILE)) {
		va_list ap;

		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	if (retire_path[0] && strcmp(path, retire_path) == 0) {
		retire_path[0] = '\0';
		if (rename(path, retire_to) == 0)
			retired_by_open++;
		errno = ENOENT;
		return -1;
	}
	return real(path, flags, mode);
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

/* One record of the log as the tests see it. */
struct lrec {
	char key[SEQ_KEY_MAX];
	char id[130];
	int kind;
	uint64_t pos;
	char *payload;
};

/* Every whole record of the segments in `sub` (relative to tmpdir), in
 * log order; the caller frees with free_log(). */
static int read_log(const char *sub, struct lrec *out, int max)
{
	char names[256][256], path[1024];
	int nseg = 0, k = 0;
	char dir[512];
	struct dirent **ents;

	snprintf(dir, sizeof(dir), "%s/%s", tmpdir, sub);
	int n = scandir(dir, &ents, NULL, alphasort);
	if (n < 0)
		return 0;
	for (int i = 0; i < n; i++) {
		if (ents[i]->d_name[0] != '.' && nseg < 256)
			snprintf(names[nseg++], 256, "%s", ents[i]->d_name);
		free(ents[i]);
	}
	free(ents);
	for (int i = 0; i < nseg; i++) {
		uint64_t no, off = OUTBOX_SEG_HEADER;
		struct stat st;
		int fd;

		ck_assert_int_eq(outbox_seg_parse(names[i], &no), 0);
		snprintf(path, sizeof(path), "%.511s/%.255s", dir, names[i]);
		fd = open(path, O_RDONLY);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(fstat(fd, &st), 0);
		ck_assert_int_eq(st.st_mode & 07777, 0600);
		for (;;) {
			struct outbox_rec rec;
			char *payload = NULL;

			if (outbox_seg_read(fd, no, (uint64_t)st.st_size, off, &rec, &payload) < 0)
				break;
			ck_assert_int_lt(k, max);
			snprintf(out[k].key, sizeof(out[k].key), "%020llu.%s", rec.seq, rec.id);
			snprintf(out[k].id, sizeof(out[k].id), "%s", rec.id);
			out[k].kind = rec.kind;
			out[k].pos = rec.pos;
			out[k++].payload = payload;
			off += rec.size;
		}
		close(fd);
	}
	return k;
}

static void free_log(struct lrec *r, int n)
{
	for (int i = 0; i < n; i++)
		free(r[i].payload);
}

/* The record checksum: the iSCSI check value, and the crc32 instruction
 * giving what the table gives for every length, alignment and split. */
START_TEST(test_crc32c_values)
{
	unsigned char buf[300];
	uint32_t seed = 12345;

	ck_assert_uint_eq(crc32c(0, "123456789", 9), 0xE3069283u);
	ck_assert_uint_eq(crc32c_table(0, "123456789", 9), 0xE3069283u);
	ck_assert_uint_eq(crc32c(0, "", 0), 0);
	for (size_t i = 0; i < sizeof(buf); i++) {
		seed = seed * 1103515245u + 12345u;
		buf[i] = (unsigned char)(seed >> 16);
	}
	for (size_t off = 0; off < 8; off++)
		for (size_t len = 0; len + off <= sizeof(buf); len += 7) {
			uint32_t want = crc32c_table(0, buf + off, len);

			ck_assert_uint_eq(crc32c(0, buf + off, len), want);
			ck_assert_uint_eq(crc32c(crc32c(0, buf + off, len / 3), buf + off + len / 3,
						 len - len / 3), want);
		}
}
END_TEST

/* `kvscreen report ID` and `kvscreen outbox stored` read a running
 * daemon's segments: a segment retired (moved from outbox/seg to
 * store/seg) after the listing is read in store/seg, once. */
START_TEST(test_reader_follows_retired_segment)
{
	struct outbox *ob = open_box();
	struct done d = { 0 };
	char *json = NULL, out[4096] = "";
	FILE *f;

	ck_assert_int_eq(outbox_put(ob, "v0", D1, "{\"a\":1}", 7, done_cb, &d), 0);
	run_until(&d.calls, 1);
	ck_assert_int_eq(outbox_put(ob, "v0x", D2, "{\"a\":2}", 7, done_cb, &d), 0);
	run_until(&d.calls, 2);
	ck_assert_int_eq(d.failures, 0);
	close_box(ob);
	ck_assert_int_eq(outbox_reader_find(tmpdir, "v0", &json), 0);
	ck_assert_str_eq(json, "{\"a\":1}");
	free(json);
	ck_assert_int_eq(outbox_reader_find(tmpdir, "nope", &json), -ENOENT);
	ck_assert_ptr_null(json);

	snprintf(retire_path, sizeof(retire_path), "%s/outbox/seg/00000000000000000001.log", tmpdir);
	snprintf(retire_to, sizeof(retire_to), "%s/store/seg/00000000000000000001.log", tmpdir);
	retired_by_open = 0;
	ck_assert_int_eq(outbox_reader_find(tmpdir, "v0x", &json), 0);
	ck_assert_int_eq(retired_by_open, 1);
	ck_assert_str_eq(json, "{\"a\":2}");
	free(json);

	/* And back, to list while it moves: each verdict once. */
	snprintf(retire_path, sizeof(retire_path), "%s/outbox/seg/00000000000000000001.log", tmpdir);
	ck_assert_int_eq(rename(retire_to, retire_path), 0);
	retired_by_open = 0;
	f = fmemopen(out, sizeof(out) - 1, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(outbox_reader_main(tmpdir, "stored", f, stderr), 0);
	fclose(f);
	ck_assert_int_eq(retired_by_open, 1);
	ck_assert_msg(strncmp(out, "v0 ", 3) == 0 && strstr(out, "\nv0x ") &&
		      !strchr(strstr(out, "\nv0x ") + 1, '\n')[1], "stored listed: %s", out);
}
END_TEST

START_TEST(test_put_appends_records)
{
	static const char *ids[] = { "zeta", "alpha", "mid:1.x_y-z" };
	char verdict[3][64], names[8][256];
	struct outbox *ob = open_box();
	struct outbox_stats st;
	struct done d = { 0 };
	struct lrec r[8];

	for (int i = 0; i < 3; i++) {
		snprintf(verdict[i], sizeof(verdict[i]), "{\"request_id\":\"%s\",\"n\":%d}", ids[i], i);
		ck_assert_int_eq(outbox_put(ob, ids[i], D1, verdict[i], strlen(verdict[i]), done_cb, &d), 0);
	}
	ck_assert_int_eq(d.calls, 0);	/* only queued */
	run_until(&d.calls, 3);
	ck_assert_int_eq(d.failures, 0);

	/* One segment (mode 0600), the records in put order, keys sorting. */
	ck_assert_int_eq(list_dir("outbox/seg", names, 8), 1);
	ck_assert_str_eq(names[0], "00000000000000000001.log");
	ck_assert_int_eq(read_log("outbox/seg", r, 8), 3);
	for (int i = 0; i < 3; i++) {
		ck_assert_str_eq(r[i].id, ids[i]);
		ck_assert_int_eq(r[i].kind, OUTBOX_REC_VERDICT);
		ck_assert_str_eq(r[i].payload, verdict[i]);
		if (i)
			ck_assert_int_lt(strcmp(r[i - 1].key, r[i].key), 0);
	}
	free_log(r, 3);
	ck_assert_int_eq(list_dir("store/seg", names, 8), 0);
	ck_assert_uint_eq(outbox_depth(ob), 3);
	outbox_stats(ob, &st);
	ck_assert_uint_eq(st.batches, 1);
	ck_assert_uint_eq(st.entries, 3);
	ck_assert_uint_eq(st.data_syncs, 1);
	ck_assert_uint_eq(st.segments, 1);
	ck_assert_uint_eq(st.dir_fsyncs, 1);	/* the new segment's name */
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
	ck_assert_uint_eq(st.data_syncs, 1);
	ck_assert_uint_eq(outbox_depth(ob), 100);

	/* A later turn is a second batch, in the same segment: no folder fsync. */
	ck_assert_int_eq(outbox_put(ob, "later", D1, "{}", 2, done_cb, &d), 0);
	run_until(&d.calls, 101);
	outbox_stats(ob, &st);
	ck_assert_uint_eq(st.batches, 2);
	ck_assert_uint_eq(st.data_syncs, 2);
	ck_assert_uint_eq(st.dir_fsyncs, 1);

	/* With a limit of one entry per batch, every put is its own commit. */
	outbox_set_batch_limit(ob, 1);
	for (int i = 0; i < 10; i++) {
		snprintf(id, sizeof(id), "single-%d", i);
		ck_assert_int_eq(outbox_put(ob, id, D1, "{}", 2, done_cb, &d), 0);
	}
	run_until(&d.calls, 111);
	outbox_stats(ob, &st);
	ck_assert_uint_eq(st.batches, 12);
	ck_assert_uint_eq(st.data_syncs, 12);
	ck_assert_int_eq(d.failures, 0);
	close_box(ob);
}
END_TEST

START_TEST(test_syncfs_mode)
{
	struct outbox *ob = open_box();
	struct outbox_stats st;
	struct done d = { 0 };
	char id[32], digest[65];
	struct lrec r[40];

	outbox_set_syncfs(ob, true);
	for (int i = 0; i < 30; i++) {
		snprintf(id, sizeof(id), "fs-%02d", i);
		ck_assert_int_eq(outbox_put(ob, id, D2, "{\"x\":1}", 7, done_cb, &d), 0);
	}
	run_until(&d.calls, 30);
	ck_assert_int_eq(d.failures, 0);
	outbox_stats(ob, &st);
	ck_assert_uint_eq(st.batches, 1);
	ck_assert_int_eq(read_log("outbox/seg", r, 40), 30);
	free_log(r, 30);
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

/* Every acknowledgement comes after the fdatasync that covers its record:
 * in each callback, the segment holds nothing that was not synced (the
 * wrapper records the size as each fdatasync returns).  Acknowledging a
 * batch before its fdatasync fails this test. */
struct sync_check {
	struct done d;
	char path[600];
	int unsynced;
};

static void sync_check_cb(void *data, int status)
{
	struct sync_check *c = data;
	struct stat st;

	done_cb(&c->d, status);
	ck_assert_int_eq(stat(c->path, &st), 0);
	if (synced_size(c->path) < st.st_size)
		c->unsynced++;
}

START_TEST(test_ack_after_fdatasync)
{
	struct outbox *ob = open_box();
	struct sync_check c = { .d = { 0 } };
	char id[32];

	snprintf(c.path, sizeof(c.path), "%s/outbox/seg/00000000000000000001.log", tmpdir);
	for (int round = 0; round < 5; round++) {
		for (int i = 0; i < 40; i++) {
			snprintf(id, sizeof(id), "s-%d-%d", round, i);
			ck_assert_int_eq(outbox_put(ob, id, D1, "{\"synced\":true}", 15, sync_check_cb, &c), 0);
		}
		run_until(&c.d.calls, 40 * (round + 1));
	}
	ck_assert_int_eq(c.d.failures, 0);
	ck_assert_int_eq(c.unsynced, 0);
	close_box(ob);
}
END_TEST

/* A failing fdatasync fails the whole batch, its records are cut off
 * again, the next batch goes to a new segment, and nothing of the failed
 * batch is known after a restart. */
START_TEST(test_failed_sync_fails_batch)
{
	struct outbox *ob = open_box();
	struct done d = { 0 };
	struct outbox_stats st;
	char digest[65], names[8][256];
	struct lrec r[8];

	ck_assert_int_eq(outbox_put(ob, "good", D1, "{}", 2, done_cb, &d), 0);
	run_until(&d.calls, 1);
	fail_sync = 1;
	ck_assert_int_eq(outbox_put(ob, "bad-1", D1, "{\"lost\":1}", 10, done_cb, &d), 0);
	ck_assert_int_eq(outbox_post(ob, "bad-2", "{\"lost\":2}", 10, done_cb, &d), 0);
	run_until(&d.calls, 3);
	fail_sync = 0;
	ck_assert_int_eq(d.failures, 2);
	ck_assert_int_eq(d.last_status, -EIO);
	ck_assert_int_eq(outbox_lookup(ob, "bad-1", digest), -ENOENT);
	ck_assert_uint_eq(outbox_depth(ob), 1);
	ck_assert_int_eq(outbox_put(ob, "after", D1, "{}", 2, done_cb, &d), 0);
	run_until(&d.calls, 4);
	ck_assert_int_eq(d.last_status, 0);
	outbox_stats(ob, &st);
	ck_assert_uint_eq(st.segments, 2);
	close_box(ob);
	ck_assert_int_eq(list_dir("outbox/seg", names, 8), 2);
	ck_assert_int_eq(read_log("outbox/seg", r, 8), 2);
	ck_assert_str_eq(r[0].id, "good");
	ck_assert_str_eq(r[1].id, "after");
	free_log(r, 2);
	ob = open_box();
	ck_assert_int_eq(outbox_lookup(ob, "bad-1", digest), -ENOENT);
	ck_assert_int_eq(outbox_lookup(ob, "after", digest), 0);
	close_box(ob);
}
END_TEST

/* Damage the last segment the way a crash or a bad disk would, reopen: the
 * damaged record and what follows it are cut, what precedes it is whole,
 * and appends go on after the cut. */
static void damage_and_reopen(void (*damage)(const char *path, off_t rec2, off_t end), int want_left)
{
	struct outbox *ob = open_box();
	struct done d = { 0 };
	struct rd rr = { 0 };
	char path[600], digest[65];
	struct lrec r[8];
	struct stat st;
	int n;

	for (int i = 0; i < 3; i++) {
		char id[16];

		snprintf(id, sizeof(id), "t%d", i);
		ck_assert_int_eq(outbox_put(ob, id, D1, "{\"payload\":\"0123456789\"}", 24, done_cb, &d), 0);
		run_until(&d.calls, i + 1);	/* one batch each */
	}
	close_box(ob);
	snprintf(path, sizeof(path), "%s/outbox/seg/00000000000000000001.log", tmpdir);
	ck_assert_int_eq(read_log("outbox/seg", r, 8), 3);
	ck_assert_int_eq(stat(path, &st), 0);
	damage(path, (off_t)OUTBOX_POS_OFF(r[2].pos), st.st_size);
	free_log(r, 3);

	ob = open_box();
	ck_assert_int_eq(outbox_lookup(ob, "t0", digest), 0);
	ck_assert_int_eq(outbox_lookup(ob, "t1", digest), 0);
	ck_assert_int_eq(outbox_lookup(ob, "t2", digest), want_left == 3 ? 0 : -ENOENT);
	ck_assert_uint_eq(outbox_depth(ob), (size_t)want_left);
	ck_assert_int_eq(outbox_put(ob, "t3", D1, "{\"after\":\"cut\"}", 15, done_cb, &d), 0);
	run_until(&d.calls, 4);
	ck_assert_int_eq(d.failures, 0);
	ck_assert_int_eq(outbox_read(ob, "t3", read_cb, &rr), 0);
	run_until(&rr.calls, 1);
	ck_assert_str_eq(rr.text, "{\"after\":\"cut\"}");
	close_box(ob);
	n = read_log("outbox/seg", r, 8);
	ck_assert_int_eq(n, want_left + 1);
	ck_assert_str_eq(r[n - 1].id, "t3");
	free_log(r, n);
}

static void cut_mid_record(const char *path, off_t rec2, off_t end)
{
	/* A torn write: the last record only partly on disk. */
	ck_assert_int_eq(truncate(path, end - 7), 0);
	(void)rec2;
}

static void flip_payload_byte(const char *path, off_t rec2, off_t end)
{
	int fd = open(path, O_RDWR);
	char c;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &c, 1, end - 3), 1);
	c ^= 0x20;
	ck_assert_int_eq(pwrite(fd, &c, 1, end - 3), 1);
	close(fd);
	(void)rec2;
}

static void zero_tail(const char *path, off_t rec2, off_t end)
{
	/* Size grown but data never written: zeros where a record was. */
	int fd = open(path, O_RDWR);
	char z[4096] = { 0 };

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, z, (size_t)(end - rec2), rec2), end - rec2);
	close(fd);
}

static void garbage_after(const char *path, off_t rec2, off_t end)
{
	/* Half a frame after the last whole record. */
	int fd = open(path, O_WRONLY | O_APPEND);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "\x40\x00\x00", 3), 3);
	close(fd);
	(void)rec2;
	(void)end;
}

START_TEST(test_torn_tail_cut)
{
	damage_and_reopen(cut_mid_record, 2);
}
END_TEST

START_TEST(test_bad_crc_cut)
{
	damage_and_reopen(flip_payload_byte, 2);
}
END_TEST

START_TEST(test_zero_tail_cut)
{
	damage_and_reopen(zero_tail, 2);
}
END_TEST

START_TEST(test_partial_frame_cut)
{
	damage_and_reopen(garbage_after, 3);
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

START_TEST(test_keys_sort_across_restarts)
{
	struct outbox *ob = open_box();
	struct done d = { 0 };
	struct lrec r[4];

	ck_assert_int_eq(outbox_put(ob, "b-first", D1, "{}", 2, done_cb, &d), 0);
	run_until(&d.calls, 1);
	close_box(ob);
	ob = open_box();
	ck_assert_int_eq(outbox_put(ob, "a-second", D1, "{}", 2, done_cb, &d), 0);
	run_until(&d.calls, 2);
	close_box(ob);
	ck_assert_int_eq(read_log("outbox/seg", r, 4), 2);
	ck_assert_str_eq(r[0].id, "b-first");
	ck_assert_str_eq(r[1].id, "a-second");
	ck_assert_int_lt(strcmp(r[0].key, r[1].key), 0);
	free_log(r, 2);
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
	ck_assert_int_eq(list_dir("outbox", names, 4), 2);	/* cursor, seg */
	ck_assert_int_eq(list_dir("outbox/seg", names, 4), 1);
	ck_assert_int_eq(list_dir("store", names, 4), 1);	/* seg */
	ck_assert_int_eq(list_dir("store/seg", names, 4), 0);
	close_box(ob);
}
END_TEST

/* A state folder of the version before segments: its store files are read
 * as before, and entries left in outbox/new/ move into the log with their
 * keys, in name order, and leave new/. */
START_TEST(test_legacy_folders_migrate)
{
	char path[512], names[4][256], digest[65];
	struct outbox *ob;
	struct rd rr = { 0 };
	struct lrec r[4];
	FILE *f;

	snprintf(path, sizeof(path), "%s/outbox", tmpdir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/outbox/new", tmpdir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/store", tmpdir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/outbox/new/00000000000000000007.old-b.json", tmpdir);
	f = fopen(path, "w");
	fputs("{\"old\":\"b\"}", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/outbox/new/00000000000000000003.old-a.json", tmpdir);
	f = fopen(path, "w");
	fputs("{\"old\":\"a\"}", f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/store/not-a-store-name.json", tmpdir);
	f = fopen(path, "w");
	fclose(f);
	snprintf(path, sizeof(path), "%s/store/old-a.%s.json", tmpdir, D2);
	f = fopen(path, "w");
	fputs("{\"old\":\"a\"}", f);
	fclose(f);
	ob = open_box();
	ck_assert_int_eq(list_dir("outbox/new", names, 4), 0);
	ck_assert_uint_eq(outbox_depth(ob), 2);
	ck_assert_int_eq(outbox_lookup(ob, "old-a", digest), 0);
	ck_assert_str_eq(digest, D2);
	ck_assert_int_eq(outbox_lookup(ob, "not-a-store-name", digest), -ENOENT);
	ck_assert_int_eq(outbox_read(ob, "old-a", read_cb, &rr), 0);
	run_until(&rr.calls, 1);
	ck_assert_str_eq(rr.text, "{\"old\":\"a\"}");
	close_box(ob);
	ck_assert_int_eq(read_log("outbox/seg", r, 4), 2);
	ck_assert_str_eq(r[0].key, "00000000000000000003.old-a");
	ck_assert_str_eq(r[1].key, "00000000000000000007.old-b");
	ck_assert_int_eq(r[1].kind, OUTBOX_REC_MESSAGE);
	ck_assert_str_eq(r[1].payload, "{\"old\":\"b\"}");
	free_log(r, 2);
}
END_TEST

/* The consumer API: list by position, read, ack; the cursor survives a
 * restart (what was not acked is listed again: at least once). */
struct lst {
	int calls, status;
	size_t n;
	unsigned long long next;
	struct outbox_entry e[16];
};

static void list_cb(void *data, int status, const struct outbox_entry *ents, size_t n,
		    unsigned long long next)
{
	struct lst *l = data;

	l->calls++;
	l->status = status;
	l->n = n;
	l->next = next;
	if (n)
		memcpy(l->e, ents, (n < 16 ? n : 16) * sizeof(*ents));
}

START_TEST(test_consumer_list_read_ack)
{
	struct outbox *ob = open_box();
	struct done d = { 0 };
	struct lst l = { 0 };
	struct rd rr = { 0 };
	unsigned long long start;
	char id[16];

	for (int i = 0; i < 5; i++) {
		snprintf(id, sizeof(id), "c%d", i);
		ck_assert_int_eq(outbox_put(ob, id, D1, id, strlen(id), done_cb, &d), 0);
	}
	run_until(&d.calls, 5);
	start = outbox_consumer_start(ob);
	ck_assert_int_eq(outbox_consumer_list(ob, start, 3, list_cb, &l), 0);
	run_until(&l.calls, 1);
	ck_assert_int_eq(l.status, 0);
	ck_assert_uint_eq(l.n, 3);
	ck_assert_ptr_nonnull(strstr(l.e[0].key, ".c0"));
	ck_assert_uint_eq(l.e[0].end, l.e[1].pos);
	ck_assert_uint_eq(l.next, l.e[2].end);
	ck_assert_int_eq(outbox_consumer_read(ob, l.e[1].pos, read_cb, &rr), 0);
	run_until(&rr.calls, 1);
	ck_assert_str_eq(rr.text, "c1");
	/* Two delivered; the third was listed but not acked. */
	ck_assert_int_eq(outbox_consumer_ack(ob, l.e[2].pos), 0);
	ck_assert_int_eq(outbox_consumer_ack(ob, l.next + (1ull << 40)), -EINVAL);
	close_box(ob);

	ob = open_box();
	ck_assert_uint_eq(outbox_depth(ob), 3);
	start = outbox_consumer_start(ob);
	ck_assert_uint_eq(start, l.e[2].pos);
	ck_assert_int_eq(outbox_consumer_list(ob, start, 16, list_cb, &l), 0);
	run_until(&l.calls, 2);
	ck_assert_uint_eq(l.n, 3);
	ck_assert_ptr_nonnull(strstr(l.e[0].key, ".c2"));
	ck_assert_ptr_nonnull(strstr(l.e[2].key, ".c4"));
	/* The end reached: the next listing finds nothing new. */
	ck_assert_int_eq(outbox_consumer_list(ob, l.next, 16, list_cb, &l), 0);
	run_until(&l.calls, 3);
	ck_assert_uint_eq(l.n, 0);
	close_box(ob);
}
END_TEST

/* Segments wholly before the cursor are retired: those holding verdicts
 * move into store/seg/ (and are still read from there, also after a
 * restart), those with messages only are removed. */
START_TEST(test_retire_delivered_segments)
{
	struct outbox *ob = open_box();
	struct done d = { 0 };
	struct lst l = { 0 };
	struct rd rr = { 0 };
	struct outbox_stats st;
	char id[16], body[1200], names[16][256], digest[65];
	int calls = 0;

	memset(body, 'x', sizeof(body));
	body[0] = '"';
	body[sizeof(body) - 1] = '"';
	outbox_set_segment_size(ob, 4096);
	/* Three records of ~1.3 kB fill a segment of 4 kB.  Segment 1:
	 * verdicts; segment 2: messages only; segment 3: the active one. */
	for (int i = 0; i < 3; i++) {
		snprintf(id, sizeof(id), "v%d", i);
		ck_assert_int_eq(outbox_put(ob, id, D1, body, sizeof(body), done_cb, &d), 0);
		run_until(&d.calls, ++calls);
	}
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(outbox_post(ob, "m", body, sizeof(body), done_cb, &d), 0);
		run_until(&d.calls, ++calls);
	}
	ck_assert_int_eq(outbox_put(ob, "last", D1, body, sizeof(body), done_cb, &d), 0);
	run_until(&d.calls, ++calls);
	ck_assert_int_eq(d.failures, 0);
	ck_assert_int_eq(list_dir("outbox/seg", names, 16), 3);
	ck_assert_int_eq(outbox_consumer_list(ob, outbox_consumer_start(ob), 16, list_cb, &l), 0);
	run_until(&l.calls, 1);
	ck_assert_uint_eq(l.n, 7);
	ck_assert_int_eq(outbox_consumer_ack(ob, l.next), 0);
	uv_update_time(&loop);
	for (uint64_t end = uv_now(&loop) + (uint64_t)(60000 * ck_timeout_scale());;) {
		outbox_stats(ob, &st);
		if (st.retired >= 2)
			break;
		ck_assert_msg(uv_now(&loop) < end, "segments not retired");
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(1000);
		uv_update_time(&loop);
	}
	ck_assert_int_eq(list_dir("outbox/seg", names, 16), 1);	/* the active one */
	ck_assert_int_eq(list_dir("store/seg", names, 16), 1);
	ck_assert_str_eq(names[0], "00000000000000000001.log");
	ck_assert_int_eq(outbox_read(ob, "v2", read_cb, &rr), 0);
	run_until(&rr.calls, 1);
	ck_assert_int_eq(rr.status, 0);
	ck_assert_int_eq(strlen(rr.text), 255);	/* rd keeps 255 bytes */
	close_box(ob);
	ob = open_box();
	ck_assert_uint_eq(outbox_depth(ob), 0);
	ck_assert_int_eq(outbox_lookup(ob, "v1", digest), 0);
	ck_assert_int_eq(outbox_read(ob, "v1", read_cb, &rr), 0);
	run_until(&rr.calls, 2);
	ck_assert_int_eq(rr.status, 0);
	ck_assert_int_eq(outbox_put(ob, "v0", D1, "{}", 2, done_cb, &d), -EEXIST);
	close_box(ob);
}
END_TEST

START_TEST(test_depth_follows_retirement)
{
	struct outbox *ob = open_box();
	struct done d = { 0 };
	struct lst l = { 0 };
	char id[16];

	for (int i = 0; i < 5; i++) {
		snprintf(id, sizeof(id), "r%d", i);
		ck_assert_int_eq(outbox_put(ob, id, D1, "{}", 2, done_cb, &d), 0);
	}
	run_until(&d.calls, 5);
	ck_assert_uint_eq(outbox_depth(ob), 5);
	/* What a sink does after delivery. */
	ck_assert_int_eq(outbox_consumer_list(ob, outbox_consumer_start(ob), 2, list_cb, &l), 0);
	run_until(&l.calls, 1);
	ck_assert_int_eq(outbox_consumer_ack(ob, l.next), 0);
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
 * killed again.  Every acknowledged id must be whole in the log and known
 * after reopen, and the second run's keys must sort after the first run's. */
START_TEST(test_crash_keeps_acknowledged)
{
	char digest[65];
	char **acked = calloc(200000, sizeof(*acked));
	struct lrec *r = calloc(300000, sizeof(*r));
	char **ids;
	int nacked = 0, n;
	unsigned long long max_first = 0, min_second = ULLONG_MAX;
	struct outbox *ob;

	crash_run("0", 1500, acked, &nacked);
	crash_run("500000", 800, acked, &nacked);

	ob = open_box();	/* recovers the torn tail, if any */
	close_box(ob);
	n = read_log("outbox/seg", r, 300000);
	ids = calloc((size_t)n + 1, sizeof(*ids));
	for (int i = 0; i < n; i++) {
		unsigned long long seq = strtoull(r[i].key, NULL, 10);
		char want[256];

		if (atoi(r[i].id + 4) < 500000)
			max_first = seq > max_first ? seq : max_first;
		else
			min_second = seq < min_second ? seq : min_second;
		snprintf(want, sizeof(want), "{\"request_id\":\"%s\",\"n\":%d}", r[i].id, atoi(r[i].id + 4));
		ck_assert_str_eq(r[i].payload, want);
		ids[i] = r[i].id;
	}
	ck_assert_msg(max_first < min_second, "keys of the second run sort before the first's");
	qsort(ids, (size_t)n, sizeof(*ids), cmp_str);
	ob = open_box();
	ck_assert_uint_eq(outbox_depth(ob), (size_t)n);
	ck_assert_int_ge(n, nacked);
	for (int i = 0; i < nacked; i++) {
		char want[256], *key = acked[i];

		ck_assert_msg(bsearch(&key, ids, (size_t)n, sizeof(*ids), cmp_str),
			      "%s acknowledged but not in the log", acked[i]);
		ck_assert_int_eq(outbox_lookup(ob, acked[i], digest), 0);
		snprintf(want, sizeof(want), "%064x", (unsigned)atoi(acked[i] + 4));
		ck_assert_str_eq(digest, want);
		free(acked[i]);
	}
	free_log(r, n);
	free(r);
	free(ids);
	free(acked);
	close_box(ob);
}
END_TEST

/* outbox_post: delivery only, any number of times per id, in put order
 * with verdicts, never in the index. */
START_TEST(test_post_delivers_without_store)
{
	struct outbox *ob = open_box();
	struct done d = { 0 };
	char digest[65];
	struct lrec r[8];

	ck_assert_int_eq(outbox_put(ob, "case-1", D1, "{\"v\":1}", 7, done_cb, &d), 0);
	ck_assert_int_eq(outbox_post(ob, "case-1", "{\"v\":2}", 7, done_cb, &d), 0);
	ck_assert_int_eq(outbox_post(ob, "case-1", "{\"v\":3}", 7, done_cb, &d), 0);
	ck_assert_int_eq(outbox_post(ob, "..", "{}", 2, done_cb, &d), -EINVAL);
	run_until(&d.calls, 3);
	ck_assert_int_eq(d.failures, 0);
	ck_assert_int_eq(read_log("outbox/seg", r, 8), 3);
	for (int i = 0; i < 3; i++) {
		char want[32];

		ck_assert_str_eq(r[i].id, "case-1");
		ck_assert_int_eq(r[i].kind, i ? OUTBOX_REC_MESSAGE : OUTBOX_REC_VERDICT);
		snprintf(want, sizeof(want), "{\"v\":%d}", i + 1);
		ck_assert_str_eq(r[i].payload, want);
	}
	free_log(r, 3);
	ck_assert_int_eq(outbox_lookup(ob, "case-1", digest), 0);
	ck_assert_str_eq(digest, D1);
	ck_assert_int_eq(outbox_lookup(ob, "only-posted", digest), -ENOENT);
	ck_assert_int_eq(outbox_post(ob, "only-posted", "{}", 2, done_cb, &d), 0);
	run_until(&d.calls, 4);
	ck_assert_int_eq(outbox_lookup(ob, "only-posted", digest), -ENOENT);
	ck_assert_uint_eq(outbox_depth(ob), 4);
	close_box(ob);
	ob = open_box();
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
	tcase_add_test(tc, test_crc32c_values);
	tcase_add_test(tc, test_put_appends_records);
	tcase_add_test(tc, test_reader_follows_retired_segment);
	tcase_add_test(tc, test_group_commit_groups);
	tcase_add_test(tc, test_puts_during_batch);
	tcase_add_test(tc, test_syncfs_mode);
	tcase_add_test(tc, test_lookup_and_read_after_reopen);
	tcase_add_test(tc, test_ack_after_fdatasync);
	tcase_add_test(tc, test_failed_sync_fails_batch);
	tcase_add_test(tc, test_torn_tail_cut);
	tcase_add_test(tc, test_bad_crc_cut);
	tcase_add_test(tc, test_zero_tail_cut);
	tcase_add_test(tc, test_partial_frame_cut);
	tcase_add_test(tc, test_many_reads);
	tcase_add_test(tc, test_when_durable);
	tcase_add_test(tc, test_low_space_refuses);
	tcase_add_test(tc, test_keys_sort_across_restarts);
	tcase_add_test(tc, test_bad_ids_rejected);
	tcase_add_test(tc, test_legacy_folders_migrate);
	tcase_add_test(tc, test_consumer_list_read_ack);
	tcase_add_test(tc, test_retire_delivered_segments);
	tcase_add_test(tc, test_depth_follows_retirement);
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
