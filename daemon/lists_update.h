/* lists_update.h - `kvscreen lists update`: fetch the configured lists, validate them, swap them in.
 *
 * The lists to update are the ones the enabled plugins of a configuration
 * name ("format:name:severity:path" strings in the options their descriptors
 * declare of type KVS_OPT_LISTS, whatever those are called); where
 * each comes from is the `lists.sources` entry for its name, else the
 * built-in official address for that name, else nowhere (not updated).
 * Each download is validated by loading it with the list service's own
 * loader (lists_load_private()) and comparing it with the current file; only
 * a download that passes replaces the current files, by rename(2) in the
 * same folder, all files of a list or none.  A failure leaves the current
 * files byte for byte as they were.  The daemon reads the new files at its
 * next reload.  Runs in the kvscreen process only, single-threaded.
 */
#ifndef KVS_LISTS_UPDATE_H
#define KVS_LISTS_UPDATE_H

#include <stddef.h>
#include <stdio.h>

struct kvs_cfg;

#include "lists_source.h"

/* Files of one list a source may name at most (OFAC: primary, alt, add). */
#define LISTS_UPDATE_MAX_FILES LISTS_SOURCE_MAX_URLS

struct lists_update_opts {
	int dry_run;               /* download and validate, swap nothing */
	const char *const *only;   /* list names to update (NULL-terminated);
				    * NULL or empty: every list with a source */
	FILE *out;                 /* one line per list and a summary */
	FILE *err;                 /* one line per failed list, warnings */
};

struct lists_update_result {
	unsigned updated;          /* swapped in (or would be, dry run) */
	unsigned unchanged;        /* the download equals the current files */
	unsigned failed;           /* refused or not downloaded; files kept */
	unsigned skipped;          /* no source: not updated */
};

/* Update the lists of `cfg`.  Returns 0 when every selected list was
 * updated or unchanged; -EIO when at least one failed (each reported on
 * opts->err as "NAME: URL: reason"); -EINVAL when the configuration names
 * lists or sources that do not fit (reported with file:line); -ENOENT when
 * opts->only names a list no enabled plugin uses; -ENOMEM. */
int lists_update_run(const struct kvs_cfg *cfg, const struct lists_update_opts *opts,
		     struct lists_update_result *res);

/* Print every list the enabled plugins use: name, format, path and where
 * `lists update` fetches it.  Returns 0, -EINVAL or -ENOMEM as above. */
int lists_update_show(const struct kvs_cfg *cfg, FILE *out, FILE *err);

/* Move the files `names` (n <= LISTS_UPDATE_MAX_FILES) of the folder
 * `stage` over those of `dir` (same filesystem), then fsync `dir`.  For
 * more than one file the current ones are first hard-linked into `stage`
 * as "old.NAME", so that when a rename fails the ones already moved are
 * put back (or removed, where there was none).  Returns 0, or a negative
 * errno with the reason in why, the files of `dir` then being as they were.
 * The caller removes `stage`. */
int lists_update_swap(const char *dir, const char *stage, const char *const *names, size_t n,
		      char *why, size_t wl);

#endif
