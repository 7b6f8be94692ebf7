/* token.c - loads the API token file and checks bearer tokens in constant time. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest.h"
#include "token.h"

/* Write a new token file; O_EXCL so an existing file is never replaced. */
static int token_create(const char *path, char *err, size_t errlen)
{
	unsigned char raw[32];
	char hex[66];
	int fd;

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
		snprintf(err, errlen, "%s: getrandom: %s", path, strerror(errno));
		return -EIO;
	}
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	hex[64] = '\n';
	hex[65] = '\0';
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: cannot create: %s", path, strerror(e));
		return -e;
	}
	if (write(fd, hex, 65) != 65 || fsync(fd) < 0) {
		int e = errno ? errno : EIO;
		snprintf(err, errlen, "%s: cannot write: %s", path, strerror(e));
		close(fd);
		unlink(path);
		return -e;
	}
	close(fd);
	return 0;
}

int token_load(const char *path, int create, struct token_set *out, int *created,
	       char *err, size_t errlen)
{
	char buf[TOKEN_MAX * (TOKEN_MAX_LEN + 2) + 4096];
	struct stat st;
	ssize_t n;
	size_t len = 0;
	int fd, rc, line = 0;

	memset(out, 0, sizeof(*out));
	if (created)
		*created = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT && create) {
		rc = token_create(path, err, errlen);
		if (rc < 0)
			return rc;
		if (created)
			*created = 1;
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	}
	if (fd < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		snprintf(err, errlen, "%s: not a regular file", path);
		goto fail;
	}
	if (st.st_mode & 022) {
		rc = -EPERM;
		snprintf(err, errlen, "%s: token file is group- or world-writable (mode %04o); "
			 "refusing it", path, (unsigned)(st.st_mode & 07777));
		goto fail;
	}
	while ((n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0) {
		len += (size_t)n;
		if (len >= sizeof(buf) - 1) {
			rc = -EFBIG;
			snprintf(err, errlen, "%s: file too large", path);
			goto fail;
		}
	}
	if (n < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		goto fail;
	}
	buf[len] = '\0';
	for (char *p = buf, *nl; *p; p = nl) {
		char *end;

		line++;
		nl = strchr(p, '\n');
		nl = nl ? nl + 1 : p + strlen(p);
		end = nl;
		while (end > p && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' ' ||
				   end[-1] == '\t'))
			end--;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (p == end || *p == '#')
			continue;
		if (out->n == TOKEN_MAX) {
			rc = -EINVAL;
			snprintf(err, errlen, "%s:%d: too many tokens", path, line);
			goto fail;
		}
		/* "TOKEN NAME": the rest of the line after a blank names the holder. */
		for (char *q = p; q < end; q++) {
			if (*q == ' ' || *q == '\t') {
				const char *nm = q;
				size_t namelen;

				while (nm < end && (*nm == ' ' || *nm == '\t'))
					nm++;
				namelen = (size_t)(end - nm);
				if (namelen > TOKEN_NAME_MAX) {
					rc = -EINVAL;
					snprintf(err, errlen, "%s:%d: the name after the token is longer "
						 "than %d bytes", path, line, TOKEN_NAME_MAX);
					goto fail;
				}
				for (const char *k = nm; k < end; k++)
					if ((unsigned char)*k < ' ' || *k == 0x7f) {
						rc = -EINVAL;
						snprintf(err, errlen, "%s:%d: the name after the token "
							 "contains a control character", path, line);
						goto fail;
					}
				memcpy(out->name[out->n], nm, namelen);
				out->name[out->n][namelen] = '\0';
				end = q;
				break;
			}
		}
		if ((size_t)(end - p) > TOKEN_MAX_LEN) {
			rc = -EINVAL;
			snprintf(err, errlen, "%s:%d: token too long", path, line);
			goto fail;
		}
		for (const char *q = p; q < end; q++) {
			if (*q <= ' ' || *q == 0x7f) {
				rc = -EINVAL;
				snprintf(err, errlen, "%s:%d: token contains a control character",
					 path, line);
				goto fail;
			}
		}
		rc = digest_sha256(p, (size_t)(end - p), out->digest[out->n]);
		if (rc < 0) {
			snprintf(err, errlen, "%s: SHA-256 failed", path);
			goto fail;
		}
		out->n++;
	}
	if (out->n == 0) {
		rc = -EINVAL;
		snprintf(err, errlen, "%s: no token in the file", path);
		goto fail;
	}
	rc = 0;
fail:
	explicit_bzero(buf, sizeof(buf));
	close(fd);
	return rc;
}

int token_find(const struct token_set *ts, const char *token, size_t len)
{
	unsigned char d[32];
	int found = -1;

	if (digest_sha256(token, len, d) < 0)
		return -1;
	/* Compare against every token, without stopping at a match. */
	for (size_t i = 0; i < ts->n; i++)
		if (CRYPTO_memcmp(d, ts->digest[i], sizeof(d)) == 0)
			found = (int)i;
	return found;
}

int token_check(const struct token_set *ts, const char *token, size_t len)
{
	return token_find(ts, token, len) >= 0;
}
