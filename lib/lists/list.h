/* list.h - one loaded list: its entries and the bounds they keep.
 *
 * The data model shared by the registry and loaders (lists.h) and the name
 * matcher (namematch.h), so that neither includes the other's interface.
 * A list is filled by one loader and immutable afterwards (see lists.h).
 */
#ifndef KVS_LIST_H
#define KVS_LIST_H

#include <stddef.h>

#include "arena.h"
#include "kvscreen/plugin.h"

/* Bounds every loader enforces. */
#define LISTS_MAX_FILE_SIZE (256u << 20)  /* bytes of one input file */
#define LISTS_MAX_LINE 65536u             /* bytes of one CSV record */
#define LISTS_MAX_FIELDS 128u             /* fields of one CSV record */
#define LISTS_MAX_ALIASES 256u            /* aliases of one entry */
#define LISTS_MAX_NAME 1024u              /* bytes of one name */
#define LISTS_MAX_ENTRIES 2000000u        /* entries of one list */

struct list_entry {
	const char *id;          /* the list's own id, e.g. OFAC ent_num */
	const char *name;        /* primary name, UTF-8 */
	const char **aliases;    /* n_aliases UTF-8 names */
	size_t n_aliases;
	const char *country;     /* as the list writes it, or NULL */
	const char *program;     /* sanctions programme / source list, or NULL */
	const char *reason;      /* listing reason or remarks, or NULL */
	enum kvs_severity severity;
	const char *kind;        /* "person", "entity", "vessel", ... or NULL */
	const char *birthdate;   /* "YYYY[-MM[-DD]]", several ';'-separated, or NULL */
	const char *nationality; /* ISO 3166-1 alpha-2 codes, ';'-separated, or NULL */
};

struct nm_index;

struct kvs_list {
	char *name;              /* the configured list name, e.g. "ofac_sdn" */
	char *format;            /* the loader's name, e.g. "ofac" */
	char *path;
	char *version;           /* what the file says, else NULL */
	char *date;              /* date of the data (YYYY-MM-DD...), else NULL */
	char digest[65];         /* sha256 hex over all files read */
	enum kvs_severity severity;
	struct list_entry *entries;
	size_t n_entries, cap_entries;
	size_t n_names;          /* primary names + aliases */
	size_t n_skipped;        /* malformed rows skipped */
	struct arena arena;      /* every string of the list (256 KB chunks);
				  * an allocation that failed fails the load */
	struct nm_index *index;  /* built after a successful load */
	int missing;             /* a placeholder for a file not downloaded yet:
				  * no entries, no index (lists_placeholder) */
	/* Registry bookkeeping, guarded by the registry lock. */
	unsigned refs;
	long long mtime_ns;
	long long size;
	struct kvs_list *next;
};

/* Copy n bytes into the arena, NUL-terminated; trims blanks at both ends.
 * Returns NULL for an empty result or on ENOMEM. */
const char *lists_strndup(struct kvs_list *l, const char *s, size_t n);
const char *lists_strdup(struct kvs_list *l, const char *s);

#endif
