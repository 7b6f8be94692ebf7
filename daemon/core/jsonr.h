/* jsonr.h - parses JSON text into a jansson tree as json_loadb() does, faster on long strings. */
#ifndef KVS_JSONR_H
#define KVS_JSONR_H

#include <stddef.h>

#include <jansson.h>

/* The tree json_loadb(buf, len, JSON_REJECT_DUPLICATES, ...) gives (an object
 * or an array, values of the same types, keys in document order), or NULL.
 * NULL does not say the text is bad: this parser also gives up on what is
 * rare (nesting deeper than 64, a number strtod or strtoll cannot hold, out
 * of memory), so on NULL call json_loadb(), which gives the tree or the error
 * with its position.  Strings are checked as jansson checks them: UTF-8, no
 * control characters, no \u0000, surrogates only in pairs. */
json_t *jsonr_load(const char *buf, size_t len);

#endif
