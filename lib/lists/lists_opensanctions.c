/* lists_opensanctions.c - loader for OpenSanctions' targets.simple.csv exports.
 *
 * One loader for the hundreds of lists OpenSanctions republishes in one
 * shape (its "simple" CSV of FollowTheMoney targets): a dataset's
 * targets.simple.csv, e.g. the UK FCDO sanctions list, the DoD 1260H and
 * 1286 lists, or the Dutch national terrorism list.  UTF-8 CSV with the
 * header id,schema,name,aliases,birth_date,countries,addresses,identifiers,
 * sanctions,phones,emails,dataset,first_seen,last_seen,last_change (column
 * order free; id, schema and name required; multiple values ';'-separated).
 *   id           id (an OpenSanctions entity id, e.g. "NK-...", "ofac-1234")
 *   kind         schema: Person is "person"; Organization, Company,
 *                LegalEntity and PublicBody are "entity"; Vessel "vessel";
 *                Airplane "aircraft"; others lower-cased
 *   birthdate    birth_date as given ("YYYY[-MM[-DD]]", ';'-separated)
 *   nationality  countries: the two-letter codes, upper-cased
 *   country      the first of those
 *   program      dataset (the source lists' titles)
 *   reason       sanctions (programme and authority of each listing)
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lists.h"
#include "lists_csv.h"

enum { C_ID, C_SCHEMA, C_NAME, C_ALIASES, C_BIRTH, C_COUNTRIES, C_SANCTIONS, C_DATASET, C_N };

static const char *const cols[C_N] = {
	"id", "schema", "name", "aliases", "birth_date", "countries", "sanctions", "dataset",
};

static const char *kind_of(struct kvs_list *l, const char *schema)
{
	static const char *const entity[] = {
		"Organization", "Company", "LegalEntity", "PublicBody", NULL,
	};
	char low[32];
	size_t i;

	if (strcmp(schema, "Person") == 0)
		return "person";
	for (i = 0; entity[i]; i++)
		if (strcmp(schema, entity[i]) == 0)
			return "entity";
	if (strcmp(schema, "Vessel") == 0)
		return "vessel";
	if (strcmp(schema, "Airplane") == 0)
		return "aircraft";
	for (i = 0; schema[i] && i + 1 < sizeof(low); i++)
		low[i] = (char)tolower((unsigned char)schema[i]);
	low[i] = '\0';
	return low[0] ? lists_strdup(l, low) : NULL;
}

/* The two-letter codes of `s` ("ru;ua;suhh"), upper-cased and
 * ';'-separated, into out (cap bytes). */
static void codes(const char *s, char *out, size_t cap)
{
	size_t o = 0;

	out[0] = '\0';
	while (s && *s) {
		size_t n = strcspn(s, ";");

		while (n && *s == ' ') {
			s++;
			n--;
		}
		if (n >= 2 && isalpha((unsigned char)s[0]) && isalpha((unsigned char)s[1]) &&
		    (n == 2 || s[2] == ' ') && o + 4 <= cap) {
			if (o)
				out[o++] = ';';
			out[o++] = (char)toupper((unsigned char)s[0]);
			out[o++] = (char)toupper((unsigned char)s[1]);
			out[o] = '\0';
		}
		s += n;
		if (*s == ';')
			s++;
	}
}

static int os_load(struct lists_ctx *ctx, const char *path)
{
	struct kvs_list *l = ctx->list;
	const char **av = malloc(LISTS_MAX_ALIASES * sizeof(*av));
	struct csv_reader r = { 0 };
	char *buf = NULL, nat[256];
	size_t nhdr;
	int col[C_N], rc;

	if (!av)
		return -ENOMEM;
	rc = csv_open(&r, ctx, path, &buf, cols, C_N, col, 0);
	if (rc < 0)
		goto fail;
	nhdr = r.n_fields;
	while ((rc = csv_next(&r)) != 0) {
		struct list_entry *e;
		const char *name, *id, *s;
		size_t na = 0;

		if (rc < 0) {
			lists_diag(ctx, path, r.line, "%s", r.err);
			continue;
		}
		if (r.n_fields != nhdr) {
			lists_diag(ctx, path, r.line, "%zu fields where the header has %zu",
				   r.n_fields, nhdr);
			continue;
		}
		id = lists_strndup(l, csv_field(&r, col[C_ID]), strnlen(csv_field(&r, col[C_ID]), 256));
		s = csv_field(&r, col[C_NAME]);
		name = lists_strndup(l, s, strnlen(s, LISTS_MAX_NAME));
		if (!id || !name) {
			lists_diag(ctx, path, r.line, "empty %s", id ? "name" : "id");
			continue;
		}
		lists_split(l, csv_field(&r, col[C_ALIASES]), ";", av, LISTS_MAX_ALIASES, &na);
		e = lists_add(l, id, name, av, na);
		if (!e) {
			rc = -ENOMEM;
			goto fail;
		}
		e->kind = kind_of(l, csv_field(&r, col[C_SCHEMA]));
		s = csv_field(&r, col[C_BIRTH]);
		e->birthdate = lists_strndup(l, s, strnlen(s, 256));
		codes(csv_field(&r, col[C_COUNTRIES]), nat, sizeof(nat));
		if (nat[0]) {
			e->nationality = lists_strdup(l, nat);
			e->country = lists_strndup(l, nat, 2);
		}
		s = csv_field(&r, col[C_DATASET]);
		e->program = lists_strndup(l, s, strnlen(s, 512));
		s = csv_field(&r, col[C_SANCTIONS]);
		e->reason = lists_strndup(l, s, strnlen(s, 4096));
	}
	rc = 0;
fail:
	csv_fini(&r);
	free(buf);
	free(av);
	return rc;
}

const struct lists_format lists_format_opensanctions = {
	.name = "opensanctions",
	.load = os_load,
};
