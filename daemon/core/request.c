/* request.c - parses and validates kvscreen.request/v1 documents.
 *
 * Validation is table-driven: struct field describes every member the
 * contract of DESIGN.md allows, with its type, bounds, and the request types
 * it belongs to.  Anything else is an error that names the JSON pointer of
 * the offending value and what was expected.  A validated request is
 * immutable and may be read by several worker threads at once.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "country.h"
#include "jsonr.h"
#include "jsonw.h"
#include "request.h"
#include "utf8.h"

#define REQUEST_SCHEMA "kvscreen.request/v1"

enum fkind {
	F_STRING,    /* a string that is not screened as text */
	F_TEXT,      /* free text, offered to plugins by text_next */
	F_ENUM,
	F_COUNTRY,
	F_DATE,      /* "YYYY" or "YYYY-MM-DD" (a date of birth) */
	F_BOOL,
	F_INT,
	F_NUMBER,
	F_OBJECT,
	F_ARRAY,
	F_NAMES,     /* one name (F_TEXT) or an array of them */
};

struct field {
	const char *name;
	enum fkind kind;
	unsigned types;              /* request types it may appear in; 0 = all */
	int required;
	const struct field *sub;     /* object members, or the array element */
	const char *const *enumv;    /* F_ENUM values, NULL-terminated */
	double min, max;             /* F_INT / F_NUMBER bounds */
};

#define ALL 0u
#define P KVS_REQ_PARTNERSHIP
#define E KVS_REQ_EXPORT
#define I KVS_REQ_INVESTMENT

static const char *const e_type[] = { "partnership", "export", "investment", NULL };
static const char *const e_role[] = { "partner", "funder", "end_user", "consignee",
	"intermediary", "acquirer", "target", NULL };
static const char *const e_kind[] = { "university", "research_institute", "company",
	"government", "military", "individual", "other", NULL };
static const char *const e_activity[] = { "vital_provider", "business_campus",
	"military_goods", "dual_use_goods", "highly_sensitive_technology", NULL };
static const char *const e_form[] = { "joint_research", "contract_research", "phd",
	"visiting_researcher", "joint_lab", "licence", "data_sharing", "education", NULL };
static const char *const e_access[] = { "lab", "infrastructure", "datasets", "classified", NULL };
static const char *const e_item_kind[] = { "goods", "software", "technology", NULL };
static const char *const e_transfer[] = { "physical", "electronic", "intangible", "deemed", NULL };
static const char *const e_instrument[] = { "equity", "acquisition", "merger",
	"joint_venture", "loan", "grant", NULL };

#define END { NULL, 0, 0, 0, NULL, NULL, 0, 0 }
#define S(n, k) { n, k, ALL, 0, NULL, NULL, 0, 0 }
#define EN(n, v) { n, F_ENUM, ALL, 0, NULL, v, 0, 0 }
#define NUM(n, k, lo, hi) { n, k, ALL, 0, NULL, NULL, lo, hi }

static const struct field text_elem[] = { S("", F_TEXT), END };
static const struct field activity_elem[] = { EN("", e_activity), END };
static const struct field access_elem[] = { EN("", e_access), END };

static const struct field institution_f[] = { S("name", F_TEXT), S("unit", F_TEXT), END };
static const struct field technology_f[] = {
	{ "keywords", F_ARRAY, ALL, 0, text_elem, NULL, 0, 0 },
	NUM("trl", F_INT, 1, 9),
	END
};
static const struct field party_f[] = {
	{ "role", F_ENUM, ALL, 1, NULL, e_role, 0, 0 },
	{ "name", F_TEXT, ALL, 1, NULL, NULL, 0, 0 },
	{ "aliases", F_ARRAY, ALL, 0, text_elem, NULL, 0, 0 },
	S("country", F_COUNTRY),
	EN("kind", e_kind),
	S("state_owned", F_BOOL),
	S("parent", F_TEXT),
	{ "activities", F_ARRAY, ALL, 0, activity_elem, NULL, 0, 0 },
	S("ubo", F_NAMES),             /* ultimate beneficial owner(s) */
	/* Earlier activities against security or public order, as recorded by
	 * the officer (EU 2019/452 Art. 4(2)(b)). */
	{ "security_history", F_ARRAY, ALL, 0, text_elem, NULL, 0, 0 },
	S("birth_date", F_DATE),       /* of an individual party */
	END
};
static const struct field party_elem[] = { { "", F_OBJECT, ALL, 0, party_f, NULL, 0, 0 }, END };
static const struct field person_f[] = {
	{ "name", F_TEXT, ALL, 1, NULL, NULL, 0, 0 },
	S("nationality", F_COUNTRY),
	S("birth_date", F_DATE),
	S("role", F_TEXT),
	S("affiliation", F_TEXT),
	END
};
static const struct field person_elem[] = { { "", F_OBJECT, ALL, 0, person_f, NULL, 0, 0 }, END };
static const struct field funding_f[] = {
	S("source", F_TEXT),
	S("country", F_COUNTRY),
	NUM("amount_eur", F_NUMBER, 0, 1e15),
	S("state_linked", F_BOOL),
	END
};
static const struct field funding_elem[] = { { "", F_OBJECT, ALL, 0, funding_f, NULL, 0, 0 }, END };
static const struct field cooperation_f[] = {
	EN("form", e_form),
	NUM("duration_months", F_INT, 0, 1200),
	{ "access", F_ARRAY, ALL, 0, access_elem, NULL, 0, 0 },
	{ "funding", F_ARRAY, ALL, 0, funding_elem, NULL, 0, 0 },
	END
};
static const struct field item_f[] = {
	S("description", F_TEXT),
	NUM("quantity", F_NUMBER, 0, 1e12),
	NUM("value_eur", F_NUMBER, 0, 1e15),
	S("hs_code", F_STRING),
	S("classification", F_STRING),
	EN("kind", e_item_kind),
	END
};
static const struct field item_elem[] = { { "", F_OBJECT, ALL, 0, item_f, NULL, 0, 0 }, END };
static const struct field destination_f[] = { S("country", F_COUNTRY), END };
static const struct field investment_f[] = {
	EN("instrument", e_instrument),
	NUM("stake_percent", F_NUMBER, 0, 100),
	NUM("voting_rights_percent", F_NUMBER, 0, 100),
	NUM("board_seats", F_INT, 0, 1000),
	S("control", F_BOOL),
	/* The acquirer's holding before the transaction, so that a threshold
	 * crossed from an existing holding can be recognised, and the size of
	 * the target's board, so that "majority of the board" can. */
	NUM("current_stake_percent", F_NUMBER, 0, 100),
	NUM("current_voting_rights_percent", F_NUMBER, 0, 100),
	NUM("current_board_seats", F_INT, 0, 1000),
	S("current_control", F_BOOL),
	NUM("board_size", F_INT, 1, 1000),
	END
};

static const struct field request_f[] = {
	S("schema", F_STRING),
	{ "id", F_STRING, ALL, 1, NULL, NULL, 0, 0 },
	{ "type", F_ENUM, ALL, 1, NULL, e_type, 0, 0 },
	S("title", F_TEXT),
	S("description", F_TEXT),
	{ "institution", F_OBJECT, ALL, 0, institution_f, NULL, 0, 0 },
	{ "technology", F_OBJECT, ALL, 0, technology_f, NULL, 0, 0 },
	{ "parties", F_ARRAY, ALL, 0, party_elem, NULL, 0, 0 },
	{ "people", F_ARRAY, ALL, 0, person_elem, NULL, 0, 0 },
	{ "cooperation", F_OBJECT, P, 0, cooperation_f, NULL, 0, 0 },
	{ "items", F_ARRAY, E, 0, item_elem, NULL, 0, 0 },
	{ "destination", F_OBJECT, E, 0, destination_f, NULL, 0, 0 },
	{ "end_use", F_TEXT, E, 0, NULL, NULL, 0, 0 },
	{ "transfer", F_ENUM, E, 0, NULL, e_transfer, 0, 0 },
	{ "investment", F_OBJECT, I | P, 0, investment_f, NULL, 0, 0 },
	END
};

/* Validation state: the pointer of the value being checked, the limits and
 * the texts found so far. */
struct vstate {
	const struct request_limits *lim;
	struct request_error *err;
	enum kvs_request_type type;
	char path[256];
	size_t pathlen;
	long long text_bytes;
	struct request_text *texts;
	size_t n_texts, cap_texts;
};

static int fail(struct vstate *v, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Bytes of the longest prefix of s of at most max bytes that ends on a
 * character boundary: for echoing user text with "%.*s". */
static int clip(const char *s, int max)
{
	size_t n = strnlen(s, (size_t)max);

	if (n == (size_t)max)
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	return (int)n;
}

/* Drop from s every byte that is not part of a valid UTF-8 sequence (a
 * message cut by its buffer mid-character), so it can go into JSON. */
static void utf8_scrub(char *s)
{
	unsigned char *r = (unsigned char *)s, *w = r, *end = r + strlen(s);

	while (r < end) {
		size_t n = utf8_seq_len(r, (size_t)(end - r));

		if (!n) {
			r++;
			continue;
		}
		memmove(w, r, n);
		w += n;
		r += n;
	}
	*w = '\0';
}

static int fail(struct vstate *v, const char *code, const char *fmt, ...)
{
	va_list ap;

	snprintf(v->err->code, sizeof(v->err->code), "%s", code);
	snprintf(v->err->path, sizeof(v->err->path), "%s", v->path);
	va_start(ap, fmt);
	vsnprintf(v->err->message, sizeof(v->err->message), fmt, ap);
	va_end(ap);
	utf8_scrub(v->err->path);
	utf8_scrub(v->err->message);
	return -EINVAL;
}

/* Append one JSON pointer token (escaping ~ and /); returns the old length
 * to restore, or (size_t)-1 when the path would not fit. */
static size_t path_push(struct vstate *v, const char *token)
{
	size_t old = v->pathlen, n = old;

	if (n + 1 >= sizeof(v->path))
		return (size_t)-1;
	v->path[n++] = '/';
	for (const char *c = token; *c; c++) {
		const char *rep = *c == '~' ? "~0" : *c == '/' ? "~1" : NULL;
		size_t l = rep ? 2 : 1;

		if (n + l >= sizeof(v->path))
			return (size_t)-1;
		if (rep) {
			memcpy(v->path + n, rep, 2);
		} else {
			v->path[n] = *c;
		}
		n += l;
	}
	v->path[n] = '\0';
	v->pathlen = n;
	return old;
}

static void path_pop(struct vstate *v, size_t old)
{
	v->pathlen = old;
	v->path[old] = '\0';
}

static const char *kind_name(json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a number";
	case JSON_TRUE:
	case JSON_FALSE: return "a boolean";
	default: return "null";
	}
}

static int add_text(struct vstate *v, const char *s, size_t len)
{
	struct request_text *t;

	if (v->n_texts == v->cap_texts) {
		size_t cap = v->cap_texts ? 2 * v->cap_texts : 16;

		t = realloc(v->texts, cap * sizeof(*t));
		if (!t)
			return -ENOMEM;
		v->texts = t;
		v->cap_texts = cap;
	}
	t = &v->texts[v->n_texts];
	t->path = strdup(v->path);
	if (!t->path)
		return -ENOMEM;
	t->text = s;
	t->len = len;
	v->n_texts++;
	return 0;
}

static int check_value(struct vstate *v, const struct field *f, json_t *j, int depth);

static int check_object(struct vstate *v, const struct field *members, json_t *obj, int depth)
{
	const char *key;
	json_t *val;
	int r;

	if (depth > v->lim->max_depth)
		return fail(v, "too_deep", "nesting deeper than %lld levels", v->lim->max_depth);
	/* Unknown members first, in document order. */
	json_object_foreach(obj, key, val) {
		const struct field *f;
		size_t old;

		for (f = members; f->name; f++)
			if (strcmp(f->name, key) == 0)
				break;
		if (f->name && (!f->types || (f->types & v->type)))
			continue;
		old = path_push(v, key);
		if (old == (size_t)-1)
			return fail(v, "invalid_request", "member name too long");
		if (!f->name)
			return fail(v, "invalid_request", "unknown member \"%.*s\"", clip(key, 64), key);
		return fail(v, "invalid_request", "member \"%s\" is not allowed in a request of type %s",
			    key, request_type_name(v->type));
	}
	/* Then known members in the order of the schema, so that texts (and so
	 * findings) come in the same order whatever the order of the keys. */
	for (const struct field *f = members; f->name; f++) {
		size_t old;

		val = json_object_get(obj, f->name);
		if (!val && !f->required)
			continue;
		old = path_push(v, f->name);
		if (!val)
			return fail(v, "invalid_request", "required member is missing");
		r = check_value(v, f, val, depth + 1);
		if (r < 0)
			return r;
		path_pop(v, old);
	}
	return 0;
}

/* Whether s (len bytes) is "YYYY" or a calendar date "YYYY-MM-DD" from
 * year 1800 on. */
static int date_valid(const char *s, size_t len)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, m, d;

	for (size_t i = 0; i < len; i++)
		if (!(s[i] >= '0' && s[i] <= '9') && !(s[i] == '-' && (i == 4 || i == 7)))
			return 0;
	if (len != 4 && len != 10)
		return 0;
	y = atoi(s);
	if (y < 1800 || y > 2999)
		return 0;
	if (len == 4)
		return 1;
	m = atoi(s + 5);
	d = atoi(s + 8);
	if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return 0;
	return m != 2 || d < 29 || (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0));
}

static int check_string(struct vstate *v, const struct field *f, json_t *j)
{
	const char *s = json_string_value(j);
	size_t len = json_string_length(j);

	if ((long long)len > v->lim->max_string)
		return fail(v, "too_large", "string of %zu bytes exceeds the limit of %lld", len,
			    v->lim->max_string);
	v->text_bytes += (long long)len;
	if (v->text_bytes > v->lim->max_text)
		return fail(v, "too_large", "text of the request exceeds the limit of %lld bytes",
			    v->lim->max_text);
	switch (f->kind) {
	case F_TEXT:
		return add_text(v, s, len);
	case F_COUNTRY:
		if (!country_valid(s))
			return fail(v, "invalid_request",
				    "expected ISO 3166-1 alpha-2 code, got \"%.*s\"", clip(s, 32), s);
		return 0;
	case F_DATE:
		if (!date_valid(s, len))
			return fail(v, "invalid_request",
				    "expected a date \"YYYY\" or \"YYYY-MM-DD\", got \"%.32s\"", s);
		return 0;
	case F_ENUM:
		for (const char *const *e = f->enumv; *e; e++)
			if (strcmp(*e, s) == 0)
				return 0;
		{
			char list[256];
			size_t n = 0;

			list[0] = '\0';
			for (const char *const *e = f->enumv; *e && n < sizeof(list); e++)
				n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s",
						      e == f->enumv ? "" : ", ", *e);
			return fail(v, "invalid_request", "expected one of %s, got \"%.*s\"",
				    list, clip(s, 32), s);
		}
	default:
		return 0;
	}
}

static int check_value(struct vstate *v, const struct field *f, json_t *j, int depth)
{
	switch (f->kind) {
	case F_STRING:
	case F_TEXT:
	case F_ENUM:
	case F_COUNTRY:
	case F_DATE:
		if (!json_is_string(j))
			return fail(v, "invalid_request", "expected a string, got %s", kind_name(j));
		return check_string(v, f, j);
	case F_BOOL:
		if (!json_is_boolean(j))
			return fail(v, "invalid_request", "expected a boolean, got %s", kind_name(j));
		return 0;
	case F_INT:
		if (!json_is_integer(j))
			return fail(v, "invalid_request", "expected an integer, got %s", kind_name(j));
		if (json_integer_value(j) < f->min || json_integer_value(j) > f->max)
			return fail(v, "invalid_request", "expected an integer from %g to %g, got %lld",
				    f->min, f->max, (long long)json_integer_value(j));
		return 0;
	case F_NUMBER:
		if (!json_is_number(j))
			return fail(v, "invalid_request", "expected a number, got %s", kind_name(j));
		if (!(json_number_value(j) >= f->min && json_number_value(j) <= f->max))
			return fail(v, "invalid_request", "expected a number from %g to %g, got %g",
				    f->min, f->max, json_number_value(j));
		return 0;
	case F_OBJECT:
		if (!json_is_object(j))
			return fail(v, "invalid_request", "expected an object, got %s", kind_name(j));
		return check_object(v, f->sub, j, depth);
	case F_NAMES: {
		const struct field arr = { f->name, F_ARRAY, ALL, 0, text_elem, NULL, 0, 0 };

		if (json_is_string(j))
			return check_string(v, text_elem, j);
		if (!json_is_array(j))
			return fail(v, "invalid_request", "expected a string or an array of strings, got %s",
				    kind_name(j));
		return check_value(v, &arr, j, depth);
	}
	case F_ARRAY: {
		size_t i;
		json_t *el;

		if (!json_is_array(j))
			return fail(v, "invalid_request", "expected an array, got %s", kind_name(j));
		if ((long long)json_array_size(j) > v->lim->max_array)
			return fail(v, "too_large", "array of %zu elements exceeds the limit of %lld",
				    json_array_size(j), v->lim->max_array);
		if (depth > v->lim->max_depth)
			return fail(v, "too_deep", "nesting deeper than %lld levels",
				    v->lim->max_depth);
		json_array_foreach(j, i, el) {
			char idx[24];
			size_t old;
			int r;

			snprintf(idx, sizeof(idx), "%zu", i);
			old = path_push(v, idx);
			if (old == (size_t)-1)
				return fail(v, "invalid_request", "path too long");
			r = check_value(v, f->sub, el, depth + 1);
			if (r < 0)
				return r;
			path_pop(v, old);
		}
		return 0;
	}
	}
	return 0;
}

/* Relations between members of the investment block that the table cannot
 * express: the holding after the transaction is at least the holding before
 * it, and an acquirer appoints no more seats than the board has. */
static int check_investment(struct vstate *v, json_t *inv)
{
	static const struct { const char *cur, *now; } pairs[] = {
		{ "current_stake_percent", "stake_percent" },
		{ "current_voting_rights_percent", "voting_rights_percent" },
		{ "current_board_seats", "board_seats" },
	};
	json_t *a, *b;

	if (!inv)
		return 0;
	path_push(v, "investment");
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		a = json_object_get(inv, pairs[i].cur);
		b = json_object_get(inv, pairs[i].now);
		if (a && b && json_number_value(a) > json_number_value(b)) {
			path_push(v, pairs[i].cur);
			return fail(v, "invalid_request",
				    "%g exceeds %s (%g): the holding before the transaction "
				    "cannot be larger than after it", json_number_value(a),
				    pairs[i].now, json_number_value(b));
		}
	}
	a = json_object_get(inv, "board_seats");
	b = json_object_get(inv, "board_size");
	if (a && b && json_integer_value(a) > json_integer_value(b)) {
		path_push(v, "board_seats");
		return fail(v, "invalid_request", "%lld exceeds board_size (%lld)",
			    (long long)json_integer_value(a), (long long)json_integer_value(b));
	}
	return 0;
}

/* The id grammar (docs/api.md): 1 to 128 of [A-Za-z0-9._:-], not starting
 * with a dot.  An id names files in the outbox and the verdict store, so
 * "." and ".." and hidden files are kept out. */
static int id_valid(const char *s, size_t len)
{
	if (len < 1 || len > 128 || s[0] == '.')
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == ':' || c == '-'))
			return 0;
	}
	return 1;
}

void request_limits_default(struct request_limits *lim)
{
	/* A long proposal (1 MiB of description) fits, with room for the rest
	 * of the request and for JSON escapes; cfg.c keeps
	 * max_string <= max_text <= max_request_bytes. */
	lim->max_bytes = 4 << 20;
	lim->max_depth = 8;
	lim->max_array = 1000;
	lim->max_string = 1 << 20;
	lim->max_text = 2 << 20;
}

const char *request_type_name(enum kvs_request_type t)
{
	switch (t) {
	case KVS_REQ_PARTNERSHIP: return "partnership";
	case KVS_REQ_EXPORT: return "export";
	case KVS_REQ_INVESTMENT: return "investment";
	}
	return "?";
}

int request_type_parse(const char *name)
{
	for (int i = 0; e_type[i]; i++)
		if (strcmp(e_type[i], name) == 0)
			return 1 << i;
	return -EINVAL;
}

static void free_texts(struct request_text *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(t[i].path);
	free(t);
}

int request_parse(const char *buf, size_t len, const struct request_limits *lim,
		  struct kvs_request **out, struct request_error *err)
{
	struct vstate v = { .lim = lim, .err = err };
	struct kvs_request *req = NULL;
	json_error_t jerr;
	json_t *root, *j;
	int r;

	memset(err, 0, sizeof(*err));
	*out = NULL;
	if ((long long)len > lim->max_bytes) {
		fail(&v, "too_large", "request of %zu bytes exceeds the limit of %lld bytes", len,
		     lim->max_bytes);
		return -E2BIG;
	}
	/* The fast parser gives jansson's tree or leaves the text to jansson,
	 * which then gives the tree or the error with its position. */
	root = jsonr_load(buf, len);
	if (!root)
		root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		/* jansson ends its reason with " near '<the source text>'":
		 * give the position and the reason, never the bytes (a spool
		 * file's error file must not quote what it read). */
		char *near = strstr(jerr.text, " near ");

		if (near)
			*near = '\0';
		return fail(&v, "invalid_json", "malformed JSON at line %d column %d (byte %d): %s",
			    jerr.line, jerr.column, jerr.position, jerr.text);
	}
	if (!json_is_object(root)) {
		r = fail(&v, "invalid_request", "expected an object, got %s", kind_name(root));
		goto fail;
	}
	/* The type decides which members are allowed, so check it first. */
	j = json_object_get(root, "type");
	if (j && json_is_string(j) && request_type_parse(json_string_value(j)) > 0) {
		v.type = (enum kvs_request_type)request_type_parse(json_string_value(j));
	} else if (j) {
		path_push(&v, "type");
		r = json_is_string(j)
			    ? fail(&v, "invalid_request",
				   "expected one of partnership, export, investment, got \"%.*s\"",
				   clip(json_string_value(j), 32), json_string_value(j))
			    : fail(&v, "invalid_request", "expected a string, got %s", kind_name(j));
		goto fail;
	}
	r = check_object(&v, request_f, root, 1);
	if (r < 0)
		goto fail;
	r = check_investment(&v, json_object_get(root, "investment"));
	if (r < 0)
		goto fail;
	v.pathlen = 0;
	v.path[0] = '\0';
	j = json_object_get(root, "schema");
	if (j && strcmp(json_string_value(j), REQUEST_SCHEMA) != 0) {
		path_push(&v, "schema");
		r = fail(&v, "invalid_request", "expected \"%s\", got \"%.*s\"", REQUEST_SCHEMA,
			 clip(json_string_value(j), 64), json_string_value(j));
		goto fail;
	}
	j = json_object_get(root, "id");
	if (!id_valid(json_string_value(j), json_string_length(j))) {
		path_push(&v, "id");
		r = fail(&v, "invalid_request",
			 "expected 1 to 128 characters of [A-Za-z0-9._:-], not starting with a dot");
		goto fail;
	}
	req = calloc(1, sizeof(*req));
	if (!req) {
		r = -ENOMEM;
		goto fail;
	}
	/* The text json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS) gives, which
	 * stored digests were taken over, at memcpy speed for long texts. */
	req->canonical = jsonw_dump(root, 1, NULL);
	if (!req->canonical) {
		r = -ENOMEM;
		goto fail;
	}
	req->root = root;
	req->id = json_string_value(j);
	req->type = v.type;
	req->texts = v.texts;
	req->n_texts = v.n_texts;
	req->refs = 1;
	*out = req;
	return 0;
fail:
	if (r == -ENOMEM)
		snprintf(err->message, sizeof(err->message), "out of memory");
	free(req);
	free_texts(v.texts, v.n_texts);
	json_decref(root);
	return r;
}

struct kvs_request *request_ref(struct kvs_request *req)
{
	__atomic_add_fetch(&req->refs, 1, __ATOMIC_RELAXED);
	return req;
}

void request_unref(struct kvs_request *req)
{
	if (!req || __atomic_sub_fetch(&req->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	free_texts(req->texts, req->n_texts);
	free(req->canonical);
	json_decref(req->root);
	free(req);
}

void request_error_format(const struct request_error *err, char *buf, size_t size)
{
	if (err->path[0])
		snprintf(buf, size, "%s: %s", err->path, err->message);
	else
		snprintf(buf, size, "%s", err->message);
}

json_t *request_lookup(const struct kvs_request *req, const char *ptr)
{
	return json_pointer_get(req->root, ptr);
}

json_t *json_pointer_get(const json_t *root, const char *ptr)
{
	json_t *cur = (json_t *)root;
	char tok[256];

	if (!ptr || !*ptr)
		return cur;
	if (*ptr != '/')
		return NULL;
	while (*ptr == '/' && cur) {
		size_t n = 0;

		ptr++;
		while (*ptr && *ptr != '/') {
			char c = *ptr++;

			if (c == '~') {
				if (*ptr == '0')
					c = '~';
				else if (*ptr == '1')
					c = '/';
				else
					return NULL;
				ptr++;
			}
			if (n + 1 >= sizeof(tok))
				return NULL;
			tok[n++] = c;
		}
		tok[n] = '\0';
		if (json_is_object(cur)) {
			cur = json_object_get(cur, tok);
		} else if (json_is_array(cur)) {
			char *end;
			unsigned long idx;

			if (n == 0 || (tok[0] == '0' && n > 1) || tok[0] < '0' || tok[0] > '9')
				return NULL;
			idx = strtoul(tok, &end, 10);
			if (*end)
				return NULL;
			cur = json_array_get(cur, idx);
		} else {
			return NULL;
		}
	}
	return cur;
}
