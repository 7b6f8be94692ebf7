/* lists_kvs.c - loader for kvscreen's own list CSV, for an institute's lists.
 *
 * UTF-8 CSV with the header id,name,aliases,country,list,severity,reason
 * (column order free, extra columns ignored); aliases are ';'-separated; an
 * empty severity takes the list's configured one.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lists.h"
#include "lists_csv.h"

enum { C_ID, C_NAME, C_ALIASES, C_COUNTRY, C_LIST, C_SEV, C_REASON, C_N };

static const char *const cols[C_N] = {
	"id", "name", "aliases", "country", "list", "severity", "reason",
};

static int kvs_load(struct lists_ctx *ctx, const char *path)
{
	struct kvs_list *l = ctx->list;
	const char **av = malloc(LISTS_MAX_ALIASES * sizeof(*av));
	struct csv_reader r = { 0 };
	char *buf = NULL;
	size_t nhdr;
	int col[C_N], rc;

	if (!av)
		return -ENOMEM;
	rc = csv_open(&r, ctx, path, &buf, cols, C_N, col, 1);
	if (rc < 0)
		goto fail;
	nhdr = r.n_fields;
	while ((rc = csv_next(&r)) != 0) {
		struct list_entry *e;
		const char *name, *id, *s;
		size_t na = 0;
		int sev = (int)l->severity;

		if (rc < 0) {
			lists_diag(ctx, path, r.line, "%s", r.err);
			continue;
		}
		if (r.fields[0][0] == '#')
			continue;
		if (r.n_fields != nhdr) {
			lists_diag(ctx, path, r.line,
				   "%zu fields where the header has %zu",
				   r.n_fields, nhdr);
			continue;
		}
		id = lists_strdup(l, csv_field(&r, col[C_ID]));
		s = csv_field(&r, col[C_NAME]);
		name = lists_strndup(l, s, strnlen(s, LISTS_MAX_NAME));
		if (!id || !name) {
			lists_diag(ctx, path, r.line, "empty %s",
				   id ? "name" : "id");
			continue;
		}
		s = csv_field(&r, col[C_SEV]);
		if (*s && (sev = lists_severity_parse(s)) < 0) {
			lists_diag(ctx, path, r.line,
				   "severity \"%.40s\" is not one of info, low, medium, high, critical",
				   s);
			continue;
		}
		lists_split(l, csv_field(&r, col[C_ALIASES]), ";", av,
			    LISTS_MAX_ALIASES, &na);
		e = lists_add(l, id, name, av, na);
		if (!e) {
			rc = -ENOMEM;
			goto fail;
		}
		e->severity = (enum kvs_severity)sev;
		e->country = lists_strdup(l, csv_field(&r, col[C_COUNTRY]));
		e->program = lists_strdup(l, csv_field(&r, col[C_LIST]));
		s = csv_field(&r, col[C_REASON]);
		e->reason = lists_strndup(l, s, strnlen(s, 4096));
	}
	rc = 0;
fail:
	csv_fini(&r);
	free(buf);
	free(av);
	return rc;
}

const struct lists_format lists_format_kvs = {
	.name = "kvs",
	.load = kvs_load,
};
