/* jsonr.c - parses JSON text into a jansson tree as json_loadb() does, faster on long strings.
 *
 * jansson's lexer reads one byte at a time through a stream callback and
 * grows each string a byte at a time; a 1 MB description took it about
 * 12 ms.  This parser scans a string's plain bytes in a tight loop, checks
 * UTF-8 as it goes and hands the run to jansson in one copy.  It accepts
 * exactly what json_loadb(JSON_REJECT_DUPLICATES) accepts and builds the same
 * tree; whatever it does not accept, or does not bother with, it leaves to
 * json_loadb() (see jsonr.h), so errors keep jansson's messages.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "jsonr.h"
#include "utf8.h"

#define JSONR_MAX_DEPTH 64

struct rd {
	const unsigned char *p, *end;
	char *tmp;           /* decoded string with escapes (grown on demand) */
	size_t tmp_cap;
};

static void skip_ws(struct rd *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\n' || *r->p == '\r' || *r->p == '\t'))
		r->p++;
}

static int hex4(const unsigned char *s, unsigned *out)
{
	unsigned v = 0;

	for (int i = 0; i < 4; i++) {
		unsigned c = s[i], d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		v = v << 4 | d;
	}
	*out = v;
	return 0;
}

/* A string at r->p (just past its opening quote).  On success *out points at
 * its bytes (into the text when it has no escape, else into r->tmp, NUL-ended
 * either way only in tmp) and *outlen is its length; r->p is past the
 * closing quote.  -1 when jansson would refuse it. */
static int scan_string(struct rd *r, const char **out, size_t *outlen, int *in_tmp)
{
	const unsigned char *s = r->p, *start = s;
	size_t n = 0;

	/* Plain bytes first: most strings end before any escape. */
	for (;;) {
		if (s >= r->end)
			return -1;
		if (*s == '"') {
			*out = (const char *)start;
			*outlen = (size_t)(s - start);
			*in_tmp = 0;
			r->p = s + 1;
			return 0;
		}
		if (*s == '\\')
			break;
		if (*s < 0x20)
			return -1;
		if (*s < 0x80) {
			s++;
		} else {
			size_t k = utf8_seq_len(s, (size_t)(r->end - s));

			if (!k)
				return -1;
			s += k;
		}
	}
	/* An escape: decode into tmp, at most as long as the rest of the text. */
	if ((size_t)(r->end - start) + 1 > r->tmp_cap) {
		size_t cap = (size_t)(r->end - start) + 1;
		char *t = realloc(r->tmp, cap);

		if (!t)
			return -1;
		r->tmp = t;
		r->tmp_cap = cap;
	}
	n = (size_t)(s - start);
	memcpy(r->tmp, start, n);
	for (;;) {
		if (s >= r->end)
			return -1;
		if (*s == '"')
			break;
		if (*s == '\\') {
			unsigned cp, lo;

			if (s + 1 >= r->end)
				return -1;
			switch (s[1]) {
			case '"': r->tmp[n++] = '"'; s += 2; continue;
			case '\\': r->tmp[n++] = '\\'; s += 2; continue;
			case '/': r->tmp[n++] = '/'; s += 2; continue;
			case 'b': r->tmp[n++] = '\b'; s += 2; continue;
			case 'f': r->tmp[n++] = '\f'; s += 2; continue;
			case 'n': r->tmp[n++] = '\n'; s += 2; continue;
			case 'r': r->tmp[n++] = '\r'; s += 2; continue;
			case 't': r->tmp[n++] = '\t'; s += 2; continue;
			case 'u': break;
			default: return -1;
			}
			if (r->end - s < 6 || hex4(s + 2, &cp) < 0)
				return -1;
			s += 6;
			if (cp == 0 || (cp >= 0xDC00 && cp <= 0xDFFF))
				return -1;
			if (cp >= 0xD800 && cp <= 0xDBFF) {
				if (r->end - s < 6 || s[0] != '\\' || s[1] != 'u' || hex4(s + 2, &lo) < 0 ||
				    lo < 0xDC00 || lo > 0xDFFF)
					return -1;
				s += 6;
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
			}
			/* An escape is 6 or 12 bytes of text and gives at most 4. */
			if (cp < 0x80) {
				r->tmp[n++] = (char)cp;
			} else if (cp < 0x800) {
				r->tmp[n++] = (char)(0xC0 | cp >> 6);
				r->tmp[n++] = (char)(0x80 | (cp & 0x3F));
			} else if (cp < 0x10000) {
				r->tmp[n++] = (char)(0xE0 | cp >> 12);
				r->tmp[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
				r->tmp[n++] = (char)(0x80 | (cp & 0x3F));
			} else {
				r->tmp[n++] = (char)(0xF0 | cp >> 18);
				r->tmp[n++] = (char)(0x80 | ((cp >> 12) & 0x3F));
				r->tmp[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
				r->tmp[n++] = (char)(0x80 | (cp & 0x3F));
			}
			continue;
		}
		if (*s < 0x20)
			return -1;
		if (*s < 0x80) {
			r->tmp[n++] = (char)*s++;
		} else {
			size_t k = utf8_seq_len(s, (size_t)(r->end - s));

			if (!k)
				return -1;
			memcpy(r->tmp + n, s, k);
			n += k;
			s += k;
		}
	}
	r->tmp[n] = '\0';
	*out = r->tmp;
	*outlen = n;
	*in_tmp = 1;
	r->p = s + 1;
	return 0;
}

/* A number as jansson's lexer reads it: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?,
 * an integer without fraction and exponent. */
static json_t *scan_number(struct rd *r)
{
	const unsigned char *s = r->p, *start = s;
	char buf[64], *end;
	int real = 0;

	if (s < r->end && *s == '-')
		s++;
	if (s >= r->end)
		return NULL;
	if (*s == '0') {
		s++;
	} else if (*s >= '1' && *s <= '9') {
		while (s < r->end && *s >= '0' && *s <= '9')
			s++;
	} else {
		return NULL;
	}
	if (s < r->end && *s == '.') {
		real = 1;
		s++;
		if (s >= r->end || !(*s >= '0' && *s <= '9'))
			return NULL;
		while (s < r->end && *s >= '0' && *s <= '9')
			s++;
	}
	if (s < r->end && (*s == 'e' || *s == 'E')) {
		real = 1;
		s++;
		if (s < r->end && (*s == '+' || *s == '-'))
			s++;
		if (s >= r->end || !(*s >= '0' && *s <= '9'))
			return NULL;
		while (s < r->end && *s >= '0' && *s <= '9')
			s++;
	}
	if ((size_t)(s - start) >= sizeof(buf))
		return NULL;            /* long numbers: left to jansson */
	memcpy(buf, start, (size_t)(s - start));
	buf[s - start] = '\0';
	r->p = s;
	errno = 0;
	if (!real) {
		long long v = strtoll(buf, &end, 10);

		if (errno == ERANGE || *end)
			return NULL;
		return json_integer((json_int_t)v);
	}
	{
		double d = strtod(buf, &end);

		/* jansson refuses an overflow, keeps an underflow. */
		if (*end || (errno == ERANGE && (d > 1.0 || d < -1.0)))
			return NULL;
		return json_real(d);
	}
}

static json_t *parse_value(struct rd *r, int depth);

static json_t *parse_object(struct rd *r, int depth)
{
	json_t *obj = json_object(), *val;

	if (!obj)
		return NULL;
	skip_ws(r);
	if (r->p < r->end && *r->p == '}') {
		r->p++;
		return obj;
	}
	for (;;) {
		const char *key;
		size_t klen;
		int in_tmp;
		char small[256], *kcopy;

		skip_ws(r);
		if (r->p >= r->end || *r->p != '"')
			goto fail;
		r->p++;
		if (scan_string(r, &key, &klen, &in_tmp) < 0)
			goto fail;
		/* A NUL-ended copy: tmp is reused by the value. */
		kcopy = klen < sizeof(small) ? small : malloc(klen + 1);
		if (!kcopy)
			goto fail;
		memcpy(kcopy, key, klen);
		kcopy[klen] = '\0';
		if (json_object_get(obj, kcopy)) {
			if (kcopy != small)
				free(kcopy);
			goto fail;      /* a duplicate key */
		}
		skip_ws(r);
		if (r->p >= r->end || *r->p != ':') {
			if (kcopy != small)
				free(kcopy);
			goto fail;
		}
		r->p++;
		val = parse_value(r, depth + 1);
		if (!val || json_object_set_new_nocheck(obj, kcopy, val) < 0) {
			if (kcopy != small)
				free(kcopy);
			goto fail;
		}
		if (kcopy != small)
			free(kcopy);
		skip_ws(r);
		if (r->p >= r->end)
			goto fail;
		if (*r->p == ',') {
			r->p++;
			continue;
		}
		if (*r->p == '}') {
			r->p++;
			return obj;
		}
		goto fail;
	}
fail:
	json_decref(obj);
	return NULL;
}

static json_t *parse_array(struct rd *r, int depth)
{
	json_t *arr = json_array(), *val;

	if (!arr)
		return NULL;
	skip_ws(r);
	if (r->p < r->end && *r->p == ']') {
		r->p++;
		return arr;
	}
	for (;;) {
		val = parse_value(r, depth + 1);
		if (!val || json_array_append_new(arr, val) < 0)
			goto fail;
		skip_ws(r);
		if (r->p >= r->end)
			goto fail;
		if (*r->p == ',') {
			r->p++;
			continue;
		}
		if (*r->p == ']') {
			r->p++;
			return arr;
		}
		goto fail;
	}
fail:
	json_decref(arr);
	return NULL;
}

/* A literal must not run on into letters ("truex" is one bad token). */
static json_t *literal(struct rd *r, const char *word, json_t *(*make)(void))
{
	size_t n = strlen(word);

	if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
		return NULL;
	r->p += n;
	return make();
}

static json_t *parse_value(struct rd *r, int depth)
{
	json_t *v;

	if (depth > JSONR_MAX_DEPTH)
		return NULL;
	skip_ws(r);
	if (r->p >= r->end)
		return NULL;
	switch (*r->p) {
	case '{':
		r->p++;
		v = parse_object(r, depth);
		break;
	case '[':
		r->p++;
		v = parse_array(r, depth);
		break;
	case '"': {
		const char *s;
		size_t n;
		int in_tmp;

		r->p++;
		if (scan_string(r, &s, &n, &in_tmp) < 0)
			return NULL;
		v = json_stringn_nocheck(s, n);
		break;
	}
	case 't':
		v = literal(r, "true", json_true);
		break;
	case 'f':
		v = literal(r, "false", json_false);
		break;
	case 'n':
		v = literal(r, "null", json_null);
		break;
	default:
		v = scan_number(r);
		break;
	}
	if (!v)
		return NULL;
	/* What follows a value must end it: whitespace, a comma, a closing
	 * bracket or the end; anything else ("1x", "truex", "01") is refused
	 * by jansson too. */
	if (r->p < r->end && !(*r->p == ' ' || *r->p == '\n' || *r->p == '\r' || *r->p == '\t' ||
			       *r->p == ',' || *r->p == ']' || *r->p == '}')) {
		json_decref(v);
		return NULL;
	}
	return v;
}

json_t *jsonr_load(const char *buf, size_t len)
{
	struct rd r = { (const unsigned char *)buf, (const unsigned char *)buf + len, NULL, 0 };
	json_t *root;

	skip_ws(&r);
	if (r.p >= r.end || (*r.p != '{' && *r.p != '['))
		return NULL;
	root = parse_value(&r, 1);
	free(r.tmp);
	if (!root)
		return NULL;
	skip_ws(&r);
	if (r.p != r.end) {
		json_decref(root);
		return NULL;
	}
	return root;
}
