/* lists_table.c - loader for other tabular lists, driven by their header.
 *
 * For lists without a loader of their own: the DoD section 1260H and 1286
 * lists as transcribed by OpenSanctions, the BIS Denied Persons List TSV,
 * and similar CSV/TSV files.  The separator is a tab when the header has
 * one, else a comma.  Columns are found by name, case-insensitively:
 *   name      "name" (required)
 *   aliases   "aliases", "alias", "alt_names", "previous name", "clean name"
 *             (each ';'-separated)
 *   id        "id"; without it the entry id is "line N"
 *   country   "country"
 *   program   "program", "fr_citation"
 *   reason    "reason", "note", "notes", "action"
 * A trailing "*" on a name (a footnote mark in DoD lists) is dropped.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lists.h"
#include "lists_csv.h"

#define MAX_ALIAS_COLS 5

static int col(const struct csv_reader *r, const char *const *names)
{
	for (; *names; names++)
		for (size_t i = 0; i < r->n_fields; i++)
			if (strcasecmp(r->fields[i], *names) == 0)
				return (int)i;
	return -1;
}

static int first_nonempty(const struct csv_reader *r, const int *cols, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (cols[i] >= 0 && *csv_field(r, cols[i]))
			return cols[i];
	return -1;
}

static int table_load(struct lists_ctx *ctx, const char *path)
{
	static const char *const n_name[] = { "name", NULL };
	static const char *const n_id[] = { "id", NULL };
	static const char *const n_country[] = { "country", NULL };
	static const char *const n_alias[MAX_ALIAS_COLS][2] = {
		{ "aliases", NULL }, { "alias", NULL }, { "alt_names", NULL },
		{ "previous name", NULL }, { "clean name", NULL },
	};
	static const char *const n_prog[][2] = { { "program", NULL }, { "fr_citation", NULL } };
	static const char *const n_reason[][2] = {
		{ "reason", NULL }, { "note", NULL }, { "notes", NULL }, { "action", NULL },
	};
	struct kvs_list *l = ctx->list;
	const char **av = malloc(LISTS_MAX_ALIASES * sizeof(*av));
	struct csv_reader r = { 0 };
	char *buf = NULL, *nl;
	size_t len, nhdr;
	int c_name, c_id, c_country, c_alias[MAX_ALIAS_COLS], c_prog[2], c_reason[4];
	int rc;

	if (!av)
		return -ENOMEM;
	rc = lists_read_file(ctx, path, &buf, &len);
	if (rc < 0)
		goto fail;
	nl = memchr(buf, '\n', len);
	rc = csv_init(&r, buf, len,
		      memchr(buf, '\t', nl ? (size_t)(nl - buf) : len) ? '\t' : ',',
		      path);
	if (rc < 0)
		goto fail;
	if (csv_next(&r) <= 0 || (c_name = col(&r, n_name)) < 0) {
		lists_diag(ctx, path, 0, "no header row with a \"name\" column");
		rc = -EINVAL;
		goto fail;
	}
	nhdr = r.n_fields;
	c_id = col(&r, n_id);
	c_country = col(&r, n_country);
	for (int i = 0; i < MAX_ALIAS_COLS; i++)
		c_alias[i] = col(&r, n_alias[i]);
	for (int i = 0; i < 2; i++)
		c_prog[i] = col(&r, n_prog[i]);
	for (int i = 0; i < 4; i++)
		c_reason[i] = col(&r, n_reason[i]);
	while ((rc = csv_next(&r)) != 0) {
		struct list_entry *e;
		const char *name, *s, *id;
		char num[32];
		size_t na = 0, n;

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
		s = csv_field(&r, c_name);
		n = strnlen(s, LISTS_MAX_NAME);
		while (n && (s[n - 1] == '*' || s[n - 1] == ' '))
			n--;
		name = lists_strndup(l, s, n);
		if (!name) {
			lists_diag(ctx, path, r.line, "empty name");
			continue;
		}
		for (int i = 0; i < MAX_ALIAS_COLS; i++)
			if (c_alias[i] >= 0)
				lists_split(l, csv_field(&r, c_alias[i]), ";", av,
					    LISTS_MAX_ALIASES, &na);
		if (c_id >= 0 && *csv_field(&r, c_id)) {
			id = lists_strdup(l, csv_field(&r, c_id));
		} else {
			snprintf(num, sizeof(num), "line %d", r.line);
			id = lists_strdup(l, num);
		}
		e = lists_add(l, id, name, av, na);
		if (!e) {
			rc = -ENOMEM;
			goto fail;
		}
		if (c_country >= 0)
			e->country = lists_strndup(l, csv_field(&r, c_country),
						   strnlen(csv_field(&r, c_country), 200));
		if ((rc = first_nonempty(&r, c_prog, 2)) >= 0)
			e->program = lists_strndup(l, csv_field(&r, rc),
						   strnlen(csv_field(&r, rc), 1024));
		if ((rc = first_nonempty(&r, c_reason, 4)) >= 0)
			e->reason = lists_strndup(l, csv_field(&r, rc),
						  strnlen(csv_field(&r, rc), 4096));
	}
	rc = 0;
fail:
	csv_fini(&r);
	free(buf);
	free(av);
	return rc;
}

const struct lists_format lists_format_table = {
	.name = "table",
	.load = table_load,
};
