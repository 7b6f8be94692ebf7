/* lists_source.h - where a list is downloaded from: "name = URL [URL URL]".
 *
 * The syntax of one lists.sources entry, shared by the configuration check
 * (which only validates) and `kvscreen lists update` (which downloads), and
 * the built-in addresses of the lists the shipped configuration names.
 */
#ifndef KVS_LISTS_SOURCE_H
#define KVS_LISTS_SOURCE_H

#include <stddef.h>

/* Files of one list a source may name at most (OFAC: primary, alt, add). */
#define LISTS_SOURCE_MAX_URLS 3
#define LISTS_SOURCE_MAX_NAME 128
#define LISTS_SOURCE_MAX_URL 2048

struct lists_source {
	char name[LISTS_SOURCE_MAX_NAME];
	char *urls[LISTS_SOURCE_MAX_URLS];
	size_t n_urls;
	int builtin;               /* a built-in address, not configured */
};

/* Parse "name = URL..." into *out: a name of [A-Za-z0-9_.-], then up to
 * LISTS_SOURCE_MAX_URLS https:// URLs (http:// too when allow_http), or
 * none (never update that list).  Returns 0 (free with lists_source_clear),
 * -EINVAL with the reason in err, or -ENOMEM. */
int lists_source_parse(const char *s, int allow_http, struct lists_source *out,
		       char *err, size_t errlen);
void lists_source_clear(struct lists_source *s);

/* lists_source_parse() that keeps nothing. */
int lists_source_check(const char *s, int allow_http, char *err, size_t errlen);

/* The official addresses of the lists of the shipped configuration, by
 * list name ("name = URL..."), NULL-terminated; a lists.sources entry of
 * the same name overrides one.  Documented in kvscreend.conf(5) (LISTS). */
extern const char *const lists_source_defaults[];

/* 1 when the list called `name` has an address: an entry of `configured`
 * (lists.sources, NULL-terminated, or NULL) with URLs, or else a built-in
 * one; 0 when it has none or the configured entry names no URL. */
int lists_source_has(const char *const *configured, const char *name);

#endif
