/* lists_eu.c - loader for EU sanctions annexes in the per-regulation CSV
 * layout (celex,recordId,programKey,...,name,alias,...,country,...).
 *
 * The path is one CSV file or a folder whose *.csv files are all read, in
 * name order.  Aliases are the `alias` and `previousName` columns
 * (';'-separated); `weakAlias` (short, low-quality names) is left out so it
 * cannot cause false hits.  The entry id is "<celex>/<recordId>".
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lists.h"
#include "lists_csv.h"

enum { C_CELEX, C_REC, C_PROG, C_REASON, C_NAME, C_ALIAS, C_PREV,
       C_COUNTRY, C_NAT, C_START, C_N };

static const char *const cols[C_N] = {
	"celex", "recordId", "programKey", "reason", "name", "alias",
	"previousName", "country", "nationality", "startDate",
};

#define EU_MAX_FILES 1024

/* Kind, dates of birth ("11.8.1960", ';'-separated) and nationalities
 * (country names, ';'-separated, as ISO codes) of a row of schema
 * "Person". */
static void identity(struct kvs_list *l, struct list_entry *e,
		     const char *schema, const char *dob, const char *nat)
{
	char d[128] = "", c[64] = "";

	if (strcmp(schema, "Person") != 0) {
		e->kind = strcmp(schema, "Vessel") == 0 ? "vessel"
			  : *schema ? "entity" : NULL;
		return;
	}
	e->kind = "person";
	for (const char *p = dob; *p;) {
		size_t n = strcspn(p, ";");

		lists_identity_add_text_date(d, sizeof(d), p, n);
		p += n + (p[n] == ';');
		p += strspn(p, " ");
	}
	for (const char *p = nat; *p;) {
		size_t n = strcspn(p, ";");

		lists_identity_add_code(c, sizeof(c), lists_country_code(p, n));
		p += n + (p[n] == ';');
	}
	e->birthdate = d[0] ? lists_strdup(l, d) : NULL;
	e->nationality = c[0] ? lists_strdup(l, c) : NULL;
}

static int eu_file(struct lists_ctx *ctx, const char *path, const char **av)
{
	struct kvs_list *l = ctx->list;
	struct csv_reader r = { 0 };
	char *buf = NULL;
	size_t nhdr;
	int col[C_N], rc, c_schema, c_dob;

	rc = csv_open(&r, ctx, path, &buf, cols, C_N, col, 0);
	if (rc < 0)
		goto fail;
	nhdr = r.n_fields;
	/* Identity columns, optional. */
	c_schema = csv_column(&r, "schema");
	c_dob = csv_column(&r, "birthDate");
	while ((rc = csv_next(&r)) != 0) {
		struct list_entry *e;
		const char *name, *s;
		char id[160];
		size_t na = 0;

		if (rc < 0) {
			lists_diag(ctx, path, r.line, "%s", r.err);
			continue;
		}
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
		snprintf(id, sizeof(id), "%.60s/%.60s",
			 csv_field(&r, col[C_CELEX]), csv_field(&r, col[C_REC]));
		lists_split(l, csv_field(&r, col[C_ALIAS]), ";", av,
			    LISTS_MAX_ALIASES, &na);
		lists_split(l, csv_field(&r, col[C_PREV]), ";", av,
			    LISTS_MAX_ALIASES, &na);
		e = lists_add(l, lists_strdup(l, id), name, av, na);
		if (!e) {
			rc = -ENOMEM;
			goto fail;
		}
		e->program = lists_strdup(l, csv_field(&r, col[C_PROG]));
		s = csv_field(&r, col[C_COUNTRY]);
		if (!*s)
			s = csv_field(&r, col[C_NAT]);
		e->country = lists_strndup(l, s, strnlen(s, 200));
		s = csv_field(&r, col[C_REASON]);
		e->reason = lists_strndup(l, s, strnlen(s, 4096));
		if (c_schema >= 0)
			identity(l, e, csv_field(&r, c_schema),
				 c_dob >= 0 ? csv_field(&r, c_dob) : "",
				 csv_field(&r, col[C_NAT]));
		s = csv_field(&r, col[C_START]);
		/* The list's date is its latest listing date. */
		if (strlen(s) == 10 && s[4] == '-' && s[7] == '-' &&
		    (!l->date || strcmp(s, l->date) > 0))
			lists_set_date(l, s);
	}
	rc = 0;
fail:
	csv_fini(&r);
	free(buf);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int eu_load(struct lists_ctx *ctx, const char *path)
{
	const char **av = malloc(LISTS_MAX_ALIASES * sizeof(*av));
	char **names = NULL;
	size_t n = 0;
	struct dirent *d;
	struct stat st;
	DIR *dir = NULL;
	int rc = -ENOMEM;

	if (!av)
		return -ENOMEM;
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
		rc = eu_file(ctx, path, av);
		free(av);
		return rc;
	}
	names = calloc(EU_MAX_FILES, sizeof(*names));
	dir = opendir(path);
	if (!names || !dir) {
		rc = dir ? -ENOMEM : -errno;
		lists_diag(ctx, path, 0, "cannot read folder");
		goto fail;
	}
	while ((d = readdir(dir)) != NULL) {
		size_t nl = strlen(d->d_name);

		if (nl < 5 || strcmp(d->d_name + nl - 4, ".csv") != 0)
			continue;
		if (n == EU_MAX_FILES) {
			lists_diag(ctx, path, 0, "more than %d CSV files",
				   EU_MAX_FILES);
			rc = -EFBIG;
			goto fail;
		}
		if (asprintf(&names[n], "%s/%s", path, d->d_name) < 0) {
			names[n] = NULL;
			goto fail;
		}
		n++;
	}
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_str);
	rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = eu_file(ctx, names[i], av);
fail:
	if (dir)
		closedir(dir);
	for (size_t i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
	free(av);
	return rc;
}

const struct lists_format lists_format_eu = {
	.name = "eu",
	.load = eu_load,
};
