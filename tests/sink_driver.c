/* sink_driver.c - writes entries into an outbox and runs a sink on them, for shell tests against real receivers.
 *
 * Usage: sink_driver --outbox DIR --kind webhook|rabbitmq --url URL
 *          [--vhost V] [--exchange E] [--routing-key K] [--user U]
 *          [--password-file F] [--count N] [--prefix P] [--wait-ms T]
 *          [--expect delivered|kept] [--ca-file F] [--no-tls-verify]
 * Writes N entries DIR/new/SEQ.P-i.json (SEQ = i, 20 digits; the body is a
 * small verdict naming "P-i"), then runs the sink.  With --expect delivered
 * (the default) it stops once all N were retired and exits 0 if they were,
 * 1 if T ms passed first.  With --expect kept it runs T ms and exits 0 if
 * nothing was retired, at least one attempt failed and all N files are
 * still there.  Prints one line of figures on stdout.
 */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sink.h"

struct drv {
	uv_loop_t loop;
	struct sink *sink;
	uv_timer_t check, limit;
	int count;
	bool expect_kept, closed, done;
	uint64_t started, finished;
	struct sink_stats st;
};

static void closed_cb(void *data)
{
	((struct drv *)data)->closed = true;
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

static int count_left(const char *outbox, const char *prefix, int n)
{
	char path[4200];
	int left = 0;

	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/new/%020d.%s-%d.json", outbox, i, prefix, i);
		if (access(path, F_OK) == 0)
			left++;
	}
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
	snprintf(path, sizeof(path), "%s/new", outbox);
	if ((mkdir(outbox, 0700) < 0 && errno != EEXIST) ||
	    (mkdir(path, 0700) < 0 && errno != EEXIST)) {
		perror(path);
		return 2;
	}
	for (int i = 0; i < d.count; i++) {
		FILE *f;

		snprintf(path, sizeof(path), "%s/new/%020d.%s-%d.json", outbox, i, prefix, i);
		f = fopen(path, "w");
		if (!f || fprintf(f, "{\"id\":\"%s-%d\",\"decision\":\"clear\",\"findings\":[]}",
				  prefix, i) < 0 || fclose(f) != 0) {
			perror(path);
			return 2;
		}
	}

	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (uv_loop_init(&d.loop) < 0 || sink_open(&d.loop, &cfg, outbox, &d.sink) < 0) {
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

	left = count_left(outbox, prefix, d.count);
	printf("sink_driver: kind=%s count=%d delivered=%llu failures=%llu attempts=%llu "
	       "left=%d ms=%llu\n", cfg.kind, d.count, d.st.delivered, d.st.failures,
	       d.st.attempts, left, (unsigned long long)(d.finished - d.started));
	if (d.expect_kept)
		ok = d.st.delivered == 0 && d.st.failures > 0 && left == d.count;
	else
		ok = d.done && left == 0;
	return ok ? 0 : 1;
}
