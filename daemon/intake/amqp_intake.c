/* amqp_intake.c - consumes requests from a durable RabbitMQ queue on a worker thread and settles each message once the daemon says how (see amqp_intake.h).
 *
 * Threads: the worker owns the connection and every rabbitmq-c call.  It
 * hands complete messages to the loop through `to_loop` and uv_async_send;
 * the loop hands settled messages back through `to_worker` and an eventfd.
 * Both lists, the stop flag and the counters are under one mutex; a message
 * belongs to whoever holds it on a list or in hand.  Delivery tags are only
 * valid on the connection that delivered them, so each connection has a
 * generation number and a message settled after its connection was lost is
 * dropped (the broker has requeued it).
 */
#include "config.h"

#include <amqp.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <jansson.h>

#include "amqp_conn.h"
#include "amqp_intake.h"
#include "log.h"

#define CH 1
#define MAX_MESSAGE_ID 255
#define MAX_CONTENT_TYPE 127
/* Longest wait of the worker between two calls into rabbitmq-c. */
#define MAX_IDLE_MS 1000
/* A message requeued after a transient failure (workers busy, disk low) is
 * held this long first, so that it does not come straight back. */
#define REQUEUE_DELAY_MS 1000

struct amqp_intake_msg {
	struct amqp_intake *in;
	struct amqp_intake_msg *next;
	uint64_t gen;                 /* connection it arrived on */
	uint64_t tag;                 /* its delivery tag there */
	uint64_t pub_tag;             /* publish number of its dead-letter copy */
	uint64_t due_ms;              /* a delayed requeue: when */
	enum amqp_intake_outcome outcome;
	bool counted;                 /* in the loop's inflight */
	bool oversize;                /* body not read: larger than max_bytes */
	char *error;                  /* x-kvscreen-error of a reject */
	char message_id[MAX_MESSAGE_ID + 1];
	char content_type[MAX_CONTENT_TYPE + 1];
	bool has_message_id, has_content_type, have_header;
	char *body;
	size_t len, size;             /* received, announced */
};

struct msg_list {
	struct amqp_intake_msg *head, *tail;
};

struct amqp_intake {
	/* Settings, read-only once the worker runs. */
	struct amqp_conn_cfg cc;
	char *queue, *dlx, *dlq;
	uint16_t prefetch;
	uint64_t backoff_min_ms, backoff_max_ms;
	size_t max_bytes;

	/* Loop thread only. */
	uv_loop_t *loop;
	uv_async_t async;
	uv_thread_t thread;
	bool thread_started;
	amqp_intake_cb cb;
	void *data;
	bool closing;
	unsigned inflight;
	void (*close_cb)(void *data);
	void *close_data;

	/* Shared, under mu. */
	uv_mutex_t mu;
	struct msg_list to_loop, to_worker;
	bool stop, worker_done;
	struct {
		unsigned long long consumed, acked, rejected, requeued, connects;
		int connected;
	} st;
	int wake_fd;

	/* Worker thread only. */
	amqp_connection_state_t conn;
	uint64_t gen, next_pub;
	struct amqp_intake_msg *cur;  /* being received */
	struct msg_list confirming;   /* dead-letter copies, in publish order */
	struct msg_list delayed;      /* requeues waiting for due_ms, in order */
};

/* ---- Configuration ---- */

#define OPT(n, t, d, m, h, lo, hi) \
	{ .name = n, .type = t, .def = d, .offset = offsetof(struct cfg_intake_amqp, m), \
	  .help = h, .min = lo, .max = hi }

const struct kvs_option amqp_intake_options[] = {
	OPT("url", KVS_OPT_STRING, "", url,
	    "the broker to consume requests from (amqp://host:5672/vhost or amqps://...); "
	    "empty: no AMQP intake", 0, 0),
	OPT("vhost", KVS_OPT_STRING, "/", vhost, "virtual host when the URL names none", 0, 0),
	OPT("user", KVS_OPT_STRING, "", user, "the AMQP user (instead of the URL's)", 0, 0),
	OPT("password_file", KVS_OPT_PATH, NULL, password_file,
	    "file whose first line is the AMQP password (not group- or world-writable)", 0, 0),
	OPT("queue", KVS_OPT_STRING, "kvscreen.requests", queue,
	    "durable queue the requests are consumed from (declared by the daemon)", 0, 0),
	OPT("dead_letter_exchange", KVS_OPT_STRING, "kvscreen.requests.dlx", dead_letter_exchange,
	    "fanout exchange invalid messages go to, with the error in x-kvscreen-error", 0, 0),
	OPT("dead_letter_queue", KVS_OPT_STRING, "kvscreen.requests.rejected", dead_letter_queue,
	    "durable queue bound to the dead-letter exchange", 0, 0),
	OPT("prefetch", KVS_OPT_INT, "32", prefetch,
	    "messages a daemon holds unacknowledged at once (basic.qos)", 1, 65535),
	OPT("heartbeat_s", KVS_OPT_INT, "30", heartbeat_s,
	    "seconds between AMQP heartbeats (0 = none)", 0, 3600),
	OPT("timeout_ms", KVS_OPT_INT, "10000", timeout_ms,
	    "time limit of one request to the broker and of one confirmation", 10, 3600000),
	OPT("connect_timeout_ms", KVS_OPT_INT, "3000", connect_timeout_ms,
	    "time limit to connect to the broker", 10, 600000),
	OPT("backoff_min_ms", KVS_OPT_INT, "200", backoff_min_ms,
	    "delay before the first reconnect; doubles with each failure", 1, 3600000),
	OPT("backoff_max_ms", KVS_OPT_INT, "30000", backoff_max_ms,
	    "cap of the reconnect delay", 1, 86400000),
	OPT("tls_verify", KVS_OPT_BOOL, "true", tls_verify,
	    "amqps: verify the broker's certificate and host name", 0, 0),
	OPT("ca_file", KVS_OPT_PATH, NULL, ca_file,
	    "amqps: CA bundle to verify the broker with instead of the system's", 0, 0),
	{ .name = NULL },
};

static bool name_ok(const char *s)
{
	return s && *s && strlen(s) <= 255 && strncmp(s, "amq.", 4) != 0;
}

const char *amqp_intake_cfg_check(const struct cfg_intake_amqp *c, const char **option)
{
	const char *why;

	*option = NULL;
	if (!c->url || !*c->url)
		return NULL;
	why = amqp_conn_check(c->url, c->user, c->password_file, option);
	if (why)
		return why;
	if (!name_ok(c->queue)) {
		*option = "queue";
		return "a queue name of 1 to 255 bytes not starting with \"amq.\" is required";
	}
	if (!name_ok(c->dead_letter_exchange)) {
		*option = "dead_letter_exchange";
		return "an exchange name of 1 to 255 bytes not starting with \"amq.\" is required";
	}
	if (!name_ok(c->dead_letter_queue) || strcmp(c->dead_letter_queue, c->queue) == 0) {
		*option = "dead_letter_queue";
		return "a queue name of 1 to 255 bytes, not \"amq.*\" and not the request queue, "
		       "is required";
	}
	if (c->backoff_min_ms > c->backoff_max_ms) {
		*option = "backoff_min_ms";
		return "backoff_min_ms is larger than backoff_max_ms";
	}
	return NULL;
}

/* ---- Lists and messages ---- */

static void list_push(struct msg_list *l, struct amqp_intake_msg *m)
{
	m->next = NULL;
	if (l->tail)
		l->tail->next = m;
	else
		l->head = m;
	l->tail = m;
}

static struct msg_list list_take(struct msg_list *l)
{
	struct msg_list all = *l;

	*l = (struct msg_list){ 0 };
	return all;
}

static void msg_free(struct amqp_intake_msg *m)
{
	if (!m)
		return;
	free(m->body);
	free(m->error);
	free(m);
}

static void list_free(struct msg_list *l)
{
	struct msg_list all = list_take(l);

	for (struct amqp_intake_msg *m = all.head, *next; m; m = next) {
		next = m->next;
		msg_free(m);
	}
}

static uint64_t now_ms(void)
{
	return uv_hrtime() / 1000000u;
}

static void wake(struct amqp_intake *a)
{
	uint64_t one = 1;

	if (write(a->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_err("intake: amqp: cannot wake the worker: %s", strerror(errno));
}

/* ---- Worker: the connection ---- */

static void set_connected(struct amqp_intake *a, int on)
{
	uv_mutex_lock(&a->mu);
	a->st.connected = on;
	if (on)
		a->st.connects++;
	uv_mutex_unlock(&a->mu);
}

/* Drop the connection; the broker requeues every message not acked on it. */
static void conn_drop(struct amqp_intake *a, bool graceful)
{
	if (!a->conn)
		return;
	if (graceful)
		amqp_connection_close(a->conn, AMQP_REPLY_SUCCESS);
	amqp_destroy_connection(a->conn);
	a->conn = NULL;
	a->gen++;
	msg_free(a->cur);
	a->cur = NULL;
	list_free(&a->confirming);
	list_free(&a->delayed);
	set_connected(a, 0);
}

static int declare(struct amqp_intake *a)
{
	amqp_table_entry_t arg = { .key = amqp_cstring_bytes("x-dead-letter-exchange"),
				   .value = { .kind = AMQP_FIELD_KIND_UTF8,
					      .value.bytes = amqp_cstring_bytes(a->dlx) } };
	amqp_table_t args = { .num_entries = 1, .entries = &arg };
	int r;

	amqp_confirm_select(a->conn, CH);
	r = amqp_conn_reply(&a->cc, amqp_get_rpc_reply(a->conn), "confirm.select");
	if (r == 0) {
		amqp_exchange_declare(a->conn, CH, amqp_cstring_bytes(a->dlx),
				      amqp_cstring_bytes("fanout"), 0, 1, 0, 0, amqp_empty_table);
		r = amqp_conn_reply(&a->cc, amqp_get_rpc_reply(a->conn),
				    "exchange.declare (dead_letter_exchange)");
	}
	if (r == 0) {
		amqp_queue_declare(a->conn, CH, amqp_cstring_bytes(a->dlq), 0, 1, 0, 0,
				   amqp_empty_table);
		r = amqp_conn_reply(&a->cc, amqp_get_rpc_reply(a->conn),
				    "queue.declare (dead_letter_queue)");
	}
	if (r == 0) {
		amqp_queue_bind(a->conn, CH, amqp_cstring_bytes(a->dlq), amqp_cstring_bytes(a->dlx),
				amqp_empty_bytes, amqp_empty_table);
		r = amqp_conn_reply(&a->cc, amqp_get_rpc_reply(a->conn), "queue.bind");
	}
	if (r == 0) {
		amqp_queue_declare(a->conn, CH, amqp_cstring_bytes(a->queue), 0, 1, 0, 0, args);
		r = amqp_conn_reply(&a->cc, amqp_get_rpc_reply(a->conn), "queue.declare (queue)");
		if (r == -EEXIST)
			log_err("intake: amqp: queue \"%s\" exists with other arguments: it must be "
				"durable with x-dead-letter-exchange \"%s\"", a->queue, a->dlx);
	}
	if (r == 0) {
		amqp_basic_qos(a->conn, CH, 0, a->prefetch, 0);
		r = amqp_conn_reply(&a->cc, amqp_get_rpc_reply(a->conn), "basic.qos");
	}
	if (r == 0) {
		amqp_basic_consume(a->conn, CH, amqp_cstring_bytes(a->queue), amqp_empty_bytes, 0, 0,
				   0, amqp_empty_table);
		r = amqp_conn_reply(&a->cc, amqp_get_rpc_reply(a->conn), "basic.consume");
	}
	return r;
}

static int conn_setup(struct amqp_intake *a)
{
	char name[64];
	int r;

	snprintf(name, sizeof(name), "kvscreend intake (pid %ld)", (long)getpid());
	r = amqp_conn_open(&a->cc, name, CH, &a->conn);
	if (r < 0)
		return r;
	r = declare(a);
	if (r < 0) {
		amqp_destroy_connection(a->conn);
		a->conn = NULL;
		return r;
	}
	a->next_pub = 0;
	set_connected(a, 1);
	log_notice("intake: amqp: connected to %s:%d%s, vhost \"%s\", heartbeat %ds, consuming "
		   "\"%s\" (prefetch %u)", a->cc.host, a->cc.port, a->cc.tls ? " (TLS)" : "",
		   a->cc.vhost, amqp_get_heartbeat(a->conn), a->queue, (unsigned)a->prefetch);
	return 0;
}

/* ---- Worker: settling ---- */

static int check_status(struct amqp_intake *a, int st, const char *what)
{
	if (st == AMQP_STATUS_OK)
		return 0;
	log_info("intake: amqp %s:%d: %s: %s", a->cc.host, a->cc.port, what,
		 amqp_error_string2(st));
	return amqp_conn_status_errno(st);
}

/* Publish m's dead-letter copy; it waits in confirming for the broker. */
static int publish_copy(struct amqp_intake *a, struct amqp_intake_msg *m)
{
	amqp_table_entry_t h[2] = {
		{ .key = amqp_cstring_bytes("x-kvscreen-error"),
		  .value = { .kind = AMQP_FIELD_KIND_UTF8,
			     .value.bytes = amqp_cstring_bytes(m->error ? m->error : "") } },
		{ .key = amqp_cstring_bytes("x-kvscreen-queue"),
		  .value = { .kind = AMQP_FIELD_KIND_UTF8,
			     .value.bytes = amqp_cstring_bytes(a->queue) } },
	};
	amqp_basic_properties_t p = { 0 };
	amqp_bytes_t body = { .len = m->len, .bytes = m->body };
	int st;

	p._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_HEADERS_FLAG;
	p.delivery_mode = AMQP_DELIVERY_PERSISTENT;
	p.headers = (amqp_table_t){ .num_entries = 2, .entries = h };
	if (m->has_message_id) {
		p._flags |= AMQP_BASIC_MESSAGE_ID_FLAG;
		p.message_id = amqp_cstring_bytes(m->message_id);
	}
	if (m->has_content_type) {
		p._flags |= AMQP_BASIC_CONTENT_TYPE_FLAG;
		p.content_type = amqp_cstring_bytes(m->content_type);
	}
	st = amqp_basic_publish(a->conn, CH, amqp_cstring_bytes(a->dlx),
				amqp_cstring_bytes(a->queue), 0, 0, &p, body);
	if (check_status(a, st, "publishing to the dead-letter exchange") < 0)
		return -EIO;
	m->pub_tag = ++a->next_pub;
	list_push(&a->confirming, m);
	return 0;
}

static void count(struct amqp_intake *a, unsigned long long *c)
{
	uv_mutex_lock(&a->mu);
	(*c)++;
	uv_mutex_unlock(&a->mu);
}

/* Carry out the daemon's decision on m; frees m unless it waits for a
 * confirmation.  A failed write drops the connection. */
static void settle(struct amqp_intake *a, struct amqp_intake_msg *m)
{
	int r = 0;

	if (!a->conn || m->gen != a->gen) {
		log_debug("intake: amqp: a message of a lost connection is settled; the broker "
			  "delivers it again");
		msg_free(m);
		return;
	}
	switch (m->outcome) {
	case AMQP_INTAKE_ACK:
		r = check_status(a, amqp_basic_ack(a->conn, CH, m->tag, 0), "basic.ack");
		if (r == 0)
			count(a, &a->st.acked);
		break;
	case AMQP_INTAKE_REQUEUE:
		r = check_status(a, amqp_basic_nack(a->conn, CH, m->tag, 0, 1), "basic.nack");
		if (r == 0)
			count(a, &a->st.requeued);
		break;
	case AMQP_INTAKE_REJECT:
		if (!m->oversize) {
			r = publish_copy(a, m);
			if (r == 0)
				return;
			break;
		}
		/* Its body was never read: the broker dead-letters the original. */
		r = check_status(a, amqp_basic_reject(a->conn, CH, m->tag, 0), "basic.reject");
		if (r == 0)
			count(a, &a->st.rejected);
		break;
	}
	msg_free(m);
	if (r < 0)
		conn_drop(a, false);
}

/* The broker confirmed (ok) or refused the dead-letter copies up to tag. */
static int confirmed(struct amqp_intake *a, uint64_t tag, bool multiple, bool ok)
{
	struct msg_list keep = { 0 }, all = list_take(&a->confirming);
	int r = 0;

	for (struct amqp_intake_msg *m = all.head, *next; m; m = next) {
		next = m->next;
		if (!(multiple ? m->pub_tag <= tag : m->pub_tag == tag)) {
			list_push(&keep, m);
			continue;
		}
		if (r == 0 && ok)
			r = check_status(a, amqp_basic_ack(a->conn, CH, m->tag, 0), "basic.ack");
		else if (r == 0) {
			log_warn("intake: amqp: the broker refused the dead-letter copy of a message; "
				 "rejecting the original (dead-lettered without x-kvscreen-error)");
			r = check_status(a, amqp_basic_reject(a->conn, CH, m->tag, 0), "basic.reject");
		}
		if (r == 0)
			count(a, &a->st.rejected);
		msg_free(m);
	}
	a->confirming = keep;
	return r;
}

/* ---- Worker: receiving ---- */

static void complete(struct amqp_intake *a)
{
	struct amqp_intake_msg *m = a->cur;

	a->cur = NULL;
	count(a, &a->st.consumed);
	if (m->oversize) {
		char text[160];

		snprintf(text, sizeof(text), "the message has %zu bytes, more than the limit of %zu",
			 m->size, a->max_bytes);
		log_warn("intake: amqp: rejecting a message: %s", text);
		m->outcome = AMQP_INTAKE_REJECT;
		settle(a, m);
		return;
	}
	m->body[m->len] = '\0';
	uv_mutex_lock(&a->mu);
	list_push(&a->to_loop, m);
	uv_mutex_unlock(&a->mu);
	uv_async_send(&a->async);
}

static void copy_short(char *dst, size_t size, amqp_bytes_t b, bool *has)
{
	size_t n = b.len < size - 1 ? b.len : size - 1;

	memcpy(dst, b.bytes, n);
	dst[n] = '\0';
	*has = true;
}

/* One frame: 0, or a negative errno after which the connection is dropped
 * (*graceful: with connection.close). */
static int on_frame(struct amqp_intake *a, const amqp_frame_t *f, bool *graceful)
{
	char text[256];

	*graceful = false;
	switch (f->frame_type) {
	case AMQP_FRAME_METHOD:
		switch (f->payload.method.id) {
		case AMQP_BASIC_DELIVER_METHOD: {
			const amqp_basic_deliver_t *d = f->payload.method.decoded;
			struct amqp_intake_msg *m = calloc(1, sizeof(*m));

			if (!m)
				return -ENOMEM;
			msg_free(a->cur);
			m->in = a;
			m->gen = a->gen;
			m->tag = d->delivery_tag;
			a->cur = m;
			return 0;
		}
		case AMQP_BASIC_ACK_METHOD: {
			const amqp_basic_ack_t *m = f->payload.method.decoded;
			return confirmed(a, m->delivery_tag, m->multiple, true);
		}
		case AMQP_BASIC_NACK_METHOD: {
			const amqp_basic_nack_t *m = f->payload.method.decoded;
			return confirmed(a, m->delivery_tag, m->multiple, false);
		}
		case AMQP_BASIC_CANCEL_METHOD:
			log_warn("intake: amqp %s:%d: the broker cancelled the consumer (queue \"%s\" "
				 "deleted?); reconnecting", a->cc.host, a->cc.port, a->queue);
			*graceful = true;
			return -ENOENT;
		case AMQP_CHANNEL_CLOSE_METHOD: {
			const amqp_channel_close_t *m = f->payload.method.decoded;
			log_warn("intake: amqp %s:%d: the broker closed the channel: %u %s",
				 a->cc.host, a->cc.port, m->reply_code,
				 amqp_conn_text(m->reply_text, text, sizeof(text)));
			*graceful = true;
			return amqp_conn_code_errno(m->reply_code);
		}
		case AMQP_CONNECTION_CLOSE_METHOD: {
			const amqp_connection_close_t *m = f->payload.method.decoded;
			amqp_connection_close_ok_t ok = { 0 };
			log_warn("intake: amqp %s:%d: the broker closed the connection: %u %s",
				 a->cc.host, a->cc.port, m->reply_code,
				 amqp_conn_text(m->reply_text, text, sizeof(text)));
			amqp_send_method(a->conn, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
			return amqp_conn_code_errno(m->reply_code);
		}
		default:
			log_debug("intake: amqp: ignoring method 0x%08x",
				  (unsigned)f->payload.method.id);
			return 0;
		}
	case AMQP_FRAME_HEADER: {
		const amqp_basic_properties_t *p = f->payload.properties.decoded;
		struct amqp_intake_msg *m = a->cur;
		uint64_t size = f->payload.properties.body_size;

		if (!m || m->have_header)
			return 0;
		m->have_header = true;
		if (p->_flags & AMQP_BASIC_MESSAGE_ID_FLAG)
			copy_short(m->message_id, sizeof(m->message_id), p->message_id,
				   &m->has_message_id);
		if (p->_flags & AMQP_BASIC_CONTENT_TYPE_FLAG)
			copy_short(m->content_type, sizeof(m->content_type), p->content_type,
				   &m->has_content_type);
		m->size = size > SIZE_MAX / 2 ? SIZE_MAX / 2 : (size_t)size;
		if (size > a->max_bytes) {
			m->oversize = true;
		} else {
			m->body = malloc(m->size + 1);
			if (!m->body)
				return -ENOMEM;
		}
		if (size == 0)
			complete(a);
		return 0;
	}
	case AMQP_FRAME_BODY: {
		struct amqp_intake_msg *m = a->cur;
		size_t n = f->payload.body_fragment.len;

		if (!m || !m->have_header)
			return 0;
		if (n > m->size - m->len)
			n = m->size - m->len;
		if (!m->oversize)
			memcpy(m->body + m->len, f->payload.body_fragment.bytes, n);
		m->len += n;
		if (m->len == m->size) {
			if (m->oversize)
				m->len = 0;
			complete(a);
		}
		return 0;
	}
	default:
		return 0;
	}
}

/* Read every frame that is ready; a failure drops the connection. */
static void read_frames(struct amqp_intake *a)
{
	struct timeval zero = { 0, 0 };
	amqp_frame_t f;
	bool graceful;
	int st, r;

	while (a->conn) {
		st = amqp_simple_wait_frame_noblock(a->conn, &f, &zero);
		if (st == AMQP_STATUS_TIMEOUT)
			break;
		if (st != AMQP_STATUS_OK) {
			log_warn("intake: amqp %s:%d: connection lost: %s", a->cc.host, a->cc.port,
				 amqp_error_string2(st));
			conn_drop(a, false);
			return;
		}
		if (f.channel != CH && f.channel != 0)
			continue;
		r = on_frame(a, &f, &graceful);
		if (r < 0) {
			conn_drop(a, graceful);
			return;
		}
	}
	if (a->conn)
		amqp_maybe_release_buffers(a->conn);
}

static void worker(void *arg)
{
	struct amqp_intake *a = arg;
	uint64_t backoff = a->backoff_min_ms, next_try = 0, stop_by = 0;

	for (;;) {
		struct msg_list todo;
		uint64_t now;
		bool stop;
		int timeout = MAX_IDLE_MS;

		uv_mutex_lock(&a->mu);
		todo = list_take(&a->to_worker);
		stop = a->stop;
		uv_mutex_unlock(&a->mu);
		now = now_ms();
		for (struct amqp_intake_msg *m = todo.head, *next; m; m = next) {
			next = m->next;
			if (m->outcome == AMQP_INTAKE_REQUEUE && !stop && a->conn) {
				m->due_ms = now + REQUEUE_DELAY_MS;
				list_push(&a->delayed, m);
			} else {
				settle(a, m);
			}
		}
		while (a->delayed.head && (stop || a->delayed.head->due_ms <= now)) {
			struct amqp_intake_msg *m = a->delayed.head;

			a->delayed.head = m->next;
			if (!a->delayed.head)
				a->delayed.tail = NULL;
			settle(a, m);
		}
		if (stop) {
			/* Wait (bounded) for the dead-letter copies in flight. */
			if (!stop_by)
				stop_by = now + (uint64_t)a->cc.timeout_ms;
			if (!a->conn || !a->confirming.head || now >= stop_by)
				break;
		}
		if (!a->conn && !stop && now >= next_try) {
			int r = conn_setup(a);

			if (r < 0) {
				log_warn("intake: amqp: cannot consume from %s:%d (%s); retrying in "
					 "%llu ms", a->cc.host, a->cc.port, strerror(-r),
					 (unsigned long long)backoff);
				next_try = now + backoff;
				backoff = backoff * 2 > a->backoff_max_ms ? a->backoff_max_ms
									 : backoff * 2;
			} else {
				backoff = a->backoff_min_ms;
			}
		}
		if (a->conn) {
			read_frames(a);
			if (!a->conn)
				next_try = now_ms() + backoff;
		}
		if (a->conn) {
			if (a->cc.heartbeat_s > 0 && a->cc.heartbeat_s * 500 < timeout)
				timeout = a->cc.heartbeat_s * 500;
			if (a->delayed.head) {
				now = now_ms();
				if (a->delayed.head->due_ms <= now)
					timeout = 0;
				else if (a->delayed.head->due_ms - now < (uint64_t)timeout)
					timeout = (int)(a->delayed.head->due_ms - now);
			}
		} else if (!stop) {
			now = now_ms();
			timeout = next_try <= now ? 0
				  : next_try - now < MAX_IDLE_MS ? (int)(next_try - now)
								 : MAX_IDLE_MS;
		}
		amqp_conn_wait(a->conn, a->wake_fd, timeout);
	}
	if (a->conn) {
		/* Unacked messages (none, unless a confirmation never came) are
		 * requeued by the broker. */
		conn_drop(a, true);
	}
	list_free(&a->delayed);
	uv_mutex_lock(&a->mu);
	a->worker_done = true;
	uv_mutex_unlock(&a->mu);
	uv_async_send(&a->async);
}

/* ---- Loop thread ---- */

static void intake_free(struct amqp_intake *a)
{
	list_free(&a->to_loop);
	list_free(&a->to_worker);
	amqp_conn_free(&a->cc);
	free(a->queue);
	free(a->dlx);
	free(a->dlq);
	if (a->wake_fd >= 0)
		close(a->wake_fd);
	free(a);
}

static void send_stop(struct amqp_intake *a)
{
	uv_mutex_lock(&a->mu);
	a->stop = true;
	uv_mutex_unlock(&a->mu);
	wake(a);
}

void amqp_intake_settle(struct amqp_intake_msg *m, enum amqp_intake_outcome o, const char *error)
{
	struct amqp_intake *a = m->in;

	m->outcome = o;
	if (o == AMQP_INTAKE_REJECT && error)
		m->error = strdup(error);
	if (o != AMQP_INTAKE_REJECT) {
		free(m->body);
		m->body = NULL;
	}
	if (m->counted) {
		m->counted = false;
		a->inflight--;
	}
	uv_mutex_lock(&a->mu);
	list_push(&a->to_worker, m);
	uv_mutex_unlock(&a->mu);
	wake(a);
	if (a->closing && a->inflight == 0)
		send_stop(a);
}

static void on_closed(uv_handle_t *h)
{
	struct amqp_intake *a = h->data;
	void (*cb)(void *data) = a->close_cb;
	void *data = a->close_data;

	uv_mutex_destroy(&a->mu);
	intake_free(a);
	if (cb)
		cb(data);
}

static void on_async(uv_async_t *h)
{
	struct amqp_intake *a = h->data;
	struct msg_list in;
	bool done;

	uv_mutex_lock(&a->mu);
	in = list_take(&a->to_loop);
	done = a->worker_done;
	uv_mutex_unlock(&a->mu);
	for (struct amqp_intake_msg *m = in.head, *next; m; m = next) {
		next = m->next;
		if (done) {
			msg_free(m);	/* the broker requeued it at the close */
		} else if (a->closing) {
			amqp_intake_settle(m, AMQP_INTAKE_REQUEUE, NULL);
		} else {
			m->counted = true;
			a->inflight++;
			a->cb(a->data, m, m->has_message_id ? m->message_id : NULL, m->body, m->len);
		}
	}
	if (!done || uv_is_closing((uv_handle_t *)&a->async))
		return;
	uv_thread_join(&a->thread);
	uv_close((uv_handle_t *)&a->async, on_closed);
}

unsigned amqp_intake_inflight(const struct amqp_intake *a)
{
	return a->inflight;
}

void amqp_intake_metrics(struct amqp_intake *a, FILE *f)
{
	uv_mutex_lock(&a->mu);
	fprintf(f, "# HELP kvscreend_amqp_intake_consumed_total Messages received from the request queue.\n"
		   "# TYPE kvscreend_amqp_intake_consumed_total counter\n"
		   "kvscreend_amqp_intake_consumed_total %llu\n"
		   "# HELP kvscreend_amqp_intake_acked_total Messages acknowledged once their verdict was durable.\n"
		   "# TYPE kvscreend_amqp_intake_acked_total counter\n"
		   "kvscreend_amqp_intake_acked_total %llu\n"
		   "# HELP kvscreend_amqp_intake_rejected_total Invalid messages sent to the dead-letter exchange.\n"
		   "# TYPE kvscreend_amqp_intake_rejected_total counter\n"
		   "kvscreend_amqp_intake_rejected_total %llu\n",
		a->st.consumed, a->st.acked, a->st.rejected);
	fprintf(f, "# HELP kvscreend_amqp_intake_requeued_total Messages handed back to the queue after a transient failure.\n"
		   "# TYPE kvscreend_amqp_intake_requeued_total counter\n"
		   "kvscreend_amqp_intake_requeued_total %llu\n"
		   "# HELP kvscreend_amqp_intake_connects_total Connections made to the broker.\n"
		   "# TYPE kvscreend_amqp_intake_connects_total counter\n"
		   "kvscreend_amqp_intake_connects_total %llu\n"
		   "# HELP kvscreend_amqp_intake_connected 1 while the intake consumes from the broker.\n"
		   "# TYPE kvscreend_amqp_intake_connected gauge\n"
		   "kvscreend_amqp_intake_connected %d\n",
		a->st.requeued, a->st.connects, a->st.connected);
	uv_mutex_unlock(&a->mu);
}

void amqp_intake_close(struct amqp_intake *a, void (*cb)(void *data), void *data)
{
	a->closing = true;
	a->close_cb = cb;
	a->close_data = data;
	if (a->inflight == 0)
		send_stop(a);
}

int amqp_intake_open(uv_loop_t *loop, const struct cfg_intake_amqp *cfg, size_t max_bytes,
		     amqp_intake_cb cb, void *data, struct amqp_intake **out)
{
	struct amqp_intake *a;
	int r;

	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->wake_fd = -1;
	a->loop = loop;
	a->cb = cb;
	a->data = data;
	a->max_bytes = max_bytes;
	a->prefetch = (uint16_t)cfg->prefetch;
	a->backoff_min_ms = (uint64_t)cfg->backoff_min_ms;
	a->backoff_max_ms = (uint64_t)cfg->backoff_max_ms;
	r = amqp_conn_setup(&a->cc, "intake", cfg->url, cfg->vhost, cfg->user, cfg->password_file,
			    cfg->tls_verify != 0, cfg->ca_file, (int)cfg->heartbeat_s,
			    (long)cfg->timeout_ms, (long)cfg->connect_timeout_ms);
	if (r < 0)
		goto fail;
	r = -ENOMEM;
	a->queue = strdup(cfg->queue);
	a->dlx = strdup(cfg->dead_letter_exchange);
	a->dlq = strdup(cfg->dead_letter_queue);
	if (!a->queue || !a->dlx || !a->dlq)
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
	if (r < 0) {
		uv_mutex_destroy(&a->mu);
		goto fail;
	}
	a->async.data = a;
	r = uv_thread_create(&a->thread, worker, a);
	if (r < 0) {
		log_err("intake: amqp: cannot start the worker thread: %s", uv_strerror(r));
		a->close_cb = NULL;
		uv_close((uv_handle_t *)&a->async, on_closed);
		return r;
	}
	*out = a;
	return 0;
fail:
	intake_free(a);
	return r;
}
