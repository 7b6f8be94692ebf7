/* rescreen.h - continuous screening: open cases screened again when the policy changes, changes posted as new verdict versions.
 *
 * The daemon stores each new verdict through rescreen_store(): the case
 * (request and verdict 1) goes into the case journal (cases.h) and, once
 * that is durable, the verdict into the outbox; the caller's callback runs
 * when the outbox has it.  So a request is in the journal before its
 * verdict is acknowledged.  A crash between the two leaves a case whose id
 * the outbox does not know: it is never re-screened (rescreen checks
 * outbox_lookup), and the client's retry screens it and replaces the case.
 *
 * A run screens a set of open cases again, on the screening workers as
 * background jobs (live requests first), at most `rate` per second and a
 * few in flight.  Runs start:
 *   - at rescreen_set_engine() (start-up and every reload) with every open
 *     case last screened under another policy digest (the lists are files
 *     of the policy, so `kvscreen lists update --reload` changes it);
 *   - on demand, rescreen_start(), for every open case or the ids given.
 * Each result is compared with the case's current version: the decision
 * and the set of findings (plugin, rule, severity, references; the same
 * finding in several fields of the request counts once).  Unchanged: a "checked" record (so a crash does not screen it
 * again) and nothing posted.  Changed: version n+1 with "version",
 * "supersedes" (the digest of version n's text) and "reason" is appended
 * to the journal and, once durable, posted with outbox_post(); a "posted"
 * record follows.  Versions still unposted at start-up (a crash between the
 * journal and the outbox) are posted again with their journal text, so a
 * version is never posted with two contents.  A screening with a failed or
 * timed-out plugin changes nothing and counts as an error; the case stays
 * in the backlog until the next policy change, start or on-demand run (a
 * run never starts itself again, so a failing plugin cannot loop it).
 *
 * Retention: an open case older than the retention period is closed
 * ("expired") when a run is built.
 *
 * Everything runs on the loop thread.
 */
#ifndef KVS_RESCREEN_H
#define KVS_RESCREEN_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <uv.h>

#include "cases.h"
#include "outbox.h"
#include "pipeline.h"

struct rescreen;

struct rescreen_progress {
	unsigned long long run;     /* 1, 2, ... since start; 0 before any */
	bool running, dry_run, on_demand;
	size_t total, done;
	size_t unchanged, changed_up, changed_down, changed_same, errors, skipped;
	size_t backlog;             /* open cases not yet screened under the
				     * current policy (all runs) */
	double rate;                /* re-screens per second, last 10 s */
	unsigned long long screened_total, posted_total;
};

int rescreen_new(uv_loop_t *loop, struct outbox *ob, struct cases *cs, struct rescreen **out);
/* At most `per_second` re-screens a second (> 0); open cases older than
 * `retention_days` are expired (0: never). */
void rescreen_set_limits(struct rescreen *rs, double per_second, long long retention_days,
			 unsigned max_inflight);
/* The engine new runs use (a reference is taken).  Starts a run of every
 * open case last screened under another digest, once no run is going. */
void rescreen_set_engine(struct rescreen *rs, struct engine *en);
/* Start a run now: ids NULL for every open case, else those ids.  Dry run:
 * screen and count, write and post nothing.  Returns 0, -EBUSY while a run
 * goes, -ENOENT (*bad gets the first unknown id), -ENOMEM. */
int rescreen_start(struct rescreen *rs, const char *const *ids, size_t n, bool dry_run,
		   const char **bad);
void rescreen_progress(const struct rescreen *rs, struct rescreen_progress *out);
/* The progress as JSON (a new reference). */
json_t *rescreen_progress_json(const struct rescreen *rs);
/* /metrics lines. */
void rescreen_metrics(const struct rescreen *rs, FILE *f);

/* Store a new verdict (see above).  `verdict` is borrowed, `text` copied;
 * cb as outbox_put's (0, or a negative errno).  Returns 0, or -EEXIST
 * (the outbox knows the id), -EBUSY (another verdict of the id is being
 * stored), -EINVAL, -EIO, -ENOMEM, -ENOSPC, -ESHUTDOWN: cb not called. */
int rescreen_store(struct rescreen *rs, const struct kvs_request *req, const char *req_digest,
		   const struct verdict *verdict, const char *text, size_t len, outbox_done_cb cb,
		   void *data);

/* Stop starting re-screens; cb once none is in flight (their versions are
 * in the journal; unposted ones are posted after the next start). */
void rescreen_stop(struct rescreen *rs, void (*cb)(void *data), void *data);
void rescreen_free(struct rescreen *rs);

#endif
