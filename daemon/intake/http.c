/* http.c - HTTP/1.1 server connections over libuv streams with http-parser.
 *
 * Ownership: the server owns its listeners and its connections.  A
 * connection is freed when its two handles (stream and timer) have been
 * closed and no request of it is out with the handler (struct http_conn's
 * `refs`); http_respond() on a connection that has meanwhile closed only
 * drops that last reference.  The server is freed by http_server_close()
 * once every listener and connection is gone.
 *
 * Each connection moves through these states:
 *   HEAD      request line and headers arrive (header timeout, or the idle
 *             timeout while no byte of the next request has come)
 *   BODY      the body arrives (body timeout)
 *   HANDLING  the handler owns the request; reading is stopped
 *   WRITING   the answer is being written (write timeout)
 *   LINGER    an error was answered: the write side is shut down and input
 *             is read and thrown away for a moment so the client sees the
 *             answer instead of a reset, then the connection is closed.
 */
#include "config.h"

#include <errno.h>
#include <http_parser.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "http.h"
#include "log.h"

#define IN_BUF_SIZE 8192
#define FIELD_MAX 32            /* longest header name we look at */
#define LINGER_MS 1000
#define OVERFLOW_SLACK 64       /* connections answered 503 beyond the cap */

enum conn_state {
	CS_HEAD,
	CS_BODY,
	CS_HANDLING,
	CS_WRITING,
	CS_LINGER,
};

enum hdr_slot {
	H_NONE = -1,
	H_AUTHORIZATION,
	H_CONTENT_TYPE,
	H_ORIGIN,
	H_HOST,
	H_EXPECT,
	H_COUNT,
};

static const char *const slot_names[H_COUNT] = {
	[H_AUTHORIZATION] = "authorization",
	[H_CONTENT_TYPE] = "content-type",
	[H_ORIGIN] = "origin",
	[H_HOST] = "host",
	[H_EXPECT] = "expect",
};

struct http_conn {
	union {
		uv_handle_t handle;
		uv_stream_t stream;
		uv_tcp_t tcp;
		uv_pipe_t pipe;
	} h;
	uv_timer_t timer;
	struct http_server *srv;
	struct http_conn *prev, *next;
	http_parser parser;
	enum conn_state state;
	int refs;                 /* open handles + the request out, if any */
	int closing;
	int reading;
	int idle;                 /* between keep-alive requests */
	int begun;                /* a byte of the current request has come */
	int failed;               /* an error answer was sent: discard input */
	int keep_alive;
	int via_unix;
	struct http_peer peer;
	uint64_t last_active;     /* uv_hrtime() of accept, the last read or
				   * the last answer written */
	unsigned n_requests;
	/* error found by a parser callback, answered after execute returns */
	int err_status;
	const char *err_code, *err_msg;
	/* input not yet parsed: in[in_off .. in_len) */
	char in[IN_BUF_SIZE];
	size_t in_off, in_len;
	/* request line and selected header values, bounded */
	char *head;
	size_t head_cap, head_len;
	size_t url_len;
	int url_done;
	int hstate;               /* 0 none, 1 in a field name, 2 in a value */
	char field[FIELD_MAX + 1];
	size_t field_len;
	int field_long;
	int cur_slot;
	unsigned n_headers;
	size_t slot_off[H_COUNT];
	int slot_set[H_COUNT];
	/* body */
	char *body;
	size_t body_len, body_cap;
	struct http_req req;
	int req_out;
	uv_write_t wreq;
	char *wbuf;
	int close_after;
	uv_write_t cont_wreq;
	uv_shutdown_t sreq;
};

struct http_server {
	uv_loop_t *loop;
	struct http_limits lim;
	http_handler handler;
	void *data;
	uv_tcp_t tcp;
	uv_pipe_t pipe;
	int have_tcp, have_pipe;
	char *pipe_path;
	struct http_conn *conns;
	unsigned n_conns;
	unsigned live;            /* open listeners + connections not yet freed */
	size_t body_bytes;        /* body buffers of all connections */
	uint64_t next_id;
	int closing;
	void (*close_cb)(void *data);
	void *close_data;
	struct http_stats stats;
};

static int on_message_begin(http_parser *p);
static int on_url(http_parser *p, const char *at, size_t len);
static int on_header_field(http_parser *p, const char *at, size_t len);
static int on_header_value(http_parser *p, const char *at, size_t len);
static int on_headers_complete(http_parser *p);
static int on_body(http_parser *p, const char *at, size_t len);
static int on_message_complete(http_parser *p);

static const http_parser_settings parser_settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

static const char continue_line[] = "HTTP/1.1 100 Continue\r\n\r\n";

void http_limits_default(struct http_limits *lim)
{
	lim->max_header_bytes = 16 * 1024;
	lim->max_url = 2048;
	lim->max_headers = 64;
	lim->max_body = 1024 * 1024;
	lim->header_timeout_ms = 10000;
	lim->body_timeout_ms = 10000;
	lim->idle_timeout_ms = 5000;
	lim->write_timeout_ms = 10000;
	lim->max_connections = 1024;
	lim->max_conns_per_client = 64;
	lim->max_requests_per_conn = 1000;
	lim->max_body_total = 64 * 1024 * 1024;
}

const char *http_status_text(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	default: return "Unknown";
	}
}

/* ---- server bookkeeping ---- */

static void server_maybe_finish(struct http_server *s)
{
	if (!s->closing || s->live > 0)
		return;
	void (*cb)(void *) = s->close_cb;
	void *data = s->close_data;

	free(s->pipe_path);
	free(s);
	if (cb)
		cb(data);
}

/* Free the body buffer and return its bytes to the server-wide budget. */
static void body_release(struct http_conn *c)
{
	c->srv->body_bytes -= c->body_cap;
	free(c->body);
	c->body = NULL;
	c->body_len = c->body_cap = 0;
}

/* Take `cap` more bytes from the server-wide body budget. */
static int body_reserve(struct http_conn *c, size_t more)
{
	struct http_server *s = c->srv;

	if (s->body_bytes + more > s->lim.max_body_total)
		return -1;
	s->body_bytes += more;
	return 0;
}

static void conn_unref(struct http_conn *c)
{
	struct http_server *s = c->srv;

	if (--c->refs > 0)
		return;
	free(c->head);
	body_release(c);
	free(c->wbuf);
	free(c);
	s->live--;
	server_maybe_finish(s);
}

static void on_conn_handle_closed(uv_handle_t *h)
{
	conn_unref(h->data);
}

static void conn_close(struct http_conn *c)
{
	struct http_server *s = c->srv;

	if (c->closing)
		return;
	c->closing = 1;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	s->n_conns--;
	s->stats.open = s->n_conns;
	uv_close(&c->h.handle, on_conn_handle_closed);
	uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
}

static void on_timer(uv_timer_t *t);

static void conn_timer(struct http_conn *c, unsigned ms)
{
	uv_timer_start(&c->timer, on_timer, ms, 0);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf);

static void conn_read_start(struct http_conn *c)
{
	if (c->reading || c->closing)
		return;
	if (uv_read_start(&c->h.stream, on_alloc, on_read) == 0)
		c->reading = 1;
	else
		conn_close(c);
}

static void conn_read_stop(struct http_conn *c)
{
	if (!c->reading)
		return;
	uv_read_stop(&c->h.stream);
	c->reading = 0;
}

/* ---- writing ---- */

static void on_shutdown(uv_shutdown_t *req, int status)
{
	struct http_conn *c = req->data;

	if (status < 0 && !c->closing)
		conn_close(c);
}

/* After an error answer: stop sending, read and drop what the client still
 * sends, close on its EOF or after LINGER_MS. */
static void conn_linger(struct http_conn *c)
{
	c->state = CS_LINGER;
	c->failed = 1;
	c->sreq.data = c;
	if (uv_shutdown(&c->sreq, &c->h.stream, on_shutdown) < 0) {
		conn_close(c);
		return;
	}
	conn_timer(c, LINGER_MS);
	conn_read_start(c);
}

static void conn_parse(struct http_conn *c);

static void on_write(uv_write_t *req, int status)
{
	struct http_conn *c = req->data;

	free(c->wbuf);
	c->wbuf = NULL;
	if (c->closing)
		return;
	if (status < 0) {
		conn_close(c);
		return;
	}
	if (c->close_after || !c->keep_alive || c->srv->closing) {
		conn_linger(c);
		return;
	}
	/* Ready for the next request: first whatever was pipelined behind the
	 * one just answered, then new input. */
	c->last_active = uv_hrtime();
	c->state = CS_HEAD;
	c->idle = 1;
	c->begun = 0;
	conn_timer(c, c->srv->lim.idle_timeout_ms);
	http_parser_pause(&c->parser, 0);
	if (c->in_off < c->in_len)
		conn_parse(c);
	if (!c->closing && (c->state == CS_HEAD || c->state == CS_BODY))
		conn_read_start(c);
}

/* Send one whole response; the connection goes on after it as decided by
 * keep_alive and close_after. */
static int conn_send(struct http_conn *c, int status, const char *extra_headers,
		     const char *content_type, const char *body, size_t len)
{
	struct http_server *s = c->srv;
	int keep = c->keep_alive && !c->close_after && !s->closing;
	char head[512];
	int hlen;
	uv_buf_t buf;
	int rc;

	if (status >= 100 && status < 600)
		s->stats.by_status[status]++;
	if (c->req.id)
		log_debug("http: req %llu: %d", (unsigned long long)c->req.id, status);
	hlen = snprintf(head, sizeof(head),
			"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s",
			status, http_status_text(status),
			content_type ? content_type : "application/json", len,
			keep ? "" : "Connection: close\r\n");
	/* The request number the daemon's log lines carry ("req N"). */
	if (c->req.id && hlen > 0 && (size_t)hlen < sizeof(head))
		hlen += snprintf(head + hlen, sizeof(head) - (size_t)hlen, "X-Request-Id: %llu\r\n",
				 (unsigned long long)c->req.id);
	if (hlen < 0 || (size_t)hlen >= sizeof(head))
		return -EINVAL;
	size_t xlen = extra_headers ? strlen(extra_headers) : 0;
	size_t total = (size_t)hlen + xlen + 2 + len;

	c->wbuf = malloc(total);
	if (!c->wbuf)
		return -ENOMEM;
	memcpy(c->wbuf, head, (size_t)hlen);
	if (xlen)
		memcpy(c->wbuf + hlen, extra_headers, xlen);
	memcpy(c->wbuf + hlen + xlen, "\r\n", 2);
	if (len)
		memcpy(c->wbuf + hlen + xlen + 2, body, len);
	if (!keep)
		c->keep_alive = 0;
	c->state = CS_WRITING;
	conn_read_stop(c);
	conn_timer(c, s->lim.write_timeout_ms);
	buf = uv_buf_init(c->wbuf, (unsigned)total);
	c->wreq.data = c;
	rc = uv_write(&c->wreq, &c->h.stream, &buf, 1, on_write);
	if (rc < 0) {
		free(c->wbuf);
		c->wbuf = NULL;
		conn_close(c);
	}
	return rc;
}

static char *error_json(const char *code, const char *message, size_t *len)
{
	json_t *j = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message",
			      message ? message : "");
	char *text;

	if (!j)
		return NULL;
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (text)
		*len = strlen(text);
	return text;
}

/* Answer an error found by the connection layer itself, then close. */
static void conn_fail(struct http_conn *c, int status, const char *extra_headers,
		      const char *code, const char *msg)
{
	char *body;
	size_t len = 0;

	if (c->closing)
		return;
	log_info("http: %d %s, closing the connection", status, msg);
	c->failed = 1;
	c->close_after = 1;
	c->in_off = c->in_len = 0;
	body = error_json(code, msg, &len);
	if (!body) {
		conn_close(c);
		return;
	}
	conn_send(c, status, extra_headers, "application/json", body, len);
	free(body);
	/* Keep reading (and dropping) so a client still sending a body does
	 * not block on a full window while we write the answer. */
	if (!c->closing)
		conn_read_start(c);
}

/* ---- reading and parsing ---- */

static void conn_reset_request(struct http_conn *c)
{
	c->head_len = 0;
	c->url_len = 0;
	c->url_done = 0;
	c->hstate = 0;
	c->field_len = 0;
	c->field_long = 0;
	c->cur_slot = H_NONE;
	c->n_headers = 0;
	memset(c->slot_set, 0, sizeof(c->slot_set));
	body_release(c);
	c->err_status = 0;
	c->req.id = 0;
}

static int conn_error(struct http_conn *c, int status, const char *code, const char *msg)
{
	c->err_status = status;
	c->err_code = code;
	c->err_msg = msg;
	return -1;
}

static int head_append(struct http_conn *c, const char *at, size_t len)
{
	if (c->head_len + len + 1 > c->head_cap)
		return conn_error(c, 431, "headers_too_large", "request headers too large");
	memcpy(c->head + c->head_len, at, len);
	c->head_len += len;
	return 0;
}

static int head_terminate(struct http_conn *c)
{
	if (c->head_len + 1 > c->head_cap)
		return conn_error(c, 431, "headers_too_large", "request headers too large");
	c->head[c->head_len++] = '\0';
	return 0;
}

/* Close the header value being collected, if any. */
static int finish_value(struct http_conn *c)
{
	if (c->hstate == 2 && c->cur_slot != H_NONE) {
		/* Drop trailing whitespace the parser left in the value. */
		size_t start = c->slot_off[c->cur_slot];
		while (c->head_len > start &&
		       (c->head[c->head_len - 1] == ' ' || c->head[c->head_len - 1] == '\t'))
			c->head_len--;
		if (head_terminate(c))
			return -1;
	}
	c->cur_slot = H_NONE;
	return 0;
}

static int finish_url(struct http_conn *c)
{
	if (c->url_done)
		return 0;
	c->url_done = 1;
	return head_terminate(c);
}

static int on_message_begin(http_parser *p)
{
	struct http_conn *c = p->data;

	conn_reset_request(c);
	c->begun = 1;
	c->req.start_ns = uv_hrtime();
	if (c->idle) {
		/* The header timeout of a later request runs from its first byte. */
		c->idle = 0;
		conn_timer(c, c->srv->lim.header_timeout_ms);
	}
	c->state = CS_HEAD;
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;

	c->url_len += len;
	if (c->url_len > c->srv->lim.max_url)
		return conn_error(c, 414, "uri_too_long", "request target too long");
	return head_append(c, at, len);
}

static int is_tchar(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;

	if (c->hstate != 1) {
		if (finish_url(c) || finish_value(c))
			return -1;
		if (++c->n_headers > c->srv->lim.max_headers)
			return conn_error(c, 431, "headers_too_large", "too many header fields");
		c->hstate = 1;
		c->field_len = 0;
		c->field_long = 0;
	}
	/* Only token characters (RFC 9110 5.6.2): a space before the colon,
	 * which the parser lets through, is a request smuggling vector. */
	for (size_t i = 0; i < len; i++)
		if (!is_tchar((unsigned char)at[i]))
			return conn_error(c, 400, "bad_request", "invalid character in header name");
	if (c->field_len + len > FIELD_MAX) {
		c->field_long = 1;
		return 0;
	}
	memcpy(c->field + c->field_len, at, len);
	c->field_len += len;
	return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;

	if (c->hstate != 2) {
		c->hstate = 2;
		c->cur_slot = H_NONE;
		c->field[c->field_len] = '\0';
		for (int i = 0; i < H_COUNT && !c->field_long; i++) {
			if (strcasecmp(c->field, slot_names[i]) != 0)
				continue;
			if (c->slot_set[i])
				return conn_error(c, 400, "bad_request", "duplicate header field");
			c->cur_slot = i;
			c->slot_set[i] = 1;
			c->slot_off[i] = c->head_len;
			break;
		}
	}
	if (c->cur_slot == H_NONE)
		return 0;
	return head_append(c, at, len);
}

static int on_headers_complete(http_parser *p)
{
	struct http_conn *c = p->data;
	const struct http_limits *lim = &c->srv->lim;
	int has_body = 0;

	if (finish_url(c) || finish_value(c))
		return -1;
	if (p->upgrade) {
		conn_error(c, 400, "bad_request", "protocol upgrade is not supported");
		return -1;
	}
	if (c->head[0] != '/') {
		conn_error(c, 400, "bad_request", "request target must be an absolute path");
		return -1;
	}
	if (p->flags & F_CHUNKED) {
		has_body = 1;
	} else if (p->content_length != ULLONG_MAX && p->content_length > 0) {
		if (p->content_length > lim->max_body) {
			conn_error(c, 413, "too_large", "request body too large");
			return -1;
		}
		size_t cap = (size_t)p->content_length + 1;

		if (body_reserve(c, cap) < 0) {
			conn_error(c, 503, "unavailable", "too many request bodies being received");
			return -1;
		}
		c->body = malloc(cap);
		if (!c->body) {
			c->srv->body_bytes -= cap;
			conn_error(c, 503, "unavailable", "out of memory");
			return -1;
		}
		c->body_cap = cap;
		has_body = 1;
	}
	if (has_body) {
		c->state = CS_BODY;
		conn_timer(c, lim->body_timeout_ms);
		if (c->slot_set[H_EXPECT] &&
		    strcasecmp(c->head + c->slot_off[H_EXPECT], "100-continue") == 0 &&
		    p->http_minor >= 1) {
			uv_buf_t b = uv_buf_init((char *)continue_line, sizeof(continue_line) - 1);
			c->cont_wreq.data = c;
			if (uv_write(&c->cont_wreq, &c->h.stream, &b, 1, NULL) < 0) {
				conn_error(c, 400, "bad_request", "connection failed");
				return -1;
			}
		}
	}
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;
	size_t max = c->srv->lim.max_body;

	if (c->body_len + len > max)
		return conn_error(c, 413, "too_large", "request body too large");
	if (c->body_len + len + 1 > c->body_cap) {
		size_t cap = c->body_cap ? c->body_cap : 4096;
		while (cap < c->body_len + len + 1)
			cap *= 2;
		if (cap > max + 1)
			cap = max + 1;
		if (body_reserve(c, cap - c->body_cap) < 0)
			return conn_error(c, 503, "unavailable", "too many request bodies being received");
		char *nb = realloc(c->body, cap);
		if (!nb) {
			c->srv->body_bytes -= cap - c->body_cap;
			return conn_error(c, 503, "unavailable", "out of memory");
		}
		c->body = nb;
		c->body_cap = cap;
	}
	memcpy(c->body + c->body_len, at, len);
	c->body_len += len;
	return 0;
}

static int on_message_complete(http_parser *p)
{
	struct http_conn *c = p->data;
	struct http_server *s = c->srv;

	c->keep_alive = http_should_keep_alive(p) && !s->closing &&
			++c->n_requests < s->lim.max_requests_per_conn;
	http_parser_pause(p, 1);
	return 0;
}

/* Hand the complete request to the handler.  Reading stays stopped until
 * the answer has been written. */
static void conn_dispatch(struct http_conn *c)
{
	struct http_server *s = c->srv;
	struct http_req *r = &c->req;
	char *q;

	conn_read_stop(c);
	uv_timer_stop(&c->timer);
	c->state = CS_HANDLING;
	r->method = http_method_str((enum http_method)c->parser.method);
	r->path = c->head;
	q = strchr(c->head, '#');
	if (q)
		*q = '\0';
	q = strchr(c->head, '?');
	if (q) {
		*q = '\0';
		r->query = q + 1;
	} else {
		r->query = "";
	}
	r->authorization = c->slot_set[H_AUTHORIZATION] ? c->head + c->slot_off[H_AUTHORIZATION] : NULL;
	r->content_type = c->slot_set[H_CONTENT_TYPE] ? c->head + c->slot_off[H_CONTENT_TYPE] : NULL;
	r->origin = c->slot_set[H_ORIGIN] ? c->head + c->slot_off[H_ORIGIN] : NULL;
	r->host = c->slot_set[H_HOST] ? c->head + c->slot_off[H_HOST] : NULL;
	if (c->body) {
		c->body[c->body_len] = '\0';
		r->body = c->body;
	} else {
		r->body = "";
	}
	r->body_len = c->body_len;
	r->via_unix = c->via_unix;
	r->peer = c->peer;
	r->id = ++s->next_id;
	c->req_out = 1;
	c->refs++;
	s->handler(r, s->data);
}

static int status_of_errno(enum http_errno e)
{
	switch (e) {
	case HPE_HEADER_OVERFLOW:
		return 431;
	default:
		return 400;
	}
}

/* Run the parser over the buffered input until it is used up, a request is
 * complete (dispatched) or an error was answered. */
static void conn_parse(struct http_conn *c)
{
	while (!c->closing && c->in_off < c->in_len &&
	       (c->state == CS_HEAD || c->state == CS_BODY)) {
		size_t n = http_parser_execute(&c->parser, &parser_settings,
					       c->in + c->in_off, c->in_len - c->in_off);
		enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);

		c->in_off += n;
		if (e == HPE_PAUSED) {
			conn_dispatch(c);
			return;
		}
		if (e != HPE_OK) {
			if (c->err_status)
				conn_fail(c, c->err_status, NULL, c->err_code, c->err_msg);
			else
				conn_fail(c, status_of_errno(e), NULL,
					  e == HPE_HEADER_OVERFLOW ? "headers_too_large" : "bad_request",
					  http_errno_description(e));
			return;
		}
		if (c->parser.upgrade || n == 0) {
			conn_fail(c, 400, NULL, "bad_request", "protocol upgrade is not supported");
			return;
		}
	}
	if (c->in_off == c->in_len)
		c->in_off = c->in_len = 0;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct http_conn *c = h->data;

	if (c->failed || c->in_off == c->in_len) {
		c->in_off = c->in_len = 0;
	} else if (c->in_off > 0) {
		memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
		c->in_len -= c->in_off;
		c->in_off = 0;
	}
	buf->base = c->in + c->in_len;
	buf->len = sizeof(c->in) - c->in_len;
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	struct http_conn *c = st->data;

	if (n == 0 || c->closing)
		return;
	if (n < 0) {
		/* EOF or error: nothing can be answered any more. */
		conn_close(c);
		return;
	}
	c->last_active = uv_hrtime();
	if (c->failed) {
		c->in_off = c->in_len = 0;
		return;
	}
	c->in_len += (size_t)n;
	conn_parse(c);
}

static void on_timer(uv_timer_t *t)
{
	struct http_conn *c = t->data;

	if (c->closing)
		return;
	switch (c->state) {
	case CS_HEAD:
		if (!c->begun || c->idle) {
			conn_close(c);
			return;
		}
		conn_fail(c, 408, NULL, "timeout", "request headers not received in time");
		return;
	case CS_BODY:
		conn_fail(c, 408, NULL, "timeout", "request body not received in time");
		return;
	case CS_HANDLING:
		return;
	case CS_WRITING:
	case CS_LINGER:
		conn_close(c);
		return;
	}
}

/* ---- the handler's side ---- */

int http_req_gone(const struct http_req *r)
{
	const struct http_conn *c = (const struct http_conn *)
		((const char *)r - offsetof(struct http_conn, req));
	return c->closing;
}

int http_respond(struct http_req *r, int status, const char *extra_headers,
		 const char *content_type, const char *body, size_t len)
{
	struct http_conn *c = (struct http_conn *)((char *)r - offsetof(struct http_conn, req));
	int rc;

	if (!c->req_out)
		return -EALREADY;
	c->req_out = 0;
	if (c->closing) {
		rc = -EPIPE;
	} else {
		rc = conn_send(c, status, extra_headers, content_type, body, len);
		body_release(c);
	}
	conn_unref(c);
	return rc;
}

int http_respond_error(struct http_req *r, int status, const char *extra_headers,
		       const char *code, const char *message)
{
	size_t len = 0;
	char *body = error_json(code, message, &len);
	int rc;

	if (!body) {
		static const char oom[] = "{\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}";
		return http_respond(r, 500, NULL, "application/json", oom, sizeof(oom) - 1);
	}
	rc = http_respond(r, status, extra_headers, "application/json", body, len);
	free(body);
	return rc;
}

/* ---- peers, connection caps and accepting ---- */

int http_peer_equal(const struct http_peer *a, const struct http_peer *b)
{
	size_t n = a->family == AF_INET6 ? 16 : 4;

	return a->family != 0 && a->family == b->family && memcmp(a->addr, b->addr, n) == 0;
}

void http_peer_str(const struct http_peer *p, char *buf, size_t len)
{
	unsigned uid;

	switch (p->family) {
	case AF_INET:
	case AF_INET6:
		if (inet_ntop(p->family, p->addr, buf, (socklen_t)len))
			return;
		break;
	case AF_UNIX:
		memcpy(&uid, p->addr, sizeof(uid));
		snprintf(buf, len, "uid %u", uid);
		return;
	}
	snprintf(buf, len, "unknown");
}

/* Who is at the other end of c; family 0 when it cannot be told. */
static void conn_peer(struct http_conn *c)
{
	struct http_peer *p = &c->peer;

	memset(p, 0, sizeof(*p));
	if (c->via_unix) {
		struct ucred cr;
		socklen_t len = sizeof(cr);
		uv_os_fd_t fd;
		unsigned uid;

		if (uv_fileno(&c->h.handle, &fd) == 0 &&
		    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0) {
			uid = (unsigned)cr.uid;
			p->family = AF_UNIX;
			memcpy(p->addr, &uid, sizeof(uid));
		}
	} else {
		struct sockaddr_storage ss;
		int len = sizeof(ss);

		if (uv_tcp_getpeername(&c->h.tcp, (struct sockaddr *)&ss, &len) < 0)
			return;
		if (ss.ss_family == AF_INET) {
			p->family = AF_INET;
			memcpy(p->addr, &((struct sockaddr_in *)&ss)->sin_addr, 4);
		} else if (ss.ss_family == AF_INET6) {
			const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;

			if (IN6_IS_ADDR_V4MAPPED(a)) {
				p->family = AF_INET;
				memcpy(p->addr, a->s6_addr + 12, 4);
			} else {
				p->family = AF_INET6;
				memcpy(p->addr, a->s6_addr, 16);
			}
		}
	}
}

/* Connections of c's peer other than c, not counting those already
 * answered with an error (they linger for LINGER_MS at most). */
/* Connections of c's peer that may still carry a request: not those
 * lingering or closing, nor one writing its last answer ("Connection:
 * close"): a client at its limit that reconnects as soon as it read that
 * answer may otherwise be refused before the old one's write completes. */
static unsigned peer_conns(const struct http_server *s, const struct http_conn *c)
{
	unsigned n = 0;

	for (const struct http_conn *o = s->conns; o; o = o->next) {
		int leaving = o->state == CS_LINGER || o->closing ||
			      (o->state == CS_WRITING && !o->keep_alive);

		if (o != c && !leaving && http_peer_equal(&o->peer, &c->peer))
			n++;
	}
	return n;
}

/* Close the idlest connection other than `keep`: one lingering after an
 * error answer, waiting for its first request, or idle between keep-alive
 * requests, quiet the longest.  Returns 1 if one was closed. */
static int evict_idlest(struct http_server *s, const struct http_conn *keep)
{
	struct http_conn *best = NULL;

	for (struct http_conn *o = s->conns; o; o = o->next) {
		int idle = o->state == CS_LINGER ||
			   (o->state == CS_HEAD && (!o->begun || o->idle));

		if (o == keep || !idle)
			continue;
		/* The list is newest first: on a tie the older one wins. */
		if (!best || o->last_active <= best->last_active)
			best = o;
	}
	if (!best)
		return 0;
	if (best->state != CS_LINGER)
		s->stats.evicted++;
	conn_close(best);
	return 1;
}

static void on_rejected_closed(uv_handle_t *h)
{
	free(h);
}

static void on_connection(uv_stream_t *ls, int status)
{
	struct http_server *s = ls->data;
	int is_unix = ls->type == UV_NAMED_PIPE;
	struct http_conn *c;
	int rc;

	if (status < 0) {
		log_warn("http: accept failed: %s", uv_strerror(status));
		return;
	}
	if (s->n_conns >= s->lim.max_connections + OVERFLOW_SLACK && !evict_idlest(s, NULL)) {
		/* Far past the cap: take the connection off the queue and drop it. */
		uv_handle_t *h = malloc(is_unix ? sizeof(uv_pipe_t) : sizeof(uv_tcp_t));
		if (!h)
			return;
		if (is_unix)
			uv_pipe_init(s->loop, (uv_pipe_t *)h, 0);
		else
			uv_tcp_init(s->loop, (uv_tcp_t *)h);
		uv_accept(ls, (uv_stream_t *)h);
		uv_close(h, on_rejected_closed);
		s->stats.rejected++;
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		log_err("http: out of memory accepting a connection");
		return;
	}
	c->srv = s;
	c->via_unix = is_unix;
	if (is_unix)
		rc = uv_pipe_init(s->loop, &c->h.pipe, 0);
	else
		rc = uv_tcp_init(s->loop, &c->h.tcp);
	if (rc < 0) {
		free(c);
		return;
	}
	c->h.handle.data = c;
	uv_timer_init(s->loop, &c->timer);
	c->timer.data = c;
	c->refs = 2;
	c->last_active = uv_hrtime();
	s->live++;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->n_conns++;
	s->stats.open = s->n_conns;
	s->stats.accepted++;
	if (uv_accept(ls, &c->h.stream) < 0) {
		conn_close(c);
		return;
	}
	if (!is_unix)
		uv_tcp_nodelay(&c->h.tcp, 1);
	conn_peer(c);
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	c->state = CS_HEAD;
	if (!is_unix && peer_conns(s, c) >= s->lim.max_conns_per_client) {
		char who[INET6_ADDRSTRLEN + 16];

		http_peer_str(&c->peer, who, sizeof(who));
		log_debug("http: %s has %u connections: refusing another", who,
			  s->lim.max_conns_per_client);
		s->stats.rejected++;
		s->stats.rejected_client++;
		c->keep_alive = 0;
		conn_fail(c, 503, "Retry-After: 1\r\n", "unavailable",
			  "too many connections from this client");
		return;
	}
	if (s->n_conns > s->lim.max_connections && !evict_idlest(s, c) && !is_unix) {
		s->stats.rejected++;
		c->keep_alive = 0;
		conn_fail(c, 503, "Retry-After: 1\r\n", "unavailable", "too many connections");
		return;
	}
	c->head_cap = s->lim.max_header_bytes + H_COUNT + 2;
	c->head = malloc(c->head_cap);
	if (!c->head) {
		conn_close(c);
		return;
	}
	/* The header timeout of the first request runs from accept. */
	conn_timer(c, s->lim.header_timeout_ms);
	conn_read_start(c);
}

/* ---- server ---- */

int http_server_new(uv_loop_t *loop, const struct http_limits *lim,
		    http_handler handler, void *data, struct http_server **out)
{
	struct http_server *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->loop = loop;
	s->lim = *lim;
	s->handler = handler;
	s->data = data;
	http_parser_set_max_header_size((uint32_t)lim->max_header_bytes);
	*out = s;
	return 0;
}

void http_server_set_limits(struct http_server *s, const struct http_limits *lim)
{
	s->lim = *lim;
	http_parser_set_max_header_size((uint32_t)lim->max_header_bytes);
}

int http_server_listen_tcp(struct http_server *s, const char *hostport)
{
	char host[64];
	const char *colon = strrchr(hostport, ':');
	struct sockaddr_storage ss;
	char *end;
	long port;
	size_t hlen;
	int rc;

	if (s->have_tcp || !colon)
		return -EINVAL;
	port = strtol(colon + 1, &end, 10);
	if (*end || end == colon + 1 || port < 0 || port > 65535)
		return -EINVAL;
	hlen = (size_t)(colon - hostport);
	if (hlen >= 2 && hostport[0] == '[' && hostport[hlen - 1] == ']') {
		if (hlen - 2 >= sizeof(host))
			return -EINVAL;
		memcpy(host, hostport + 1, hlen - 2);
		host[hlen - 2] = '\0';
		rc = uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)&ss);
	} else {
		if (hlen >= sizeof(host))
			return -EINVAL;
		memcpy(host, hostport, hlen);
		host[hlen] = '\0';
		rc = uv_ip4_addr(host, (int)port, (struct sockaddr_in *)&ss);
	}
	if (rc < 0)
		return rc;
	rc = uv_tcp_init(s->loop, &s->tcp);
	if (rc < 0)
		return rc;
	s->tcp.data = s;
	s->have_tcp = 1;
	s->live++;
	rc = uv_tcp_bind(&s->tcp, (const struct sockaddr *)&ss, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&s->tcp, 511, on_connection);
	return rc;
}

int http_server_port(const struct http_server *s)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	int rc;

	if (!s->have_tcp)
		return -ENOTCONN;
	rc = uv_tcp_getsockname(&s->tcp, (struct sockaddr *)&ss, &len);
	if (rc < 0)
		return rc;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

int http_server_listen_unix(struct http_server *s, const char *path, unsigned mode)
{
	struct stat st;
	int rc;

	if (s->have_pipe)
		return -EINVAL;
	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return -ENAMETOOLONG;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return -EEXIST;
		if (unlink(path) < 0)
			return -errno;
	}
	rc = uv_pipe_init(s->loop, &s->pipe, 0);
	if (rc < 0)
		return rc;
	s->pipe.data = s;
	s->have_pipe = 1;
	s->live++;
	rc = uv_pipe_bind(&s->pipe, path);
	if (rc < 0)
		return rc;
	s->pipe_path = strdup(path);
	if (!s->pipe_path)
		return -ENOMEM;
	/* Set the mode before listen(): until then no one can connect. */
	if (chmod(path, mode) < 0)
		return -errno;
	return uv_listen((uv_stream_t *)&s->pipe, 511, on_connection);
}

const struct http_stats *http_server_stats(const struct http_server *s)
{
	return &s->stats;
}

static void on_listener_closed(uv_handle_t *h)
{
	struct http_server *s = h->data;

	s->live--;
	server_maybe_finish(s);
}

void http_server_close(struct http_server *s, void (*cb)(void *data), void *data)
{
	struct http_conn *c, *next;

	s->closing = 1;
	s->close_cb = cb;
	s->close_data = data;
	/* Hold the server while closing, so it is not freed under our feet. */
	s->live++;
	if (s->have_tcp)
		uv_close((uv_handle_t *)&s->tcp, on_listener_closed);
	if (s->have_pipe) {
		uv_close((uv_handle_t *)&s->pipe, on_listener_closed);
		if (s->pipe_path)
			unlink(s->pipe_path);
	}
	for (c = s->conns; c; c = next) {
		next = c->next;
		/* Idle connections go now; a request being received, handled or
		 * answered finishes first (its answer says Connection: close). */
		if (c->state == CS_HEAD && (!c->begun || c->idle))
			conn_close(c);
	}
	s->live--;
	server_maybe_finish(s);
}
