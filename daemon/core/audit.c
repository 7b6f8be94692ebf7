/* audit.c - the append-only, hash-chained audit log of officer decisions (see audit.h).
 *
 * The loop thread owns the struct audit.  A batch (the records appended since
 * the last one) is chained and serialised on the loop thread, written and
 * fdatasynced by one work item on the thread pool, and its callbacks run in
 * the after-work callback; one batch is in flight at a time.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "hex.h"
#include "digest.h"
#include "log.h"

struct pending {
	struct pending *next;
	json_t *fields;
	audit_done_cb cb;
	void *data;
	json_t *record;      /* the chained record, once its batch is built */
};

struct audit {
	uv_loop_t *loop;
	int fd;
	size_t size;                 /* bytes durable in the file */
	unsigned long long seq;      /* records durable */
	char head[65];               /* hash of the last durable record */
	json_t *by_id;               /* request id -> array of records */
	struct pending *queue, **queue_tail;
	/* the batch in flight */
	uv_work_t work;
	int busy;
	struct pending *batch;
	char *buf;
	size_t len;
	int status;
	int closing;
	void (*close_cb)(void *data);
	void *close_data;
};

/* ---- reading and checking ---- */

static int is_hex64(const char *s, size_t n)
{
	return n == 64 && hex_valid(s, n);
}

/* Check one line (without its newline) as record number `seq` after
 * `prev`; on success *out is the parsed record (new reference) and hash
 * its hash. */
static int check_line(const char *line, size_t n, unsigned long long seq, const char *prev,
		      json_t **out, char hash[65], char *msg, size_t msglen)
{
	static const char tag[] = ",\"hash\":\"";
	const size_t tail = sizeof(tag) - 1 + 64 + 2;    /* tag, hex, "} */
	char computed[65], *body;
	json_error_t je;
	json_t *rec, *h;
	size_t blen;

	*out = NULL;
	if (n > AUDIT_MAX_RECORD) {
		snprintf(msg, msglen, "longer than %u bytes", AUDIT_MAX_RECORD);
		return -EBADMSG;
	}
	if (n < tail + 2 || line[0] != '{' || memcmp(line + n - tail, tag, sizeof(tag) - 1) != 0 ||
	    !is_hex64(line + n - 66, 64) || memcmp(line + n - 2, "\"}", 2) != 0) {
		snprintf(msg, msglen, "not a record (it must end in ,\"hash\":\"<64 hex digits>\"})");
		return -EBADMSG;
	}
	blen = n - tail + 1;
	body = malloc(blen + 1);
	if (!body)
		return -ENOMEM;
	memcpy(body, line, blen - 1);
	body[blen - 1] = '}';
	body[blen] = '\0';
	if (digest_buffer(body, blen, computed) < 0) {
		free(body);
		return -EIO;
	}
	if (memcmp(computed, line + n - 66, 64) != 0) {
		free(body);
		snprintf(msg, msglen, "its content does not match its hash (changed after it was written)");
		return -EBADMSG;
	}
	rec = json_loadb(line, n, JSON_REJECT_DUPLICATES, &je);
	free(body);
	if (!json_is_object(rec)) {
		json_decref(rec);
		snprintf(msg, msglen, "not a JSON object");
		return -EBADMSG;
	}
	if (json_integer_value(json_object_get(rec, "seq")) != (json_int_t)seq) {
		snprintf(msg, msglen, "seq is %lld where %llu was expected (a record before it is "
			 "missing or out of order)",
			 (long long)json_integer_value(json_object_get(rec, "seq")), seq);
		json_decref(rec);
		return -EBADMSG;
	}
	h = json_object_get(rec, "prev");
	if (!json_is_string(h) || strcmp(json_string_value(h), prev) != 0) {
		snprintf(msg, msglen, "prev does not match the hash of record %llu (a record before "
			 "it was changed, removed or moved)", seq - 1);
		json_decref(rec);
		return -EBADMSG;
	}
	if (!json_is_string(json_object_get(rec, "request_id"))) {
		snprintf(msg, msglen, "no request_id");
		json_decref(rec);
		return -EBADMSG;
	}
	memcpy(hash, computed, 65);
	*out = rec;
	return 0;
}

int audit_scan(const char *buf, size_t len, struct audit_check *c,
	       int (*each)(void *data, json_t *record), void *data)
{
	size_t off = 0;

	memset(c, 0, sizeof(*c));
	strcpy(c->head, AUDIT_ZERO_HASH);
	while (off < len) {
		const char *nl = memchr(buf + off, '\n', len - off);
		size_t n = nl ? (size_t)(nl - (buf + off)) : len - off;
		char hash[65];
		json_t *rec;
		int rc;

		if (!nl) {
			c->broken = c->records + 1;
			c->torn = 1;
			snprintf(c->message, sizeof(c->message),
				 "incomplete: the last line has no newline (a write cut short)");
			return 0;
		}
		rc = check_line(buf + off, n, c->records + 1, c->head, &rec, hash, c->message,
				sizeof(c->message));
		if (rc == -ENOMEM || rc == -EIO)
			return rc;
		if (rc < 0) {
			c->broken = c->records + 1;
			return 0;
		}
		rc = each ? each(data, rec) : 0;
		json_decref(rec);
		if (rc < 0)
			return rc;
		c->records++;
		memcpy(c->head, hash, 65);
		off += n + 1;
		c->valid_bytes = off;
	}
	return 0;
}

static int read_all(const char *path, char **buf, size_t *len)
{
	struct stat st;
	ssize_t got;
	size_t n = 0;
	char *b;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	b = malloc((size_t)st.st_size + 1);
	if (!b) {
		close(fd);
		return -ENOMEM;
	}
	while (n < (size_t)st.st_size && (got = read(fd, b + n, (size_t)st.st_size - n)) > 0)
		n += (size_t)got;
	close(fd);
	b[n] = '\0';
	*buf = b;
	*len = n;
	return 0;
}

int audit_verify_file(const char *path, struct audit_check *c)
{
	char *buf;
	size_t len;
	int rc = read_all(path, &buf, &len);

	if (rc < 0)
		return rc;
	rc = audit_scan(buf, len, c, NULL, NULL);
	free(buf);
	return rc;
}

static int index_record(void *data, json_t *rec)
{
	json_t *by_id = data;
	const char *id = json_string_value(json_object_get(rec, "request_id"));
	json_t *arr = json_object_get(by_id, id);

	if (!arr) {
		arr = json_array();
		if (!arr || json_object_set_new(by_id, id, arr) < 0)
			return -ENOMEM;
	}
	return json_array_append(arr, rec) < 0 ? -ENOMEM : 0;
}

int audit_read_file(const char *path, json_t **by_id, struct audit_check *c)
{
	char *buf = NULL;
	size_t len = 0;
	int rc = read_all(path, &buf, &len);

	*by_id = json_object();
	if (!*by_id) {
		free(buf);
		return -ENOMEM;
	}
	if (rc == -ENOENT) {
		memset(c, 0, sizeof(*c));
		strcpy(c->head, AUDIT_ZERO_HASH);
		return 0;
	}
	if (rc < 0)
		goto fail;
	rc = audit_scan(buf, len, c, index_record, *by_id);
	free(buf);
	if (rc < 0)
		goto fail;
	return 0;
fail:
	json_decref(*by_id);
	*by_id = NULL;
	return rc;
}

/* ---- the daemon's log ---- */

int audit_open(uv_loop_t *loop, const char *state_dir, struct audit **out, char *err,
	       size_t errlen)
{
	char path[4096], dir[4096];
	struct audit_check c;
	struct audit *au;
	char *buf = NULL;
	size_t len = 0;
	int rc, created = 0;

	if (snprintf(dir, sizeof(dir), "%s/audit", state_dir) >= (int)sizeof(dir) ||
	    snprintf(path, sizeof(path), "%s/" AUDIT_FILE, state_dir) >= (int)sizeof(path)) {
		snprintf(err, errlen, "%s: path too long", state_dir);
		return -ENAMETOOLONG;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", dir, strerror(-rc));
		return rc;
	}
	au = calloc(1, sizeof(*au));
	if (!au)
		return -ENOMEM;
	au->loop = loop;
	au->queue_tail = &au->queue;
	au->fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	if (au->fd < 0 && errno == ENOENT) {
		au->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		created = 1;
	}
	if (au->fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		goto fail;
	}
	if (created) {
		int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (dfd < 0 || fsync(dfd) < 0) {
			rc = -errno;
			snprintf(err, errlen, "%s: %s", dir, strerror(-rc));
			if (dfd >= 0)
				close(dfd);
			goto fail;
		}
		close(dfd);
	}
	au->by_id = json_object();
	rc = read_all(path, &buf, &len);
	if (rc < 0 || !au->by_id) {
		rc = rc < 0 ? rc : -ENOMEM;
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		goto fail;
	}
	rc = audit_scan(buf, len, &c, index_record, au->by_id);
	free(buf);
	buf = NULL;
	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		goto fail;
	}
	if (c.broken && c.torn) {
		log_warn("%s: record %llu is incomplete (%zu bytes a crash cut short, never "
			 "acknowledged): cutting it off", path, c.broken, len - c.valid_bytes);
		if (ftruncate(au->fd, (off_t)c.valid_bytes) < 0 || fdatasync(au->fd) < 0) {
			rc = -errno;
			snprintf(err, errlen, "%s: cannot cut off the incomplete record: %s", path,
				 strerror(-rc));
			goto fail;
		}
	} else if (c.broken) {
		rc = -EBADMSG;
		snprintf(err, errlen, "%s: record %llu is broken: %s (run \"kvscreen audit "
			 "verify\"; the log is not appended to while its chain is broken)", path,
			 c.broken, c.message);
		goto fail;
	}
	au->size = c.valid_bytes;
	au->seq = c.records;
	memcpy(au->head, c.head, 65);
	*out = au;
	return 0;
fail:
	free(buf);
	if (au->fd >= 0)
		close(au->fd);
	json_decref(au->by_id);
	free(au);
	return rc;
}

static void rfc3339_now(char out[32])
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 32 - n, ".%03dZ", (int)(ts.tv_nsec / 1000000) % 1000);
}

/* Serialise p as record number seq after prev into the batch buffer. */
static int build_record(struct audit *au, struct pending *p, unsigned long long seq,
			const char *prev, char hash[65], const char *at)
{
	json_t *rec = json_deep_copy(p->fields);
	char *body = NULL, *nb;
	size_t blen;

	if (!rec || json_object_set_new(rec, "schema", json_string("kvscreen.decision/v1")) < 0 ||
	    json_object_set_new(rec, "seq", json_integer((json_int_t)seq)) < 0 ||
	    json_object_set_new(rec, "prev", json_string(prev)) < 0 ||
	    json_object_set_new(rec, "at", json_string(at)) < 0)
		goto nomem;
	body = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS);
	if (!body)
		goto nomem;
	blen = strlen(body);
	if (digest_buffer(body, blen, hash) < 0)
		goto nomem;
	nb = realloc(au->buf, au->len + blen + 80);
	if (!nb)
		goto nomem;
	au->buf = nb;
	memcpy(au->buf + au->len, body, blen - 1);
	au->len += blen - 1;
	au->len += (size_t)sprintf(au->buf + au->len, ",\"hash\":\"%s\"}\n", hash);
	if (json_object_set_new(rec, "hash", json_string(hash)) < 0)
		goto nomem;
	free(body);
	p->record = rec;
	return 0;
nomem:
	free(body);
	json_decref(rec);
	return -ENOMEM;
}

static void batch_work(uv_work_t *w)
{
	struct audit *au = w->data;
	size_t done = 0;

	au->status = 0;
	while (done < au->len) {
		ssize_t n = write(au->fd, au->buf + done, au->len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			au->status = n < 0 ? -errno : -EIO;
			break;
		}
		done += (size_t)n;
	}
	if (au->status == 0 && fdatasync(au->fd) < 0)
		au->status = -errno;
	if (au->status < 0 && ftruncate(au->fd, (off_t)au->size) == 0)
		(void)fdatasync(au->fd);
}

static void start_batch(struct audit *au);

static void finish_close(struct audit *au)
{
	void (*cb)(void *) = au->close_cb;
	void *data = au->close_data;

	while (au->queue) {
		struct pending *p = au->queue;

		au->queue = p->next;
		p->cb(p->data, -ESHUTDOWN, NULL);
		json_decref(p->fields);
		free(p);
	}
	close(au->fd);
	json_decref(au->by_id);
	free(au->buf);
	free(au);
	if (cb)
		cb(data);
}

static void batch_done(uv_work_t *w, int status)
{
	struct audit *au = w->data;
	struct pending *p = au->batch;

	if (status < 0 && au->status == 0)
		au->status = status;
	if (au->status == 0) {
		au->size += au->len;
		for (struct pending *q = p; q; q = q->next) {
			au->seq++;
			memcpy(au->head, json_string_value(json_object_get(q->record, "hash")), 65);
			index_record(au->by_id, q->record);
		}
	} else {
		unsigned n = 0;

		for (struct pending *q = p; q; q = q->next)
			n++;
		log_err("audit log: %u decision%s not recorded: %s", n, n == 1 ? "" : "s",
			strerror(-au->status));
	}
	au->batch = NULL;
	au->len = 0;
	au->busy = 0;
	while (p) {
		struct pending *next = p->next;

		p->cb(p->data, au->status, au->status == 0 ? p->record : NULL);
		json_decref(p->record);
		json_decref(p->fields);
		free(p);
		p = next;
	}
	if (au->closing)
		finish_close(au);
	else
		start_batch(au);
}

static void start_batch(struct audit *au)
{
	unsigned long long seq = au->seq;
	char prev[65], hash[65], at[32];
	struct pending *p;

	if (au->busy || !au->queue)
		return;
	memcpy(prev, au->head, 65);
	rfc3339_now(at);
	au->len = 0;
	for (struct pending **pp = &au->queue; (p = *pp);) {
		if (build_record(au, p, ++seq, prev, hash, at) < 0) {
			/* Fail this one alone; the chain goes on from prev. */
			--seq;
			*pp = p->next;
			p->cb(p->data, -ENOMEM, NULL);
			json_decref(p->fields);
			free(p);
			continue;
		}
		memcpy(prev, hash, 65);
		pp = &p->next;
	}
	au->batch = au->queue;
	au->queue = NULL;
	au->queue_tail = &au->queue;
	if (!au->batch)
		return;
	au->busy = 1;
	au->work.data = au;
	if (uv_queue_work(au->loop, &au->work, batch_work, batch_done) < 0) {
		au->status = -EIO;
		batch_done(&au->work, -EIO);
	}
}

int audit_append(struct audit *au, json_t *fields, audit_done_cb cb, void *data)
{
	struct pending *p;

	if (au->closing) {
		json_decref(fields);
		return -ESHUTDOWN;
	}
	if (!json_is_object(fields) || !json_is_string(json_object_get(fields, "request_id")) ||
	    json_object_get(fields, "schema") || json_object_get(fields, "seq") ||
	    json_object_get(fields, "prev") || json_object_get(fields, "hash") ||
	    json_object_get(fields, "at")) {
		json_decref(fields);
		return -EINVAL;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		json_decref(fields);
		return -ENOMEM;
	}
	p->fields = fields;
	p->cb = cb;
	p->data = data;
	*au->queue_tail = p;
	au->queue_tail = &p->next;
	start_batch(au);
	return 0;
}

json_t *audit_records(const struct audit *au, const char *id)
{
	return json_object_get(au->by_id, id);
}

unsigned long long audit_head(const struct audit *au, char hash_out[65])
{
	memcpy(hash_out, au->head, 65);
	return au->seq;
}

void audit_close(struct audit *au, void (*cb)(void *data), void *data)
{
	au->closing = 1;
	au->close_cb = cb;
	au->close_data = data;
	if (!au->busy)
		finish_close(au);
}
