/* hex.h - lower-case hex, the form digests take in files, records and messages. */
#ifndef KVS_HEX_H
#define KVS_HEX_H

#include <stddef.h>

/* The n bytes at b as 2n lower-case hex digits and a NUL into out. */
void hex_encode(const unsigned char *b, size_t n, char *out);
/* Whether the len bytes at s are all lower-case hex digits. */
int hex_valid(const char *s, size_t len);
/* The n bytes written at s as exactly 2n lower-case hex digits followed by
 * a NUL (what hex_encode writes; digests are held in memory this way at
 * half the size): 0, or -EINVAL when s is not that (out then untouched). */
int hex_decode(const char *s, unsigned char *out, size_t n);

#endif
