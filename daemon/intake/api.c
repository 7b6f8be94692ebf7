/* api.c - the HTTP API's routes: screenings, verdicts, plugins, health and metrics.
 *
 * A POST /v1/screenings travels: checks (auth, media type, size, load) ->
 * request_parse() -> idempotency (outbox_lookup: a stored verdict of the
 * same request is answered again, of a different one is 409) ->
 * pipeline_submit() on the thread pool -> outbox_put() (group commit) ->
 * 200 with the verdict.  A struct screening owns everything of one such
 * request until it is answered: the http_req, the parsed request, an engine
 * reference and the verdict text.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "api_case.h"
#include "digest.h"
#include "log.h"
#include "policy.h"
#include "request.h"
#include "rescreen.h"

#define MAX_PLUGIN_STATS 64

/* Upper bounds (seconds) of the latency histogram's buckets. */
static const double lat_bounds[] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};
#define N_LAT (sizeof(lat_bounds) / sizeof(lat_bounds[0]))

/* Failed authentications of one client in the second `sec`. */
struct auth_slot {
	struct http_peer peer;
	uint64_t sec;
	unsigned fails;
	uint64_t used;            /* api.auth_clock at the last failure */
};

struct plugin_stat {
	char name[64];
	unsigned long long runs, errors, timeouts;
	double seconds;
};

struct api {
	uv_loop_t *loop;
	struct engine *en;
	struct outbox *ob;
	struct token_set tokens;
	unsigned max_inflight;
	unsigned inflight;
	unsigned long long completed;
	enum api_state state;
	struct http_server *srv;
	struct api_case *cases;   /* the routes under /v1/screenings/{id} */
	api_metrics_cb metrics_cb;
	void *metrics_data;
	api_reload_cb reload_cb;
	void *reload_data;
	struct cases *cs;             /* NULL: no case journal (tests) */
	struct rescreen *rs;
	/* failed authentications per client, the least recently failing
	 * client's slot reused when the table is full */
	struct auth_slot auth[API_AUTH_CLIENTS];
	uint64_t auth_clock;
	/* metrics */
	unsigned long long by_decision[DECISION_DENY + 1];
	unsigned long long auth_failures, auth_throttled, overloaded;
	unsigned long long lat_bucket[N_LAT];
	unsigned long long lat_count;
	double lat_sum;
	struct plugin_stat plugins[MAX_PLUGIN_STATS];
	size_t n_plugins;
};

struct screening {
	struct api *a;
	struct http_req *r;
	struct engine *en;
	struct kvs_request *req;
	char digest[65];
	char *text;
	size_t len;
	uint64_t req_no;
};

/* A pending outbox_read: GET /v1/screenings/{id} or a POST replay. */
struct lookup {
	struct api *a;
	struct http_req *r;
	int is_replay;
	int history;                  /* ?history=1: every version */
	char id[129];
};

int api_new(uv_loop_t *loop, struct engine *en, struct outbox *ob,
	    const struct token_set *tokens, unsigned max_inflight, struct api **out)
{
	struct api *a = calloc(1, sizeof(*a));

	if (!a || api_case_new(loop, ob, &a->cases) < 0) {
		free(a);
		return -ENOMEM;
	}
	a->loop = loop;
	a->en = engine_ref(en);
	a->ob = ob;
	if (tokens)
		a->tokens = *tokens;
	a->max_inflight = max_inflight ? max_inflight : 1;
	a->state = API_STARTING;
	*out = a;
	return 0;
}

void api_set_engine(struct api *a, struct engine *en)
{
	struct engine *old = a->en;

	a->en = engine_ref(en);
	engine_unref(old);
}

void api_set_tokens(struct api *a, const struct token_set *tokens)
{
	a->tokens = *tokens;
}

void api_set_audit(struct api *a, struct audit *au, const char *error)
{
	api_case_set_audit(a->cases, au, error);
}

void api_set_max_inflight(struct api *a, unsigned max_inflight)
{
	a->max_inflight = max_inflight ? max_inflight : 1;
}

void api_set_state(struct api *a, enum api_state st)
{
	a->state = st;
}

void api_set_http(struct api *a, struct http_server *srv)
{
	a->srv = srv;
}

void api_set_metrics_cb(struct api *a, api_metrics_cb cb, void *data)
{
	a->metrics_cb = cb;
	a->metrics_data = data;
}

unsigned api_inflight(const struct api *a)
{
	return a->inflight;
}

unsigned long long api_completed(const struct api *a)
{
	return a->completed;
}

void api_free(struct api *a)
{
	if (!a)
		return;
	engine_unref(a->en);
	api_case_free(a->cases);
	explicit_bzero(&a->tokens, sizeof(a->tokens));
	free(a);
}

/* ---- metrics ---- */

static struct plugin_stat *plugin_stat(struct api *a, const char *name)
{
	for (size_t i = 0; i < a->n_plugins; i++)
		if (strcmp(a->plugins[i].name, name) == 0)
			return &a->plugins[i];
	if (a->n_plugins == MAX_PLUGIN_STATS || strlen(name) >= sizeof(a->plugins[0].name))
		return NULL;
	struct plugin_stat *ps = &a->plugins[a->n_plugins++];
	snprintf(ps->name, sizeof(ps->name), "%s", name);
	return ps;
}

void api_count_verdict(struct api *a, const struct verdict *v)
{
	if (!v)
		return;
	a->by_decision[v->decision]++;
	for (size_t i = 0; i < v->n_plugins; i++) {
		const struct verdict_plugin *p = &v->plugins[i];
		struct plugin_stat *ps = plugin_stat(a, p->name);

		if (!ps)
			continue;
		ps->runs++;
		ps->seconds += (double)p->duration_us / 1e6;
		if (strcmp(p->status, "error") == 0)
			ps->errors++;
		else if (strcmp(p->status, "timeout") == 0)
			ps->timeouts++;
	}
}

static void count_latency(struct api *a, uint64_t start_ns)
{
	double s = (double)(uv_hrtime() - start_ns) / 1e9;

	for (size_t i = 0; i < N_LAT; i++)
		if (s <= lat_bounds[i])
			a->lat_bucket[i]++;
	a->lat_count++;
	a->lat_sum += s;
}

static void render_metrics(struct api *a, FILE *f)
{
	static const char *const decisions[] = { "clear", "review", "escalate", "deny" };

	fprintf(f, "# HELP kvscreend_screenings_total Verdicts made, by decision.\n"
		   "# TYPE kvscreend_screenings_total counter\n");
	for (int d = 0; d <= DECISION_DENY; d++)
		fprintf(f, "kvscreend_screenings_total{decision=\"%s\"} %llu\n", decisions[d],
			a->by_decision[d]);
	fprintf(f, "# HELP kvscreend_screenings_inflight Screenings submitted and not yet durable.\n"
		   "# TYPE kvscreend_screenings_inflight gauge\n"
		   "kvscreend_screenings_inflight %u\n", a->inflight);
	fprintf(f, "# HELP kvscreend_screenings_refused_total Screenings refused because too many were in flight.\n"
		   "# TYPE kvscreend_screenings_refused_total counter\n"
		   "kvscreend_screenings_refused_total %llu\n", a->overloaded);
	fprintf(f, "# HELP kvscreend_screening_duration_seconds Time from the first byte of a POST /v1/screenings to its answer.\n"
		   "# TYPE kvscreend_screening_duration_seconds histogram\n");
	for (size_t i = 0; i < N_LAT; i++)
		fprintf(f, "kvscreend_screening_duration_seconds_bucket{le=\"%g\"} %llu\n",
			lat_bounds[i], a->lat_bucket[i]);
	fprintf(f, "kvscreend_screening_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
		   "kvscreend_screening_duration_seconds_sum %.6f\n"
		   "kvscreend_screening_duration_seconds_count %llu\n",
		a->lat_count, a->lat_sum, a->lat_count);
	fprintf(f, "# HELP kvscreend_plugin_duration_seconds Time plugins spent screening.\n"
		   "# TYPE kvscreend_plugin_duration_seconds summary\n");
	for (size_t i = 0; i < a->n_plugins; i++)
		fprintf(f, "kvscreend_plugin_duration_seconds_sum{plugin=\"%s\"} %.6f\n"
			   "kvscreend_plugin_duration_seconds_count{plugin=\"%s\"} %llu\n",
			a->plugins[i].name, a->plugins[i].seconds, a->plugins[i].name,
			a->plugins[i].runs);
	fprintf(f, "# HELP kvscreend_plugin_failures_total Plugin runs that failed, by plugin and status.\n"
		   "# TYPE kvscreend_plugin_failures_total counter\n");
	for (size_t i = 0; i < a->n_plugins; i++)
		fprintf(f, "kvscreend_plugin_failures_total{plugin=\"%s\",status=\"error\"} %llu\n"
			   "kvscreend_plugin_failures_total{plugin=\"%s\",status=\"timeout\"} %llu\n",
			a->plugins[i].name, a->plugins[i].errors, a->plugins[i].name,
			a->plugins[i].timeouts);
	fprintf(f, "# HELP kvscreend_auth_failures_total Requests refused for a missing or wrong token.\n"
		   "# TYPE kvscreend_auth_failures_total counter\n"
		   "kvscreend_auth_failures_total %llu\n"
		   "# HELP kvscreend_auth_throttled_total Requests answered 429 because their client failed to authenticate too often.\n"
		   "# TYPE kvscreend_auth_throttled_total counter\n"
		   "kvscreend_auth_throttled_total %llu\n", a->auth_failures, a->auth_throttled);
	if (a->srv) {
		const struct http_stats *st = http_server_stats(a->srv);

		fprintf(f, "# HELP kvscreend_http_responses_total HTTP responses, by status code.\n"
			   "# TYPE kvscreend_http_responses_total counter\n");
		for (int c = 100; c < 600; c++)
			if (st->by_status[c])
				fprintf(f, "kvscreend_http_responses_total{code=\"%d\"} %llu\n", c,
					st->by_status[c]);
		fprintf(f, "# HELP kvscreend_http_connections Open HTTP connections.\n"
			   "# TYPE kvscreend_http_connections gauge\n"
			   "kvscreend_http_connections %llu\n"
			   "# HELP kvscreend_http_connections_accepted_total HTTP connections accepted.\n"
			   "# TYPE kvscreend_http_connections_accepted_total counter\n"
			   "kvscreend_http_connections_accepted_total %llu\n"
			   "# HELP kvscreend_http_connections_rejected_total HTTP connections refused past the cap.\n"
			   "# TYPE kvscreend_http_connections_rejected_total counter\n"
			   "kvscreend_http_connections_rejected_total %llu\n"
			   "# HELP kvscreend_http_connections_client_limited_total HTTP connections refused past the per-client cap.\n"
			   "# TYPE kvscreend_http_connections_client_limited_total counter\n"
			   "kvscreend_http_connections_client_limited_total %llu\n"
			   "# HELP kvscreend_http_connections_evicted_total Idle HTTP connections closed to make room for a new one.\n"
			   "# TYPE kvscreend_http_connections_evicted_total counter\n"
			   "kvscreend_http_connections_evicted_total %llu\n",
			st->open, st->accepted, st->rejected, st->rejected_client, st->evicted);
	}
	fprintf(f, "# HELP kvscreend_outbox_depth Verdicts in the outbox not yet delivered.\n"
		   "# TYPE kvscreend_outbox_depth gauge\n"
		   "kvscreend_outbox_depth %zu\n", outbox_depth(a->ob));
	fprintf(f, "# HELP kvscreend_ready 1 when the daemon is ready.\n"
		   "# TYPE kvscreend_ready gauge\n"
		   "kvscreend_ready %d\n", a->state == API_READY);
	if (a->rs)
		rescreen_metrics(a->rs, f);
	if (a->metrics_cb)
		a->metrics_cb(a->metrics_data, f);
}

static void get_metrics(struct api *a, struct http_req *r)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f) {
		http_respond_error(r, 500, NULL, "internal", "out of memory");
		return;
	}
	render_metrics(a, f);
	if (fclose(f) != 0 || !text) {
		free(text);
		http_respond_error(r, 500, NULL, "internal", "out of memory");
		return;
	}
	http_respond(r, 200, NULL, "text/plain; version=0.0.4; charset=utf-8", text, len);
	free(text);
}

/* ---- answers ---- */

static void respond_json(struct http_req *r, int status, json_t *j)
{
	char *text = json_dumps(j, JSON_COMPACT);

	json_decref(j);
	if (!text) {
		http_respond_error(r, 500, NULL, "internal", "out of memory");
		return;
	}
	http_respond(r, status, NULL, "application/json", text, strlen(text));
	free(text);
}

static void respond_request_error(struct http_req *r, int status, const struct request_error *e)
{
	json_t *j = json_pack("{s:{s:s,s:s,s:s}}", "error", "code", e->code[0] ? e->code : "invalid_request",
			      "message", e->message, "path", e->path);

	if (!j) {
		http_respond_error(r, 500, NULL, "internal", "out of memory");
		return;
	}
	respond_json(r, status, j);
}

/* ---- routes ---- */

static void get_plugins(struct api *a, struct http_req *r)
{
	const struct plugin_set *ps = a->en->plugins;
	json_t *arr = json_array();

	for (size_t i = 0; ps && i < ps->n; i++) {
		const struct kvs_plugin *d = ps->v[i].desc;
		json_t *types = json_array();

		for (unsigned t = KVS_REQ_PARTNERSHIP; t <= KVS_REQ_INVESTMENT; t <<= 1)
			if (d->types & t)
				json_array_append_new(types, json_string(request_type_name(t)));
		json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:o,s:I}", "name", d->name,
						     "version", d->version ? d->version : "",
						     "description", d->description ? d->description : "",
						     "types", types,
						     "timeout_ms", (json_int_t)ps->v[i].timeout_ms));
	}
	respond_json(r, 200, json_pack("{s:o,s:s}", "plugins", arr, "policy_digest", a->en->digest));
}

static void add_version(void *data, const struct case_version *v)
{
	json_t *arr = data;

	if (v->msg)
		json_array_append_new(arr, json_loads(v->msg, 0, NULL));
}

/* {"request_id", "state", "versions": [verdict 1 (stored), 2, ...]} */
static void respond_history(struct lookup *lk, const char *json, size_t len)
{
	struct kcase *c = lk->a->cs ? cases_get(lk->a->cs, lk->id) : NULL;
	json_t *v1 = json_loadb(json, len, 0, NULL), *arr = json_array();

	if (!v1 || !arr) {
		json_decref(v1);
		json_decref(arr);
		http_respond_error(lk->r, 500, NULL, "internal", "the stored verdict cannot be read");
		return;
	}
	json_object_set_new(v1, "version", json_integer(1));
	json_array_append_new(arr, v1);
	if (c)
		cases_history(lk->a->cs, lk->id, add_version, arr);
	respond_json(lk->r, 200, json_pack("{s:s,s:s?,s:o}", "request_id", lk->id, "state",
					   c ? cases_state_name(c->state) : NULL, "versions", arr));
}

static void on_lookup_read(void *data, int status, const char *json, size_t len)
{
	struct lookup *lk = data;

	if (status == 0 && lk->history)
		respond_history(lk, json, len);
	else if (status == 0)
		http_respond(lk->r, 200, NULL, "application/json", json, len);
	else if (status == -ENOENT && !lk->is_replay)
		http_respond_error(lk->r, 404, NULL, "not_found", "no verdict with this id");
	else
		http_respond_error(lk->r, 503, "Retry-After: 1\r\n", "unavailable",
				   "the stored verdict cannot be read now");
	free(lk);
}

/* Answer r with the stored verdict of id (404 if there is none): its
 * latest version, or with `history` every version. */
static void answer_stored_ex(struct api *a, struct http_req *r, const char *id, int is_replay,
			     int history)
{
	struct kcase *c = a->cs && !is_replay ? cases_get(a->cs, id) : NULL;
	struct lookup *lk;
	char stored[65];
	int rc;

	if (c && !history && c->n_v > 1 && outbox_lookup(a->ob, id, stored) == 0 &&
	    cases_request_is(c, stored)) {
		const char *m = c->v[c->n_v - 1].msg;

		http_respond(r, 200, NULL, "application/json", m, strlen(m));
		return;
	}
	lk = calloc(1, sizeof(*lk));

	if (!lk) {
		http_respond_error(r, 503, "Retry-After: 1\r\n", "unavailable", "out of memory");
		return;
	}
	lk->a = a;
	lk->r = r;
	lk->is_replay = is_replay;
	lk->history = history;
	snprintf(lk->id, sizeof(lk->id), "%s", id);
	rc = outbox_read(a->ob, id, on_lookup_read, lk);
	if (rc == 0)
		return;
	free(lk);
	if (rc == -ENOENT || rc == -EINVAL)
		http_respond_error(r, 404, NULL, "not_found", "no verdict with this id");
	else
		http_respond_error(r, 503, "Retry-After: 1\r\n", "unavailable",
				   "the stored verdict cannot be read now");
}

static void answer_stored(struct api *a, struct http_req *r, const char *id, int is_replay)
{
	answer_stored_ex(a, r, id, is_replay, 0);
}

static void screening_free(struct screening *s)
{
	s->a->inflight--;
	s->a->completed++;
	free(s->text);
	request_unref(s->req);
	engine_unref(s->en);
	free(s);
}

/* The id is known: the same request gets its verdict again, another 409. */
static void answer_known(struct api *a, struct http_req *r, const char *id,
			 const char *digest, const char *stored)
{
	if (strcmp(digest, stored) == 0) {
		answer_stored(a, r, id, 1);
		return;
	}
	http_respond_error(r, 409, NULL, "conflict",
			   "a different request with this id was screened before");
}

static void on_durable(void *data, int status)
{
	struct screening *s = data;
	struct api *a = s->a;

	if (status == 0) {
		count_latency(a, s->r->start_ns);
		http_respond(s->r, 200, NULL, "application/json", s->text, s->len);
	} else {
		log_err("req %llu: id %s: verdict not stored: %s", (unsigned long long)s->req_no,
			s->req->id, strerror(-status));
		http_respond_error(s->r, 503, "Retry-After: 1\r\n", "unavailable",
				   "the verdict could not be stored");
	}
	screening_free(s);
}

static void on_verdict(void *data, struct verdict *v)
{
	struct screening *s = data;
	struct api *a = s->a;
	char stored[65];
	int rc;

	api_count_verdict(a, v);
	if (!v) {
		http_respond_error(s->r, 503, "Retry-After: 1\r\n", "unavailable", "out of memory");
		screening_free(s);
		return;
	}
	log_info("req %llu: id %s: %s", (unsigned long long)s->req_no, s->req->id,
		 decision_name(v->decision));
	/* Written once: this text is what is stored, sent and replayed. */
	s->text = verdict_take_text(v, &s->len);
	if (!s->text) {
		http_respond_error(s->r, 503, "Retry-After: 1\r\n", "unavailable", "out of memory");
		screening_free(s);
		return;
	}
	if (a->rs)
		rc = rescreen_store(a->rs, s->req, s->digest, v, s->text, s->len, on_durable, s);
	else
		rc = outbox_put(a->ob, s->req->id, s->digest, s->text, s->len, on_durable, s);
	if (rc == 0)
		return;
	if (rc == -EEXIST && outbox_lookup(a->ob, s->req->id, stored) == 0) {
		/* The same id was screened meanwhile by a concurrent request. */
		answer_known(a, s->r, s->req->id, s->digest, stored);
	} else if (rc == -EBUSY) {
		http_respond_error(s->r, 503, "Retry-After: 1\r\n", "unavailable",
				   "a request with this id is being stored; retry");
	} else {
		log_err("req %llu: id %s: verdict not queued: %s", (unsigned long long)s->req_no,
			s->req->id, strerror(-rc));
		http_respond_error(s->r, 503, "Retry-After: 1\r\n", "unavailable",
				   "the verdict could not be stored");
	}
	screening_free(s);
}

static int media_type_is_json(const char *ct)
{
	size_t n = strlen("application/json");

	if (!ct || strncasecmp(ct, "application/json", n) != 0)
		return 0;
	ct += n;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}

static void post_screening(struct api *a, struct http_req *r)
{
	struct request_error err;
	struct kvs_request *req = NULL;
	struct screening *s;
	char stored[65];
	int rc;

	if (!media_type_is_json(r->content_type)) {
		http_respond_error(r, 415, NULL, "unsupported_media_type",
				   "Content-Type must be application/json");
		return;
	}
	if (a->state == API_STOPPING) {
		http_respond_error(r, 503, "Retry-After: 5\r\n", "unavailable", "the daemon is stopping");
		return;
	}
	if (a->inflight >= a->max_inflight) {
		a->overloaded++;
		http_respond_error(r, 503, "Retry-After: 1\r\n", "overloaded",
				   "too many screenings in flight; retry later");
		return;
	}
	rc = request_parse(r->body, r->body_len, &a->en->cfg->limits, &req, &err);
	if (rc < 0) {
		respond_request_error(r, rc == -E2BIG ? 413 : 400, &err);
		return;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		request_unref(req);
		http_respond_error(r, 503, "Retry-After: 1\r\n", "unavailable", "out of memory");
		return;
	}
	s->a = a;
	s->r = r;
	s->req = req;
	s->req_no = r->id;
	s->en = engine_ref(a->en);
	a->inflight++;
	if (digest_buffer(req->canonical, strlen(req->canonical), s->digest) < 0) {
		http_respond_error(r, 500, NULL, "internal", "cannot digest the request");
		screening_free(s);
		return;
	}
	if (outbox_lookup(a->ob, req->id, stored) == 0) {
		answer_known(a, r, req->id, s->digest, stored);
		screening_free(s);
		return;
	}
	/* pipeline_submit may call on_verdict before it returns: s is not
	 * touched after a successful submit. */
	rc = pipeline_submit(a->loop, s->en, req, on_verdict, s);
	if (rc < 0) {
		log_err("req %llu: id %s: cannot submit: %s", (unsigned long long)r->id, req->id,
			strerror(-rc));
		http_respond_error(r, 503, "Retry-After: 1\r\n", "unavailable", "cannot screen now");
		screening_free(s);
	}
}

/* The throttle slot of `peer`, or NULL; with `add`, a free slot or the
 * least recently used one is taken over when it has none. */
static struct auth_slot *auth_slot(struct api *a, const struct http_peer *peer, int add)
{
	struct auth_slot *lru = &a->auth[0];

	for (size_t i = 0; i < API_AUTH_CLIENTS; i++) {
		struct auth_slot *sl = &a->auth[i];

		if (sl->used && http_peer_equal(&sl->peer, peer))
			return sl;
		if (sl->used < lru->used)
			lru = sl;
	}
	if (!add)
		return NULL;
	memset(lru, 0, sizeof(*lru));
	lru->peer = *peer;
	return lru;
}

/* 1 if r may go on; else it has been answered (401, 403 or 429).  With
 * `name`, *name is set to the officer the token names (NULL: none). */
static int authorized_as(struct api *a, struct http_req *r, const char **name)
{
	static const char challenge[] = "WWW-Authenticate: Bearer realm=\"kvscreend\"\r\n";
	uint64_t sec = uv_now(a->loop) / 1000;
	struct auth_slot *sl;
	char who[64];
	const char *tok;
	int idx;

	if (name)
		*name = NULL;
	if (r->via_unix)
		return 1;
	if (r->origin) {
		/* Browsers send Origin; a script on a web page has no business here
		 * (CSRF, DNS rebinding). */
		http_respond_error(r, 403, NULL, "forbidden", "cross-origin requests are refused");
		return 0;
	}
	sl = auth_slot(a, &r->peer, 0);
	if (sl && sl->sec == sec && sl->fails >= API_AUTH_FAIL_PER_SEC) {
		a->auth_failures++;
		a->auth_throttled++;
		http_respond_error(r, 429, "Retry-After: 1\r\n", "too_many_requests",
				   "too many failed authentications; retry later");
		return 0;
	}
	tok = r->authorization;
	if (tok && strncasecmp(tok, "Bearer ", 7) == 0) {
		tok += 7;
		while (*tok == ' ')
			tok++;
		if (*tok && (idx = token_find(&a->tokens, tok, strlen(tok))) >= 0) {
			if (name && a->tokens.name[idx][0])
				*name = a->tokens.name[idx];
			return 1;
		}
	}
	/* An unknown peer (family 0) gets a slot of its own each time it
	 * fails, so it is never throttled together with another. */
	sl = auth_slot(a, &r->peer, 1);
	if (sl->sec != sec) {
		sl->sec = sec;
		sl->fails = 0;
	}
	sl->fails++;
	sl->used = ++a->auth_clock;
	a->auth_failures++;
	http_peer_str(&r->peer, who, sizeof(who));
	if (sl->fails == API_AUTH_FAIL_PER_SEC)
		log_warn("req %llu: %s: %u failed authentications within a second; "
			 "answering 429 for the rest of it", (unsigned long long)r->id, who,
			 sl->fails);
	else if (sl->fails < API_AUTH_FAIL_PER_SEC)
		log_notice("req %llu: %s %s from %s: %s bearer token", (unsigned long long)r->id,
			   r->method, r->path, who, r->authorization ? "wrong" : "missing");
	http_respond_error(r, 401, challenge, "unauthorized",
			   r->authorization ? "the bearer token is not valid"
					    : "a bearer token is required");
	return 0;
}

static int authorized(struct api *a, struct http_req *r)
{
	return authorized_as(a, r, NULL);
}

static void method_not_allowed(struct http_req *r, const char *allow)
{
	char hdr[64];

	snprintf(hdr, sizeof(hdr), "Allow: %s\r\n", allow);
	http_respond_error(r, 405, hdr, "method_not_allowed", "method not allowed on this resource");
}

static int is_get(const struct http_req *r)
{
	return strcmp(r->method, "GET") == 0;
}

/* ---- cases: close, re-screen ---- */

struct closing {
	struct http_req *r;
	char id[129];
};

static void on_closed(void *data, int status)
{
	struct closing *cl = data;

	if (status == 0)
		respond_json(cl->r, 200, json_pack("{s:s,s:s}", "request_id", cl->id, "state",
						   "closed"));
	else
		http_respond_error(cl->r, 503, "Retry-After: 1\r\n", "unavailable",
				   "the case could not be closed");
	free(cl);
}

/* POST /v1/screenings/{id}/close: the case is kept, never screened again. */
static void post_close(struct api *a, struct http_req *r, const char *id, size_t n)
{
	struct closing *cl;
	struct kcase *c;
	char stored[65];
	int rc;

	cl = calloc(1, sizeof(*cl));
	if (!cl) {
		http_respond_error(r, 503, "Retry-After: 1\r\n", "unavailable", "out of memory");
		return;
	}
	cl->r = r;
	snprintf(cl->id, sizeof(cl->id), "%.*s", (int)(n < sizeof(cl->id) ? n : 0), id);
	c = outbox_id_valid(cl->id) ? cases_get(a->cs, cl->id) : NULL;
	if (!c || outbox_lookup(a->ob, cl->id, stored) != 0) {
		free(cl);
		http_respond_error(r, 404, NULL, "not_found", "no case with this id");
		return;
	}
	rc = cases_close(a->cs, c, CASE_CLOSED, on_closed, cl);
	if (rc == 0)
		return;
	if (rc == -EALREADY)
		respond_json(r, 200, json_pack("{s:s,s:s}", "request_id", cl->id, "state",
					       cases_state_name(c->state)));
	else
		http_respond_error(r, 503, "Retry-After: 1\r\n", "unavailable",
				   "the case could not be closed");
	free(cl);
}

/* GET /v1/admin/rescreen: progress; POST: start a run, body optional
 * {"ids": [...], "dry_run": bool}. */
static void admin_rescreen(struct api *a, struct http_req *r)
{
	const char **ids = NULL, *bad = NULL;
	json_t *body = NULL, *arr, *e;
	size_t n = 0, i;
	int rc, dry;

	if (is_get(r)) {
		respond_json(r, 200, rescreen_progress_json(a->rs));
		return;
	}
	if (r->body_len) {
		body = json_loadb(r->body, r->body_len, 0, NULL);
		if (!json_is_object(body)) {
			json_decref(body);
			http_respond_error(r, 400, NULL, "invalid_request",
					   "the body must be a JSON object");
			return;
		}
	}
	dry = json_is_true(json_object_get(body, "dry_run"));
	arr = json_object_get(body, "ids");
	if (json_array_size(arr)) {
		ids = calloc(json_array_size(arr), sizeof(*ids));
		if (!ids) {
			json_decref(body);
			http_respond_error(r, 503, NULL, "unavailable", "out of memory");
			return;
		}
		json_array_foreach(arr, i, e) {
			if (!json_is_string(e)) {
				free(ids);
				json_decref(body);
				http_respond_error(r, 400, NULL, "invalid_request",
						   "ids must be strings");
				return;
			}
			ids[n++] = json_string_value(e);
		}
	}
	rc = rescreen_start(a->rs, ids ? ids : NULL, n, dry, &bad);
	if (rc == 0)
		respond_json(r, 202, rescreen_progress_json(a->rs));
	else if (rc == -EBUSY)
		respond_json(r, 409, json_pack("{s:{s:s,s:s},s:o}", "error", "code", "busy",
					       "message", "a re-screen is running",
					       "progress", rescreen_progress_json(a->rs)));
	else if (rc == -ENOENT)
		respond_json(r, 404, json_pack("{s:{s:s,s:s,s:s}}", "error", "code", "not_found",
					       "message", "no case with this id", "id", bad));
	else
		http_respond_error(r, 503, "Retry-After: 1\r\n", "unavailable",
				   "cannot re-screen now");
	free(ids);
	json_decref(body);
}

void api_set_cases(struct api *a, struct cases *cs, struct rescreen *rs)
{
	api_case_set_cases(a->cases, cs);
	a->cs = cs;
	a->rs = rs;
}

void api_handle(struct http_req *r, void *data)
{
	static const char prefix[] = "/v1/screenings/";
	struct api *a = data;
	const char *p = r->path;

	log_debug("req %llu: %s %s%s", (unsigned long long)r->id, r->method, p,
		  r->via_unix ? " (unix)" : "");
	if (strcmp(p, "/healthz") == 0) {
		if (!is_get(r)) {
			method_not_allowed(r, "GET");
			return;
		}
		http_respond(r, 200, NULL, "application/json", "{\"status\":\"ok\"}", 15);
		return;
	}
	if (strcmp(p, "/readyz") == 0) {
		static const char *const names[] = { "starting", "ready", "reloading", "stopping" };
		char body[64];
		int n;

		if (!is_get(r)) {
			method_not_allowed(r, "GET");
			return;
		}
		n = snprintf(body, sizeof(body), "{\"status\":\"%s\"}", names[a->state]);
		http_respond(r, a->state == API_READY ? 200 : 503,
			     a->state == API_READY ? NULL : "Retry-After: 1\r\n",
			     "application/json", body, (size_t)n);
		return;
	}
	if (strcmp(p, "/v1/screenings") == 0) {
		if (strcmp(r->method, "POST") != 0) {
			method_not_allowed(r, "POST");
			return;
		}
		if (authorized(a, r))
			post_screening(a, r);
		return;
	}
	if (strncmp(p, prefix, sizeof(prefix) - 1) == 0 && a->cs && strlen(p) > 6 &&
	    strcmp(p + strlen(p) - 6, "/close") == 0) {
		if (strcmp(r->method, "POST") != 0) {
			method_not_allowed(r, "POST");
			return;
		}
		if (authorized(a, r))
			post_close(a, r, p + sizeof(prefix) - 1, strlen(p) - sizeof(prefix) + 1 - 6);
		return;
	}
	if (strncmp(p, prefix, sizeof(prefix) - 1) == 0) {
		char id[130];
		const char *sub = strchr(p + sizeof(prefix) - 1, '/'), *who;
		size_t n = sub ? (size_t)(sub - p) - (sizeof(prefix) - 1) : strlen(p + sizeof(prefix) - 1);
		int post = sub && strcmp(sub, "/decisions") == 0;

		if (sub && !post && strcmp(sub, "/report") != 0) {
			http_respond_error(r, 404, NULL, "not_found", "no such resource");
			return;
		}
		if (post ? strcmp(r->method, "POST") != 0 : !is_get(r)) {
			method_not_allowed(r, post ? "POST" : "GET");
			return;
		}
		if (!authorized_as(a, r, &who))
			return;
		snprintf(id, sizeof(id), "%.*s", (int)(n < sizeof(id) - 1 ? n : sizeof(id) - 1),
			 p + sizeof(prefix) - 1);
		if (n >= sizeof(id) - 1 || !outbox_id_valid(id)) {
			http_respond_error(r, 404, NULL, "not_found", "no verdict with this id");
			return;
		}
		if (post && !media_type_is_json(r->content_type))
			http_respond_error(r, 415, NULL, "unsupported_media_type",
					   "Content-Type must be application/json");
		else if (post)
			api_case_decide(a->cases, r, id, who);
		else if (sub)
			api_case_report(a->cases, r, id);
		else if (r->query && strstr(r->query, "history=1"))
			answer_stored_ex(a, r, id, 0, 1);
		else
			api_case_get(a->cases, r, id);
		return;
	}
	if (strcmp(p, "/v1/admin/rescreen") == 0 && a->rs) {
		if (!is_get(r) && strcmp(r->method, "POST") != 0) {
			method_not_allowed(r, "GET, POST");
			return;
		}
		if (!r->via_unix) {
			http_respond_error(r, 403, NULL, "forbidden",
					   "re-screening is only offered on the Unix socket");
			return;
		}
		admin_rescreen(a, r);
		return;
	}
	if (strcmp(p, "/v1/plugins") == 0) {
		if (!is_get(r)) {
			method_not_allowed(r, "GET");
			return;
		}
		if (authorized(a, r))
			get_plugins(a, r);
		return;
	}
	if (strcmp(p, "/metrics") == 0) {
		if (!is_get(r)) {
			method_not_allowed(r, "GET");
			return;
		}
		if (authorized(a, r))
			get_metrics(a, r);
		return;
	}
	if (strcmp(p, "/v1/admin/reload") == 0 && a->reload_cb) {
		if (strcmp(r->method, "POST") != 0) {
			method_not_allowed(r, "POST");
			return;
		}
		/* Administration is for whoever may open the socket file, never
		 * for a token holder over the network. */
		if (!r->via_unix) {
			http_respond_error(r, 403, NULL, "forbidden",
					   "reload is only offered on the Unix socket");
			return;
		}
		a->reload_cb(a->reload_data, r);
		return;
	}
	http_respond_error(r, 404, NULL, "not_found", "no such resource");
}

void api_set_reload_cb(struct api *a, api_reload_cb cb, void *data)
{
	a->reload_cb = cb;
	a->reload_data = data;
}

void api_reload_answer(struct http_req *r, const char *digest, const char *errors)
{
	if (!errors) {
		respond_json(r, 200, json_pack("{s:s,s:s}", "status", "reloaded", "policy_digest",
					       digest));
		return;
	}
	respond_json(r, 422, json_pack("{s:{s:s,s:s}}", "error", "code", "reload_failed",
				       "message", errors));
}
