/* spool.h - the spool directory intake.
 *
 * Writers rename NAME.json into incoming/.  The spool watches incoming/
 * (uv_fs_event plus a periodic rescan), reads each *.json (bounded by the
 * request size limit) off the loop thread and hands it to `screen`.  When
 * the caller reports the verdict durable it moves the file to done/; a file
 * that is not a valid request goes to rejected/ with NAME.error.json.
 * Files still in incoming/ at start are screened again (crash recovery).
 *
 * Which files are read: names ending in ".json" that do not start with a
 * dot (so ".NAME.json.tmp", "NAME.json.part" and "NAME.json~" are left
 * alone).  A name longer than 200 bytes is not read: the file goes to
 * rejected/ under a shortened name (its first 100 bytes, "~" and a hash of
 * the whole name) with an error file, and a warning is logged.  Such a
 * file is read only when
 *   1. no process has it open for writing: probed with a read lease
 *      (fcntl F_SETLEASE, released at once), which the kernel grants only
 *      then.  Leases need the daemon to own the file (or CAP_LEASE); where
 *      the kernel refuses one, rule 2 alone decides; and
 *   2. its ctime (which a write, a chmod and a rename all update) is at
 *      least the settle time (200 ms) old, and its size and times are the
 *      same before and after reading it; and
 *   3. it is a regular file opened without following a symbolic link, with
 *      one link: a hard link (still there after the settle time) may name
 *      a file outside the spool, so it goes to rejected/ unread.
 * A file that fails rule 1 or 2 is looked at again after the settle time.  A file
 * renamed in therefore waits one settle time; one written in place is read
 * once the writer closed it and left it alone for the settle time.  Because
 * a lease break signals its holder with SIGIO, spool_open() sets SIGIO to
 * SIG_IGN if it is at its default (which would end the process).
 *
 * Bigger files than max_bytes, entries that are not regular files
 * (symlinks, folders, FIFOs) and files the daemon may not read go to
 * rejected/ with an error file (codes too_large, not_a_file, unreadable,
 * hard_link, name_too_long).  At most
 * max_inflight files are being read, screened or moved at a time.  Moves
 * are followed by an fsync of both folders (and of the error file).  A move
 * never replaces an earlier file of the same name in done/ or rejected/:
 * the newcomer is named NAME.<nanoseconds>.json there (and its error file
 * NAME.<nanoseconds>.error.json).
 * All functions run on the loop thread.
 */
#ifndef KVS_SPOOL_H
#define KVS_SPOOL_H

#include <stddef.h>
#include <uv.h>

struct spool;
struct spool_item;

/* Called on the loop thread with the file's bytes (valid until
 * spool_finish; NUL-terminated after len bytes).  The callee must
 * eventually call spool_finish once. */
typedef void (*spool_screen_cb)(void *data, struct spool_item *item,
				const char *name, const char *buf, size_t len);

/* `dir` holds incoming/, done/ and rejected/ (created, mode 0750, if
 * missing).  Scans incoming/ at once, then on every change and every
 * rescan_ms. */
int spool_open(uv_loop_t *loop, const char *dir, size_t max_bytes,
	       unsigned rescan_ms, unsigned max_inflight,
	       spool_screen_cb screen, void *data, struct spool **out);
/* status 0: verdict durable, move to done/.  status -EINVAL with an error
 * JSON text ({"error":{"code","message","path"}}; NULL gives a generic one):
 * move to rejected/ and write NAME.error.json.  Any other negative status
 * leaves the file in incoming/ for a later rescan.  `item` is freed once the
 * move is done; it must not be used after this call. */
void spool_finish(struct spool_item *item, int status, const char *error_json);
/* Change the settle time of rule 2 (default 200 ms). */
void spool_set_settle(struct spool *sp, unsigned ms);
/* Stop watching; files not yet handed over stay in incoming/.  cb runs once
 * every handed-over file was spool_finish'ed and moved; then sp is freed. */
void spool_close(struct spool *sp, void (*cb)(void *data), void *data);

#endif
