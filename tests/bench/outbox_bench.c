/* outbox_bench.c - durable verdicts per second through the outbox, and the
 * cost of opening a store of many verdicts.
 *
 * Usage: outbox_bench put DIR COUNT INFLIGHT BATCH_LIMIT [syncfs]
 *          keeps INFLIGHT puts queued or being written (as INFLIGHT
 *          concurrent API requests would) until COUNT are durable;
 *        outbox_bench open DIR COUNT
 *          puts COUNT verdicts (as above, 256 in flight) and times an
 *          outbox_open over them (COUNT 0: over what DIR holds).
 * Prints one line of key=value results.
 */
#include "config.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "outbox.h"

static struct outbox *ob;
static int next_n, total, acked;
static char verdict[2048];
static size_t verdict_len;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void put_next(void);

static void done_cb(void *data, int status)
{
	if (status != 0) {
		fprintf(stderr, "outbox_bench: put failed: %s\n", strerror(-status));
		exit(1);
	}
	acked++;
	put_next();
}

static void put_next(void)
{
	char id[32], digest[65];
	int n;

	if (next_n >= total)
		return;
	n = next_n++;
	snprintf(id, sizeof(id), "bench-%08d", n);
	snprintf(digest, sizeof(digest), "%064x", (unsigned)n);
	if (outbox_put(ob, id, digest, verdict, verdict_len, done_cb, NULL) < 0) {
		fprintf(stderr, "outbox_bench: put %s refused\n", id);
		exit(1);
	}
}

/* A verdict of realistic size: three findings with evidence. */
static void make_verdict(void)
{
	int len = snprintf(verdict, sizeof(verdict),
		"{\"schema\":\"kvscreen.verdict/v1\",\"request_id\":\"bench\",\"decision\":\"escalate\","
		"\"score\":72,\"screened_at\":\"2026-11-28T02:30:00Z\",\"findings\":[");
	for (int i = 0; i < 3; i++)
		len += snprintf(verdict + len, sizeof(verdict) - (size_t)len,
			"%s{\"plugin\":\"export_control\",\"rule\":\"dual-use-5A002-%d\",\"severity\":\"high\","
			"\"title\":\"Cryptographic item\",\"rationale\":\"The description names an "
			"encryption module with key lengths above the threshold.\",\"references\":"
			"[\"EU 2021/821 Annex I 5A002\"],\"evidence\":[{\"path\":\"/items/0/description\","
			"\"start\":10,\"end\":24,\"text\":\"AES-256 module\"}]}", i ? "," : "", i);
	len += snprintf(verdict + len, sizeof(verdict) - (size_t)len,
		"],\"plugins\":[{\"name\":\"export_control\",\"version\":\"0.1.0\",\"status\":\"ok\","
		"\"duration_us\":123}],\"policy\":{\"digest\":\"%064d\"},\"daemon\":{\"version\":\"0.1.0\"}}",
		0);
	verdict_len = (size_t)len;
}

static int bench_put(const char *dir, int count, int inflight, unsigned limit, bool fs)
{
	struct outbox_stats st;
	double t0, t1;

	make_verdict();
	total = count;
	if (outbox_open(uv_default_loop(), dir, &ob) < 0)
		return 1;
	outbox_set_batch_limit(ob, limit);
	outbox_set_syncfs(ob, fs);
	t0 = now_s();
	for (int i = 0; i < inflight; i++)
		put_next();
	while (acked < total)
		uv_run(uv_default_loop(), UV_RUN_ONCE);
	t1 = now_s();
	outbox_stats(ob, &st);
	printf("verdicts=%d bytes=%zu inflight=%d batch_limit=%u sync=%s seconds=%.3f "
	       "verdicts_per_s=%.0f batches=%llu mean_batch=%.1f dir_fsyncs=%llu\n",
	       total, verdict_len, inflight, limit, fs ? "syncfs" : "fdatasync", t1 - t0, total / (t1 - t0), st.batches,
	       (double)st.entries / (double)st.batches, st.dir_fsyncs);
	outbox_close(ob, NULL, NULL);
	uv_run(uv_default_loop(), UV_RUN_DEFAULT);
	return 0;
}

static int bench_open(const char *dir, int count)
{
	char digest[65];
	double t0, t1;

	/* The verdicts go in through the outbox itself (into its log). */
	if (count > 0 && bench_put(dir, count, 256, 4096, false) != 0)
		return 1;
	t0 = now_s();
	if (outbox_open(uv_default_loop(), dir, &ob) < 0)
		return 1;
	t1 = now_s();
	if (outbox_lookup(ob, "bench-00000007", digest) != 0) {
		fprintf(stderr, "outbox_bench: a stored id is unknown after open\n");
		return 1;
	}
	printf("stored=%d open_seconds=%.3f\n", count, t1 - t0);
	outbox_close(ob, NULL, NULL);
	uv_run(uv_default_loop(), UV_RUN_DEFAULT);
	return 0;
}

int main(int argc, char **argv)
{
	if ((argc == 6 || (argc == 7 && strcmp(argv[6], "syncfs") == 0)) &&
	    strcmp(argv[1], "put") == 0)
		return bench_put(argv[2], atoi(argv[3]), atoi(argv[4]), (unsigned)atoi(argv[5]),
				 argc == 7);
	if (argc == 4 && strcmp(argv[1], "open") == 0)
		return bench_open(argv[2], atoi(argv[3]));
	fprintf(stderr, "usage: outbox_bench put DIR COUNT INFLIGHT BATCH_LIMIT [syncfs]\n"
			"       outbox_bench open DIR COUNT\n");
	return 2;
}
