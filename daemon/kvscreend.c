/* kvscreend.c - the daemon: one libuv loop serving the HTTP API and the spool.
 *
 * Start-up: load the configuration and plugins (engine_open), size the
 * thread pool, open the outbox, the token file, the HTTP listeners and the
 * spool, then tell systemd READY=1.  Everything after that happens on the
 * loop thread, driven by these events:
 *   SIGHUP           reload: a new engine is built on the thread pool; if it
 *                    is complete it replaces the old one between requests
 *                    (screenings in flight keep theirs), else its file:line
 *                    errors are logged and the old one stays.
 *   SIGTERM, SIGINT  drain: stop accepting and stop the spool, let every
 *                    accepted screening finish and become durable, close
 *                    the outbox, exit 0.  A second signal exits at once
 *                    (what was answered is durable already).
 *   watchdog timer   WATCHDOG=1 every WATCHDOG_USEC/2 when systemd asks.
 */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#ifdef HAVE_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "amqp_intake.h"
#include "api.h"
#include "audit.h"
#include "digest.h"
#include "http.h"
#include "log.h"
#include "notify.h"
#include "outbox.h"
#include "pipeline.h"
#include "request.h"
#include "rescreen.h"
#include "sink.h"
#include "spool.h"
#include "token.h"
#include "workers.h"

#define DRAIN_DEADLINE_MS 60000
/* Screenings in flight with none finishing for this long: the thread pool
 * is stuck (a hung plugin on every worker, a stalled disk), and the
 * watchdog pings stop so that systemd restarts the daemon. */
#define STALL_MS 30000

struct daemon {
	uv_loop_t *loop;
	const char *config_path;
	struct engine *en;
	struct outbox *ob;
	struct cases *cs;
	struct rescreen *rs;
	struct audit *audit;
	struct api *api;
	struct http_server *srv;
	struct spool *spool;
	struct amqp_intake *amqp;	/* intake.amqp, or NULL */
	struct sink *sink;
	uv_signal_t sig_term, sig_int, sig_hup;
	uv_timer_t watchdog;
	unsigned long long wd_completed;
	uint64_t wd_progress_at;
	int wd_stalled;
	uv_timer_t deadline;
	/* reload */
	int reloading, reload_again;
	uv_work_t reload_work;
	struct engine *reload_en;
	char *reload_errors;
	size_t reload_errors_len;
	/* POST /v1/admin/reload callers waiting for the reload in progress
	 * (waiters) and for the one queued after it (waiters_next). */
	struct reload_waiters {
		struct http_req **v;
		size_t n, cap;
	} waiters, waiters_next;
	/* drain */
	int stopping;
	int pending_closes;
	int exit_code;
};

/* ---- helpers ---- */

/* Log every line of `text` as an error (configuration errors: file:line). */
static void log_lines(int level, const char *text)
{
	const char *p = text;

	while (p && *p) {
		const char *nl = strchr(p, '\n');
		int n = nl ? (int)(nl - p) : (int)strlen(p);

		if (n > 0)
			log_msg(level, "%.*s", n, p);
		p = nl ? nl + 1 : NULL;
	}
}

/* Create `dir` and its missing parents with `mode`. */
static int mkdir_p(const char *dir, mode_t mode)
{
	char buf[PATH_MAX];
	size_t len = strlen(dir);

	if (len == 0 || len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, dir, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int parent_dir(const char *path, char *out, size_t size)
{
	const char *slash = strrchr(path, '/');
	size_t n;

	if (!slash)
		return -ENOENT;
	n = (size_t)(slash - path);
	if (n == 0 || n >= size)
		return -ENAMETOOLONG;
	memcpy(out, path, n);
	out[n] = '\0';
	return 0;
}

static void http_limits_from_cfg(const struct kvs_cfg *cfg, struct http_limits *lim)
{
	const struct cfg_daemon *d = &cfg->daemon;

	http_limits_default(lim);
	lim->max_header_bytes = (size_t)d->max_header_bytes;
	lim->max_body = (size_t)cfg->limits.max_bytes;
	lim->header_timeout_ms = (unsigned)d->header_timeout_ms;
	lim->body_timeout_ms = (unsigned)d->body_timeout_ms;
	lim->idle_timeout_ms = (unsigned)d->idle_timeout_ms;
	lim->max_connections = (unsigned)d->max_connections;
	lim->max_conns_per_client = (unsigned)d->max_connections_per_client;
}

/* The token file: the configured one, or STATE_DIR/api-token (created). */
static int load_tokens(const struct kvs_cfg *cfg, struct token_set *ts)
{
	char path[PATH_MAX], err[512];
	int created = 0, rc;
	int own = !cfg->daemon.token_file || !*cfg->daemon.token_file;

	if (own) {
		if (snprintf(path, sizeof(path), "%s/api-token", cfg->daemon.state_dir) >=
		    (int)sizeof(path))
			return -ENAMETOOLONG;
	} else {
		snprintf(path, sizeof(path), "%s", cfg->daemon.token_file);
	}
	rc = token_load(path, own, ts, &created, err, sizeof(err));
	if (rc < 0) {
		log_err("%s", err);
		return rc;
	}
	if (created)
		log_notice("created the API token file %s (mode 0600): send its token as "
			   "'Authorization: Bearer TOKEN'", path);
	else
		log_info("API tokens from %s", path);
	return 0;
}

/* ---- the spool: files screened like API requests ---- */

struct spool_job {
	struct daemon *d;
	struct spool_item *item;
	struct engine *en;
	struct kvs_request *req;
	char digest[65];
	char *text;
};

static void spool_job_free(struct spool_job *j)
{
	free(j->text);
	request_unref(j->req);
	engine_unref(j->en);
	free(j);
}

static void spool_reject(struct spool_item *item, const char *code, const char *message,
			 const char *path)
{
	json_t *j = json_pack("{s:{s:s,s:s,s:s}}", "error", "code", code, "message", message,
			      "path", path);
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

	spool_finish(item, -EINVAL, text);
	free(text);
	json_decref(j);
}

static void on_spool_known_durable(void *data, int status)
{
	/* -ENOENT: the batch of the earlier screening failed; screen again later. */
	spool_finish(data, status < 0 ? -EAGAIN : 0, NULL);
}

/* The verdict of `id` exists or is queued: retire the file once it is durable. */
static void spool_finish_when_durable(struct daemon *d, struct spool_item *item, const char *id)
{
	if (outbox_when_durable(d->ob, id, on_spool_known_durable, item) < 0)
		spool_finish(item, -EAGAIN, NULL);
}

static void on_spool_durable(void *data, int status)
{
	struct spool_job *j = data;

	if (status < 0)
		log_err("spool: id %s: verdict not stored (%s); the file stays in incoming/",
			j->req->id, strerror(-status));
	spool_finish(j->item, status < 0 ? -EIO : 0, NULL);
	spool_job_free(j);
}

static void on_spool_verdict(void *data, struct verdict *v)
{
	struct spool_job *j = data;
	struct daemon *d = j->d;
	size_t len;
	int rc;

	api_count_verdict(d->api, v);
	if (!v || !(j->text = verdict_take_text(v, &len))) {
		spool_finish(j->item, -ENOMEM, NULL);
		spool_job_free(j);
		return;
	}
	rc = rescreen_store(d->rs, j->req, j->digest, v, j->text, len, on_spool_durable, j);
	if (rc == 0)
		return;
	if (rc == -EBUSY) {
		spool_finish(j->item, -EAGAIN, NULL);
	} else if (rc == -EEXIST) {
		/* Screened meanwhile through the API: done (or a conflict). */
		char stored[65];

		if (outbox_lookup(d->ob, j->req->id, stored) == 0 && strcmp(stored, j->digest) != 0)
			spool_reject(j->item, "conflict",
				     "a different request with this id was screened before", "/id");
		else
			spool_finish_when_durable(d, j->item, j->req->id);
	} else {
		spool_finish(j->item, -EIO, NULL);
	}
	spool_job_free(j);
}

static void on_spool_file(void *data, struct spool_item *item, const char *name,
			  const char *buf, size_t len)
{
	struct daemon *d = data;
	struct request_error err;
	struct spool_job *j;
	char stored[65];
	int rc;

	j = calloc(1, sizeof(*j));
	if (!j) {
		spool_finish(item, -ENOMEM, NULL);
		return;
	}
	j->d = d;
	j->item = item;
	j->en = engine_ref(d->en);
	rc = request_parse(buf, len, &j->en->cfg->limits, &j->req, &err);
	if (rc < 0) {
		log_notice("spool: %s: rejected: %s%s%s", name, err.path, err.path[0] ? ": " : "",
			   err.message);
		spool_reject(item, err.code[0] ? err.code : "invalid_request", err.message, err.path);
		spool_job_free(j);
		return;
	}
	if (digest_buffer(j->req->canonical, strlen(j->req->canonical), j->digest) < 0) {
		spool_finish(item, -EIO, NULL);
		spool_job_free(j);
		return;
	}
	if (outbox_lookup(d->ob, j->req->id, stored) == 0) {
		/* A retry after a crash between the outbox and the move to done/,
		 * or the same request still being made durable. */
		if (strcmp(stored, j->digest) == 0)
			spool_finish_when_durable(d, item, j->req->id);
		else
			spool_reject(item, "conflict",
				     "a different request with this id was screened before", "/id");
		spool_job_free(j);
		return;
	}
	rc = pipeline_submit(d->loop, j->en, j->req, on_spool_verdict, j);
	if (rc < 0) {
		spool_finish(item, rc, NULL);
		spool_job_free(j);
	}
}

/* ---- the AMQP intake: messages screened like spool files (amqp_intake.h) ---- */

struct amqp_job {
	struct daemon *d;
	struct amqp_intake_msg *msg;
	struct engine *en;
	struct kvs_request *req;
	char digest[65];
	char *text;
};

static void amqp_job_free(struct amqp_job *j)
{
	free(j->text);
	request_unref(j->req);
	engine_unref(j->en);
	free(j);
}

/* Dead-letter msg with the error, as JSON in x-kvscreen-error. */
static void amqp_reject(struct amqp_intake_msg *msg, const char *code, const char *message,
			const char *path)
{
	json_t *j = json_pack("{s:{s:s,s:s,s:s}}", "error", "code", code, "message", message,
			      "path", path);
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

	log_notice("intake: amqp: message rejected to the dead-letter exchange: %s%s%s (%s)", path,
		   path[0] ? ": " : "", message, code);
	if (text)
		amqp_intake_settle(msg, AMQP_INTAKE_REJECT, text);
	else
		amqp_intake_settle(msg, AMQP_INTAKE_REQUEUE, NULL);
	free(text);
	json_decref(j);
}

static void on_amqp_known_durable(void *data, int status)
{
	/* -ENOENT: the batch of the earlier screening failed; screen again later. */
	amqp_intake_settle(data, status < 0 ? AMQP_INTAKE_REQUEUE : AMQP_INTAKE_ACK, NULL);
}

/* The id is stored or queued with the same request: ack once it is durable. */
static void amqp_ack_when_durable(struct daemon *d, struct amqp_intake_msg *msg, const char *id)
{
	if (outbox_when_durable(d->ob, id, on_amqp_known_durable, msg) < 0)
		amqp_intake_settle(msg, AMQP_INTAKE_REQUEUE, NULL);
}

static void on_amqp_durable(void *data, int status)
{
	struct amqp_job *j = data;

	if (status < 0)
		log_err("intake: amqp: id %s: verdict not stored (%s); the message is requeued",
			j->req->id, strerror(-status));
	amqp_intake_settle(j->msg, status < 0 ? AMQP_INTAKE_REQUEUE : AMQP_INTAKE_ACK, NULL);
	amqp_job_free(j);
}

static void on_amqp_verdict(void *data, struct verdict *v)
{
	struct amqp_job *j = data;
	struct daemon *d = j->d;
	char stored[65];
	size_t len;
	int rc;

	api_count_verdict(d->api, v);
	if (!v || !d->ob || !(j->text = verdict_take_text(v, &len))) {
		amqp_intake_settle(j->msg, AMQP_INTAKE_REQUEUE, NULL);
		amqp_job_free(j);
		return;
	}
	/* Through the case journal, like the API and the spool: an AMQP
	 * request is an open case that is screened again on list changes. */
	rc = rescreen_store(d->rs, j->req, j->digest, v, j->text, len, on_amqp_durable, j);
	if (rc == 0)
		return;
	if (rc == -EEXIST) {
		/* Screened meanwhile (another intake, a redelivery): done or a conflict. */
		if (outbox_lookup(d->ob, j->req->id, stored) == 0 && strcmp(stored, j->digest) != 0)
			amqp_reject(j->msg, "conflict",
				    "a different request with this id was screened before", "/id");
		else
			amqp_ack_when_durable(d, j->msg, j->req->id);
	} else {
		/* -ENOSPC (disk low), -ESHUTDOWN, -ENOMEM: transient. */
		log_warn("intake: amqp: id %s: the outbox refused the verdict (%s); requeued",
			 j->req->id, strerror(-rc));
		amqp_intake_settle(j->msg, AMQP_INTAKE_REQUEUE, NULL);
	}
	amqp_job_free(j);
}

/* A request without "id" takes the message's message_id: parse it again
 * with that id added.  Returns request_parse()'s result. */
static int amqp_parse_with_id(const char *body, size_t len, const char *message_id,
			      const struct request_limits *lim, struct kvs_request **out,
			      struct request_error *err)
{
	json_t *root = json_loadb(body, len, 0, NULL);
	char *text = NULL;
	int rc = -EINVAL;

	if (json_is_object(root) && !json_object_get(root, "id") &&
	    json_object_set_new(root, "id", json_string(message_id)) == 0 &&
	    (text = json_dumps(root, JSON_COMPACT)) != NULL)
		rc = request_parse(text, strlen(text), lim, out, err);
	free(text);
	json_decref(root);
	return rc;
}

static void on_amqp_message(void *data, struct amqp_intake_msg *msg, const char *message_id,
			    const char *body, size_t len)
{
	struct daemon *d = data;
	struct request_error err;
	struct amqp_job *j;
	char stored[65];
	int rc;

	if (d->stopping || !d->ob) {
		amqp_intake_settle(msg, AMQP_INTAKE_REQUEUE, NULL);
		return;
	}
	j = calloc(1, sizeof(*j));
	if (!j) {
		amqp_intake_settle(msg, AMQP_INTAKE_REQUEUE, NULL);
		return;
	}
	j->d = d;
	j->msg = msg;
	j->en = engine_ref(d->en);
	rc = request_parse(body, len, &j->en->cfg->limits, &j->req, &err);
	if (rc == -EINVAL && message_id && strcmp(err.path, "/id") == 0) {
		struct request_error err2;

		if (amqp_parse_with_id(body, len, message_id, &j->en->cfg->limits, &j->req,
				       &err2) == 0)
			rc = 0;
		else if (strcmp(err2.path, "/id") != 0 || outbox_id_valid(message_id))
			err = err2;
	}
	if (rc == -ENOMEM) {
		amqp_intake_settle(msg, AMQP_INTAKE_REQUEUE, NULL);
		amqp_job_free(j);
		return;
	}
	if (rc < 0) {
		amqp_reject(msg, err.code[0] ? err.code : "invalid_request", err.message, err.path);
		amqp_job_free(j);
		return;
	}
	if (digest_buffer(j->req->canonical, strlen(j->req->canonical), j->digest) < 0) {
		amqp_intake_settle(msg, AMQP_INTAKE_REQUEUE, NULL);
		amqp_job_free(j);
		return;
	}
	if (outbox_lookup(d->ob, j->req->id, stored) == 0) {
		/* A redelivery after a crash or a lost ack, or the same request
		 * through another intake. */
		if (strcmp(stored, j->digest) == 0)
			amqp_ack_when_durable(d, msg, j->req->id);
		else
			amqp_reject(msg, "conflict",
				    "a different request with this id was screened before", "/id");
		amqp_job_free(j);
		return;
	}
	rc = pipeline_submit(d->loop, j->en, j->req, on_amqp_verdict, j);
	if (rc < 0) {
		amqp_intake_settle(msg, AMQP_INTAKE_REQUEUE, NULL);
		amqp_job_free(j);
	}
}

/* ---- reload ---- */

static void reload_work(uv_work_t *w)
{
	struct daemon *d = w->data;
	FILE *f = open_memstream(&d->reload_errors, &d->reload_errors_len);
	struct cfg_errors e = { .out = f ? f : stderr };

	d->reload_en = NULL;
	engine_open(d->config_path, &d->reload_en, &e);
	if (f)
		fclose(f);
}

static void start_reload(struct daemon *d);

static int waiters_push(struct reload_waiters *w, struct http_req *r)
{
	if (w->n == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 4;
		struct http_req **v = realloc(w->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		w->v = v;
		w->cap = cap;
	}
	w->v[w->n++] = r;
	return 0;
}

/* Answer everybody waiting for the reload that just ended. */
static void waiters_answer(struct daemon *d, const char *errors)
{
	for (size_t i = 0; i < d->waiters.n; i++)
		api_reload_answer(d->waiters.v[i], d->en->digest, errors);
	d->waiters.n = 0;
}

static void reload_done(uv_work_t *w, int status)
{
	struct daemon *d = w->data;
	struct engine *en = d->reload_en;
	struct token_set ts;
	char *errors = d->reload_errors;
	int tcp;

	d->reloading = 0;
	d->reload_en = NULL;
	d->reload_errors = NULL;
	if (errors)
		log_lines(KVS_LOG_ERR, errors);
	if (d->stopping) {
		engine_unref(en);
		waiters_answer(d, "the daemon is stopping");
		free(errors);
		return;
	}
	/* TCP (which needs tokens) stays as it was started until a restart. */
	tcp = d->srv && d->en->cfg->daemon.listen && *d->en->cfg->daemon.listen;

	memset(&ts, 0, sizeof(ts));
	if (!en || (tcp && load_tokens(en->cfg, &ts) < 0)) {
		engine_unref(en);
		log_err("reload failed: the running configuration stays in effect (policy %.12s)",
			d->en->digest);
		notify_sendf("READY=1\nSTATUS=reload failed; running policy %.12s", d->en->digest);
		api_set_state(d->api, API_READY);
		waiters_answer(d, errors && *errors ? errors : "the new configuration was refused; see the log");
	} else {
		const struct cfg_daemon *o = &d->en->cfg->daemon, *n = &en->cfg->daemon;

		if (strcmp(o->listen, n->listen) || strcmp(o->socket, n->socket) ||
		    strcmp(o->state_dir, n->state_dir) || o->threads != n->threads)
			log_warn("reload: listen, socket, state_dir and threads take effect "
				 "only after a restart");
		if (d->srv) {
			struct http_limits lim;

			if (tcp)
				api_set_tokens(d->api, &ts);
			http_limits_from_cfg(en->cfg, &lim);
			http_server_set_limits(d->srv, &lim);
		}
		explicit_bzero(&ts, sizeof(ts));
		log_set_level(log_level_parse(n->log_level));
		api_set_max_inflight(d->api, (unsigned)n->max_inflight);
		outbox_set_syncfs(d->ob, n->outbox_syncfs);
		outbox_set_min_free(d->ob, (unsigned long long)n->outbox_min_free_mb << 20);
		api_set_engine(d->api, en);
		engine_unref(d->en);
		d->en = en;
		/* A new policy digest (also new list files) re-screens the open
		 * cases in the background. */
		rescreen_set_limits(d->rs, (double)n->rescreen_rate, n->case_retention_days,
				    4 * (unsigned)o->threads);
		rescreen_set_engine(d->rs, en);
		log_notice("reloaded %s: policy %.12s, %zu plugins", d->config_path, en->digest,
			   en->plugins->n);
		notify_sendf("READY=1\nSTATUS=ready; policy %.12s", en->digest);
		api_set_state(d->api, API_READY);
		waiters_answer(d, NULL);
	}
	free(errors);
	if (d->reload_again) {
		struct reload_waiters t = d->waiters;

		d->waiters = d->waiters_next;
		d->waiters_next = t;
		d->reload_again = 0;
		start_reload(d);
	}
}

static void start_reload(struct daemon *d)
{
	if (d->stopping)
		return;
	if (d->reloading) {
		d->reload_again = 1;
		return;
	}
	log_notice("reloading %s", d->config_path);
	notify_send("RELOADING=1\nSTATUS=reloading");
	api_set_state(d->api, API_RELOADING);
	d->reloading = 1;
	d->reload_work.data = d;
	if (uv_queue_work(d->loop, &d->reload_work, reload_work, reload_done) < 0) {
		d->reloading = 0;
		log_err("reload: cannot queue the work");
		api_set_state(d->api, API_READY);
		notify_send("READY=1");
		waiters_answer(d, "the reload could not be started");
	}
}

/* POST /v1/admin/reload: the answer waits for a reload that starts after
 * the request, so it always reflects the files as they are now. */
static void on_reload_request(void *data, struct http_req *r)
{
	struct daemon *d = data;

	if (d->stopping) {
		api_reload_answer(r, d->en->digest, "the daemon is stopping");
		return;
	}
	if (waiters_push(d->reloading ? &d->waiters_next : &d->waiters, r) < 0) {
		api_reload_answer(r, d->en->digest, "out of memory");
		return;
	}
	start_reload(d);
}

/* ---- drain ---- */

static void close_walk(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void drain_step(struct daemon *d);

static void close_own_handles(struct daemon *d);

static void on_sink_closed(void *data)
{
	struct daemon *d = data;

	d->sink = NULL;
	close_own_handles(d);
}

static void on_cases_closed(void *data)
{
	struct daemon *d = data;

	log_info("case journal closed");
	/* Deliveries in flight are aborted; their entries stay in outbox/new
	 * and go out after the next start. */
	if (d->sink) {
		sink_close(d->sink, on_sink_closed, d);
		return;
	}
	close_own_handles(d);
}

static void on_outbox_closed(void *data)
{
	struct daemon *d = data;

	d->ob = NULL;
	log_info("outbox closed");
	if (d->cs) {
		cases_shutdown(d->cs, on_cases_closed, d);
		return;
	}
	/* Deliveries in flight are aborted; their messages stay after the
	 * delivery cursor and go out after the next start.  The sink makes no
	 * call into the outbox once sink_close() has begun. */
	if (d->sink) {
		sink_close(d->sink, on_sink_closed, d);
		return;
	}
	close_own_handles(d);
}

static void close_own_handles(struct daemon *d)
{
	/* Close our own handles; uv_run returns once whatever else is still
	 * running (a plugin past its budget) has finished. */
	uv_close((uv_handle_t *)&d->sig_term, NULL);
	uv_close((uv_handle_t *)&d->sig_int, NULL);
	uv_close((uv_handle_t *)&d->sig_hup, NULL);
	uv_close((uv_handle_t *)&d->watchdog, NULL);
	uv_close((uv_handle_t *)&d->deadline, NULL);
}

static void on_part_closed(void *data)
{
	struct daemon *d = data;

	if (--d->pending_closes == 0)
		drain_step(d);
}

static void on_http_closed(void *data)
{
	struct daemon *d = data;

	d->srv = NULL;
	api_set_http(d->api, NULL);
	on_part_closed(d);
}

static void on_spool_closed(void *data)
{
	struct daemon *d = data;

	d->spool = NULL;
	on_part_closed(d);
}

static void on_amqp_closed(void *data)
{
	struct daemon *d = data;

	d->amqp = NULL;
	on_part_closed(d);
}

static void on_rescreen_stopped(void *data)
{
	struct daemon *d = data;

	log_info("intake drained, re-screening stopped; closing the outbox");
	if (d->audit) {
		api_set_audit(d->api, NULL, "the daemon is stopping");
		audit_close(d->audit, NULL, NULL);
		d->audit = NULL;
	}
	outbox_close(d->ob, on_outbox_closed, d);
}

/* Intake is closed and every accepted screening answered: let re-screens
 * in flight finish, then flush the outbox and the case journal. */
static void drain_step(struct daemon *d)
{
	rescreen_stop(d->rs, on_rescreen_stopped, d);
}

static void on_deadline(uv_timer_t *t)
{
	log_err("drain did not finish in %d s; exiting (answered verdicts are durable)",
		DRAIN_DEADLINE_MS / 1000);
	_exit(1);
}

static void start_drain(struct daemon *d, const char *why)
{
	if (d->stopping) {
		log_warn("%s again: exiting now", why);
		_exit(1);
	}
	d->stopping = 1;
	log_notice("%s: stopping; finishing %u screenings in flight", why, api_inflight(d->api));
	notify_send("STOPPING=1\nSTATUS=stopping");
	api_set_state(d->api, API_STOPPING);
	uv_timer_start(&d->deadline, on_deadline, DRAIN_DEADLINE_MS, 0);
	uv_unref((uv_handle_t *)&d->deadline);
	uv_timer_stop(&d->watchdog);
	d->pending_closes = 1;  /* held until both closes are started */
	if (d->srv) {
		d->pending_closes++;
		http_server_close(d->srv, on_http_closed, d);
	}
	if (d->spool) {
		d->pending_closes++;
		spool_close(d->spool, on_spool_closed, d);
	}
	if (d->amqp) {
		d->pending_closes++;
		amqp_intake_close(d->amqp, on_amqp_closed, d);
	}
	on_part_closed(d);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct daemon *d = h->data;

	switch (signum) {
	case SIGHUP:
		start_reload(d);
		break;
	case SIGTERM:
		start_drain(d, "SIGTERM");
		break;
	case SIGINT:
		start_drain(d, "SIGINT");
		break;
	}
}

static void on_watchdog(uv_timer_t *t)
{
	struct daemon *d = t->data;
	unsigned long long done = api_completed(d->api);
	uint64_t now = uv_now(d->loop);

	/* The loop is alive, but is work moving? */
	if (done != d->wd_completed || api_inflight(d->api) == 0) {
		d->wd_completed = done;
		d->wd_progress_at = now;
		d->wd_stalled = 0;
	} else if (now - d->wd_progress_at > STALL_MS) {
		if (!d->wd_stalled)
			log_err("no screening finished in %d s with %u in flight: "
				"withholding the watchdog ping", STALL_MS / 1000, api_inflight(d->api));
		d->wd_stalled = 1;
		return;
	}
	notify_send("WATCHDOG=1");
}

static void on_outbox_batch(void *data)
{
	struct daemon *d = data;

	if (d->sink)
		sink_kick(d->sink);
}

/* The receiver confirmed n messages: lower the outbox depth. */
static void on_sink_retired(void *data, size_t n)
{
	struct daemon *d = data;

	if (d->ob)
		outbox_retired(d->ob, n);
}

static void sink_metrics(void *data, FILE *f)
{
	struct daemon *d = data;
	struct sink_stats st;

	if (d->amqp)
		amqp_intake_metrics(d->amqp, f);
	if (!d->sink)
		return;
	sink_stats(d->sink, &st);
	fprintf(f, "# HELP kvscreend_outbox_backlog Verdicts in the outbox not yet delivered.\n"
		   "# TYPE kvscreend_outbox_backlog gauge\n"
		   "kvscreend_outbox_backlog %zu\n"
		   "# HELP kvscreend_outbox_oldest_age_seconds Age of the oldest verdict not yet delivered (0 when none).\n"
		   "# TYPE kvscreend_outbox_oldest_age_seconds gauge\n"
		   "kvscreend_outbox_oldest_age_seconds %.3f\n"
		   "# HELP kvscreend_sink_failing 1 while deliveries to the queue fail.\n"
		   "# TYPE kvscreend_sink_failing gauge\n"
		   "kvscreend_sink_failing %d\n"
		   "# HELP kvscreend_sink_outages_total Times delivery to the queue started failing.\n"
		   "# TYPE kvscreend_sink_outages_total counter\n"
		   "kvscreend_sink_outages_total %llu\n",
		d->ob ? outbox_depth(d->ob) : (size_t)0, st.oldest_age, st.failing, st.outages);
	fprintf(f, "# HELP kvscreend_sink_delivered_total Verdicts delivered and confirmed by the queue.\n"
		   "# TYPE kvscreend_sink_delivered_total counter\n"
		   "kvscreend_sink_delivered_total %llu\n"
		   "# HELP kvscreend_sink_failures_total Failed delivery attempts.\n"
		   "# TYPE kvscreend_sink_failures_total counter\n"
		   "kvscreend_sink_failures_total %llu\n"
		   "# HELP kvscreend_sink_pending Verdicts waiting for delivery.\n"
		   "# TYPE kvscreend_sink_pending gauge\n"
		   "kvscreend_sink_pending %llu\n",
		st.delivered, st.failures, st.pending);
}

/* ---- start-up ---- */

static int open_listeners(struct daemon *d)
{
	const struct kvs_cfg *cfg = d->en->cfg;
	const struct cfg_daemon *dc = &cfg->daemon;
	struct http_limits lim;
	int rc;

	http_limits_from_cfg(cfg, &lim);
	rc = http_server_new(d->loop, &lim, api_handle, d->api, &d->srv);
	if (rc < 0)
		return rc;
	api_set_http(d->api, d->srv);
	if (dc->listen && *dc->listen) {
		rc = http_server_listen_tcp(d->srv, dc->listen);
		if (rc < 0) {
			log_err("%s: daemon.listen \"%s\": %s", d->config_path, dc->listen,
				uv_strerror(rc));
			return rc;
		}
		/* The bound port, also when the configuration asked for port 0. */
		log_notice("listening on http://%.*s:%d (bearer token required)",
			 (int)(strrchr(dc->listen, ':') - dc->listen), dc->listen,
			 http_server_port(d->srv));
	}
	if (dc->socket && *dc->socket) {
		char dir[PATH_MAX];

		if (parent_dir(dc->socket, dir, sizeof(dir)) == 0 && mkdir_p(dir, 0755) < 0)
			log_warn("cannot create %s: %s", dir, strerror(errno));
		rc = http_server_listen_unix(d->srv, dc->socket, dc->socket_perm);
		if (rc < 0) {
			log_err("%s: daemon.socket \"%s\": %s", d->config_path, dc->socket,
				uv_strerror(rc));
			return rc;
		}
		if (dc->socket_group && *dc->socket_group) {
			struct group *g = getgrnam(dc->socket_group);

			if (!g || chown(dc->socket, (uid_t)-1, g->gr_gid) < 0) {
				log_err("%s: daemon.socket_group \"%s\": %s", d->config_path,
					dc->socket_group, g ? strerror(errno) : "no such group");
				return -EINVAL;
			}
		}
		log_notice("listening on unix:%s (mode %04o)", dc->socket, dc->socket_perm);
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: kvscreend [-c FILE] [--check] [--help] [--version]\n"
		"Screen knowledge-security requests from the HTTP API and the spool.\n\n"
		"  -c, --config FILE  configuration file (default: $KVSCREEND_CONF or %s)\n"
		"      --check        validate the configuration and plugins, then exit\n"
		"  -h, --help         show this help\n"
		"  -V, --version      show the version\n",
		KVS_SYSCONFDIR "/kvscreend.conf");
}

static void set_threadpool_size(long long threads)
{
	char buf[32];

	/* libuv reads this when the pool is first used, which is later. */
	snprintf(buf, sizeof(buf), "%lld", threads > 0 ? threads : 4);
	setenv("UV_THREADPOOL_SIZE", buf, 1);
}

#ifdef HAVE_JEMALLOC
/* jemalloc's options for the daemon (MALLOC_CONF still adds to them): a
 * background thread returns freed pages to the kernel, so the memory of
 * loading the lists (at start and at each reload) does not stay resident
 * while the daemon idles, and purging is off the screening threads. */
const char *malloc_conf = "background_thread:true";
#endif

/* The allocator the daemon runs on, for --version and the ready line. */
static const char *allocator(void)
{
#ifdef HAVE_JEMALLOC
	static char name[64];
	const char *v = NULL;
	size_t len = sizeof(v);

	if (!name[0]) {
		if (mallctl("version", &v, &len, NULL, 0) != 0 || !v)
			v = "(version unknown)";
		/* "5.3.0-0-g54eaed1d..." -> "5.3.0" */
		snprintf(name, sizeof(name), "jemalloc %.*s", (int)strcspn(v, "-"), v);
	}
	return name;
#else
	return "glibc malloc";
#endif
}

/* Parse the command line into d->config_path and *check.  Returns -1 to
 * go on, or the exit status (after --help, --version or a usage error). */
static int parse_args(int argc, char **argv, struct daemon *d, int *check)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			d->config_path = optarg;
			break;
		case 'k':
			*check = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("kvscreend %s (%s)\n", PACKAGE_VERSION, allocator());
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (!d->config_path)
		d->config_path = cfg_default_path();
	return -1;
}

/* The stores of the state folder: the outbox (with the verdict store), the
 * case journal and the re-screener on them.  0, or -1 (logged). */
static int open_stores(struct daemon *d)
{
	const struct kvs_cfg *cfg = d->en->cfg;
	char err[PATH_MAX + 128];
	int rc = mkdir_p(cfg->daemon.state_dir, 0750);

	if (rc < 0) {
		log_err("%s: daemon.state_dir %s: %s", d->config_path, cfg->daemon.state_dir,
			strerror(-rc));
		return -1;
	}
	rc = outbox_open(d->loop, cfg->daemon.state_dir, &d->ob);
	if (rc < 0) {
		log_err("outbox in %s: %s", cfg->daemon.state_dir, strerror(-rc));
		return -1;
	}
	outbox_set_notify(d->ob, on_outbox_batch, d);
	outbox_set_syncfs(d->ob, cfg->daemon.outbox_syncfs);
	outbox_set_min_free(d->ob, (unsigned long long)cfg->daemon.outbox_min_free_mb << 20);
	rc = cases_open(d->loop, cfg->daemon.state_dir, &d->cs, err, sizeof(err));
	if (rc < 0) {
		log_err("case journal: %s", err);
		return -1;
	}
	rc = rescreen_new(d->loop, d->ob, d->cs, &d->rs);
	if (rc < 0) {
		log_err("re-screening: %s", strerror(-rc));
		return -1;
	}
	rescreen_set_limits(d->rs, (double)cfg->daemon.rescreen_rate, cfg->daemon.case_retention_days,
			    4 * (unsigned)cfg->daemon.threads);
	return 0;
}

/* The API (with its tokens), the officers' audit log and the sink.  A
 * broken audit chain stops decisions (503 with the reason), not screening.
 * 0, or -1 (logged). */
static int open_api(struct daemon *d)
{
	const struct kvs_cfg *cfg = d->en->cfg;
	struct token_set ts = { .n = 0 };
	char err[1024];
	int rc;

	if (cfg->daemon.listen && *cfg->daemon.listen && load_tokens(cfg, &ts) < 0)
		return -1;
	rc = api_new(d->loop, d->en, d->ob, &ts, (unsigned)cfg->daemon.max_inflight, &d->api);
	explicit_bzero(&ts, sizeof(ts));
	if (rc < 0)
		return -1;
	api_set_cases(d->api, d->cs, d->rs);
	api_set_reload_cb(d->api, on_reload_request, d);
	rc = audit_open(d->loop, cfg->daemon.state_dir, &d->audit, err, sizeof(err));
	if (rc == -EBADMSG) {
		log_err("audit log: %s; officer decisions are refused until it is repaired", err);
		api_set_audit(d->api, NULL, err);
	} else if (rc < 0) {
		log_err("audit log: %s", err);
		return -1;
	} else {
		api_set_audit(d->api, d->audit, NULL);
	}
	rc = sink_open(d->loop, &cfg->sink, d->ob, &d->sink);
	if (rc < 0) {
		log_err("sink (%s): %s", cfg->sink.kind, strerror(-rc));
		return -1;
	}
	sink_set_retired_cb(d->sink, on_sink_retired, d);
	api_set_metrics_cb(d->api, sink_metrics, d);
	return 0;
}

/* The intake: HTTP listeners, the spool folder and the AMQP consumer.
 * 0, or -1 (logged). */
static int open_intake(struct daemon *d)
{
	const struct kvs_cfg *cfg = d->en->cfg;
	char spool_dir[PATH_MAX];
	int rc;

	if (open_listeners(d) < 0)
		return -1;
	snprintf(spool_dir, sizeof(spool_dir), "%s/spool", cfg->daemon.state_dir);
	rc = spool_open(d->loop, spool_dir, (size_t)cfg->limits.max_bytes,
			(unsigned)cfg->daemon.spool_rescan_ms, (unsigned)cfg->daemon.max_inflight,
			on_spool_file, d, &d->spool);
	if (rc < 0) {
		log_err("spool %s: %s", spool_dir, strerror(-rc));
		return -1;
	}
	if (*cfg->intake_amqp.url) {
		rc = amqp_intake_open(d->loop, &cfg->intake_amqp, (size_t)cfg->limits.max_bytes,
				      on_amqp_message, d, &d->amqp);
		if (rc < 0) {
			log_err("intake.amqp: %s", strerror(-rc));
			return -1;
		}
	}
	return 0;
}

/* Signals (TERM and INT stop, HUP reloads), the stop deadline and the
 * systemd watchdog. */
static void start_signals(struct daemon *d)
{
	uint64_t wd = notify_watchdog_interval_ms();

	uv_signal_init(d->loop, &d->sig_term);
	uv_signal_init(d->loop, &d->sig_int);
	uv_signal_init(d->loop, &d->sig_hup);
	d->sig_term.data = d->sig_int.data = d->sig_hup.data = d;
	uv_signal_start(&d->sig_term, on_signal, SIGTERM);
	uv_signal_start(&d->sig_int, on_signal, SIGINT);
	uv_signal_start(&d->sig_hup, on_signal, SIGHUP);
	uv_timer_init(d->loop, &d->deadline);
	uv_timer_init(d->loop, &d->watchdog);
	d->watchdog.data = d;
	d->wd_progress_at = uv_now(d->loop);
	if (wd)
		uv_timer_start(&d->watchdog, on_watchdog, wd, wd);
}

/* What is not a loop handle. */
static void free_daemon(struct daemon *d)
{
	api_free(d->api);
	rescreen_free(d->rs);
	cases_free(d->cs);
	free(d->waiters.v);
	free(d->waiters_next.v);
	engine_unref(d->en);
}

/* Start-up failed: close what was opened and run the loop until the
 * closes are done. */
static void close_after_failure(struct daemon *d)
{
	if (d->spool)
		spool_close(d->spool, NULL, NULL);
	if (d->amqp)
		amqp_intake_close(d->amqp, NULL, NULL);
	if (d->srv)
		http_server_close(d->srv, NULL, NULL);
	if (d->audit)
		audit_close(d->audit, NULL, NULL);
	if (d->ob)
		outbox_close(d->ob, NULL, NULL);
	if (d->sink)
		sink_close(d->sink, NULL, NULL);
	uv_run(d->loop, UV_RUN_DEFAULT);
	uv_walk(d->loop, close_walk, NULL);
	uv_run(d->loop, UV_RUN_DEFAULT);
	uv_loop_close(d->loop);
}

int main(int argc, char **argv)
{
	struct daemon d = { .exit_code = 0 };
	struct cfg_errors e = { .out = stderr };
	uv_loop_t loop;
	int check = 0, rc;

	/* Before any thread exists (libcurl's requirement). */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		fprintf(stderr, "kvscreend: curl_global_init failed\n");
		return 1;
	}
	rc = parse_args(argc, argv, &d, &check);
	if (rc >= 0)
		return rc;
	if (engine_open(d.config_path, &d.en, &e) != 0) {
		fprintf(stderr, "kvscreend: %s: configuration not valid\n", d.config_path);
		return 1;
	}
	if (check) {
		printf("configuration OK (policy %s, %zu plugins)\n", d.en->digest, d.en->plugins->n);
		engine_unref(d.en);
		return 0;
	}
	log_set_level(log_level_parse(d.en->cfg->daemon.log_level));
	set_threadpool_size(d.en->cfg->daemon.threads);
	signal(SIGPIPE, SIG_IGN);
	if (uv_loop_init(&loop) < 0)
		return 1;
	d.loop = &loop;
	if (open_stores(&d) < 0 || open_api(&d) < 0 || open_intake(&d) < 0) {
		close_after_failure(&d);
		free_daemon(&d);
		curl_global_cleanup();
		return 1;
	}
	start_signals(&d);
	api_set_state(d.api, API_READY);
	/* Resume a re-screen a crash or a stop interrupted, or start one if
	 * the policy changed while the daemon was down. */
	rescreen_set_engine(d.rs, d.en);
	log_notice("kvscreend %s ready: policy %.12s, %zu plugins, %lld worker threads, %s",
		   PACKAGE_VERSION, d.en->digest, d.en->plugins->n, d.en->cfg->daemon.threads,
		   allocator());
	notify_sendf("READY=1\nSTATUS=ready; policy %.12s", d.en->digest);

	uv_run(&loop, UV_RUN_DEFAULT);

	free_daemon(&d);
	if (uv_loop_close(&loop) < 0)
		log_warn("the loop still had handles at exit");
	workers_shutdown();
	log_notice("stopped");
	curl_global_cleanup();
	return d.exit_code;
}
