/* spool.h - the spool directory intake.
 *
 * Writers rename NAME.json into incoming/.  The spool watches incoming/
 * (uv_fs_event plus a periodic rescan), reads each *.json (bounded by the
 * request size limit) off the loop thread and hands it to `screen`.  When
 * the caller reports the verdict durable it moves the file to done/; a file
 * that is not a valid request goes to rejected/ with NAME.error.json.
 * Files still in incoming/ at start are screened again (crash recovery).
 */
#ifndef KVS_SPOOL_H
#define KVS_SPOOL_H

#include <stddef.h>
#include <uv.h>

struct spool;
struct spool_item;

/* Called on the loop thread with the file's bytes (valid until
 * spool_finish).  The callee must eventually call spool_finish once. */
typedef void (*spool_screen_cb)(void *data, struct spool_item *item,
				const char *name, const char *buf, size_t len);

int spool_open(uv_loop_t *loop, const char *dir, size_t max_bytes,
	       unsigned rescan_ms, unsigned max_inflight,
	       spool_screen_cb screen, void *data, struct spool **out);
/* status 0: verdict durable, move to done/.  status -EINVAL with an error
 * JSON text: move to rejected/ and write NAME.error.json.  Any other
 * negative status leaves the file in incoming/ for a later rescan. */
void spool_finish(struct spool_item *item, int status, const char *error_json);
void spool_close(struct spool *sp, void (*cb)(void *data), void *data);

#endif
