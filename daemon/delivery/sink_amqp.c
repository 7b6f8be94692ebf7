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
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "amqp_conn.h"
#include "log.h"
#include "sink.h"

#define AMQP_CHANNEL 1
/* Deliveries queued for the worker at once (sink.c keeps at most
 * max_inflight, itself at most 256, in flight). */
#define AMQP_MAX_QUEUE 1024
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
	struct amqp_conn_cfg cc;  /* broker, credentials, TLS, timeouts */
	char *exchange, *routing_key;

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
	char name[64];
	int r;

	snprintf(name, sizeof(name), "kvscreend sink (pid %ld)", (long)getpid());
	r = amqp_conn_open(&a->cc, name, AMQP_CHANNEL, &a->conn);
	if (r < 0)
		return r;
	amqp_confirm_select(a->conn, AMQP_CHANNEL);
	r = amqp_conn_reply(&a->cc, amqp_get_rpc_reply(a->conn), "confirm.select");
	if (r < 0) {
		amqp_destroy_connection(a->conn);
		a->conn = NULL;
		return r;
	}
	a->next_tag = 0;
	a->return_pending = false;
	a->body_left = 0;
	uv_mutex_lock(&a->mu);
	a->sockfd = amqp_get_sockfd(a->conn);
	uv_mutex_unlock(&a->mu);
	log_notice("sink: amqp: connected to %s:%d%s, vhost \"%s\", heartbeat %ds", a->cc.host,
		   a->cc.port, a->cc.tls ? " (TLS)" : "", a->cc.vhost, amqp_get_heartbeat(a->conn));
	return 0;
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
		log_info("sink: amqp %s:%d: publishing %s: %s", a->cc.host, a->cc.port, j->d->key,
			 amqp_error_string2(st));
		return amqp_conn_status_errno(st);
	}
	j->tag = ++a->next_tag;
	j->returned = false;
	j->deadline_ms = now_ms() + (uint64_t)a->cc.timeout_ms;
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
				 amqp_conn_text(m->reply_text, text, sizeof(text)), a->exchange,
				 a->routing_key);
			a->return_pending = true;
			return 0;
		}
		case AMQP_CHANNEL_CLOSE_METHOD: {
			const amqp_channel_close_t *m = f->payload.method.decoded;
			amqp_channel_close_ok_t ok = { 0 };
			log_warn("sink: amqp %s:%d: the broker closed the channel: %u %s", a->cc.host,
				 a->cc.port, m->reply_code, amqp_conn_text(m->reply_text, text, sizeof(text)));
			amqp_send_method(a->conn, AMQP_CHANNEL, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
			*graceful = true;
			return amqp_conn_code_errno(m->reply_code);
		}
		case AMQP_CONNECTION_CLOSE_METHOD: {
			const amqp_connection_close_t *m = f->payload.method.decoded;
			amqp_connection_close_ok_t ok = { 0 };
			log_warn("sink: amqp %s:%d: the broker closed the connection: %u %s", a->cc.host,
				 a->cc.port, m->reply_code, amqp_conn_text(m->reply_text, text, sizeof(text)));
			amqp_send_method(a->conn, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
			return amqp_conn_code_errno(m->reply_code);
		}
		case AMQP_CONNECTION_BLOCKED_METHOD: {
			const amqp_connection_blocked_t *m = f->payload.method.decoded;
			log_warn("sink: amqp %s:%d: the broker blocks publishing: %s", a->cc.host, a->cc.port,
				 amqp_conn_text(m->reason, text, sizeof(text)));
			return 0;
		}
		case AMQP_CONNECTION_UNBLOCKED_METHOD:
			log_notice("sink: amqp %s:%d: the broker accepts publishing again", a->cc.host,
				   a->cc.port);
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
			log_info("sink: amqp %s:%d: %s", a->cc.host, a->cc.port, amqp_error_string2(st));
			r = amqp_conn_status_errno(st);
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

/* Wait until the broker sent something, the loop woke us, or the next
 * heartbeat or confirmation deadline is near. */
static void wait_events(struct amqp *a)
{
	int timeout = -1;

	if (a->conn) {
		timeout = AMQP_MAX_IDLE_MS;
		if (a->cc.heartbeat_s > 0 && a->cc.heartbeat_s * 500 < timeout)
			timeout = a->cc.heartbeat_s * 500;
		if (a->unacked.head) {
			uint64_t now = now_ms(), due = a->unacked.head->deadline_ms;
			if (due <= now)
				timeout = 0;
			else if (due - now < (uint64_t)timeout)
				timeout = (int)(due - now);
		}
	}
	amqp_conn_wait(a->conn, a->wake_fd, timeout);
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
			log_info("sink: amqp %s:%d: no confirmation of %s within %ld ms", a->cc.host,
				 a->cc.port, a->unacked.head->d->key, a->cc.timeout_ms);
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
	amqp_conn_free(&a->cc);
	free(a->exchange);
	free(a->routing_key);
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
			 a->cc.host, a->cc.port);
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
	uv_timer_start(&a->kill_timer, on_kill, (uint64_t)a->cc.timeout_ms, 0);
}

/* ---- Configuration ---- */

const char *sink_amqp_check(const struct cfg_sink *c, const char **option)
{
	return amqp_conn_check(c->url, c->user, c->password_file, option);
}

static int amqp_open(uv_loop_t *loop, const struct cfg_sink *cfg, void **state)
{
	struct amqp *a;
	int r = -ENOMEM;

	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->wake_fd = -1;
	a->sockfd = -1;
	a->loop = loop;
	r = amqp_conn_setup(&a->cc, "sink", cfg->url, cfg->vhost, cfg->user, cfg->password_file,
			    cfg->tls_verify != 0, cfg->ca_file, (int)cfg->heartbeat_s,
			    (long)cfg->timeout_ms, (long)cfg->connect_timeout_ms);
	if (r < 0)
		goto fail;
	r = -ENOMEM;
	/* "amq.default" names the default exchange, whose AMQP name is "". */
	a->exchange = strdup(strcmp(cfg->exchange, "amq.default") == 0 ? "" : cfg->exchange);
	a->routing_key = strdup(cfg->routing_key ? cfg->routing_key : "");
	if (!a->exchange || !a->routing_key)
		goto fail;
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
		return r;
	}
	*state = a;
	return 0;
fail_mutex:
	uv_mutex_destroy(&a->mu);
fail:
	amqp_free(a);
	return r;
}

const struct sink_backend sink_amqp = {
	.kind = "amqp",
	.open = amqp_open,
	.send = amqp_send,
	.close = amqp_close,
};
