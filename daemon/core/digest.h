/* digest.h - SHA-256 digests (OpenSSL's libcrypto). */
#ifndef KVS_DIGEST_H
#define KVS_DIGEST_H

#include <stddef.h>

/* SHA-256 of a buffer, 32 bytes; 0 or -EIO. */
int digest_sha256(const void *buf, size_t len, unsigned char out[32]);
/* Hex SHA-256 of a buffer; 0 or -EIO. */
int digest_buffer(const void *buf, size_t len, char out[65]);
/* Hex SHA-256 over the basename and contents of each file, in order;
 * 0 or a negative errno with err filled. */
int digest_files(char *const *paths, size_t n_paths, char out[65], char *err, size_t errlen);

#endif
