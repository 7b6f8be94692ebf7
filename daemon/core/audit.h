/* audit.h - the append-only, hash-chained audit log of officer decisions.
 *
 * One file, STATE_DIR/audit/decisions.jsonl, one record per line.  A record
 * is a JSON object (schema "kvscreen.decision/v1") with, besides the
 * decision itself, `seq` (1, 2, ...: its number in the file), `prev` (the
 * `hash` of the record before it; 64 zeros for the first) and `hash`.  The
 * line is written as BODY with `,"hash":"HEX"}` in place of its closing
 * brace, where BODY is the record without `hash` (compact JSON, keys sorted)
 * and HEX is the SHA-256 of BODY's bytes.  So a changed byte anywhere
 * breaks the record's own hash, and a deleted, inserted or reordered record
 * breaks the next record's `prev` and `seq`.  What the file alone cannot
 * show is the loss of its newest records: each record's seq and hash also
 * go to the queue with the decision (and `kvscreen audit verify` prints the
 * head), so an outside copy anchors the chain.
 *
 * Appends are group-committed on the thread pool: an append made while no
 * batch is in flight starts one at once; those made meanwhile form the next
 * batch, chained onto the last durable record, written with one
 * write(2) and made durable with one fdatasync(2) before any callback runs.
 * A failed batch is cut off again (ftruncate) and does not advance the
 * chain.  The records of the file are also kept in memory, by request id,
 * for GET /v1/screenings/{id} and the case report.  Except audit_scan(),
 * audit_read_file() and audit_verify_file() (plain blocking functions, for
 * the CLI), everything runs on the loop thread.
 */
#ifndef KVS_AUDIT_H
#define KVS_AUDIT_H

#include <jansson.h>
#include <stddef.h>
#include <uv.h>

#define AUDIT_FILE "audit/decisions.jsonl"
/* Largest record line accepted when reading a log. */
#define AUDIT_MAX_RECORD (64u << 10)
#define AUDIT_ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

struct audit;

/* Outcome of checking a log. */
struct audit_check {
	unsigned long long records;     /* valid records before the first broken one */
	unsigned long long broken;      /* number (1-based) of the first broken record; 0: none */
	int torn;                       /* the broken record is an unterminated last line */
	size_t valid_bytes;             /* length of the valid prefix of the file */
	char head[65];                  /* hash of the last valid record (zeros if none) */
	char message[256];              /* why record `broken` is broken */
};

/* Check the chain of the log text buf (len bytes): each line must be a
 * well-formed record whose hash matches its body, whose seq is its number
 * and whose prev is the hash of the line before.  For each valid record,
 * `each` (may be NULL) gets it (borrowed; json_incref to keep) and may stop
 * the scan with a negative errno, which is returned.  Returns 0 whether or
 * not the chain is broken (see c->broken). */
int audit_scan(const char *buf, size_t len, struct audit_check *c,
	       int (*each)(void *data, json_t *record), void *data);
/* audit_scan() over a file; -errno if it cannot be read (-ENOENT: none). */
int audit_verify_file(const char *path, struct audit_check *c);
/* The valid records of the file at path, as an object: request id -> array
 * of records in log order (new reference).  A missing file gives an empty
 * object; a broken chain gives the records before the break and c->broken
 * set.  Returns 0 or a negative errno. */
int audit_read_file(const char *path, json_t **by_id, struct audit_check *c);

/* Open (creating if needed, with its folder, mode 0700/0600) the log at
 * state_dir/AUDIT_FILE, check it and load its records.  An unterminated
 * last line (a write that a crash cut short, never acknowledged) is cut
 * off, with a warning in the log.  A broken chain fails with -EBADMSG and
 * the reason in err.  Blocking: call it before the loop runs. */
int audit_open(uv_loop_t *loop, const char *state_dir, struct audit **out, char *err,
	       size_t errlen);
/* Called once the record is durable (status 0; record borrowed, valid
 * during the call) or has failed (negative errno, record NULL). */
typedef void (*audit_done_cb)(void *data, int status, const json_t *record);
/* Append a record made of `fields` (an object; reference stolen; it must
 * hold "request_id" and must not hold schema, seq, at, prev or hash, which
 * the log sets).  Returns 0, or a negative errno and then cb is never
 * called (-EINVAL, -ENOMEM, -ESHUTDOWN). */
int audit_append(struct audit *au, json_t *fields, audit_done_cb cb, void *data);
/* The durable records of request `id`, in log order (borrowed; NULL if none). */
json_t *audit_records(const struct audit *au, const char *id);
/* Number of durable records and the hash of the last one. */
unsigned long long audit_head(const struct audit *au, char hash_out[65]);
/* Finish the batch in flight, then fail what is still queued with
 * -ESHUTDOWN, then call cb (may be NULL); the log is freed after cb. */
void audit_close(struct audit *au, void (*cb)(void *data), void *data);

#endif
