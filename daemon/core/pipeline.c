/* pipeline.c - runs the plugins of one request on the screening workers and builds its verdict.
 *
 * Ownership: a job owns one request reference and one engine reference for
 * as long as any of its plugin runs is still executing, even after the
 * verdict went out, because a plugin past its budget cannot be stopped and
 * still reads the request and its own state.  All job bookkeeping happens
 * on the loop thread (after_work callbacks and the budget timer); worker
 * threads only run screen() into the run's own report.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "digest.h"
#include "log.h"
#include "pipeline.h"
#include "policy.h"
#include "workers.h"

struct run {
	struct workers_job work;
	struct job *job;
	struct plugin *p;
	struct kvs_report rep;
	uint64_t start_ns;     /* submission (loop thread) */
	uint64_t deadline_ns;  /* start_ns + budget */
	uint64_t run_ns, end_ns; /* screen() entry and return (worker) */
	int rc;
	int finished;        /* screen() returned (after_work ran) */
	int timed_out;       /* budget spent before it returned */
};

struct job {
	uv_loop_t *loop;
	struct engine *en;
	struct kvs_request *req;
	pipeline_done_cb cb;
	void *data;
	uv_timer_t timer;
	char screened_at[40];
	size_t n_runs, n_running;
	int completed;       /* verdict delivered */
	int timer_closed;
	struct run runs[];
};

/* ---- Engine: one configuration generation ---- */

int engine_open(const char *config_path, struct engine **out, struct cfg_errors *e)
{
	struct engine *en;
	char err[1024];
	int errors;

	*out = NULL;
	en = calloc(1, sizeof(*en));
	if (!en) {
		cfg_error(e, config_path, 0, "out of memory");
		return 1;
	}
	errors = cfg_load(config_path, &en->cfg, e);
	if (!errors)
		errors = plugin_set_load(en->cfg, &en->plugins, e);
	if (!errors && digest_files(en->cfg->files, en->cfg->n_files, en->digest, err,
				    sizeof(err)) < 0) {
		cfg_error(e, NULL, 0, "%s", err);
		errors = 1;
	}
	if (errors) {
		plugin_set_free(en->plugins);
		cfg_free(en->cfg);
		free(en);
		return errors;
	}
	en->refs = 1;
	*out = en;
	return 0;
}

struct engine *engine_ref(struct engine *en)
{
	en->refs++;
	return en;
}

void engine_unref(struct engine *en)
{
	if (!en || --en->refs > 0)
		return;
	plugin_set_free(en->plugins);
	cfg_free(en->cfg);
	free(en);
}

/* ---- Verdict ---- */

static void rfc3339_now(char *buf, size_t size)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	tm.tm_year %= 10000;
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (int)(ts.tv_nsec / 1000000) % 1000);
}

/* A finding of the host's own about a plugin run (or the lack of one):
 * medium, so the request needs at least review.  NULL on ENOMEM. */
static struct finding *host_finding(struct verdict *v, const char *plugin, const char *rule,
				    const char *title, const char *rationale)
{
	struct finding *f = arena_zalloc(&v->arena, sizeof(*f));

	if (!f || !(f->rationale = arena_strndup(&v->arena, rationale, strlen(rationale))))
		return NULL;
	f->plugin = plugin;
	f->rule = rule;
	f->title = title;
	f->severity = KVS_SEV_MEDIUM;
	f->action = "Screen the request by hand, or screen it again once the cause is fixed "
		    "(see the daemon log)";
	return f;
}

static const char *run_status(const struct run *r)
{
	if (r->timed_out)
		return "timeout";
	if (r->rc != 0 || r->rep.invalid)
		return "error";
	return "ok";
}

/* Appends host finding f (NULL: out of memory) and counts it. */
static int add_host(struct verdict *v, const struct policy *pol, struct policy_result *pr,
		    struct finding *f)
{
	if (!f)
		return -1;
	v->findings[v->n_findings++] = f;
	policy_add_finding(pol, pr, f->severity);
	return 0;
}

/* The verdict of a finished job (its text is written when a consumer takes
 * it); 0, or -1 when out of memory (v is then cleared). */
static int build_verdict(struct job *job, struct verdict *v)
{
	const struct policy *pol = &job->en->cfg->policy;
	struct policy_result pr;
	size_t cap = 1;
	char msg[512];

	memset(v, 0, sizeof(*v));
	v->request_id = job->req->id;
	v->screened_at = job->screened_at;
	v->policy = job->en->digest;
	/* Room for every plugin finding and two host findings per run. */
	for (size_t i = 0; i < job->n_runs; i++)
		cap += job->runs[i].rep.n_findings + 2;
	v->findings = arena_alloc(&v->arena, cap * sizeof(*v->findings));
	v->plugins = arena_alloc(&v->arena, (job->n_runs + 1) * sizeof(*v->plugins));
	if (!v->findings || !v->plugins)
		goto nomem;
	policy_result_init(&pr);
	for (size_t i = 0; i < job->n_runs; i++) {
		struct run *r = &job->runs[i];
		const char *name = r->p->desc->name;
		const char *status = run_status(r);
		uint64_t took = r->finished ? r->end_ns - r->run_ns : r->deadline_ns - r->start_ns;

		v->plugins[v->n_plugins++] = (struct verdict_plugin){
			.name = name, .version = r->p->desc->version, .status = status,
			.duration_us = (long long)(took / 1000),
			.lists_missing = r->p->ctx.lists_missing,
		};
		if (strcmp(status, "ok") != 0) {
			if (r->timed_out)
				snprintf(msg, sizeof(msg), "plugin %s did not finish within its budget of %lld ms; its findings are unknown, so the request needs review",
					 name, r->p->timeout_ms);
			else if (r->rep.invalid)
				snprintf(msg, sizeof(msg), "plugin %s reported an invalid finding (%s); its result cannot be trusted, so the request needs review",
					 name, r->rep.why);
			else
				snprintf(msg, sizeof(msg), "plugin %s failed (%s); its findings are unknown, so the request needs review",
					 name, strerror(r->rc < 0 ? -r->rc : EIO));
			if (add_host(v, pol, &pr,
				     host_finding(v, name, r->timed_out ? "kvscreend.plugin_timeout"
									: "kvscreend.plugin_error",
						  r->timed_out ? "Plugin timed out" : "Plugin failed",
						  msg)) < 0)
				goto nomem;
			policy_add_failure(pol, &pr);
			if (r->timed_out)
				continue;
		}
		/* The run has returned, so its report is no longer written: its
		 * findings go into the verdict as they are. */
		for (struct finding *f = r->rep.first; f; f = f->next) {
			v->findings[v->n_findings++] = f;
			policy_add_finding(pol, &pr, f->severity);
		}
		if (r->rep.truncated) {
			snprintf(msg, sizeof(msg), "plugin %s reported more than %d findings; the rest were dropped",
				 name, REPORT_MAX_FINDINGS);
			if (add_host(v, pol, &pr, host_finding(v, name, "kvscreend.findings_truncated",
								 "Findings truncated", msg)) < 0)
				goto nomem;
		}
	}
	if (job->n_runs == 0) {
		snprintf(msg, sizeof(msg), "no enabled plugin screens requests of type %s, so nothing vouches for it",
			 request_type_name(job->req->type));
		if (add_host(v, pol, &pr, host_finding(v, "kvscreend", "kvscreend.no_plugin",
						       "No plugin handles this request type", msg)) < 0)
			goto nomem;
		policy_add_no_plugin(pol, &pr);
	}
	v->decision = pr.decision;
	v->score = policy_score(&pr);
	verdict_decide(v);
	/* The text is written when a consumer takes it: re-screening
	 * compares summaries and writes nothing for an unchanged case. */
	return 0;
nomem:
	verdict_clear(v);
	return -1;
}

/* ---- Job lifecycle ---- */

static void job_free_if_idle(struct job *job)
{
	if (job->n_running > 0 || !job->timer_closed)
		return;
	for (size_t i = 0; i < job->n_runs; i++)
		report_clear(&job->runs[i].rep);
	request_unref(job->req);
	engine_unref(job->en);
	free(job);
}

static void timer_closed_cb(uv_handle_t *h)
{
	struct job *job = h->data;

	job->timer_closed = 1;
	job_free_if_idle(job);
}

static void job_maybe_complete(struct job *job);

static void timer_cb(uv_timer_t *t)
{
	job_maybe_complete(t->data);
}

/* Deliver the verdict once every run has returned or overrun its budget. */
static void job_maybe_complete(struct job *job)
{
	uint64_t now = now_ns(), next = 0;
	struct verdict v;

	if (job->completed)
		return;
	for (size_t i = 0; i < job->n_runs; i++) {
		struct run *r = &job->runs[i];

		if (r->finished || r->timed_out)
			continue;
		if (now >= r->deadline_ns) {
			struct workers_stats ws;

			r->timed_out = 1;
			workers_stats(&ws);
			log_warn("request %s: plugin %s exceeded its budget of %lld ms; %u of %u screening workers are held past their budget",
				 job->req->id, r->p->desc->name, r->p->timeout_ms, ws.stuck, ws.threads);
			continue;
		}
		if (!next || r->deadline_ns < next)
			next = r->deadline_ns;
	}
	if (next) {
		uv_timer_start(&job->timer, timer_cb, (next - now) / 1000000 + 1, 0);
		return;
	}
	job->completed = 1;
	uv_close((uv_handle_t *)&job->timer, timer_closed_cb);
	if (build_verdict(job, &v) < 0) {
		log_err("request %s: no verdict: out of memory", job->req->id);
		job->cb(job->data, NULL);
		return;
	}
	job->cb(job->data, &v);
	verdict_clear(&v);
}

static void work_cb(struct workers_job *w)
{
	struct run *r = (struct run *)((char *)w - offsetof(struct run, work));
	struct plugin *p = r->p;

	r->run_ns = now_ns();
	r->rc = p->desc->screen(p->state, &plugin_host_table, r->job->req, &r->rep);
	r->end_ns = now_ns();
}

static void after_work_cb(struct workers_job *w)
{
	struct run *r = (struct run *)((char *)w - offsetof(struct run, work));
	struct job *job = r->job;

	r->finished = 1;
	job->n_running--;
	/* A run that returned past its budget is a timeout even if the timer
	 * has not fired yet: its findings are not used. */
	if (!job->completed && r->end_ns > r->deadline_ns)
		r->timed_out = 1;
	job_maybe_complete(job);
	job_free_if_idle(job);
}

static int submit(uv_loop_t *loop, struct engine *en, struct kvs_request *req,
		  pipeline_done_cb cb, void *data, int background)
{
	struct plugin_set *ps = en->plugins;
	struct job *job;
	size_t n = 0;
	uint64_t start = now_ns();

	for (size_t i = 0; i < ps->n; i++)
		n += (ps->v[i].desc->types & req->type) != 0;
	if (n > 0) {
		struct workers_stats ws;
		int rc = workers_init((unsigned)en->cfg->daemon.threads);

		if (rc < 0)
			return rc;
		/* Every worker is held by a plugin past its budget: refuse now
		 * rather than answer with a verdict of timeouts. */
		workers_stats(&ws);
		if (ws.stuck == ws.threads)
			return -EBUSY;
	}
	job = calloc(1, sizeof(*job) + n * sizeof(struct run));
	if (!job)
		return -ENOMEM;
	job->loop = loop;
	job->en = engine_ref(en);
	job->req = request_ref(req);
	job->cb = cb;
	job->data = data;
	rfc3339_now(job->screened_at, sizeof(job->screened_at));
	uv_timer_init(loop, &job->timer);
	job->timer.data = job;
	for (size_t i = 0; i < ps->n; i++) {
		struct run *r;

		if (!(ps->v[i].desc->types & req->type))
			continue;
		r = &job->runs[job->n_runs++];
		r->job = job;
		r->p = &ps->v[i];
		r->work.work = work_cb;
		r->work.done = after_work_cb;
		/* The budget counts from submission, so time spent waiting for a
		 * worker counts too: the verdict's latency stays bounded. */
		r->start_ns = start;
		r->deadline_ns = start + (uint64_t)r->p->timeout_ms * 1000000u;
		r->work.deadline_ns = r->deadline_ns;
		r->work.background = background;
		report_init(&r->rep, req, r->deadline_ns);
		report_set_plugin(&r->rep, ps->v[i].desc);
	}
	for (size_t i = 0; i < job->n_runs; i++) {
		struct run *r = &job->runs[i];

		int rc = workers_submit(loop, &r->work);

		if (rc == 0) {
			job->n_running++;
		} else {
			r->finished = 1;
			r->rc = rc;
		}
	}
	/* The callback never runs inside pipeline_submit: with nothing queued,
	 * completion waits for the next loop iteration. */
	if (job->n_running == 0)
		uv_timer_start(&job->timer, timer_cb, 0, 0);
	return 0;
}

int pipeline_submit(uv_loop_t *loop, struct engine *en, struct kvs_request *req,
		    pipeline_done_cb cb, void *data)
{
	return submit(loop, en, req, cb, data, 0);
}

int pipeline_submit_background(uv_loop_t *loop, struct engine *en, struct kvs_request *req,
			       pipeline_done_cb cb, void *data)
{
	return submit(loop, en, req, cb, data, 1);
}
