/* outbox.c - the durable outbox and verdict store, with group commit.
 *
 * The loop thread owns the index (id -> request digest), the queue of puts
 * and the batch in flight.  A put appends to the queue and, when no batch is
 * running, starts an idle handle; its callback (the next loop turn, with the
 * poll phase not blocking meanwhile) moves the whole queue into one batch and
 * hands it to the thread pool.  The worker only touches the batch and the
 * folder descriptors, which stay open and unchanged until close; the
 * after-work callback updates the index and the counters and runs the
 * callbacks on the loop thread.  Reads of stored verdicts run on the pool
 * too, each on its own request.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "outbox.h"

#define ID_MAX 128
#define DIGEST_LEN 64
#define SEQ_DIGITS 20
#define BATCH_LIMIT_DEFAULT 4096
#define RECOUNT_MS 5000
#define SYNC_CHUNK 256
/* Reads on the thread pool at once, so that a flood of GETs cannot take
 * every worker from the group commit and the spool (reliability.md 1.3). */
#define READS_MAX 2
/* "SEQ.ID.json" and "ID.DIGEST.json", with room to spare. */
#define NAME_MAX_LEN (SEQ_DIGITS + 1 + ID_MAX + 1 + DIGEST_LEN + sizeof(".json"))

struct ob_ent {
	struct ob_ent *next;
	uint32_t hash;
	bool pending;		/* queued or being written, not yet durable */
	char digest[DIGEST_LEN + 1];
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
	int fd;			/* the tmp/ file while it is being written */
	int stage;		/* 0 nowhere, 1 in new/, 2 also in store/ */
	bool store;		/* outbox_put (new/ and store/), not outbox_post (new/ only) */
	char digest[DIGEST_LEN + 1];
	char id[ID_MAX + 1];
};

struct ob_batch {
	uv_work_t work;
	struct outbox *ob;
	struct ob_item *head;
	bool use_syncfs;
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
	char *buf;
	size_t len;
	char id[ID_MAX + 1];
	char name[NAME_MAX_LEN];
};

struct ob_recount {
	uv_work_t work;
	struct outbox *ob;
	size_t count;
	int status;
	unsigned long long free_bytes;
	unsigned long long added, retired;	/* counters when it started */
};

struct outbox {
	uv_loop_t *loop;
	int tmp_fd, new_fd, store_fd;

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

	struct ob_read *deferred, **deferred_tail;
	unsigned reads_running;

	size_t depth;
	unsigned long long added_total, retired_total;
	uv_timer_t recount_timer;
	bool recount_running;

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
	if (len != DIGEST_LEN)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((d[i] >= '0' && d[i] <= '9') || (d[i] >= 'a' && d[i] <= 'f')))
			return false;
	return true;
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
static int index_add(struct outbox *ob, const char *id, const char *digest, bool pending,
		     struct ob_ent **out)
{
	size_t len = strlen(id);
	struct ob_ent *e;

	if (ob->nentries >= ob->nbuckets && index_grow(ob) < 0)
		return -ENOMEM;
	e = malloc(sizeof(*e) + len + 1);
	if (!e)
		return -ENOMEM;
	e->hash = id_hash(id);
	e->pending = pending;
	memcpy(e->digest, digest, DIGEST_LEN);
	e->digest[DIGEST_LEN] = '\0';
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

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* A failed fsync is never retried on the same descriptor: the data it
 * covered may be gone from the page cache, so the caller treats the whole
 * operation as failed. */
static int sync_fd(int fd, bool data_only)
{
	int rc = data_only ? fdatasync(fd) : fsync(fd);

	return rc < 0 ? -errno : 0;
}

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

/* Parse "SEQ.ID.json"; 0 and the sequence, or -EINVAL. */
static int parse_new_name(const char *name, unsigned long long *seq)
{
	size_t len = strlen(name);
	char id[ID_MAX + 1];
	unsigned long long v = 0;

	if (len < SEQ_DIGITS + 2 + 5 || name[SEQ_DIGITS] != '.' ||
	    strcmp(name + len - 5, ".json") != 0 || len - SEQ_DIGITS - 6 > ID_MAX)
		return -EINVAL;
	for (int i = 0; i < SEQ_DIGITS; i++) {
		if (name[i] < '0' || name[i] > '9')
			return -EINVAL;
		if (v > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		v = v * 10 + (unsigned)(name[i] - '0');
	}
	memcpy(id, name + SEQ_DIGITS + 1, len - SEQ_DIGITS - 6);
	id[len - SEQ_DIGITS - 6] = '\0';
	if (!outbox_id_valid(id))
		return -EINVAL;
	*seq = v;
	return 0;
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

static void new_name(char *buf, size_t size, const struct ob_item *it)
{
	snprintf(buf, size, "%0*llu.%s.json", SEQ_DIGITS, it->seq, it->id);
}

static void store_name(char *buf, size_t size, const char *id, const char *digest)
{
	snprintf(buf, size, "%s.%s.json", id, digest);
}

/* ---- group commit ---- */

/* Create and write one verdict in tmp/, and start its writeback without
 * waiting (sync_file_range), so that the fdatasync calls of a whole chunk
 * find their data on its way and share one journal commit.  Leaves the
 * descriptor in it->fd, or sets it->status. */
static void batch_write_one(struct outbox *ob, struct ob_item *it, bool use_syncfs)
{
	char name[NAME_MAX_LEN];
	int rc;

	new_name(name, sizeof(name), it);
	it->fd = openat(ob->tmp_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (it->fd < 0) {
		it->status = -errno;
		return;
	}
	rc = write_all(it->fd, it->verdict, it->len);
	if (rc == 0 && !use_syncfs && it->len && sync_file_range(it->fd, 0, 0, SYNC_FILE_RANGE_WRITE) < 0 &&
	    errno != ENOSYS && errno != EINVAL)
		rc = -errno;
	if (rc < 0) {
		close(it->fd);
		it->fd = -1;
		unlinkat(ob->tmp_fd, name, 0);
		it->status = rc;
	}
}

/* Wait for one verdict's data (fdatasync, unless fs_rc tells how the
 * syncfs of the whole chunk went) and rename it into new/. */
static void batch_sync_one(struct outbox *ob, struct ob_item *it, bool use_syncfs, int fs_rc)
{
	char name[NAME_MAX_LEN];
	int rc;

	new_name(name, sizeof(name), it);
	rc = use_syncfs ? fs_rc : sync_fd(it->fd, true);
	if (close(it->fd) < 0 && rc == 0)
		rc = -errno;
	it->fd = -1;
	if (rc == 0 && renameat(ob->tmp_fd, name, ob->new_fd, name) < 0)
		rc = -errno;
	if (rc < 0) {
		unlinkat(ob->tmp_fd, name, 0);
		it->status = rc;
		return;
	}
	it->stage = 1;
}

/* Write the verdict of an item into the store as a file of its own, for
 * when its new/ entry was already delivered and retired.  The caller's
 * fsync of the store folder makes the name durable. */
static int store_write_copy(struct outbox *ob, struct ob_item *it, const char *sname)
{
	int fd, rc;

	fd = openat(ob->store_fd, sname, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	rc = write_all(fd, it->verdict, it->len);
	if (rc == 0)
		rc = sync_fd(fd, true);
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc < 0)
		unlinkat(ob->store_fd, sname, 0);
	return rc;
}

/* Undo what a failed item left behind, best effort: it was never
 * acknowledged, so it must not stay in the store; its outbox entry may go
 * too (a delivery of it would be harmless, a duplicate at worst). */
static void batch_undo(struct outbox *ob, struct ob_item *it, int status)
{
	char name[NAME_MAX_LEN];

	if (it->stage >= 2) {
		store_name(name, sizeof(name), it->id, it->digest);
		unlinkat(ob->store_fd, name, 0);
	}
	if (it->stage >= 1) {
		new_name(name, sizeof(name), it);
		unlinkat(ob->new_fd, name, 0);
	}
	it->stage = 0;
	it->status = status;
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

static void batch_commit(struct ob_batch *b);

static void batch_work(uv_work_t *req)
{
	struct ob_batch *b = req->data;

	batch_commit(b);
	b->free_bytes = free_bytes(b->ob->new_fd);
}

static void batch_commit(struct ob_batch *b)
{
	struct outbox *ob = b->ob;
	char nname[NAME_MAX_LEN], sname[NAME_MAX_LEN];
	bool any = false;
	int rc;

	/* In chunks, to bound the descriptors held open at once. */
	for (struct ob_item *chunk = b->head, *end; chunk; chunk = end) {
		struct ob_item *it;
		unsigned n = 0;
		int fs_rc = 0;

		for (it = chunk; it && n < SYNC_CHUNK; it = it->next, n++)
			batch_write_one(ob, it, b->use_syncfs);
		end = it;
		if (b->use_syncfs)
			fs_rc = syncfs(ob->tmp_fd) < 0 ? -errno : 0;
		for (it = chunk; it != end; it = it->next) {
			if (it->fd >= 0)
				batch_sync_one(ob, it, b->use_syncfs, fs_rc);
			any |= it->stage == 1;
		}
	}
	if (!any)
		return;
	b->dir_fsyncs++;
	rc = sync_fd(ob->new_fd, false);
	any = false;
	for (struct ob_item *it = b->head; it; it = it->next) {
		if (it->stage != 1)
			continue;
		if (rc < 0) {
			batch_undo(ob, it, rc);
			continue;
		}
		if (!it->store)
			continue;	/* outbox_post: durable once in new/ */
		new_name(nname, sizeof(nname), it);
		store_name(sname, sizeof(sname), it->id, it->digest);
		if (linkat(ob->new_fd, nname, ob->store_fd, sname, 0) < 0) {
			int lrc = -errno;

			/* A leftover of an earlier failed batch: replace it. */
			if (lrc == -EEXIST)
				lrc = unlinkat(ob->store_fd, sname, 0) < 0 ||
				      linkat(ob->new_fd, nname, ob->store_fd, sname, 0) < 0
					      ? -errno : 0;
			/* A consumer of new/ (the sink) may deliver and retire
			 * the entry as soon as it is renamed in, before this
			 * link: the store then gets its own copy. */
			if (lrc == -ENOENT)
				lrc = store_write_copy(ob, it, sname);
			if (lrc < 0) {
				batch_undo(ob, it, lrc);
				continue;
			}
		}
		it->stage = 2;
		any = true;
	}
	if (!any)
		return;
	b->dir_fsyncs++;
	rc = sync_fd(ob->store_fd, false);
	if (rc < 0)
		for (struct ob_item *it = b->head; it; it = it->next)
			if (it->stage == 2)
				batch_undo(ob, it, rc);
}

static void batch_after(uv_work_t *req, int status)
{
	struct ob_batch *b = req->data;
	struct outbox *ob = b->ob;
	struct ob_item *it, *next;
	unsigned n = 0, ok = 0;

	ob->batch_running = false;
	if (status == 0)
		space_update(ob, b->free_bytes);
	ob->stats.batches++;
	ob->stats.dir_fsyncs += b->dir_fsyncs;
	for (it = b->head; it; it = it->next) {
		struct ob_ent *e = it->store ? index_find(ob, it->id) : NULL;

		n++;
		if (status < 0 && it->status == 0)
			it->status = status;
		if (it->status == 0 && it->stage == (it->store ? 2 : 1)) {
			if (e)
				e->pending = false;
			ok++;
		} else {
			if (it->status == 0)
				it->status = -EIO;
			if (e && e->pending)
				index_remove(ob, it->id);
			log_err("outbox: writing the verdict of %s failed: %s", it->id,
				strerror(-it->status));
		}
	}
	if (n > ob->stats.max_batch)
		ob->stats.max_batch = n;
	ob->stats.entries += ok;
	ob->stats.failures += n - ok;
	ob->depth += ok;
	ob->added_total += ok;
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
	b->head = ob->queue;
	for (tail = &ob->queue; *tail && n < ob->batch_limit; tail = &(*tail)->next)
		n++;
	ob->queue = *tail;
	*tail = NULL;
	if (!ob->queue)
		ob->queue_tail = &ob->queue;
	ob->queued -= n;
	rc = uv_queue_work(ob->loop, &b->work, batch_work, batch_after);
	if (rc < 0) {
		/* Cannot happen with a valid loop; fail the batch visibly. */
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
	it->fd = -1;
	it->cb = cb;
	it->data = data;
	it->store = request_sha256 != NULL;
	strcpy(it->id, id);
	if (it->store) {
		memcpy(it->digest, request_sha256, DIGEST_LEN + 1);
		rc = index_add(ob, id, request_sha256, true, NULL);
		if (rc < 0)
			goto fail;
	}
	it->seq = ob->next_seq++;
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
	memcpy(digest_out, e->digest, DIGEST_LEN + 1);
	return 0;
}

static void read_work(uv_work_t *req)
{
	struct ob_read *r = req->data;
	struct stat st;
	size_t got = 0;
	int fd;

	if (r->wait_cb) {
		r->status = 0;
		return;
	}
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
	ob->reads_running--;
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
	store_name(r->name, sizeof(r->name), e->id, e->digest);
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

/* ---- depth ---- */

static int count_new(int new_fd, size_t *count, unsigned long long *max_seq)
{
	DIR *d = dir_iter(new_fd);
	struct dirent *de;

	if (!d)
		return -errno;
	*count = 0;
	while ((de = readdir(d))) {
		unsigned long long seq;

		if (parse_new_name(de->d_name, &seq) < 0)
			continue;
		(*count)++;
		if (max_seq && seq > *max_seq)
			*max_seq = seq;
	}
	closedir(d);
	return 0;
}

static void recount_work(uv_work_t *req)
{
	struct ob_recount *rc = req->data;

	rc->status = count_new(rc->ob->new_fd, &rc->count, NULL);
	rc->free_bytes = free_bytes(rc->ob->new_fd);
}

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

static void recount_after(uv_work_t *req, int status)
{
	struct ob_recount *rc = req->data;
	struct outbox *ob = rc->ob;

	ob->recount_running = false;
	if (status == 0)
		space_update(ob, rc->free_bytes);
	if (status == 0 && rc->status == 0) {
		/* Entries added or retired while the folder was read may or
		 * may not be in the count; this is a metric, the error is
		 * bounded by what happened during one readdir. */
		unsigned long long plus = ob->added_total - rc->added;
		unsigned long long minus = ob->retired_total - rc->retired;
		unsigned long long d = rc->count + plus;

		ob->depth = d > minus ? (size_t)(d - minus) : 0;
	}
	free(rc);
	close_maybe_finish(ob);
}

static void recount_timer_cb(uv_timer_t *t)
{
	struct outbox *ob = t->data;
	struct ob_recount *rc;

	if (ob->recount_running || ob->closing)
		return;
	rc = calloc(1, sizeof(*rc));
	if (!rc)
		return;
	rc->ob = ob;
	rc->work.data = rc;
	rc->added = ob->added_total;
	rc->retired = ob->retired_total;
	if (uv_queue_work(ob->loop, &rc->work, recount_work, recount_after) < 0) {
		free(rc);
		return;
	}
	ob->recount_running = true;
}

size_t outbox_depth(const struct outbox *ob)
{
	return ob->depth;
}

void outbox_retired(struct outbox *ob, size_t n)
{
	ob->depth = ob->depth > n ? ob->depth - n : 0;
	ob->retired_total += n;
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

/* ---- open and close ---- */

static int clean_tmp(int tmp_fd)
{
	DIR *d = dir_iter(tmp_fd);
	struct dirent *de;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		/* Nothing in tmp/ was ever acknowledged. */
		if (unlinkat(tmp_fd, de->d_name, 0) < 0)
			log_warn("outbox: cannot remove tmp/%s: %s", de->d_name, strerror(errno));
	}
	closedir(d);
	return 0;
}

static int load_store(struct outbox *ob)
{
	DIR *d = dir_iter(ob->store_fd);
	struct dirent *de;
	int rc = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char id[ID_MAX + 1], digest[DIGEST_LEN + 1];

		if (de->d_name[0] == '.')
			continue;
		if (parse_store_name(de->d_name, id, digest) < 0) {
			log_warn("outbox: ignoring store/%s: not ID.SHA256.json", de->d_name);
			continue;
		}
		if (index_find(ob, id)) {
			log_warn("outbox: ignoring store/%s: a second verdict for %s", de->d_name, id);
			continue;
		}
		rc = index_add(ob, id, digest, false, NULL);
		if (rc < 0)
			break;
	}
	closedir(d);
	return rc;
}

static void close_fds(struct outbox *ob)
{
	if (ob->tmp_fd >= 0)
		close(ob->tmp_fd);
	if (ob->new_fd >= 0)
		close(ob->new_fd);
	if (ob->store_fd >= 0)
		close(ob->store_fd);
	ob->tmp_fd = ob->new_fd = ob->store_fd = -1;
}

int outbox_open(uv_loop_t *loop, const char *state_dir, struct outbox **out)
{
	struct outbox *ob;
	struct stat st_tmp, st_new, st_store;
	struct timespec now;
	unsigned long long max_seq = 0, floor_seq;
	int state_fd = -1, box_fd = -1, rc;

	ob = calloc(1, sizeof(*ob));
	if (!ob)
		return -ENOMEM;
	ob->loop = loop;
	ob->tmp_fd = ob->new_fd = ob->store_fd = -1;
	ob->queue_tail = &ob->queue;
	ob->deferred_tail = &ob->deferred;
	ob->batch_limit = BATCH_LIMIT_DEFAULT;
	ob->min_free = OUTBOX_MIN_FREE_DEFAULT;
	ob->nbuckets = 1024;
	ob->buckets = calloc(ob->nbuckets, sizeof(*ob->buckets));
	if (!ob->buckets) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = open_dir(AT_FDCWD, state_dir, &state_fd);
	if (rc == 0)
		rc = open_dir(state_fd, "outbox", &box_fd);
	if (rc == 0)
		rc = open_dir(box_fd, "tmp", &ob->tmp_fd);
	if (rc == 0)
		rc = open_dir(box_fd, "new", &ob->new_fd);
	if (rc == 0)
		rc = open_dir(state_fd, "store", &ob->store_fd);
	if (rc < 0) {
		log_err("outbox: cannot open the folders under %s: %s", state_dir, strerror(-rc));
		goto fail;
	}
	if (fstat(ob->tmp_fd, &st_tmp) < 0 || fstat(ob->new_fd, &st_new) < 0 ||
	    fstat(ob->store_fd, &st_store) < 0) {
		rc = -errno;
		goto fail;
	}
	if (st_tmp.st_dev != st_new.st_dev || st_new.st_dev != st_store.st_dev) {
		log_err("outbox: %s/outbox/tmp, outbox/new and store must be on one filesystem",
			state_dir);
		rc = -EXDEV;
		goto fail;
	}
	rc = clean_tmp(ob->tmp_fd);
	if (rc == 0)
		rc = load_store(ob);
	if (rc == 0)
		rc = count_new(ob->new_fd, &ob->depth, &max_seq);
	if (rc < 0) {
		log_err("outbox: cannot read %s: %s", state_dir, strerror(-rc));
		goto fail;
	}
	/* Names must keep sorting in put order across restarts, also after
	 * the sink emptied new/: start above both the last name and the
	 * clock in nanoseconds. */
	clock_gettime(CLOCK_REALTIME, &now);
	floor_seq = (unsigned long long)now.tv_sec * 1000000000ull + (unsigned long long)now.tv_nsec;
	ob->next_seq = max_seq + 1 > floor_seq ? max_seq + 1 : floor_seq;
	space_update(ob, free_bytes(ob->new_fd));

	uv_idle_init(loop, &ob->idle);
	ob->idle.data = ob;
	uv_timer_init(loop, &ob->recount_timer);
	ob->recount_timer.data = ob;
	uv_timer_start(&ob->recount_timer, recount_timer_cb, RECOUNT_MS, RECOUNT_MS);
	uv_unref((uv_handle_t *)&ob->recount_timer);
	ob->handles_open = 2;
	close(box_fd);
	close(state_fd);
	*out = ob;
	return 0;
fail:
	if (box_fd >= 0)
		close(box_fd);
	if (state_fd >= 0)
		close(state_fd);
	close_fds(ob);
	index_free(ob);
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
	if (ob->close_cb)
		ob->close_cb(ob->close_data);
	free(ob);
}

static void close_maybe_finish(struct outbox *ob)
{
	if (!ob->closing || ob->batch_running || ob->queue || ob->deferred ||
	    ob->reads_running || ob->recount_running || ob->handles_open < 2)
		return;
	if (uv_is_closing((uv_handle_t *)&ob->idle))
		return;
	uv_close((uv_handle_t *)&ob->idle, handle_closed);
	uv_close((uv_handle_t *)&ob->recount_timer, handle_closed);
}

void outbox_close(struct outbox *ob, void (*cb)(void *data), void *data)
{
	ob->closing = true;
	ob->close_cb = cb;
	ob->close_data = data;
	uv_timer_stop(&ob->recount_timer);
	close_maybe_finish(ob);
}
