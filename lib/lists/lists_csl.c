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
#include <strings.h>

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

/* Kind, dates of birth and nationalities (citizenships and nationalities,
 * ISO codes, ';'-separated) of a CSL row. */
static void identity(struct kvs_list *l, struct list_entry *e, const char *type,
		     const char *dob, const char *cit, const char *nat)
{
	char d[128] = "", c[64] = "";

	if (strcasecmp(type, "individual") != 0) {
		e->kind = *type ? (strcasecmp(type, "vessel") == 0 ? "vessel" : "entity")
				: NULL;
		return;
	}
	e->kind = "person";
	for (const char *p = dob; *p;) {
		size_t n = strcspn(p, ";");

		lists_identity_add_text_date(d, sizeof(d), p, n);
		p += n + (p[n] == ';');
		p += strspn(p, " ");
	}
	for (int k = 0; k < 2; k++)
		for (const char *p = k ? nat : cit; *p;) {
			size_t n = strcspn(p, ";,");
			char code[3];

			if (n == 2) {
				memcpy(code, p, 2);
				code[2] = '\0';
				lists_identity_add_code(c, sizeof(c), code);
			}
			p += n + (p[n] != '\0');
			p += strspn(p, " ");
		}
	e->birthdate = d[0] ? lists_strdup(l, d) : NULL;
	e->nationality = c[0] ? lists_strdup(l, c) : NULL;
}

static int csl_load(struct lists_ctx *ctx, const char *path)
{
	struct kvs_list *l = ctx->list;
	const char **av = malloc(LISTS_MAX_ALIASES * sizeof(*av));
	struct csv_reader r = { 0 };
	char *buf = NULL;
	size_t nhdr = 0;
	int col[C_N], rc, c_type, c_dob, c_cit, c_nat;

	if (!av)
		return -ENOMEM;
	rc = csv_open(&r, ctx, path, &buf, cols, C_N, col, 0);
	if (rc < 0)
		goto fail;
	nhdr = r.n_fields;
	/* Identity columns, optional. */
	c_type = csv_column(&r, "type");
	c_dob = csv_column(&r, "dates_of_birth");
	c_cit = csv_column(&r, "citizenships");
	c_nat = csv_column(&r, "nationalities");
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
		if (c_type >= 0)
			identity(l, e, csv_field(&r, c_type),
				 c_dob >= 0 ? csv_field(&r, c_dob) : "",
				 c_cit >= 0 ? csv_field(&r, c_cit) : "",
				 c_nat >= 0 ? csv_field(&r, c_nat) : "");
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
