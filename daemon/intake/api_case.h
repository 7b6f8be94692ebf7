/* api_case.h - the routes of one case: its verdict with the officer decisions, its report, new decisions.
 *
 *   GET  /v1/screenings/{id}            the stored verdict; with a "decisions"
 *                                       member when officers decided on it
 *   GET  /v1/screenings/{id}/report     the case report (report.h), text/html
 *   POST /v1/screenings/{id}/decisions  record an officer decision: validated,
 *                                       appended to the audit log (durable),
 *                                       posted to the queue, then 201
 *
 * api.c authenticates and dispatches; everything here runs on the loop
 * thread except the rendering of reports (thread pool).
 */
#ifndef KVS_API_CASE_H
#define KVS_API_CASE_H

#include <uv.h>

#include "audit.h"
#include "http.h"
#include "outbox.h"

/* Largest decision request body; larger ones answer 413. */
#define API_CASE_MAX_BODY (16u << 10)
#define API_CASE_MAX_TEXT 4096      /* bytes of reason, of conditions */
#define API_CASE_MAX_OFFICER 128    /* bytes of the officer's name */

struct api_case;

/* `ob` is borrowed and must outlive the routes. */
int api_case_new(uv_loop_t *loop, struct outbox *ob, struct api_case **out);
/* The audit log (borrowed; NULL: decisions answer 503 with `error`, or a
 * generic message when error is NULL). */
void api_case_set_audit(struct api_case *c, struct audit *au, const char *error);
void api_case_get(struct api_case *c, struct http_req *r, const char *id);
void api_case_report(struct api_case *c, struct http_req *r, const char *id);
/* token_name: the officer's name from a named API token, or NULL (no token,
 * a token without a name, the Unix socket): the body's "officer" is then
 * required and recorded as given. */
void api_case_decide(struct api_case *c, struct http_req *r, const char *id,
		     const char *token_name);
/* The current verdict version of id (1 until re-screening exists). */
int api_case_current_version(struct api_case *c, const char *id, long long *version);
struct cases;
/* The case journal (cases.h): GET, the report and decisions then use the
 * latest verdict version, and the report shows the request and history. */
void api_case_set_cases(struct api_case *c, struct cases *cs);
void api_case_free(struct api_case *c);

#endif
