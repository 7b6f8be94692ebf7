/* testutil.h - helpers shared by the unit tests. */
#ifndef KVS_TESTUTIL_H
#define KVS_TESTUTIL_H

#include <jansson.h>

#include "pipeline.h"

/* Write `text` to a new file in a fresh temporary folder; returns its
 * malloc'd path.  "@PLUGINS@" in text becomes the test plugin folder. */
char *tu_write_config(const char *text);
/* Screen one JSON request with an engine; returns the verdict (caller
 * decrefs) or NULL when the request is invalid. */
json_t *tu_screen(struct engine *en, const char *request_json);
/* The same, and the verdict's re-screening summary (verdict_summary,
 * malloc'd) in *summary. */
json_t *tu_screen_summary(struct engine *en, const char *request_json, char **summary);
/* Open an engine from config text, failing the test on errors. */
struct engine *tu_engine(const char *config_text);
/* Read a whole file (malloc'd, NUL-terminated). */
char *tu_read_file(const char *path);
/* Path under the source tree (malloc'd). */
char *tu_src(const char *rel);

#endif
