/* jsonw.c - serialises a jansson tree to compact JSON text, byte for byte as json_dumps() would.
 *
 * json_dumps() keeps a table of the containers it is inside (to refuse
 * loops), formatting each one's address into a key and allocating for it,
 * and escapes strings one code point at a time through a callback.  The
 * trees written here (verdicts, parsed requests) are built by the daemon and
 * cannot hold loops, so this writer walks them directly into one growing
 * buffer and copies runs of plain bytes with memcpy.  The output is the
 * same: `"` and `\` escaped, control characters as \b \f \n \r \t or \u00XX
 * (upper-case hex), everything else, '/' and non-ASCII included, as it is;
 * integers as %lld; reals as jansson formats them (done by jansson itself:
 * they are rare).  tests/unit/test_jsonw compares both on many trees.
 * The same buffer and string escaping serve writers that walk their own
 * structs (the verdict, verdict.c) through jsonw_raw/str/int/value.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"
#include "utf8.h"

static int grow(struct jsonw *b, size_t more)
{
	size_t cap = b->cap ? b->cap : 256;
	char *p;

	if (b->failed)
		return -1;
	while (cap - b->n < more + 1) {
		if (cap > SIZE_MAX / 2) {
			b->failed = 1;
			return -1;
		}
		cap *= 2;
	}
	if (cap == b->cap)
		return 0;
	p = realloc(b->p, cap);
	if (!p) {
		b->failed = 1;
		return -1;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

static void put(struct jsonw *b, const char *s, size_t len)
{
	if (b->cap - b->n < len + 1 && grow(b, len) < 0)
		return;
	memcpy(b->p + b->n, s, len);
	b->n += len;
}

static void putc1(struct jsonw *b, char c)
{
	if (b->cap - b->n < 2 && grow(b, 1) < 0)
		return;
	b->p[b->n++] = c;
}

/* Whether the 8 bytes at p are all printable ASCII other than '"' and
 * '\\' (copied as they are), eight at a time: a byte < 0x20, >= 0x80, or
 * equal to '"' or '\\' sets a high bit in the test (exact as a yes/no). */
static inline int plain8(const unsigned char *p)
{
	const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
	uint64_t v, q, bs;

	memcpy(&v, p, 8);
	q = v ^ (ones * '"');
	bs = v ^ (ones * '\\');
	return !((v | ((v - ones * 0x20) & ~v) | ((q - ones) & ~q) | ((bs - ones) & ~bs)) & high);
}

static void put_string(struct jsonw *b, const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t run = 0, i = 0;

	/* The quotes and the plain bytes at once: most strings need no escape. */
	if (b->cap - b->n < len + 3 && grow(b, len + 2) < 0)
		return;
	b->p[b->n++] = '"';
	while (i < len) {
		unsigned char c;
		char esc[8];
		size_t el, k;

		while (len - i >= 8 && plain8(s + i))
			i += 8;
		if (i == len)
			break;
		c = s[i];
		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0x80) {
			k = utf8_seq_len(s + i, len - i);
			if (!k) {
				b->failed = 1;
				return;
			}
			i += k;
			continue;
		}
		put(b, str + run, i - run);
		switch (c) {
		case '"': el = 2, memcpy(esc, "\\\"", 2); break;
		case '\\': el = 2, memcpy(esc, "\\\\", 2); break;
		case '\b': el = 2, memcpy(esc, "\\b", 2); break;
		case '\f': el = 2, memcpy(esc, "\\f", 2); break;
		case '\n': el = 2, memcpy(esc, "\\n", 2); break;
		case '\r': el = 2, memcpy(esc, "\\r", 2); break;
		case '\t': el = 2, memcpy(esc, "\\t", 2); break;
		default:
			snprintf(esc, sizeof(esc), "\\u%04X", (unsigned)c);
			el = 6;
			break;
		}
		put(b, esc, el);
		i++;
		run = i;
	}
	put(b, str + run, len - run);
	putc1(b, '"');
}

static int cmp_key(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void put_value(struct jsonw *b, const json_t *j, int sort_keys);

static void put_object(struct jsonw *b, const json_t *j, int sort_keys)
{
	size_t n = json_object_size(j), k = 0;
	const char *key;
	json_t *val;

	putc1(b, '{');
	if (sort_keys && n > 1) {
		const char *few[32], **keys = n <= 32 ? few : malloc(n * sizeof(*keys));

		if (!keys) {
			b->failed = 1;
			return;
		}
		json_object_foreach((json_t *)j, key, val)
			keys[k++] = key;
		if (n > 1)
			qsort(keys, n, sizeof(*keys), cmp_key);
		for (k = 0; k < n && !b->failed; k++) {
			if (k)
				putc1(b, ',');
			put_string(b, keys[k], strlen(keys[k]));
			putc1(b, ':');
			put_value(b, json_object_get(j, keys[k]), sort_keys);
		}
		if (keys != few)
			free(keys);
	} else {
		json_object_foreach((json_t *)j, key, val) {
			if (k++)
				putc1(b, ',');
			put_string(b, key, strlen(key));
			putc1(b, ':');
			put_value(b, val, sort_keys);
			if (b->failed)
				return;
		}
	}
	putc1(b, '}');
}

static void put_value(struct jsonw *b, const json_t *j, int sort_keys)
{
	size_t i;

	if (b->failed)
		return;
	switch (json_typeof(j)) {
	case JSON_OBJECT:
		put_object(b, j, sort_keys);
		return;
	case JSON_ARRAY:
		putc1(b, '[');
		for (i = 0; i < json_array_size(j) && !b->failed; i++) {
			if (i)
				putc1(b, ',');
			put_value(b, json_array_get(j, i), sort_keys);
		}
		putc1(b, ']');
		return;
	case JSON_STRING:
		put_string(b, json_string_value(j), json_string_length(j));
		return;
	case JSON_INTEGER:
		jsonw_int(b, (long long)json_integer_value(j));
		return;
	case JSON_REAL: {
		char *t = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);

		if (!t) {
			b->failed = 1;
			return;
		}
		put(b, t, strlen(t));
		free(t);
		return;
	}
	case JSON_TRUE:
		put(b, "true", 4);
		return;
	case JSON_FALSE:
		put(b, "false", 5);
		return;
	case JSON_NULL:
		put(b, "null", 4);
		return;
	}
	b->failed = 1;
}

char *jsonw_dump(const json_t *j, int sort_keys, size_t *len)
{
	struct jsonw b = JSONW_INIT;

	if (!json_is_object(j) && !json_is_array(j))
		return NULL;
	put_value(&b, j, sort_keys);
	return jsonw_finish(&b, len);
}

/* ---- The writer for callers that write their own structure ---- */

void jsonw_raw(struct jsonw *w, const char *s, size_t len)
{
	put(w, s, len);
}

void jsonw_str(struct jsonw *w, const char *s, size_t len)
{
	put_string(w, s, len);
}

void jsonw_int(struct jsonw *w, long long v)
{
	char num[24], *e = num + sizeof(num), *p = e;
	unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;

	do
		*--p = (char)('0' + u % 10);
	while (u /= 10);
	if (v < 0)
		*--p = '-';
	put(w, p, (size_t)(e - p));
}

void jsonw_value(struct jsonw *w, const json_t *j)
{
	put_value(w, j, 0);
}

char *jsonw_finish(struct jsonw *w, size_t *len)
{
	char *p;

	if (w->failed || grow(w, 0) < 0) {
		free(w->p);
		*w = (struct jsonw)JSONW_INIT;
		return NULL;
	}
	p = w->p;
	p[w->n] = '\0';
	if (len)
		*len = w->n;
	*w = (struct jsonw)JSONW_INIT;
	return p;
}
