/* sink_driver.c - writes entries into an outbox and runs a sink on them, for shell tests against real receivers.
 *
 * Usage: sink_driver --outbox DIR --kind webhook|rabbitmq --url URL
 *          [--vhost V] [--exchange E] [--routing-key K] [--user U]
 *          [--password-file F] [--count N] [--prefix P] [--wait-ms T]
 *          [--expect delivered|kept] [--ca-file F] [--no-tls-verify]
 * DIR is a state folder: writes N records with keys SEQ.P-i (SEQ = i, 20
 * digits; the body is a small verdict naming "P-i") into a segment of
 * DIR/outbox/seg/, then opens the outbox there and runs the sink on it.
 * With --expect delivered (the default) it stops once all N were delivered
 * and exits 0 if the delivery cursor is past them all, 1 if T ms passed
 * first.  With --expect kept it runs T ms and exits 0 if nothing was
 * delivered, at least one attempt failed and the cursor is before all N.
 * Prints one line of figures on stdout.
 */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "outbox.h"
#include "outbox_log.h"
#include "sink.h"

struct drv {
	uv_loop_t loop;
	struct outbox *ob;
	struct sink *sink;
	uv_timer_t check, limit;
	int count;
	bool expect_kept, closed, done;
	uint64_t started, finished;
	struct sink_stats st;
};

static void ob_closed_cb(void *data)
{
	((struct drv *)data)->closed = true;
}

static void closed_cb(void *data)
{
	struct drv *d = data;

	outbox_close(d->ob, ob_closed_cb, d);
}

static void finish(struct drv *d)
{
	if (uv_is_closing((uv_handle_t *)&d->check))
		return;
	sink_stats(d->sink, &d->st);
	d->finished = uv_now(&d->loop);
	uv_close((uv_handle_t *)&d->check, NULL);
	uv_close((uv_handle_t *)&d->limit, NULL);
	sink_close(d->sink, closed_cb, d);
}

static void check_cb(uv_timer_t *t)
{
	struct drv *d = t->data;
	struct sink_stats st;

	sink_stats(d->sink, &st);
	if (!d->expect_kept && st.delivered >= (unsigned long long)d->count) {
		d->done = true;
		finish(d);
	}
}

static void limit_cb(uv_timer_t *t)
{
	finish(t->data);
}

/* Records the delivery cursor has not passed (their number: all were
 * written into segment 1 by main). */
static int count_left(const char *state, int n, const uint64_t *pos)
{
	struct outbox_cursor cur;
	char path[4200];
	int fd, left = 0;

	snprintf(path, sizeof(path), "%s/outbox", state);
	fd = open(path, O_RDONLY | O_DIRECTORY);
	if (fd < 0 || outbox_cursor_load(fd, "cursor", &cur) < 0)
		return -1;
	close(fd);
	for (int i = 0; i < n; i++)
		left += pos[i] >= cur.pos;
	return left;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "outbox", required_argument, NULL, 'o' },
		{ "kind", required_argument, NULL, 'k' },
		{ "url", required_argument, NULL, 'u' },
		{ "vhost", required_argument, NULL, 'v' },
		{ "exchange", required_argument, NULL, 'e' },
		{ "routing-key", required_argument, NULL, 'r' },
		{ "user", required_argument, NULL, 'U' },
		{ "password-file", required_argument, NULL, 'P' },
		{ "count", required_argument, NULL, 'n' },
		{ "prefix", required_argument, NULL, 'p' },
		{ "wait-ms", required_argument, NULL, 'w' },
		{ "expect", required_argument, NULL, 'x' },
		{ "ca-file", required_argument, NULL, 'C' },
		{ "no-tls-verify", no_argument, NULL, 'I' },
		{ NULL, 0, NULL, 0 },
	};
	struct cfg_sink cfg = {
		.kind = "webhook", .vhost = "/", .exchange = "amq.default",
		.routing_key = "", .user = "",
		.timeout_ms = 5000, .connect_timeout_ms = 2000, .max_inflight = 4,
		.backoff_min_ms = 50, .backoff_max_ms = 500, .rescan_ms = 200,
		.tls_verify = 1,
	};
	const char *outbox = NULL, *prefix = "drv";
	char path[4200];
	struct drv d = { .count = 10 };
	uint64_t *pos, off = OUTBOX_SEG_HEADER;
	int fd;
	long wait_ms = 30000;
	int c, left, ok;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'o': outbox = optarg; break;
		case 'k': cfg.kind = optarg; break;
		case 'u': cfg.url = optarg; break;
		case 'v': cfg.vhost = optarg; break;
		case 'e': cfg.exchange = optarg; break;
		case 'r': cfg.routing_key = optarg; break;
		case 'U': cfg.user = optarg; break;
		case 'P': cfg.password_file = optarg; break;
		case 'n': d.count = atoi(optarg); break;
		case 'p': prefix = optarg; break;
		case 'w': wait_ms = atol(optarg); break;
		case 'x': d.expect_kept = strcmp(optarg, "kept") == 0; break;
		case 'C': cfg.ca_file = optarg; break;
		case 'I': cfg.tls_verify = 0; break;
		default: return 2;
		}
	}
	if (!outbox || !cfg.url || d.count < 1 || d.count > 100000 || wait_ms < 1 ||
	    strlen(outbox) > 4000 || strlen(prefix) > 64) {
		fprintf(stderr, "usage: see the comment at the top of sink_driver.c\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/outbox", outbox);
	if ((mkdir(outbox, 0700) < 0 && errno != EEXIST) || (mkdir(path, 0700) < 0 && errno != EEXIST)) {
		perror(path);
		return 2;
	}
	snprintf(path, sizeof(path), "%s/outbox/seg", outbox);
	if (mkdir(path, 0700) < 0 && errno != EEXIST) {
		perror(path);
		return 2;
	}
	snprintf(path, sizeof(path), "%s/outbox/seg/00000000000000000001.log", outbox);
	pos = calloc((size_t)d.count, sizeof(*pos));
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (!pos || fd < 0 || outbox_seg_write_header(fd, 1) < 0) {
		perror(path);
		return 2;
	}
	for (int i = 0; i < d.count; i++) {
		char body[256], id[128], prefix_buf[OUTBOX_REC_PREFIX_MAX];
		size_t plen, blen;

		snprintf(id, sizeof(id), "%s-%d", prefix, i);
		blen = (size_t)snprintf(body, sizeof(body),
					"{\"id\":\"%s-%d\",\"decision\":\"clear\",\"findings\":[]}", prefix, i);
		plen = outbox_rec_prefix(prefix_buf, OUTBOX_REC_MESSAGE, (unsigned long long)i, 1, NULL,
					 id, body, blen);
		pos[i] = OUTBOX_POS(1, off);
		if (pwrite(fd, prefix_buf, plen, (off_t)off) != (ssize_t)plen ||
		    pwrite(fd, body, blen, (off_t)(off + plen)) != (ssize_t)blen) {
			perror(path);
			return 2;
		}
		off += plen + blen;
	}
	if (fsync(fd) < 0 || close(fd) < 0) {
		perror(path);
		return 2;
	}

	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (uv_loop_init(&d.loop) < 0 || outbox_open(&d.loop, outbox, &d.ob) < 0 ||
	    sink_open(&d.loop, &cfg, d.ob, &d.sink) < 0) {
		fprintf(stderr, "sink_driver: cannot open the sink\n");
		return 2;
	}
	d.started = uv_now(&d.loop);
	uv_timer_init(&d.loop, &d.check);
	uv_timer_init(&d.loop, &d.limit);
	d.check.data = d.limit.data = &d;
	uv_timer_start(&d.check, check_cb, 5, 5);
	/* Delivery ends the wait early, so its bound can be generous and is
	 * scaled like every test bound; "kept" waits the given time. */
	if (!d.expect_kept && getenv("KVS_TEST_TIMEOUT_SCALE") &&
	    atof(getenv("KVS_TEST_TIMEOUT_SCALE")) > 1)
		wait_ms = (long)((double)wait_ms * atof(getenv("KVS_TEST_TIMEOUT_SCALE")));
	uv_timer_start(&d.limit, limit_cb, (uint64_t)wait_ms, 0);
	uv_run(&d.loop, UV_RUN_DEFAULT);
	uv_loop_close(&d.loop);
	curl_global_cleanup();

	left = count_left(outbox, d.count, pos);
	free(pos);
	printf("sink_driver: kind=%s count=%d delivered=%llu failures=%llu attempts=%llu "
	       "left=%d ms=%llu\n", cfg.kind, d.count, d.st.delivered, d.st.failures,
	       d.st.attempts, left, (unsigned long long)(d.finished - d.started));
	if (d.expect_kept)
		ok = d.st.delivered == 0 && d.st.failures > 0 && left == d.count;
	else
		ok = d.done && left == 0;
	return ok ? 0 : 1;
}
