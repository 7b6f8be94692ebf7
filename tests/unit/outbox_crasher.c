/* outbox_crasher.c - puts verdicts forever-ish and prints each acknowledged
 * id, flushed, so that test_outbox can kill it with SIGKILL mid-way.
 *
 * Usage: outbox_crasher STATE_DIR COUNT [FIRST].  Keeps 64 puts in flight;
 * the id of verdict n (FIRST <= n < FIRST + COUNT) is "req-%06d" and its
 * body {"request_id":ID,"n":n}.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "outbox.h"

static struct outbox *ob;
static int next_n, total;

static void put_next(void);

static void done_cb(void *data, int status)
{
	int n = (int)(intptr_t)data;

	if (status != 0) {
		fprintf(stderr, "outbox_crasher: req-%06d failed: %d\n", n, status);
		exit(1);
	}
	printf("req-%06d\n", n);
	fflush(stdout);
	put_next();
}

static void put_next(void)
{
	char id[32], digest[65], verdict[128];
	int n, len;

	if (next_n >= total)
		return;
	n = next_n++;
	snprintf(id, sizeof(id), "req-%06d", n);
	snprintf(digest, sizeof(digest), "%064x", (unsigned)n);
	len = snprintf(verdict, sizeof(verdict), "{\"request_id\":\"%s\",\"n\":%d}", id, n);
	if (outbox_put(ob, id, digest, verdict, (size_t)len, done_cb, (void *)(intptr_t)n) < 0) {
		fprintf(stderr, "outbox_crasher: put %s refused\n", id);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	if (argc != 3 && argc != 4)
		return 2;
	next_n = argc == 4 ? atoi(argv[3]) : 0;
	total = next_n + atoi(argv[2]);
	if (outbox_open(uv_default_loop(), argv[1], &ob) < 0)
		return 1;
	for (int i = 0; i < 64; i++)
		put_next();
	uv_run(uv_default_loop(), UV_RUN_DEFAULT);
	return 0;
}
