/* cases.c - the case journal: open cases, their requests and verdict versions (see cases.h).
 *
 * Memory: every case is one struct kcase, allocated once and never moved
 * (the re-screener keeps pointers), found by id through an open-addressing
 * hash table and listed in opening order in `vec`.  Records are serialised
 * on the loop thread into the queue buffer; the batch in flight owns its
 * own buffer and callback list, so the loop keeps queueing meanwhile.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "cases.h"
#include "digest.h"
#include "hex.h"
#include "jsonw.h"
#include "log.h"

struct cb_ent {
	cases_done_cb cb;
	void *data;
	struct kcase *adding;     /* its open is durable with this batch */
};

struct batch {
	uv_work_t work;
	char *buf;
	size_t len;
	struct cb_ent *cbs;
	size_t n_cbs;
	int status;
};

/* Summaries are interned: cases screened alike share one copy. */
#define POOL_BUCKETS 65536
struct pool_ent {
	struct pool_ent *next;
	uint64_t h;
	uint32_t refs;
	char s[];
};

struct policy_lists {
	char p[65];
	char *lists;
};

struct cases {
	uv_loop_t *loop;
	int fd, dirfd;
	char path[PATH_MAX], tmp[PATH_MAX];
	struct kcase **vec;
	size_t n, cap;
	struct kcase **tab;       /* open addressing, tabcap a power of two */
	size_t tabcap;
	struct policy_lists *pol;
	size_t n_pol;
	struct pool_ent **pool;   /* POOL_BUCKETS chains */
	/* queued for the next batch */
	char *q;
	size_t qlen, qcap;
	struct cb_ent *qcbs;
	size_t qn, qcbcap;
	struct batch b;
	int in_flight, broken, timer_armed, closing;
	uv_timer_t timer;
	void (*shutdown_cb)(void *data);
	void *shutdown_data;
	struct cases_stats st;
};

/* ---- CRC-32 (IEEE 802.3, as zlib's crc32()) ---- */

static uint32_t crc32_buf(const void *buf, size_t len)
{
	uLong c = crc32(0L, Z_NULL, 0);

	/* zlib takes uInt lengths; records are at most CASES_MAX_RECORD. */
	return (uint32_t)crc32(c, buf, (uInt)len);
}

static void put_u32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static uint32_t get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---- index ---- */

static uint64_t hash_id(const char *id)
{
	uint64_t h = 1469598103934665603ull;

	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 1099511628211ull;
	return h;
}

static int tab_grow(struct cases *cs)
{
	size_t cap = cs->tabcap ? cs->tabcap * 2 : 1024;
	struct kcase **t = calloc(cap, sizeof(*t));

	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < cs->n; i++) {
		size_t k = hash_id(cs->vec[i]->id) & (cap - 1);

		while (t[k])
			k = (k + 1) & (cap - 1);
		t[k] = cs->vec[i];
	}
	free(cs->tab);
	cs->tab = t;
	cs->tabcap = cap;
	return 0;
}

struct kcase *cases_get(const struct cases *cs, const char *id)
{
	size_t k;

	if (!cs->tabcap)
		return NULL;
	k = hash_id(id) & (cs->tabcap - 1);
	while (cs->tab[k]) {
		if (strcmp(cs->tab[k]->id, id) == 0)
			return cs->tab[k];
		k = (k + 1) & (cs->tabcap - 1);
	}
	return NULL;
}

static int pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	for (size_t got = 0; got < len;) {
		ssize_t k = pread(fd, (char *)buf + got, len - got, (off_t)(off + got));

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -errno : -EIO;
		got += (size_t)k;
	}
	return 0;
}

static const char *sget(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

int cases_request(const struct cases *cs, const struct kcase *c, char **out)
{
	unsigned char hdr[8];
	char *payload = NULL;
	const char *why, *req;
	json_t *r = NULL;
	uint32_t len;
	int rc;

	*out = NULL;
	if (c->pending_request) {
		*out = strdup(c->pending_request);
		return *out ? 0 : -ENOMEM;
	}
	rc = pread_all(cs->fd, hdr, sizeof(hdr), c->open_off);
	if (rc < 0) {
		why = strerror(-rc);
		goto bad;
	}
	len = get_u32(hdr);
	if (len < 2 || len > CASES_MAX_RECORD) {
		why = "bad length";
		goto bad;
	}
	payload = malloc(len);
	if (!payload)
		return -ENOMEM;
	rc = pread_all(cs->fd, payload, len, c->open_off + 8);
	if (rc < 0) {
		why = strerror(-rc);
		goto bad;
	}
	if (crc32_buf(payload, len) != get_u32(hdr + 4)) {
		why = "bad CRC";
		goto bad;
	}
	r = json_loadb(payload, len, 0, NULL);
	req = r && strcmp(sget(r, "t") ?: "", "o") == 0 && strcmp(sget(r, "id") ?: "", c->id) == 0
		      ? sget(r, "r") : NULL;
	if (!req) {
		why = "not an open record of this case";
		goto bad;
	}
	*out = strdup(req);
	rc = *out ? 0 : -ENOMEM;
	goto out;
bad:
	log_err("%s: the request of case %s at byte %llu: %s", cs->path, c->id,
		(unsigned long long)c->open_off, why);
	rc = -EIO;
out:
	json_decref(r);
	free(payload);
	return rc;
}

void cases_prefetch(const struct cases *cs)
{
	(void)posix_fadvise(cs->fd, 0, 0, POSIX_FADV_WILLNEED);
}

/* A new, empty case of id (which must be unknown). */
static struct kcase *case_new(struct cases *cs, const char *id)
{
	struct kcase *c;
	size_t k, n = strlen(id);

	if (n > CASES_MAX_ID)
		return NULL;
	if ((cs->n + 1) * 2 > cs->tabcap && tab_grow(cs) < 0)
		return NULL;
	if (cs->n == cs->cap) {
		size_t cap = cs->cap ? cs->cap * 2 : 1024;
		struct kcase **v = realloc(cs->vec, cap * sizeof(*v));

		if (!v)
			return NULL;
		cs->vec = v;
		cs->cap = cap;
	}
	/* The id starts right after the last member, not after the padding
	 * that sizeof counts. */
	c = calloc(1, offsetof(struct kcase, id) + n + 1);
	if (!c)
		return NULL;
	memcpy(c->id, id, n + 1);
	cs->vec[cs->n++] = c;
	k = hash_id(id) & (cs->tabcap - 1);
	while (cs->tab[k])
		k = (k + 1) & (cs->tabcap - 1);
	cs->tab[k] = c;
	return c;
}

/* An interned copy of s (a reference), or NULL. */
static char *pool_get(struct cases *cs, const char *s)
{
	uint64_t h = hash_id(s);
	struct pool_ent **b = &cs->pool[h % POOL_BUCKETS], *e;
	size_t n;

	for (e = *b; e; e = e->next)
		if (e->h == h && strcmp(e->s, s) == 0) {
			e->refs++;
			return e->s;
		}
	n = strlen(s);
	e = malloc(sizeof(*e) + n + 1);
	if (!e)
		return NULL;
	e->h = h;
	e->refs = 1;
	memcpy(e->s, s, n + 1);
	e->next = *b;
	*b = e;
	return e->s;
}

static void pool_put(struct cases *cs, char *s)
{
	struct pool_ent *e, **pp;

	if (!s)
		return;
	e = (struct pool_ent *)(s - offsetof(struct pool_ent, s));
	if (--e->refs)
		return;
	for (pp = &cs->pool[e->h % POOL_BUCKETS]; *pp; pp = &(*pp)->next)
		if (*pp == e) {
			*pp = e->next;
			break;
		}
	free(e);
}

/* Point *slot at the pool's copy of s, releasing what it held: policy
 * digests are few, and a case and each version name one. */
static int set_interned(struct cases *cs, char **slot, const char *s)
{
	char *n = pool_get(cs, s);

	if (!n)
		return -ENOMEM;
	pool_put(cs, *slot);
	*slot = n;
	return 0;
}

static void versions_clear(struct cases *cs, struct kcase *c)
{
	for (size_t i = 0; i < c->n_v; i++) {
		free(c->v[i].msg);
		pool_put(cs, c->v[i].summary);
		pool_put(cs, c->v[i].policy);
	}
	c->n_v = 0;
}

static struct case_version *version_push(struct kcase *c)
{
	if (c->n_v == c->cap_v) {
		size_t cap = c->cap_v ? c->cap_v * 2 : 1;	/* most cases keep one */
		struct case_version *v = realloc(c->v, cap * sizeof(*v));

		if (!v)
			return NULL;
		c->v = v;
		c->cap_v = cap;
	}
	memset(&c->v[c->n_v], 0, sizeof(c->v[0]));
	return &c->v[c->n_v++];
}

size_t cases_count(const struct cases *cs)
{
	return cs->n;
}

struct kcase *cases_nth(const struct cases *cs, size_t i)
{
	return i < cs->n ? cs->vec[i] : NULL;
}

const char *cases_state_name(enum case_state s)
{
	return s == CASE_OPEN ? "open" : s == CASE_CLOSED ? "closed" : "expired";
}

static int is_hex64(const char *s)
{
	unsigned char d[32];

	return hex_decode(s, d, sizeof(d)) == 0;
}

/* ---- applying records (replay and appends share this) ---- */

static int set_policy_lists(struct cases *cs, const char *p, const char *lists)
{
	struct policy_lists *v;
	char *copy;

	for (size_t i = 0; i < cs->n_pol; i++)
		if (strcmp(cs->pol[i].p, p) == 0) {
			copy = strdup(lists);
			if (!copy)
				return -ENOMEM;
			free(cs->pol[i].lists);
			cs->pol[i].lists = copy;
			return 0;
		}
	v = realloc(cs->pol, (cs->n_pol + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	cs->pol = v;
	copy = strdup(lists);
	if (!copy)
		return -ENOMEM;
	snprintf(v[cs->n_pol].p, sizeof(v[0].p), "%s", p);
	v[cs->n_pol++].lists = copy;
	return 0;
}

/* Apply one record to memory; `size` is its framed size, `off` where it
 * starts in the journal; with `pending` (an append, not durable yet) an
 * open record's request is kept in memory until it is.  Returns 0, or
 * -EINVAL for a record that does not fit the state (skipped at replay). */
static int apply(struct cases *cs, const json_t *r, uint32_t size, uint64_t off, int pending)
{
	const char *t = sget(r, "t"), *id = sget(r, "id"), *p = sget(r, "p");
	struct kcase *c = id ? cases_get(cs, id) : NULL;

	if (!t)
		return -EINVAL;
	if (t[0] == 'p' && !t[1]) {
		char *l = json_dumps(json_object_get(r, "l"), JSON_COMPACT | JSON_SORT_KEYS);
		int rc;

		if (!is_hex64(p) || !l) {
			free(l);
			return -EINVAL;
		}
		rc = set_policy_lists(cs, p, l);
		free(l);
		return rc;
	}
	if (!id)
		return -EINVAL;
	switch (t[1] ? 0 : t[0]) {
	case 'o': {
		const char *rd = sget(r, "rd"), *req = sget(r, "r"), *vd = sget(r, "vd");
		const char *s = sget(r, "s");
		struct case_version *v;
		char *reqc, *sc;

		if (!is_hex64(rd) || !req || !is_hex64(vd) || !is_hex64(p) || !s)
			return -EINVAL;
		reqc = pending ? strdup(req) : NULL;
		sc = pool_get(cs, s);
		if ((pending && !reqc) || !sc) {
			free(reqc);
			pool_put(cs, sc);
			return -ENOMEM;
		}
		if (!c)
			c = case_new(cs, id);
		if (!c) {
			free(reqc);
			pool_put(cs, sc);
			return -ENOMEM;
		}
		cs->st.dead_bytes += c->open_bytes + c->chk_bytes;
		versions_clear(cs, c);
		free(c->pending_request);
		c->pending_request = reqc;
		c->open_off = off;
		hex_decode(rd, c->req_digest, 32);
		if (set_interned(cs, &c->policy, p) < 0) {
			pool_put(cs, sc);
			return -ENOMEM;
		}
		c->opened_at = (int64_t)json_integer_value(json_object_get(r, "at"));
		c->state = CASE_OPEN;
		c->open_bytes = size;
		c->chk_bytes = 0;
		v = version_push(c);
		if (!v || set_interned(cs, &v->policy, p) < 0) {
			if (v)
				c->n_v--;
			pool_put(cs, sc);
			return -ENOMEM;
		}
		v->n = 1;
		v->posted = true;
		hex_decode(vd, v->digest, 32);
		v->summary = sc;
		return 0;
	}
	case 'v': {
		const char *vd = sget(r, "vd"), *m = sget(r, "m"), *s = sget(r, "s");
		json_int_t n = json_integer_value(json_object_get(r, "n"));
		struct case_version *v;

		if (!c || n != (json_int_t)c->n_v + 1 || !is_hex64(vd) || !is_hex64(p) || !m || !s)
			return -EINVAL;
		v = version_push(c);
		if (!v)
			return -ENOMEM;
		v->n = (unsigned)n;
		v->msg = strdup(m);
		v->summary = pool_get(cs, s);
		v->policy = pool_get(cs, p);
		if (!v->msg || !v->summary || !v->policy || set_interned(cs, &c->policy, p) < 0) {
			free(v->msg);
			pool_put(cs, v->summary);
			pool_put(cs, v->policy);
			c->n_v--;
			return -ENOMEM;
		}
		v->posted = json_is_true(json_object_get(r, "posted"));
		hex_decode(vd, v->digest, 32);
		cs->st.dead_bytes += c->chk_bytes;
		c->chk_bytes = 0;
		return 0;
	}
	case 'c':
		if (!c || !is_hex64(p))
			return -EINVAL;
		if (set_interned(cs, &c->policy, p) < 0)
			return -ENOMEM;
		cs->st.dead_bytes += c->chk_bytes;
		c->chk_bytes = size;
		return 0;
	case 'x': {
		json_int_t n = json_integer_value(json_object_get(r, "n"));

		if (!c || n < 1 || n > (json_int_t)c->n_v)
			return -EINVAL;
		c->v[n - 1].posted = true;
		cs->st.dead_bytes += size;
		return 0;
	}
	case 'z': {
		const char *why = sget(r, "why");

		if (!c)
			return -EINVAL;
		c->state = why && strcmp(why, "retention") == 0 ? CASE_EXPIRED : CASE_CLOSED;
		c->closed_at = (int64_t)json_integer_value(json_object_get(r, "at"));
		return 0;
	}
	}
	return -EINVAL;
}

/* ---- the queue and the group commit ---- */

static int frame(char **buf, size_t *len, size_t *cap, const char *payload, size_t n)
{
	unsigned char hdr[8];

	if (n > CASES_MAX_RECORD)
		return -EMSGSIZE;
	if (*len + 8 + n > *cap) {
		size_t c = *cap ? *cap : 65536;
		char *b;

		while (c < *len + 8 + n)
			c *= 2;
		b = realloc(*buf, c);
		if (!b)
			return -ENOMEM;
		*buf = b;
		*cap = c;
	}
	put_u32(hdr, (uint32_t)n);
	put_u32(hdr + 4, crc32_buf(payload, n));
	memcpy(*buf + *len, hdr, 8);
	memcpy(*buf + *len + 8, payload, n);
	*len += 8 + n;
	return 0;
}

static void batch_work(uv_work_t *w)
{
	struct batch *b = w->data;
	struct cases *cs = (struct cases *)((char *)b - offsetof(struct cases, b));
	size_t off = 0;

	b->status = 0;
	while (off < b->len) {
		ssize_t k = write(cs->fd, b->buf + off, b->len - off);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			b->status = k < 0 ? -errno : -EIO;
			return;
		}
		off += (size_t)k;
	}
	if (fdatasync(cs->fd) < 0)
		b->status = -errno;
}

static void flush(struct cases *cs);

static void maybe_shutdown_done(struct cases *cs)
{
	if (cs->closing && !cs->in_flight && cs->qlen == 0 && cs->qn == 0 && cs->shutdown_cb) {
		void (*cb)(void *) = cs->shutdown_cb;

		cs->shutdown_cb = NULL;
		uv_close((uv_handle_t *)&cs->timer, NULL);
		cb(cs->shutdown_data);
	}
}

static void batch_done(uv_work_t *w, int status)
{
	struct cases *cs = w->data ? (struct cases *)((char *)w->data - offsetof(struct cases, b))
				   : NULL;
	struct batch *b = &cs->b;
	int st = status < 0 ? status : b->status;

	cs->in_flight = 0;
	if (st < 0 && !cs->broken) {
		log_err("cases journal %s: %s; re-screening stops until a restart", cs->path,
			strerror(-st));
		cs->broken = 1;
	}
	cs->st.batches++;
	cs->st.bytes += st < 0 ? 0 : b->len;
	for (size_t i = 0; i < b->n_cbs; i++) {
		struct kcase *c = b->cbs[i].adding;

		if (!c)
			continue;
		c->adding--;
		if (st == 0 && !c->adding) {
			free(c->pending_request);	/* on disk now */
			c->pending_request = NULL;
		}
	}
	for (size_t i = 0; i < b->n_cbs; i++)
		if (b->cbs[i].cb)
			b->cbs[i].cb(b->cbs[i].data, st);
	free(b->buf);
	free(b->cbs);
	b->buf = NULL;
	b->cbs = NULL;
	if (cs->qlen || cs->qn)
		flush(cs);
	maybe_shutdown_done(cs);
}

static void flush(struct cases *cs)
{
	struct batch *b = &cs->b;

	if (cs->in_flight || (!cs->qlen && !cs->qn))
		return;
	b->buf = cs->q;
	b->len = cs->qlen;
	b->cbs = cs->qcbs;
	b->n_cbs = cs->qn;
	cs->q = NULL;
	cs->qlen = cs->qcap = 0;
	cs->qcbs = NULL;
	cs->qn = cs->qcbcap = 0;
	b->work.data = b;
	if (cs->broken) {
		b->status = -EIO;
		cs->in_flight = 1;
		b->work.data = b;
		batch_done(&b->work, -EIO);
		return;
	}
	cs->in_flight = 1;
	if (uv_queue_work(cs->loop, &b->work, batch_work, batch_done) < 0)
		batch_done(&b->work, -EIO);
}

static void on_timer(uv_timer_t *t)
{
	struct cases *cs = t->data;

	cs->timer_armed = 0;
	flush(cs);
}

/* Where the next queued record will start in the file: batches are
 * written in order, each after the one in flight. */
static uint64_t queue_end(const struct cases *cs)
{
	return cs->st.bytes + (cs->in_flight ? cs->b.len : 0) + cs->qlen;
}

/* Queue record r (stolen) with cb; apply it to memory first.  With
 * `adding`, r opens a case that stays marked until the batch is durable. */
static int append_ex(struct cases *cs, json_t *r, cases_done_cb cb, void *data, int adding)
{
	uint64_t off;
	char *text;
	size_t n;
	int rc;

	if (cs->broken) {
		json_decref(r);
		return -EIO;
	}
	if (cs->closing) {
		json_decref(r);
		return -ESHUTDOWN;
	}
	text = r ? jsonw_dump(r, 0, &n) : NULL;
	if (!text) {
		json_decref(r);
		return -ENOMEM;
	}
	if ((cb || adding) && cs->qn == cs->qcbcap) {
		size_t cap = cs->qcbcap ? cs->qcbcap * 2 : 64;
		struct cb_ent *v = realloc(cs->qcbs, cap * sizeof(*v));

		if (!v) {
			rc = -ENOMEM;
			goto out;
		}
		cs->qcbs = v;
		cs->qcbcap = cap;
	}
	off = queue_end(cs);
	rc = frame(&cs->q, &cs->qlen, &cs->qcap, text, n);
	if (rc < 0)
		goto out;
	rc = apply(cs, r, (uint32_t)(n + 8), off, 1);
	if (rc < 0) {
		cs->qlen -= n + 8;
		goto out;
	}
	cs->st.records++;
	if (cb || adding) {
		struct kcase *c = adding ? cases_get(cs, sget(r, "id")) : NULL;

		if (c)
			c->adding++;
		cs->qcbs[cs->qn++] = (struct cb_ent){ cb, data, c };
	}
	if (!cs->timer_armed && !cs->in_flight) {
		cs->timer_armed = 1;
		uv_timer_start(&cs->timer, on_timer, 0, 0);
	}
out:
	free(text);
	json_decref(r);
	return rc;
}

static int append(struct cases *cs, json_t *r, cases_done_cb cb, void *data)
{
	return append_ex(cs, r, cb, data, 0);
}

/* ---- public appends ---- */

int cases_request_is(const struct kcase *c, const char *hex)
{
	unsigned char d[32];

	return hex_decode(hex, d, 32) == 0 && memcmp(d, c->req_digest, sizeof(d)) == 0;
}

int cases_add(struct cases *cs, const char *id, const char *req_digest, const char *request,
	      const char *policy, const char *verdict_digest, const char *summary,
	      cases_done_cb cb, void *data)
{
	struct kcase *c = cases_get(cs, id);
	json_t *r;
	int rc;

	if (c && c->adding)
		return -EBUSY;
	if (!is_hex64(req_digest) || !is_hex64(policy) || !is_hex64(verdict_digest) || !request ||
	    !summary || strlen(id) > CASES_MAX_ID)
		return -EINVAL;
	r = json_pack("{s:s,s:s,s:s,s:s,s:I,s:s,s:s,s:s}", "t", "o", "id", id, "rd", req_digest,
		      "r", request, "at", (json_int_t)time(NULL), "p", policy, "vd", verdict_digest,
		      "s", summary);
	if (!r)
		return -ENOMEM;
	rc = append_ex(cs, r, cb, data, 1);
	return rc;
}

int cases_add_version(struct cases *cs, struct kcase *c, const char *policy, const char *msg,
		      size_t len, const char *summary, unsigned *n_out, cases_done_cb cb,
		      void *data)
{
	char vd[65];
	json_t *r;
	int rc;

	if (c->state != CASE_OPEN || !is_hex64(policy))
		return -EINVAL;
	if (digest_buffer(msg, len, vd) < 0)
		return -EIO;
	r = json_pack("{s:s,s:s,s:I,s:s,s:s,s:s%,s:s}", "t", "v", "id", c->id, "n",
		      (json_int_t)c->n_v + 1, "p", policy, "vd", vd, "m", msg, len, "s", summary);
	if (!r)
		return -ENOMEM;
	rc = append(cs, r, cb, data);
	if (rc == 0)
		*n_out = (unsigned)c->n_v;
	return rc;
}

int cases_checked(struct cases *cs, struct kcase *c, const char *policy)
{
	if (strcmp(c->policy, policy) == 0)
		return 0;
	return append(cs, json_pack("{s:s,s:s,s:s}", "t", "c", "id", c->id, "p", policy), NULL,
		      NULL);
}

int cases_posted(struct cases *cs, struct kcase *c, unsigned n)
{
	return append(cs, json_pack("{s:s,s:s,s:I}", "t", "x", "id", c->id, "n", (json_int_t)n),
		      NULL, NULL);
}

int cases_close(struct cases *cs, struct kcase *c, enum case_state why, cases_done_cb cb,
		void *data)
{
	if (c->state != CASE_OPEN)
		return -EALREADY;
	return append(cs, json_pack("{s:s,s:s,s:I,s:s}", "t", "z", "id", c->id, "at",
				    (json_int_t)time(NULL), "why",
				    why == CASE_EXPIRED ? "retention" : "closed"),
		      cb, data);
}

int cases_set_policy_lists(struct cases *cs, const char *policy, const char *lists_json)
{
	json_t *l = json_loads(lists_json, 0, NULL);

	if (!l)
		return -EINVAL;
	return append(cs, json_pack("{s:s,s:s,s:o}", "t", "p", "p", policy, "l", l), NULL, NULL);
}

const char *cases_policy_lists(const struct cases *cs, const char *policy)
{
	for (size_t i = 0; i < cs->n_pol; i++)
		if (strcmp(cs->pol[i].p, policy) == 0)
			return cs->pol[i].lists;
	return NULL;
}

int cases_current(const struct cases *cs, const char *id, unsigned *version, char digest[65],
		  enum case_state *state)
{
	const struct kcase *c = cases_get(cs, id);

	if (!c || !c->n_v)
		return -ENOENT;
	if (version)
		*version = c->v[c->n_v - 1].n;
	if (digest)
		hex_encode(c->v[c->n_v - 1].digest, 32, digest);
	if (state)
		*state = c->state;
	return 0;
}

int cases_history(const struct cases *cs, const char *id,
		  void (*cb)(void *data, const struct case_version *v), void *data)
{
	const struct kcase *c = cases_get(cs, id);

	if (!c || !c->n_v)
		return -ENOENT;
	for (size_t i = 0; i < c->n_v; i++)
		cb(data, &c->v[i]);
	return 0;
}

void cases_stats(const struct cases *cs, struct cases_stats *out)
{
	*out = cs->st;
	out->cases = cs->n;
	out->open = out->closed = 0;
	for (size_t i = 0; i < cs->n; i++) {
		if (cs->vec[i]->state == CASE_OPEN)
			out->open++;
		else
			out->closed++;
	}
}

/* ---- open: replay, cut, compact ---- */

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t k = write(fd, buf, len);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -errno : -EIO;
		buf += k;
		len -= (size_t)k;
	}
	return 0;
}

/* Frame record r (stolen) into buf. */
static int frame_record(char **buf, size_t *len, size_t *cap, json_t *r)
{
	size_t n;
	char *t = r ? jsonw_dump(r, 0, &n) : NULL;
	int rc = t ? frame(buf, len, cap, t, n) : -ENOMEM;

	free(t);
	json_decref(r);
	return rc;
}

/* The records of a snapshot pass through a buffer written out whenever
 * it holds SNAP_FLUSH bytes: compaction needs memory for a few records,
 * not for the whole journal. */
#define SNAP_FLUSH (1u << 20)

struct snap {
	int fd;
	char *buf;
	size_t len, cap;
	uint64_t written;        /* bytes of the file before buf */
};

static int snap_flush(struct snap *s, size_t at_least)
{
	int rc;

	if (s->len < at_least)
		return 0;
	rc = write_all(s->fd, s->buf, s->len);
	if (rc == 0) {
		s->written += s->len;
		s->len = 0;
	}
	return rc;
}

/* Serialise the live state as compact records to s->fd; offs[i] gets
 * where case i's open record starts. */
static int snapshot(const struct cases *cs, struct snap *s, uint64_t *offs)
{
	char **buf = &s->buf;
	size_t *len = &s->len, *cap = &s->cap;
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < cs->n_pol; i++) {
		json_t *l = json_loads(cs->pol[i].lists, 0, NULL);
		json_t *r = json_pack("{s:s,s:s,s:o}", "t", "p", "p", cs->pol[i].p, "l",
				      l ? l : json_object());
		rc = frame_record(buf, len, cap, r);
	}
	for (size_t i = 0; rc == 0 && i < cs->n; i++) {
		const struct kcase *c = cs->vec[i];
		const struct case_version *v1 = &c->v[0];
		char *req, rd[65], vd[65];
		json_t *r;

		if (!c->n_v)
			continue;
		rc = cases_request(cs, c, &req);
		if (rc < 0)
			break;
		/* The open record carries the last policy: "c" records fold in,
		 * and a version record after it sets it again anyway. */
		hex_encode(c->req_digest, 32, rd);
		hex_encode(v1->digest, 32, vd);
		r = json_pack("{s:s,s:s,s:s,s:s,s:I,s:s,s:s,s:s}", "t", "o", "id", c->id, "rd",
			      rd, "r", req, "at", (json_int_t)c->opened_at, "p",
			      c->n_v > 1 ? v1->policy : c->policy, "vd", vd, "s",
			      v1->summary);
		free(req);
		offs[i] = s->written + *len;
		rc = frame_record(buf, len, cap, r);
		for (size_t k = 1; rc == 0 && k < c->n_v; k++) {
			const struct case_version *v = &c->v[k];

			hex_encode(v->digest, 32, vd);
			r = json_pack("{s:s,s:s,s:I,s:s,s:s,s:s,s:s,s:b}", "t", "v", "id", c->id, "n",
				      (json_int_t)v->n, "p", v->policy, "vd", vd, "m", v->msg,
				      "s", v->summary, "posted", v->posted);
			rc = frame_record(buf, len, cap, r);
		}
		if (rc == 0 && c->n_v > 1 && strcmp(c->policy, c->v[c->n_v - 1].policy) != 0) {
			r = json_pack("{s:s,s:s,s:s}", "t", "c", "id", c->id, "p", c->policy);
			rc = frame_record(buf, len, cap, r);
		}
		if (rc == 0 && c->state != CASE_OPEN) {
			r = json_pack("{s:s,s:s,s:I,s:s}", "t", "z", "id", c->id, "at",
				      (json_int_t)c->closed_at, "why",
				      c->state == CASE_EXPIRED ? "retention" : "closed");
			rc = frame_record(buf, len, cap, r);
		}
		if (rc == 0)
			rc = snap_flush(s, SNAP_FLUSH);
	}
	return rc == 0 ? snap_flush(s, 0) : rc;
}

/* Rewrite the journal from memory: journal.tmp, fdatasync, rename, fsync
 * the folder.  On success cs->fd is the new file, positioned at its end. */
static int compact(struct cases *cs)
{
	struct snap s = { .fd = -1 };
	uint64_t *offs = calloc(cs->n ? cs->n : 1, sizeof(*offs));
	int fd = -1, rc;

	if (!offs) {
		rc = -ENOMEM;
		goto fail;
	}
	fd = open(cs->tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		goto fail;
	}
	s.fd = fd;
	rc = snapshot(cs, &s, offs);
	if (rc == 0 && fdatasync(fd) < 0)
		rc = -errno;
	if (rc == 0 && rename(cs->tmp, cs->path) < 0)
		rc = -errno;
	if (rc == 0 && fsync(cs->dirfd) < 0)
		rc = -errno;
	if (rc < 0)
		goto fail;
	if (lseek(fd, 0, SEEK_END) < 0) {
		rc = -errno;
		goto fail;
	}
	close(cs->fd);
	/* Append mode is not needed: only this process writes, always at the
	 * end; it reads requests back with pread. */
	cs->fd = fd;
	cs->st.bytes = s.written;
	cs->st.dead_bytes = 0;
	for (size_t i = 0; i < cs->n; i++) {
		cs->vec[i]->open_bytes = 0;
		cs->vec[i]->chk_bytes = 0;
		cs->vec[i]->open_off = offs[i];
	}
	cs->st.compacted = 1;
	free(offs);
	free(s.buf);
	return 0;
fail:
	if (fd >= 0) {
		close(fd);
		unlink(cs->tmp);
	}
	free(offs);
	free(s.buf);
	return rc;
}

/* The journal is read through a window of REPLAY_WINDOW bytes (more for a
 * larger record): replay needs memory for one record, not for the file,
 * which holds every request ever screened (a few KB each). */
#define REPLAY_WINDOW (1u << 20)

struct rwin {
	unsigned char *p;
	size_t cap, n;
	uint64_t base;           /* file offset of p[0]; p holds [base, base + n) */
};

/* Makes the `need` bytes of the file at `off` (which the file has: the
 * caller checked against its size) readable at w->p + (off - w->base). */
static int rwin_need(int fd, struct rwin *w, uint64_t off, size_t need, uint64_t size)
{
	size_t keep = 0, want;

	if (off >= w->base && off + need <= w->base + w->n)
		return 0;
	if (off >= w->base && off < w->base + w->n) {
		keep = (size_t)(w->base + w->n - off);
		memmove(w->p, w->p + (off - w->base), keep);
	}
	w->base = off;
	w->n = keep;
	if (need > w->cap || !w->p) {
		size_t cap = need > REPLAY_WINDOW ? need : REPLAY_WINDOW;
		unsigned char *p = realloc(w->p, cap);

		if (!p)
			return -ENOMEM;
		w->p = p;
		w->cap = cap;
	}
	want = size - off < w->cap ? (size_t)(size - off) : w->cap;
	while (w->n < want) {
		ssize_t k = pread(fd, w->p + w->n, want - w->n, (off_t)(off + w->n));

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -errno : -EIO;
		w->n += (size_t)k;
	}
	return 0;
}

static int replay(struct cases *cs, char *err, size_t errlen)
{
	struct stat sb;
	struct rwin w = { 0 };
	size_t size, off = 0, good_end = 0;
	int rc = 0;

	if (fstat(cs->fd, &sb) < 0)
		return -errno;
	size = (size_t)sb.st_size;
	if (size == 0)
		return 0;
	while (off < size) {
		const unsigned char *rec;
		uint32_t len, crc;
		json_t *r;

		if (size - off < 8)
			break;                           /* torn header */
		rc = rwin_need(cs->fd, &w, off, 8, size);
		if (rc < 0)
			break;
		len = get_u32(w.p + (off - w.base));
		crc = get_u32(w.p + (off - w.base) + 4);
		if (len > CASES_MAX_RECORD || len > size - off - 8)
			break;                           /* torn or garbage length */
		rc = rwin_need(cs->fd, &w, off, 8 + (size_t)len, size);
		if (rc < 0)
			break;
		rec = w.p + (off - w.base) + 8;
		if (crc32_buf(rec, len) != crc) {
			if (off + 8 + len == size)
				break;                   /* the last record: torn */
			log_warn("%s: record at byte %zu has a bad CRC; skipped", cs->path, off);
			cs->st.corrupt++;
			cs->st.dead_bytes += 8 + len;
			off += 8 + len;
			good_end = off;
			continue;
		}
		r = json_loadb((const char *)rec, len, 0, NULL);
		if (!r || apply(cs, r, len + 8, off, 0) < 0) {
			log_warn("%s: record at byte %zu does not fit; skipped", cs->path, off);
			cs->st.corrupt++;
			cs->st.dead_bytes += 8 + len;
		}
		json_decref(r);
		off += 8 + len;
		good_end = off;
	}
	free(w.p);
	if (rc < 0) {
		snprintf(err, errlen, "%s: read: %s", cs->path, strerror(-rc));
		return rc;
	}
	if (good_end < size) {
		log_warn("%s: cut %zu bytes of a record torn at byte %zu (a crash mid-write)",
			 cs->path, size - good_end, good_end);
		cs->st.torn++;
		if (ftruncate(cs->fd, (off_t)good_end) < 0 || fdatasync(cs->fd) < 0) {
			rc = -errno;
			snprintf(err, errlen, "%s: cannot cut the torn tail: %s", cs->path,
				 strerror(-rc));
			return rc;
		}
	}
	cs->st.bytes = good_end;
	return 0;
}

int cases_open(uv_loop_t *loop, const char *state_dir, struct cases **out, char *err,
	       size_t errlen)
{
	struct cases *cs = calloc(1, sizeof(*cs));
	char dir[PATH_MAX];
	int rc;

	*out = NULL;
	if (!cs) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	cs->fd = cs->dirfd = -1;
	cs->loop = loop;
	cs->pool = calloc(POOL_BUCKETS, sizeof(*cs->pool));
	if (!cs->pool) {
		free(cs);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (snprintf(dir, sizeof(dir), "%s/cases", state_dir) >= (int)sizeof(dir) ||
	    snprintf(cs->path, sizeof(cs->path), "%s/journal", dir) >= (int)sizeof(cs->path) ||
	    snprintf(cs->tmp, sizeof(cs->tmp), "%s/journal.tmp", dir) >= (int)sizeof(cs->tmp)) {
		rc = -ENAMETOOLONG;
		snprintf(err, errlen, "%s/cases: path too long", state_dir);
		goto fail;
	}
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		goto fail;
	}
	cs->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cs->fd = open(cs->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (cs->dirfd < 0 || cs->fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", cs->path, strerror(errno));
		goto fail;
	}
	unlink(cs->tmp);
	rc = replay(cs, err, errlen);
	if (rc < 0)
		goto fail;
	if (cs->st.bytes > 65536 && cs->st.dead_bytes * 2 > cs->st.bytes) {
		unsigned long long before = cs->st.bytes;

		rc = compact(cs);
		if (rc < 0) {
			snprintf(err, errlen, "%s: compaction: %s", cs->path, strerror(-rc));
			goto fail;
		}
		log_notice("%s: compacted %llu -> %llu bytes", cs->path, before, cs->st.bytes);
	} else if (lseek(cs->fd, 0, SEEK_END) < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", cs->path, strerror(errno));
		goto fail;
	}
	if (!cs->tabcap && (rc = tab_grow(cs)) < 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	uv_timer_init(loop, &cs->timer);
	cs->timer.data = cs;
	*out = cs;
	return 0;
fail:
	cases_free(cs);
	return rc;
}

void cases_shutdown(struct cases *cs, void (*cb)(void *data), void *data)
{
	cs->closing = 1;
	cs->shutdown_cb = cb;
	cs->shutdown_data = data;
	if (cs->timer_armed) {
		uv_timer_stop(&cs->timer);
		cs->timer_armed = 0;
	}
	flush(cs);
	maybe_shutdown_done(cs);
}

void cases_free(struct cases *cs)
{
	if (!cs)
		return;
	for (size_t i = 0; i < cs->n; i++) {
		versions_clear(cs, cs->vec[i]);
		pool_put(cs, cs->vec[i]->policy);
		free(cs->vec[i]->v);
		free(cs->vec[i]->pending_request);
		free(cs->vec[i]);
	}
	for (size_t i = 0; i < cs->n_pol; i++)
		free(cs->pol[i].lists);
	free(cs->pol);
	free(cs->pool);
	free(cs->vec);
	free(cs->tab);
	free(cs->q);
	free(cs->qcbs);
	if (cs->fd >= 0)
		close(cs->fd);
	if (cs->dirfd >= 0)
		close(cs->dirfd);
	free(cs);
}
