/* jsonw.h - writes compact JSON text: a jansson tree byte for byte as json_dumps() would, or a structure the caller walks itself. */
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

/* A growing buffer of JSON text, for writers that walk their own structs
 * (the verdict) instead of building a tree first.  Start with JSONW_INIT;
 * every call appends; the first failure (out of memory, a string that is
 * not UTF-8) makes every later call a no-op and jsonw_finish() return NULL,
 * so a writer checks once at the end. */
struct jsonw {
	char *p;
	size_t n, cap;
	int failed;
};
#define JSONW_INIT { NULL, 0, 0, 0 }

/* Text as it is: punctuation and keys the caller knows are plain. */
void jsonw_raw(struct jsonw *w, const char *s, size_t len);
/* A string literal, e.g. JSONW_LIT(w, "\"rule\":"). */
#define JSONW_LIT(w, lit) jsonw_raw((w), "" lit, sizeof(lit) - 1)
/* A JSON string of len bytes of UTF-8 at s, quoted and escaped as
 * json_dumps() does; bytes that are not UTF-8 fail the writer. */
void jsonw_str(struct jsonw *w, const char *s, size_t len);
/* An integer, as %lld. */
void jsonw_int(struct jsonw *w, long long v);
/* A jansson value (any type), as json_dumps(..., JSON_COMPACT | JSON_ENCODE_ANY). */
void jsonw_value(struct jsonw *w, const json_t *j);
/* The text (malloc'd, NUL-terminated, length in *len if not NULL), or NULL
 * when the writer failed; either way w is empty again. */
char *jsonw_finish(struct jsonw *w, size_t *len);

#endif
