/* outbox.c - the durable outbox and verdict store: an append-only log of segments with group commit.
 *
 * The loop thread owns the index (id -> request digest and the verdict's
 * position), the table of live segments, the queue of puts and the batch
 * in flight.  A put appends to the queue and, when no batch is running,
 * starts an idle handle; its callback (the next loop turn) moves the queue
 * into one batch and hands it to the thread pool.  The worker appends the
 * batch's records to the active segment with pwritev, makes them durable
 * with one fdatasync (or one syncfs), and creates the next segment when the
 * active one is full; the after-work callback updates the index, the
 * segment table and the counters and runs the callbacks on the loop thread.
 * While a batch runs only its worker touches the active segment's
 * descriptor.  Reads (outbox_read, the consumer's list and read) and the
 * cursor commits run on the pool too; they open segments by number, in
 * outbox/seg/ or, once retired, in store/seg/ (a rename moves a segment
 * from one to the other, so one of the two names always exists).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "hex.h"
#include "log.h"
#include "outbox.h"
#include "outbox_log.h"

#define ID_MAX 128
#define DIGEST_LEN 64
#define SEQ_DIGITS 20
#define BATCH_LIMIT_DEFAULT 4096
/* A batch also ends once it holds this many bytes. */
#define BATCH_BYTES_MAX (64u << 20)
#define SPACE_MS 5000
#define IOV_CHUNK 512
/* Reads on the thread pool at once, so that a flood of GETs cannot take
 * every worker from the group commit and the spool (reliability.md 1.3). */
#define READS_MAX 2
/* "ID.DIGEST.json" (a verdict file of the store before segments). */
#define NAME_MAX_LEN (ID_MAX + 1 + DIGEST_LEN + sizeof(".json"))
#define CURSOR_NAME "cursor"

/* One per stored verdict; ordered without holes before the id. */
struct ob_ent {
	struct ob_ent *next;
	uint64_t pos;		/* the record; 0: a file store/ID.DIGEST.json */
	unsigned char digest[DIGEST_LEN / 2];	/* the request's (hex_encode) */
	uint32_t hash;
	bool pending;		/* queued or being written, not yet durable */
	char id[];
};

struct ob_item {
	struct ob_item *next;
	unsigned long long seq;
	outbox_done_cb cb;
	void *data;
	char *verdict;
	size_t len;
	int status;
	bool store;		/* outbox_put (indexed), not outbox_post */
	uint64_t pos;		/* where the record went, once durable */
	size_t prefix_len;
	char prefix[OUTBOX_REC_PREFIX_MAX];
	char digest[DIGEST_LEN + 1];
	char id[ID_MAX + 1];
};

/* A segment in outbox/seg/, not yet retired. */
struct ob_seg {
	uint64_t no;
	unsigned long long records, verdicts;
	bool retiring;
};

struct ob_batch {
	uv_work_t work;
	struct outbox *ob;
	struct ob_item *head;
	bool use_syncfs;
	/* in: the active segment (fd -1: none) and whether to start a new one */
	int seg_fd;
	uint64_t seg_no, seg_size, new_no, seg_target;
	int64_t now;		/* the commit time written into each record */
	bool broken;
	/* out */
	bool created;		/* seg_fd, seg_no now name a new segment */
	int status;
	unsigned dir_fsyncs;
	unsigned long long free_bytes;	/* after the batch */
};

struct ob_read {
	uv_work_t work;
	struct outbox *ob;
	struct ob_read *next;	/* in the deferred list */
	outbox_read_cb cb;
	outbox_done_cb wait_cb;	/* outbox_when_durable: no file is read */
	void *data;
	int status;
	bool consumer;		/* outbox_consumer_read: not bounded by READS_MAX */
	uint64_t pos;		/* 0: read the legacy file `name` */
	char *buf;
	size_t len;
	char id[ID_MAX + 1];
	char name[NAME_MAX_LEN];
};

struct ob_list {
	uv_work_t work;
	struct outbox *ob;
	uint64_t from;
	size_t max;
	uint64_t *segs;		/* live segment numbers >= from's, ascending */
	size_t nsegs;
	uint64_t active_no, active_size;	/* durable end of the active one */
	struct outbox_entry *ents;
	size_t n;
	uint64_t next;
	int status;
	outbox_list_cb cb;
	void *data;
};

struct ob_ack {
	uv_work_t work;
	struct outbox *ob;
	struct outbox_cursor cur;
	uint64_t *retire;	/* segment numbers to retire */
	bool *keep;		/* ... moved to store/seg/ (true) or unlinked */
	size_t nretire;
	int status;
};

struct ob_space {
	uv_work_t work;
	struct outbox *ob;
	unsigned long long free_bytes;
};

struct outbox {
	uv_loop_t *loop;
	int box_fd, seg_dir_fd, store_fd, store_seg_fd, cursor_fd;

	struct ob_ent **buckets;
	size_t nbuckets, nentries;

	struct ob_item *queue, **queue_tail;
	size_t queued;
	unsigned batch_limit;
	bool use_syncfs;	/* copied into each batch when it starts */
	unsigned long long min_free, free_bytes;
	bool low_space;		/* free_bytes < min_free: puts get -ENOSPC */
	bool batch_running;
	uv_idle_t idle;
	unsigned long long next_seq;

	/* The active segment: appended to by the batch worker only. */
	int seg_fd;
	uint64_t seg_no, seg_size;	/* durable size */
	bool seg_broken;		/* a failed batch: start a new one */
	uint64_t next_seg_no, seg_target;
	struct ob_seg *segs;		/* live segments, ascending */
	size_t nsegs, segs_cap;

	/* The delivery cursor. */
	struct outbox_cursor cursor;	/* durable */
	uint64_t ack_want;
	bool ack_running;
	unsigned lists_running;

	struct ob_read *deferred, **deferred_tail;
	unsigned reads_running, consumer_reads;

	size_t depth;
	uv_timer_t space_timer;
	bool space_running;

	struct outbox_stats stats;
	void (*notify_cb)(void *data);
	void *notify_data;

	bool closing;
	int handles_open;
	void (*close_cb)(void *data);
	void *close_data;
};

static void batch_start(struct outbox *ob);
static void idle_cb(uv_idle_t *h);
static void close_maybe_finish(struct outbox *ob);
static void deferred_dispatch(struct outbox *ob);
static void space_update(struct outbox *ob, unsigned long long avail);
static void ack_start(struct outbox *ob);

bool outbox_id_valid(const char *id)
{
	size_t n = 0;

	if (!id)
		return false;
	for (; id[n]; n++) {
		unsigned char c = (unsigned char)id[n];

		if (n >= ID_MAX)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' || c == '-'))
			return false;
	}
	return n > 0 && strcmp(id, ".") != 0 && strcmp(id, "..") != 0;
}

static bool digest_valid(const char *d, size_t len)
{
	return len == DIGEST_LEN && hex_valid(d, len);
}

/* ---- index: id -> digest, chained hash table ---- */

static uint32_t id_hash(const char *id)
{
	uint32_t h = 2166136261u;

	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 16777619u;
	return h;
}

static struct ob_ent *index_find(const struct outbox *ob, const char *id)
{
	uint32_t h = id_hash(id);

	for (struct ob_ent *e = ob->buckets[h & (ob->nbuckets - 1)]; e; e = e->next)
		if (e->hash == h && strcmp(e->id, id) == 0)
			return e;
	return NULL;
}

static int index_grow(struct outbox *ob)
{
	size_t n = ob->nbuckets * 2;
	struct ob_ent **b = calloc(n, sizeof(*b));

	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < ob->nbuckets; i++) {
		struct ob_ent *e = ob->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			e->next = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	}
	free(ob->buckets);
	ob->buckets = b;
	ob->nbuckets = n;
	return 0;
}

/* The caller has checked that `id` is not in the index. */
static int index_add(struct outbox *ob, const char *id, const char *digest, bool pending, uint64_t pos,
		     struct ob_ent **out)
{
	size_t len = strlen(id);
	struct ob_ent *e;

	if (ob->nentries >= ob->nbuckets && index_grow(ob) < 0)
		return -ENOMEM;
	e = malloc(offsetof(struct ob_ent, id) + len + 1);
	if (!e)
		return -ENOMEM;
	/* Every caller checked the digest (digest_valid, hex_digest). */
	if (hex_decode(digest, e->digest, sizeof(e->digest)) < 0) {
		free(e);
		return -EINVAL;
	}
	e->hash = id_hash(id);
	e->pending = pending;
	e->pos = pos;
	memcpy(e->id, id, len + 1);
	e->next = ob->buckets[e->hash & (ob->nbuckets - 1)];
	ob->buckets[e->hash & (ob->nbuckets - 1)] = e;
	ob->nentries++;
	if (out)
		*out = e;
	return 0;
}

static void index_remove(struct outbox *ob, const char *id)
{
	uint32_t h = id_hash(id);

	for (struct ob_ent **p = &ob->buckets[h & (ob->nbuckets - 1)]; *p; p = &(*p)->next) {
		if ((*p)->hash == h && strcmp((*p)->id, id) == 0) {
			struct ob_ent *e = *p;

			*p = e->next;
			free(e);
			ob->nentries--;
			return;
		}
	}
}

static void index_free(struct outbox *ob)
{
	for (size_t i = 0; ob->buckets && i < ob->nbuckets; i++) {
		struct ob_ent *e = ob->buckets[i], *next;

		for (; e; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(ob->buckets);
	ob->buckets = NULL;
}

/* ---- file helpers, safe on any thread ---- */

static int open_dir(int at, const char *path, int *out)
{
	int fd;

	if (mkdirat(at, path, 0700) < 0 && errno != EEXIST)
		return -errno;
	fd = openat(at, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	*out = fd;
	return 0;
}

/* Iterate over the entries of the folder `dirfd` (which stays open). */
static DIR *dir_iter(int dirfd)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;

	if (fd < 0)
		return NULL;
	d = fdopendir(fd);
	if (!d)
		close(fd);
	return d;
}

/* Parse "ID.DIGEST.json" into id and digest; 0 or -EINVAL. */
static int parse_store_name(const char *name, char id[ID_MAX + 1], char digest[DIGEST_LEN + 1])
{
	size_t len = strlen(name), idlen;

	if (len < 1 + 1 + DIGEST_LEN + 5 || strcmp(name + len - 5, ".json") != 0)
		return -EINVAL;
	idlen = len - 5 - DIGEST_LEN - 1;
	if (idlen > ID_MAX || name[idlen] != '.' || !digest_valid(name + idlen + 1, DIGEST_LEN))
		return -EINVAL;
	memcpy(id, name, idlen);
	id[idlen] = '\0';
	memcpy(digest, name + idlen + 1, DIGEST_LEN);
	digest[DIGEST_LEN] = '\0';
	return outbox_id_valid(id) ? 0 : -EINVAL;
}

static void store_name(char *buf, size_t size, const char *id, const char *digest)
{
	snprintf(buf, size, "%s.%s.json", id, digest);
}

/* Open segment `no` for reading: in outbox/seg/ or, once retired, in
 * store/seg/.  A rename moves it atomically, so if the first open misses
 * it the second finds it. */
static int seg_open_ro(const struct outbox *ob, uint64_t no)
{
	char name[OUTBOX_SEG_NAME_LEN];
	int fd;

	outbox_seg_name(name, no);
	fd = openat(ob->seg_dir_fd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		fd = openat(ob->store_seg_fd, name, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* Free bytes for an unprivileged writer on the state filesystem, or
 * ULLONG_MAX if unknown (a failing statvfs must not stop the outbox). */
static unsigned long long free_bytes(int fd)
{
	struct statvfs sv;

	if (fstatvfs(fd, &sv) < 0)
		return ULLONG_MAX;
	return (unsigned long long)sv.f_bavail * (unsigned long long)sv.f_frsize;
}

static int64_t wall_ns(void)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

/* ---- the segment table (loop thread) ---- */

static struct ob_seg *seg_find(struct outbox *ob, uint64_t no)
{
	for (size_t i = 0; i < ob->nsegs; i++)
		if (ob->segs[i].no == no)
			return &ob->segs[i];
	return NULL;
}

/* Add segment `no`, larger than every one in the table. */
static struct ob_seg *seg_add(struct outbox *ob, uint64_t no)
{
	if (ob->nsegs == ob->segs_cap) {
		size_t cap = ob->segs_cap ? ob->segs_cap * 2 : 16;
		struct ob_seg *p = realloc(ob->segs, cap * sizeof(*p));

		if (!p)
			return NULL;
		ob->segs = p;
		ob->segs_cap = cap;
	}
	ob->segs[ob->nsegs] = (struct ob_seg){ .no = no };
	return &ob->segs[ob->nsegs++];
}

static void seg_remove(struct outbox *ob, uint64_t no)
{
	for (size_t i = 0; i < ob->nsegs; i++) {
		if (ob->segs[i].no == no) {
			memmove(&ob->segs[i], &ob->segs[i + 1], (ob->nsegs - i - 1) * sizeof(*ob->segs));
			ob->nsegs--;
			return;
		}
	}
}

/* ---- group commit ---- */

/* Start segment b->new_no: create it, write its header.  Its folder is
 * fsynced after the batch's data (batch_commit). */
static int batch_new_segment(struct ob_batch *b)
{
	char name[OUTBOX_SEG_NAME_LEN];
	int fd, rc;

	outbox_seg_name(name, b->new_no);
	fd = openat(b->ob->seg_dir_fd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	rc = outbox_seg_write_header(fd, b->new_no);
	if (rc < 0) {
		close(fd);
		unlinkat(b->ob->seg_dir_fd, name, 0);
		return rc;
	}
	b->seg_fd = fd;
	b->seg_no = b->new_no;
	b->seg_size = OUTBOX_SEG_HEADER;
	b->created = true;
	return 0;
}

static int pwritev_all(int fd, struct iovec *iov, int n, uint64_t off)
{
	while (n > 0) {
		ssize_t w = pwritev(fd, iov, n, (off_t)off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		off += (uint64_t)w;
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

/* Append every item of the batch to the active segment (a new one if
 * there is none, it is broken or full), then make them durable with one
 * fdatasync or syncfs; a new segment's folder entry is fsynced too.  On any
 * failure the appended bytes are cut off again (best effort) and every item
 * fails: a failed fdatasync leaves the page cache in an unknown state, so
 * the next batch starts a new segment (b->broken). */
static void batch_commit(struct ob_batch *b)
{
	struct iovec iov[2 * IOV_CHUNK];
	uint64_t start, off, total = 0;
	struct ob_item *it;
	int n = 0, rc = 0;

	for (it = b->head; it; it = it->next) {
		it->prefix_len = outbox_rec_prefix(it->prefix, it->store ? OUTBOX_REC_VERDICT : OUTBOX_REC_MESSAGE,
						   it->seq, b->now, it->store ? it->digest : NULL, it->id,
						   it->verdict, it->len);
		total += it->prefix_len + it->len;
	}
	if (b->seg_fd < 0 || b->broken ||
	    (b->seg_size > OUTBOX_SEG_HEADER && b->seg_size + total > b->seg_target)) {
		rc = batch_new_segment(b);
		if (rc < 0)
			goto fail;
	}
	start = off = b->seg_size;
	for (it = b->head; it; it = it->next) {
		it->pos = OUTBOX_POS(b->seg_no, off);
		off += it->prefix_len + it->len;
		iov[n].iov_base = it->prefix;
		iov[n++].iov_len = it->prefix_len;
		if (it->len) {
			iov[n].iov_base = it->verdict;
			iov[n++].iov_len = it->len;
		}
		if (n >= 2 * IOV_CHUNK - 1 || !it->next) {
			uint64_t chunk = 0;

			for (int i = 0; i < n; i++)
				chunk += iov[i].iov_len;
			rc = pwritev_all(b->seg_fd, iov, n, off - chunk);
			if (rc < 0)
				goto undo;
			n = 0;
		}
	}
	if (b->use_syncfs)
		rc = syncfs(b->seg_fd) < 0 ? -errno : 0;
	else
		rc = fdatasync(b->seg_fd) < 0 ? -errno : 0;
	if (rc < 0)
		goto undo;
	if (b->created) {
		b->dir_fsyncs++;
		if (fsync(b->ob->seg_dir_fd) < 0) {
			rc = -errno;
			goto undo;
		}
	}
	b->seg_size = off;
	return;
undo:
	if (ftruncate(b->seg_fd, (off_t)start) == 0)
		(void)fdatasync(b->seg_fd);
	b->broken = true;
fail:
	b->status = rc;
}

static void batch_work(uv_work_t *req)
{
	struct ob_batch *b = req->data;

	batch_commit(b);
	b->free_bytes = free_bytes(b->ob->seg_dir_fd);
}

static void batch_after(uv_work_t *req, int status)
{
	struct ob_batch *b = req->data;
	struct outbox *ob = b->ob;
	struct ob_item *it, *next;
	struct ob_seg *sg = NULL;
	unsigned n = 0, ok = 0;

	ob->batch_running = false;
	if (status == 0)
		space_update(ob, b->free_bytes);
	if (status < 0 && b->status == 0)
		b->status = status;
	if (b->created) {
		if (ob->seg_fd >= 0)
			close(ob->seg_fd);
		ob->seg_fd = b->seg_fd;
		ob->seg_no = b->seg_no;
		ob->next_seg_no = b->seg_no + 1;
		ob->stats.segments++;
		sg = seg_add(ob, b->seg_no);
		if (!sg) {
			log_err("outbox: out of memory for segment %llu: starting another",
				(unsigned long long)b->seg_no);
			b->broken = true;
		}
	} else if (b->seg_fd >= 0) {
		sg = seg_find(ob, b->seg_no);
	}
	ob->seg_size = b->seg_size;
	ob->seg_broken = b->broken;
	ob->stats.batches++;
	ob->stats.dir_fsyncs += b->dir_fsyncs;
	if (b->seg_fd >= 0)
		ob->stats.data_syncs++;
	for (it = b->head; it; it = it->next) {
		struct ob_ent *e = it->store ? index_find(ob, it->id) : NULL;

		n++;
		if (b->status == 0) {
			if (e) {
				e->pending = false;
				e->pos = it->pos;
			}
			if (sg) {
				sg->records++;
				sg->verdicts += it->store;
			}
			ok++;
		} else {
			it->status = b->status;
			if (e && e->pending)
				index_remove(ob, it->id);
		}
	}
	if (b->status < 0)
		log_err("outbox: writing a batch of %u failed: %s", n, strerror(-b->status));
	if (n > ob->stats.max_batch)
		ob->stats.max_batch = n;
	ob->stats.entries += ok;
	ob->stats.failures += n - ok;
	ob->depth += ok;
	for (it = b->head; it; it = next) {
		next = it->next;
		if (it->cb)
			it->cb(it->data, it->status);
		free(it->verdict);
		free(it);
	}
	free(b);
	deferred_dispatch(ob);
	if (ok && ob->notify_cb)
		ob->notify_cb(ob->notify_data);
	if (ob->queue)
		batch_start(ob);
	close_maybe_finish(ob);
}

static void batch_start(struct outbox *ob)
{
	struct ob_batch *b;
	struct ob_item **tail;
	unsigned n = 0;
	size_t bytes = 0;
	int64_t now;
	int rc;

	if (ob->batch_running || !ob->queue)
		return;
	b = calloc(1, sizeof(*b));
	if (!b) {
		/* Try again on the next loop turn. */
		uv_idle_start(&ob->idle, idle_cb);
		return;
	}
	b->ob = ob;
	b->use_syncfs = ob->use_syncfs;
	b->work.data = b;
	b->seg_fd = ob->seg_fd;
	b->seg_no = ob->seg_no;
	b->seg_size = ob->seg_size;
	b->broken = ob->seg_broken;
	b->new_no = ob->next_seg_no;
	b->seg_target = ob->seg_target;
	b->head = ob->queue;
	now = wall_ns();
	for (tail = &ob->queue; *tail && n < ob->batch_limit &&
	     (n == 0 || bytes + (*tail)->len <= BATCH_BYTES_MAX); tail = &(*tail)->next) {
		struct ob_item *it = *tail;

		n++;
		bytes += it->len + OUTBOX_REC_PREFIX_MAX;
		/* The sequence is given when the batch forms, so that records
		 * are in sequence order within the log. */
		it->seq = ob->next_seq++;
	}
	b->now = now;
	ob->queue = *tail;
	*tail = NULL;
	if (!ob->queue)
		ob->queue_tail = &ob->queue;
	ob->queued -= n;
	rc = uv_queue_work(ob->loop, &b->work, batch_work, batch_after);
	if (rc < 0) {
		/* Cannot happen with a valid loop; fail the batch visibly. */
		b->status = rc;
		b->seg_fd = -1;
		batch_after(&b->work, rc);
		return;
	}
	ob->batch_running = true;
}

static void idle_cb(uv_idle_t *h)
{
	struct outbox *ob = h->data;

	uv_idle_stop(h);
	batch_start(ob);
}

/* Copy a message into a new item and queue it for the next group commit;
 * for a stored item, also enter it into the index as pending. */
static int queue_item(struct outbox *ob, const char *id, const char *request_sha256,
		      const char *verdict, size_t len, outbox_done_cb cb, void *data)
{
	struct ob_item *it;
	int rc;

	it = calloc(1, sizeof(*it));
	if (!it)
		return -ENOMEM;
	it->verdict = malloc(len ? len : 1);
	if (!it->verdict) {
		rc = -ENOMEM;
		goto fail;
	}
	if (len)
		memcpy(it->verdict, verdict, len);
	it->len = len;
	it->cb = cb;
	it->data = data;
	it->store = request_sha256 != NULL;
	strcpy(it->id, id);
	if (it->store) {
		memcpy(it->digest, request_sha256, DIGEST_LEN + 1);
		rc = index_add(ob, id, request_sha256, true, 0, NULL);
		if (rc < 0)
			goto fail;
	}
	*ob->queue_tail = it;
	ob->queue_tail = &it->next;
	ob->queued++;
	if (!ob->batch_running)
		uv_idle_start(&ob->idle, idle_cb);
	return 0;
fail:
	free(it->verdict);
	free(it);
	return rc;
}

/* The checks outbox_put and outbox_post share. */
static int check_message(const struct outbox *ob, const char *id, const char *msg, size_t len)
{
	if (ob->closing)
		return -ESHUTDOWN;
	if (!outbox_id_valid(id) || (!msg && len))
		return -EINVAL;
	if (len > OUTBOX_MAX_VERDICT)
		return -EMSGSIZE;
	if (ob->low_space)
		return -ENOSPC;
	return 0;
}

int outbox_put(struct outbox *ob, const char *id, const char *request_sha256,
	       const char *verdict, size_t len, outbox_done_cb cb, void *data)
{
	int rc = check_message(ob, id, verdict, len);

	if (rc < 0)
		return rc;
	if (!request_sha256 || !digest_valid(request_sha256, strlen(request_sha256)))
		return -EINVAL;
	if (index_find(ob, id))
		return -EEXIST;
	return queue_item(ob, id, request_sha256, verdict, len, cb, data);
}

int outbox_post(struct outbox *ob, const char *id, const char *msg, size_t len,
		outbox_done_cb cb, void *data)
{
	int rc = check_message(ob, id, msg, len);

	if (rc < 0)
		return rc;
	return queue_item(ob, id, NULL, msg, len, cb, data);
}

/* ---- lookup and reads ---- */

int outbox_lookup(const struct outbox *ob, const char *id, char digest_out[65])
{
	const struct ob_ent *e;

	if (!outbox_id_valid(id))
		return -EINVAL;
	e = index_find(ob, id);
	if (!e)
		return -ENOENT;
	hex_encode(e->digest, sizeof(e->digest), digest_out);
	return 0;
}

/* A verdict file of the store from before segments. */
static void read_legacy(struct ob_read *r)
{
	struct stat st;
	size_t got = 0;
	int fd;

	fd = openat(r->ob->store_fd, r->name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		r->status = -errno;
		return;
	}
	if (fstat(fd, &st) < 0) {
		r->status = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > (off_t)OUTBOX_MAX_VERDICT) {
		r->status = -EFBIG;
		goto out;
	}
	r->buf = malloc((size_t)st.st_size + 1);
	if (!r->buf) {
		r->status = -ENOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, r->buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r->status = -errno;
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	r->buf[got] = '\0';
	r->len = got;
	r->status = 0;
out:
	close(fd);
}

static void read_work(uv_work_t *req)
{
	struct ob_read *r = req->data;
	struct outbox_rec rec;
	struct stat st;
	int fd;

	if (r->wait_cb) {
		r->status = 0;
		return;
	}
	if (r->pos == 0) {
		read_legacy(r);
		return;
	}
	fd = seg_open_ro(r->ob, OUTBOX_POS_SEG(r->pos));
	if (fd < 0) {
		r->status = fd;
		return;
	}
	if (fstat(fd, &st) < 0)
		r->status = -errno;
	else
		r->status = outbox_seg_read(fd, OUTBOX_POS_SEG(r->pos), (uint64_t)st.st_size,
					    OUTBOX_POS_OFF(r->pos), &rec, &r->buf);
	if (r->status == 0)
		r->len = rec.payload_len;
	else if (r->status == -ENODATA)
		r->status = -ENOENT;
	close(fd);
}

/* Run r's callback and free it. */
static void read_complete(struct ob_read *r, int status)
{
	if (r->wait_cb)
		r->wait_cb(r->data, status);
	else
		r->cb(r->data, status, status == 0 ? r->buf : NULL, status == 0 ? r->len : 0);
	free(r->buf);
	free(r);
}

static void read_after(uv_work_t *req, int status)
{
	struct ob_read *r = req->data;
	struct outbox *ob = r->ob;

	if (status < 0)
		r->status = status;
	if (r->consumer)
		ob->consumer_reads--;
	else
		ob->reads_running--;
	if (r->status < 0 && r->status != -ENOENT && !r->wait_cb)
		log_err("outbox: reading %s: %s", r->consumer ? "a message" : r->id, strerror(-r->status));
	read_complete(r, r->status);
	deferred_dispatch(ob);
	close_maybe_finish(ob);
}

/* Start `r` if its entry is durable and a reader is free; defer it if the
 * entry is queued or READS_MAX reads are running; -ENOENT if gone. */
static int read_dispatch(struct outbox *ob, struct ob_read *r)
{
	const struct ob_ent *e = index_find(ob, r->id);
	int rc;

	if (!e)
		return -ENOENT;
	if (e->pending || ob->reads_running >= READS_MAX) {
		r->next = NULL;
		*ob->deferred_tail = r;
		ob->deferred_tail = &r->next;
		return 0;
	}
	r->pos = e->pos;
	if (!e->pos) {
		char hex[DIGEST_LEN + 1];

		hex_encode(e->digest, sizeof(e->digest), hex);
		store_name(r->name, sizeof(r->name), e->id, hex);
	}
	rc = uv_queue_work(ob->loop, &r->work, read_work, read_after);
	if (rc < 0)
		return rc;
	ob->reads_running++;
	return 0;
}

static void deferred_dispatch(struct outbox *ob)
{
	struct ob_read *list = ob->deferred, *r, *next;

	ob->deferred = NULL;
	ob->deferred_tail = &ob->deferred;
	for (r = list; r; r = next) {
		int rc;

		next = r->next;
		rc = read_dispatch(ob, r);
		if (rc < 0)
			read_complete(r, rc);
	}
}

static int read_start(struct outbox *ob, const char *id, outbox_read_cb cb,
		      outbox_done_cb wait_cb, void *data)
{
	struct ob_read *r;
	int rc;

	if (ob->closing)
		return -ESHUTDOWN;
	if (!outbox_id_valid(id) || (!cb && !wait_cb))
		return -EINVAL;
	if (!index_find(ob, id))
		return -ENOENT;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->ob = ob;
	r->work.data = r;
	r->cb = cb;
	r->wait_cb = wait_cb;
	r->data = data;
	strcpy(r->id, id);
	rc = read_dispatch(ob, r);
	if (rc < 0)
		free(r);
	return rc;
}

int outbox_read(struct outbox *ob, const char *id, outbox_read_cb cb, void *data)
{
	return read_start(ob, id, cb, NULL, data);
}

int outbox_when_durable(struct outbox *ob, const char *id, outbox_done_cb cb, void *data)
{
	return read_start(ob, id, NULL, cb, data);
}

/* ---- the consumer ---- */

/* The durable end of the log: the active segment's durable size. */
static uint64_t durable_end(const struct outbox *ob)
{
	if (ob->seg_fd < 0)
		return ob->nsegs ? OUTBOX_POS(ob->segs[ob->nsegs - 1].no, UINT32_MAX) : 0;
	return OUTBOX_POS(ob->seg_no, ob->seg_size);
}

unsigned long long outbox_consumer_start(const struct outbox *ob)
{
	return ob->cursor.pos;
}

static void list_work(uv_work_t *req)
{
	struct ob_list *l = req->data;

	l->ents = calloc(l->max, sizeof(*l->ents));
	if (!l->ents) {
		l->status = -ENOMEM;
		return;
	}
	l->next = l->from;
	for (size_t i = 0; i < l->nsegs && l->n < l->max; i++) {
		uint64_t no = l->segs[i], off, size;
		struct stat st;
		int fd = seg_open_ro(l->ob, no);

		if (fd < 0) {
			if (fd == -ENOENT)
				continue;	/* retired meanwhile: delivered */
			l->status = fd;
			return;
		}
		if (fstat(fd, &st) < 0) {
			l->status = -errno;
			close(fd);
			return;
		}
		size = (uint64_t)st.st_size;
		if (no == l->active_no && l->active_size < size)
			size = l->active_size;
		off = OUTBOX_POS_SEG(l->from) == no && OUTBOX_POS_OFF(l->from) > OUTBOX_SEG_HEADER
			      ? OUTBOX_POS_OFF(l->from) : OUTBOX_SEG_HEADER;
		while (l->n < l->max) {
			struct outbox_rec rec;
			struct outbox_entry *e = &l->ents[l->n];
			int rc = outbox_seg_read(fd, no, size, off, &rec, NULL);

			if (rc == -ENODATA)
				break;
			if (rc < 0) {
				/* Damaged in the middle: nothing after it in
				 * this segment can be found. */
				log_err("outbox: segment %llu is damaged at byte %llu (%s): "
					"its remaining messages cannot be delivered",
					(unsigned long long)no, (unsigned long long)off, strerror(-rc));
				off = size;
				break;
			}
			e->pos = rec.pos;
			e->end = rec.pos + rec.size;
			e->seq = rec.seq;
			e->written_ms = rec.time_ns / 1000000;
			e->len = rec.payload_len;
			snprintf(e->key, sizeof(e->key), "%0*llu.%s", SEQ_DIGITS, rec.seq, rec.id);
			off += rec.size;
			l->n++;
		}
		close(fd);
		l->next = OUTBOX_POS(no, off);
	}
}

static void list_after(uv_work_t *req, int status)
{
	struct ob_list *l = req->data;
	struct outbox *ob = l->ob;

	if (status == 0)
		status = l->status;
	ob->lists_running--;
	l->cb(l->data, status, status == 0 ? l->ents : NULL, status == 0 ? l->n : 0,
	      status == 0 ? l->next : l->from);
	free(l->ents);
	free(l->segs);
	free(l);
	close_maybe_finish(ob);
}

int outbox_consumer_list(struct outbox *ob, unsigned long long from, size_t max,
			 outbox_list_cb cb, void *data)
{
	struct ob_list *l;
	int rc;

	if (ob->closing)
		return -ESHUTDOWN;
	if (!cb || max == 0 || max > 65536)
		return -EINVAL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->segs = calloc(ob->nsegs ? ob->nsegs : 1, sizeof(*l->segs));
	if (!l->segs) {
		free(l);
		return -ENOMEM;
	}
	for (size_t i = 0; i < ob->nsegs; i++)
		if (ob->segs[i].no >= OUTBOX_POS_SEG(from))
			l->segs[l->nsegs++] = ob->segs[i].no;
	l->ob = ob;
	l->work.data = l;
	l->from = from;
	l->max = max;
	l->active_no = ob->seg_fd >= 0 ? ob->seg_no : UINT64_MAX;
	l->active_size = ob->seg_size;
	l->cb = cb;
	l->data = data;
	rc = uv_queue_work(ob->loop, &l->work, list_work, list_after);
	if (rc < 0) {
		free(l->segs);
		free(l);
		return rc;
	}
	ob->lists_running++;
	return 0;
}

int outbox_consumer_read(struct outbox *ob, unsigned long long pos, outbox_read_cb cb, void *data)
{
	struct ob_read *r;
	int rc;

	if (ob->closing)
		return -ESHUTDOWN;
	if (!cb || pos == 0 || pos >= durable_end(ob))
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->ob = ob;
	r->work.data = r;
	r->cb = cb;
	r->data = data;
	r->consumer = true;
	r->pos = pos;
	rc = uv_queue_work(ob->loop, &r->work, read_work, read_after);
	if (rc < 0) {
		free(r);
		return rc;
	}
	ob->consumer_reads++;
	return 0;
}

static void ack_work(uv_work_t *req)
{
	struct ob_ack *a = req->data;
	struct outbox *ob = a->ob;
	bool moved = false, removed = false;

	a->status = outbox_cursor_store(ob->cursor_fd, &a->cur);
	if (a->status < 0)
		return;
	for (size_t i = 0; i < a->nretire; i++) {
		char name[OUTBOX_SEG_NAME_LEN];
		int rc;

		outbox_seg_name(name, a->retire[i]);
		if (a->keep[i])
			rc = renameat(ob->seg_dir_fd, name, ob->store_seg_fd, name);
		else
			rc = unlinkat(ob->seg_dir_fd, name, 0);
		if (rc < 0 && errno != ENOENT) {
			log_warn("outbox: cannot retire segment %s: %s", name, strerror(errno));
			a->keep[i] = false;
			a->retire[i] = 0;	/* stays; tried again at the next start */
			continue;
		}
		moved |= a->keep[i];
		removed = true;
	}
	/* A lost rename or unlink is redone at the next start. */
	if (moved)
		(void)fsync(ob->store_seg_fd);
	if (removed)
		(void)fsync(ob->seg_dir_fd);
}

static void ack_after(uv_work_t *req, int status)
{
	struct ob_ack *a = req->data;
	struct outbox *ob = a->ob;

	ob->ack_running = false;
	if (status == 0)
		status = a->status;
	if (status < 0) {
		log_err("outbox: writing the delivery cursor: %s", strerror(-status));
	} else {
		ob->cursor = a->cur;
		ob->stats.cursor_writes++;
		for (size_t i = 0; i < a->nretire; i++) {
			struct ob_seg *sg = seg_find(ob, a->retire[i]);

			if (!sg)
				continue;
			if (a->retire[i]) {
				seg_remove(ob, a->retire[i]);
				ob->stats.retired++;
			} else {
				sg->retiring = false;
			}
		}
	}
	/* Any segment marked but not retired (a failed cursor write) is
	 * tried again with the next ack. */
	for (size_t i = 0; i < ob->nsegs; i++)
		ob->segs[i].retiring = false;
	free(a->retire);
	free(a->keep);
	free(a);
	if (status == 0 && ob->ack_want > ob->cursor.pos)
		ack_start(ob);
	close_maybe_finish(ob);
}

static void ack_start(struct outbox *ob)
{
	struct ob_ack *a;
	uint64_t cur_seg = OUTBOX_POS_SEG(ob->ack_want);

	if (ob->ack_running || ob->ack_want <= ob->cursor.pos)
		return;
	a = calloc(1, sizeof(*a));
	if (!a)
		return;		/* tried again with the next ack */
	a->retire = calloc(ob->nsegs ? ob->nsegs : 1, sizeof(*a->retire));
	a->keep = calloc(ob->nsegs ? ob->nsegs : 1, sizeof(*a->keep));
	if (!a->retire || !a->keep)
		goto fail;
	a->ob = ob;
	a->work.data = a;
	a->cur.gen = ob->cursor.gen + 1;
	a->cur.pos = ob->ack_want;
	/* Segments wholly before the cursor, never the active one. */
	for (size_t i = 0; i < ob->nsegs; i++) {
		struct ob_seg *sg = &ob->segs[i];

		if (sg->no >= cur_seg || (ob->seg_fd >= 0 && sg->no == ob->seg_no))
			break;
		sg->retiring = true;
		a->keep[a->nretire] = sg->verdicts > 0;
		a->retire[a->nretire++] = sg->no;
	}
	if (uv_queue_work(ob->loop, &a->work, ack_work, ack_after) < 0)
		goto fail;
	ob->ack_running = true;
	return;
fail:
	for (size_t i = 0; i < ob->nsegs; i++)
		ob->segs[i].retiring = false;
	free(a->retire);
	free(a->keep);
	free(a);
}

int outbox_consumer_ack(struct outbox *ob, unsigned long long pos)
{
	if (ob->closing && uv_is_closing((uv_handle_t *)&ob->idle))
		return -ESHUTDOWN;
	if (pos > durable_end(ob))
		return -EINVAL;
	if (pos > ob->ack_want)
		ob->ack_want = pos;
	ack_start(ob);
	return 0;
}

/* ---- depth and free space ---- */

static void space_update(struct outbox *ob, unsigned long long avail)
{
	bool low;

	ob->free_bytes = avail;
	low = avail < ob->min_free;
	if (low && !ob->low_space)
		log_err("outbox: %llu bytes free on the state filesystem, less than %llu: "
			"refusing new verdicts", avail, ob->min_free);
	else if (!low && ob->low_space)
		log_notice("outbox: %llu bytes free again, accepting verdicts", avail);
	ob->low_space = low;
}

static void space_work(uv_work_t *req)
{
	struct ob_space *sp = req->data;

	sp->free_bytes = free_bytes(sp->ob->seg_dir_fd);
}

static void space_after(uv_work_t *req, int status)
{
	struct ob_space *sp = req->data;
	struct outbox *ob = sp->ob;

	ob->space_running = false;
	if (status == 0)
		space_update(ob, sp->free_bytes);
	free(sp);
	close_maybe_finish(ob);
}

static void space_timer_cb(uv_timer_t *t)
{
	struct outbox *ob = t->data;
	struct ob_space *sp;

	if (ob->space_running || ob->closing)
		return;
	sp = calloc(1, sizeof(*sp));
	if (!sp)
		return;
	sp->ob = ob;
	sp->work.data = sp;
	if (uv_queue_work(ob->loop, &sp->work, space_work, space_after) < 0) {
		free(sp);
		return;
	}
	ob->space_running = true;
}

size_t outbox_depth(const struct outbox *ob)
{
	return ob->depth;
}

void outbox_retired(struct outbox *ob, size_t n)
{
	ob->depth = ob->depth > n ? ob->depth - n : 0;
}

void outbox_set_notify(struct outbox *ob, void (*cb)(void *data), void *data)
{
	ob->notify_cb = cb;
	ob->notify_data = data;
}

void outbox_set_batch_limit(struct outbox *ob, unsigned n)
{
	ob->batch_limit = n ? n : 1;
}

void outbox_set_segment_size(struct outbox *ob, unsigned long long bytes)
{
	ob->seg_target = bytes < 4096 ? 4096 : bytes;
}

void outbox_set_min_free(struct outbox *ob, unsigned long long bytes)
{
	ob->min_free = bytes;
	space_update(ob, ob->free_bytes);
}

void outbox_set_syncfs(struct outbox *ob, bool on)
{
	ob->use_syncfs = on;
}

void outbox_stats(const struct outbox *ob, struct outbox_stats *out)
{
	*out = ob->stats;
}

/* ---- open: recovery and the index ---- */


/* Read segment `no` (open as fd) from its start: index its verdicts,
 * count its records (those at or after the cursor into the depth), and
 * raise next_seq.  With `last`, check every record's CRC and cut the file
 * at the first torn or damaged one (never acknowledged: every batch is
 * durable before its answers, and only the last segment is appended to);
 * else stop at a damaged record with an error in the log.  *end gets the
 * size of the good part. */
static int scan_segment(struct outbox *ob, int fd, int dirfd, uint64_t no, bool last,
			struct ob_seg *sg, uint64_t *end)
{
	char name[OUTBOX_SEG_NAME_LEN];
	uint64_t off = OUTBOX_SEG_HEADER, size;
	struct stat st;
	int rc;

	outbox_seg_name(name, no);
	if (fstat(fd, &st) < 0)
		return -errno;
	size = (uint64_t)st.st_size;
	rc = outbox_seg_check_header(fd, no);
	if (rc < 0) {
		if (last && size <= OUTBOX_SEG_HEADER + 0u) {
			/* Created by a batch that never finished. */
			*end = 0;
			return 0;
		}
		log_err("outbox: %s has a damaged header: ignored", name);
		if (sg)
			sg->verdicts++;	/* never removed: kept in store/seg */
		*end = 0;
		return rc == -EBADMSG ? 0 : rc;
	}
	for (;;) {
		struct outbox_rec rec;
		char *payload = NULL;

		rc = outbox_seg_read(fd, no, size, off, &rec, last ? &payload : NULL);
		free(payload);
		if (rc == -ENODATA)
			break;
		if (rc == -EBADMSG) {
			if (last) {
				log_warn("outbox: cutting %llu bytes of a torn or damaged record at the end "
					 "of %s (never acknowledged)", (unsigned long long)(size - off), name);
				if (ftruncate(fd, (off_t)off) < 0 || fdatasync(fd) < 0)
					return -errno;
			} else {
				log_err("outbox: %s is damaged at byte %llu: the %llu bytes after it are "
					"ignored", name, (unsigned long long)off,
					(unsigned long long)(size - off));
				if (sg)
					sg->verdicts++;	/* never removed: kept in store/seg */
			}
			break;
		}
		if (rc < 0)
			return rc;
		if (rec.seq >= ob->next_seq)
			ob->next_seq = rec.seq + 1;
		if (sg) {
			sg->records++;
			if (rec.pos >= ob->cursor.pos)
				ob->depth++;
		}
		if (rec.kind == OUTBOX_REC_VERDICT) {
			if (sg)
				sg->verdicts++;
			if (index_find(ob, rec.id)) {
				log_warn("outbox: ignoring a second verdict for %s in %s", rec.id, name);
			} else {
				rc = index_add(ob, rec.id, rec.digest, false, rec.pos, NULL);
				if (rc < 0)
					return rc;
			}
		}
		off += rec.size;
	}
	(void)dirfd;
	*end = off;
	return 0;
}

/* Load the verdict files of the store from before segments. */
static int load_store_files(struct outbox *ob)
{
	DIR *d = dir_iter(ob->store_fd);
	struct dirent *de;
	int rc = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char id[ID_MAX + 1], digest[DIGEST_LEN + 1];

		if (de->d_name[0] == '.' || strcmp(de->d_name, "seg") == 0)
			continue;
		if (parse_store_name(de->d_name, id, digest) < 0) {
			log_warn("outbox: ignoring store/%s: not ID.SHA256.json", de->d_name);
			continue;
		}
		if (index_find(ob, id)) {
			log_warn("outbox: ignoring store/%s: a second verdict for %s", de->d_name, id);
			continue;
		}
		rc = index_add(ob, id, digest, false, 0, NULL);
		if (rc < 0)
			break;
	}
	closedir(d);
	return rc;
}

/* Retire, at open, segments the cursor has passed whose rename or unlink
 * a crash lost. */
static int retire_passed(struct outbox *ob, uint64_t *segs, size_t *n)
{
	size_t k = 0;
	bool changed = false;

	for (size_t i = 0; i < *n; i++) {
		char name[OUTBOX_SEG_NAME_LEN];
		struct ob_seg *sg = seg_find(ob, segs[i]);

		if (segs[i] >= OUTBOX_POS_SEG(ob->cursor.pos) || i + 1 == *n || !sg) {
			segs[k++] = segs[i];
			continue;
		}
		outbox_seg_name(name, segs[i]);
		if ((sg->verdicts ? renameat(ob->seg_dir_fd, name, ob->store_seg_fd, name)
				  : unlinkat(ob->seg_dir_fd, name, 0)) < 0)
			return -errno;
		seg_remove(ob, segs[i]);
		changed = true;
	}
	*n = k;
	if (changed && (fsync(ob->store_seg_fd) < 0 || fsync(ob->seg_dir_fd) < 0))
		return -errno;
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One above the largest segment number in outbox/seg and store/seg. */
static int next_segment_number(struct outbox *ob, uint64_t *out)
{
	uint64_t *segs;
	size_t n;
	int rc;

	*out = 1;
	for (int k = 0; k < 2; k++) {
		rc = outbox_seg_list(k ? ob->store_seg_fd : ob->seg_dir_fd, &segs, &n);
		if (rc < 0)
			return rc;
		if (n && segs[n - 1] >= *out)
			*out = segs[n - 1] + 1;
		free(segs);
	}
	return 0;
}

/* Entries an earlier version left in outbox/new/ ("SEQ.ID.json", one
 * verdict each, the store holding its own link): append them, in name
 * order, as messages to a new segment, make that durable, then remove them.
 * A crash in between delivers some twice, never none. */
static int import_legacy_new(struct outbox *ob)
{
	DIR *d;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int new_fd, fd = -1, rc = 0;
	uint64_t off = OUTBOX_SEG_HEADER, no;
	char segname[OUTBOX_SEG_NAME_LEN];

	new_fd = openat(ob->box_fd, "new", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (new_fd < 0)
		return errno == ENOENT ? 0 : -errno;
	d = dir_iter(new_fd);
	if (!d) {
		rc = -errno;
		goto out;
	}
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);

		if (de->d_name[0] == '.' || len < SEQ_DIGITS + 7 || len > SEQ_DIGITS + 1 + ID_MAX + 5 ||
		    strcmp(de->d_name + len - 5, ".json") != 0 || de->d_name[SEQ_DIGITS] != '.')
			continue;
		if (n == cap) {
			char **p = realloc(names, (cap ? cap * 2 : 64) * sizeof(*p));

			if (!p) {
				rc = -ENOMEM;
				break;
			}
			names = p;
			cap = cap ? cap * 2 : 64;
		}
		if (!(names[n] = strdup(de->d_name))) {
			rc = -ENOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	if (rc < 0 || n == 0)
		goto out;
	qsort(names, n, sizeof(*names), cmp_names);
	rc = next_segment_number(ob, &no);
	if (rc < 0)
		goto out;
	outbox_seg_name(segname, no);
	fd = openat(ob->seg_dir_fd, segname, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || outbox_seg_write_header(fd, no) < 0) {
		rc = -errno;
		goto out;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		char id[ID_MAX + 1], prefix[OUTBOX_REC_PREFIX_MAX], *buf = NULL;
		unsigned long long seq = strtoull(names[i], NULL, 10);
		size_t idlen = strlen(names[i]) - SEQ_DIGITS - 6, plen;
		struct stat st;
		int efd = openat(new_fd, names[i], O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

		memcpy(id, names[i] + SEQ_DIGITS + 1, idlen);
		id[idlen] = '\0';
		if (efd < 0 || fstat(efd, &st) < 0 || !outbox_id_valid(id) ||
		    st.st_size > (off_t)OUTBOX_MAX_VERDICT) {
			log_warn("outbox: leaving outbox/new/%s in place: not a verdict entry", names[i]);
			if (efd >= 0)
				close(efd);
			free(names[i]);
			names[i] = NULL;
			continue;
		}
		buf = malloc((size_t)st.st_size + 1);
		if (!buf || pread(efd, buf, (size_t)st.st_size, 0) != st.st_size) {
			rc = buf ? -EIO : -ENOMEM;
		} else {
			plen = outbox_rec_prefix(prefix, OUTBOX_REC_MESSAGE, seq, wall_ns(), NULL, id, buf,
						 (size_t)st.st_size);
			if (pwrite(fd, prefix, plen, (off_t)off) != (ssize_t)plen ||
			    pwrite(fd, buf, (size_t)st.st_size, (off_t)(off + plen)) != st.st_size)
				rc = -EIO;
			off += plen + (uint64_t)st.st_size;
			if (seq >= ob->next_seq)
				ob->next_seq = seq + 1;
		}
		free(buf);
		close(efd);
	}
	if (rc == 0 && (fdatasync(fd) < 0 || fsync(ob->seg_dir_fd) < 0))
		rc = -errno;
	if (rc < 0) {
		unlinkat(ob->seg_dir_fd, segname, 0);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (names[i])
			unlinkat(new_fd, names[i], 0);
	(void)fsync(new_fd);
	log_notice("outbox: moved %zu undelivered entries of outbox/new/ into segment %s", n, segname);
out:
	if (fd >= 0)
		close(fd);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	close(new_fd);
	return rc;
}

static void close_fds(struct outbox *ob)
{
	int *fds[] = { &ob->box_fd, &ob->seg_dir_fd, &ob->store_fd, &ob->store_seg_fd,
		       &ob->cursor_fd, &ob->seg_fd };

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

/* Build the index and the segment table from store/seg, the legacy store
 * files and outbox/seg; recover the last segment and open it for appends. */
static int load_segments(struct outbox *ob)
{
	uint64_t *live = NULL, *old = NULL, end;
	size_t nlive = 0, nold = 0;
	int rc;

	rc = outbox_seg_list(ob->store_seg_fd, &old, &nold);
	if (rc == 0)
		rc = outbox_seg_list(ob->seg_dir_fd, &live, &nlive);
	if (rc < 0)
		goto out;
	for (size_t i = 0; i < nold && rc == 0; i++) {
		int fd = seg_open_ro(ob, old[i]);

		if (fd < 0) {
			rc = fd;
			break;
		}
		rc = scan_segment(ob, fd, ob->store_seg_fd, old[i], false, NULL, &end);
		close(fd);
		if (old[i] >= ob->next_seg_no)
			ob->next_seg_no = old[i] + 1;
	}
	if (rc == 0)
		rc = load_store_files(ob);
	for (size_t i = 0; i < nlive && rc == 0; i++) {
		char name[OUTBOX_SEG_NAME_LEN];
		bool last = i + 1 == nlive;
		struct ob_seg *sg = seg_add(ob, live[i]);
		int fd;

		if (!sg) {
			rc = -ENOMEM;
			break;
		}
		outbox_seg_name(name, live[i]);
		fd = openat(ob->seg_dir_fd, name, (last ? O_RDWR : O_RDONLY) | O_CLOEXEC);
		if (fd < 0) {
			rc = -errno;
			break;
		}
		rc = scan_segment(ob, fd, ob->seg_dir_fd, live[i], last, sg, &end);
		if (live[i] >= ob->next_seg_no)
			ob->next_seg_no = live[i] + 1;
		if (rc == 0 && last && end >= OUTBOX_SEG_HEADER) {
			ob->seg_fd = fd;
			ob->seg_no = live[i];
			ob->seg_size = end;
		} else {
			close(fd);
		}
	}
	if (rc == 0)
		rc = retire_passed(ob, live, &nlive);
out:
	free(live);
	free(old);
	return rc;
}

int outbox_open(uv_loop_t *loop, const char *state_dir, struct outbox **out)
{
	struct outbox *ob;
	struct stat st_seg, st_store;
	int state_fd = -1, rc;
	int64_t floor_seq;

	ob = calloc(1, sizeof(*ob));
	if (!ob)
		return -ENOMEM;
	ob->loop = loop;
	ob->box_fd = ob->seg_dir_fd = ob->store_fd = ob->store_seg_fd = ob->cursor_fd = ob->seg_fd = -1;
	ob->queue_tail = &ob->queue;
	ob->deferred_tail = &ob->deferred;
	ob->batch_limit = BATCH_LIMIT_DEFAULT;
	ob->min_free = OUTBOX_MIN_FREE_DEFAULT;
	ob->seg_target = OUTBOX_SEGMENT_DEFAULT;
	ob->next_seg_no = 1;
	ob->nbuckets = 1024;
	ob->buckets = calloc(ob->nbuckets, sizeof(*ob->buckets));
	if (!ob->buckets) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = open_dir(AT_FDCWD, state_dir, &state_fd);
	if (rc == 0)
		rc = open_dir(state_fd, "outbox", &ob->box_fd);
	if (rc == 0)
		rc = open_dir(ob->box_fd, "seg", &ob->seg_dir_fd);
	if (rc == 0)
		rc = open_dir(state_fd, "store", &ob->store_fd);
	if (rc == 0)
		rc = open_dir(ob->store_fd, "seg", &ob->store_seg_fd);
	if (rc < 0) {
		log_err("outbox: cannot open the folders under %s: %s", state_dir, strerror(-rc));
		goto fail;
	}
	if (fstat(ob->seg_dir_fd, &st_seg) < 0 || fstat(ob->store_seg_fd, &st_store) < 0) {
		rc = -errno;
		goto fail;
	}
	if (st_seg.st_dev != st_store.st_dev) {
		log_err("outbox: %s/outbox/seg and store/seg must be on one filesystem", state_dir);
		rc = -EXDEV;
		goto fail;
	}
	ob->cursor_fd = openat(ob->box_fd, CURSOR_NAME, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (ob->cursor_fd < 0) {
		rc = -errno;
		goto fail;
	}
	rc = outbox_cursor_load(ob->box_fd, CURSOR_NAME, &ob->cursor);
	if (rc == 0)
		rc = import_legacy_new(ob);
	if (rc == 0)
		rc = load_segments(ob);
	if (rc < 0) {
		log_err("outbox: cannot read %s: %s", state_dir, strerror(-rc));
		goto fail;
	}
	ob->ack_want = ob->cursor.pos;
	/* Keys must keep sorting in put order across restarts: start above
	 * both the last sequence and the clock in nanoseconds. */
	floor_seq = wall_ns();
	if ((unsigned long long)floor_seq > ob->next_seq)
		ob->next_seq = (unsigned long long)floor_seq;
	space_update(ob, free_bytes(ob->seg_dir_fd));

	uv_idle_init(loop, &ob->idle);
	ob->idle.data = ob;
	uv_timer_init(loop, &ob->space_timer);
	ob->space_timer.data = ob;
	uv_timer_start(&ob->space_timer, space_timer_cb, SPACE_MS, SPACE_MS);
	uv_unref((uv_handle_t *)&ob->space_timer);
	ob->handles_open = 2;
	close(state_fd);
	*out = ob;
	return 0;
fail:
	if (state_fd >= 0)
		close(state_fd);
	close_fds(ob);
	index_free(ob);
	free(ob->segs);
	free(ob);
	return rc;
}

static void handle_closed(uv_handle_t *h)
{
	struct outbox *ob = h->data;

	if (--ob->handles_open > 0)
		return;
	close_fds(ob);
	index_free(ob);
	free(ob->segs);
	if (ob->close_cb)
		ob->close_cb(ob->close_data);
	free(ob);
}

static void close_maybe_finish(struct outbox *ob)
{
	if (!ob->closing)
		return;
	if (!ob->ack_running && ob->ack_want > ob->cursor.pos)
		ack_start(ob);
	if (ob->batch_running || ob->queue || ob->deferred || ob->reads_running ||
	    ob->consumer_reads || ob->lists_running || ob->ack_running || ob->space_running ||
	    ob->handles_open < 2)
		return;
	if (uv_is_closing((uv_handle_t *)&ob->idle))
		return;
	uv_close((uv_handle_t *)&ob->idle, handle_closed);
	uv_close((uv_handle_t *)&ob->space_timer, handle_closed);
}

void outbox_close(struct outbox *ob, void (*cb)(void *data), void *data)
{
	ob->closing = true;
	ob->close_cb = cb;
	ob->close_data = data;
	uv_timer_stop(&ob->space_timer);
	close_maybe_finish(ob);
}
