/* lists_ofac.c - loader for OFAC's legacy CSV lists (SDN and consolidated).
 *
 * The configured path names the primary file (sdn.csv, or cons_prim.csv of
 * the consolidated non-SDN list); the aliases (alt.csv / cons_alt.csv) and
 * addresses (add.csv / cons_add.csv) are read from the same folder when
 * present.  The files are Windows-1252 without a header, "-0-" stands for an
 * empty field, and sdn.csv ends with a DOS EOF byte (0x1A).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lists.h"
#include "lists_csv.h"

/* Windows-1252 0x80..0x9F as Unicode; 0 marks the five unassigned bytes. */
static const uint16_t cp1252_c1[32] = {
	0x20ac, 0, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
	0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017d, 0,
	0, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
	0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0, 0x017e, 0x0178,
};

/* Convert a Windows-1252 buffer to a malloc'd NUL-terminated UTF-8 one.
 * Unassigned bytes and NUL become '?'. */
static int cp1252_to_utf8(const char *in, size_t len, char **out,
			  size_t *outlen)
{
	char *o = malloc(len * 3 + 1), *p = o;

	if (!o)
		return -ENOMEM;
	for (size_t i = 0; i < len; i++) {
		unsigned c = (unsigned char)in[i];

		if (c >= 0x80 && c < 0xa0)
			c = cp1252_c1[c - 0x80] ? cp1252_c1[c - 0x80] : '?';
		else if (c == 0)
			c = '?';
		if (c < 0x80) {
			*p++ = (char)c;
		} else if (c < 0x800) {
			*p++ = (char)(0xc0 | (c >> 6));
			*p++ = (char)(0x80 | (c & 0x3f));
		} else {
			*p++ = (char)(0xe0 | (c >> 12));
			*p++ = (char)(0x80 | ((c >> 6) & 0x3f));
			*p++ = (char)(0x80 | (c & 0x3f));
		}
	}
	*p = '\0';
	*out = o;
	*outlen = (size_t)(p - o);
	return 0;
}

/* A field value, or NULL for OFAC's null marker "-0-" and empty fields. */
static const char *val(const char *s)
{
	while (*s == ' ')
		s++;
	if (!*s || strncmp(s, "-0-", 3) == 0)
		return NULL;
	return s;
}

static int parse_num(const char *s, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	while (*end == ' ')
		end++;
	if (errno || end == s || *end || v < 0)
		return -EINVAL;
	*out = v;
	return 0;
}

struct kv {
	long ent;
	size_t seq;              /* file order, so aliases keep it */
	const char *s;
};

static int cmp_kv(const void *a, const void *b)
{
	const struct kv *x = a, *y = b;

	if (x->ent != y->ent)
		return x->ent < y->ent ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Read a sibling file (alt or add) into (ent_num, field `col`) pairs. */
static int read_sibling(struct lists_ctx *ctx, const char *path, int col,
			int min_fields, struct kv **out, size_t *nout)
{
	struct kvs_list *l = ctx->list;
	char *raw = NULL, *buf = NULL;
	size_t rawlen, len, n = 0, cap = 0;
	struct kv *v = NULL;
	struct csv_reader r;
	int rc;

	*out = NULL;
	*nout = 0;
	rc = lists_read_file(ctx, path, &raw, &rawlen);
	if (rc < 0)
		return rc;
	rc = cp1252_to_utf8(raw, rawlen, &buf, &len);
	free(raw);
	if (rc < 0)
		return rc;
	rc = csv_init(&r, buf, len, ',', path);
	if (rc < 0)
		goto fail;
	while ((rc = csv_next(&r)) != 0) {
		long ent;
		const char *s;

		if (rc < 0) {
			lists_diag(ctx, path, r.line, "%s", r.err);
			continue;
		}
		if (r.n_fields < (size_t)min_fields ||
		    parse_num(r.fields[0], &ent) < 0) {
			lists_diag(ctx, path, r.line,
				   "expected %d fields starting with ent_num",
				   min_fields);
			continue;
		}
		s = val(r.fields[col]);
		if (!s)
			continue;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 1024;
			struct kv *nv = realloc(v, nc * sizeof(*nv));

			if (!nv) {
				rc = -ENOMEM;
				goto fail_csv;
			}
			v = nv;
			cap = nc;
		}
		v[n].ent = ent;
		v[n].seq = n;
		v[n].s = lists_strndup(l, s, strnlen(s, LISTS_MAX_NAME));
		if (v[n].s)
			n++;
	}
	csv_fini(&r);
	free(buf);
	if (n)
		qsort(v, n, sizeof(*v), cmp_kv);
	*out = v;
	*nout = n;
	return 0;
fail_csv:
	csv_fini(&r);
fail:
	free(v);
	free(buf);
	return rc;
}

/* First index of ent in the sorted v, or n. */
static size_t find_kv(const struct kv *v, size_t n, long ent)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v[mid].ent < ent)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static char *sibling(const char *path, const char *name)
{
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	size_t dl = (size_t)(base - path);
	int cons = strncmp(base, "cons_", 5) == 0;
	char *s = malloc(dl + strlen(name) + 6);

	if (!s)
		return NULL;
	memcpy(s, path, dl);
	sprintf(s + dl, "%s%s", cons ? "cons_" : "", name);
	return s;
}

static int ofac_load(struct lists_ctx *ctx, const char *path)
{
	struct kvs_list *l = ctx->list;
	char *alt_path = sibling(path, "alt.csv");
	char *add_path = sibling(path, "add.csv");
	struct kv *alts = NULL, *adds = NULL;
	size_t nalts = 0, nadds = 0, len, rawlen;
	char *raw = NULL, *buf = NULL;
	const char **av = NULL;
	struct csv_reader r = { 0 };
	int rc = -ENOMEM;

	av = malloc(LISTS_MAX_ALIASES * sizeof(*av));
	if (!alt_path || !add_path || !av)
		goto fail;
	rc = lists_read_file(ctx, path, &raw, &rawlen);
	if (rc < 0)
		goto fail;
	/* The aliases and addresses are optional companions. */
	if (access(alt_path, R_OK) == 0) {
		rc = read_sibling(ctx, alt_path, 3, 4, &alts, &nalts);
		if (rc < 0)
			goto fail;
	}
	if (access(add_path, R_OK) == 0) {
		rc = read_sibling(ctx, add_path, 4, 5, &adds, &nadds);
		if (rc < 0)
			goto fail;
	}
	rc = cp1252_to_utf8(raw, rawlen, &buf, &len);
	if (rc < 0)
		goto fail;
	rc = csv_init(&r, buf, len, ',', path);
	if (rc < 0)
		goto fail;
	while ((rc = csv_next(&r)) != 0) {
		struct list_entry *e;
		const char *name, *id, *s;
		size_t na = 0, k;
		long ent;
		char num[24];

		if (rc < 0) {
			lists_diag(ctx, path, r.line, "%s", r.err);
			continue;
		}
		if (r.n_fields < 4 || parse_num(r.fields[0], &ent) < 0) {
			lists_diag(ctx, path, r.line,
				   "expected at least 4 fields starting with ent_num");
			continue;
		}
		s = val(r.fields[1]);
		name = s ? lists_strndup(l, s, strnlen(s, LISTS_MAX_NAME)) : NULL;
		if (!name) {
			lists_diag(ctx, path, r.line, "entry %ld has no name", ent);
			continue;
		}
		snprintf(num, sizeof(num), "%ld", ent);
		id = lists_strdup(l, num);
		for (k = find_kv(alts, nalts, ent);
		     k < nalts && alts[k].ent == ent && na < LISTS_MAX_ALIASES;
		     k++)
			av[na++] = alts[k].s;
		e = lists_add(l, id, name, av, na);
		if (!e || !id) {
			rc = -ENOMEM;
			goto fail;
		}
		e->program = (s = val(r.fields[3])) ? lists_strdup(l, s) : NULL;
		if (r.n_fields > 11 && (s = val(r.fields[11])))
			e->reason = lists_strndup(l, s, strnlen(s, 4096));
		k = find_kv(adds, nadds, ent);
		if (k < nadds && adds[k].ent == ent)
			e->country = adds[k].s;
		/* sdn_type "individual"; dates of birth and nationalities
		 * are in the remarks ("DOB 10 Dec 1948; nationality Iran"). */
		s = val(r.fields[2]);
		if (s && strcmp(s, "individual") == 0) {
			e->kind = "person";
			e->birthdate = lists_identity_from_remarks(l, e->reason,
								   &e->nationality);
		} else if (s && (strcmp(s, "vessel") == 0 || strcmp(s, "aircraft") == 0)) {
			e->kind = s[0] == 'v' ? "vessel" : "aircraft";
		} else {
			e->kind = "entity";
		}
	}
	rc = 0;
fail:
	csv_fini(&r);
	free(buf);
	free(raw);
	free(alts);
	free(adds);
	free(av);
	free(alt_path);
	free(add_path);
	return rc;
}

const struct lists_format lists_format_ofac = {
	.name = "ofac",
	.load = ofac_load,
};
