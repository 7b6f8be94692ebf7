/* cases.h - open cases: the canonical request of every screened id and its verdict versions, in an append-only journal.
 *
 * The verdict store (outbox.h) keeps version 1 of each verdict but not the
 * request; re-screening needs the request, and later verdict versions are
 * posted with outbox_post() and never stored there.  This module keeps both,
 * durably, in STATE_DIR/cases/journal:
 *
 *   record  = u32 length (little endian) | u32 CRC-32 of the payload | payload
 *   payload = one compact JSON object, "t" naming its kind:
 *     "o" open     id, request digest "rd", canonical request "r", opened
 *                  at "at" (Unix s), policy digest "p", verdict 1's digest
 *                  "vd" and summary "s" (opaque to this module)
 *     "v" version  id, number "n" (2, 3, ...), policy "p", digest "vd" of
 *                  the message text "m" (the whole posted verdict), "s"
 *     "c" checked  id, policy "p": screened again under "p", unchanged
 *     "x" posted   id, "n": version n is durable in the outbox
 *     "z" close    id, "at", "why" ("closed" or "retention")
 *     "p" policy   "p", "l": the list versions of policy "p" (opaque JSON)
 *
 * Appends are queued on the loop thread, which updates the in-memory index
 * at once (so a version number is decided when it is appended, from the
 * journal's own state); everything queued during one loop turn is written
 * and made durable with one write + fdatasync on libuv's pool (group commit,
 * one batch in flight), then the callbacks run on the loop thread.  A batch
 * that fails leaves the journal unusable (every later append answers -EIO):
 * the memory would otherwise be ahead of the disk.
 *
 * Open (blocking, before the loop runs) replays the journal.  A record cut
 * short at the end (a crash mid-write) is cut off; a record with a bad CRC
 * followed by good ones is skipped and counted (cases_stats.corrupt); a bad
 * record at the end is cut like a torn tail.  When more than half of the
 * file is dead (superseded "c" and "o" records, folded "x" records) it is
 * rewritten compactly (journal.tmp, fdatasync, rename, fsync of the folder)
 * before use.
 *
 * Memory holds every case's index entry, versions and summaries, but not
 * its request: that is read back from the open record (cases_request()),
 * 1-2 KB per case that would otherwise stay resident for the case's life.
 *
 * Everything runs on the loop thread.
 */
#ifndef KVS_CASES_H
#define KVS_CASES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* The longest id of a case (as the API allows). */
#define CASES_MAX_ID 128

/* A request larger than this is not kept (the API refuses it earlier). */
#define CASES_MAX_RECORD (32u << 20)

enum case_state {
	CASE_OPEN,
	CASE_CLOSED,      /* closed by the case system */
	CASE_EXPIRED,     /* never closed, older than the retention period */
};

/* Members ordered so that the struct has no holes: the store holds one
 * or more per case (tests/bench/api.sh opens ~100k cases). */
struct case_version {
	unsigned char digest[32]; /* sha256 of the verdict text (hex_encode) */
	char *policy;            /* policy digest it was made under (interned:
				  * shared between cases, read-only) */
	char *msg;               /* the verdict text; NULL for version 1 (in the
				  * outbox's store: outbox_read) */
	char *summary;           /* opaque, as given; shared between cases
				  * with equal summaries (read-only) */
	unsigned n;              /* 1, 2, ... */
	bool posted;             /* durable in the outbox (always for 1) */
};

/* One case.  Read-only outside cases.c; valid until cases_free(). */
/* One case.  Members ordered and sized so that the struct and a typical
 * id fit a 128-byte allocation. */
struct kcase {
	unsigned char req_digest[32]; /* sha256 of the request (cases_request_is) */
	int64_t opened_at, closed_at;
	char *policy;            /* last policy it was screened under (interned) */
	struct case_version *v;  /* v[0] is version 1 */
	/* private to cases.c: where its open record starts in the journal;
	 * its request until that record is durable (then read back with
	 * cases_request()); bytes of its records that compaction keeps */
	uint64_t open_off;
	char *pending_request;
	uint32_t open_bytes, chk_bytes;
	uint32_t n_v, cap_v;
	uint16_t adding;         /* opens of this id not durable yet */
	uint16_t busy;           /* re-screens in flight that own it (rescreen.c) */
	uint8_t state;           /* enum case_state */
	char id[];               /* at most CASES_MAX_ID bytes */
};

struct cases_stats {
	size_t cases, open, closed;
	unsigned long long bytes, dead_bytes;   /* of the journal */
	unsigned long long corrupt, torn;       /* records skipped / cut at open */
	unsigned long long batches, records;
	int compacted;                          /* rewritten at open */
};

struct cases;

typedef void (*cases_done_cb)(void *data, int status);

/* Open (create) STATE_DIR/cases/journal, replay and maybe compact it.
 * Blocking.  Returns 0, or a negative errno with a message in err. */
int cases_open(uv_loop_t *loop, const char *state_dir, struct cases **out, char *err,
	       size_t errlen);
/* Let the batch in flight and what is queued become durable, close the
 * handle, then call cb (loop thread); nothing may be appended afterwards.
 * Free with cases_free() after cb. */
void cases_shutdown(struct cases *cs, void (*cb)(void *data), void *data);
void cases_free(struct cases *cs);

/* Whether the request digest of case c is `hex` (64 hex digits, as
 * outbox_lookup gives it). */
int cases_request_is(const struct kcase *c, const char *hex);

/* Open a case: id with its request and verdict 1 (verdict_digest, summary).
 * An existing case of the id is replaced (an id is only screened again when
 * the outbox does not know it: a crash between this record and the
 * outbox's).  cb gets 0 once durable, or a negative errno.  Returns 0, or
 * -EBUSY while another open of the id is not durable yet, -EINVAL, -EIO,
 * -ENOMEM (cb is then not called). */
int cases_add(struct cases *cs, const char *id, const char *req_digest, const char *request,
	      const char *policy, const char *verdict_digest, const char *summary,
	      cases_done_cb cb, void *data);
/* Append version n = current + 1 of an open case: `msg` (copied) is the
 * whole verdict text to post.  *n_out gets n.  Returns 0 (cb later) or
 * -ENOENT, -EINVAL (not open), -EIO, -ENOMEM. */
int cases_add_version(struct cases *cs, struct kcase *c, const char *policy, const char *msg,
		      size_t len, const char *summary, unsigned *n_out, cases_done_cb cb,
		      void *data);
/* The case was screened again under `policy` with no change (no callback:
 * losing it in a crash only means screening it once more). */
int cases_checked(struct cases *cs, struct kcase *c, const char *policy);
/* Version n of c is durable in the outbox (no callback). */
int cases_posted(struct cases *cs, struct kcase *c, unsigned n);
/* Close an open case (why: CASE_CLOSED or CASE_EXPIRED); cb (may be NULL)
 * once durable.  -EALREADY when it is not open (no record, no cb). */
int cases_close(struct cases *cs, struct kcase *c, enum case_state why, cases_done_cb cb,
		void *data);
/* Remember the list versions of a policy digest (opaque JSON object text). */
int cases_set_policy_lists(struct cases *cs, const char *policy, const char *lists_json);
/* The list versions of a policy digest, or NULL. */
const char *cases_policy_lists(const struct cases *cs, const char *policy);

/* Lookup: the case of id, or NULL. */
struct kcase *cases_get(const struct cases *cs, const char *id);
/* The canonical request of case c, malloc'ed and NUL-terminated in *out:
 * read back from its open record in the journal (checked against its CRC
 * and id), so that memory does not hold every case's request.  Returns 0,
 * -EIO (the record is not there or damaged; logged) or -ENOMEM. */
int cases_request(const struct cases *cs, const struct kcase *c, char **out);
/* Ask the kernel to read the journal into the page cache ahead of a run
 * over many cases (cases_request() reads on the loop thread; a cold read
 * per case would stall it). */
void cases_prefetch(const struct cases *cs);
/* Cases in the order they were first opened: 0 <= i < cases_count(). */
size_t cases_count(const struct cases *cs);
struct kcase *cases_nth(const struct cases *cs, size_t i);

/* For other modules (officer decisions, case reports): the current verdict
 * version of id (*version, and its digest in digest, 65 bytes), and
 * *state.  Returns 0 or -ENOENT.  Version 1's text is in the outbox's store;
 * later ones are in the case's case_version.msg. */
int cases_current(const struct cases *cs, const char *id, unsigned *version, char digest[65],
		  enum case_state *state);
/* Call cb for every version of id, oldest first.  Returns 0 or -ENOENT. */
int cases_history(const struct cases *cs, const char *id,
		  void (*cb)(void *data, const struct case_version *v), void *data);
const char *cases_state_name(enum case_state s);

void cases_stats(const struct cases *cs, struct cases_stats *out);

#endif
