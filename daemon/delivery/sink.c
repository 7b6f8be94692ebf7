/* sink.c - the backend-independent half of a sink: which message, when, and the delivery cursor.
 *
 * The sink reads the outbox's log through its consumer API (outbox.h) and
 * keeps a window of at most SINK_WINDOW undelivered messages, in log order.
 * Each is IDLE (waiting, maybe until a backoff deadline), READING (being
 * read on the thread pool), SENDING (with the backend) or SKIPPED
 * (unreadable in this run; tried again after a restart).  A confirmed
 * message leaves the window; the delivery cursor is then the position of
 * the first message still in the window (or, when it is empty, the end of
 * what was listed), and the sink hands it to outbox_consumer_ack(), which
 * writes it durably and retires the segments before it.  Messages after
 * the cursor are delivered again after a restart: at least once.
 *
 * Dispatch picks IDLE entries in log order, so first attempts follow it.
 * Failures come in two kinds.  When the receiver fails (refused,
 * timed out, 5xx, not routed ...), fail_streak counts up and the sink
 * probes with one delivery at a time, spaced by a sink-wide backoff and
 * always with the first message, until the first confirmation restores
 * max_inflight: while a receiver is down only the head entry is tried.
 * When the receiver refuses one message (-EBADMSG: a 4xx about the request),
 * that entry alone steps aside with its own backoff and the others go on,
 * so one bad entry cannot hold up the queue (it holds up the cursor only).
 * Backoff is exponential from backoff_min_ms, capped at backoff_max_ms,
 * drawn uniformly from [d/2, d].
 *
 * Everything here runs on the loop thread; the outbox lists, reads and
 * writes the cursor on the thread pool.  A counter of outstanding requests
 * keeps the sink alive until they finished.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "outbox.h"
#include "sink.h"

#define SINK_WINDOW 1024

enum entry_state { E_IDLE, E_READING, E_SENDING, E_SKIPPED };

struct entry {
	struct sink *sink;
	uint64_t pos, end;        /* in the outbox's log */
	char key[SEQ_KEY_MAX];    /* "SEQ.ID" */
	enum entry_state state;
	unsigned attempts;
	unsigned bad_streak;      /* refusals of this message in a row */
	uint64_t not_before;      /* uv_now() ms; set only after a refusal */
	char *body;
	size_t len;
	int64_t mtime_ms;         /* wall clock when written; 0 unknown */
	bool dropped;             /* gone from the window while on the pool */
	struct sink_delivery d;
};

struct sink {
	uv_loop_t *loop;
	const struct sink_backend *backend;
	void *bstate;
	struct outbox *ob;
	uint64_t next_pos;        /* where the next listing starts */
	uint64_t acked;           /* the last cursor handed to the outbox */
	uint64_t backoff_min, backoff_max, rescan_ms;
	unsigned max_inflight;

	struct entry **ents;      /* in log order */
	size_t n_ents;

	uv_timer_t rescan_timer;
	uv_timer_t retry_timer;
	bool scanning, scan_again, scan_truncated;
	size_t list_max;          /* what the listing in flight asked for */

	unsigned busy;            /* entries READING or SENDING */
	unsigned fail_streak;
	uint64_t probe_at;
	uint64_t rng;

	unsigned pending_reqs;    /* thread-pool requests not yet completed */
	unsigned open_handles;
	bool closing, backend_closed;
	void (*close_cb)(void *data);
	void *close_data;

	/* The outage reporter: while deliveries fail (the receiver, not one
	 * message), one line at the first failure, then one per log_interval
	 * with what happened since, and one when delivery works again. */
	struct {
		bool down;
		uint64_t since;               /* uv_now() of the first failure */
		unsigned long long fails;     /* failed attempts in the outage */
		unsigned long long fails_line; /* ... since the last line */
		char last_err[200];
		uv_timer_t timer;
		uint64_t interval;
	} out;

	struct sink_stats st;
	void (*retired_cb)(void *data, size_t n);
	void *retired_data;
};

/* ---- Configuration ---- */

#define SINK_OPT(n, t, d, m, h, lo, hi) \
	{ .name = n, .type = t, .def = d, .offset = offsetof(struct cfg_sink, m), \
	  .help = h, .min = lo, .max = hi }

const struct kvs_option sink_options[] = {
	SINK_OPT("kind", KVS_OPT_STRING, "none", kind,
		 "where verdicts go besides the outbox: \"none\", \"webhook\", \"rabbitmq\" or \"amqp\"", 0, 0),
	SINK_OPT("url", KVS_OPT_STRING, NULL, url,
		 "webhook: URL to POST each verdict to; rabbitmq: base URL of the management API "
		 "(http://127.0.0.1:15672); amqp: the broker (amqp://host:5672/vhost or amqps://...)", 0, 0),
	SINK_OPT("vhost", KVS_OPT_STRING, "/", vhost, "rabbitmq, amqp: virtual host", 0, 0),
	SINK_OPT("exchange", KVS_OPT_STRING, "amq.default", exchange,
		 "rabbitmq, amqp: exchange to publish to", 0, 0),
	SINK_OPT("routing_key", KVS_OPT_STRING, "kvscreen.verdicts", routing_key,
		 "rabbitmq, amqp: routing key of every message", 0, 0),
	SINK_OPT("user", KVS_OPT_STRING, "", user, "user for HTTP basic authentication, or the AMQP user", 0, 0),
	SINK_OPT("password_file", KVS_OPT_PATH, NULL, password_file,
		 "file whose first line is the basic-auth or AMQP password (keep it mode 0600)", 0, 0),
	SINK_OPT("timeout_ms", KVS_OPT_INT, "10000", timeout_ms,
		 "time limit of one delivery, connecting included", 10, 3600000),
	SINK_OPT("connect_timeout_ms", KVS_OPT_INT, "3000", connect_timeout_ms,
		 "time limit to connect to the receiver", 10, 600000),
	SINK_OPT("max_inflight", KVS_OPT_INT, "4", max_inflight,
		 "deliveries at once", 1, 256),
	SINK_OPT("backoff_min_ms", KVS_OPT_INT, "200", backoff_min_ms,
		 "delay before the first retry; doubles with each failure", 1, 3600000),
	SINK_OPT("backoff_max_ms", KVS_OPT_INT, "60000", backoff_max_ms,
		 "cap of the retry delay", 1, 86400000),
	SINK_OPT("rescan_ms", KVS_OPT_INT, "2000", rescan_ms,
		 "period of the rescan of the outbox for messages a wake-up missed", 10, 3600000),
	SINK_OPT("log_interval_ms", KVS_OPT_INT, "30000", log_interval_ms,
		 "while deliveries fail, one log line per interval with the failures since the "
		 "last line, the last error, the backlog and the age of the oldest undelivered "
		 "verdict (the first failure is logged at once)", 1000, 86400000),
	SINK_OPT("tls_verify", KVS_OPT_BOOL, "true", tls_verify,
		 "verify the receiver's TLS certificate and host name", 0, 0),
	SINK_OPT("ca_file", KVS_OPT_PATH, NULL, ca_file,
		 "CA bundle to verify the receiver with instead of the system's", 0, 0),
	SINK_OPT("heartbeat_s", KVS_OPT_INT, "30", heartbeat_s,
		 "amqp: seconds between AMQP heartbeats (0 = none)", 0, 3600),
	{ .name = NULL },
};

static bool is_http_url(const char *u)
{
	return u && (strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0) &&
	       strlen(u) < 4096 && !strpbrk(u, " \r\n\t");
}

const char *sink_cfg_check(const struct cfg_sink *c, const char **option)
{
	const char *kind = c->kind ? c->kind : "none";

	*option = NULL;
	if (strcmp(kind, "none") == 0)
		return NULL;
	if (strcmp(kind, "webhook") != 0 && strcmp(kind, "rabbitmq") != 0 &&
	    strcmp(kind, "amqp") != 0) {
		*option = "kind";
		return "unknown sink kind (expected \"none\", \"webhook\", \"rabbitmq\" or \"amqp\")";
	}
	if (strcmp(kind, "amqp") == 0) {
		const char *why = sink_amqp_check(c, option);
		if (why)
			return why;
	} else if (!is_http_url(c->url)) {
		*option = "url";
		return "an http:// or https:// URL without blanks is required";
	}
	if (c->backoff_min_ms > c->backoff_max_ms) {
		*option = "backoff_min_ms";
		return "backoff_min_ms is larger than backoff_max_ms";
	}
	if (c->max_inflight < 1) {
		*option = "max_inflight";
		return "max_inflight must be at least 1";
	}
	if (strcmp(kind, "rabbitmq") == 0 || strcmp(kind, "amqp") == 0) {
		if (!c->exchange || !*c->exchange) {
			*option = "exchange";
			return "rabbitmq needs an exchange (\"amq.default\" for the default one)";
		}
		if (!c->vhost || !*c->vhost) {
			*option = "vhost";
			return "rabbitmq needs a vhost";
		}
		if (!c->routing_key) {
			*option = "routing_key";
			return "rabbitmq needs a routing_key";
		}
	}
	if (c->user && *c->user && (!c->password_file || !*c->password_file)) {
		*option = "password_file";
		return "user is set but password_file is not";
	}
	return NULL;
}

/* ---- Entries ---- */

static void entry_free(struct entry *e)
{
	free(e->body);
	free(e);
}

/* Remove e from the window (it stays allocated if on the pool). */
static void ents_remove(struct sink *s, struct entry *e)
{
	for (size_t i = 0; i < s->n_ents; i++) {
		if (s->ents[i] == e) {
			memmove(&s->ents[i], &s->ents[i + 1], (s->n_ents - i - 1) * sizeof(s->ents[0]));
			s->n_ents--;
			return;
		}
	}
}

static uint64_t rng_next(struct sink *s)
{
	/* xorshift64*: jitter only, not security. */
	s->rng ^= s->rng >> 12;
	s->rng ^= s->rng << 25;
	s->rng ^= s->rng >> 27;
	return s->rng * 2685821657736338717ull;
}

/* Delay before retry number n (n >= 1), with jitter in [d/2, d]. */
static uint64_t backoff(struct sink *s, unsigned n)
{
	uint64_t d = s->backoff_min;

	while (--n > 0 && d < s->backoff_max)
		d *= 2;
	if (d > s->backoff_max)
		d = s->backoff_max;
	return d - (d / 2 ? rng_next(s) % (d / 2 + 1) : 0);
}

static void dispatch(struct sink *s);
static void scan_start(struct sink *s);
static void maybe_finish_close(struct sink *s);

/* ---- Reading a message ---- */

static void read_done(void *data, int status, const char *body, size_t len)
{
	struct entry *e = data;
	struct sink *s = e->sink;
	int r;

	s->pending_reqs--;
	if (e->dropped || s->closing) {
		if (!e->dropped)
			ents_remove(s, e);
		entry_free(e);
		s->busy--;
		maybe_finish_close(s);
		return;
	}
	if (status == 0) {
		e->body = malloc(len + 1);
		if (!e->body)
			status = -ENOMEM;
		else
			memcpy(e->body, body, len + 1);
	}
	if (status < 0) {
		log_err("sink: cannot read message %s: %s; left for the next start", e->key,
			strerror(-status));
		s->busy--;
		e->state = E_SKIPPED;
		dispatch(s);
		return;
	}
	e->len = len;
	e->state = E_SENDING;
	e->attempts++;
	s->st.attempts++;
	e->d = (struct sink_delivery){ .sink = s, .key = e->key, .body = e->body, .len = e->len };
	r = s->backend->send(s->bstate, &e->d);
	if (r < 0)
		sink_delivered(&e->d, r);
}

static void start_read(struct sink *s, struct entry *e)
{
	int r;

	e->state = E_READING;
	s->busy++;
	r = outbox_consumer_read(s->ob, e->pos, read_done, e);
	if (r < 0) {
		s->busy--;
		e->state = E_IDLE;
		e->not_before = uv_now(s->loop) + backoff(s, 1);
		if (r != -ESHUTDOWN)
			log_err("sink: cannot read message %s: %s", e->key, strerror(-r));
		return;
	}
	s->pending_reqs++;
}

/* ---- Confirmation: move the cursor ---- */

/* e was confirmed: it leaves the window, and the cursor moves to the first
 * message still undelivered. */
static void entry_confirmed(struct sink *s, struct entry *e)
{
	uint64_t cursor;
	int r;

	s->st.delivered++;
	if (s->retired_cb)
		s->retired_cb(s->retired_data, 1);
	ents_remove(s, e);
	entry_free(e);
	cursor = s->n_ents ? s->ents[0]->pos : s->next_pos;
	if (cursor > s->acked) {
		r = outbox_consumer_ack(s->ob, cursor);
		if (r == 0)
			s->acked = cursor;
		else if (r != -ESHUTDOWN)
			log_warn("sink: cannot move the delivery cursor: %s", strerror(-r));
	}
	/* The window may have room for messages a full listing left out. */
	if (s->scan_truncated && s->n_ents < SINK_WINDOW / 2)
		scan_start(s);
}

/* ---- The outage reporter ---- */

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Seconds since the oldest entry of the window was written (entries are
 * delivered in name order, which is the order they were written). */
static double oldest_age(const struct sink *s)
{
	int64_t now = wall_ms();

	for (size_t i = 0; i < s->n_ents; i++) {
		const struct entry *e = s->ents[i];

		if (e->state == E_SKIPPED)
			continue;
		return e->mtime_ms && now > e->mtime_ms ? (double)(now - e->mtime_ms) / 1000 : 0;
	}
	return 0;
}

/* "12 verdicts" or "more than 1024 verdicts" waiting. */
static void backlog_str(const struct sink *s, char *buf, size_t len)
{
	snprintf(buf, len, "%s%zu verdict%s", s->scan_truncated ? "more than " : "", s->n_ents,
		 s->n_ents == 1 ? "" : "s");
}

static void outage_line(struct sink *s)
{
	char backlog[64];

	backlog_str(s, backlog, sizeof(backlog));
	log_warn("sink: delivery failing for %.0f s: %llu failed attempt%s in the last %.0f s "
		 "(%llu in all), last error: %s; backlog %s, oldest undelivered %.0f s old",
		 (double)(uv_now(s->loop) - s->out.since) / 1000, s->out.fails_line,
		 s->out.fails_line == 1 ? "" : "s", (double)s->out.interval / 1000,
		 s->out.fails, s->out.last_err, backlog, oldest_age(s));
	s->out.fails_line = 0;
}

static void outage_timer_cb(uv_timer_t *t)
{
	struct sink *s = t->data;

	if (s->out.down)
		outage_line(s);
}

static void outage_fail(struct sink *s, const struct entry *e, int status)
{
	char backlog[64];

	snprintf(s->out.last_err, sizeof(s->out.last_err), "%s",
		 e->d.error[0] ? e->d.error : strerror(-status));
	s->out.fails++;
	if (s->out.down) {
		s->out.fails_line++;
		return;
	}
	s->out.down = true;
	s->out.since = uv_now(s->loop);
	s->out.fails = 1;
	s->out.fails_line = 0;
	s->st.outages++;
	backlog_str(s, backlog, sizeof(backlog));
	log_warn("sink: delivery of %s failed: %s; retrying with backoff; backlog %s, oldest "
		 "undelivered %.0f s old (next report in %.0f s)", e->key, s->out.last_err,
		 backlog, oldest_age(s), (double)s->out.interval / 1000);
	uv_timer_start(&s->out.timer, outage_timer_cb, s->out.interval, s->out.interval);
}

static void outage_over(struct sink *s)
{
	char backlog[64];

	if (!s->out.down)
		return;
	s->out.down = false;
	uv_timer_stop(&s->out.timer);
	backlog_str(s, backlog, sizeof(backlog));
	log_notice("sink: delivering again after an outage of %.0f s: %llu failed attempt%s, "
		   "last error: %s; backlog %s", (double)(uv_now(s->loop) - s->out.since) / 1000,
		   s->out.fails, s->out.fails == 1 ? "" : "s", s->out.last_err, backlog);
}

void sink_delivered(struct sink_delivery *d, int status)
{
	struct entry *e = (struct entry *)((char *)d - offsetof(struct entry, d));
	struct sink *s = e->sink;
	uint64_t now = uv_now(s->loop);

	s->busy--;
	free(e->body);
	e->body = NULL;
	e->len = 0;
	if (status == -EBADMSG) {
		/* This message, not the receiver: retry it later, go on. */
		s->st.failures++;
		e->bad_streak++;
		log_warn("sink: the receiver refused %s (attempt %u); retrying it later", e->key,
			 e->attempts);
		e->not_before = now + backoff(s, e->bad_streak);
		e->state = E_IDLE;
		dispatch(s);
		return;
	}
	if (status < 0) {
		s->st.failures++;
		log_debug("sink: delivery of %s failed (%s), attempt %u", e->key,
			  e->d.error[0] ? e->d.error : strerror(-status), e->attempts);
		outage_fail(s, e, status);
		s->fail_streak++;
		s->probe_at = now + backoff(s, s->fail_streak);
		e->state = E_IDLE;
		dispatch(s);
		return;
	}
	outage_over(s);
	s->fail_streak = 0;
	entry_confirmed(s, e);
	dispatch(s);
}

/* ---- Dispatch ---- */

static void retry_cb(uv_timer_t *t)
{
	dispatch(t->data);
}

static void dispatch(struct sink *s)
{
	uint64_t now = uv_now(s->loop);
	uint64_t wake = UINT64_MAX;
	unsigned limit = s->fail_streak ? 1 : s->max_inflight;

	if (s->closing || !s->backend)
		return;
	if (s->fail_streak && now < s->probe_at) {
		if (s->busy < limit)
			wake = s->probe_at;
		goto arm;
	}
	for (size_t i = 0; i < s->n_ents && s->busy < limit; i++) {
		struct entry *e = s->ents[i];

		if (e->state != E_IDLE)
			continue;
		if (e->not_before > now) {
			if (e->not_before < wake)
				wake = e->not_before;
			continue;
		}
		start_read(s, e);
	}
arm:
	if (s->busy < limit && wake != UINT64_MAX)
		uv_timer_start(&s->retry_timer, retry_cb, wake - now, 0);
	else
		uv_timer_stop(&s->retry_timer);
}

/* ---- Listing the log ---- */

static void list_done(void *data, int status, const struct outbox_entry *ents, size_t n,
		      unsigned long long next)
{
	struct sink *s = data;

	s->pending_reqs--;
	s->scanning = false;
	if (s->closing) {
		maybe_finish_close(s);
		return;
	}
	if (status < 0) {
		log_err("sink: cannot list the outbox: %s", strerror(-status));
	} else {
		for (size_t i = 0; i < n; i++) {
			struct entry *e = calloc(1, sizeof(*e));

			if (!e) {
				log_err("sink: out of memory listing the outbox");
				next = ents[i].pos;
				n = i + 1;	/* truncated */
				break;
			}
			e->sink = s;
			e->pos = ents[i].pos;
			e->end = ents[i].end;
			e->mtime_ms = ents[i].written_ms;
			e->state = E_IDLE;
			memcpy(e->key, ents[i].key, sizeof(e->key));
			s->ents[s->n_ents++] = e;
		}
		/* A full listing may have left messages out. */
		s->scan_truncated = n > 0 && n >= s->list_max;
		s->next_pos = next;
		/* Nothing undelivered listed: the cursor may move past
		 * messages confirmed before (a restart's duplicates). */
		if (!s->n_ents && next > s->acked && outbox_consumer_ack(s->ob, next) == 0)
			s->acked = next;
	}
	if (s->scan_again) {
		s->scan_again = false;
		scan_start(s);
	}
	dispatch(s);
}

static void scan_start(struct sink *s)
{
	size_t room;
	int r;

	if (s->closing || !s->backend)
		return;
	if (s->scanning) {
		s->scan_again = true;
		return;
	}
	room = SINK_WINDOW - s->n_ents;
	if (room == 0) {
		s->scan_truncated = true;
		return;
	}
	s->list_max = room;
	r = outbox_consumer_list(s->ob, s->next_pos, room, list_done, s);
	if (r < 0) {
		if (r != -ESHUTDOWN)
			log_err("sink: cannot list the outbox: %s", strerror(-r));
		return;
	}
	s->scanning = true;
	s->pending_reqs++;
}

static void rescan_cb(uv_timer_t *t)
{
	scan_start(t->data);
}

void sink_set_retired_cb(struct sink *s, void (*cb)(void *data, size_t n), void *data)
{
	s->retired_cb = cb;
	s->retired_data = data;
}

void sink_kick(struct sink *s)
{
	if (s)
		scan_start(s);
}

/* ---- Life cycle ---- */

int sink_open(uv_loop_t *loop, const struct cfg_sink *cfg, struct outbox *ob,
	      struct sink **out)
{
	const char *kind = cfg->kind ? cfg->kind : "none";
	const char *why, *opt;
	struct sink *s;
	int r;

	why = sink_cfg_check(cfg, &opt);
	if (why) {
		log_err("sink: %s: %s", opt, why);
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->loop = loop;
	s->backoff_min = cfg->backoff_min_ms > 0 ? (uint64_t)cfg->backoff_min_ms : 1;
	s->backoff_max = cfg->backoff_max_ms > 0 ? (uint64_t)cfg->backoff_max_ms : s->backoff_min;
	s->rescan_ms = cfg->rescan_ms > 0 ? (uint64_t)cfg->rescan_ms : 2000;
	s->max_inflight = cfg->max_inflight > 0 ? (unsigned)cfg->max_inflight : 1;
	s->rng = uv_hrtime() ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)s;
	if (!s->rng)
		s->rng = 1;
	s->ob = ob;
	s->ents = calloc(SINK_WINDOW, sizeof(*s->ents));
	if (!s->ents) {
		r = -ENOMEM;
		goto fail;
	}
	s->next_pos = s->acked = ob ? outbox_consumer_start(ob) : 0;
	if (strcmp(kind, "webhook") == 0)
		s->backend = &sink_http_webhook;
	else if (strcmp(kind, "rabbitmq") == 0)
		s->backend = &sink_http_rabbitmq;
	else if (strcmp(kind, "amqp") == 0)
		s->backend = &sink_amqp;
	if (s->backend && !ob) {
		r = -EINVAL;
		goto fail;
	}
	if (s->backend) {
		r = s->backend->open(loop, cfg, &s->bstate);
		if (r < 0)
			goto fail;
	}
	uv_timer_init(loop, &s->rescan_timer);
	uv_timer_init(loop, &s->retry_timer);
	uv_timer_init(loop, &s->out.timer);
	s->rescan_timer.data = s;
	s->retry_timer.data = s;
	s->out.timer.data = s;
	s->out.interval = cfg->log_interval_ms > 0 ? (uint64_t)cfg->log_interval_ms : 30000;
	if (s->backend) {
		uv_timer_start(&s->rescan_timer, rescan_cb, s->rescan_ms, s->rescan_ms);
		scan_start(s);
	}
	*out = s;
	return 0;
fail:
	free(s->ents);
	free(s);
	return r;
}

void sink_stats(const struct sink *s, struct sink_stats *out)
{
	*out = s->st;
	out->inflight = s->busy;
	out->oldest_age = oldest_age(s);
	out->failing = s->out.down;
	out->pending = 0;
	for (size_t i = 0; i < s->n_ents; i++)
		if (s->ents[i]->state == E_IDLE)
			out->pending++;
}

static void maybe_finish_close(struct sink *s)
{
	void (*cb)(void *data);
	void *data;

	if (!s->closing)
		return;
	if (s->pending_reqs || s->open_handles || !s->backend_closed)
		return;
	cb = s->close_cb;
	data = s->close_data;
	free(s->ents);
	free(s);
	if (cb)
		cb(data);
}

static void timer_closed(uv_handle_t *h)
{
	struct sink *s = h->data;

	s->open_handles--;
	maybe_finish_close(s);
}

/* The backend has aborted its deliveries: free the entries they borrowed. */
static void backend_closed(void *data)
{
	struct sink *s = data;

	for (size_t i = 0; i < s->n_ents; i++)
		entry_free(s->ents[i]);
	s->n_ents = 0;
	s->backend_closed = true;
	maybe_finish_close(s);
}

void sink_close(struct sink *s, void (*cb)(void *data), void *data)
{
	size_t k = 0;

	s->closing = true;
	s->close_cb = cb;
	s->close_data = data;
	/* Entries on the thread pool free themselves when their request
	 * completes; SENDING ones stay in ents until the backend let go of
	 * them; the rest go now. */
	for (size_t i = 0; i < s->n_ents; i++) {
		struct entry *e = s->ents[i];

		if (e->state == E_READING)
			e->dropped = true;
		else if (e->state == E_SENDING)
			s->ents[k++] = e;
		else
			entry_free(e);
	}
	s->n_ents = k;
	s->open_handles = 3;
	uv_close((uv_handle_t *)&s->rescan_timer, timer_closed);
	uv_close((uv_handle_t *)&s->retry_timer, timer_closed);
	uv_close((uv_handle_t *)&s->out.timer, timer_closed);
	if (s->backend)
		s->backend->close(s->bstate, backend_closed, s);
	else
		backend_closed(s);
}
