/* utf8.h - the one UTF-8 decoder of the daemon: what jansson accepts (no
 * overlong forms, no surrogates, nothing above U+10FFFF). */
#ifndef KVS_UTF8_H
#define KVS_UTF8_H

#include <stddef.h>

/* Length (1 to 4) of the valid UTF-8 sequence at s, which has `left` bytes
 * (at least 1), or 0 when it is not one. */
size_t utf8_seq_len(const unsigned char *s, size_t left);

/* Whether the len bytes at s are all valid UTF-8 in that sense. */
int utf8_valid(const char *s, size_t len);

#endif
