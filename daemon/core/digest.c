/* digest.c - SHA-256 of the effective policy: the configuration and every file it names. */
#include "config.h"

#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "digest.h"
#include "hex.h"

/* SHA-256 fetched from the provider once: EVP_sha256() makes OpenSSL 3
 * look the implementation up again on every call (a third of the cost of
 * hashing an 11 KB verdict).  Never freed: it lives as long as the process. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

int digest_sha256(const void *buf, size_t len, unsigned char out[32])
{
	unsigned n = 0;

	pthread_once(&sha256_once, sha256_fetch);
	if (!EVP_Digest(buf, len, out, &n, sha256_md ? sha256_md : EVP_sha256(), NULL) || n != 32)
		return -EIO;
	return 0;
}

int digest_buffer(const void *buf, size_t len, char out[65])
{
	unsigned char md[32];

	if (digest_sha256(buf, len, md) < 0)
		return -EIO;
	hex_encode(md, sizeof(md), out);
	return 0;
}

int digest_files(char *const *paths, size_t n_paths, char out[65], char *err, size_t errlen)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	char buf[65536];
	EVP_MD_CTX *ctx;
	unsigned mdlen = 0;
	int r = -EIO;

	ctx = EVP_MD_CTX_new();
	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
		goto out;
	for (size_t i = 0; i < n_paths; i++) {
		const char *base = strrchr(paths[i], '/');
		FILE *f;
		size_t got;

		/* Name by basename so the same files give the same digest
		 * wherever they are installed. */
		base = base ? base + 1 : paths[i];
		EVP_DigestUpdate(ctx, base, strlen(base) + 1);
		f = fopen(paths[i], "rb");
		if (!f) {
			r = -errno;
			snprintf(err, errlen, "%s: cannot read: %s", paths[i], strerror(errno));
			goto out;
		}
		while ((got = fread(buf, 1, sizeof(buf), f)) > 0)
			EVP_DigestUpdate(ctx, buf, got);
		if (ferror(f)) {
			snprintf(err, errlen, "%s: read error", paths[i]);
			fclose(f);
			goto out;
		}
		fclose(f);
	}
	if (!EVP_DigestFinal_ex(ctx, md, &mdlen))
		goto out;
	hex_encode(md, mdlen, out);
	r = 0;
out:
	EVP_MD_CTX_free(ctx);
	return r;
}
