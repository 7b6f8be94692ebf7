/* outbox.h - the durable outbox and the verdict store.
 *
 * Layout under the state directory (one filesystem; outbox_open refuses
 * otherwise, because retired segments are renamed into the store):
 *   outbox/seg/NNN.log   segments (append-only logs of CRC-framed records,
 *                        outbox_log.h) holding messages not all delivered
 *   outbox/cursor        the position before which the sink delivered all
 *   store/seg/NNN.log    retired segments that hold verdicts
 *   store/ID.SHA256.json verdicts written before segments, read as before
 * docs/outbox.md describes the format and how to read it.
 *
 * outbox_put() only queues; all entries put during one loop turn are
 * appended to the active segment and made durable with one fdatasync (or
 * one syncfs, see outbox_set_syncfs) on the thread pool (group commit),
 * then each callback runs on the loop thread.  A new segment is started
 * when the active one holds more than the segment size; its folder is
 * fsynced before any of its records is acknowledged.  A crash can leave a
 * torn record at the end of the last segment: outbox_open() cuts it (it
 * was never acknowledged).  The index (id -> digest and position) is
 * rebuilt at open from the segments of outbox/seg and store/seg.
 * One batch is in flight at a time; puts made meanwhile form the next one.
 * All functions run on the loop thread.
 */
#ifndef KVS_OUTBOX_H
#define KVS_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

struct outbox;

/* Room for an idempotency key "SEQ.ID". */
#define SEQ_KEY_MAX (20 + 1 + 128 + 1)

/* Largest verdict outbox_put accepts (and outbox_read returns). */
#define OUTBOX_MAX_VERDICT (16u << 20)
/* Default of outbox_set_min_free(). */
#define OUTBOX_MIN_FREE_DEFAULT (64ull << 20)
/* Default of outbox_set_segment_size(). */
#define OUTBOX_SEGMENT_DEFAULT (64ull << 20)

struct outbox_stats {
	unsigned long long batches;	/* group commits finished */
	unsigned long long entries;	/* entries made durable */
	unsigned long long failures;	/* entries whose callback got an error */
	unsigned long long max_batch;	/* largest batch so far */
	unsigned long long dir_fsyncs;	/* folder fsyncs issued */
	unsigned long long data_syncs;	/* fdatasync/syncfs calls of batches */
	unsigned long long segments;	/* segments started */
	unsigned long long retired;	/* segments retired */
	unsigned long long cursor_writes; /* durable cursor updates */
};

/* True if `id` is 1..128 chars of [A-Za-z0-9._:-] (and not "." or ".."),
 * the only ids ever used as file names. */
bool outbox_id_valid(const char *id);

/* Create the folders if needed (mode 0700), cut a torn tail off the last
 * segment, retire segments the cursor has passed, import entries left in
 * outbox/new/ by an earlier version (as messages of a new segment), and
 * build the index from the segments and the names in store/.  Blocking:
 * call it before the loop runs (it reads one record header per verdict). */
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

/* Queue a message for delivery only: it goes into the log in the same
 * group commit as verdicts (same order, same durability, same callback
 * contract) but never into the index, so an id may be posted any
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

/* Messages not yet delivered, for /metrics: counted at open (records at or
 * after the cursor), raised by each durable entry, lowered by
 * outbox_retired(). */
size_t outbox_depth(const struct outbox *ob);
/* The consumer delivered `n` more messages (the sink calls this for each
 * confirmation). */
void outbox_retired(struct outbox *ob, size_t n);
/* Called on the loop thread after every batch that made entries durable
 * (after their callbacks), e.g. to sink_kick(); NULL disables. */
void outbox_set_notify(struct outbox *ob, void (*cb)(void *data), void *data);
/* At most `n` entries per group commit (default 4096, at least 1); 1 gives
 * one fdatasync per verdict (the benchmark's baseline). */
void outbox_set_batch_limit(struct outbox *ob, unsigned n);
/* Start a new segment once the active one holds `bytes` or more (default
 * OUTBOX_SEGMENT_DEFAULT, at least 4096); small values are for tests. */
void outbox_set_segment_size(struct outbox *ob, unsigned long long bytes);
/* How a batch makes its records durable: by default one fdatasync of the
 * active segment; with syncfs on, one syncfs(2) of the state filesystem
 * instead, which only pays when that filesystem is the daemon's own (it
 * flushes other writers' data too).  Applies from the next batch on. */
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

/* ---- The consumer: the sink reads the log by position ----
 *
 * One consumer (the sink) reads the messages in commit order and commits a
 * durable cursor: the position before which every message was delivered.
 * Messages after it are delivered again after a restart (at least once).
 * Segments wholly before the cursor are retired: renamed into store/seg/
 * when they hold verdicts (the store reads them), else removed. */

/* One message as listed for the consumer. */
struct outbox_entry {
	uint64_t pos;			/* where it starts (outbox_consumer_read) */
	uint64_t end;			/* the position right after it */
	unsigned long long seq;
	long long written_ms;		/* wall clock of its commit */
	size_t len;			/* of the message */
	char key[SEQ_KEY_MAX];		/* "SEQ.ID" (SEQ 20 digits): the
					 * idempotency key, as before */
};

/* The durable cursor as it was at open: where the consumer starts. */
unsigned long long outbox_consumer_start(const struct outbox *ob);
/* List up to `max` durable messages at or after position `from` on the
 * thread pool.  cb gets 0, the entries (valid during cb) and `next`, the
 * position to list from next time (after the last entry, or the durable end
 * when fewer than max were found); or a negative errno.  Returns -EINVAL,
 * -ENOMEM or -ESHUTDOWN without calling cb. */
typedef void (*outbox_list_cb)(void *data, int status, const struct outbox_entry *ents,
			       size_t n, unsigned long long next);
int outbox_consumer_list(struct outbox *ob, unsigned long long from, size_t max,
			 outbox_list_cb cb, void *data);
/* Read the message at `pos` (as listed) on the thread pool; cb as for
 * outbox_read (-EBADMSG if its CRC does not match).  Not bounded by the
 * readers' limit: the consumer bounds its own concurrency. */
int outbox_consumer_read(struct outbox *ob, unsigned long long pos, outbox_read_cb cb, void *data);
/* Every message before `pos` has been delivered: write the cursor durably
 * (coalesced, one write in flight) and retire the segments before it.
 * Accepted while closing (outbox_close waits for the last write); returns
 * 0, -EINVAL for a position beyond the durable end, or -ESHUTDOWN. */
int outbox_consumer_ack(struct outbox *ob, unsigned long long pos);

#endif
