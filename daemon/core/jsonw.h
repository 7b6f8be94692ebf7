/* jsonw.h - serialises a jansson tree to compact JSON text, byte for byte as json_dumps() would. */
#ifndef KVS_JSONW_H
#define KVS_JSONW_H

#include <stddef.h>

#include <jansson.h>

/* The text json_dumps(j, JSON_COMPACT) gives, or with `sort_keys` the text of
 * json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS), without jansson's per-value
 * loop bookkeeping and with long strings copied in runs: malloc'd,
 * NUL-terminated, its length in *len.  NULL when out of memory or when j
 * holds something json_dumps() refuses too (a string that is not UTF-8,
 * a value that is not an object or array at the top). */
char *jsonw_dump(const json_t *j, int sort_keys, size_t *len);

#endif
