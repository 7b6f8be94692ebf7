/* api.h - the routes of the HTTP API (DESIGN.md) on top of http.c.
 *
 *   POST /v1/screenings        screen a request; 200 with the verdict once
 *                              it is durable in the outbox
 *   GET  /v1/screenings/{id}   the latest verdict version with the officer
 *                              decisions (api_case.h), 404 if unknown;
 *                              ?history=1 every version
 *   POST /v1/screenings/{id}/close  close the case: no more re-screening
 *   GET  /v1/screenings/{id}/report, POST /v1/screenings/{id}/decisions
 *                              the case report and officer decisions
 *                              (api_case.h)
 *   GET, POST /v1/admin/rescreen    Unix socket only: re-screen progress,
 *                              start a run
 *   GET  /v1/plugins           the loaded plugins
 *   GET  /healthz              200 while the loop runs
 *   GET  /readyz               200 when ready, 503 while starting, reloading
 *                              or stopping
 *   GET  /metrics              Prometheus text format
 *   POST /v1/admin/reload      Unix socket only: reload the configuration and
 *                              answer once it is in effect (200) or refused
 *                              (422, with the file:line errors)
 *
 * Over TCP every route but /healthz and /readyz needs a bearer token from the
 * token file, and a request carrying an Origin header (a browser) is refused;
 * the Unix socket relies on its file mode and group.  After
 * API_AUTH_FAIL_PER_SEC failed authentications of one client (one IP
 * address, struct http_peer) within one second, every request of that
 * client that needs a token is answered 429 with Retry-After, without
 * looking at its token, for the rest of that second: tokens cannot be
 * guessed at speed, and one client guessing does not lock out the others.
 * The failures of at most API_AUTH_CLIENTS clients are kept; the client
 * that failed least recently gives way to a new one.
 *
 * Screenings in flight (from submission until the verdict is durable) are
 * capped; past the cap POST answers 503 with Retry-After.  Each screening
 * keeps a reference on the engine it started with, so a reload swaps the
 * engine between requests without disturbing those in flight.
 *
 * Everything runs on the loop thread.
 */
#ifndef KVS_API_H
#define KVS_API_H

#include <jansson.h>
#include <stdio.h>
#include <uv.h>

#include "http.h"
#include "outbox.h"
#include "pipeline.h"
#include "token.h"

#define API_AUTH_FAIL_PER_SEC 50
#define API_AUTH_CLIENTS 256

enum api_state {
	API_STARTING,
	API_READY,
	API_RELOADING,
	API_STOPPING,
};

struct api;

/* Extra /metrics lines (e.g. the sink's), written by the daemon. */
typedef void (*api_metrics_cb)(void *data, FILE *out);

/* Create the API.  Takes a reference on `en`; `ob` is borrowed and must
 * outlive the API; `tokens` is copied. */
int api_new(uv_loop_t *loop, struct engine *en, struct outbox *ob,
	    const struct token_set *tokens, unsigned max_inflight, struct api **out);
/* The http_handler of the API's server; data is the struct api. */
void api_handle(struct http_req *r, void *data);
/* Swap the engine used by new screenings (a reference is taken; the old
 * engine is released once its screenings in flight are done). */
void api_set_engine(struct api *a, struct engine *en);
void api_set_tokens(struct api *a, const struct token_set *tokens);
void api_set_max_inflight(struct api *a, unsigned max_inflight);
/* The audit log of officer decisions (borrowed; NULL with the reason while
 * it cannot be used: decisions then answer 503). */
struct audit;
void api_set_audit(struct api *a, struct audit *au, const char *error);
void api_set_state(struct api *a, enum api_state st);
/* The server whose statistics /metrics shows (NULL once it is closed). */
void api_set_http(struct api *a, struct http_server *srv);
void api_set_metrics_cb(struct api *a, api_metrics_cb cb, void *data);
/* Who performs POST /v1/admin/reload: the callee starts (or joins) a reload
 * and later answers r with api_reload_answer().  Without a callback the
 * route answers 404. */
typedef void (*api_reload_cb)(void *data, struct http_req *r);
void api_set_reload_cb(struct api *a, api_reload_cb cb, void *data);
/* Answer a reload request: errors NULL when the new configuration is in
 * effect, else the file:line error text. */
void api_reload_answer(struct http_req *r, const char *digest, const char *errors);
/* The case journal and re-screener (rescreen.h): new verdicts are stored
 * through them, and GET ?history=1, POST /v1/screenings/{id}/close and the
 * Unix socket's /v1/admin/rescreen (GET progress, POST start) are served.
 * Both borrowed; NULL disables. */
struct cases;
struct rescreen;
void api_set_cases(struct api *a, struct cases *cs, struct rescreen *rs);
/* Count a verdict made outside the API (the spool) in /metrics. */
void api_count_verdict(struct api *a, const struct verdict *v);
unsigned api_inflight(const struct api *a);
/* Screenings finished (answered, any outcome) since start: the watchdog's
 * measure of progress. */
unsigned long long api_completed(const struct api *a);
/* Free the API; no request may be out with it (close the server first). */
void api_free(struct api *a);

#endif
