/* lists_csv.c - a bounded CSV record reader shared by the list loaders. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lists_csv.h"

int csv_init(struct csv_reader *r, const char *buf, size_t len, char sep,
	     const char *file)
{
	memset(r, 0, sizeof(*r));
	r->rec = malloc(LISTS_MAX_LINE + 1);
	if (!r->rec)
		return -ENOMEM;
	r->p = buf;
	r->end = buf + len;
	/* Skip a UTF-8 byte order mark. */
	if (len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0)
		r->p += 3;
	r->file = file;
	r->next_line = 1;
	r->sep = sep;
	return 0;
}

void csv_fini(struct csv_reader *r)
{
	free(r->rec);
	r->rec = NULL;
}

/* Skip to just after the next newline (resynchronise after an error). */
static void skip_line(struct csv_reader *r)
{
	while (r->p < r->end && *r->p != '\n')
		r->p++;
	if (r->p < r->end) {
		r->p++;
		r->next_line++;
	}
}

static int fail(struct csv_reader *r, const char *why, const char *restart,
		int restart_line)
{
	snprintf(r->err, sizeof(r->err), "%s", why);
	r->p = restart;
	r->next_line = restart_line;
	skip_line(r);
	return -EINVAL;
}

int csv_next(struct csv_reader *r)
{
	const char *start;
	int start_line;
	size_t o = 0;

	/* Skip empty lines and a DOS EOF marker. */
	for (;;) {
		if (r->p >= r->end || *r->p == '\x1a')
			return 0;
		if (*r->p == '\n') {
			r->p++;
			r->next_line++;
			continue;
		}
		if (*r->p == '\r' && r->p + 1 < r->end && r->p[1] == '\n') {
			r->p += 2;
			r->next_line++;
			continue;
		}
		break;
	}
	start = r->p;
	start_line = r->next_line;
	r->line = start_line;
	r->n_fields = 0;
	r->err[0] = 0;
	for (;;) {
		/* One field. */
		int quoted = 0;

		if (r->n_fields >= LISTS_MAX_FIELDS)
			return fail(r, "too many fields", start, start_line);
		r->fields[r->n_fields++] = r->rec + o;
		if (r->p < r->end && *r->p == '"') {
			quoted = 1;
			r->p++;
		}
		for (;;) {
			char c;

			if (r->p >= r->end) {
				if (quoted)
					return fail(r, "unterminated quoted field",
						    start, start_line);
				break;
			}
			c = *r->p;
			if (quoted) {
				if (c == '"') {
					if (r->p + 1 < r->end && r->p[1] == '"') {
						r->p += 2;
						goto put;
					}
					r->p++;
					quoted = 0;
					continue;
				}
				if (c == '\n')
					r->next_line++;
				r->p++;
			} else {
				if (c == r->sep || c == '\n' || c == '\x1a')
					break;
				if (c == '\r' && (r->p + 1 >= r->end ||
						  r->p[1] == '\n')) {
					r->p++;
					continue;
				}
				r->p++;
			}
		put:
			if (c == '\0')
				return fail(r, "NUL byte in record", start,
					    start_line);
			if (o >= LISTS_MAX_LINE)
				return fail(r, "record too long", start,
					    start_line);
			r->rec[o++] = c;
		}
		r->rec[o++] = '\0';
		if (o > LISTS_MAX_LINE)
			return fail(r, "record too long", start, start_line);
		if (r->p < r->end && *r->p == r->sep) {
			r->p++;
			continue;
		}
		if (r->p < r->end && *r->p == '\n') {
			r->p++;
			r->next_line++;
		}
		return 1;
	}
}

int csv_column(const struct csv_reader *r, const char *name)
{
	for (size_t i = 0; i < r->n_fields; i++)
		if (strcmp(r->fields[i], name) == 0)
			return (int)i;
	return -1;
}

const char *csv_field(const struct csv_reader *r, int i)
{
	if (i < 0 || (size_t)i >= r->n_fields)
		return "";
	return r->fields[i];
}

int csv_open(struct csv_reader *r, struct lists_ctx *ctx, const char *path, char **buf,
	     const char *const *cols, int n, int *col, int skip_comments)
{
	size_t len;
	int rc;

	rc = lists_read_file(ctx, path, buf, &len);
	if (rc < 0)
		return rc;
	rc = csv_init(r, *buf, len, ',', path);
	if (rc < 0)
		return rc;
	while ((rc = csv_next(r)) > 0 && skip_comments && r->fields[0][0] == '#')
		;
	if (rc <= 0) {
		lists_diag(ctx, path, 0, "no header row");
		return -EINVAL;
	}
	for (int i = 0; i < n; i++) {
		col[i] = csv_column(r, cols[i]);
		if (col[i] < 0) {
			lists_fatal(ctx, path, r->line, "header lacks the column \"%s\"", cols[i]);
			return -EINVAL;
		}
	}
	return 0;
}
