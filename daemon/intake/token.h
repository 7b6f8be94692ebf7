/* token.h - bearer tokens of the TCP API: loading the token file, checking a token.
 *
 * The token file holds one token per line (blank lines and lines starting
 * with '#' are ignored); only SHA-256 digests of the tokens are kept in
 * memory.  A presented token is hashed and compared with every digest in
 * constant time (CRYPTO_memcmp), so neither its length nor its content
 * leaks through timing.  A line may name the token's holder after the token
 * and a blank ("TOKEN Jan de Vries"): an officer's own token, whose name
 * the API records as the officer of each decision made with it.
 */
#ifndef KVS_TOKEN_H
#define KVS_TOKEN_H

#include <stddef.h>

#define TOKEN_MAX 16           /* tokens in one file */
#define TOKEN_MAX_LEN 256      /* bytes of one token */
#define TOKEN_NAME_MAX 128     /* bytes of a holder's name */

struct token_set {
	unsigned char digest[TOKEN_MAX][32];
	char name[TOKEN_MAX][TOKEN_NAME_MAX + 1];   /* "" when the line names no one */
	size_t n;
};

/* Load `path`.  When `path` does not exist and `create` is set, write a new
 * file (mode 0600) with one token of 32 random bytes in hex, and set
 * *created.  Refuses a file that is not a regular file, is group- or
 * world-writable, or holds no token.  Returns 0 or a negative errno with a
 * message in err. */
int token_load(const char *path, int create, struct token_set *out, int *created,
	       char *err, size_t errlen);
/* 1 if `token` (len bytes) is one of the set, else 0. */
int token_check(const struct token_set *ts, const char *token, size_t len);
/* The index of `token` in the set (see ts->name), or -1; compares with
 * every token, like token_check(). */
int token_find(const struct token_set *ts, const char *token, size_t len);

#endif
