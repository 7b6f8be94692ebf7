/* outbox_log.h - the outbox's on-disk format: append-only segment files of CRC-framed records, and the delivery cursor.
 *
 * Pure file functions without state of their own, safe on any thread: the
 * outbox (outbox.c) writes and recovers segments with them on the thread
 * pool, and `kvscreen outbox` and the tests read the same files with them.
 * docs/outbox.md describes the format for other readers.
 *
 * A segment "NNNNNNNNNNNNNNNNNNNN.log" (its number, 20 digits) starts with a
 * 16-byte header (OUTBOX_SEG_MAGIC, then the number as u64 little endian)
 * and holds records back to back.  A record is
 *   u32 len     bytes after this 8-byte frame (little endian)
 *   u32 crc     CRC-32C (Castagnoli) of the 4 bytes of len, then those bytes
 *   u8  kind    OUTBOX_REC_VERDICT or OUTBOX_REC_MESSAGE
 *   u8  idlen   1..128
 *   u16 zero
 *   u64 seq     grows with every record, also across restarts
 *   u64 time    wall clock of the commit, ns since the epoch
 *   [64 hex digits of the request digest, verdict records only]
 *   id          idlen bytes
 *   payload     the rest: the message (verdict JSON)
 * A position is (segment number << 32) | offset in the segment.
 */
#ifndef KVS_OUTBOX_LOG_H
#define KVS_OUTBOX_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OUTBOX_SEG_MAGIC "KVSOBX\x01\n"
#define OUTBOX_SEG_HEADER 16u
#define OUTBOX_REC_FRAME 8u
#define OUTBOX_REC_FIXED 20u		/* kind .. time */
#define OUTBOX_REC_DIGEST 64u
#define OUTBOX_REC_ID_MAX 128u
/* The largest prefix (frame + fixed + digest + id) before the payload. */
#define OUTBOX_REC_PREFIX_MAX (OUTBOX_REC_FRAME + OUTBOX_REC_FIXED + OUTBOX_REC_DIGEST + OUTBOX_REC_ID_MAX)
/* Bounds a record's len field; above it the record is damaged. */
#define OUTBOX_REC_LEN_MAX ((16u << 20) + OUTBOX_REC_PREFIX_MAX)
/* A segment name: 20 digits, ".log", NUL. */
#define OUTBOX_SEG_NAME_LEN 25

enum outbox_rec_kind { OUTBOX_REC_VERDICT = 1, OUTBOX_REC_MESSAGE = 2 };

#define OUTBOX_POS(seg, off) (((uint64_t)(seg) << 32) | (uint32_t)(off))
#define OUTBOX_POS_SEG(pos) ((pos) >> 32)
#define OUTBOX_POS_OFF(pos) ((uint32_t)(pos))

/* One record's header fields, as decoded. */
struct outbox_rec {
	uint64_t pos;			/* where the record starts */
	uint32_t size;			/* the whole record, frame included */
	enum outbox_rec_kind kind;
	unsigned long long seq;
	int64_t time_ns;
	char digest[OUTBOX_REC_DIGEST + 1];	/* "" for a message */
	char id[OUTBOX_REC_ID_MAX + 1];
	uint32_t payload_off;		/* from the record's start */
	uint32_t payload_len;
};

/* Encode a record's prefix (frame, fixed fields, digest, id) into `buf`
 * (OUTBOX_REC_PREFIX_MAX bytes) for the payload that follows it; digest is
 * NULL for a message.  Returns the prefix length; the whole record is that
 * plus payload_len. */
size_t outbox_rec_prefix(char *buf, enum outbox_rec_kind kind, unsigned long long seq,
			 int64_t time_ns, const char *digest, const char *id,
			 const char *payload, size_t payload_len);

void outbox_seg_name(char buf[OUTBOX_SEG_NAME_LEN], uint64_t seg);
/* 0 and the number if `name` is a segment name, else -EINVAL. */
int outbox_seg_parse(const char *name, uint64_t *seg);
/* The numbers of the segments in folder dirfd, ascending, in a malloc'ed
 * array (NULL when there are none): 0, or a negative errno. */
int outbox_seg_list(int dirfd, uint64_t **out, size_t *n);
/* Write the header of a new segment (at offset 0 of `fd`). */
int outbox_seg_write_header(int fd, uint64_t seg);

/* Read the record at byte `off` of the segment open as `fd` whose size is
 * `size`.  With `payload` non-NULL, also read the whole record, check its
 * CRC and store a malloc'ed copy of the payload, NUL-terminated, there.
 * Returns 0; -ENODATA at the end (off == size); -EBADMSG for a record that
 * is torn (runs past size) or damaged (bad length, fields or CRC); or
 * another negative errno. */
int outbox_seg_read(int fd, uint64_t seg, uint64_t size, uint64_t off, struct outbox_rec *rec,
		    char **payload);

/* Check the header of the segment open as `fd`: 0, or -EBADMSG. */
int outbox_seg_check_header(int fd, uint64_t seg);

/* The delivery cursor: the position before which every record has been
 * delivered.  Kept in a 64-byte file as two 32-byte slots written in turn
 * (u64 generation, u64 position, u32 CRC-32C of those 16 bytes, 12 zero
 * bytes); the valid slot with the higher generation counts, so a torn write
 * of one slot leaves the other.  A missing file means position 0. */
struct outbox_cursor {
	uint64_t gen;
	uint64_t pos;
};
int outbox_cursor_load(int dirfd, const char *name, struct outbox_cursor *out);
/* Write cur (whose gen the caller raised by one) into its slot and
 * fdatasync the file, which `fd` holds open read-write. */
int outbox_cursor_store(int fd, const struct outbox_cursor *cur);

#endif
