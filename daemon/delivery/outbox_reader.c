/* outbox_reader.c - `kvscreen outbox`: list, print or follow the messages of an outbox not yet delivered, or list the stored verdicts, read-only.
 *
 * Reads the segments of STATE/outbox/seg/ from the delivery cursor
 * (STATE/outbox/cursor) on, with the functions of outbox_log.c, while
 * kvscreend may be running: it only ever opens files read-only, shows a
 * record only once it is whole and its CRC matches, and skips a segment
 * that is retired while it reads (retired means delivered).  A record
 * shown may, in the moment before kvscreend made it durable, still vanish
 * in a crash; its request was then never answered.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "outbox_log.h"
#include "outbox_reader.h"

#define FOLLOW_MS 200

enum mode { M_LIST, M_CAT, M_FOLLOW };

/* Sorted segment numbers in `dir`; 0 or a negative errno. */
static int segments(const char *dir, uint64_t **out, size_t *n)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	*out = NULL;
	*n = 0;
	if (dfd < 0)
		return -errno;
	rc = outbox_seg_list(dfd, out, n);
	close(dfd);
	return rc;
}

/* Open segment `no` of segdir read-only and check its header: the fd and
 * the segment's size in *size, -ENOENT when it is not there (retired
 * meanwhile), -EAGAIN when its header is not whole yet (being created:
 * nothing in it is durable), or another negative errno. */
static int seg_open(const char *segdir, uint64_t no, uint64_t *size)
{
	char path[4096 + OUTBOX_SEG_NAME_LEN + 2], name[OUTBOX_SEG_NAME_LEN];
	struct stat st;
	int fd;

	outbox_seg_name(name, no);
	snprintf(path, sizeof(path), "%s/%s", segdir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || outbox_seg_check_header(fd, no) < 0) {
		close(fd);
		return -EAGAIN;
	}
	*size = (uint64_t)st.st_size;
	return fd;
}

/* Print the messages from *from on; *from moves past what was printed.
 * Returns 0 or a negative errno. */
static int show(const char *segdir, enum mode mode, uint64_t *from, FILE *out)
{
	uint64_t *segs;
	size_t n;
	int rc = segments(segdir, &segs, &n);

	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n && rc == 0; i++) {
		uint64_t off, size;
		int fd;

		if (segs[i] < OUTBOX_POS_SEG(*from))
			continue;
		fd = seg_open(segdir, segs[i], &size);
		if (fd < 0)
			continue;	/* retired meanwhile (delivered), or being created */
		off = OUTBOX_POS_SEG(*from) == segs[i] && OUTBOX_POS_OFF(*from) > OUTBOX_SEG_HEADER
			      ? OUTBOX_POS_OFF(*from) : OUTBOX_SEG_HEADER;
		for (;;) {
			struct outbox_rec rec;
			char *payload = NULL;

			rc = outbox_seg_read(fd, segs[i], size, off, &rec,
					     mode == M_LIST ? NULL : &payload);
			if (rc < 0)
				break;
			if (mode == M_LIST)
				fprintf(out, "%020llu.%s %s %u\n", rec.seq, rec.id,
					rec.kind == OUTBOX_REC_VERDICT ? "verdict" : "message",
					rec.payload_len);
			else
				fprintf(out, "%s\n", payload);
			free(payload);
			off += rec.size;
		}
		close(fd);
		/* The end, or a torn record being written: both end this
		 * segment for now. */
		rc = rc == -ENODATA || rc == -EBADMSG ? 0 : rc;
		*from = OUTBOX_POS(segs[i], off);
	}
	free(segs);
	fflush(out);
	return rc;
}

/* Called for each verdict record `rec` of the open segment fd (`no`, of
 * `size` bytes); returns 0 to go on or a negative errno to stop. */
typedef int (*rec_fn)(void *arg, int fd, uint64_t no, uint64_t size, const struct outbox_rec *rec,
		      uint64_t off);

/* Walk the verdict records of segment `no` of segdir.  Returns 0, 1 when
 * the file is not there (retired meanwhile), or a negative errno. */
static int walk_seg(const char *segdir, uint64_t no, rec_fn fn, void *arg)
{
	uint64_t off = OUTBOX_SEG_HEADER, size;
	struct outbox_rec rec;
	int fd = seg_open(segdir, no, &size), rc = 0;

	if (fd == -ENOENT)
		return 1;
	if (fd == -EAGAIN)
		return 0;
	if (fd < 0)
		return fd;
	while (rc == 0 && outbox_seg_read(fd, no, size, off, &rec, NULL) == 0) {
		if (rec.kind == OUTBOX_REC_VERDICT)
			rc = fn(arg, fd, no, size, &rec, off);
		off += rec.size;
	}
	close(fd);
	return rc;
}

static int has_u64(const uint64_t *v, size_t n, uint64_t x)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == x)
			return 1;
	return 0;
}

/* Walk every verdict record of the store and the outbox, each segment once
 * although kvscreend may retire one (move it from outbox/seg to store/seg)
 * between the two listings: a segment gone from outbox/seg is read in
 * store/seg.  Returns 0 or a negative errno. */
static int walk_stored(const char *state_dir, rec_fn fn, void *arg)
{
	char store[4096 + 16], box[4096 + 16];
	uint64_t *a = NULL, *b = NULL;
	size_t na = 0, nb = 0;
	int rc;

	snprintf(store, sizeof(store), "%s/store/seg", state_dir);
	snprintf(box, sizeof(box), "%s/outbox/seg", state_dir);
	rc = segments(store, &a, &na);
	if (rc == -ENOENT)
		rc = 0;
	for (size_t i = 0; i < na && rc >= 0; i++)
		rc = walk_seg(store, a[i], fn, arg);
	if (rc >= 0)
		rc = segments(box, &b, &nb);
	for (size_t i = 0; i < nb && rc >= 0; i++) {
		if (has_u64(a, na, b[i]))
			continue;
		rc = walk_seg(box, b[i], fn, arg);
		if (rc == 1)
			rc = walk_seg(store, b[i], fn, arg);
	}
	free(a);
	free(b);
	return rc < 0 ? rc : 0;
}

/* `stored`: "ID SEQ BYTES" for each verdict record. */
static int print_stored(void *arg, int fd, uint64_t no, uint64_t size,
			const struct outbox_rec *rec, uint64_t off)
{
	(void)fd, (void)no, (void)size, (void)off;
	fprintf(arg, "%s %020llu %u\n", rec->id, rec->seq, rec->payload_len);
	return 0;
}

static void usage(FILE *f)
{
	fputs("Usage: kvscreen outbox list|cat|follow|stored [-c FILE | --state DIR]\n"
	      "  list    one line per message not yet delivered: KEY KIND BYTES\n"
	      "          (KEY is SEQ.ID, the idempotency key the sink sends)\n"
	      "  cat     each such message (verdict JSON), one per line\n"
	      "  follow  as cat, then every new message as it is written, until killed\n"
	      "  stored  one line per verdict in the store, delivered or not: ID SEQ BYTES\n"
	      "          (an id is stored once; a line per version 1 the daemon wrote)\n"
	      "Reads STATE/outbox/ and STATE/store/ without changing anything; STATE is\n"
	      "--state or the configuration's daemon.state_dir.\n", f);
}

int outbox_reader_main(const char *state_dir, const char *cmd, FILE *out, FILE *err)
{
	char segdir[4096], boxdir[4096];
	struct outbox_cursor cur;
	enum mode mode;
	uint64_t from;
	int dfd, rc;

	if (!cmd || strcmp(cmd, "help") == 0) {
		usage(cmd ? out : err);
		return cmd ? 0 : 1;
	}
	if (strcmp(cmd, "list") == 0)
		mode = M_LIST;
	else if (strcmp(cmd, "cat") == 0)
		mode = M_CAT;
	else if (strcmp(cmd, "follow") == 0)
		mode = M_FOLLOW;
	else if (strcmp(cmd, "stored") == 0) {
		if (strlen(state_dir) > 4000) {
			fprintf(err, "kvscreen outbox: state folder name too long\n");
			return 1;
		}
		rc = walk_stored(state_dir, print_stored, out);
		fflush(out);
		if (rc < 0)
			fprintf(err, "kvscreen outbox: %s: %s\n", state_dir, strerror(-rc));
		return rc < 0;
	} else {
		fprintf(err, "kvscreen outbox: unknown subcommand \"%s\"\n", cmd);
		usage(err);
		return 1;
	}
	if (strlen(state_dir) > 4000) {
		fprintf(err, "kvscreen outbox: state folder name too long\n");
		return 1;
	}
	snprintf(boxdir, sizeof(boxdir), "%s/outbox", state_dir);
	snprintf(segdir, sizeof(segdir), "%s/outbox/seg", state_dir);
	dfd = open(boxdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		fprintf(err, "kvscreen outbox: %s: %s\n", boxdir, strerror(errno));
		return 1;
	}
	rc = outbox_cursor_load(dfd, "cursor", &cur);
	close(dfd);
	if (rc < 0) {
		fprintf(err, "kvscreen outbox: %s/cursor: %s\n", boxdir, strerror(-rc));
		return 1;
	}
	from = cur.pos;
	for (;;) {
		rc = show(segdir, mode == M_FOLLOW ? M_CAT : mode, &from, out);
		if (rc < 0) {
			fprintf(err, "kvscreen outbox: %s: %s\n", segdir, strerror(-rc));
			return 1;
		}
		if (mode != M_FOLLOW)
			return 0;
		nanosleep(&(struct timespec){ .tv_nsec = FOLLOW_MS * 1000000L }, NULL);
	}
}

struct find {
	const char *id;
	unsigned long long seq;   /* of the record in json */
	char *json;
};

/* Keep the verdict of f->id with the highest sequence number. */
static int find_rec(void *arg, int fd, uint64_t no, uint64_t size, const struct outbox_rec *rec,
		    uint64_t off)
{
	struct find *f = arg;
	struct outbox_rec r;
	char *payload = NULL;

	if (strcmp(rec->id, f->id) != 0 || (f->json && rec->seq <= f->seq))
		return 0;
	if (outbox_seg_read(fd, no, size, off, &r, &payload) == 0) {
		free(f->json);
		f->json = payload;
		f->seq = rec->seq;
	}
	return 0;
}

int outbox_reader_find(const char *state_dir, const char *id, char **json)
{
	struct find f = { id, 0, NULL };
	int rc = walk_stored(state_dir, find_rec, &f);

	if (rc < 0) {
		free(f.json);
		*json = NULL;
		return rc;
	}
	*json = f.json;
	return f.json ? 0 : -ENOENT;
}
