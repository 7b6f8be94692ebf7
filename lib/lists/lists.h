/* lists.h - the registry of loaded sanctions and restricted-party lists.
 *
 * A struct kvs_list is one named list loaded from one file (or one family of
 * files, as OFAC's sdn.csv + alt.csv + add.csv) by one format loader.  Once
 * lists_load() returns it, a list is immutable: any number of threads may
 * match against it concurrently without locks.  Lists are shared: loading the
 * same (format, path, name, severity) again while the files are unchanged
 * returns the list already loaded with its reference count raised, so the
 * denied_party, kennisveiligheid and investment plugins of one configuration
 * generation, and the next generation after a reload, share one copy.
 * lists_release() drops a reference; the last one frees the list.
 *
 * All strings of a list live in its arena and stay valid until the list is
 * freed.  Loaders bound what they read: file size, line length and field
 * count, and report every malformed row with file:line through the load's
 * diagnostic callback.
 */
#ifndef KVS_LISTS_H
#define KVS_LISTS_H

#include <stddef.h>
#include <stdio.h>

#include "kvscreen/plugin.h"
#include "list.h"

/* Receives one diagnostic: a malformed row (line > 0) or a file-level
 * problem (line 0).  `fatal` is set when the load is going to fail. */
typedef void (*lists_diag_fn)(void *arg, const char *file, int line, int fatal,
			      const char *msg);

struct lists_load_opts {
	int strict;              /* a malformed row fails the load */
	lists_diag_fn diag;      /* may be NULL */
	void *diag_arg;
};

/* State handed to a loader: the list being filled and the diagnostics. */
struct lists_ctx {
	struct kvs_list *list;
	const struct lists_load_opts *opts;
	int errors;              /* malformed rows seen */
	void *sha;               /* EVP_MD_CTX over every file read */
};

/* One format loader.  load() fills ctx->list (entries, version, date) from
 * path and returns 0 or a negative errno; it reports every problem through
 * lists_diag(). */
struct lists_format {
	const char *name;
	int (*load)(struct lists_ctx *ctx, const char *path);
};

extern const struct lists_format lists_format_ofac;
extern const struct lists_format lists_format_csl;
extern const struct lists_format lists_format_un;
extern const struct lists_format lists_format_eu;
extern const struct lists_format lists_format_aspi;
extern const struct lists_format lists_format_kvs;
extern const struct lists_format lists_format_table;
extern const struct lists_format lists_format_fsf;
extern const struct lists_format lists_format_opensanctions;

/* The loader called `name`, or NULL. */
const struct lists_format *lists_format_find(const char *name);

/* Load (or share) a list.  Returns 0 and *out with one reference held, or a
 * negative errno after reporting through opts->diag: -ENOENT (file),
 * -EINVAL (malformed, strict mode or nothing loadable), -EFBIG, -ENOMEM,
 * -ENOTSUP (unknown format).  Safe from any thread. */
int lists_load(const char *format, const char *path, const char *name,
	       enum kvs_severity severity, const struct lists_load_opts *opts,
	       struct kvs_list **out);
/* Load a private (unshared) list; the caller frees it with lists_free(). */
int lists_load_private(const char *format, const char *path, const char *name,
		       enum kvs_severity severity,
		       const struct lists_load_opts *opts,
		       struct kvs_list **out);
/* An empty, unshared list standing for the file at `path` that does not
 * exist yet (a list with an update source, before its first download):
 * matches nothing, entries 0, `missing` set.  Freed by lists_release() or
 * lists_free(). */
int lists_placeholder(const char *format, const char *path, const char *name,
		      enum kvs_severity severity, struct kvs_list **out);
void lists_release(struct kvs_list *l);
void lists_free(struct kvs_list *l);

/* ---- For loaders ---- */

/* Report a malformed row (line > 0) or a file problem; counts errors. */
void lists_diag(struct lists_ctx *ctx, const char *file, int line,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Report what makes the whole load fail (e.g. a bad header) at file:line. */
void lists_fatal(struct lists_ctx *ctx, const char *file, int line,
		 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Read a whole file (bounded by LISTS_MAX_FILE_SIZE) into a malloc'd,
 * NUL-terminated buffer and add it to the list's digest.  Returns 0 or a
 * negative errno after reporting it. */
int lists_read_file(struct lists_ctx *ctx, const char *path, char **buf,
		    size_t *len);
/* The first error libxml2 reports while an XML list is read: its message
 * (to the end of its first line) and line.  lists_xml_error() is the
 * structured error handler to give the reader, with the struct as its
 * argument. */
struct lists_xml_err {
	char msg[256];
	int line;
};
struct _xmlError;
void lists_xml_error(void *arg, const struct _xmlError *e);
/* Add the bytes of a file read some other way to the digest. */
void lists_digest_add(struct lists_ctx *ctx, const void *p, size_t n);
/* Append an entry (its strings must already be in the arena; aliases are
 * copied into the arena, empty and duplicate aliases dropped).  Returns the
 * entry or NULL on ENOMEM or when the list is full. */
struct list_entry *lists_add(struct kvs_list *l, const char *id,
			     const char *name, const char **aliases,
			     size_t n_aliases);
/* Set the list's version or date (copied). */
int lists_set_version(struct kvs_list *l, const char *v);
int lists_set_date(struct kvs_list *l, const char *d);

/* Split `s` on `sep` (a string, e.g. ";") into trimmed arena strings appended
 * to v (capacity cap, count *n). */
void lists_split(struct kvs_list *l, const char *s, const char *sep,
		 const char **v, size_t cap, size_t *n);

/* ---- Identity data of listed persons (for loaders) ---- */

/* ISO 3166-1 alpha-2 code of a country name as lists write it ("Iran
 * (Islamic Republic of)", "Russian Federation", "Syria"; n bytes, any
 * case), or NULL when unknown. */
const char *lists_country_code(const char *name, size_t n);
/* 1 when the built-in country name table is sorted (for tests). */
int lists_country_names_sorted(void);
/* Add a date of birth (m and d 0 when unknown) or an ISO code to a
 * ';'-separated set in buf (cap bytes, NUL-terminated), once each. */
void lists_identity_add_date(char *buf, size_t cap, int y, int m, int d);
void lists_identity_add_code(char *buf, size_t cap, const char *code);
/* Add a date written "1948-12-10", "11.8.1960", "10 Dec 1948", "Dec 1948"
 * or "1948". */
void lists_identity_add_text_date(char *buf, size_t cap, const char *s, size_t n);
/* From OFAC-style remarks ("DOB 10 Dec 1948; alt. DOB 1950; nationality
 * Iran"): the dates of birth as a set in the arena (or NULL) and, in
 * *nationality, the ISO codes (or NULL). */
const char *lists_identity_from_remarks(struct kvs_list *l, const char *remarks,
					 const char **nationality);

/* One list of a KVS_OPT_LISTS option, "format:name:severity:path", split.
 * format and name are copied (bounded); path points into the spec. */
struct lists_spec {
	char format[32];
	char name[128];
	enum kvs_severity severity;
	const char *path;
};
/* 0, or -EINVAL with *why (a static string) saying what is wrong: the shape,
 * an unknown format, an unknown severity, a name or format too long. */
int lists_spec_parse(const char *spec, struct lists_spec *out, const char **why);

/* Severity names: "info".."critical"; -EINVAL for others. */
int lists_severity_parse(const char *s);
const char *lists_severity_name(enum kvs_severity s);

#endif
