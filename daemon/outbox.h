/* outbox.h - the durable outbox and the verdict store.
 *
 * Layout under the state directory:
 *   outbox/tmp/                 files being written
 *   outbox/new/SEQ.ID.json      verdicts waiting for delivery (the embedded
 *                               default queue; SEQ is a 20-digit zero-padded
 *                               sequence so names sort in delivery order)
 *   store/ID.json               every verdict by request id, with the SHA-256
 *                               of the request it answers, for
 *                               GET /v1/screenings/{id} and idempotency
 * outbox_put() only queues; all entries put during one loop turn are written,
 * fsynced, renamed into place and their folders fsynced together on the
 * thread pool (group commit), then each callback runs on the loop thread.
 * All functions run on the loop thread.
 */
#ifndef KVS_OUTBOX_H
#define KVS_OUTBOX_H

#include <stddef.h>
#include <uv.h>

struct outbox;

int outbox_open(uv_loop_t *loop, const char *state_dir, struct outbox **out);
/* Called with 0 once the entry is durable, or a negative errno. */
typedef void (*outbox_done_cb)(void *data, int status);
/* Queue a verdict.  request_sha256 is the hex digest of the canonical
 * request (idempotency); verdict is JSON text, copied.  Returns 0, or a
 * negative errno and then cb is never called. */
int outbox_put(struct outbox *ob, const char *id, const char *request_sha256,
	       const char *verdict, size_t len, outbox_done_cb cb, void *data);

/* Idempotency and lookup.  outbox_lookup() answers from memory whether `id`
 * is known: 0 and the request digest in digest_out (65 bytes), or -ENOENT.
 * Loaded from store/ at open, so it survives restarts. */
int outbox_lookup(const struct outbox *ob, const char *id, char digest_out[65]);
/* Read the stored verdict of `id` off the loop thread; cb gets 0 and the
 * JSON text (owned by cb's caller, valid during cb), or a negative errno. */
typedef void (*outbox_read_cb)(void *data, int status, const char *json, size_t len);
int outbox_read(struct outbox *ob, const char *id, outbox_read_cb cb, void *data);

/* Entries in outbox/new not yet delivered, for /metrics. */
size_t outbox_depth(const struct outbox *ob);
/* Flush what is queued, then call cb; no put is accepted afterwards. */
void outbox_close(struct outbox *ob, void (*cb)(void *data), void *data);

#endif
