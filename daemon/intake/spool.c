/* spool.c - intake of request files dropped into the spool's incoming/.
 *
 * The loop thread owns every spool_item and the table of names it tracks.
 * A name is tracked from the scan that found it until its file was moved
 * (or handed back to incoming/), so a file is never read twice at once.
 * An item goes QUEUED -> LOOKING (a worker opens, probes and reads it) ->
 * WAITING (not ready, looked at again after the settle time) or SCREENING
 * (handed to the screen callback) -> FINISHING (a worker moves it and syncs
 * the folders) -> freed.  Workers touch only their item and the folder
 * descriptors, which stay open until the spool is freed.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"
#include "spool.h"

#define NAME_LEN_MAX 200
#define TRACK_MAX 10000
#define SETTLE_MS_DEFAULT 200
#define BUCKETS 1024

enum item_state { QUEUED, LOOKING, WAITING, SCREENING, FINISHING };
enum look_result { LOOK_READY, LOOK_NOT_READY, LOOK_GONE, LOOK_TOO_BIG, LOOK_NOT_REGULAR,
		   LOOK_UNREADABLE, LOOK_LINKED, LOOK_LONG_NAME, LOOK_ERROR };
/* A name over NAME_LEN_MAX goes to rejected/ as its first SHORT_KEEP bytes,
 * "~" and 16 hex digits of a hash of the whole name. */
#define SHORT_KEEP 100

struct spool_item {
	struct spool *sp;
	struct spool_item *next;	/* QUEUED or WAITING list */
	struct spool_item *hnext;	/* name table */
	uv_work_t work;
	enum item_state state;
	enum look_result result;
	int err;			/* errno of LOOK_ERROR or of the move */
	unsigned long long settle_ns;
	char *buf;
	size_t len;
	long long size;			/* for the too-big message */
	unsigned long nlink;		/* for the hard-link message */
	int status;			/* of spool_finish */
	char *error_json;
	uint32_t hash;
	char name[];
};

struct spool {
	uv_loop_t *loop;
	char *incoming_path;
	int in_fd, done_fd, rej_fd;
	size_t max_bytes;
	unsigned rescan_ms, max_inflight, settle_ms;
	spool_screen_cb screen;
	void *data;

	uv_fs_event_t event;
	uv_timer_t rescan_timer, settle_timer;
	uv_fs_t scan_req;
	bool scan_running, scan_again;

	struct spool_item *table[BUCKETS];
	size_t tracked;
	struct spool_item *queued, **queued_tail;
	struct spool_item *waiting;
	unsigned inflight;		/* LOOKING + SCREENING + FINISHING */

	bool closing;
	int handles_open;
	void (*close_cb)(void *data);
	void *close_data;
};

static void pump(struct spool *sp);
static void scan_start(struct spool *sp);
static void close_maybe_finish(struct spool *sp);

static void settle_cb(uv_timer_t *t)
{
	pump(t->data);
}

static uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static struct spool_item *track_find(struct spool *sp, const char *name)
{
	uint32_t h = name_hash(name);

	for (struct spool_item *it = sp->table[h % BUCKETS]; it; it = it->hnext)
		if (it->hash == h && strcmp(it->name, name) == 0)
			return it;
	return NULL;
}

static void track_free(struct spool_item *it)
{
	struct spool *sp = it->sp;

	for (struct spool_item **p = &sp->table[it->hash % BUCKETS]; *p; p = &(*p)->hnext) {
		if (*p == it) {
			*p = it->hnext;
			sp->tracked--;
			break;
		}
	}
	free(it->buf);
	free(it->error_json);
	free(it);
}

/* Names the spool takes: see spool.h.  One longer than NAME_LEN_MAX is
 * taken too, to be rejected (rather than left in incoming/ unseen). */
static bool name_eligible(const char *name)
{
	size_t len = strlen(name);

	return len > 5 && name[0] != '.' && strcmp(name + len - 5, ".json") == 0 &&
	       !strchr(name, '/');
}

static bool name_too_long(const char *name)
{
	return strlen(name) > NAME_LEN_MAX;
}

/* The name in done/ or rejected/ without ".json": the name's own, or for
 * a name too long to carry ".error.json" and a retry suffix, its first
 * SHORT_KEEP bytes (not cutting a UTF-8 character), "~" and a 64-bit
 * FNV-1a hash of the whole name. */
static void item_base(const struct spool_item *it, char *base, size_t size)
{
	size_t len = strlen(it->name) - 5, keep = SHORT_KEEP;
	uint64_t h = 14695981039346656037ull;

	if (!name_too_long(it->name)) {
		snprintf(base, size, "%.*s", (int)len, it->name);
		return;
	}
	while (keep > 0 && ((unsigned char)it->name[keep] & 0xC0) == 0x80)
		keep--;
	for (const char *p = it->name; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	snprintf(base, size, "%.*s~%016llx", (int)keep, it->name, (unsigned long long)h);
}

static unsigned long long now_realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* ---- looking at and reading one file, on a worker ---- */

static void look_work(uv_work_t *req)
{
	struct spool_item *it = req->data;
	struct spool *sp = it->sp;
	struct stat st, st2;
	unsigned long long ctime_ns;
	size_t got = 0;
	int fd;

	it->result = LOOK_ERROR;
	if (name_too_long(it->name)) {
		it->result = LOOK_LONG_NAME;
		return;
	}
	fd = openat(sp->in_fd, it->name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		it->err = errno;
		if (errno == ENOENT)
			it->result = LOOK_GONE;
		else if (errno == ELOOP)
			it->result = LOOK_NOT_REGULAR;
		else if (errno == EACCES || errno == EPERM)
			it->result = LOOK_UNREADABLE;
		return;
	}
	if (fstat(fd, &st) < 0) {
		it->err = errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		it->result = LOOK_NOT_REGULAR;
		goto out;
	}
	if (st.st_nlink == 0) {
		it->result = LOOK_GONE;
		goto out;
	}
	it->size = (long long)st.st_size;
	if ((unsigned long long)st.st_size > sp->max_bytes) {
		it->result = LOOK_TOO_BIG;
		goto out;
	}
	/* Rule 1: nobody has the file open for writing. */
	if (fcntl(fd, F_SETLEASE, F_RDLCK) == 0) {
		fcntl(fd, F_SETLEASE, F_UNLCK);
	} else if (errno == EAGAIN) {
		it->result = LOOK_NOT_READY;
		goto out;
	}
	/* Rule 2: left alone for the settle time, unchanged while read. */
	ctime_ns = (unsigned long long)st.st_ctim.tv_sec * 1000000000ull +
		   (unsigned long long)st.st_ctim.tv_nsec;
	if (ctime_ns + it->settle_ns > now_realtime_ns()) {
		it->result = LOOK_NOT_READY;
		goto out;
	}
	/* Rule 3: the file has no other name.  A hard link (settled: a writer
	 * that links a finished file in and then unlinks its own name has
	 * changed the ctime meanwhile) may be a file the writer could not
	 * read itself; the daemon reads only files that live in incoming/. */
	if (st.st_nlink > 1) {
		it->nlink = (unsigned long)st.st_nlink;
		it->result = LOOK_LINKED;
		goto out;
	}
	it->buf = malloc((size_t)st.st_size + 2);
	if (!it->buf) {
		it->err = ENOMEM;
		goto out;
	}
	/* Ask for one byte more than the size to notice growth. */
	while (got < (size_t)st.st_size + 1) {
		ssize_t n = read(fd, it->buf + got, (size_t)st.st_size + 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			it->err = errno;
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (fstat(fd, &st2) < 0) {
		it->err = errno;
		goto out;
	}
	if (got != (size_t)st.st_size || !same_file(&st, &st2)) {
		it->result = LOOK_NOT_READY;
		goto out;
	}
	it->buf[got] = '\0';
	it->len = got;
	it->result = LOOK_READY;
out:
	if (it->result != LOOK_READY) {
		free(it->buf);
		it->buf = NULL;
	}
	close(fd);
}

static char *error_text(const char *code, const char *message, const char *path)
{
	json_t *j = json_pack("{s:{s:s,s:s,s:s}}", "error", "code", code, "message", message,
			      "path", path);
	char *s;

	if (!j)
		return NULL;
	s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return s;
}

static void finish_start(struct spool_item *it);

static void look_after(uv_work_t *req, int status)
{
	struct spool_item *it = req->data;
	struct spool *sp = it->sp;
	char msg[256], base[NAME_LEN_MAX + 32];

	if (status < 0) {
		it->result = LOOK_ERROR;
		it->err = -status;
	}
	if (sp->closing && it->result != LOOK_GONE) {
		it->result = LOOK_ERROR;
		it->err = ESHUTDOWN;
	}
	switch (it->result) {
	case LOOK_READY:
		it->state = SCREENING;
		sp->screen(sp->data, it, it->name, it->buf, it->len);
		break;
	case LOOK_NOT_READY:
		sp->inflight--;
		it->state = WAITING;
		it->next = sp->waiting;
		sp->waiting = it;
		if (!uv_is_active((uv_handle_t *)&sp->settle_timer))
			uv_timer_start(&sp->settle_timer, settle_cb, sp->settle_ms, 0);
		break;
	case LOOK_TOO_BIG:
	case LOOK_NOT_REGULAR:
	case LOOK_UNREADABLE:
	case LOOK_LINKED:
	case LOOK_LONG_NAME:
		if (it->result == LOOK_LONG_NAME) {
			item_base(it, base, sizeof(base));
			snprintf(msg, sizeof(msg),
				 "the file name has %zu bytes, more than the limit of %d; moved to "
				 "rejected/ under a shortened name (its first bytes, \"~\" and a "
				 "hash of the whole name), beside this error file",
				 strlen(it->name), NAME_LEN_MAX);
			log_warn("spool: rejecting incoming/%s: the file name has %zu bytes, more "
				 "than the limit of %d; moving it to rejected/%s.json",
				 it->name, strlen(it->name), NAME_LEN_MAX, base);
		} else if (it->result == LOOK_LINKED)
			snprintf(msg, sizeof(msg),
				 "the file has %lu hard links; the spool reads only files whose one "
				 "name is in incoming/ (the file was not read)", it->nlink);
		else if (it->result == LOOK_TOO_BIG)
			snprintf(msg, sizeof(msg), "the file has %lld bytes, more than the limit of %zu",
				 it->size, sp->max_bytes);
		else if (it->result == LOOK_NOT_REGULAR)
			snprintf(msg, sizeof(msg), "not a regular file");
		else
			snprintf(msg, sizeof(msg), "the daemon cannot read the file: %s",
				 strerror(it->err));
		if (it->result != LOOK_LONG_NAME)
			log_warn("spool: rejecting incoming/%s: %s", it->name, msg);
		it->status = -EINVAL;
		it->error_json = error_text(it->result == LOOK_TOO_BIG ? "too_large" :
					    it->result == LOOK_NOT_REGULAR ? "not_a_file" :
					    it->result == LOOK_LINKED ? "hard_link" :
					    it->result == LOOK_LONG_NAME ? "name_too_long" : "unreadable",
					    msg, "");
		finish_start(it);
		break;
	case LOOK_GONE:
	case LOOK_ERROR:
		if (it->result == LOOK_ERROR && it->err != ESHUTDOWN)
			log_err("spool: cannot read incoming/%s: %s", it->name, strerror(it->err));
		sp->inflight--;
		track_free(it);
		break;
	}
	pump(sp);
	close_maybe_finish(sp);
}

/* ---- moving a finished file, on a worker ---- */

static int sync_dir(int fd)
{
	return fsync(fd) < 0 ? -errno : 0;
}

/* Write rejected/BASE.error.json through a temporary name. */
static int write_error_file(struct spool_item *it, const char *base)
{
	struct spool *sp = it->sp;
	char tmp[NAME_LEN_MAX + 96], final[NAME_LEN_MAX + 96];
	const char *text = it->error_json;
	size_t len = strlen(text), off = 0;
	int fd, rc = 0;

	snprintf(tmp, sizeof(tmp), ".%s.error.json.tmp", base);
	snprintf(final, sizeof(final), "%s.error.json", base);
	fd = openat(sp->rej_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (fd < 0)
		return -errno;
	while (off < len && rc == 0) {
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0 && errno != EINTR)
			rc = -errno;
		else if (n > 0)
			off += (size_t)n;
	}
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && renameat(sp->rej_fd, tmp, sp->rej_fd, final) < 0)
		rc = -errno;
	if (rc < 0)
		unlinkat(sp->rej_fd, tmp, 0);
	return rc;
}

/* Move incoming/NAME.json to done/ or rejected/ without replacing a file
 * of the same name that an earlier request left there: that one becomes
 * NAME.<nanoseconds>.json instead (with its error file named alike). */
static void finish_work(uv_work_t *req)
{
	struct spool_item *it = req->data;
	struct spool *sp = it->sp;
	int to_fd = it->status == 0 ? sp->done_fd : sp->rej_fd;
	int rc = -EEXIST;
	char own[NAME_LEN_MAX + 32], base[NAME_LEN_MAX + 64], dest[NAME_LEN_MAX + 72];
	struct stat st;

	item_base(it, own, sizeof(own));
	for (int attempt = 0; attempt < 4 && rc == -EEXIST; attempt++) {
		if (attempt == 0)
			snprintf(base, sizeof(base), "%s", own);
		else
			snprintf(base, sizeof(base), "%s.%llu", own, now_realtime_ns());
		snprintf(dest, sizeof(dest), "%s.json", base);
		if (it->status != 0) {
			if (fstatat(to_fd, dest, &st, AT_SYMLINK_NOFOLLOW) == 0)
				continue;
			/* The error file goes first: a crash between the two
			 * leaves the request in incoming/, rejected again. */
			rc = write_error_file(it, base);
			if (rc < 0)
				break;
		}
		rc = 0;
		if (renameat2(sp->in_fd, it->name, to_fd, dest, RENAME_NOREPLACE) == 0)
			break;
		rc = -errno;
		if (rc == -EINVAL && renameat(sp->in_fd, it->name, to_fd, dest) == 0)
			rc = 0;	/* a filesystem without RENAME_NOREPLACE */
	}
	if (rc == 0)
		rc = sync_dir(to_fd);
	if (rc == 0)
		rc = sync_dir(sp->in_fd);
	it->err = -rc;
}

static void finish_after(uv_work_t *req, int status)
{
	struct spool_item *it = req->data;
	struct spool *sp = it->sp;

	if (status < 0)
		it->err = -status;
	if (it->err)
		log_err("spool: cannot move incoming/%s to %s/: %s", it->name,
			it->status == 0 ? "done" : "rejected", strerror(it->err));
	sp->inflight--;
	track_free(it);
	pump(sp);
	close_maybe_finish(sp);
}

static void finish_start(struct spool_item *it)
{
	struct spool *sp = it->sp;
	int rc;

	it->state = FINISHING;
	if (it->status != 0 && !it->error_json)
		it->error_json = error_text("invalid_request", "the request was rejected", "");
	if (it->status != 0 && !it->error_json) {
		finish_after(&it->work, -ENOMEM);
		return;
	}
	it->work.data = it;
	rc = uv_queue_work(sp->loop, &it->work, finish_work, finish_after);
	if (rc < 0)
		finish_after(&it->work, rc);
}

void spool_finish(struct spool_item *item, int status, const char *error_json)
{
	struct spool *sp = item->sp;

	free(item->buf);
	item->buf = NULL;
	if (status != 0 && status != -EINVAL) {
		/* Left in incoming/ for a later rescan. */
		sp->inflight--;
		track_free(item);
		pump(sp);
		close_maybe_finish(sp);
		return;
	}
	item->status = status;
	if (status != 0 && error_json)
		item->error_json = strdup(error_json);
	finish_start(item);
}

/* ---- scanning ---- */

static void scan_cb(uv_fs_t *req)
{
	struct spool *sp = req->data;
	uv_dirent_t ent;

	sp->scan_running = false;
	if (req->result < 0) {
		log_err("spool: cannot list %s: %s", sp->incoming_path, uv_strerror((int)req->result));
	} else {
		while (!sp->closing && uv_fs_scandir_next(req, &ent) == 0) {
			struct spool_item *it;
			size_t len;

			if (!name_eligible(ent.name) || track_find(sp, ent.name))
				continue;
			if (sp->tracked >= TRACK_MAX)
				break;	/* the next scan takes the rest */
			len = strlen(ent.name);
			it = calloc(1, sizeof(*it) + len + 1);
			if (!it)
				break;
			it->sp = sp;
			memcpy(it->name, ent.name, len + 1);
			it->hash = name_hash(it->name);
			it->hnext = sp->table[it->hash % BUCKETS];
			sp->table[it->hash % BUCKETS] = it;
			sp->tracked++;
			it->state = QUEUED;
			*sp->queued_tail = it;
			sp->queued_tail = &it->next;
		}
	}
	uv_fs_req_cleanup(req);
	if (sp->scan_again && !sp->closing) {
		sp->scan_again = false;
		scan_start(sp);
	}
	pump(sp);
	close_maybe_finish(sp);
}

static void scan_start(struct spool *sp)
{
	int rc;

	if (sp->closing)
		return;
	if (sp->scan_running) {
		sp->scan_again = true;
		return;
	}
	sp->scan_req.data = sp;
	rc = uv_fs_scandir(sp->loop, &sp->scan_req, sp->incoming_path, 0, scan_cb);
	if (rc < 0) {
		log_err("spool: cannot list %s: %s", sp->incoming_path, uv_strerror(rc));
		return;
	}
	sp->scan_running = true;
}

static void event_cb(uv_fs_event_t *h, const char *filename, int events, int status)
{
	struct spool *sp = h->data;

	if (status < 0)
		log_warn("spool: watching %s: %s", sp->incoming_path, uv_strerror(status));
	/* A temporary name changing says nothing; the rename in does. */
	if (status == 0 && filename && !name_eligible(filename))
		return;
	scan_start(sp);
}

static void rescan_cb(uv_timer_t *t)
{
	scan_start(t->data);
}

/* Start looks while there is room; WAITING items rejoin the queue when the
 * settle timer calls this. */
static void pump(struct spool *sp)
{
	if (!uv_is_active((uv_handle_t *)&sp->settle_timer) && sp->waiting) {
		struct spool_item *w = sp->waiting, *next;

		sp->waiting = NULL;
		for (; w; w = next) {
			next = w->next;
			w->next = NULL;
			w->state = QUEUED;
			*sp->queued_tail = w;
			sp->queued_tail = &w->next;
		}
	}
	while (!sp->closing && sp->queued && sp->inflight < sp->max_inflight) {
		struct spool_item *it = sp->queued;

		sp->queued = it->next;
		if (!sp->queued)
			sp->queued_tail = &sp->queued;
		it->next = NULL;
		it->state = LOOKING;
		it->settle_ns = (unsigned long long)sp->settle_ms * 1000000ull;
		it->work.data = it;
		if (uv_queue_work(sp->loop, &it->work, look_work, look_after) < 0) {
			track_free(it);
			continue;
		}
		sp->inflight++;
	}
}

/* ---- open and close ---- */

static int open_dir(int at, const char *path, int *out)
{
	int fd;

	if (mkdirat(at, path, 0750) < 0 && errno != EEXIST)
		return -errno;
	fd = openat(at, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	*out = fd;
	return 0;
}

static void spool_free(struct spool *sp)
{
	if (sp->in_fd >= 0)
		close(sp->in_fd);
	if (sp->done_fd >= 0)
		close(sp->done_fd);
	if (sp->rej_fd >= 0)
		close(sp->rej_fd);
	free(sp->incoming_path);
	free(sp);
}

int spool_open(uv_loop_t *loop, const char *dir, size_t max_bytes,
	       unsigned rescan_ms, unsigned max_inflight,
	       spool_screen_cb screen, void *data, struct spool **out)
{
	struct spool *sp;
	struct sigaction sa;
	int dir_fd = -1, rc;

	if (!screen || !max_inflight || !rescan_ms)
		return -EINVAL;
	sp = calloc(1, sizeof(*sp));
	if (!sp)
		return -ENOMEM;
	sp->loop = loop;
	sp->in_fd = sp->done_fd = sp->rej_fd = -1;
	sp->max_bytes = max_bytes;
	sp->rescan_ms = rescan_ms;
	sp->max_inflight = max_inflight;
	sp->settle_ms = SETTLE_MS_DEFAULT;
	sp->screen = screen;
	sp->data = data;
	sp->queued_tail = &sp->queued;
	if (asprintf(&sp->incoming_path, "%s/incoming", dir) < 0) {
		sp->incoming_path = NULL;
		rc = -ENOMEM;
		goto fail;
	}
	rc = open_dir(AT_FDCWD, dir, &dir_fd);
	if (rc == 0)
		rc = open_dir(dir_fd, "incoming", &sp->in_fd);
	if (rc == 0)
		rc = open_dir(dir_fd, "done", &sp->done_fd);
	if (rc == 0)
		rc = open_dir(dir_fd, "rejected", &sp->rej_fd);
	if (rc < 0) {
		log_err("spool: cannot open the folders under %s: %s", dir, strerror(-rc));
		goto fail;
	}
	close(dir_fd);
	dir_fd = -1;
	/* A lease break would otherwise end the process, see spool.h. */
	if (sigaction(SIGIO, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
		signal(SIGIO, SIG_IGN);

	uv_fs_event_init(loop, &sp->event);
	sp->event.data = sp;
	uv_timer_init(loop, &sp->rescan_timer);
	sp->rescan_timer.data = sp;
	uv_timer_init(loop, &sp->settle_timer);
	sp->settle_timer.data = sp;
	sp->handles_open = 3;
	rc = uv_fs_event_start(&sp->event, event_cb, sp->incoming_path, 0);
	if (rc < 0)
		log_warn("spool: cannot watch %s (%s); rescanning every %u ms only",
			 sp->incoming_path, uv_strerror(rc), rescan_ms);
	uv_timer_start(&sp->rescan_timer, rescan_cb, rescan_ms, rescan_ms);
	scan_start(sp);
	*out = sp;
	return 0;
fail:
	if (dir_fd >= 0)
		close(dir_fd);
	spool_free(sp);
	return rc;
}

void spool_set_settle(struct spool *sp, unsigned ms)
{
	sp->settle_ms = ms;
}

static void handle_closed(uv_handle_t *h)
{
	struct spool *sp = h->data;

	if (--sp->handles_open > 0)
		return;
	if (sp->close_cb)
		sp->close_cb(sp->close_data);
	spool_free(sp);
}

static void close_maybe_finish(struct spool *sp)
{
	if (!sp->closing || sp->inflight || sp->scan_running || sp->handles_open < 3 ||
	    uv_is_closing((uv_handle_t *)&sp->event))
		return;
	uv_close((uv_handle_t *)&sp->event, handle_closed);
	uv_close((uv_handle_t *)&sp->rescan_timer, handle_closed);
	uv_close((uv_handle_t *)&sp->settle_timer, handle_closed);
}

void spool_close(struct spool *sp, void (*cb)(void *data), void *data)
{
	struct spool_item *it, *next;

	sp->closing = true;
	sp->close_cb = cb;
	sp->close_data = data;
	uv_fs_event_stop(&sp->event);
	uv_timer_stop(&sp->rescan_timer);
	uv_timer_stop(&sp->settle_timer);
	for (it = sp->queued; it; it = next) {
		next = it->next;
		track_free(it);
	}
	sp->queued = NULL;
	sp->queued_tail = &sp->queued;
	for (it = sp->waiting; it; it = next) {
		next = it->next;
		track_free(it);
	}
	sp->waiting = NULL;
	close_maybe_finish(sp);
}
