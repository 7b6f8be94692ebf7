/* test_sink.c - the webhook sink against a real HTTP receiver on 127.0.0.1 that fails in every way it can.
 *
 * The receiver runs in threads of the test process (one accept thread, one
 * thread per connection) and is scripted: down (port closed), then up,
 * answering 500 a number of times, then keeping one request unanswered past
 * the sink's time limit, then 200.  On every request it checks, under its
 * lock, that the delivery cursor has passed no entry that was not
 * confirmed (the 200 is recorded before it is written), records the order
 * of first attempts, and checks the Idempotency-Key header and the body.
 * Entries are records of the outbox's log: written straight into a segment
 * (with SEQ = i) while no outbox is open, or posted through the outbox
 * while the sink runs.
 */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "outbox.h"
#include "outbox_log.h"
#include "sink.h"
#include "ck_main.h"

#define MAXN 3000
#define MAXCONN 64

struct rx {
	pthread_mutex_t mu;
	int port;
	int lfd;
	bool running;
	volatile bool stop;
	pthread_t accept_thr;
	pthread_t conn_thr[MAXCONN];
	int n_conn;
	char dir[256];        /* outbox dir */
	int n;                /* entries in play */
	bool lax;             /* names are the outbox's: key any SEQ + ".req-<i>" */
	bool any_seq;         /* ... key only, the body is still checked */
	/* script */
	int fail500;          /* answer 500 this many times */
	int hang;             /* then keep this many unanswered */
	int hang_ms;
	int delay_ms;         /* delay before each answer */
	int poison;           /* answer 400 to this entry ... */
	int poison_left;      /* ... this many times */
	/* record */
	int got[MAXN];
	bool confirmed[MAXN];
	int confirm_order[MAXN];
	int n_confirmed;
	int first[MAXN];
	int n_first;
	int requests, answered500, hung;
	int active, max_active;
	int bad_key, bad_body, unconfirmed_gone;
};

static void entry_name(char *buf, size_t sz, int i)
{
	snprintf(buf, sz, "%020d.req-%d.json", i, i);
}

static void entry_body(char *buf, size_t sz, int i)
{
	snprintf(buf, sz, "{\"id\":\"req-%d\",\"decision\":\"clear\",\"note\":\"caf\xc3\xa9 \\\"q\\\"\"}", i);
}

/* Where entry i was written into the log (0: not written straight). */
static uint64_t pos_of[MAXN];

static uint64_t cursor_of(const char *dir)
{
	struct outbox_cursor cur;
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/outbox", dir);
	fd = open(path, O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(outbox_cursor_load(fd, "cursor", &cur), 0);
	close(fd);
	return cur.pos;
}

/* Entry i is not yet delivered: the cursor has not passed it (entries
 * posted through the outbox cannot be told here and count as there). */
static bool entry_exists(const char *dir, int i)
{
	return !pos_of[i] || cursor_of(dir) <= pos_of[i];
}

/* Append entry i to segment 1 (made if missing); no outbox may be open. */
static void write_entry(const char *dir, int i)
{
	char path[512], body[256], id[32], prefix[OUTBOX_REC_PREFIX_MAX];
	struct stat st;
	size_t plen;
	int fd;

	snprintf(path, sizeof(path), "%s/outbox/seg/00000000000000000001.log", dir);
	fd = open(path, O_RDWR | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	if (st.st_size == 0) {
		ck_assert_int_eq(outbox_seg_write_header(fd, 1), 0);
		st.st_size = OUTBOX_SEG_HEADER;
	}
	entry_body(body, sizeof(body), i);
	snprintf(id, sizeof(id), "req-%d", i);
	plen = outbox_rec_prefix(prefix, OUTBOX_REC_MESSAGE, (unsigned long long)i, 1, NULL, id,
				 body, strlen(body));
	ck_assert_int_eq(pwrite(fd, prefix, plen, st.st_size), (ssize_t)plen);
	ck_assert_int_eq(pwrite(fd, body, strlen(body), st.st_size + (off_t)plen), (ssize_t)strlen(body));
	close(fd);
	pos_of[i] = OUTBOX_POS(1, st.st_size);
}

/* Records of the log the cursor has not passed. */
static int count_entries(const char *dir)
{
	char path[512];
	uint64_t cur = cursor_of(dir);
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "%s/outbox/seg", dir);
	d = opendir(path);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d))) {
		uint64_t no, off = OUTBOX_SEG_HEADER;
		char p2[800];
		struct stat st;
		int fd;

		if (outbox_seg_parse(de->d_name, &no) < 0)
			continue;
		snprintf(p2, sizeof(p2), "%s/%s", path, de->d_name);
		fd = open(p2, O_RDONLY);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(fstat(fd, &st), 0);
		for (;;) {
			struct outbox_rec rec;

			if (outbox_seg_read(fd, no, (uint64_t)st.st_size, off, &rec, NULL) < 0)
				break;
			n += rec.pos >= cur;
			off += rec.size;
		}
		close(fd);
	}
	closedir(d);
	return n;
}

/* A state folder with an empty outbox. */
static void make_outbox(char *dir, size_t sz)
{
	char path[512];

	snprintf(dir, sz, "/tmp/test_sink.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/outbox", dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/outbox/seg", dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	memset(pos_of, 0, sizeof(pos_of));
}

static int rm_one(const char *path, const struct stat *sb, int type, struct FTW *ftw);

static void remove_outbox(const char *dir)
{
	ck_assert_int_eq(nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}

static int rm_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	return remove(path);
}

/* ---- The receiver ---- */

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static bool write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

static const char *find_header(const char *head, const char *name, size_t *len)
{
	size_t nl = strlen(name);

	for (const char *p = strstr(head, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n")) {
		const char *line = p + 2, *end = strstr(line, "\r\n");
		if (!end)
			break;
		if ((size_t)(end - line) > nl && strncasecmp(line, name, nl) == 0 &&
		    line[nl] == ':') {
			const char *v = line + nl + 1;
			while (*v == ' ')
				v++;
			*len = (size_t)(end - v);
			return v;
		}
	}
	return NULL;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

struct conn {
	struct rx *rx;
	int fd;
};

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	struct rx *rx = c->rx;
	char buf[65536];
	size_t have = 0;

	for (;;) {
		char *eoh, expect[256], head[8192];
		const char *v;
		size_t vlen, hlen, clen = 0, need;
		int idx = -1, action;
		ssize_t r;

		while (!(eoh = memmem(buf, have, "\r\n\r\n", 4))) {
			if (have == sizeof(buf))
				goto out;
			r = recv(c->fd, buf + have, sizeof(buf) - have, 0);
			if (r <= 0)
				goto out;
			have += (size_t)r;
		}
		hlen = (size_t)(eoh - buf) + 4;
		if (hlen >= sizeof(head))
			goto out;
		memcpy(head, buf, hlen);
		head[hlen] = '\0';
		v = find_header(head, "Content-Length", &vlen);
		if (v)
			clen = strtoul(v, NULL, 10);
		need = hlen + clen;
		if (need > sizeof(buf))
			goto out;
		while (have < need) {
			r = recv(c->fd, buf + have, sizeof(buf) - have, 0);
			if (r <= 0)
				goto out;
			have += (size_t)r;
		}

		pthread_mutex_lock(&rx->mu);
		rx->requests++;
		rx->active++;
		if (rx->active > rx->max_active)
			rx->max_active = rx->active;
		v = find_header(head, "Idempotency-Key", &vlen);
		if (v && vlen > 20 && vlen < 64) {
			char key[64], want[64];

			snprintf(key, sizeof(key), "%.*s", (int)vlen, v);
			idx = (int)strtol(key, NULL, 10);
			if (rx->lax || rx->any_seq) {
				const char *at = strstr(key, ".req-");
				idx = at && at == key + 20 ? atoi(at + 5) : -1;
				if (idx >= rx->n)
					idx = -1;
			} else if (idx >= 0 && idx < rx->n) {
				entry_name(want, sizeof(want), idx);
				want[strlen(want) - 5] = '\0';
				if (strcmp(key, want) != 0)
					idx = -1;
			} else {
				idx = -1;
			}
		}
		if (idx < 0 || strncmp(head, "POST ", 5) != 0) {
			rx->bad_key++;
		} else {
			entry_body(expect, sizeof(expect), idx);
			if (!rx->lax &&
			    (clen != strlen(expect) || memcmp(buf + hlen, expect, clen) != 0))
				rx->bad_body++;
			if (rx->got[idx]++ == 0)
				rx->first[rx->n_first++] = idx;
		}
		/* The cursor may pass nothing that was not confirmed
		 * (checked on every request for small runs). */
		for (int i = 0; i < rx->n && rx->n <= 256 && !rx->lax; i++)
			if (!rx->confirmed[i] && !entry_exists(rx->dir, i))
				rx->unconfirmed_gone++;
		if (idx >= 0 && idx == rx->poison && rx->poison_left > 0) {
			rx->poison_left--;
			action = 400;
		} else if (rx->fail500 > 0) {
			rx->fail500--;
			rx->answered500++;
			action = 500;
		} else if (rx->hang > 0) {
			rx->hang--;
			rx->hung++;
			action = 0;
		} else {
			action = 200;
			if (idx >= 0 && !rx->confirmed[idx]) {
				rx->confirmed[idx] = true;
				rx->confirm_order[rx->n_confirmed++] = idx;
			}
		}
		pthread_mutex_unlock(&rx->mu);

		if (action == 0) {
			sleep_ms(rx->hang_ms);
			goto out;
		}
		if (rx->delay_ms)
			sleep_ms(rx->delay_ms);
		pthread_mutex_lock(&rx->mu);
		rx->active--;
		pthread_mutex_unlock(&rx->mu);
		if (action == 400) {
			static const char a[] = "HTTP/1.1 400 Bad Request\r\n"
						"Content-Length: 4\r\n\r\nbad\n";
			if (!write_all(c->fd, a, sizeof(a) - 1))
				goto out;
		} else if (action == 500) {
			static const char a[] = "HTTP/1.1 500 Internal Server Error\r\n"
						"Content-Length: 5\r\n\r\noops\n";
			if (!write_all(c->fd, a, sizeof(a) - 1))
				goto out;
		} else {
			static const char a[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n";
			if (!write_all(c->fd, a, sizeof(a) - 1))
				goto out;
		}
		memmove(buf, buf + need, have - need);
		have -= need;
	}
out:
	close(c->fd);
	free(c);
	return NULL;
}

static void *accept_main(void *arg)
{
	struct rx *rx = arg;

	while (!rx->stop) {
		struct pollfd p = { .fd = rx->lfd, .events = POLLIN };
		struct conn *c;
		int fd;

		if (poll(&p, 1, 50) <= 0)
			continue;
		fd = accept(rx->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		c = malloc(sizeof(*c));
		c->rx = rx;
		c->fd = fd;
		pthread_mutex_lock(&rx->mu);
		if (rx->n_conn < MAXCONN &&
		    pthread_create(&rx->conn_thr[rx->n_conn], NULL, conn_main, c) == 0) {
			rx->n_conn++;
		} else {
			close(fd);
			free(c);
		}
		pthread_mutex_unlock(&rx->mu);
	}
	return NULL;
}

static void rx_init(struct rx *rx, const char *dir, int n)
{
	memset(rx, 0, sizeof(*rx));
	pthread_mutex_init(&rx->mu, NULL);
	rx->port = free_port();
	rx->lfd = -1;
	snprintf(rx->dir, sizeof(rx->dir), "%s", dir);
	rx->n = n;
	rx->poison = -1;
}

static void rx_up(struct rx *rx)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int one = 1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)rx->port);
	rx->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(rx->lfd, 0);
	setsockopt(rx->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ck_assert_int_eq(bind(rx->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(rx->lfd, 64), 0);
	rx->stop = false;
	ck_assert_int_eq(pthread_create(&rx->accept_thr, NULL, accept_main, rx), 0);
	rx->running = true;
}

/* Stop accepting and wait for every connection thread (the sink is closed
 * by now, so its connections are too). */
static void rx_down(struct rx *rx)
{
	if (!rx->running)
		return;
	rx->stop = true;
	pthread_join(rx->accept_thr, NULL);
	close(rx->lfd);
	for (int i = 0; i < rx->n_conn; i++)
		pthread_join(rx->conn_thr[i], NULL);
	rx->n_conn = 0;
	rx->running = false;
}

/* ---- Driving the sink ---- */

struct run {
	uv_loop_t loop;
	struct outbox *ob;
	struct sink *sink;
	struct rx *rx;
	uv_timer_t up_timer, check_timer;
	int up_after_ms;      /* < 0: the receiver is already up, or stays down */
	int want;             /* stop once this many were delivered */
	bool closed;
	size_t retired;            /* counted by the retired callback */
	int later_from, later_to;  /* entries written while the sink runs */
	int later_ms;
	bool later_kick;           /* announce them with sink_kick() */
	uv_timer_t later_timer;
	uint64_t started, finished;
	struct sink_stats at_limit;
};

static void up_cb(uv_timer_t *t)
{
	struct run *run = t->data;

	rx_up(run->rx);
}

static void closed_cb(void *data)
{
	struct run *run = data;

	run->closed = true;
}

static void check_cb(uv_timer_t *t)
{
	struct run *run = t->data;
	struct sink_stats st;

	sink_stats(run->sink, &st);
	if (st.delivered >= (unsigned long long)run->want) {
		run->finished = uv_now(&run->loop);
		uv_timer_stop(&run->check_timer);
		uv_close((uv_handle_t *)&run->check_timer, NULL);
		uv_close((uv_handle_t *)&run->up_timer, NULL);
		uv_close((uv_handle_t *)&run->later_timer, NULL);
		sink_close(run->sink, closed_cb, run);
	}
}

static void later_durable(void *data, int status)
{
	struct run *run = data;

	ck_assert_int_eq(status, 0);
	if (run->later_kick && !run->closed)
		sink_kick(run->sink);
}

/* Entries written while the sink runs go through the outbox (which gives
 * them its own SEQ); a kick, if any, follows their durability. */
static void later_cb(uv_timer_t *t)
{
	struct run *run = t->data;
	char id[32], body[256];

	pthread_mutex_lock(&run->rx->mu);
	run->rx->n = run->later_to;
	run->rx->any_seq = true;
	pthread_mutex_unlock(&run->rx->mu);
	for (int i = run->later_from; i < run->later_to; i++) {
		snprintf(id, sizeof(id), "req-%d", i);
		entry_body(body, sizeof(body), i);
		ck_assert_int_eq(outbox_post(run->ob, id, body, strlen(body), later_durable, run), 0);
	}
}

static struct cfg_sink webhook_cfg(char *url, size_t sz, int port)
{
	snprintf(url, sz, "http://127.0.0.1:%d/hook", port);
	return (struct cfg_sink){
		.kind = "webhook",
		.url = url,
		.timeout_ms = 300,
		.connect_timeout_ms = 200,
		.max_inflight = 1,
		.backoff_min_ms = 20,
		.backoff_max_ms = 200,
		.rescan_ms = 100,
		.tls_verify = 1,
	};
}

static void retired_cb(void *data, size_t n)
{
	((struct run *)data)->retired += n;
}

static void limit_cb(uv_timer_t *t)
{
	struct run *run = t->data;

	if (uv_is_closing((uv_handle_t *)&run->check_timer))
		return; /* finished already */
	/* Out of time: close as a shutdown would; the test then fails. */
	sink_stats(run->sink, &run->at_limit);
	uv_close((uv_handle_t *)&run->check_timer, NULL);
	uv_close((uv_handle_t *)&run->up_timer, NULL);
	uv_close((uv_handle_t *)&run->later_timer, NULL);
	sink_close(run->sink, closed_cb, run);
}

/* Run the sink until `want` entries are delivered or `limit_ms` passed;
 * returns the stats taken at the time limit (zero if it finished). */
static struct sink_stats run_sink(struct run *run, const struct cfg_sink *cfg,
				  const char *dir, int limit_ms)
{
	uv_timer_t limit;

	ck_assert_int_eq(uv_loop_init(&run->loop), 0);
	ck_assert_int_eq(outbox_open(&run->loop, dir, &run->ob), 0);
	outbox_set_min_free(run->ob, 0);
	ck_assert_int_eq(sink_open(&run->loop, cfg, run->ob, &run->sink), 0);
	sink_set_retired_cb(run->sink, retired_cb, run);
	run->started = uv_now(&run->loop);
	uv_timer_init(&run->loop, &run->up_timer);
	uv_timer_init(&run->loop, &run->check_timer);
	uv_timer_init(&run->loop, &limit);
	uv_timer_init(&run->loop, &run->later_timer);
	run->up_timer.data = run->check_timer.data = limit.data = run;
	run->later_timer.data = run;
	if (run->later_to > run->later_from)
		uv_timer_start(&run->later_timer, later_cb, (uint64_t)run->later_ms, 0);
	if (run->up_after_ms >= 0)
		uv_timer_start(&run->up_timer, up_cb, (uint64_t)run->up_after_ms, 0);
	uv_timer_start(&run->check_timer, check_cb, 10, 10);
	uv_timer_start(&limit, limit_cb, (uint64_t)limit_ms, 0);
	while (!run->closed)
		uv_run(&run->loop, UV_RUN_ONCE);
	outbox_close(run->ob, NULL, NULL);
	uv_close((uv_handle_t *)&limit, NULL);
	uv_run(&run->loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&run->loop), 0);
	return run->at_limit;
}

START_TEST(test_down_up_500_timeout)
{
	enum { N = 12 };
	struct rx rx;
	struct run run = { .rx = &rx, .up_after_ms = 400, .want = N };
	struct cfg_sink cfg;
	char dir[256], url[128];

	make_outbox(dir, sizeof(dir));
	for (int i = 0; i < N; i++)
		write_entry(dir, i);
	rx_init(&rx, dir, N);
	rx.fail500 = 4;
	rx.hang = 1;
	rx.hang_ms = 700;
	cfg = webhook_cfg(url, sizeof(url), rx.port);
	run_sink(&run, &cfg, dir, 15000);
	rx_down(&rx);

	ck_assert_msg(run.finished, "not every entry was delivered in time");
	ck_assert_int_eq(count_entries(dir), 0);
	for (int i = 0; i < N; i++) {
		ck_assert_msg(rx.confirmed[i], "entry %d never confirmed", i);
		ck_assert_int_ge(rx.got[i], 1);
	}
	ck_assert_int_eq(rx.unconfirmed_gone, 0);
	ck_assert_int_eq(rx.bad_key, 0);
	ck_assert_int_eq(rx.bad_body, 0);
	ck_assert_int_eq(rx.answered500, 4);
	ck_assert_int_eq(rx.hung, 1);
	ck_assert_int_eq(rx.n_first, N);
	for (int i = 1; i < rx.n_first; i++)
		ck_assert_msg(rx.first[i - 1] < rx.first[i], "first attempts out of order at %d", i);
	/* It was down for 400 ms: at least one attempt hit the closed port, so
	 * the receiver saw fewer requests than attempts. */
	ck_assert_int_ge(rx.requests, N + 5);
	fprintf(stderr, "down/up/500/timeout: %d entries in %llu ms, %d requests\n", N,
		(unsigned long long)(run.finished - run.started), rx.requests);
	remove_outbox(dir);
}
END_TEST

START_TEST(test_bounded_concurrency)
{
	enum { N = 80, INFLIGHT = 4 };
	struct rx rx;
	struct run run = { .rx = &rx, .up_after_ms = -1, .want = N };
	struct cfg_sink cfg;
	char dir[256], url[128];

	make_outbox(dir, sizeof(dir));
	for (int i = 0; i < N; i++)
		write_entry(dir, i);
	rx_init(&rx, dir, N);
	rx.delay_ms = 10;
	rx_up(&rx);
	cfg = webhook_cfg(url, sizeof(url), rx.port);
	cfg.max_inflight = INFLIGHT;
	cfg.timeout_ms = 5000;
	run_sink(&run, &cfg, dir, 20000);
	rx_down(&rx);

	ck_assert_msg(run.finished, "not every entry was delivered in time");
	ck_assert_int_eq(count_entries(dir), 0);
	ck_assert_int_eq(rx.requests, N);
	ck_assert_uint_eq(run.retired, N);
	ck_assert_int_le(rx.max_active, INFLIGHT);
	ck_assert_int_ge(rx.max_active, 2);
	ck_assert_int_eq(rx.unconfirmed_gone, 0);
	ck_assert_int_eq(rx.bad_key + rx.bad_body, 0);
	fprintf(stderr, "concurrency: %d entries in %llu ms, at most %d at once\n", N,
		(unsigned long long)(run.finished - run.started), rx.max_active);
	remove_outbox(dir);
}
END_TEST

/* A sink that only ever sees 500s retires nothing; the next sink delivers
 * what the first left, and picks up entries that appear while it runs. */
START_TEST(test_restart_resumes)
{
	enum { N = 10, LATER = 5 };
	struct rx rx;
	struct run run1 = { .rx = &rx, .up_after_ms = -1, .want = 1 };
	struct run run2 = { .rx = &rx, .up_after_ms = -1, .want = N + LATER };
	struct cfg_sink cfg;
	struct sink_stats st;
	char dir[256], url[128];

	make_outbox(dir, sizeof(dir));
	for (int i = 0; i < N; i++)
		write_entry(dir, i);
	rx_init(&rx, dir, N);
	rx.fail500 = 1000000;
	rx_up(&rx);
	cfg = webhook_cfg(url, sizeof(url), rx.port);
	cfg.max_inflight = 3;
	st = run_sink(&run1, &cfg, dir, 600);
	ck_assert_int_eq(run1.finished, 0);
	ck_assert_int_eq(st.delivered, 0);
	ck_assert_int_ge(st.failures, 3);
	ck_assert_int_eq(count_entries(dir), N);

	/* Entries written after the first sink are found by the second one. */
	for (int i = N; i < N + LATER; i++)
		write_entry(dir, i);
	pthread_mutex_lock(&rx.mu);
	rx.fail500 = 0;
	rx.n = N + LATER;
	pthread_mutex_unlock(&rx.mu);
	run_sink(&run2, &cfg, dir, 10000);
	rx_down(&rx);
	ck_assert_msg(run2.finished, "the second sink did not deliver everything");
	ck_assert_int_eq(count_entries(dir), 0);
	ck_assert_int_eq(rx.unconfirmed_gone, 0);
	for (int i = 0; i < N + LATER; i++)
		ck_assert(rx.confirmed[i]);
	remove_outbox(dir);
}
END_TEST

/* The delivery cursor is durable: a second sink on the same outbox starts
 * after what the first one had confirmed (nothing before it is sent again)
 * and delivers everything after it, at least once. */
START_TEST(test_cursor_across_restart)
{
	enum { N = 10 };
	struct rx rx;
	struct run run1 = { .rx = &rx, .up_after_ms = -1, .want = 4 };
	struct run run2 = { .rx = &rx, .up_after_ms = -1, .want = 1 };
	struct cfg_sink cfg;
	char dir[256], url[128];
	int first_open = 0, again = 0, acked;

	make_outbox(dir, sizeof(dir));
	for (int i = 0; i < N; i++)
		write_entry(dir, i);
	rx_init(&rx, dir, N);
	rx.delay_ms = 20;
	rx_up(&rx);
	cfg = webhook_cfg(url, sizeof(url), rx.port);
	cfg.timeout_ms = 5000;
	run_sink(&run1, &cfg, dir, 10000);
	ck_assert_msg(run1.finished, "the first sink did not deliver 4");
	pthread_mutex_lock(&rx.mu);
	while (first_open < N && rx.confirmed[first_open])
		first_open++;
	pthread_mutex_unlock(&rx.mu);
	ck_assert_int_ge(first_open, 4);
	/* The cursor is past the 4 the sink saw confirmed; one the receiver
	 * confirmed while the sink was closing may be sent again. */
	acked = N - count_entries(dir);
	ck_assert_int_ge(acked, 4);
	ck_assert_int_le(acked, first_open);
	run2.want = N - acked;
	run_sink(&run2, &cfg, dir, 10000);
	rx_down(&rx);
	ck_assert_msg(run2.finished, "the second sink did not deliver the rest");
	ck_assert_int_eq(count_entries(dir), 0);
	for (int i = 0; i < N; i++) {
		ck_assert_msg(rx.confirmed[i], "entry %d never confirmed", i);
		if (i < acked && rx.got[i] != 1)
			again++;
	}
	ck_assert_int_eq(again, 0);
	ck_assert_int_eq(rx.unconfirmed_gone, 0);
	ck_assert_int_eq(rx.bad_key + rx.bad_body, 0);
	remove_outbox(dir);
}
END_TEST

/* A backlog larger than the sink's window (1024 entries) drains
 * completely, each entry once, and the window refills from rescans. */
START_TEST(test_backlog_beyond_window)
{
	enum { N = 2500, INFLIGHT = 8 };
	struct rx rx;
	struct run run = { .rx = &rx, .up_after_ms = -1, .want = N };
	struct cfg_sink cfg;
	char dir[256], url[128];

	make_outbox(dir, sizeof(dir));
	for (int i = 0; i < N; i++)
		write_entry(dir, i);
	rx_init(&rx, dir, N);
	rx_up(&rx);
	cfg = webhook_cfg(url, sizeof(url), rx.port);
	cfg.max_inflight = INFLIGHT;
	cfg.timeout_ms = 5000;
	cfg.rescan_ms = 3600000; /* refills come from the drain, not the timer */
	run_sink(&run, &cfg, dir, 40000);
	rx_down(&rx);
	ck_assert_msg(run.finished, "the backlog did not drain: %llu delivered, %llu pending, %d requests", run.at_limit.delivered, run.at_limit.pending, rx.requests);
	ck_assert_int_eq(count_entries(dir), 0);
	ck_assert_int_eq(rx.requests, N);
	ck_assert_int_eq(rx.n_first, N);
	/* (Order across concurrent connections is up to the scheduler; the
	 * single-connection tests check the order.) */
	fprintf(stderr, "backlog: %d entries in %llu ms (%.0f/s) with %d in flight\n", N,
		(unsigned long long)(run.finished - run.started),
		N * 1000.0 / (double)(run.finished - run.started + 1), INFLIGHT);
	remove_outbox(dir);
}
END_TEST

/* The real outbox feeds the sink: outbox_set_notify() kicks it after each
 * group commit and the retired callback lowers outbox_depth(). */
struct chain {
	struct outbox *ob;
	struct sink *sink;
	struct rx *rx;
	int n, durable, put_err;
	uint64_t deadline;
	size_t depth_at_end;
	struct sink_stats st;
	bool sink_closed, ob_closed;
	uv_timer_t check;
};

static void chain_kick(void *data)
{
	sink_kick(((struct chain *)data)->sink);
}

static void chain_retired(void *data, size_t n)
{
	outbox_retired(((struct chain *)data)->ob, n);
}

static void chain_durable(void *data, int status)
{
	struct chain *c = data;

	if (status == 0)
		c->durable++;
	else
		c->put_err = status;
}

static void chain_ob_closed(void *data)
{
	((struct chain *)data)->ob_closed = true;
}

static void chain_sink_closed(void *data)
{
	struct chain *c = data;

	c->sink_closed = true;
	outbox_close(c->ob, chain_ob_closed, c);
}

static void chain_check(uv_timer_t *t)
{
	struct chain *c = t->data;

	sink_stats(c->sink, &c->st);
	if (c->st.delivered >= (unsigned long long)c->n || uv_now(t->loop) > c->deadline) {
		c->depth_at_end = outbox_depth(c->ob);
		uv_close((uv_handle_t *)t, NULL);
		sink_close(c->sink, chain_sink_closed, c);
	}
}

START_TEST(test_fed_by_outbox)
{
	enum { N = 40 };
	struct rx rx;
	struct chain c = { .rx = &rx, .n = N };
	struct cfg_sink cfg;
	char dir[256], url[128], verdict[256], id[32], sha[65];
	uv_loop_t loop;

	make_outbox(dir, sizeof(dir)); /* the state folder; outbox/ goes inside */
	rx_init(&rx, dir, N);
	rx.lax = true;
	rx_up(&rx);
	cfg = webhook_cfg(url, sizeof(url), rx.port);
	cfg.max_inflight = 4;
	cfg.rescan_ms = 3600000; /* only the outbox's notify may wake the sink */
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	ck_assert_int_eq(outbox_open(&loop, dir, &c.ob), 0);
	outbox_set_min_free(c.ob, 0);
	ck_assert_int_eq(sink_open(&loop, &cfg, c.ob, &c.sink), 0);
	sink_set_retired_cb(c.sink, chain_retired, &c);
	outbox_set_notify(c.ob, chain_kick, &c);
	memset(sha, 'a', 64);
	sha[64] = '\0';
	for (int i = 0; i < N; i++) {
		snprintf(id, sizeof(id), "req-%d", i);
		snprintf(verdict, sizeof(verdict), "{\"request_id\":\"%s\",\"decision\":\"clear\"}", id);
		ck_assert_int_eq(outbox_put(c.ob, id, sha, verdict, strlen(verdict), chain_durable, &c), 0);
	}
	uv_timer_init(&loop, &c.check);
	c.check.data = &c;
	c.deadline = uv_now(&loop) + (uint64_t)(60000 * ck_timeout_scale());
	uv_timer_start(&c.check, chain_check, 10, 10);
	while (!c.ob_closed) {
		if (!c.sink_closed)
			ck_assert_uint_le(outbox_depth(c.ob), N);
		uv_run(&loop, UV_RUN_ONCE);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	rx_down(&rx);
	ck_assert_int_eq(c.put_err, 0);
	ck_assert_uint_eq(c.st.delivered, N);
	ck_assert_int_eq(c.durable, N);
	for (int i = 0; i < N; i++)
		ck_assert_msg(rx.confirmed[i], "verdict %d never arrived", i);
	ck_assert_int_eq(rx.bad_key, 0);
	ck_assert_int_eq(count_entries(dir), 0);
	ck_assert_uint_eq(c.depth_at_end, 0);
	ck_assert_int_eq(nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}
END_TEST

/* A message the receiver refuses (400) steps aside: the entries after it
 * are delivered meanwhile, and it is delivered once the receiver takes it. */
START_TEST(test_refused_message_steps_aside)
{
	enum { N = 6, BAD = 1 };
	struct rx rx;
	struct run run = { .rx = &rx, .up_after_ms = -1, .want = N };
	struct cfg_sink cfg;
	char dir[256], url[128];

	make_outbox(dir, sizeof(dir));
	for (int i = 0; i < N; i++)
		write_entry(dir, i);
	rx_init(&rx, dir, N);
	rx.poison = BAD;
	rx.poison_left = 3;
	rx_up(&rx);
	cfg = webhook_cfg(url, sizeof(url), rx.port);
	cfg.backoff_min_ms = 100;
	cfg.backoff_max_ms = 300;
	run_sink(&run, &cfg, dir, 10000);
	rx_down(&rx);
	ck_assert(run.finished);
	ck_assert_int_eq(rx.got[BAD], 4);
	ck_assert_int_eq(rx.n_confirmed, N);
	/* Everything else went through before the refused entry. */
	ck_assert_int_eq(rx.confirm_order[N - 1], BAD);
	ck_assert_int_eq(rx.unconfirmed_gone, 0);
	remove_outbox(dir);
}
END_TEST

/* Entries that appear while the sink runs are noticed at once with
 * sink_kick(), and without it by the periodic rescan. */
static void new_entries_while_running(bool kick)
{
	enum { N = 3, LATER = 4 };
	struct rx rx;
	struct run run = { .rx = &rx, .up_after_ms = -1, .want = N + LATER,
			   .later_from = N, .later_to = N + LATER, .later_ms = 150,
			   .later_kick = kick };
	struct cfg_sink cfg;
	char dir[256], url[128];

	make_outbox(dir, sizeof(dir));
	for (int i = 0; i < N; i++)
		write_entry(dir, i);
	rx_init(&rx, dir, N);
	rx_up(&rx);
	cfg = webhook_cfg(url, sizeof(url), rx.port);
	/* With a kick, the rescan period alone would be far too slow. */
	cfg.rescan_ms = kick ? 3600000 : 100;
	run_sink(&run, &cfg, dir, kick ? 1500 : 5000);
	rx_down(&rx);
	ck_assert_msg(run.finished, "entries written while running were not delivered");
	ck_assert_int_eq(count_entries(dir), 0);
	ck_assert_int_eq(rx.requests, N + LATER);
	for (int i = 1; i < rx.n_first; i++)
		ck_assert(rx.first[i - 1] < rx.first[i]);
	remove_outbox(dir);
}

START_TEST(test_kick)
{
	new_entries_while_running(true);
}
END_TEST

START_TEST(test_rescan)
{
	new_entries_while_running(false);
}
END_TEST

/* The table works with the configuration loader: defaults, values,
 * unknown keys and out-of-range numbers with file:line. */
START_TEST(test_options_parse)
{
	static const char good[] =
		"sink = { kind = \"rabbitmq\"; url = \"http://127.0.0.1:15672\";\n"
		"  exchange = \"verdicts\"; max_inflight = 8; tls_verify = false; };\n";
	static const char bad[] =
		"sink = { kind = \"webhook\";\n  colour = \"blue\";\n  max_inflight = 0; };\n";
	struct cfg_errors e = { .out = NULL };
	struct cfg_arena arena = { 0 };
	struct cfg_sink c = { 0 };
	const char *opt;
	char *buf = NULL, path[64];
	size_t len = 0;
	config_t lc;
	FILE *out;

	config_init(&lc);
	ck_assert_int_eq(config_read_string(&lc, good), CONFIG_TRUE);
	ck_assert_int_eq(cfg_parse_options(config_lookup(&lc, "sink"), sink_options, &c, "/tmp",
					   NULL, &arena, &e), 0);
	ck_assert_str_eq(c.kind, "rabbitmq");
	ck_assert_str_eq(c.exchange, "verdicts");
	ck_assert_str_eq(c.vhost, "/");
	ck_assert_int_eq(c.max_inflight, 8);
	ck_assert_int_eq(c.timeout_ms, 10000);
	ck_assert_int_eq(c.backoff_min_ms, 200);
	ck_assert_int_eq(c.tls_verify, 0);
	ck_assert_ptr_null(c.password_file);
	ck_assert_ptr_null(c.ca_file);
	ck_assert_ptr_null(sink_cfg_check(&c, &opt));
	cfg_arena_free(&arena);
	config_destroy(&lc);

	/* Defaults alone: kind none, TLS verification on. */
	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(cfg_parse_options(NULL, sink_options, &c, "/tmp", NULL, &arena, &e), 0);
	ck_assert_str_eq(c.kind, "none");
	ck_assert_int_eq(c.tls_verify, 1);
	cfg_arena_free(&arena);

	/* From a file, so that errors carry file:line. */
	snprintf(path, sizeof(path), "/tmp/test_sink_bad.%d.conf", (int)getpid());
	out = fopen(path, "w");
	ck_assert_ptr_nonnull(out);
	fputs(bad, out);
	ck_assert_int_eq(fclose(out), 0);
	out = open_memstream(&buf, &len);
	e.out = out;
	config_init(&lc);
	ck_assert_int_eq(config_read_file(&lc, path), CONFIG_TRUE);
	unlink(path);
	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(cfg_parse_options(config_lookup(&lc, "sink"), sink_options, &c, "/tmp",
					   NULL, &arena, &e), 2);
	fclose(out);
	ck_assert_msg(strstr(buf, ".conf:2: unknown setting \"colour\""), "%s", buf);
	ck_assert_msg(strstr(buf, ".conf:3: max_inflight: 0 is out of range"), "%s",
		      buf);
	free(buf);
	cfg_arena_free(&arena);
	config_destroy(&lc);
}
END_TEST

START_TEST(test_options_table)
{
	struct cfg_sink c = { .kind = "webhook", .url = "http://127.0.0.1:1/x",
			      .backoff_min_ms = 10, .backoff_max_ms = 100,
			      .max_inflight = 1, .exchange = "amq.default", .vhost = "/",
			      .routing_key = "" };
	const char *opt;
	size_t n = 0;

	for (const struct kvs_option *o = sink_options; o->name; o++, n++) {
		ck_assert_ptr_nonnull(o->help);
		ck_assert_uint_lt(o->offset, sizeof(struct cfg_sink));
		for (const struct kvs_option *p = sink_options; p < o; p++)
			ck_assert_str_ne(p->name, o->name);
		if (o->type == KVS_OPT_INT) {
			double d = strtod(o->def, NULL);
			ck_assert(o->min < o->max && d >= o->min && d <= o->max);
		}
	}
	ck_assert_uint_eq(n, 17);

	ck_assert_ptr_null(sink_cfg_check(&c, &opt));
	c.url = "ftp://x";
	ck_assert_ptr_nonnull(sink_cfg_check(&c, &opt));
	ck_assert_str_eq(opt, "url");
	c.url = "https://example.invalid/hook";
	c.backoff_min_ms = 1000;
	ck_assert_ptr_nonnull(sink_cfg_check(&c, &opt));
	ck_assert_str_eq(opt, "backoff_min_ms");
	c.backoff_min_ms = 10;
	c.kind = "kafka";
	ck_assert_ptr_nonnull(sink_cfg_check(&c, &opt));
	ck_assert_str_eq(opt, "kind");
	c.kind = "rabbitmq";
	c.user = "guest";
	ck_assert_ptr_nonnull(sink_cfg_check(&c, &opt));
	ck_assert_str_eq(opt, "password_file");
	/* amqp: an amqp[s]:// URL, no password in it, a password_file for
	 * a user named in it. */
	c.kind = "amqp";
	c.user = "";
	c.url = "amqp://127.0.0.1:5672/%2f";
	ck_assert_ptr_null(sink_cfg_check(&c, &opt));
	c.url = "amqps://rabbit.example.org";
	ck_assert_ptr_null(sink_cfg_check(&c, &opt));
	c.url = "http://127.0.0.1:15672";
	ck_assert_ptr_nonnull(sink_cfg_check(&c, &opt));
	ck_assert_str_eq(opt, "url");
	c.url = "amqp://kvs:secret@127.0.0.1/";
	ck_assert_ptr_nonnull(sink_cfg_check(&c, &opt));
	ck_assert_str_eq(opt, "url");
	c.url = "amqp://kvs@127.0.0.1/";
	ck_assert_ptr_nonnull(sink_cfg_check(&c, &opt));
	ck_assert_str_eq(opt, "password_file");
	c.password_file = "/nonexistent/password";
	ck_assert_ptr_null(sink_cfg_check(&c, &opt));
	c.password_file = NULL;
	c.kind = "none";
	c.url = NULL;
	ck_assert_ptr_null(sink_cfg_check(&c, &opt));
}
END_TEST

static void flag_cb(void *data)
{
	*(bool *)data = true;
}

/* Kind "none" opens and closes asynchronously and never touches anything. */
START_TEST(test_kind_none)
{
	struct cfg_sink cfg = { .kind = "none" };
	struct sink *s;
	uv_loop_t loop;
	bool closed = false;

	ck_assert_int_eq(uv_loop_init(&loop), 0);
	ck_assert_int_eq(sink_open(&loop, &cfg, NULL, &s), 0);
	sink_kick(s);
	sink_close(s, flag_cb, &closed);
	ck_assert(!closed);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert(closed);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

static Suite *sink_suite(void)
{
	Suite *s = suite_create("sink");
	TCase *tc = tcase_create("webhook");

	tcase_add_test(tc, test_down_up_500_timeout);
	tcase_add_test(tc, test_bounded_concurrency);
	tcase_add_test(tc, test_restart_resumes);
	tcase_add_test(tc, test_cursor_across_restart);
	tcase_add_test(tc, test_fed_by_outbox);
	tcase_add_test(tc, test_backlog_beyond_window);
	tcase_add_test(tc, test_refused_message_steps_aside);
	tcase_add_test(tc, test_kick);
	tcase_add_test(tc, test_rescan);
	tcase_add_test(tc, test_options_parse);
	tcase_add_test(tc, test_options_table);
	tcase_add_test(tc, test_kind_none);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	int rc;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = ck_main(sink_suite());
	curl_global_cleanup();
	return rc;
}
