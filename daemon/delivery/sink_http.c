/* sink_http.c - the HTTP sink backends: "webhook" and "rabbitmq" (management HTTP API).
 *
 * Both drive one libcurl multi handle from the libuv loop, as curl's
 * multi-uv example does: curl tells us which sockets to watch
 * (CURLMOPT_SOCKETFUNCTION -> one uv_poll_t per socket) and when to call it
 * back (CURLMOPT_TIMERFUNCTION -> one uv_timer_t); the poll and timer
 * callbacks call curl_multi_socket_action() and then collect finished
 * transfers.  The curl callbacks themselves never call into libcurl.
 *
 * webhook:  POST <url> with the verdict as the body, Idempotency-Key: <key>;
 *           any 2xx confirms.
 * rabbitmq: POST <url>/api/exchanges/<vhost>/<exchange>/publish with a
 *           persistent message whose message_id is the key; confirmed only
 *           on 2xx with {"routed": true} in the answer (RabbitMQ answers 200
 *           {"routed": false} when no queue took the message).
 *
 * Ownership: each transfer (struct xfer) owns its easy handle, headers,
 * request body (rabbitmq) and answer buffer, and borrows the delivery from
 * sink.c until it reports it.  Poll handles are freed in their close
 * callback; close() completes when the timer and every poll are closed.
 */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "sink.h"

#define HTTP_MAX_ANSWER (64u << 10)
#define HTTP_MAX_PASSWORD 1024
#define container_of(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

struct http {
	uv_loop_t *loop;
	CURLM *multi;
	uv_timer_t timer;
	bool rabbitmq;
	bool closing;
	char *url;                /* webhook URL or full publish URL */
	char *routing_key;
	char *user, *password;    /* NULL = no authentication */
	char *ca_file;
	long timeout_ms, connect_timeout_ms;
	bool tls_verify;
	struct xfer *xfers;       /* in flight, doubly linked */
	unsigned open_handles;
	void (*close_cb)(void *data);
	void *close_data;
};

struct xfer {
	struct http *h;
	CURL *easy;
	struct sink_delivery *d;
	struct curl_slist *hdrs;
	char *payload;            /* rabbitmq request body */
	char *answer;
	size_t answer_len;
	bool answer_overflow;
	char err[CURL_ERROR_SIZE];
	struct xfer *prev, *next;
};

struct sockctx {
	uv_poll_t poll;
	struct http *h;
	curl_socket_t fd;
};

static void http_maybe_closed(struct http *h);

/* ---- curl <-> libuv glue ---- */

static void handle_closed(uv_handle_t *hd)
{
	struct http *h = hd->data;

	if (hd->type == UV_POLL)
		free(container_of((uv_poll_t *)hd, struct sockctx, poll));
	h->open_handles--;
	http_maybe_closed(h);
}

static void xfer_free(struct xfer *x)
{
	struct http *h = x->h;

	if (x->prev)
		x->prev->next = x->next;
	else
		h->xfers = x->next;
	if (x->next)
		x->next->prev = x->prev;
	if (x->easy) {
		curl_multi_remove_handle(h->multi, x->easy);
		curl_easy_cleanup(x->easy);
	}
	curl_slist_free_all(x->hdrs);
	free(x->payload);
	free(x->answer);
	free(x);
}

/* Is an HTTP status about this message rather than the receiver?  A
 * webhook's 4xx are, except those about credentials, routing, time and
 * load; RabbitMQ answers 400 for a missing exchange or a full queue too,
 * so there no status is blamed on the message. */
static bool refuses_message(const struct http *h, long code)
{
	if (h->rabbitmq || code < 400 || code > 499)
		return false;
	switch (code) {
	case 401: case 403: case 404: case 407: case 408: case 421: case 425: case 429:
		return false;
	default:
		return true;
	}
}

/* Did the receiver take the message?  0, -EBADMSG when it refused this
 * message, or another negative errno when it failed (see sink.h). */
static int xfer_result(struct xfer *x, CURLcode res)
{
	struct http *h = x->h;
	long code = 0;
	json_error_t jerr;
	json_t *root, *routed;
	int r;

	if (res != CURLE_OK) {
		snprintf(x->d->error, sizeof(x->d->error), "%.159s",
			 x->err[0] ? x->err : curl_easy_strerror(res));
		log_info("sink: %s: %s", x->d->key, x->d->error);
		switch (res) {
		case CURLE_OPERATION_TIMEDOUT:
			return -ETIMEDOUT;
		case CURLE_COULDNT_CONNECT:
			return -ECONNREFUSED;
		case CURLE_COULDNT_RESOLVE_HOST:
			return -EHOSTUNREACH;
		case CURLE_WRITE_ERROR:
			return -EMSGSIZE;
		default:
			return -EIO;
		}
	}
	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
	if (code < 200 || code > 299) {
		snprintf(x->d->error, sizeof(x->d->error), "the receiver answered HTTP %ld", code);
		log_info("sink: %s: %s", x->d->key, x->d->error);
		return refuses_message(h, code) ? -EBADMSG : -EPROTO;
	}
	if (!h->rabbitmq)
		return 0;
	root = json_loadb(x->answer ? x->answer : "", x->answer_len, 0, &jerr);
	routed = json_object_get(root, "routed");
	if (!root) {
		snprintf(x->d->error, sizeof(x->d->error), "RabbitMQ answered HTTP %ld with no "
			 "JSON: %.80s", code, jerr.text);
		log_info("sink: %s: %s", x->d->key, x->d->error);
		r = -EPROTO;
	} else if (!json_is_true(routed)) {
		snprintf(x->d->error, sizeof(x->d->error), "RabbitMQ did not route the message "
			 "(no queue bound to routing key \"%.60s\")", h->routing_key);
		log_info("sink: %s: %s", x->d->key, x->d->error);
		r = -EHOSTUNREACH;
	} else {
		r = 0;
	}
	json_decref(root);
	return r;
}

static void check_done(struct http *h)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(h->multi, &left))) {
		struct xfer *x = NULL;
		struct sink_delivery *d;
		CURLcode res;
		int status;

		if (msg->msg != CURLMSG_DONE)
			continue;
		res = msg->data.result;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
		/* msg is invalid once its handle is removed (in xfer_free). */
		status = xfer_result(x, res);
		d = x->d;
		xfer_free(x);
		sink_delivered(d, status);
	}
}

static void on_poll(uv_poll_t *p, int status, int events)
{
	struct sockctx *c = container_of(p, struct sockctx, poll);
	struct http *h = c->h;
	int flags = 0, running = 0;

	if (status < 0) {
		/* POLLERR (e.g. a reset) or a spurious EBADF while curl races
		 * connections: let curl find out. */
		log_debug("sink: poll on fd %d: %s", (int)c->fd, uv_strerror(status));
		flags = CURL_CSELECT_ERR;
	} else {
		if (events & UV_READABLE)
			flags |= CURL_CSELECT_IN;
		if (events & UV_WRITABLE)
			flags |= CURL_CSELECT_OUT;
	}
	curl_multi_socket_action(h->multi, c->fd, flags, &running);
	check_done(h);
}

static void on_timeout(uv_timer_t *t)
{
	struct http *h = t->data;
	int running = 0;

	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(h);
}

/* CURLMOPT_SOCKETFUNCTION: no libcurl calls in here but curl_multi_assign. */
static int on_socket(CURL *easy, curl_socket_t fd, int action, void *userp, void *socketp)
{
	struct http *h = userp;
	struct sockctx *c = socketp;
	int events = 0, r;

	if (action == CURL_POLL_REMOVE) {
		if (c) {
			uv_poll_stop(&c->poll);
			uv_close((uv_handle_t *)&c->poll, handle_closed);
			curl_multi_assign(h->multi, fd, NULL);
		}
		return 0;
	}
	if (!c) {
		/* While closing, curl may announce cached connections once more
		 * before removing them: do not watch them. */
		if (h->closing)
			return 0;
		c = calloc(1, sizeof(*c));
		if (!c)
			return -1;
		c->h = h;
		c->fd = fd;
		r = uv_poll_init_socket(h->loop, &c->poll, fd);
		if (r < 0) {
			log_err("sink: uv_poll_init_socket(%d): %s", (int)fd, uv_strerror(r));
			free(c);
			return -1;
		}
		c->poll.data = h;
		h->open_handles++;
		curl_multi_assign(h->multi, fd, c);
	}
	if (action & CURL_POLL_IN)
		events |= UV_READABLE;
	if (action & CURL_POLL_OUT)
		events |= UV_WRITABLE;
	uv_poll_start(&c->poll, events, on_poll);
	return 0;
}

/* CURLMOPT_TIMERFUNCTION: one-shot; -1 stops it. */
static int on_timer(CURLM *m, long ms, void *userp)
{
	struct http *h = userp;

	if (ms < 0)
		uv_timer_stop(&h->timer);
	else
		uv_timer_start(&h->timer, on_timeout, (uint64_t)ms, 0);
	return 0;
}

static size_t on_answer(char *ptr, size_t size, size_t nmemb, void *userp)
{
	struct xfer *x = userp;
	size_t n = size * nmemb;
	char *p;

	if (!x->h->rabbitmq)
		return n; /* a webhook's answer body does not matter */
	if (n > HTTP_MAX_ANSWER - x->answer_len) {
		x->answer_overflow = true;
		return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
	}
	p = realloc(x->answer, x->answer_len + n + 1);
	if (!p)
		return 0;
	memcpy(p + x->answer_len, ptr, n);
	x->answer = p;
	x->answer_len += n;
	x->answer[x->answer_len] = '\0';
	return n;
}

/* ---- Deliveries ---- */

static char *rabbitmq_body(const struct http *h, const struct sink_delivery *d)
{
	json_t *msg;
	char *out;

	msg = json_pack("{s:{s:s,s:i,s:s},s:s,s:s%,s:s}",
			"properties", "message_id", d->key, "delivery_mode", 2,
			"content_type", "application/json",
			"routing_key", h->routing_key,
			"payload", d->body, d->len,
			"payload_encoding", "string");
	if (!msg)
		return NULL; /* the verdict is not UTF-8 */
	out = json_dumps(msg, JSON_COMPACT);
	json_decref(msg);
	return out;
}

static int add_header(struct curl_slist **l, const char *line)
{
	struct curl_slist *n = curl_slist_append(*l, line);

	if (!n)
		return -ENOMEM;
	*l = n;
	return 0;
}

static int http_send(void *state, struct sink_delivery *d)
{
	struct http *h = state;
	char key_hdr[256];
	struct xfer *x;
	CURLMcode mc;
	int r = -ENOMEM;

	if (h->closing)
		return -ECANCELED;
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->h = h;
	x->d = d;
	x->next = h->xfers;
	if (h->xfers)
		h->xfers->prev = x;
	h->xfers = x;
	x->easy = curl_easy_init();
	if (!x->easy)
		goto fail;
	snprintf(key_hdr, sizeof(key_hdr), "Idempotency-Key: %s", d->key);
	if (add_header(&x->hdrs, "Content-Type: application/json") < 0 ||
	    add_header(&x->hdrs, key_hdr) < 0 ||
	    add_header(&x->hdrs, "Expect:") < 0) /* no 100-continue round trip */
		goto fail;
	if (h->rabbitmq) {
		x->payload = rabbitmq_body(h, d);
		if (!x->payload) {
			log_err("sink: %s is not valid UTF-8 JSON text; cannot publish it", d->key);
			r = -EBADMSG;
			goto fail;
		}
		curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)strlen(x->payload));
		curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->payload);
	} else {
		curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)d->len);
		curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, d->body);
	}
	curl_easy_setopt(x->easy, CURLOPT_URL, h->url);
	curl_easy_setopt(x->easy, CURLOPT_PRIVATE, (char *)x);
	curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->hdrs);
	curl_easy_setopt(x->easy, CURLOPT_ERRORBUFFER, x->err);
	curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, on_answer);
	curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, h->timeout_ms);
	curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS, h->connect_timeout_ms);
	curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(x->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(x->easy, CURLOPT_FOLLOWLOCATION, 0L);
	/* Deliver where configured, not through a proxy from the environment. */
	curl_easy_setopt(x->easy, CURLOPT_PROXY, "");
	curl_easy_setopt(x->easy, CURLOPT_USERAGENT, "kvscreend/" PACKAGE_VERSION);
	curl_easy_setopt(x->easy, CURLOPT_SSL_VERIFYPEER, h->tls_verify ? 1L : 0L);
	curl_easy_setopt(x->easy, CURLOPT_SSL_VERIFYHOST, h->tls_verify ? 2L : 0L);
	if (h->ca_file)
		curl_easy_setopt(x->easy, CURLOPT_CAINFO, h->ca_file);
	if (h->user) {
		curl_easy_setopt(x->easy, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(x->easy, CURLOPT_USERNAME, h->user);
		curl_easy_setopt(x->easy, CURLOPT_PASSWORD, h->password);
	}
	mc = curl_multi_add_handle(h->multi, x->easy);
	if (mc != CURLM_OK) {
		log_err("sink: curl_multi_add_handle: %s", curl_multi_strerror(mc));
		r = -EIO;
		goto fail;
	}
	return 0;
fail:
	xfer_free(x);
	return r;
}

/* ---- Open and close ---- */

/* First line of a small file, without its line end. */
static int read_password(const char *path, char **out)
{
	char buf[HTTP_MAX_PASSWORD + 1];
	size_t got = 0;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	while (got < sizeof(buf) - 1) {
		ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (r < 0)
		return r;
	buf[got] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	*out = strdup(buf);
	explicit_bzero(buf, sizeof(buf));
	return *out ? 0 : -ENOMEM;
}

static void http_free(struct http *h)
{
	if (h->password)
		explicit_bzero(h->password, strlen(h->password));
	free(h->password);
	free(h->user);
	free(h->url);
	free(h->routing_key);
	free(h->ca_file);
	free(h);
}

static char *publish_url(const struct cfg_sink *cfg)
{
	char *vhost = NULL, *exchange = NULL, *url = NULL;
	size_t base = strlen(cfg->url);

	while (base > 0 && cfg->url[base - 1] == '/')
		base--;
	vhost = curl_easy_escape(NULL, cfg->vhost, 0);
	exchange = curl_easy_escape(NULL, cfg->exchange, 0);
	if (vhost && exchange &&
	    asprintf(&url, "%.*s/api/exchanges/%s/%s/publish", (int)base, cfg->url, vhost,
		     exchange) < 0)
		url = NULL;
	curl_free(vhost);
	curl_free(exchange);
	return url;
}

static int http_open(uv_loop_t *loop, const struct cfg_sink *cfg, void **state, bool rabbitmq)
{
	struct http *h;
	int r = -ENOMEM;

	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->loop = loop;
	h->rabbitmq = rabbitmq;
	h->timeout_ms = (long)cfg->timeout_ms;
	h->connect_timeout_ms = (long)cfg->connect_timeout_ms;
	h->tls_verify = cfg->tls_verify != 0;
	h->url = rabbitmq ? publish_url(cfg) : strdup(cfg->url);
	h->routing_key = strdup(cfg->routing_key ? cfg->routing_key : "");
	if (!h->url || !h->routing_key)
		goto fail;
	if (cfg->ca_file && !(h->ca_file = strdup(cfg->ca_file)))
		goto fail;
	if (cfg->user && *cfg->user) {
		h->user = strdup(cfg->user);
		if (!h->user)
			goto fail;
		r = read_password(cfg->password_file, &h->password);
		if (r < 0) {
			log_err("sink: cannot read password_file %s: %s", cfg->password_file,
				strerror(-r));
			goto fail;
		}
	}
	h->multi = curl_multi_init();
	if (!h->multi) {
		r = -ENOMEM;
		goto fail;
	}
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)cfg->max_inflight);
	curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, (long)cfg->max_inflight);
	uv_timer_init(loop, &h->timer);
	h->timer.data = h;
	h->open_handles = 1;
	*state = h;
	return 0;
fail:
	http_free(h);
	return r;
}

static int webhook_open(uv_loop_t *loop, const struct cfg_sink *cfg, void **state)
{
	return http_open(loop, cfg, state, false);
}

static int rabbitmq_open(uv_loop_t *loop, const struct cfg_sink *cfg, void **state)
{
	return http_open(loop, cfg, state, true);
}

static void http_maybe_closed(struct http *h)
{
	void (*cb)(void *data);
	void *data;

	if (!h->closing || h->open_handles)
		return;
	cb = h->close_cb;
	data = h->close_data;
	http_free(h);
	cb(data);
}

static void http_close(void *state, void (*cb)(void *data), void *data)
{
	struct http *h = state;

	h->closing = true;
	h->close_cb = cb;
	h->close_data = data;
	/* Order from curl's multi-uv notes: transfers, then the multi handle
	 * (which may still call on_socket), then our timer. */
	while (h->xfers)
		xfer_free(h->xfers);
	curl_multi_cleanup(h->multi);
	h->multi = NULL;
	uv_close((uv_handle_t *)&h->timer, handle_closed);
}

const struct sink_backend sink_http_webhook = {
	.kind = "webhook",
	.open = webhook_open,
	.send = http_send,
	.close = http_close,
};

const struct sink_backend sink_http_rabbitmq = {
	.kind = "rabbitmq",
	.open = rabbitmq_open,
	.send = http_send,
	.close = http_close,
};
