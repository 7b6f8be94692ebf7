/* api_case.c - the routes of one case: verdict with decisions, case report, officer decisions (api_case.h).
 *
 * A decision travels: validation of the body (strict: known members, types,
 * sizes) -> the verdict must exist (404) and be the current version (409) ->
 * outbox_read() of the verdict, whose SHA-256 and decision go into the
 * record -> audit_append() (durable, hash-chained) -> outbox_post() to the
 * queue -> 201 with the record.  A struct job owns one such request until it
 * is answered.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api_case.h"
#include "cases.h"
#include "digest.h"
#include "log.h"
#include "report.h"

struct api_case {
	uv_loop_t *loop;
	struct outbox *ob;
	struct audit *audit;
	struct cases *cs;           /* verdict versions and requests; may be NULL */
	char audit_error[512];
	char headers[512];          /* extra headers of the report */
};

enum job_kind { JOB_GET, JOB_REPORT, JOB_DECIDE };

struct job {
	struct api_case *c;
	struct http_req *r;
	enum job_kind kind;
	char id[129];
	json_t *fields;             /* JOB_DECIDE: the record being made */
	json_t *record;             /* JOB_DECIDE: the durable record */
	/* JOB_REPORT, on the thread pool */
	uv_work_t work;
	char *text;
	size_t len;
	json_t *decisions;
	char *request;              /* JOB_REPORT: the case's request, if kept */
	json_t *history;            /* JOB_REPORT: every verdict version */
	char *html;
	size_t html_len;
	int rc;
};

int api_case_new(uv_loop_t *loop, struct outbox *ob, struct api_case **out)
{
	struct api_case *c = calloc(1, sizeof(*c));
	char csp[300];

	if (!c)
		return -ENOMEM;
	if (report_csp(csp, sizeof(csp)) < 0) {
		free(c);
		return -EIO;
	}
	snprintf(c->headers, sizeof(c->headers),
		 "Content-Security-Policy: %s\r\nX-Content-Type-Options: nosniff\r\n"
		 "Referrer-Policy: no-referrer\r\nCache-Control: no-store\r\n", csp);
	c->loop = loop;
	c->ob = ob;
	*out = c;
	return 0;
}

void api_case_set_audit(struct api_case *c, struct audit *au, const char *error)
{
	c->audit = au;
	snprintf(c->audit_error, sizeof(c->audit_error), "%s",
		 error ? error : "the audit log is not open");
}

void api_case_set_cases(struct api_case *c, struct cases *cs)
{
	c->cs = cs;
}

/* The case of id in the journal, if it answers the stored verdict's
 * request (a later request under a stored id is refused, so this holds
 * unless the journal lost the case). */
static struct kcase *case_of(const struct api_case *c, const char *id)
{
	struct kcase *k = c->cs ? cases_get(c->cs, id) : NULL;
	char stored[65];

	if (!k || outbox_lookup(c->ob, id, stored) < 0 || !cases_request_is(k, stored))
		return NULL;
	return k;
}

static void add_version(void *data, const struct case_version *v)
{
	json_t *arr = data;

	if (v->msg)
		json_array_append_new(arr, json_loads(v->msg, 0, NULL));
}

/* Every version of the verdict, oldest first: version 1 is the stored text. */
static json_t *history_of(const struct api_case *c, const char *id, const char *v1, size_t len)
{
	json_t *arr = json_array(), *first = json_loadb(v1, len, 0, NULL);

	if (!arr || !first) {
		json_decref(arr);
		json_decref(first);
		return NULL;
	}
	if (!json_object_get(first, "version"))
		json_object_set_new(first, "version", json_integer(1));
	json_array_append_new(arr, first);
	if (c->cs)
		cases_history(c->cs, id, add_version, arr);
	return arr;
}

void api_case_free(struct api_case *c)
{
	free(c);
}

static void job_free(struct job *j)
{
	json_decref(j->fields);
	json_decref(j->record);
	json_decref(j->decisions);
	json_decref(j->history);
	free(j->request);
	free(j->text);
	free(j->html);
	free(j);
}

static void respond_json(struct http_req *r, int status, json_t *body)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;

	json_decref(body);
	if (!text) {
		http_respond_error(r, 500, NULL, "internal", "out of memory");
		return;
	}
	http_respond(r, status, NULL, "application/json", text, strlen(text));
	free(text);
}

static void respond_invalid(struct http_req *r, int status, const char *code, const char *path,
			    const char *message)
{
	respond_json(r, status, json_pack("{s:{s:s,s:s,s:s}}", "error", "code", code, "message",
					  message, "path", path));
}

static json_t *decisions_of(struct api_case *c, const char *id)
{
	json_t *recs = c->audit ? audit_records(c->audit, id) : NULL;

	return json_array_size(recs) ? json_deep_copy(recs) : NULL;
}

/* ---- reports, rendered on the thread pool ---- */

static void render_work(uv_work_t *w)
{
	struct job *j = w->data;
	struct report_input in = { 0 };
	json_t *v = json_loadb(j->text, j->len, 0, NULL), *req;
	FILE *f;

	j->rc = -EINVAL;
	if (!v)
		return;
	f = open_memstream(&j->html, &j->html_len);
	if (!f) {
		json_decref(v);
		j->rc = -ENOMEM;
		return;
	}
	in.verdict = v;
	in.decisions = j->decisions;
	in.history = j->history;
	/* The case journal keeps the request of an open case; without it the
	 * report quotes the evidence (see docs/api.md). */
	req = j->request ? json_loads(j->request, 0, NULL) : NULL;
	in.request = req;
	j->rc = report_render(&in, f);
	json_decref(req);
	if (fclose(f) != 0 && j->rc == 0)
		j->rc = -ENOMEM;
	json_decref(v);
}

static void render_done(uv_work_t *w, int status)
{
	struct job *j = w->data;

	if (status == 0 && j->rc == 0)
		http_respond(j->r, 200, j->c->headers, "text/html; charset=utf-8", j->html,
			     j->html_len);
	else
		http_respond_error(j->r, 500, NULL, "internal", "the report could not be made");
	job_free(j);
}

/* ---- decisions ---- */

static void on_posted(void *data, int status)
{
	struct job *j = data;

	if (status < 0)
		log_err("decision %lld on %s: recorded in the audit log but not queued: %s",
			(long long)json_integer_value(json_object_get(j->record, "seq")), j->id,
			strerror(-status));
	respond_json(j->r, 201, json_pack("{s:O,s:b}", "decision", j->record, "queued", status == 0));
	job_free(j);
}

static void on_recorded(void *data, int status, const json_t *record)
{
	struct job *j = data;
	char *msg;
	int rc;

	if (status < 0) {
		http_respond_error(j->r, 503, "Retry-After: 1\r\n", "unavailable",
				   "the decision could not be recorded");
		job_free(j);
		return;
	}
	j->record = json_incref((json_t *)record);
	log_info("decision %lld on %s: %s by %s", (long long)json_integer_value(
			 json_object_get(record, "seq")), j->id,
		 json_string_value(json_object_get(record, "decision")),
		 json_string_value(json_object_get(record, "officer")));
	/* The queue gets the record as the log holds it (hash included), so
	 * the receiver keeps an outside anchor of the chain. */
	msg = json_dumps(record, JSON_COMPACT | JSON_SORT_KEYS);
	rc = msg ? outbox_post(j->c->ob, j->id, msg, strlen(msg), on_posted, j) : -ENOMEM;
	free(msg);
	if (rc < 0)
		on_posted(j, rc);
}

static void decide_with_verdict(struct job *j, const char *text, size_t len)
{
	char sha[65];
	json_t *v = json_loadb(text, len, 0, NULL);
	const char *d = json_string_value(json_object_get(v, "decision"));
	int rc;

	if (!d || digest_buffer(text, len, sha) < 0 ||
	    json_object_set_new(j->fields, "verdict_sha256", json_string(sha)) < 0 ||
	    json_object_set_new(j->fields, "verdict_decision", json_string(d)) < 0) {
		json_decref(v);
		http_respond_error(j->r, 500, NULL, "internal", "the stored verdict cannot be read");
		job_free(j);
		return;
	}
	json_decref(v);
	if (!j->c->audit) {
		http_respond_error(j->r, 503, "Retry-After: 60\r\n", "unavailable", j->c->audit_error);
		job_free(j);
		return;
	}
	rc = audit_append(j->c->audit, j->fields, on_recorded, j);
	j->fields = NULL;
	if (rc < 0) {
		http_respond_error(j->r, 503, "Retry-After: 1\r\n", "unavailable",
				   "the decision could not be recorded");
		job_free(j);
	}
}

/* ---- reading the verdict ---- */

static void on_read(void *data, int status, const char *json, size_t len)
{
	struct job *j = data;
	struct kcase *k;
	json_t *v;
	char *text;

	if (status == -ENOENT) {
		http_respond_error(j->r, 404, NULL, "not_found", "no verdict with this id");
		job_free(j);
		return;
	}
	if (status < 0) {
		http_respond_error(j->r, 503, "Retry-After: 1\r\n", "unavailable",
				   "the stored verdict cannot be read now");
		job_free(j);
		return;
	}
	/* Version 1 is in the outbox's store; later versions (re-screening)
	 * in the case journal: answer, render and decide on the latest. */
	k = case_of(j->c, j->id);
	if (k && k->n_v > 1 && k->v[k->n_v - 1].msg) {
		if (j->kind == JOB_REPORT)
			j->history = history_of(j->c, j->id, json, len);
		json = k->v[k->n_v - 1].msg;
		len = strlen(json);
	}
	switch (j->kind) {
	case JOB_GET:
		j->decisions = decisions_of(j->c, j->id);
		if (!j->decisions) {
			http_respond(j->r, 200, NULL, "application/json", json, len);
			break;
		}
		v = json_loadb(json, len, 0, NULL);
		if (!v || json_object_set(v, "decisions", j->decisions) < 0 ||
		    !(text = json_dumps(v, JSON_COMPACT))) {
			json_decref(v);
			http_respond_error(j->r, 500, NULL, "internal", "out of memory");
			break;
		}
		json_decref(v);
		http_respond(j->r, 200, NULL, "application/json", text, strlen(text));
		free(text);
		break;
	case JOB_REPORT:
		j->text = malloc(len + 1);
		if (!j->text) {
			http_respond_error(j->r, 503, "Retry-After: 1\r\n", "unavailable", "out of memory");
			break;
		}
		memcpy(j->text, json, len);
		j->text[len] = '\0';
		j->len = len;
		j->decisions = decisions_of(j->c, j->id);
		/* Without the request (-EIO, logged) the report says so. */
		if (k && cases_request(j->c->cs, k, &j->request) == -ENOMEM) {
			http_respond_error(j->r, 503, "Retry-After: 1\r\n", "unavailable", "out of memory");
			break;
		}
		j->work.data = j;
		if (uv_queue_work(j->c->loop, &j->work, render_work, render_done) == 0)
			return;
		http_respond_error(j->r, 503, "Retry-After: 1\r\n", "unavailable", "cannot render now");
		break;
	case JOB_DECIDE:
		decide_with_verdict(j, json, len);
		return;
	}
	job_free(j);
}

static struct job *job_new(struct api_case *c, struct http_req *r, const char *id,
			   enum job_kind kind)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j) {
		http_respond_error(r, 503, "Retry-After: 1\r\n", "unavailable", "out of memory");
		return NULL;
	}
	j->c = c;
	j->r = r;
	j->kind = kind;
	snprintf(j->id, sizeof(j->id), "%s", id);
	return j;
}

static void start_read(struct job *j)
{
	int rc = outbox_read(j->c->ob, j->id, on_read, j);

	if (rc == 0)
		return;
	if (rc == -ENOENT || rc == -EINVAL)
		http_respond_error(j->r, 404, NULL, "not_found", "no verdict with this id");
	else
		http_respond_error(j->r, 503, "Retry-After: 1\r\n", "unavailable",
				   "the stored verdict cannot be read now");
	job_free(j);
}

void api_case_get(struct api_case *c, struct http_req *r, const char *id)
{
	struct job *j = job_new(c, r, id, JOB_GET);

	if (j)
		start_read(j);
}

void api_case_report(struct api_case *c, struct http_req *r, const char *id)
{
	struct job *j = job_new(c, r, id, JOB_REPORT);

	if (j)
		start_read(j);
}

int api_case_current_version(struct api_case *c, const char *id, long long *version)
{
	char digest[65];
	int rc = outbox_lookup(c->ob, id, digest);
	const struct kcase *k;

	if (rc < 0)
		return rc;
	/* The stored verdict is version 1; re-screening adds later ones. */
	k = case_of(c, id);
	*version = k && k->n_v ? (long long)k->n_v : 1;
	return 0;
}

/* A text member: 1..max bytes, not only blanks, no control characters but
 * (when multiline) newline and tab.  NULL if fine, else the reason. */
static const char *bad_text(const json_t *v, size_t max, int multiline)
{
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	int blank = 1;

	if (!s)
		return "must be a string";
	if (n == 0 || n > max)
		return "has a bad length";
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if ((ch < ' ' && !(multiline && (ch == '\n' || ch == '\t'))) || ch == 0x7f)
			return "contains a control character";
		if (ch != ' ' && ch != '\n' && ch != '\t')
			blank = 0;
	}
	return blank ? "is blank" : NULL;
}

void api_case_decide(struct api_case *c, struct http_req *r, const char *id,
		     const char *token_name)
{
	static const char *const known[] = { "decision", "conditions", "reason", "officer",
					     "verdict_version" };
	static const char *const decisions[] = { "approve", "approve_with_conditions", "reject" };
	const char *key, *d, *why, *officer;
	json_t *body, *val, *fields = NULL, *jv;
	long long current, asked = 0;
	json_error_t je;
	char msg[256], path[80];
	struct job *j;
	int ok;

	if (r->body_len > API_CASE_MAX_BODY) {
		http_respond_error(r, 413, NULL, "too_large", "a decision is at most 16 KiB");
		return;
	}
	body = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(body)) {
		snprintf(msg, sizeof(msg), "%s", body ? "the body must be a JSON object"
			 : "malformed JSON");
		json_decref(body);
		respond_invalid(r, 400, body ? "invalid_request" : "invalid_json", "", msg);
		return;
	}
	json_object_foreach(body, key, val) {
		ok = 0;
		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			ok |= strcmp(key, known[i]) == 0;
		if (!ok) {
			snprintf(path, sizeof(path), "/%.64s", key);
			snprintf(msg, sizeof(msg), "unknown member \"%.64s\"", key);
			goto invalid;
		}
	}
	d = json_string_value(json_object_get(body, "decision"));
	ok = 0;
	for (size_t i = 0; d && i < sizeof(decisions) / sizeof(decisions[0]); i++)
		ok |= strcmp(d, decisions[i]) == 0;
	if (!ok) {
		snprintf(path, sizeof(path), "/decision");
		snprintf(msg, sizeof(msg), "decision must be approve, approve_with_conditions or reject");
		goto invalid;
	}
	if ((why = bad_text(json_object_get(body, "reason"), API_CASE_MAX_TEXT, 1))) {
		snprintf(path, sizeof(path), "/reason");
		snprintf(msg, sizeof(msg), "reason (required, 1 to %u bytes) %s", API_CASE_MAX_TEXT, why);
		goto invalid;
	}
	val = json_object_get(body, "conditions");
	if (strcmp(d, "approve_with_conditions") == 0 &&
	    (why = bad_text(val, API_CASE_MAX_TEXT, 1))) {
		snprintf(path, sizeof(path), "/conditions");
		snprintf(msg, sizeof(msg), "conditions (required with approve_with_conditions, 1 to "
			 "%u bytes) %s", API_CASE_MAX_TEXT, why);
		goto invalid;
	}
	if (strcmp(d, "approve_with_conditions") != 0 && val) {
		snprintf(path, sizeof(path), "/conditions");
		snprintf(msg, sizeof(msg), "conditions belong to approve_with_conditions only");
		goto invalid;
	}
	val = json_object_get(body, "officer");
	if (val && (why = bad_text(val, API_CASE_MAX_OFFICER, 0))) {
		snprintf(path, sizeof(path), "/officer");
		snprintf(msg, sizeof(msg), "officer (1 to %u bytes) %s", API_CASE_MAX_OFFICER, why);
		goto invalid;
	}
	if (token_name && val && strcmp(json_string_value(val), token_name) != 0) {
		json_decref(body);
		respond_invalid(r, 403, "forbidden", "/officer",
				"officer differs from the holder of the API token");
		return;
	}
	if (!token_name && !val) {
		snprintf(path, sizeof(path), "/officer");
		snprintf(msg, sizeof(msg), "officer is required (the token used names no officer)");
		goto invalid;
	}
	officer = token_name ? token_name : json_string_value(val);
	jv = json_object_get(body, "verdict_version");
	if (jv && (!json_is_integer(jv) || json_integer_value(jv) < 1)) {
		snprintf(path, sizeof(path), "/verdict_version");
		snprintf(msg, sizeof(msg), "verdict_version must be an integer of at least 1");
		goto invalid;
	}
	asked = jv ? (long long)json_integer_value(jv) : 0;
	if (api_case_current_version(c, id, &current) < 0) {
		json_decref(body);
		http_respond_error(r, 404, NULL, "not_found", "no verdict with this id");
		return;
	}
	if ((asked && asked != current) || (!asked && current > 1)) {
		json_decref(body);
		snprintf(msg, sizeof(msg), "the verdict of this request is at version %lld%s; decide on "
			 "it and name it (verdict_version %lld)", current,
			 asked ? "" : " (it was screened again)", current);
		respond_invalid(r, 409, "conflict", "/verdict_version", msg);
		return;
	}
	fields = json_pack("{s:s,s:s,s:O,s:s?,s:s,s:I}", "request_id", id, "decision", d,
			   "reason", json_object_get(body, "reason"), "officer", officer,
			   "officer_source", token_name ? "token" : "request",
			   "verdict_version", (json_int_t)current);
	if (fields && json_object_get(body, "conditions"))
		json_object_set(fields, "conditions", json_object_get(body, "conditions"));
	json_decref(body);
	if (!fields) {
		/* json_pack fails on a name that is not UTF-8: only the token
		 * file's names are not checked for it. */
		http_respond_error(r, 500, NULL, "internal", "cannot make the record (is the "
				   "token's officer name valid UTF-8?)");
		return;
	}
	if (!c->audit) {
		json_decref(fields);
		http_respond_error(r, 503, "Retry-After: 60\r\n", "unavailable", c->audit_error);
		return;
	}
	j = job_new(c, r, id, JOB_DECIDE);
	if (!j) {
		json_decref(fields);
		return;
	}
	j->fields = fields;
	start_read(j);
	return;
invalid:
	json_decref(body);
	respond_invalid(r, 400, "invalid_request", path, msg);
}
