/* lists_csl.c - loader for the US Consolidated Screening List CSV.
 *
 * UTF-8, comma-separated, one header row (repeated header rows inside the
 * file are skipped), multi-valued fields separated by ';'.  The `source`
 * column names the original list (Entity List, SDN, ...) and becomes the
 * entry's program; the country is the ISO code that ends the first address.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lists.h"
#include "lists_csv.h"

enum { C_ID, C_SOURCE, C_NUM, C_NAME, C_ADDR, C_ALT, C_REMARKS, C_POLICY,
       C_FRN, C_N };

static const char *const cols[C_N] = {
	"_id", "source", "entity_number", "name", "addresses", "alt_names",
	"remarks", "license_policy", "federal_register_notice",
};

/* The two-letter country code ending the first address, or NULL. */
static const char *addr_country(struct kvs_list *l, const char *a)
{
	const char *end = strchr(a, ';');
	size_t n = end ? (size_t)(end - a) : strlen(a);

	while (n && a[n - 1] == ' ')
		n--;
	if (n >= 4 && a[n - 3] == ' ' && a[n - 4] == ',' &&
	    a[n - 2] >= 'A' && a[n - 2] <= 'Z' && a[n - 1] >= 'A' &&
	    a[n - 1] <= 'Z')
		return lists_strndup(l, a + n - 2, 2);
	if (n == 2 && a[0] >= 'A' && a[0] <= 'Z')
		return lists_strndup(l, a, 2);
	return NULL;
}

static int csl_load(struct lists_ctx *ctx, const char *path)
{
	struct kvs_list *l = ctx->list;
	const char **av = malloc(LISTS_MAX_ALIASES * sizeof(*av));
	struct csv_reader r = { 0 };
	char *buf = NULL;
	size_t nhdr = 0;
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
		if (strcmp(csv_field(&r, col[C_SOURCE]), "source") == 0)
			continue;        /* a repeated header row */
		if (r.n_fields != nhdr) {
			lists_diag(ctx, path, r.line,
				   "%zu fields where the header has %zu",
				   r.n_fields, nhdr);
			continue;
		}
		s = csv_field(&r, col[C_NAME]);
		name = lists_strndup(l, s, strnlen(s, LISTS_MAX_NAME));
		if (!name) {
			lists_diag(ctx, path, r.line, "empty name");
			continue;
		}
		s = csv_field(&r, col[C_NUM]);
		if (!*s)
			s = csv_field(&r, col[C_ID]);
		id = lists_strdup(l, s);
		lists_split(l, csv_field(&r, col[C_ALT]), ";", av,
			    LISTS_MAX_ALIASES, &na);
		e = lists_add(l, id, name, av, na);
		if (!e) {
			rc = -ENOMEM;
			goto fail;
		}
		e->program = lists_strdup(l, csv_field(&r, col[C_SOURCE]));
		e->country = addr_country(l, csv_field(&r, col[C_ADDR]));
		s = csv_field(&r, col[C_POLICY]);
		if (!*s)
			s = csv_field(&r, col[C_REMARKS]);
		if (!*s)
			s = csv_field(&r, col[C_FRN]);
		e->reason = lists_strndup(l, s, strnlen(s, 4096));
	}
	rc = 0;
fail:
	csv_fini(&r);
	free(buf);
	free(av);
	return rc;
}

const struct lists_format lists_format_csl = {
	.name = "csl",
	.load = csl_load,
};
