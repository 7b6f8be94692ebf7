/* pipeline.h - screening one request with every plugin that handles it.
 *
 * A pipeline belongs to one configuration generation (struct engine: the
 * config, the loaded plugins and the policy digest).  pipeline_submit() runs
 * on the loop thread; each plugin's screen() runs on the screening workers
 * (workers.h, not libuv's pool, which the outbox, spool and sinks use) under
 * its own time budget, and the done callback runs back on the loop thread
 * with the finished verdict.  The engine is reference counted so a
 * reload can swap generations while screenings of the old one finish.
 */
#ifndef KVS_PIPELINE_H
#define KVS_PIPELINE_H

#include <jansson.h>
#include <uv.h>

#include "cfg.h"
#include "plugin_host.h"
#include "request.h"
#include "verdict.h"

struct engine {
	struct kvs_cfg *cfg;
	struct plugin_set *plugins;
	char digest[65];      /* hex SHA-256 of config + every file it names */
	int refs;             /* loop thread only */
};

/* Load config, plugins, and digest.  Returns 0, or the number of errors
 * printed to e (file:line: message). */
int engine_open(const char *config_path, struct engine **out, struct cfg_errors *e);
struct engine *engine_ref(struct engine *en);
void engine_unref(struct engine *en);

/* Called once on the loop thread with the verdict, or NULL when out of
 * memory.  The verdict is borrowed for the call (verdict.h): keep its text
 * with verdict_take_text(). */
typedef void (*pipeline_done_cb)(void *data, struct verdict *verdict);

/* Screen `req` (a new reference is taken).  Returns 0, or a negative errno
 * and then `cb` is never called: -EBUSY when every screening worker is held
 * by a plugin past its budget, -ENOMEM. */
int pipeline_submit(uv_loop_t *loop, struct engine *en, struct kvs_request *req,
		    pipeline_done_cb cb, void *data);
/* The same for re-screening: the plugin runs wait behind every live one
 * (workers.h, background). */
int pipeline_submit_background(uv_loop_t *loop, struct engine *en, struct kvs_request *req,
			       pipeline_done_cb cb, void *data);

#endif
