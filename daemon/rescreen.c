/* rescreen.c - re-screening open cases and posting changed verdicts as new versions (see rescreen.h).
 *
 * A run is an array of case pointers (cases never move or go away) and a
 * cursor.  A 20 ms timer refills a token bucket of `rate` per second and
 * submits while tokens and in-flight slots remain.  A case being screened
 * is marked busy so that no second job of it runs at once; a run meeting a
 * busy case skips it (the next run catches it by its policy digest).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "digest.h"
#include "hex.h"
#include "log.h"
#include "policy.h"
#include "request.h"
#include "rescreen.h"

#define TICK_MS 20
#define RATE_WINDOW 10   /* seconds of the rate gauge */

struct run {
	struct kcase **items;
	size_t n, next;
	bool dry_run, on_demand;
	char policy[65];
};

struct rescreen {
	uv_loop_t *loop;
	struct outbox *ob;
	struct cases *cs;
	struct engine *en;
	double per_second, tokens;
	long long retention_days;
	unsigned max_inflight, inflight;
	uv_timer_t timer;
	int timer_on, stopping;
	void (*stop_cb)(void *data);
	void *stop_data;
	struct run run;
	bool running, pending_digest;
	struct rescreen_progress p;
	/* screened per second, a ring of RATE_WINDOW slots */
	unsigned long long ring[RATE_WINDOW];
	uint64_t ring_sec;
};

struct job {
	struct rescreen *rs;
	struct kcase *c;
	struct engine *en;
	struct kvs_request *req;
	bool dry_run;
	unsigned long long run;
};

/* A version on its way: journal durable -> outbox_post -> posted record. */
struct post {
	struct rescreen *rs;
	struct kcase *c;
	unsigned n;
};

/* A new verdict on its way: journal durable -> outbox_put -> caller. */
struct store {
	struct rescreen *rs;
	char id[129];
	char digest[65];
	char *text;
	size_t len;
	outbox_done_cb cb;
	void *data;
};

static const char *const decisions[] = { "clear", "review", "escalate", "deny" };

/* ---- summaries and reasons ---- */

/* The list versions a verdict names: the rationale of a "*.lists" finding
 * reads "Screened against NAME (..., data date D, sha256 S); NAME2 (...)". */
static json_t *list_versions(const struct verdict *v)
{
	json_t *out = json_object();

	for (size_t i = 0; out && i < v->n_findings; i++) {
		const char *rule = v->findings[i]->rule;
		const char *s = v->findings[i]->rationale;
		size_t rl = strlen(rule);

		if (rl < 6 || strcmp(rule + rl - 6, ".lists") != 0 || !s)
			continue;
		if (strncmp(s, "Screened against ", 17) == 0)
			s += 17;
		while (*s) {
			const char *open = strstr(s, " ("), *close = open ? strchr(open, ')') : NULL;
			const char *dd, *sh;
			char name[128], ver[160], date[40] = "", sha[40] = "";

			if (!open || !close)
				break;
			snprintf(name, sizeof(name), "%.*s", (int)(open - s), s);
			dd = strstr(open, "data date ");
			sh = strstr(open, "sha256 ");
			if (dd && dd < close)
				snprintf(date, sizeof(date), "%.*s", (int)strcspn(dd + 10, ",)"), dd + 10);
			if (sh && sh < close)
				snprintf(sha, sizeof(sha), "%.*s", (int)strcspn(sh + 7, ",)"), sh + 7);
			snprintf(ver, sizeof(ver), "%s%s%s%s", date, date[0] && sha[0] ? " " : "",
				 sha[0] ? "sha256 " : "", sha);
			if (name[0])
				json_object_set_new(out, name, json_string(ver));
			s = close + 1;
			while (*s == ';' || *s == ' ')
				s++;
		}
	}
	return out;
}

/* {plugin, rule, severity, references} of a summary key. */
static json_t *key_object(const char *key)
{
	char part[4][2048];
	const char *p = key;
	json_t *refs = json_array();

	for (int i = 0; i < 4; i++) {
		size_t n = i < 3 ? strcspn(p, "|") : strlen(p);

		snprintf(part[i], sizeof(part[i]), "%.*s", (int)n, p);
		p += n + (p[n] == '|');
	}
	for (char *s = part[3]; *s;) {
		size_t n = strcspn(s, ";");

		json_array_append_new(refs, json_stringn(s, n));
		s += n + (s[n] == ';');
	}
	return json_pack("{s:s,s:s,s:s,s:o}", "plugin", part[0], "rule", part[1], "severity",
			 part[2], "references", refs);
}

/* The list a reference names: "NAME entry ID ...". */
static void ref_lists(const char *key, json_t *names)
{
	json_t *o = key_object(key), *r;
	size_t i;

	json_array_foreach(json_object_get(o, "references"), i, r) {
		const char *s = json_string_value(r), *e = s ? strstr(s, " entry ") : NULL;
		char name[128];

		if (e && e > s && (size_t)(e - s) < sizeof(name) && !memchr(s, ' ', (size_t)(e - s))) {
			snprintf(name, sizeof(name), "%.*s", (int)(e - s), s);
			json_object_set_new(names, name, json_true());
		}
	}
	json_decref(o);
}

static int has_key(const json_t *keys, const char *k)
{
	size_t i;
	json_t *e;

	json_array_foreach(keys, i, e)
		if (strcmp(json_string_value(e), k) == 0)
			return 1;
	return 0;
}

/* What changed from summary `old` (under policy op) to `neu` (under np). */
static json_t *reason(struct rescreen *rs, const char *old, const char *neu, const char *op,
		      const char *np)
{
	json_t *o = json_loads(old, 0, NULL), *n = json_loads(neu, 0, NULL);
	json_t *r = json_object(), *added = json_array(), *removed = json_array();
	json_t *names = json_object(), *lists = json_object(), *ol = NULL, *nl = NULL, *e;
	const char *od = json_string_value(json_object_get(o, "d"));
	const char *nd = json_string_value(json_object_get(n, "d"));
	const char *name, *t;
	size_t i;
	json_t *v;

	if (od && nd && strcmp(od, nd) != 0)
		json_object_set_new(r, "decision", json_pack("[s,s]", od, nd));
	json_array_foreach(json_object_get(n, "k"), i, e)
		if (!has_key(json_object_get(o, "k"), json_string_value(e))) {
			json_array_append_new(added, key_object(json_string_value(e)));
			ref_lists(json_string_value(e), names);
		}
	json_array_foreach(json_object_get(o, "k"), i, e)
		if (!has_key(json_object_get(n, "k"), json_string_value(e))) {
			json_array_append_new(removed, key_object(json_string_value(e)));
			ref_lists(json_string_value(e), names);
		}
	t = cases_policy_lists(rs->cs, op);
	ol = t ? json_loads(t, 0, NULL) : NULL;
	t = cases_policy_lists(rs->cs, np);
	nl = t ? json_loads(t, 0, NULL) : NULL;
	json_object_foreach(names, name, v)
		json_object_set_new(lists, name,
			json_pack("[s?,s?]", json_string_value(json_object_get(ol, name)),
				  json_string_value(json_object_get(nl, name))));
	json_object_set_new(r, "lists", lists);
	json_object_set_new(r, "findings_added", added);
	json_object_set_new(r, "findings_removed", removed);
	json_object_set_new(r, "policy", json_pack("[s,s]", op, np));
	json_decref(names);
	json_decref(ol);
	json_decref(nl);
	json_decref(o);
	json_decref(n);
	return r;
}

static int decision_rank(const char *summary)
{
	json_t *o = json_loads(summary, 0, NULL);
	int d = decision_parse(json_string_value(json_object_get(o, "d")));

	json_decref(o);
	return d;
}

static void remember_lists(struct rescreen *rs, const struct verdict *verdict,
			   const char *policy)
{
	json_t *l;
	char *t;

	if (cases_policy_lists(rs->cs, policy))
		return;
	l = list_versions(verdict);
	t = l ? json_dumps(l, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	if (t)
		cases_set_policy_lists(rs->cs, policy, t);
	free(t);
	json_decref(l);
}

/* ---- rate ---- */

static void count_screened(struct rescreen *rs)
{
	uint64_t sec = uv_now(rs->loop) / 1000;

	if (sec != rs->ring_sec) {
		for (uint64_t s = rs->ring_sec + 1; s <= sec && s <= rs->ring_sec + RATE_WINDOW; s++)
			rs->ring[s % RATE_WINDOW] = 0;
		rs->ring_sec = sec;
	}
	rs->ring[sec % RATE_WINDOW]++;
	rs->p.screened_total++;
}

/* ---- posting versions ---- */

static void on_posted(void *data, int status)
{
	struct post *p = data;

	if (status == 0) {
		cases_posted(p->rs->cs, p->c, p->n);
		p->rs->p.posted_total++;
	} else {
		log_err("id %s: verdict version %u not posted (%s); posted after the next start",
			p->c->id, p->n, strerror(-status));
	}
	free(p);
}

static void post_version(struct rescreen *rs, struct kcase *c, unsigned n)
{
	const struct case_version *v = &c->v[n - 1];
	struct post *p = malloc(sizeof(*p));
	int rc;

	if (!p)
		return;
	*p = (struct post){ rs, c, n };
	rc = outbox_post(rs->ob, c->id, v->msg, strlen(v->msg), on_posted, p);
	if (rc < 0) {
		log_err("id %s: verdict version %u not posted (%s); posted after the next start",
			c->id, n, strerror(-rc));
		free(p);
	}
}

static void on_version_durable(void *data, int status)
{
	struct post *p = data;

	if (status == 0 && !p->rs->stopping)
		post_version(p->rs, p->c, p->n);
	free(p);
}

/* ---- runs ---- */

static void pump(struct rescreen *rs);

static void job_free(struct job *j)
{
	j->c->busy--;
	request_unref(j->req);
	engine_unref(j->en);
	free(j);
}

static void finish_one(struct rescreen *rs, struct job *j)
{
	if (j->run == rs->p.run && rs->running)
		rs->p.done++;
	rs->inflight--;
	job_free(j);
	pump(rs);
}

static void on_rescreened(void *data, struct verdict *verdict)
{
	struct job *j = data;
	struct rescreen *rs = j->rs;
	struct kcase *c = j->c;
	const struct case_version *last = &c->v[c->n_v - 1];
	int this_run = j->run == rs->p.run;
	char *sum = NULL;

	count_screened(rs);
	if (!verdict || !verdict_plugins_ok(verdict) || !(sum = verdict_summary(verdict))) {
		if (this_run)
			rs->p.errors++;
		goto out;
	}
	if (c->state != CASE_OPEN)
		goto out;                     /* closed meanwhile */
	remember_lists(rs, verdict, j->en->digest);
	if (strcmp(sum, last->summary) == 0) {
		if (this_run)
			rs->p.unchanged++;
		if (!j->dry_run)
			cases_checked(rs->cs, c, j->en->digest);
	} else {
		int od = decision_rank(last->summary), nd = decision_rank(sum);
		json_t *extra, *why;
		char *text, supersedes[65];
		size_t len;
		struct post *p;
		unsigned n;
		int rc;

		if (this_run) {
			if (nd > od)
				rs->p.changed_up++;
			else if (nd < od)
				rs->p.changed_down++;
			else
				rs->p.changed_same++;
		}
		if (j->dry_run)
			goto out;
		why = reason(rs, last->summary, sum, c->policy, j->en->digest);
		hex_encode(last->digest, 32, supersedes);
		extra = json_pack("{s:I, s:s, s:o}", "version", (json_int_t)c->n_v + 1,
				  "supersedes", supersedes, "reason", why);
		text = extra ? verdict_text(verdict, extra, &len) : NULL;
		json_decref(extra);
		p = malloc(sizeof(*p));
		if (!text || !p) {
			free(text);
			free(p);
			if (this_run)
				rs->p.errors++;
			goto out;
		}
		*p = (struct post){ rs, c, 0 };
		rc = cases_add_version(rs->cs, c, j->en->digest, text, len, sum, &n,
				       on_version_durable, p);
		free(text);
		if (rc < 0) {
			free(p);
			log_err("id %s: new verdict version not written: %s", c->id, strerror(-rc));
			if (this_run)
				rs->p.errors++;
			goto out;
		}
		p->n = n;
		log_notice("id %s: verdict version %u: %s -> %s", c->id, n,
			   od >= 0 ? decisions[od] : "?", nd >= 0 ? decisions[nd] : "?");
	}
out:
	free(sum);
	finish_one(rs, j);
}

/* 0 submitted, 1 skipped, -EAGAIN retry later. */
static int submit_one(struct rescreen *rs, struct kcase *c)
{
	struct request_error err;
	struct job *j;
	char stored[65], *text;
	int rc;

	if (c->state != CASE_OPEN || c->busy || c->adding || !c->n_v ||
	    outbox_lookup(rs->ob, c->id, stored) != 0 || !cases_request_is(c, stored))
		return 1;
	j = calloc(1, sizeof(*j));
	if (!j)
		return -EAGAIN;
	rc = cases_request(rs->cs, c, &text);
	if (rc < 0) {
		free(j);
		return rc == -ENOMEM ? -EAGAIN : 2;	/* -EIO: logged */
	}
	rc = request_parse(text, strlen(text), &rs->en->cfg->limits, &j->req, &err);
	free(text);
	if (rc < 0) {
		log_warn("id %s: the stored request no longer passes the limits: %s%s%s", c->id,
			 err.path, err.path[0] ? ": " : "", err.message);
		free(j);
		return 2;
	}
	j->rs = rs;
	j->c = c;
	j->en = engine_ref(rs->en);
	j->dry_run = rs->run.dry_run;
	j->run = rs->p.run;
	c->busy++;
	rc = pipeline_submit_background(rs->loop, j->en, j->req, on_rescreened, j);
	if (rc < 0) {
		c->busy--;
		request_unref(j->req);
		engine_unref(j->en);
		free(j);
		return -EAGAIN;
	}
	rs->inflight++;
	return 0;
}

static size_t backlog(const struct rescreen *rs)
{
	size_t n = 0;

	for (size_t i = 0; rs->en && i < cases_count(rs->cs); i++) {
		const struct kcase *c = cases_nth(rs->cs, i);

		n += c->state == CASE_OPEN && c->n_v && strcmp(c->policy, rs->en->digest) != 0;
	}
	return n;
}

static void run_end(struct rescreen *rs)
{
	struct rescreen_progress *p = &rs->p;

	rs->running = false;
	free(rs->run.items);
	rs->run.items = NULL;
	log_notice("re-screen %llu%s done: %zu screened, %zu unchanged, %zu changed up, "
		   "%zu changed down, %zu changed findings, %zu errors, %zu skipped",
		   p->run, p->dry_run ? " (dry run)" : "", p->done, p->unchanged, p->changed_up,
		   p->changed_down, p->changed_same, p->errors, p->skipped);
	p->backlog = backlog(rs);
}

static void expire_old(struct rescreen *rs)
{
	int64_t limit;

	if (rs->retention_days <= 0)
		return;
	limit = (int64_t)time(NULL) - (int64_t)rs->retention_days * 86400;
	for (size_t i = 0; i < cases_count(rs->cs); i++) {
		struct kcase *c = cases_nth(rs->cs, i);

		if (c->state == CASE_OPEN && !c->adding && c->opened_at < limit &&
		    cases_close(rs->cs, c, CASE_EXPIRED, NULL, NULL) == 0)
			log_info("id %s: expired after %lld days without being closed", c->id,
				 rs->retention_days);
	}
}

static void on_tick(uv_timer_t *t);

static int run_begin(struct rescreen *rs, struct kcase **items, size_t n, bool dry_run,
		     bool on_demand)
{
	struct rescreen_progress *p = &rs->p;

	rs->run = (struct run){ .items = items, .n = n, .dry_run = dry_run,
				.on_demand = on_demand };
	snprintf(rs->run.policy, sizeof(rs->run.policy), "%s", rs->en->digest);
	p->run++;
	p->running = true;
	p->dry_run = dry_run;
	p->on_demand = on_demand;
	p->total = n;
	p->done = p->unchanged = p->changed_up = p->changed_down = p->changed_same = 0;
	p->errors = p->skipped = 0;
	rs->running = true;
	cases_prefetch(rs->cs);
	log_notice("re-screen %llu%s: %zu open cases under policy %.12s", p->run,
		   dry_run ? " (dry run)" : "", n, rs->en->digest);
	if (!rs->timer_on) {
		rs->timer_on = 1;
		uv_timer_start(&rs->timer, on_tick, 0, TICK_MS);
	}
	return 0;
}

/* A run of every open case not screened under the current digest. */
static void digest_run(struct rescreen *rs)
{
	struct kcase **items;
	size_t n = 0, total = cases_count(rs->cs);

	if (rs->running || rs->stopping || !rs->en)
		return;
	rs->pending_digest = false;
	expire_old(rs);
	items = malloc((total ? total : 1) * sizeof(*items));
	if (!items)
		return;
	for (size_t i = 0; i < total; i++) {
		struct kcase *c = cases_nth(rs->cs, i);

		if (c->state == CASE_OPEN && c->n_v && strcmp(c->policy, rs->en->digest) != 0)
			items[n++] = c;
	}
	rs->p.backlog = n;
	if (!n) {
		free(items);
		return;
	}
	run_begin(rs, items, n, false, false);
}

static void pump(struct rescreen *rs)
{
	if (rs->stopping) {
		if (!rs->inflight && rs->stop_cb) {
			void (*cb)(void *) = rs->stop_cb;

			rs->stop_cb = NULL;
			cb(rs->stop_data);
		}
		return;
	}
	while (rs->running && rs->run.next < rs->run.n && rs->inflight < rs->max_inflight &&
	       rs->tokens >= 1) {
		struct kcase *c = rs->run.items[rs->run.next];
		int rc = submit_one(rs, c);

		if (rc == -EAGAIN)
			break;
		rs->run.next++;
		if (rc == 0) {
			rs->tokens -= 1;
		} else {
			rs->p.done++;
			if (rc == 2)
				rs->p.errors++;
			else
				rs->p.skipped++;
		}
	}
	if (rs->running && rs->run.next >= rs->run.n) {
		size_t left = 0;

		/* The run ends when its own jobs are done. */
		left = rs->p.total - rs->p.done;
		if (left == 0) {
			/* Only a policy that changed during the run starts the
			 * next one: cases that failed (a plugin timing out) wait
			 * for the next change or start, rather than loop. */
			run_end(rs);
			if (rs->pending_digest)
				digest_run(rs);
		}
	}
	if (!rs->running && !rs->inflight && rs->timer_on) {
		uv_timer_stop(&rs->timer);
		rs->timer_on = 0;
	}
}

static void on_tick(uv_timer_t *t)
{
	struct rescreen *rs = t->data;
	double add = rs->per_second * TICK_MS / 1000.0;

	/* A bucket of at most a tenth of a second's worth: a pause (the
	 * loop busy) does not turn into a burst. */
	rs->tokens += add;
	if (rs->tokens > rs->per_second / 10 + 1)
		rs->tokens = rs->per_second / 10 + 1;
	pump(rs);
}

/* ---- the public functions ---- */

int rescreen_new(uv_loop_t *loop, struct outbox *ob, struct cases *cs, struct rescreen **out)
{
	struct rescreen *rs = calloc(1, sizeof(*rs));

	if (!rs)
		return -ENOMEM;
	rs->loop = loop;
	rs->ob = ob;
	rs->cs = cs;
	rs->per_second = 1000;
	rs->max_inflight = 4;
	uv_timer_init(loop, &rs->timer);
	rs->timer.data = rs;
	/* Versions written but not posted before a crash: post the journal's
	 * text again (the same version, the same content). */
	for (size_t i = 0; i < cases_count(cs); i++) {
		struct kcase *c = cases_nth(cs, i);

		for (size_t k = 1; k < c->n_v; k++)
			if (!c->v[k].posted) {
				log_notice("id %s: posting verdict version %u again (not confirmed "
					   "before the last stop)", c->id, c->v[k].n);
				post_version(rs, c, c->v[k].n);
			}
	}
	*out = rs;
	return 0;
}

void rescreen_set_limits(struct rescreen *rs, double per_second, long long retention_days,
			 unsigned max_inflight)
{
	rs->per_second = per_second > 0 ? per_second : 1;
	rs->retention_days = retention_days;
	rs->max_inflight = max_inflight ? max_inflight : 1;
}

void rescreen_set_engine(struct rescreen *rs, struct engine *en)
{
	struct engine *old = rs->en;

	rs->en = engine_ref(en);
	engine_unref(old);
	if (rs->running)
		rs->pending_digest = true;
	else
		digest_run(rs);
	if (!rs->running)
		rs->p.backlog = backlog(rs);
}

int rescreen_start(struct rescreen *rs, const char *const *ids, size_t n, bool dry_run,
		   const char **bad)
{
	size_t total = cases_count(rs->cs), k = 0;
	struct kcase **items;

	if (rs->running)
		return -EBUSY;
	if (rs->stopping || !rs->en)
		return -ESHUTDOWN;
	if (!dry_run)
		expire_old(rs);
	items = malloc(((ids ? n : total) + 1) * sizeof(*items));
	if (!items)
		return -ENOMEM;
	if (ids) {
		for (size_t i = 0; i < n; i++) {
			struct kcase *c = cases_get(rs->cs, ids[i]);

			if (!c) {
				*bad = ids[i];
				free(items);
				return -ENOENT;
			}
			if (c->state == CASE_OPEN)
				items[k++] = c;
		}
	} else {
		for (size_t i = 0; i < total; i++) {
			struct kcase *c = cases_nth(rs->cs, i);

			if (c->state == CASE_OPEN && c->n_v)
				items[k++] = c;
		}
	}
	run_begin(rs, items, k, dry_run, true);
	if (k == 0)
		pump(rs);
	return 0;
}

void rescreen_progress(const struct rescreen *rs, struct rescreen_progress *out)
{
	uint64_t sec = uv_now(rs->loop) / 1000;
	unsigned long long sum = 0;

	*out = rs->p;
	out->running = rs->running;
	for (int i = 0; i < RATE_WINDOW; i++) {
		uint64_t s = sec - (uint64_t)i;

		if (s <= rs->ring_sec && rs->ring_sec - s < RATE_WINDOW && s > sec - RATE_WINDOW)
			sum += rs->ring[s % RATE_WINDOW];
	}
	out->rate = (double)sum / RATE_WINDOW;
	if (rs->running && !rs->run.on_demand)
		out->backlog = rs->run.n - rs->run.next + rs->inflight;
}

json_t *rescreen_progress_json(const struct rescreen *rs)
{
	struct rescreen_progress p;

	rescreen_progress(rs, &p);
	return json_pack("{s:I,s:b,s:b,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f}", "run",
			 (json_int_t)p.run, "running", p.running, "dry_run", p.dry_run, "total",
			 (json_int_t)p.total, "done", (json_int_t)p.done, "unchanged",
			 (json_int_t)p.unchanged, "changed_up", (json_int_t)p.changed_up,
			 "changed_down", (json_int_t)p.changed_down, "changed_findings",
			 (json_int_t)p.changed_same, "errors", (json_int_t)p.errors, "skipped",
			 (json_int_t)p.skipped, "backlog", (json_int_t)p.backlog, "rate", p.rate);
}

void rescreen_metrics(const struct rescreen *rs, FILE *f)
{
	struct rescreen_progress p;
	struct cases_stats cst;

	rescreen_progress(rs, &p);
	cases_stats(rs->cs, &cst);
	fprintf(f, "# HELP kvscreend_rescreen_backlog Open cases not yet screened again under the current policy.\n"
		   "# TYPE kvscreend_rescreen_backlog gauge\n"
		   "kvscreend_rescreen_backlog %zu\n"
		   "# HELP kvscreend_rescreen_rate Re-screens per second over the last 10 s.\n"
		   "# TYPE kvscreend_rescreen_rate gauge\n"
		   "kvscreend_rescreen_rate %.1f\n"
		   "# HELP kvscreend_rescreen_total Re-screens finished.\n"
		   "# TYPE kvscreend_rescreen_total counter\n"
		   "kvscreend_rescreen_total %llu\n"
		   "# HELP kvscreend_rescreen_versions_posted_total New verdict versions posted.\n"
		   "# TYPE kvscreend_rescreen_versions_posted_total counter\n"
		   "kvscreend_rescreen_versions_posted_total %llu\n"
		   "# HELP kvscreend_rescreen_running 1 while a re-screen run goes.\n"
		   "# TYPE kvscreend_rescreen_running gauge\n"
		   "kvscreend_rescreen_running %d\n"
		   "# HELP kvscreend_cases Cases in the case journal, by state.\n"
		   "# TYPE kvscreend_cases gauge\n"
		   "kvscreend_cases{state=\"open\"} %zu\n"
		   "kvscreend_cases{state=\"closed\"} %zu\n",
		p.backlog, p.rate, p.screened_total, p.posted_total, p.running, cst.open, cst.closed);
}

static void on_store_outbox(void *data, int status)
{
	struct store *s = data;

	s->cb(s->data, status);
	free(s->text);
	free(s);
}

static void on_store_journal(void *data, int status)
{
	struct store *s = data;
	int rc = status;

	if (rc == 0)
		rc = outbox_put(s->rs->ob, s->id, s->digest, s->text, s->len, on_store_outbox, s);
	if (rc == 0)
		return;
	s->cb(s->data, rc);
	free(s->text);
	free(s);
}

int rescreen_store(struct rescreen *rs, const struct kvs_request *req, const char *req_digest,
		   const struct verdict *verdict, const char *text, size_t len, outbox_done_cb cb,
		   void *data)
{
	const char *policy = verdict->policy;
	char stored[65], vd[65];
	struct store *s;
	char *sum;
	int rc;

	if (outbox_lookup(rs->ob, req->id, stored) == 0)
		return -EEXIST;
	if (!policy || strlen(req->id) >= sizeof(s->id) || len > OUTBOX_MAX_VERDICT)
		return -EINVAL;
	if (digest_buffer(text, len, vd) < 0)
		return -EIO;
	s = calloc(1, sizeof(*s));
	sum = verdict_summary(verdict);
	if (!s || !sum || !(s->text = malloc(len + 1))) {
		free(sum);
		free(s);
		return -ENOMEM;
	}
	memcpy(s->text, text, len);
	s->text[len] = '\0';
	s->len = len;
	s->rs = rs;
	s->cb = cb;
	s->data = data;
	snprintf(s->id, sizeof(s->id), "%s", req->id);
	snprintf(s->digest, sizeof(s->digest), "%s", req_digest);
	remember_lists(rs, verdict, policy);
	rc = cases_add(rs->cs, req->id, req_digest, req->canonical, policy, vd, sum,
		       on_store_journal, s);
	free(sum);
	if (rc < 0) {
		free(s->text);
		free(s);
	}
	return rc;
}

void rescreen_stop(struct rescreen *rs, void (*cb)(void *data), void *data)
{
	rs->stopping = 1;
	rs->stop_cb = cb;
	rs->stop_data = data;
	if (rs->timer_on) {
		uv_timer_stop(&rs->timer);
		rs->timer_on = 0;
	}
	uv_close((uv_handle_t *)&rs->timer, NULL);
	pump(rs);
}

void rescreen_free(struct rescreen *rs)
{
	if (!rs)
		return;
	free(rs->run.items);
	engine_unref(rs->en);
	free(rs);
}
