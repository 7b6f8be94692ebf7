/* sink.c - the backend-independent half of a sink: which entry, when, and retiring it.
 *
 * The sink keeps a window of at most SINK_WINDOW entries of outbox/new, the
 * smallest names, in a sorted array.  Each entry is IDLE (waiting, maybe
 * until a backoff deadline), READING (its file is read on the thread pool),
 * SENDING (with the backend), UNLINKING (confirmed; being removed) or
 * SKIPPED (unreadable in this run; tried again after a restart).
 *
 * Dispatch picks IDLE entries in name order, so first attempts follow the
 * names.  Failures come in two kinds.  When the receiver fails (refused,
 * timed out, 5xx, not routed ...), fail_streak counts up and the sink
 * probes with one delivery at a time, spaced by a sink-wide backoff and
 * always with the smallest name, until the first confirmation restores
 * max_inflight: while a receiver is down only the head entry is tried.
 * When the receiver refuses one message (-EBADMSG: a 4xx about the request),
 * that entry alone steps aside with its own backoff and the others go on,
 * so one bad entry cannot hold up the queue.  Backoff is exponential from
 * backoff_min_ms, capped at backoff_max_ms, drawn uniformly from [d/2, d].
 *
 * Everything here runs on the loop thread; scans, reads, the folder fsync
 * (uv_queue_work) and unlinks (uv_fs_unlink) run on the thread pool.  A
 * counter of outstanding requests keeps the sink alive until they finished.
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
#include "sink.h"

#define SINK_WINDOW 1024
/* Largest entry read, as large as the outbox accepts (OUTBOX_MAX_VERDICT). */
#define SINK_MAX_ENTRY (16u << 20)
#define SINK_SEQ_DIGITS 20
#define SINK_NAME_MAX 200

enum entry_state { E_IDLE, E_READING, E_SENDING, E_UNLINKING, E_SKIPPED };

struct entry {
	struct sink *sink;
	char *name;               /* "SEQ.ID.json" */
	char *key;                /* "SEQ.ID" */
	enum entry_state state;
	unsigned attempts;
	unsigned bad_streak;      /* refusals of this message in a row */
	uint64_t not_before;      /* uv_now() ms; set only after a refusal */
	char *body;
	size_t len;
	int read_err;
	bool seen;                /* listed by the current merge */
	int64_t mtime_ms;         /* wall clock when written; 0 unknown */
	bool dropped;             /* gone from the window while on the pool */
	uv_work_t work;
	uv_fs_t fs;
	struct sink_delivery d;
};

struct scan {
	struct sink *sink;
	uv_work_t work;
	char **names;             /* sorted, at most SINK_WINDOW */
	int64_t *mtimes;          /* of names[i], ms; 0 unknown */
	size_t n;
	bool truncated;           /* more valid names than the window */
	int err;
};

struct sink {
	uv_loop_t *loop;
	const struct sink_backend *backend;
	void *bstate;
	char *new_dir;
	uint64_t backoff_min, backoff_max, rescan_ms;
	unsigned max_inflight;

	struct entry **ents;      /* sorted by name */
	size_t n_ents;

	uv_timer_t rescan_timer;
	uv_timer_t retry_timer;
	bool scanning, scan_again, scan_truncated;

	unsigned busy;            /* entries READING or SENDING */
	unsigned fail_streak;
	uint64_t probe_at;
	uint64_t rng;

	bool fsync_running, fsync_dirty;
	uv_work_t fsync_work;
	int fsync_err;

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
		 "where verdicts go besides outbox/new: \"none\", \"webhook\", \"rabbitmq\" or \"amqp\"", 0, 0),
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
		 "period of the rescan of outbox/new", 10, 3600000),
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

/* A name is SEQ.ID.json: 20 digits, a dot, an id of [A-Za-z0-9._:-], ".json". */
static bool valid_name(const char *n)
{
	size_t len = strlen(n);

	if (len < SINK_SEQ_DIGITS + 1 + 1 + 5 || len > SINK_NAME_MAX)
		return false;
	for (size_t i = 0; i < SINK_SEQ_DIGITS; i++)
		if (n[i] < '0' || n[i] > '9')
			return false;
	if (n[SINK_SEQ_DIGITS] != '.' || strcmp(n + len - 5, ".json") != 0)
		return false;
	for (size_t i = SINK_SEQ_DIGITS + 1; i < len - 5; i++) {
		char ch = n[i];
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-' ||
		      ch == ':'))
			return false;
	}
	return true;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void entry_free(struct entry *e)
{
	free(e->name);
	free(e->key);
	free(e->body);
	free(e);
}

/* Index of the first entry whose name is >= name. */
static size_t ents_lower(const struct sink *s, const char *name)
{
	size_t lo = 0, hi = s->n_ents;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(s->ents[mid]->name, name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void ents_remove_at(struct sink *s, size_t i)
{
	memmove(&s->ents[i], &s->ents[i + 1], (s->n_ents - i - 1) * sizeof(s->ents[0]));
	s->n_ents--;
}

/* Remove e from the window (it stays allocated if on the pool). */
static void ents_remove(struct sink *s, struct entry *e)
{
	size_t i = ents_lower(s, e->name);

	if (i < s->n_ents && s->ents[i] == e)
		ents_remove_at(s, i);
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

/* ---- Reading an entry on the thread pool ---- */

static void read_work(uv_work_t *w)
{
	struct entry *e = w->data;
	struct sink *s = e->sink;
	char path[4096 + SINK_NAME_MAX + 2];
	struct stat sb;
	size_t got = 0;
	int fd;

	e->read_err = 0;
	snprintf(path, sizeof(path), "%s/%s", s->new_dir, e->name);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		e->read_err = -errno;
		return;
	}
	if (fstat(fd, &sb) < 0) {
		e->read_err = -errno;
		goto fail;
	}
	e->mtime_ms = (int64_t)sb.st_mtim.tv_sec * 1000 + sb.st_mtim.tv_nsec / 1000000;
	if (!S_ISREG(sb.st_mode)) {
		e->read_err = -EINVAL;
		goto fail;
	}
	if ((uint64_t)sb.st_size > SINK_MAX_ENTRY) {
		e->read_err = -EFBIG;
		goto fail;
	}
	e->body = malloc((size_t)sb.st_size + 1);
	if (!e->body) {
		e->read_err = -ENOMEM;
		goto fail;
	}
	while (got < (size_t)sb.st_size) {
		ssize_t r = read(fd, e->body + got, (size_t)sb.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			e->read_err = -errno;
			goto fail;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	e->body[got] = '\0';
	e->len = got;
	close(fd);
	return;
fail:
	free(e->body);
	e->body = NULL;
	close(fd);
}

static void read_done(uv_work_t *w, int status)
{
	struct entry *e = w->data;
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
	if (status == 0)
		status = e->read_err;
	if (status == -ENOENT) {
		/* Retired by someone else, or listed by a scan that raced an unlink. */
		s->busy--;
		ents_remove(s, e);
		entry_free(e);
		dispatch(s);
		return;
	}
	if (status < 0) {
		log_err("sink: cannot read %s/%s: %s; left in place until restart",
			s->new_dir, e->name, strerror(-status));
		s->busy--;
		e->state = E_SKIPPED;
		dispatch(s);
		return;
	}
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
	e->work.data = e;
	s->busy++;
	r = uv_queue_work(s->loop, &e->work, read_work, read_done);
	if (r < 0) {
		s->busy--;
		e->state = E_IDLE;
		e->not_before = uv_now(s->loop) + backoff(s, 1);
		log_err("sink: uv_queue_work: %s", uv_strerror(r));
		return;
	}
	s->pending_reqs++;
}

/* ---- Retiring: unlink, then fsync the folder in batches ---- */

static void fsync_work(uv_work_t *w)
{
	struct sink *s = w->data;
	int fd = open(s->new_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	s->fsync_err = 0;
	if (fd < 0) {
		s->fsync_err = -errno;
		return;
	}
	if (fsync(fd) < 0)
		s->fsync_err = -errno;
	close(fd);
}

static void fsync_start(struct sink *s);

static void fsync_done(uv_work_t *w, int status)
{
	struct sink *s = w->data;

	s->pending_reqs--;
	s->fsync_running = false;
	if (status == 0)
		status = s->fsync_err;
	/* A lost unlink only means a duplicate delivery after a crash. */
	if (status < 0)
		log_warn("sink: fsync %s: %s", s->new_dir, strerror(-status));
	if (s->fsync_dirty)
		fsync_start(s);
	maybe_finish_close(s);
}

static void fsync_start(struct sink *s)
{
	int r;

	if (s->fsync_running || !s->fsync_dirty)
		return;
	s->fsync_dirty = false;
	s->fsync_running = true;
	s->fsync_work.data = s;
	r = uv_queue_work(s->loop, &s->fsync_work, fsync_work, fsync_done);
	if (r < 0) {
		s->fsync_running = false;
		log_warn("sink: uv_queue_work: %s", uv_strerror(r));
		return;
	}
	s->pending_reqs++;
}

static void unlink_done(uv_fs_t *req)
{
	struct entry *e = req->data;
	struct sink *s = e->sink;
	int r = (int)req->result;

	uv_fs_req_cleanup(req);
	s->pending_reqs--;
	if (r < 0 && r != UV_ENOENT) {
		/* Confirmed but still there: do not send it again in this run. */
		log_err("sink: cannot retire %s/%s: %s", s->new_dir, e->name, uv_strerror(r));
		e->state = E_SKIPPED;
		if (e->dropped)
			entry_free(e);
		maybe_finish_close(s);
		return;
	}
	s->st.delivered++;
	if (s->retired_cb)
		s->retired_cb(s->retired_data, 1);
	s->fsync_dirty = true;
	fsync_start(s);
	if (!e->dropped)
		ents_remove(s, e);
	entry_free(e);
	if (s->closing) {
		maybe_finish_close(s);
		return;
	}
	/* The window may have room for entries a truncated scan left out. */
	if (s->scan_truncated && s->n_ents < SINK_WINDOW / 2)
		scan_start(s);
	dispatch(s);
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

		if (e->state == E_UNLINKING || e->state == E_SKIPPED)
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
	char path[4096 + SINK_NAME_MAX + 2];
	int r;

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
	e->state = E_UNLINKING;
	snprintf(path, sizeof(path), "%s/%s", s->new_dir, e->name);
	e->fs.data = e;
	r = uv_fs_unlink(s->loop, &e->fs, path, unlink_done);
	if (r < 0) {
		log_err("sink: cannot retire %s: %s", path, uv_strerror(r));
		e->state = E_SKIPPED;
	} else {
		s->pending_reqs++;
	}
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

/* ---- Scanning outbox/new ---- */

static void scan_work(uv_work_t *w)
{
	struct scan *sc = w->data;
	size_t cap = 0;
	struct dirent *de;
	DIR *dir;

	dir = opendir(sc->sink->new_dir);
	if (!dir) {
		sc->err = -errno;
		return;
	}
	/* Keep the SINK_WINDOW smallest valid names; sort and cut when the
	 * array doubles, so memory stays bounded for any folder size. */
	while ((de = readdir(dir))) {
		char *n;

		if (!valid_name(de->d_name))
			continue;
		if (sc->n == cap) {
			if (cap >= 2 * SINK_WINDOW) {
				qsort(sc->names, sc->n, sizeof(char *), cmp_names);
				for (size_t i = SINK_WINDOW; i < sc->n; i++)
					free(sc->names[i]);
				sc->n = SINK_WINDOW;
				sc->truncated = true;
			} else {
				size_t ncap = cap ? cap * 2 : 64;
				char **p = realloc(sc->names, ncap * sizeof(char *));
				if (!p) {
					sc->err = -ENOMEM;
					break;
				}
				sc->names = p;
				cap = ncap;
			}
		}
		n = strdup(de->d_name);
		if (!n) {
			sc->err = -ENOMEM;
			break;
		}
		sc->names[sc->n++] = n;
	}
	closedir(dir);
	if (sc->n > 1)
		qsort(sc->names, sc->n, sizeof(char *), cmp_names);
	if (sc->n > SINK_WINDOW) {
		for (size_t i = SINK_WINDOW; i < sc->n; i++)
			free(sc->names[i]);
		sc->n = SINK_WINDOW;
		sc->truncated = true;
	}
	/* When each was written: the age of the oldest undelivered verdict. */
	sc->mtimes = calloc(sc->n ? sc->n : 1, sizeof(*sc->mtimes));
	for (size_t i = 0; sc->mtimes && i < sc->n; i++) {
		char path[4096 + SINK_NAME_MAX + 2];
		struct stat sb;

		snprintf(path, sizeof(path), "%s/%s", sc->sink->new_dir, sc->names[i]);
		if (stat(path, &sb) == 0)
			sc->mtimes[i] = (int64_t)sb.st_mtim.tv_sec * 1000 +
					sb.st_mtim.tv_nsec / 1000000;
	}
}

static void scan_free(struct scan *sc)
{
	for (size_t i = 0; i < sc->n; i++)
		free(sc->names[i]);
	free(sc->names);
	free(sc->mtimes);
	free(sc);
}

static struct entry *entry_new(struct sink *s, const char *name)
{
	struct entry *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->sink = s;
	e->name = strdup(name);
	e->key = strndup(name, strlen(name) - 5);
	if (!e->name || !e->key) {
		entry_free(e);
		return NULL;
	}
	e->state = E_IDLE;
	return e;
}

/* Merge a sorted scan into the window: add new names (while there is
 * room), drop idle entries that are no longer in the folder. */
static void scan_merge(struct sink *s, struct scan *sc)
{
	const char *last = sc->n ? sc->names[sc->n - 1] : NULL;
	struct entry **merged;
	size_t i = 0, j = 0, n = 0, cap = s->n_ents + sc->n;

	merged = malloc((cap ? cap : 1) * sizeof(*merged));
	if (!merged) {
		log_err("sink: out of memory merging a scan");
		return;
	}
	while (i < s->n_ents || j < sc->n) {
		int c;

		if (i == s->n_ents)
			c = 1;
		else if (j == sc->n)
			c = -1;
		else
			c = strcmp(s->ents[i]->name, sc->names[j]);
		if (c == 0) {
			if (sc->mtimes && sc->mtimes[j])
				s->ents[i]->mtime_ms = sc->mtimes[j];
			merged[n++] = s->ents[i++];
			j++;
		} else if (c < 0) {
			struct entry *e = s->ents[i++];
			/* Not listed: gone if the scan covered its name. */
			bool covered = !sc->truncated || (last && strcmp(e->name, last) < 0);
			if (covered && (e->state == E_IDLE || e->state == E_SKIPPED))
				entry_free(e);
			else
				merged[n++] = e;
		} else {
			struct entry *e = n < SINK_WINDOW ? entry_new(s, sc->names[j]) : NULL;
			if (e) {
				e->mtime_ms = sc->mtimes ? sc->mtimes[j] : 0;
				merged[n++] = e;
			}
			j++;
		}
	}
	free(s->ents);
	s->ents = merged;
	s->n_ents = n;
}

static void scan_done(uv_work_t *w, int status)
{
	struct scan *sc = w->data;
	struct sink *s = sc->sink;

	s->pending_reqs--;
	s->scanning = false;
	if (s->closing) {
		scan_free(sc);
		maybe_finish_close(s);
		return;
	}
	if (status == 0)
		status = sc->err;
	if (status < 0) {
		log_err("sink: cannot scan %s: %s", s->new_dir, strerror(-status));
	} else {
		s->scan_truncated = sc->truncated;
		scan_merge(s, sc);
	}
	scan_free(sc);
	if (s->scan_again) {
		s->scan_again = false;
		scan_start(s);
	}
	dispatch(s);
}

static void scan_start(struct sink *s)
{
	struct scan *sc;
	int r;

	if (s->closing || !s->backend)
		return;
	if (s->scanning) {
		s->scan_again = true;
		return;
	}
	sc = calloc(1, sizeof(*sc));
	if (!sc) {
		log_err("sink: out of memory starting a scan");
		return;
	}
	sc->sink = s;
	sc->work.data = sc;
	r = uv_queue_work(s->loop, &sc->work, scan_work, scan_done);
	if (r < 0) {
		log_err("sink: uv_queue_work: %s", uv_strerror(r));
		free(sc);
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

int sink_open(uv_loop_t *loop, const struct cfg_sink *cfg, const char *outbox_dir,
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
	if (strlen(outbox_dir) > 4000)
		return -ENAMETOOLONG;
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
	if (asprintf(&s->new_dir, "%s/new", outbox_dir) < 0) {
		s->new_dir = NULL;
		r = -ENOMEM;
		goto fail;
	}
	if (strcmp(kind, "webhook") == 0)
		s->backend = &sink_http_webhook;
	else if (strcmp(kind, "rabbitmq") == 0)
		s->backend = &sink_http_rabbitmq;
	else if (strcmp(kind, "amqp") == 0)
		s->backend = &sink_amqp;
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
	free(s->new_dir);
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
	/* One last fsync for unlinks that finished while closing. */
	if (s->fsync_dirty && !s->fsync_running)
		fsync_start(s);
	if (s->pending_reqs || s->open_handles || !s->backend_closed)
		return;
	cb = s->close_cb;
	data = s->close_data;
	free(s->new_dir);
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

		if (e->state == E_READING || e->state == E_UNLINKING)
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
