/* outbox.h - the durable outbox and the verdict store.
 *
 * Layout under the state directory (one filesystem; outbox_open refuses
 * otherwise, because store entries are hard links of outbox entries):
 *   outbox/tmp/                 files being written (emptied at open)
 *   outbox/new/SEQ.ID.json      verdicts waiting for delivery (the embedded
 *                               default queue; SEQ is a 20-digit zero-padded
 *                               sequence so names sort in delivery order)
 *   store/ID.SHA256.json        every verdict by request id; SHA256 is the
 *                               hex digest of the request it answers, kept in
 *                               the name so that open only lists the folder
 * Every file holds exactly the verdict JSON and has mode 0600.
 *
 * outbox_put() only queues; all entries put during one loop turn are written,
 * fsynced, renamed into place and their folders fsynced together on the
 * thread pool (group commit), then each callback runs on the loop thread.
 * Per batch: write + fdatasync each file in tmp/ (or one syncfs, see
 * outbox_set_syncfs), rename each into new/,
 * fsync new/, link each into store/, fsync store/.  A crash therefore never
 * leaves a store entry without its outbox entry (which would answer a retry
 * from the store while the verdict is never delivered); at worst an entry in
 * new/ has no store entry, and a retry is screened and queued again.
 * One batch is in flight at a time; puts made meanwhile form the next one.
 * All functions run on the loop thread.
 */
#ifndef KVS_OUTBOX_H
#define KVS_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

struct outbox;

/* Largest verdict outbox_put accepts (and outbox_read returns). */
#define OUTBOX_MAX_VERDICT (16u << 20)
/* Default of outbox_set_min_free(). */
#define OUTBOX_MIN_FREE_DEFAULT (64ull << 20)

struct outbox_stats {
	unsigned long long batches;	/* group commits finished */
	unsigned long long entries;	/* entries made durable */
	unsigned long long failures;	/* entries whose callback got an error */
	unsigned long long max_batch;	/* largest batch so far */
	unsigned long long dir_fsyncs;	/* folder fsyncs issued */
};

/* True if `id` is 1..128 chars of [A-Za-z0-9._:-] (and not "." or ".."),
 * the only ids ever used as file names. */
bool outbox_id_valid(const char *id);

/* Create the folders if needed (mode 0700), empty outbox/tmp, and load the
 * index from the names in store/.  Blocking: call it before the loop runs
 * (100k stored verdicts take well under a second, see tests/bench). */
int outbox_open(uv_loop_t *loop, const char *state_dir, struct outbox **out);
/* Called with 0 once the entry is durable, or a negative errno. */
typedef void (*outbox_done_cb)(void *data, int status);
/* Queue a verdict.  request_sha256 is the hex digest of the canonical
 * request (idempotency; 64 hex digits, lowercase); verdict is JSON text,
 * copied.  Returns 0, or a negative errno and then cb is never called:
 * -EINVAL for a bad id or digest, -EEXIST if the id is already stored or
 * queued, -EMSGSIZE above OUTBOX_MAX_VERDICT, -ENOSPC while the state
 * filesystem is low on space (see outbox_set_min_free; the API answers 503),
 * -ESHUTDOWN after close. */
int outbox_put(struct outbox *ob, const char *id, const char *request_sha256,
	       const char *verdict, size_t len, outbox_done_cb cb, void *data);

/* Queue a message for delivery only: it goes to outbox/new/ in the same
 * group commit as verdicts (same order, same durability, same callback
 * contract) but never into store/ or the index, so an id may be posted any
 * number of times and outbox_lookup/read do not see it.  For messages that
 * follow a stored verdict: later verdict versions, officer decisions.  The
 * caller keeps its own durable record of what it posted.  Returns 0 or
 * -EINVAL, -EMSGSIZE, -ENOSPC, -ENOMEM, -ESHUTDOWN (cb is then not called). */
int outbox_post(struct outbox *ob, const char *id, const char *msg, size_t len,
		outbox_done_cb cb, void *data);

/* Idempotency and lookup.  outbox_lookup() answers from memory whether `id`
 * is known, stored or still queued: 0 and the request digest in digest_out
 * (65 bytes), or -ENOENT (-EINVAL for an invalid id).
 * Loaded from store/ at open, so it survives restarts. */
int outbox_lookup(const struct outbox *ob, const char *id, char digest_out[65]);
/* Read the stored verdict of `id` off the loop thread; cb gets 0 and the
 * JSON text (owned by cb's caller, valid during cb), or a negative errno.
 * For an id still queued the read waits until its batch is durable (and
 * gets -ENOENT if that batch failed).  At most two reads use the thread
 * pool at once; more wait their turn.  Returns -EINVAL, -ENOENT (unknown
 * id), -ENOMEM or -ESHUTDOWN without calling cb. */
typedef void (*outbox_read_cb)(void *data, int status, const char *json, size_t len);
int outbox_read(struct outbox *ob, const char *id, outbox_read_cb cb, void *data);

/* Call cb with 0 once the verdict of `id` is durable (at once, from the
 * thread pool's turn, if it already is), or with -ENOENT if its batch
 * failed.  Needed because outbox_lookup() also sees queued ids: the spool
 * must not move a file to done/ on a lookup alone.  Returns -EINVAL,
 * -ENOENT (unknown id), -ENOMEM or -ESHUTDOWN without calling cb. */
int outbox_when_durable(struct outbox *ob, const char *id, outbox_done_cb cb, void *data);

/* Entries in outbox/new not yet delivered, for /metrics.  Counted at open,
 * raised by each durable entry, lowered by outbox_retired(), and recounted
 * from the folder (on the thread pool) every 5 s, so that entries a sink
 * removed without calling outbox_retired() drop out within 5 s. */
size_t outbox_depth(const struct outbox *ob);
/* A consumer removed `n` entries from outbox/new (the sink calls this after
 * unlinking delivered entries). */
void outbox_retired(struct outbox *ob, size_t n);
/* Called on the loop thread after every batch that made entries durable
 * (after their callbacks), e.g. to sink_kick(); NULL disables. */
void outbox_set_notify(struct outbox *ob, void (*cb)(void *data), void *data);
/* At most `n` entries per group commit (default 4096, at least 1); 1 gives
 * one file fsync plus two folder fsyncs per verdict (the benchmark's
 * baseline). */
void outbox_set_batch_limit(struct outbox *ob, unsigned n);
/* How a batch makes its files' data durable: by default one fdatasync per
 * file (with the writeback of the whole batch started first, so that they
 * share journal commits); with syncfs on, one syncfs(2) of the state
 * filesystem per batch instead, which is faster when that filesystem is the
 * daemon's own and slower when others write much to it (syncfs flushes
 * their data too).  Folders are fsynced as above either way.  Applies from
 * the next batch on. */
void outbox_set_syncfs(struct outbox *ob, bool on);
/* Refuse puts with -ENOSPC while fewer than `bytes` are free for
 * unprivileged writers on the state filesystem (default
 * OUTBOX_MIN_FREE_DEFAULT; 0 never refuses).  Free space is measured at
 * open, after every batch and every 5 s, on the thread pool. */
void outbox_set_min_free(struct outbox *ob, unsigned long long bytes);
void outbox_stats(const struct outbox *ob, struct outbox_stats *out);
/* Flush what is queued, wait for reads in flight, then call cb; no put or
 * read is accepted afterwards.  cb may free nothing but its own data: the
 * outbox itself is freed after cb returns. */
void outbox_close(struct outbox *ob, void (*cb)(void *data), void *data);

#endif
