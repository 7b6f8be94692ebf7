/* test_http.c - the HTTP connection layer against real sockets.
 *
 * Each test starts an in-process server on an ephemeral 127.0.0.1 port (and
 * a Unix socket in a temporary folder) with its own loop on a thread, and
 * talks to it with plain blocking sockets.  The handler echoes what it
 * received; requests for /slow are answered 100 ms later from a timer, to
 * exercise asynchronous answers, pipelining order and clients that leave.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "http.h"
#include "ck_main.h"

struct tserver {
	pthread_t th;
	uv_loop_t loop;
	uv_async_t stop;
	struct http_server *srv;
	struct http_limits lim;
	int port;
	char dir[64];
	char sock[128];
	int closed;
	int slow_started;	/* /slow requests handed to the handler */
};

struct slow {
	uv_timer_t timer;
	struct http_req *r;
	char body[256];
};

static void slow_closed(uv_handle_t *h)
{
	free(h->data);
}

static void slow_fire(uv_timer_t *t)
{
	struct slow *sl = t->data;

	http_respond(sl->r, 200, "X-Slow: 1\r\n", "text/plain", sl->body, strlen(sl->body));
	uv_close((uv_handle_t *)t, slow_closed);
}

static void handler(struct http_req *r, void *data)
{
	struct tserver *ts = data;
	char out[4096];
	int n;

	n = snprintf(out, sizeof(out), "%s %s q=%s unix=%d auth=%s ct=%s len=%zu body=%.*s",
		     r->method, r->path, r->query, r->via_unix,
		     r->authorization ? r->authorization : "-",
		     r->content_type ? r->content_type : "-", r->body_len,
		     (int)(r->body_len > 1000 ? 1000 : r->body_len), r->body);
	if (strcmp(r->path, "/slow") == 0) {
		struct slow *sl = calloc(1, sizeof(*sl));

		__atomic_add_fetch(&ts->slow_started, 1, __ATOMIC_RELEASE);
		ck_assert_ptr_nonnull(sl);
		snprintf(sl->body, sizeof(sl->body), "%.200s", out);
		sl->r = r;
		uv_timer_init(&ts->loop, &sl->timer);
		sl->timer.data = sl;
		uv_timer_start(&sl->timer, slow_fire, 100, 0);
		return;
	}
	http_respond(r, 200, NULL, "text/plain", out, (size_t)n);
}

static void server_closed(void *data)
{
	struct tserver *ts = data;

	ts->closed = 1;
}

static void on_stop(uv_async_t *a)
{
	struct tserver *ts = a->data;

	http_server_close(ts->srv, server_closed, ts);
	uv_close((uv_handle_t *)a, NULL);
}

static void *server_main(void *arg)
{
	struct tserver *ts = arg;

	uv_run(&ts->loop, UV_RUN_DEFAULT);
	return NULL;
}

static struct tserver *server_start(const struct http_limits *lim)
{
	struct tserver *ts = calloc(1, sizeof(*ts));

	ck_assert_ptr_nonnull(ts);
	ts->lim = *lim;
	ck_assert_int_eq(uv_loop_init(&ts->loop), 0);
	ck_assert_int_eq(uv_async_init(&ts->loop, &ts->stop, on_stop), 0);
	ts->stop.data = ts;
	ck_assert_int_eq(http_server_new(&ts->loop, lim, handler, ts, &ts->srv), 0);
	ck_assert_int_eq(http_server_listen_tcp(ts->srv, "127.0.0.1:0"), 0);
	ts->port = http_server_port(ts->srv);
	ck_assert_int_gt(ts->port, 0);
	snprintf(ts->dir, sizeof(ts->dir), "/tmp/kvs-http-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(ts->dir));
	snprintf(ts->sock, sizeof(ts->sock), "%s/s.sock", ts->dir);
	ck_assert_int_eq(http_server_listen_unix(ts->srv, ts->sock, 0600), 0);
	ck_assert_int_eq(pthread_create(&ts->th, NULL, server_main, ts), 0);
	return ts;
}

static void server_stop(struct tserver *ts)
{
	uv_async_send(&ts->stop);
	pthread_join(ts->th, NULL);
	ck_assert_int_eq(ts->closed, 1);
	ck_assert_int_eq(uv_loop_close(&ts->loop), 0);
	rmdir(ts->dir);
	free(ts);
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int connect_tcp(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct timeval tv = { .tv_sec = 10 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static int connect_unix(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 10 };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_uint_lt(strlen(path), sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static void send_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		ck_assert_int_gt(n, 0);
		buf += n;
		len -= (size_t)n;
	}
}

static void send_str(int fd, const char *s)
{
	send_all(fd, s, strlen(s));
}

/* One parsed response: status, the whole head, the body. */
struct resp {
	int status;
	char head[2048];
	char body[8192];
	size_t body_len;
};

/* Per-connection read buffer so pipelined responses can be split. */
struct rbuf {
	char b[65536];
	size_t len;
};

/* Read one response; returns 0, or -1 on EOF/timeout before a whole one. */
static int read_resp(int fd, struct rbuf *rb, struct resp *out)
{
	for (;;) {
		char *end = memmem(rb->b, rb->len, "\r\n\r\n", 4);
		if (end) {
			size_t hlen = (size_t)(end - rb->b) + 4;
			const char *cl;
			size_t blen = 0;

			ck_assert_uint_lt(hlen, sizeof(out->head));
			memcpy(out->head, rb->b, hlen);
			out->head[hlen] = '\0';
			cl = strcasestr(out->head, "Content-Length:");
			if (cl)
				blen = strtoul(cl + 15, NULL, 10);
			if (rb->len >= hlen + blen) {
				ck_assert_uint_lt(blen, sizeof(out->body));
				memcpy(out->body, rb->b + hlen, blen);
				out->body[blen] = '\0';
				out->body_len = blen;
				out->status = atoi(out->head + 9);
				memmove(rb->b, rb->b + hlen + blen, rb->len - hlen - blen);
				rb->len -= hlen + blen;
				return 0;
			}
		}
		ck_assert_uint_lt(rb->len, sizeof(rb->b));
		ssize_t n = recv(fd, rb->b + rb->len, sizeof(rb->b) - rb->len, 0);
		if (n <= 0)
			return -1;
		rb->len += (size_t)n;
	}
}

/* Wait until the peer closes; returns seconds waited, or -1 past `limit`. */
static double wait_closed(int fd, double limit)
{
	double t0 = now_s();
	char b[4096];

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int left = (int)((limit - (now_s() - t0)) * 1000);
		if (left <= 0)
			return -1;
		if (poll(&p, 1, left) <= 0)
			return -1;
		ssize_t n = recv(fd, b, sizeof(b), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN))
			return now_s() - t0;
	}
}

static struct tserver *start_default(void)
{
	struct http_limits lim;

	http_limits_default(&lim);
	return server_start(&lim);
}

START_TEST(good_request)
{
	struct tserver *ts = start_default();
	struct rbuf rb = { .len = 0 };
	struct resp r;
	int fd = connect_tcp(ts->port);

	send_str(fd, "POST /v1/echo?x=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		 "Authorization: Bearer abc  \r\nContent-Type: application/json\r\n"
		 "Content-Length: 7\r\n\r\n{\"a\":1}");
	ck_assert_int_eq(read_resp(fd, &rb, &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "POST /v1/echo q=x=1 unix=0 auth=Bearer abc "
			 "ct=application/json len=7 body={\"a\":1}");
	ck_assert_ptr_null(strcasestr(r.head, "Connection: close"));
	close(fd);
	server_stop(ts);
}
END_TEST

START_TEST(unix_socket)
{
	struct tserver *ts = start_default();
	struct rbuf rb = { .len = 0 };
	struct resp r;
	int fd = connect_unix(ts->sock);

	send_str(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
	ck_assert_int_eq(read_resp(fd, &rb, &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "GET /healthz q= unix=1"));
	close(fd);
	server_stop(ts);
}
END_TEST

START_TEST(keep_alive)
{
	struct tserver *ts = start_default();
	struct rbuf rb = { .len = 0 };
	struct resp r;
	int fd = connect_tcp(ts->port);

	for (int i = 0; i < 5; i++) {
		char req[128], want[64];
		snprintf(req, sizeof(req), "GET /k%d HTTP/1.1\r\nHost: x\r\n\r\n", i);
		send_str(fd, req);
		ck_assert_int_eq(read_resp(fd, &rb, &r), 0);
		ck_assert_int_eq(r.status, 200);
		snprintf(want, sizeof(want), "GET /k%d ", i);
		ck_assert_ptr_nonnull(strstr(r.body, want));
	}
	/* Connection: close is honoured. */
	send_str(fd, "GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	ck_assert_int_eq(read_resp(fd, &rb, &r), 0);
	ck_assert_ptr_nonnull(strcasestr(r.head, "Connection: close"));
	ck_assert(wait_closed(fd, 30 * ck_timeout_scale()) >= 0);
	close(fd);
	server_stop(ts);
}
END_TEST

START_TEST(pipelined_in_order)
{
	struct tserver *ts = start_default();
	struct rbuf rb = { .len = 0 };
	struct resp r;
	int fd = connect_tcp(ts->port);

	/* The slow one first: its answer must still come first. */
	send_str(fd, "POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\none"
		 "GET /second HTTP/1.1\r\nHost: x\r\n\r\n"
		 "POST /third HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
		 "3\r\nthr\r\n2\r\nee\r\n0\r\n\r\n"
		 "GET /slow?4 HTTP/1.1\r\nHost: x\r\n\r\n");
	ck_assert_int_eq(read_resp(fd, &rb, &r), 0);
	ck_assert_ptr_nonnull(strstr(r.body, "POST /slow q= unix=0"));
	ck_assert_ptr_nonnull(strstr(r.body, "body=one"));
	ck_assert_ptr_nonnull(strstr(r.head, "X-Slow: 1"));
	ck_assert_int_eq(read_resp(fd, &rb, &r), 0);
	ck_assert_ptr_nonnull(strstr(r.body, "GET /second "));
	ck_assert_int_eq(read_resp(fd, &rb, &r), 0);
	ck_assert_ptr_nonnull(strstr(r.body, "POST /third "));
	ck_assert_ptr_nonnull(strstr(r.body, "len=5 body=three"));
	ck_assert_int_eq(read_resp(fd, &rb, &r), 0);
	ck_assert_ptr_nonnull(strstr(r.body, "GET /slow q=4 "));
	close(fd);
	server_stop(ts);
}
END_TEST

START_TEST(oversized_header_431)
{
	struct http_limits lim;
	struct tserver *ts;
	struct rbuf rb = { .len = 0 };
	struct resp r;
	char big[4096];
	int fd;

	http_limits_default(&lim);
	lim.max_header_bytes = 1024;
	ts = server_start(&lim);
	fd = connect_tcp(ts->port);
	memset(big, 'a', sizeof(big));
	send_str(fd, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: ");
	send_all(fd, big, sizeof(big));
	send_str(fd, "\r\n\r\n");
	ck_assert_int_eq(read_resp(fd, &rb, &r), 0);
	ck_assert_int_eq(r.status, 431);
	ck_assert_ptr_nonnull(strstr(r.body, "\"error\""));
	ck_assert_ptr_nonnull(strcasestr(r.head, "Content-Type: application/json"));
	ck_assert(wait_closed(fd, 30 * ck_timeout_scale()) >= 0);
	close(fd);

	/* Too many header fields. */
	fd = connect_tcp(ts->port);
	rb.len = 0;
	send_str(fd, "GET / HTTP/1.1\r\n");
	for (int i = 0; i < 70; i++)
		send_str(fd, "A: b\r\n");
	send_str(fd, "\r\n");
	ck_assert_int_eq(read_resp(fd, &rb, &r), 0);
	ck_assert_int_eq(r.status, 431);
	close(fd);

	/* An over-long request target. */
	fd = connect_tcp(ts->port);
	rb.len = 0;
	send_str(fd, "GET /");
	memset(big, 'u', 3000);
	send_all(fd, big, 3000);
	send_str(fd, " HTTP/1.1\r\n\r\n");
	ck_assert_int_eq(read_resp(fd, &rb, &r), 0);
	ck_assert(r.status == 414 || r.status == 431);
	close(fd);
	server_stop(ts);
}
END_TEST

START_TEST(oversized_body_413)
{
	struct http_limits lim;
	struct tserver *ts;
	struct rbuf rb = { .len = 0 };
	struct resp r;
	char chunk[64];
	int fd;

	http_limits_default(&lim);
	lim.max_body = 100;
	ts = server_start(&lim);

	/* Declared too large: refused before any body byte is read. */
	fd = connect_tcp(ts->port);
	send_str(fd, "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n");
	ck_assert_int_eq(read_resp(fd, &rb, &r), 0);
	ck_assert_int_eq(r.status, 413);
	ck_assert_ptr_nonnull(strstr(r.body, "\"code\":\"too_large\""));
	ck_assert(wait_closed(fd, 30 * ck_timeout_scale()) >= 0);
	close(fd);

	/* Chunked: counted as it arrives. */
	fd = connect_tcp(ts->port);
	rb.len = 0;
	send_str(fd, "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
	memset(chunk, 'c', sizeof(chunk));
	for (int i = 0; i < 3; i++) {
		send_str(fd, "40\r\n");
		send_all(fd, chunk, sizeof(chunk));
		send_str(fd, "\r\n");
	}
	ck_assert_int_eq(read_resp(fd, &rb, &r), 0);
	ck_assert_int_eq(r.status, 413);
	close(fd);

	/* Exactly at the limit is fine. */
	fd = connect_tcp(ts->port);
	rb.len = 0;
	send_str(fd, "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n");
	memset(chunk, 'd', sizeof(chunk));
	send_all(fd, chunk, 64);
	send_all(fd, chunk, 36);
	ck_assert_int_eq(read_resp(fd, &rb, &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "len=100 "));
	close(fd);
	server_stop(ts);
}
END_TEST

START_TEST(body_budget_503)
{
	struct http_limits lim;
	struct tserver *ts;
	struct rbuf rb = { .len = 0 };
	struct resp r;
	char body[100];
	int a, b;

	http_limits_default(&lim);
	lim.max_body = 100;
	lim.max_body_total = 150;
	ts = server_start(&lim);
	memset(body, 'x', sizeof(body));
	/* A holds 101 bytes of the budget while its body trickles in; the
	 * 100 Continue says the server has taken its headers. */
	a = connect_tcp(ts->port);
	send_str(a, "POST /a HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
		 "Content-Length: 100\r\n\r\n");
	{
		struct rbuf ra = { .len = 0 };

		ck_assert_int_eq(read_resp(a, &ra, &r), 0);
		ck_assert_int_eq(r.status, 100);
	}
	send_str(a, "xx");
	b = connect_tcp(ts->port);
	send_str(b, "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n");
	ck_assert_int_eq(read_resp(b, &rb, &r), 0);
	ck_assert_int_eq(r.status, 503);
	close(b);
	send_all(a, body, 98);
	rb.len = 0;
	ck_assert_int_eq(read_resp(a, &rb, &r), 0);
	ck_assert_int_eq(r.status, 200);
	/* Answered: the budget is free again. */
	b = connect_tcp(ts->port);
	send_str(b, "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n");
	send_all(b, body, 100);
	rb.len = 0;
	ck_assert_int_eq(read_resp(b, &rb, &r), 0);
	ck_assert_int_eq(r.status, 200);
	close(a);
	close(b);
	server_stop(ts);
}
END_TEST

START_TEST(requests_per_connection)
{
	struct http_limits lim;
	struct tserver *ts;
	struct rbuf rb = { .len = 0 };
	struct resp r;
	int fd;

	http_limits_default(&lim);
	lim.max_requests_per_conn = 2;
	ts = server_start(&lim);
	fd = connect_tcp(ts->port);
	send_str(fd, "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n"
		 "GET /3 HTTP/1.1\r\nHost: x\r\n\r\n");
	ck_assert_int_eq(read_resp(fd, &rb, &r), 0);
	ck_assert_ptr_null(strcasestr(r.head, "Connection: close"));
	ck_assert_int_eq(read_resp(fd, &rb, &r), 0);
	ck_assert_ptr_nonnull(strstr(r.body, "GET /2 "));
	ck_assert_ptr_nonnull(strcasestr(r.head, "Connection: close"));
	/* The third is not answered: the connection ends after the second. */
	ck_assert_int_eq(read_resp(fd, &rb, &r), -1);
	close(fd);
	server_stop(ts);
}
END_TEST

START_TEST(ipv6_loopback)
{
	struct http_limits lim;
	uv_loop_t loop;
	struct http_server *s;
	int rc;

	http_limits_default(&lim);
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	ck_assert_int_eq(http_server_new(&loop, &lim, handler, NULL, &s), 0);
	rc = http_server_listen_tcp(s, "[::1]:0");
	if (rc == 0)
		ck_assert_int_gt(http_server_port(s), 0);
	else
		ck_assert_int_eq(rc, UV_EADDRNOTAVAIL);  /* no IPv6 on this host */
	ck_assert_int_eq(http_server_listen_tcp(s, "[::1]:0"), -EINVAL);  /* one TCP listener */
	http_server_close(s, NULL, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&loop), 0);

	/* Addresses that are not HOST:PORT. */
	uv_loop_init(&loop);
	http_server_new(&loop, &lim, handler, NULL, &s);
	ck_assert_int_eq(http_server_listen_tcp(s, "127.0.0.1"), -EINVAL);
	ck_assert_int_eq(http_server_listen_tcp(s, "127.0.0.1:99999"), -EINVAL);
	ck_assert_int_eq(http_server_listen_tcp(s, "127.0.0.1:x"), -EINVAL);
	ck_assert_int_lt(http_server_listen_tcp(s, "localhost:80"), 0);
	http_server_close(s, NULL, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

START_TEST(bad_request_400)
{
	struct tserver *ts = start_default();
	struct rbuf rb = { .len = 0 };
	struct resp r;
	int fd = connect_tcp(ts->port);

	send_str(fd, "GARBAGE\r\n\r\n");
	ck_assert_int_eq(read_resp(fd, &rb, &r), 0);
	ck_assert_int_eq(r.status, 400);
	ck_assert_ptr_nonnull(strstr(r.body, "\"error\""));
	ck_assert(wait_closed(fd, 30 * ck_timeout_scale()) >= 0);
	close(fd);

	/* Content-Length together with chunked is request smuggling. */
	fd = connect_tcp(ts->port);
	rb.len = 0;
	send_str(fd, "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
		 "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
	ck_assert_int_eq(read_resp(fd, &rb, &r), 0);
	ck_assert_int_eq(r.status, 400);
	close(fd);

	/* Upgrade is refused. */
	fd = connect_tcp(ts->port);
	rb.len = 0;
	send_str(fd, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
		 "Upgrade: websocket\r\n\r\n");
	ck_assert_int_eq(read_resp(fd, &rb, &r), 0);
	ck_assert_int_eq(r.status, 400);
	close(fd);

	/* A space before the colon. */
	fd = connect_tcp(ts->port);
	rb.len = 0;
	send_str(fd, "GET / HTTP/1.1\r\nHost : x\r\n\r\n");
	ck_assert_int_eq(read_resp(fd, &rb, &r), 0);
	ck_assert_int_eq(r.status, 400);
	close(fd);

	/* Absolute-form targets are not for us. */
	fd = connect_tcp(ts->port);
	rb.len = 0;
	send_str(fd, "GET http://evil/ HTTP/1.1\r\nHost: x\r\n\r\n");
	ck_assert_int_eq(read_resp(fd, &rb, &r), 0);
	ck_assert_int_eq(r.status, 400);
	close(fd);
	server_stop(ts);
}
END_TEST

START_TEST(slow_header_dropped)
{
	struct http_limits lim;
	struct tserver *ts;
	const char *req = "GET /slowloris HTTP/1.1\r\nHost: x\r\nX-A: bbbbbbbbbbbbbbbbbbbbbbb\r\n\r\n";
	double t0, waited = -1;
	int fd, closed = 0;

	http_limits_default(&lim);
	lim.header_timeout_ms = 1500;
	ts = server_start(&lim);
	fd = connect_tcp(ts->port);
	t0 = now_s();
	/* One byte per second, checking for the close: the whole request
	 * would take 70 s. */
	for (size_t i = 0; i < strlen(req) && now_s() - t0 < 60 * ck_timeout_scale(); i++) {
		if (send(fd, req + i, 1, MSG_NOSIGNAL) != 1)
			break;
		if (wait_closed(fd, 1.0) >= 0) {
			closed = 1;
			break;
		}
	}
	waited = now_s() - t0;
	/* The header timeout (1.5 s) closed it: not before, and not only
	 * because the request was complete (a busy machine may take longer). */
	ck_assert_msg(closed && waited >= 1.4, "closed %d after %.2f s", closed, waited);
	close(fd);
	server_stop(ts);
}
END_TEST

START_TEST(slow_body_dropped)
{
	struct http_limits lim;
	struct tserver *ts;
	struct rbuf rb = { .len = 0 };
	struct resp r;
	int fd;

	http_limits_default(&lim);
	lim.body_timeout_ms = 500;
	ts = server_start(&lim);
	fd = connect_tcp(ts->port);
	send_str(fd, "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
	ck_assert_int_eq(read_resp(fd, &rb, &r), 0);
	ck_assert_int_eq(r.status, 408);
	close(fd);
	server_stop(ts);
}
END_TEST

START_TEST(idle_keepalive_closed)
{
	struct http_limits lim;
	struct tserver *ts;
	struct rbuf rb = { .len = 0 };
	struct resp r;
	double w;
	int fd;

	http_limits_default(&lim);
	lim.idle_timeout_ms = 300;
	ts = server_start(&lim);
	fd = connect_tcp(ts->port);
	send_str(fd, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
	ck_assert_int_eq(read_resp(fd, &rb, &r), 0);
	/* Not before the idle timeout; after it, however slow the machine. */
	w = wait_closed(fd, 30 * ck_timeout_scale());
	ck_assert_msg(w >= 0.2, "closed after %.2f s", w);
	close(fd);
	server_stop(ts);
}
END_TEST

/* Connect, send one request and answer it; fd stays open, idle. */
static int served_conn(int port, const char *path)
{
	struct rbuf rb = { .len = 0 };
	struct resp r;
	char req[128];
	int fd = connect_tcp(port);

	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
	send_str(fd, req);
	ck_assert_int_eq(read_resp(fd, &rb, &r), 0);
	ck_assert_int_eq(r.status, 200);
	return fd;
}

START_TEST(max_connections_evicts_idlest)
{
	struct http_limits lim;
	struct tserver *ts;
	int a, b, c;

	http_limits_default(&lim);
	lim.max_connections = 2;
	ts = server_start(&lim);
	a = served_conn(ts->port, "/a");
	b = served_conn(ts->port, "/b");
	/* Both idle between requests: the third closes the one quiet the
	 * longest (a) and is served. */
	c = served_conn(ts->port, "/c");
	ck_assert_msg(wait_closed(a, 10) >= 0, "the idlest connection was not closed");
	close(b);
	close(c);
	close(a);
	server_stop(ts);
}
END_TEST

START_TEST(max_connections_503)
{
	struct http_limits lim;
	struct tserver *ts;
	struct rbuf rb = { .len = 0 };
	struct resp r;
	int a, b, c, u;
	double t0;

	http_limits_default(&lim);
	lim.max_connections = 2;
	ts = server_start(&lim);
	a = connect_tcp(ts->port);
	b = connect_tcp(ts->port);
	/* Each answered, with the start of a next request pipelined behind:
	 * once the answer is read, the connection is busy, not idle. */
	send_str(a, "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /a2 HTTP/1.1\r\n");
	ck_assert_int_eq(read_resp(a, &rb, &r), 0);
	rb.len = 0;
	send_str(b, "GET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /b2 HTTP/1.1\r\n");
	ck_assert_int_eq(read_resp(b, &rb, &r), 0);
	rb.len = 0;
	c = connect_tcp(ts->port);
	ck_assert_int_eq(read_resp(c, &rb, &r), 0);
	ck_assert_int_eq(r.status, 503);
	ck_assert_ptr_nonnull(strcasestr(r.head, "Retry-After: "));
	close(c);
	/* The Unix socket is let in past the cap. */
	u = connect_unix(ts->sock);
	rb.len = 0;
	send_str(u, "GET /u HTTP/1.1\r\nHost: x\r\n\r\n");
	ck_assert_int_eq(read_resp(u, &rb, &r), 0);
	ck_assert_int_eq(r.status, 200);
	close(u);
	/* A freed slot is usable again (once the server has seen the close). */
	close(a);
	for (t0 = now_s();; usleep(20 * 1000)) {
		c = connect_tcp(ts->port);
		rb.len = 0;
		send_str(c, "GET /c HTTP/1.1\r\nHost: x\r\n\r\n");
		ck_assert_int_eq(read_resp(c, &rb, &r), 0);
		close(c);
		if (r.status == 200 || now_s() - t0 > 30 * ck_timeout_scale())
			break;
	}
	ck_assert_int_eq(r.status, 200);
	close(b);
	server_stop(ts);
}
END_TEST

START_TEST(max_connections_per_client)
{
	struct http_limits lim;
	struct tserver *ts;
	struct rbuf rb = { .len = 0 };
	struct resp r;
	int a, b, c;

	http_limits_default(&lim);
	lim.max_conns_per_client = 2;
	ts = server_start(&lim);
	a = served_conn(ts->port, "/a");
	b = served_conn(ts->port, "/b");
	c = connect_tcp(ts->port);
	ck_assert_int_eq(read_resp(c, &rb, &r), 0);
	ck_assert_int_eq(r.status, 503);
	ck_assert_ptr_nonnull(strstr(r.body, "too many connections from this client"));
	/* The others of that client are untouched. */
	close(c);
	close(a);
	rb.len = 0;
	send_str(b, "GET /b2 HTTP/1.1\r\nHost: x\r\n\r\n");
	ck_assert_int_eq(read_resp(b, &rb, &r), 0);
	ck_assert_int_eq(r.status, 200);
	close(b);
	server_stop(ts);
}
END_TEST

START_TEST(client_gone_before_answer)
{
	struct tserver *ts = start_default();
	struct rbuf rb = { .len = 0 };
	struct resp r;
	int fd = connect_tcp(ts->port);

	send_str(fd, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
	close(fd);
	/* The answer comes 100 ms later to a closed peer; the server goes on. */
	usleep(300 * 1000);
	fd = connect_tcp(ts->port);
	send_str(fd, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
	ck_assert_int_eq(read_resp(fd, &rb, &r), 0);
	ck_assert_int_eq(r.status, 200);
	close(fd);
	server_stop(ts);
}
END_TEST

START_TEST(expect_continue)
{
	struct tserver *ts = start_default();
	struct rbuf rb = { .len = 0 };
	struct resp r;
	int fd = connect_tcp(ts->port);

	send_str(fd, "POST /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
		 "Content-Length: 2\r\n\r\n");
	ck_assert_int_eq(read_resp(fd, &rb, &r), 0);
	ck_assert_int_eq(r.status, 100);
	send_str(fd, "hi");
	ck_assert_int_eq(read_resp(fd, &rb, &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.body, "body=hi"));
	close(fd);
	server_stop(ts);
}
END_TEST

/* Closing the server while a request is being handled still answers it. */
START_TEST(drain_answers_inflight)
{
	struct tserver *ts = start_default();
	struct rbuf rb = { .len = 0 };
	struct resp r;
	int fd = connect_tcp(ts->port);
	int idle = connect_tcp(ts->port);

	send_str(fd, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
	/* Stop once the request is being handled, however slow the machine. */
	for (double t0 = now_s(); !__atomic_load_n(&ts->slow_started, __ATOMIC_ACQUIRE);) {
		ck_assert_msg(now_s() - t0 < 30 * ck_timeout_scale(), "/slow never handled");
		usleep(2000);
	}
	uv_async_send(&ts->stop);
	ck_assert_int_eq(read_resp(fd, &rb, &r), 0);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strcasestr(r.head, "Connection: close"));
	ck_assert(wait_closed(idle, 30 * ck_timeout_scale()) >= 0);
	close(fd);
	close(idle);
	pthread_join(ts->th, NULL);
	ck_assert_int_eq(ts->closed, 1);
	ck_assert_int_eq(uv_loop_close(&ts->loop), 0);
	rmdir(ts->dir);
	free(ts);
}
END_TEST

static Suite *http_suite(void)
{
	Suite *s = suite_create("http");
	TCase *tc = tcase_create("conn");

	tcase_add_test(tc, good_request);
	tcase_add_test(tc, unix_socket);
	tcase_add_test(tc, keep_alive);
	tcase_add_test(tc, pipelined_in_order);
	tcase_add_test(tc, oversized_header_431);
	tcase_add_test(tc, oversized_body_413);
	tcase_add_test(tc, body_budget_503);
	tcase_add_test(tc, requests_per_connection);
	tcase_add_test(tc, ipv6_loopback);
	tcase_add_test(tc, bad_request_400);
	tcase_add_test(tc, slow_header_dropped);
	tcase_add_test(tc, slow_body_dropped);
	tcase_add_test(tc, idle_keepalive_closed);
	tcase_add_test(tc, max_connections_evicts_idlest);
	tcase_add_test(tc, max_connections_503);
	tcase_add_test(tc, max_connections_per_client);
	tcase_add_test(tc, client_gone_before_answer);
	tcase_add_test(tc, expect_continue);
	tcase_add_test(tc, drain_answers_inflight);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	return ck_main(http_suite());
}
