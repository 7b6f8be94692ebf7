/* lists_csv.h - a bounded CSV record reader shared by the list loaders. */
#ifndef KVS_LISTS_CSV_H
#define KVS_LISTS_CSV_H

#include <stddef.h>

#include "lists.h"

/* Reads RFC 4180-ish records from a NUL-terminated buffer: fields separated
 * by `sep`, optionally double-quoted with "" as an escaped quote, quoted
 * fields may span lines, CRLF or LF line ends, a trailing 0x1A (DOS EOF) is
 * ignored.  Field pointers stay valid until the next csv_next(). */
struct csv_reader {
	const char *p, *end;
	const char *file;
	int line;                /* first line of the current record */
	int next_line;
	char sep;
	char *rec;               /* field storage, LISTS_MAX_LINE + 1 */
	const char *fields[LISTS_MAX_FIELDS];
	size_t n_fields;
	char err[128];           /* why the last record was malformed */
};

int csv_init(struct csv_reader *r, const char *buf, size_t len, char sep,
	     const char *file);
void csv_fini(struct csv_reader *r);
/* 1: a record is in fields; 0: end of input; -EINVAL: a malformed record
 * (r->line, r->err say where and why; the reader has skipped past it). */
int csv_next(struct csv_reader *r);
/* Index of the header field called `name` in the current record, or -1. */
int csv_column(const struct csv_reader *r, const char *name);
/* Read the list file at path into *buf (the caller frees it, also on
 * error), start r on it, read the header record (after any '#' comment
 * lines when skip_comments) and map each of the n names in cols to its
 * index in col[].  A missing header or column is reported through
 * lists_diag / lists_fatal with file and line and returns -EINVAL; 0 on
 * success with the header current. */
int csv_open(struct csv_reader *r, struct lists_ctx *ctx, const char *path, char **buf,
	     const char *const *cols, int n, int *col, int skip_comments);
/* Field i of the current record, or "" when the record is shorter. */
const char *csv_field(const struct csv_reader *r, int i);

#endif
