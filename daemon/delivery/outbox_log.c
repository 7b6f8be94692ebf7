/* outbox_log.c - encoding, decoding and checking of outbox segments and the delivery cursor (format in outbox_log.h). */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crc32c.h"
#include "hex.h"
#include "outbox_log.h"

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t get64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

size_t outbox_rec_prefix(char *buf, enum outbox_rec_kind kind, unsigned long long seq,
			 int64_t time_ns, const char *digest, const char *id,
			 const char *payload, size_t payload_len)
{
	unsigned char *p = (unsigned char *)buf;
	size_t idlen = strlen(id), n = OUTBOX_REC_FRAME;
	uint32_t crc;

	p[n] = (unsigned char)kind;
	p[n + 1] = (unsigned char)idlen;
	p[n + 2] = p[n + 3] = 0;
	put64(p + n + 4, seq);
	put64(p + n + 12, (uint64_t)time_ns);
	n += OUTBOX_REC_FIXED;
	if (kind == OUTBOX_REC_VERDICT) {
		memcpy(p + n, digest, OUTBOX_REC_DIGEST);
		n += OUTBOX_REC_DIGEST;
	}
	memcpy(p + n, id, idlen);
	n += idlen;
	put32(p, (uint32_t)(n - OUTBOX_REC_FRAME + payload_len));
	crc = crc32c(0, p, 4);
	crc = crc32c(crc, p + OUTBOX_REC_FRAME, n - OUTBOX_REC_FRAME);
	crc = crc32c(crc, payload, payload_len);
	put32(p + 4, crc);
	return n;
}

void outbox_seg_name(char buf[OUTBOX_SEG_NAME_LEN], uint64_t seg)
{
	snprintf(buf, OUTBOX_SEG_NAME_LEN, "%020llu.log", (unsigned long long)seg);
}

int outbox_seg_parse(const char *name, uint64_t *seg)
{
	uint64_t v = 0;

	if (strlen(name) != OUTBOX_SEG_NAME_LEN - 1 || strcmp(name + 20, ".log") != 0)
		return -EINVAL;
	for (int i = 0; i < 20; i++) {
		if (name[i] < '0' || name[i] > '9' || v > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(name[i] - '0');
	}
	*seg = v;
	return 0;
}

static int pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, (char *)buf + got, len - got, (off_t)(off + got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EBADMSG;	/* shorter than its size said */
		got += (size_t)n;
	}
	return 0;
}

int outbox_seg_write_header(int fd, uint64_t seg)
{
	unsigned char h[OUTBOX_SEG_HEADER];
	ssize_t n;

	memcpy(h, OUTBOX_SEG_MAGIC, 8);
	put64(h + 8, seg);
	n = pwrite(fd, h, sizeof(h), 0);
	if (n < 0)
		return -errno;
	return n == (ssize_t)sizeof(h) ? 0 : -EIO;
}

int outbox_seg_check_header(int fd, uint64_t seg)
{
	unsigned char h[OUTBOX_SEG_HEADER];
	int rc = pread_all(fd, h, sizeof(h), 0);

	if (rc < 0)
		return rc;
	if (memcmp(h, OUTBOX_SEG_MAGIC, 8) != 0 || get64(h + 8) != seg)
		return -EBADMSG;
	return 0;
}

int outbox_seg_read(int fd, uint64_t seg, uint64_t size, uint64_t off, struct outbox_rec *rec,
		    char **payload)
{
	unsigned char pre[OUTBOX_REC_PREFIX_MAX];
	uint32_t len, crc, want;
	size_t fixed, n;
	char *buf = NULL;
	int rc;

	if (off == size)
		return -ENODATA;
	if (off > size || size - off < OUTBOX_REC_FRAME + OUTBOX_REC_FIXED + 1)
		return -EBADMSG;
	n = size - off < sizeof(pre) ? (size_t)(size - off) : sizeof(pre);
	rc = pread_all(fd, pre, n, off);
	if (rc < 0)
		return rc;
	len = get32(pre);
	want = get32(pre + 4);
	if (len < OUTBOX_REC_FIXED + 1 || len > OUTBOX_REC_LEN_MAX || len > size - off - OUTBOX_REC_FRAME)
		return -EBADMSG;
	memset(rec, 0, sizeof(*rec));
	rec->pos = OUTBOX_POS(seg, off);
	rec->size = OUTBOX_REC_FRAME + len;
	rec->kind = pre[OUTBOX_REC_FRAME];
	rec->seq = get64(pre + OUTBOX_REC_FRAME + 4);
	rec->time_ns = (int64_t)get64(pre + OUTBOX_REC_FRAME + 12);
	fixed = OUTBOX_REC_FRAME + OUTBOX_REC_FIXED;
	if (rec->kind == OUTBOX_REC_VERDICT) {
		if (n < fixed + OUTBOX_REC_DIGEST || !hex_valid((char *)pre + fixed, OUTBOX_REC_DIGEST))
			return -EBADMSG;
		memcpy(rec->digest, pre + fixed, OUTBOX_REC_DIGEST);
		fixed += OUTBOX_REC_DIGEST;
	} else if (rec->kind != OUTBOX_REC_MESSAGE) {
		return -EBADMSG;
	}
	n = pre[OUTBOX_REC_FRAME + 1];
	if (n < 1 || n > OUTBOX_REC_ID_MAX || fixed + n > OUTBOX_REC_FRAME + (size_t)len)
		return -EBADMSG;
	memcpy(rec->id, pre + fixed, n);
	rec->id[n] = '\0';
	if (strlen(rec->id) != n)
		return -EBADMSG;
	rec->payload_off = (uint32_t)(fixed + n);
	rec->payload_len = rec->size - rec->payload_off;
	if (!payload)
		return 0;
	buf = malloc(rec->size + 1);
	if (!buf)
		return -ENOMEM;
	rc = pread_all(fd, buf, rec->size, off);
	if (rc < 0)
		goto fail;
	crc = crc32c(0, buf, 4);
	crc = crc32c(crc, buf + OUTBOX_REC_FRAME, len);
	if (crc != want) {
		rc = -EBADMSG;
		goto fail;
	}
	memmove(buf, buf + rec->payload_off, rec->payload_len);
	buf[rec->payload_len] = '\0';
	*payload = buf;
	return 0;
fail:
	free(buf);
	return rc;
}

/* ---- the cursor ---- */

#define CURSOR_SLOT 32

int outbox_cursor_load(int dirfd, const char *name, struct outbox_cursor *out)
{
	unsigned char b[2 * CURSOR_SLOT];
	ssize_t n;
	int fd;

	out->gen = out->pos = 0;
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	n = pread(fd, b, sizeof(b), 0);
	close(fd);
	if (n < 0)
		return -errno;
	for (int s = 0; s < 2; s++) {
		const unsigned char *p = b + s * CURSOR_SLOT;

		if (n < (s + 1) * CURSOR_SLOT)
			break;
		if (get32(p + 16) != crc32c(0, p, 16))
			continue;
		if (get64(p) > out->gen || (out->gen == 0 && get64(p) == 0)) {
			out->gen = get64(p);
			out->pos = get64(p + 8);
		}
	}
	return 0;
}

int outbox_cursor_store(int fd, const struct outbox_cursor *cur)
{
	unsigned char p[CURSOR_SLOT] = { 0 };
	ssize_t n;

	put64(p, cur->gen);
	put64(p + 8, cur->pos);
	put32(p + 16, crc32c(0, p, 16));
	n = pwrite(fd, p, sizeof(p), (off_t)((cur->gen & 1) * CURSOR_SLOT));
	if (n < 0)
		return -errno;
	if (n != (ssize_t)sizeof(p))
		return -EIO;
	return fdatasync(fd) < 0 ? -errno : 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int outbox_seg_list(int dirfd, uint64_t **out, size_t *n)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	struct dirent *de;
	size_t cap = 0;

	*out = NULL;
	*n = 0;
	if (!d) {
		int err = errno;

		if (fd >= 0)
			close(fd);
		return -err;
	}
	while ((de = readdir(d))) {
		uint64_t no;

		if (outbox_seg_parse(de->d_name, &no) < 0)
			continue;
		if (*n == cap) {
			uint64_t *p = realloc(*out, (cap ? cap * 2 : 16) * sizeof(*p));

			if (!p) {
				closedir(d);
				free(*out);
				*out = NULL;
				*n = 0;
				return -ENOMEM;
			}
			*out = p;
			cap = cap ? cap * 2 : 16;
		}
		(*out)[(*n)++] = no;
	}
	closedir(d);
	if (*n > 1)
		qsort(*out, *n, sizeof(**out), cmp_u64);
	return 0;
}
