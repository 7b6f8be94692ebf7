/* sink_amqp.c - the "amqp" sink backend: publishes verdicts to RabbitMQ over AMQP 0-9-1 with publisher confirms.
 *
 * rabbitmq-c (RabbitMQ's own C client) is blocking, so each sink has one
 * worker thread that owns the connection.  The loop thread hands it
 * deliveries through a bounded queue (in) and wakes it with an eventfd; the
 * worker hands outcomes back through a second list (out) and uv_async_send,
 * and the async callback calls sink_delivered() on the loop thread.  Both
 * lists and the stop flag are under one mutex; nothing else is shared.
 *
 * The worker connects only when it has something to send, so reconnection
 * follows sink.c's backoff: a failed connect fails the deliveries it held,
 * sink.c probes again later with one entry.  On a connection it opens one
 * channel, puts it in confirm mode (confirm.select) and publishes each
 * verdict with mandatory set, delivery mode 2 (persistent), content type
 * application/json and message_id = the delivery's idempotency key.  A
 * delivery succeeds only on the broker's basic.ack for its delivery tag
 * (one ack with multiple set settles every tag up to it).  basic.nack, and
 * basic.return (mandatory and unroutable; the broker sends it before the
 * ack of that tag, and the message_id names the delivery), give -EBADMSG.
 * A lost connection, a channel or connection closed by the broker, a missed
 * heartbeat or a delivery not confirmed within timeout_ms fail every
 * unconfirmed delivery with another negative errno and drop the connection:
 * those messages may have reached the broker, so they are sent again (at
 * least once; consumers deduplicate on message_id).
 *
 * Between deliveries the worker polls the socket and the eventfd, and calls
 * rabbitmq-c at least every heartbeat_s / 2 so that it sends and checks
 * heartbeats.  close() asks the worker to stop; it closes the connection
 * (connection.close, bounded by timeout_ms) and ends.  Should a write block
 * (a broker that stopped reading), a timer shuts the socket down so that
 * close still completes.  Deliveries are borrowed from sink.c and are never
 * touched after close() returned to sink.c's backend_closed callback: the
 * thread is joined before that callback runs.
 */
#include "config.h"

#include <amqp.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "sink.h"

#define AMQP_CHANNEL 1
#define AMQP_FRAME_MAX 131072
/* Deliveries queued for the worker at once (sink.c keeps at most
 * max_inflight, itself at most 256, in flight). */
#define AMQP_MAX_QUEUE 1024
#define AMQP_MAX_PASSWORD 1024
#define AMQP_MAX_URL 4096
/* Longest wait of the worker between two calls into rabbitmq-c. */
#define AMQP_MAX_IDLE_MS 1000

struct job {
	struct sink_delivery *d;  /* borrowed from sink.c until reported */
	uint64_t tag;             /* delivery tag on the current channel */
	uint64_t deadline_ms;     /* confirmation due (worker's clock) */
	int status;               /* outcome, when on the out list */
	bool returned;            /* basic.return named this message */
	struct job *next;
};

struct job_list {
	struct job *head, *tail;
	unsigned n;
};

struct amqp {
	/* Settings, read-only once the worker runs. */
	char *host, *vhost, *user, *password, *exchange, *routing_key, *ca_file;
	int port;
	bool tls, tls_verify;
	int heartbeat_s;
	long timeout_ms, connect_timeout_ms;

	/* Loop thread only. */
	uv_loop_t *loop;
	uv_async_t async;
	uv_timer_t kill_timer;
	uv_thread_t thread;
	bool closing;
	unsigned open_handles;
	void (*close_cb)(void *data);
	void *close_data;

	/* Shared, under mu. */
	uv_mutex_t mu;
	struct job_list in;       /* loop -> worker */
	struct job_list out;      /* worker -> loop */
	bool stop;                /* the loop asks the worker to end */
	bool worker_done;         /* the worker has ended */
	int sockfd;               /* the worker's connected socket, or -1 */
	int wake_fd;              /* eventfd; written by the loop, read by the worker */

	/* Worker thread only. */
	amqp_connection_state_t conn;
	struct job_list unacked;  /* in tag order */
	uint64_t next_tag;
	bool return_pending;      /* a basic.return's header frame is next */
	uint64_t body_left;       /* body bytes of a returned message to skip */
};

/* ---- Lists ---- */

static void list_push(struct job_list *l, struct job *j)
{
	j->next = NULL;
	if (l->tail)
		l->tail->next = j;
	else
		l->head = j;
	l->tail = j;
	l->n++;
}

static struct job_list list_take(struct job_list *l)
{
	struct job_list all = *l;

	*l = (struct job_list){ 0 };
	return all;
}

static uint64_t now_ms(void)
{
	return uv_hrtime() / 1000000u;
}

/* ---- Worker: outcomes back to the loop ---- */

static void report(struct amqp *a, struct job *j, int status)
{
	j->status = status;
	uv_mutex_lock(&a->mu);
	list_push(&a->out, j);
	uv_mutex_unlock(&a->mu);
	uv_async_send(&a->async);
}

static void report_all(struct amqp *a, struct job_list *l, int status)
{
	struct job_list all = list_take(l);

	for (struct job *j = all.head, *next; j; j = next) {
		next = j->next;
		report(a, j, status);
	}
}

/* ---- Worker: the connection ---- */

static const char *bytes_text(amqp_bytes_t b, char *buf, size_t len)
{
	size_t n = b.len < len - 1 ? b.len : len - 1;

	memcpy(buf, b.bytes ? b.bytes : "", n);
	buf[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			buf[i] = '?';
	return buf;
}

static int status_errno(int st)
{
	switch (st) {
	case AMQP_STATUS_NO_MEMORY:
		return -ENOMEM;
	case AMQP_STATUS_TIMEOUT:
	case AMQP_STATUS_HEARTBEAT_TIMEOUT:
		return -ETIMEDOUT;
	case AMQP_STATUS_HOSTNAME_RESOLUTION_FAILED:
		return -EHOSTUNREACH;
	case AMQP_STATUS_CONNECTION_CLOSED:
	case AMQP_STATUS_SOCKET_CLOSED:
		return -ECONNRESET;
	case AMQP_STATUS_SOCKET_ERROR:
		return -ECONNREFUSED;
	default:
		return -EPROTO;
	}
}

/* The broker's reply code (connection.close / channel.close) as an errno. */
static int reply_code_errno(int code)
{
	switch (code) {
	case AMQP_ACCESS_REFUSED:
	case AMQP_NOT_ALLOWED:
		return -EACCES;
	case AMQP_NOT_FOUND:
		return -ENOENT;
	case AMQP_CONNECTION_FORCED:
		return -ECONNRESET;
	case AMQP_RESOURCE_ERROR:
		return -ENOBUFS;
	default:
		return -EPROTO;
	}
}

/* 0 when the RPC succeeded, else a logged negative errno. */
static int check_reply(const struct amqp *a, amqp_rpc_reply_t r, const char *what)
{
	char text[256];

	switch (r.reply_type) {
	case AMQP_RESPONSE_NORMAL:
		return 0;
	case AMQP_RESPONSE_LIBRARY_EXCEPTION:
		log_info("sink: amqp %s:%d: %s: %s", a->host, a->port, what,
			 amqp_error_string2(r.library_error));
		return status_errno(r.library_error);
	case AMQP_RESPONSE_SERVER_EXCEPTION:
		if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
			const amqp_connection_close_t *m = r.reply.decoded;
			log_info("sink: amqp %s:%d: %s: the broker closed the connection: %u %s",
				 a->host, a->port, what, m->reply_code,
				 bytes_text(m->reply_text, text, sizeof(text)));
			return reply_code_errno(m->reply_code);
		}
		if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
			const amqp_channel_close_t *m = r.reply.decoded;
			log_info("sink: amqp %s:%d: %s: the broker closed the channel: %u %s",
				 a->host, a->port, what, m->reply_code,
				 bytes_text(m->reply_text, text, sizeof(text)));
			return reply_code_errno(m->reply_code);
		}
		log_info("sink: amqp %s:%d: %s: unexpected method 0x%08x", a->host, a->port,
			 what, (unsigned)r.reply.id);
		return -EPROTO;
	default:
		log_info("sink: amqp %s:%d: %s: no reply", a->host, a->port, what);
		return -EPROTO;
	}
}

/* Drop the connection (connection.close first when graceful) and fail
 * every delivery waiting for a confirmation with err. */
static void conn_drop(struct amqp *a, int err, bool graceful)
{
	if (a->conn) {
		if (graceful)
			amqp_connection_close(a->conn, AMQP_REPLY_SUCCESS);
		uv_mutex_lock(&a->mu);
		a->sockfd = -1;
		uv_mutex_unlock(&a->mu);
		amqp_destroy_connection(a->conn);
		a->conn = NULL;
	}
	if (err < 0 && a->unacked.n)
		log_info("sink: amqp: %u unconfirmed deliveries fail (%s); they will be sent again",
			 a->unacked.n, strerror(-err));
	report_all(a, &a->unacked, err);
	a->return_pending = false;
	a->body_left = 0;
}

static int conn_open(struct amqp *a)
{
	struct timeval ctv = { .tv_sec = a->connect_timeout_ms / 1000,
			       .tv_usec = (a->connect_timeout_ms % 1000) * 1000 };
	struct timeval rtv = { .tv_sec = a->timeout_ms / 1000,
			       .tv_usec = (a->timeout_ms % 1000) * 1000 };
	amqp_table_entry_t prop;
	amqp_table_t props = { .num_entries = 1, .entries = &prop };
	char name[64];
	amqp_socket_t *sock;
	int st, r;

	a->conn = amqp_new_connection();
	if (!a->conn)
		return -ENOMEM;
	sock = a->tls ? amqp_ssl_socket_new(a->conn) : amqp_tcp_socket_new(a->conn);
	if (!sock) {
		r = -ENOMEM;
		goto fail;
	}
	if (a->tls) {
		/* rabbitmq-c trusts no CA by default: use OpenSSL's default
		 * bundle (SSL_CERT_FILE or the system's) unless ca_file is set. */
		const char *env = getenv(X509_get_default_cert_file_env());
		const char *ca = a->ca_file ? a->ca_file
					    : (env && *env ? env : X509_get_default_cert_file());

		amqp_ssl_socket_set_verify_peer(sock, a->tls_verify);
		amqp_ssl_socket_set_verify_hostname(sock, a->tls_verify);
		if (a->tls_verify || a->ca_file) {
			st = amqp_ssl_socket_set_cacert(sock, ca);
			if (st != AMQP_STATUS_OK) {
				log_err("sink: amqp: cannot load CA bundle %s: %s", ca,
					amqp_error_string2(st));
				r = -EPROTO;
				goto fail;
			}
		}
	}
	amqp_set_handshake_timeout(a->conn, &ctv);
	st = amqp_socket_open_noblock(sock, a->host, a->port, &ctv);
	if (st != AMQP_STATUS_OK) {
		log_info("sink: amqp: cannot connect to %s:%d: %s", a->host, a->port,
			 amqp_error_string2(st));
		r = status_errno(st);
		goto fail;
	}
	amqp_set_rpc_timeout(a->conn, &rtv);
	/* The name operators see in the management UI and rabbitmqctl. */
	snprintf(name, sizeof(name), "kvscreend sink (pid %ld)", (long)getpid());
	prop.key = amqp_cstring_bytes("connection_name");
	prop.value.kind = AMQP_FIELD_KIND_UTF8;
	prop.value.value.bytes = amqp_cstring_bytes(name);
	r = check_reply(a, amqp_login_with_properties(a->conn, a->vhost, 0, AMQP_FRAME_MAX,
						      a->heartbeat_s, &props,
						      AMQP_SASL_METHOD_PLAIN, a->user,
						      a->password),
			"login");
	if (r < 0)
		goto fail;
	amqp_channel_open(a->conn, AMQP_CHANNEL);
	r = check_reply(a, amqp_get_rpc_reply(a->conn), "channel.open");
	if (r < 0)
		goto fail;
	amqp_confirm_select(a->conn, AMQP_CHANNEL);
	r = check_reply(a, amqp_get_rpc_reply(a->conn), "confirm.select");
	if (r < 0)
		goto fail;
	a->next_tag = 0;
	a->return_pending = false;
	a->body_left = 0;
	uv_mutex_lock(&a->mu);
	a->sockfd = amqp_get_sockfd(a->conn);
	uv_mutex_unlock(&a->mu);
	log_notice("sink: amqp: connected to %s:%d%s, vhost \"%s\", heartbeat %ds", a->host,
		   a->port, a->tls ? " (TLS)" : "", a->vhost, amqp_get_heartbeat(a->conn));
	return 0;
fail:
	amqp_destroy_connection(a->conn);
	a->conn = NULL;
	return r;
}

/* Publish j; on 0 it waits in unacked for its confirmation. */
static int publish(struct amqp *a, struct job *j)
{
	amqp_basic_properties_t p = { 0 };
	amqp_bytes_t body = { .len = j->d->len, .bytes = (void *)j->d->body };
	int st;

	p._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG |
		   AMQP_BASIC_MESSAGE_ID_FLAG;
	p.content_type = amqp_cstring_bytes("application/json");
	p.delivery_mode = AMQP_DELIVERY_PERSISTENT;
	p.message_id = amqp_cstring_bytes(j->d->key);
	st = amqp_basic_publish(a->conn, AMQP_CHANNEL, amqp_cstring_bytes(a->exchange),
				amqp_cstring_bytes(a->routing_key), 1, 0, &p, body);
	if (st != AMQP_STATUS_OK) {
		log_info("sink: amqp %s:%d: publishing %s: %s", a->host, a->port, j->d->key,
			 amqp_error_string2(st));
		return status_errno(st);
	}
	j->tag = ++a->next_tag;
	j->returned = false;
	j->deadline_ms = now_ms() + (uint64_t)a->timeout_ms;
	list_push(&a->unacked, j);
	return 0;
}

/* basic.ack (status 0) or basic.nack (-EBADMSG) of tag, or of every tag up
 * to it with multiple (tag 0 with multiple: all). */
static void settle(struct amqp *a, uint64_t tag, bool multiple, int status)
{
	struct job_list keep = { 0 }, all = list_take(&a->unacked);

	for (struct job *j = all.head, *next; j; j = next) {
		next = j->next;
		if (multiple ? (tag == 0 || j->tag <= tag) : j->tag == tag) {
			int st = status;
			if (st == 0 && j->returned)
				st = -EBADMSG;
			else if (st < 0)
				log_info("sink: amqp: the broker refused %s (basic.nack)", j->d->key);
			report(a, j, st);
		} else {
			list_push(&keep, j);
		}
	}
	a->unacked = keep;
}

static void mark_returned(struct amqp *a, const amqp_basic_properties_t *p)
{
	if (!(p->_flags & AMQP_BASIC_MESSAGE_ID_FLAG))
		return;
	for (struct job *j = a->unacked.head; j; j = j->next) {
		if (strlen(j->d->key) == p->message_id.len &&
		    memcmp(j->d->key, p->message_id.bytes, p->message_id.len) == 0) {
			j->returned = true;
			return;
		}
	}
}

/* Handle one frame from the broker: 0, or a negative errno after which
 * the connection must be dropped (*graceful: with connection.close). */
static int on_frame(struct amqp *a, const amqp_frame_t *f, bool *graceful)
{
	char text[256];

	*graceful = false;
	switch (f->frame_type) {
	case AMQP_FRAME_METHOD:
		switch (f->payload.method.id) {
		case AMQP_BASIC_ACK_METHOD: {
			const amqp_basic_ack_t *m = f->payload.method.decoded;
			settle(a, m->delivery_tag, m->multiple, 0);
			return 0;
		}
		case AMQP_BASIC_NACK_METHOD: {
			const amqp_basic_nack_t *m = f->payload.method.decoded;
			settle(a, m->delivery_tag, m->multiple, -EBADMSG);
			return 0;
		}
		case AMQP_BASIC_RETURN_METHOD: {
			const amqp_basic_return_t *m = f->payload.method.decoded;
			log_info("sink: amqp: the broker returned a message: %u %s (exchange \"%s\", "
				 "routing key \"%s\": is a queue bound?)", m->reply_code,
				 bytes_text(m->reply_text, text, sizeof(text)), a->exchange,
				 a->routing_key);
			a->return_pending = true;
			return 0;
		}
		case AMQP_CHANNEL_CLOSE_METHOD: {
			const amqp_channel_close_t *m = f->payload.method.decoded;
			amqp_channel_close_ok_t ok = { 0 };
			log_warn("sink: amqp %s:%d: the broker closed the channel: %u %s", a->host,
				 a->port, m->reply_code, bytes_text(m->reply_text, text, sizeof(text)));
			amqp_send_method(a->conn, AMQP_CHANNEL, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
			*graceful = true;
			return reply_code_errno(m->reply_code);
		}
		case AMQP_CONNECTION_CLOSE_METHOD: {
			const amqp_connection_close_t *m = f->payload.method.decoded;
			amqp_connection_close_ok_t ok = { 0 };
			log_warn("sink: amqp %s:%d: the broker closed the connection: %u %s", a->host,
				 a->port, m->reply_code, bytes_text(m->reply_text, text, sizeof(text)));
			amqp_send_method(a->conn, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
			return reply_code_errno(m->reply_code);
		}
		case AMQP_CONNECTION_BLOCKED_METHOD: {
			const amqp_connection_blocked_t *m = f->payload.method.decoded;
			log_warn("sink: amqp %s:%d: the broker blocks publishing: %s", a->host, a->port,
				 bytes_text(m->reason, text, sizeof(text)));
			return 0;
		}
		case AMQP_CONNECTION_UNBLOCKED_METHOD:
			log_notice("sink: amqp %s:%d: the broker accepts publishing again", a->host,
				   a->port);
			return 0;
		default:
			log_debug("sink: amqp: ignoring method 0x%08x", (unsigned)f->payload.method.id);
			return 0;
		}
	case AMQP_FRAME_HEADER:
		if (a->return_pending) {
			a->return_pending = false;
			a->body_left = f->payload.properties.body_size;
			mark_returned(a, f->payload.properties.decoded);
		}
		return 0;
	case AMQP_FRAME_BODY:
		if (a->body_left >= f->payload.body_fragment.len)
			a->body_left -= f->payload.body_fragment.len;
		else
			a->body_left = 0;
		return 0;
	default:
		return 0;
	}
}

/* Read every frame that is ready; 0 or a negative errno (connection dropped). */
static int read_frames(struct amqp *a)
{
	struct timeval zero = { 0, 0 };
	amqp_frame_t f;
	bool graceful;
	int st, r;

	for (;;) {
		st = amqp_simple_wait_frame_noblock(a->conn, &f, &zero);
		if (st == AMQP_STATUS_TIMEOUT)
			break;
		if (st != AMQP_STATUS_OK) {
			log_info("sink: amqp %s:%d: %s", a->host, a->port, amqp_error_string2(st));
			r = status_errno(st);
			conn_drop(a, r, false);
			return r;
		}
		r = on_frame(a, &f, &graceful);
		if (r < 0) {
			conn_drop(a, r, graceful);
			return r;
		}
	}
	amqp_maybe_release_buffers(a->conn);
	return 0;
}

static void drain_wake(struct amqp *a)
{
	uint64_t v;

	while (read(a->wake_fd, &v, sizeof(v)) > 0)
		;
}

/* Wait until the broker sent something, the loop woke us, or the next
 * heartbeat or confirmation deadline is near. */
static void wait_events(struct amqp *a)
{
	struct pollfd p[2] = { { .fd = a->wake_fd, .events = POLLIN },
			       { .fd = -1, .events = POLLIN } };
	int timeout = -1;

	if (a->conn) {
		if (amqp_frames_enqueued(a->conn) || amqp_data_in_buffer(a->conn))
			return;
		p[1].fd = amqp_get_sockfd(a->conn);
		timeout = AMQP_MAX_IDLE_MS;
		if (a->heartbeat_s > 0 && a->heartbeat_s * 500 < timeout)
			timeout = a->heartbeat_s * 500;
		if (a->unacked.head) {
			uint64_t now = now_ms(), due = a->unacked.head->deadline_ms;
			if (due <= now)
				timeout = 0;
			else if (due - now < (uint64_t)timeout)
				timeout = (int)(due - now);
		}
	}
	if (poll(p, 2, timeout) > 0 && (p[0].revents & POLLIN))
		drain_wake(a);
}

static void worker(void *arg)
{
	struct amqp *a = arg;

	for (;;) {
		struct job_list todo;
		bool stop;
		int r = 0;

		uv_mutex_lock(&a->mu);
		stop = a->stop;
		todo = list_take(&a->in);
		uv_mutex_unlock(&a->mu);
		if (stop) {
			/* Not reported: sink.c aborted these deliveries. */
			for (struct job *j = todo.head, *next; j; j = next) {
				next = j->next;
				free(j);
			}
			break;
		}
		if (todo.head && !a->conn) {
			r = conn_open(a);
			if (r < 0)
				report_all(a, &todo, r);
		}
		while (todo.head) {
			struct job *j = todo.head;

			todo.head = j->next;
			todo.n--;
			r = publish(a, j);
			if (r < 0) {
				report(a, j, r);
				todo.tail = todo.head ? todo.tail : NULL;
				report_all(a, &todo, r);
				conn_drop(a, r, false);
				break;
			}
		}
		if (a->conn)
			read_frames(a);
		if (a->conn && a->unacked.head && a->unacked.head->deadline_ms <= now_ms()) {
			log_info("sink: amqp %s:%d: no confirmation of %s within %ld ms", a->host,
				 a->port, a->unacked.head->d->key, a->timeout_ms);
			conn_drop(a, -ETIMEDOUT, false);
		}
		wait_events(a);
	}
	/* Aborted deliveries are not reported; free them. */
	for (struct job *j = a->unacked.head, *next; j; j = next) {
		next = j->next;
		free(j);
	}
	a->unacked = (struct job_list){ 0 };
	if (a->conn)
		conn_drop(a, 0, true);
	uv_mutex_lock(&a->mu);
	a->worker_done = true;
	uv_mutex_unlock(&a->mu);
	uv_async_send(&a->async);
}

/* ---- Loop thread ---- */

static void amqp_free(struct amqp *a)
{
	if (a->password)
		explicit_bzero(a->password, strlen(a->password));
	free(a->password);
	free(a->host);
	free(a->vhost);
	free(a->user);
	free(a->exchange);
	free(a->routing_key);
	free(a->ca_file);
	if (a->wake_fd >= 0)
		close(a->wake_fd);
	free(a);
}

static void wake(struct amqp *a)
{
	uint64_t one = 1;

	if (write(a->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_err("sink: amqp: cannot wake the worker: %s", strerror(errno));
}

static int amqp_send(void *state, struct sink_delivery *d)
{
	struct amqp *a = state;
	struct job *j;

	if (a->closing)
		return -ECANCELED;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	j->d = d;
	uv_mutex_lock(&a->mu);
	if (a->in.n >= AMQP_MAX_QUEUE) {
		uv_mutex_unlock(&a->mu);
		free(j);
		return -ENOBUFS;
	}
	list_push(&a->in, j);
	uv_mutex_unlock(&a->mu);
	wake(a);
	return 0;
}

static void handle_closed(uv_handle_t *h)
{
	struct amqp *a = h->data;
	void (*cb)(void *data);
	void *data;

	if (--a->open_handles)
		return;
	cb = a->close_cb;
	data = a->close_data;
	uv_mutex_destroy(&a->mu);
	amqp_free(a);
	if (cb)
		cb(data);
}

static void on_async(uv_async_t *h)
{
	struct amqp *a = h->data;
	struct job_list out;
	bool done;

	uv_mutex_lock(&a->mu);
	out = list_take(&a->out);
	done = a->worker_done;
	uv_mutex_unlock(&a->mu);
	for (struct job *j = out.head, *next; j; j = next) {
		next = j->next;
		/* After close() sink.c no longer wants outcomes. */
		if (!a->closing)
			sink_delivered(j->d, j->status);
		free(j);
	}
	if (!a->closing || !done || uv_is_closing((uv_handle_t *)&a->async))
		return;
	uv_thread_join(&a->thread);
	out = list_take(&a->in);
	for (struct job *j = out.head, *next; j; j = next) {
		next = j->next;
		free(j);
	}
	a->open_handles = 2;
	uv_close((uv_handle_t *)&a->async, handle_closed);
	uv_close((uv_handle_t *)&a->kill_timer, handle_closed);
}

/* The worker did not end within timeout_ms of close(): a write is blocked
 * on a broker that stopped reading.  Shut its socket down (the descriptor
 * stays the worker's to close). */
static void on_kill(uv_timer_t *t)
{
	struct amqp *a = t->data;

	uv_mutex_lock(&a->mu);
	if (a->sockfd >= 0) {
		log_warn("sink: amqp %s:%d: the connection did not close in time; shutting it down",
			 a->host, a->port);
		shutdown(a->sockfd, SHUT_RDWR);
	}
	uv_mutex_unlock(&a->mu);
}

static void amqp_close(void *state, void (*cb)(void *data), void *data)
{
	struct amqp *a = state;

	a->closing = true;
	a->close_cb = cb;
	a->close_data = data;
	uv_mutex_lock(&a->mu);
	a->stop = true;
	uv_mutex_unlock(&a->mu);
	wake(a);
	uv_timer_start(&a->kill_timer, on_kill, (uint64_t)a->timeout_ms, 0);
}

/* ---- Configuration ---- */

/* The password: first line of path, which must be a regular file that is
 * not group- or world-writable (the checks of the API token file). */
static int read_password(const char *path, char **out)
{
	char buf[AMQP_MAX_PASSWORD + 1];
	struct stat sb;
	size_t got = 0;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		r = -errno;
		log_err("sink: cannot read password_file %s: %s", path, strerror(-r));
		return r;
	}
	if (fstat(fd, &sb) < 0) {
		r = -errno;
		log_err("sink: password_file %s: %s", path, strerror(-r));
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		r = -EINVAL;
		log_err("sink: password_file %s: not a regular file", path);
		goto out;
	}
	if (sb.st_mode & 022) {
		r = -EPERM;
		log_err("sink: password_file %s is group- or world-writable (mode %04o); refusing it",
			path, (unsigned)(sb.st_mode & 07777));
		goto out;
	}
	while (got < sizeof(buf) - 1) {
		ssize_t n = read(fd, buf + got, sizeof(buf) - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			log_err("sink: cannot read password_file %s: %s", path, strerror(-r));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	*out = strdup(buf);
	if (!*out)
		r = -ENOMEM;
out:
	explicit_bzero(buf, sizeof(buf));
	close(fd);
	return r;
}

/* The parts of an amqp[s]:// URL.  *has_vhost tells whether it names a
 * vhost (a non-empty path); *has_password whether it holds a password. */
struct url_parts {
	char *buf;                /* amqp_parse_url() points into it */
	struct amqp_connection_info ci;
	bool has_user, has_password, has_vhost;
};

static const char *url_parse(const char *url, struct url_parts *u)
{
	const char *rest, *at, *slash;

	memset(u, 0, sizeof(*u));
	if (!url || strlen(url) >= AMQP_MAX_URL || strpbrk(url, " \r\n\t"))
		return "an amqp:// or amqps:// URL without blanks is required";
	if (strncmp(url, "amqp://", 7) == 0)
		rest = url + 7;
	else if (strncmp(url, "amqps://", 8) == 0)
		rest = url + 8;
	else
		return "an amqp:// or amqps:// URL is required (amqp://host:5672/vhost)";
	slash = strchr(rest, '/');
	at = strchr(rest, '@');
	if (at && (!slash || at < slash)) {
		const char *colon = memchr(rest, ':', (size_t)(at - rest));
		u->has_user = true;
		u->has_password = colon != NULL;
	}
	u->has_vhost = slash && slash[1] != '\0';
	u->buf = strdup(url);
	if (!u->buf)
		return "out of memory";
	amqp_default_connection_info(&u->ci);
	if (amqp_parse_url(u->buf, &u->ci) != AMQP_STATUS_OK || !*u->ci.host) {
		free(u->buf);
		u->buf = NULL;
		return "not a valid amqp:// URL (amqp://[user@]host[:port][/vhost], vhost \"/\" is %2f)";
	}
	return NULL;
}

const char *sink_amqp_check(const struct cfg_sink *c, const char **option)
{
	struct url_parts u;
	const char *why;

	*option = "url";
	why = url_parse(c->url, &u);
	if (why)
		return why;
	free(u.buf);
	if (u.has_password)
		return "the URL holds a password: put it in password_file instead";
	if (u.has_user && !(c->user && *c->user) && (!c->password_file || !*c->password_file)) {
		*option = "password_file";
		return "the URL names a user but password_file is not set";
	}
	*option = NULL;
	return NULL;
}

static int amqp_open(uv_loop_t *loop, const struct cfg_sink *cfg, void **state)
{
	struct url_parts u = { 0 };
	const char *why, *opt;
	struct amqp *a;
	int r = -ENOMEM;

	why = sink_amqp_check(cfg, &opt);
	if (why) {
		log_err("sink: %s: %s", opt, why);
		return -EINVAL;
	}
	if (url_parse(cfg->url, &u))
		return -ENOMEM;
	a = calloc(1, sizeof(*a));
	if (!a) {
		free(u.buf);
		return -ENOMEM;
	}
	a->wake_fd = -1;
	a->sockfd = -1;
	a->loop = loop;
	a->tls = u.ci.ssl;
	a->port = u.ci.port;
	a->tls_verify = cfg->tls_verify != 0;
	a->heartbeat_s = (int)cfg->heartbeat_s;
	a->timeout_ms = (long)cfg->timeout_ms;
	a->connect_timeout_ms = (long)cfg->connect_timeout_ms;
	a->host = strdup(u.ci.host);
	a->vhost = strdup(u.has_vhost ? u.ci.vhost : (cfg->vhost ? cfg->vhost : "/"));
	a->user = strdup(cfg->user && *cfg->user ? cfg->user : u.ci.user);
	/* "amq.default" names the default exchange, whose AMQP name is "". */
	a->exchange = strdup(strcmp(cfg->exchange, "amq.default") == 0 ? "" : cfg->exchange);
	a->routing_key = strdup(cfg->routing_key ? cfg->routing_key : "");
	if (!a->host || !a->vhost || !a->user || !a->exchange || !a->routing_key)
		goto fail;
	if (cfg->ca_file && !(a->ca_file = strdup(cfg->ca_file)))
		goto fail;
	if (cfg->password_file && *cfg->password_file) {
		r = read_password(cfg->password_file, &a->password);
		if (r < 0)
			goto fail;
	} else if (!(a->password = strdup(u.ci.password))) {
		/* No user anywhere: rabbitmq-c's default guest/guest. */
		r = -ENOMEM;
		goto fail;
	}
	a->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (a->wake_fd < 0) {
		r = -errno;
		goto fail;
	}
	r = uv_mutex_init(&a->mu);
	if (r < 0)
		goto fail;
	r = uv_async_init(loop, &a->async, on_async);
	if (r < 0)
		goto fail_mutex;
	a->async.data = a;
	uv_timer_init(loop, &a->kill_timer);
	a->kill_timer.data = a;
	r = uv_thread_create(&a->thread, worker, a);
	if (r < 0) {
		log_err("sink: amqp: cannot start the worker thread: %s", uv_strerror(r));
		/* The handles are the loop's until closed: free a then. */
		a->open_handles = 2;
		uv_close((uv_handle_t *)&a->async, handle_closed);
		uv_close((uv_handle_t *)&a->kill_timer, handle_closed);
		free(u.buf);
		return r;
	}
	free(u.buf);
	*state = a;
	return 0;
fail_mutex:
	uv_mutex_destroy(&a->mu);
fail:
	free(u.buf);
	amqp_free(a);
	return r;
}

const struct sink_backend sink_amqp = {
	.kind = "amqp",
	.open = amqp_open,
	.send = amqp_send,
	.close = amqp_close,
};
