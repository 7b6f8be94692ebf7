/* lists_update.c - downloads the configured lists, validates them with the list loaders and swaps them in atomically.
 *
 * One list at a time, in the folder of its files:
 *   1. flock(2) the folder (one updater per folder), remove staging folders
 *      a crashed run left behind;
 *   2. mkdtemp a staging folder ".kvscreen-update.XXXXXX" beside the files
 *      (same filesystem, so rename(2) is atomic) and download every file of
 *      the list into it under its final name: bounded in bytes, connect and
 *      total time, redirects, and protocols (https only unless allow_http);
 *   3. load the staged list with the daemon's own loader, and the current
 *      one; refuse a download that does not load, has no entries, has more
 *      malformed rows than allowed, or shrinks by more than
 *      max_shrink_percent;
 *   4. fsync each staged file, then rename each over the current one and
 *      fsync the folder.  For a list of several files (OFAC) the current
 *      files are first hard-linked into the staging folder, so a rename that
 *      fails half-way is rolled back and the old set is whole again.
 * Whatever fails before step 4 leaves the current files untouched.  A crash
 * (power loss) in the middle of step 4 can leave some files of a multi-file
 * list new and some old, each complete; the next update replaces them all.
 */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cfg.h"
#include "plugin_host.h"
#include "lists.h"
#include "lists_source.h"
#include "lists_update.h"

#define STAGE_PREFIX ".kvscreen-update."

/* One list file (or file family) an enabled plugin names. */
struct target {
	char *format, *name, *path;
	enum kvs_severity severity;
	const char *plugin;
};

struct run {
	const struct kvs_cfg *cfg;
	const struct cfg_lists *lc;
	const struct lists_update_opts *opts;
	struct target *t;
	size_t n_t;
	struct lists_source *src;
	size_t n_src;
};

/* The files of one list in its folder: names[0] is the configured file. */
struct fileset {
	size_t n;
	char names[LISTS_UPDATE_MAX_FILES][NAME_MAX + 1];
};

/* ---- sources ---- */

static struct lists_source *find_source(struct run *r, const char *name)
{
	for (size_t i = 0; i < r->n_src; i++)
		if (strcmp(r->src[i].name, name) == 0)
			return &r->src[i];
	return NULL;
}

/* The configured sources, then the built-in ones for names not configured. */
static int load_sources(struct run *r)
{
	size_t n = 0, cap = 0;
	char err[256];

	for (size_t i = 0; r->lc->sources && r->lc->sources[i]; i++)
		cap++;
	for (size_t i = 0; lists_source_defaults[i]; i++)
		cap++;
	cap++;
	r->src = calloc(cap, sizeof(*r->src));
	if (!r->src)
		return -ENOMEM;
	for (int pass = 0; pass < 2; pass++) {
		const char *const *v = pass ? lists_source_defaults : (const char *const *)r->lc->sources;

		for (size_t i = 0; v && v[i]; i++) {
			struct lists_source s;
			int rc = lists_source_parse(v[i], 1, &s, err, sizeof(err));

			if (rc < 0) {
				/* cfg_load() checked them: only ENOMEM. */
				fprintf(r->opts->err, "kvscreen lists: lists.sources: %s\n", err);
				return rc;
			}
			r->n_src = n;
			if (find_source(r, s.name)) {
				if (!pass)
					fprintf(r->opts->err, "kvscreen lists: warning: lists.sources names %s twice; the first entry counts\n",
						s.name);
				lists_source_clear(&s);
				continue;
			}
			s.builtin = pass;
			r->src[n++] = s;
		}
	}
	r->n_src = n;
	return 0;
}

/* ---- targets: the lists the enabled plugins name ---- */

static void free_targets(struct run *r)
{
	for (size_t i = 0; i < r->n_t; i++) {
		free(r->t[i].format);
		free(r->t[i].name);
		free(r->t[i].path);
	}
	free(r->t);
	r->t = NULL;
	r->n_t = 0;
}

static int add_target(struct run *r, const char *spec, const char *plugin, const char *key,
		      const config_setting_t *at, struct cfg_errors *e)
{
	const char *c1 = strchr(spec, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	const char *c3 = c2 ? strchr(c2 + 1, ':') : NULL;
	struct target t = { .plugin = plugin };
	struct target *v;
	char sev[16];
	int s;

	if (!c3 || c1 == spec || c2 == c1 + 1 || !c3[1] || (size_t)(c3 - c2 - 1) >= sizeof(sev)) {
		cfg_error_at(e, at, "plugins.%s.%s: \"%s\" is not format:name:severity:path",
			     plugin, key, spec);
		return -EINVAL;
	}
	memcpy(sev, c2 + 1, (size_t)(c3 - c2 - 1));
	sev[c3 - c2 - 1] = '\0';
	s = lists_severity_parse(sev);
	t.format = strndup(spec, (size_t)(c1 - spec));
	t.name = strndup(c1 + 1, (size_t)(c2 - c1 - 1));
	t.path = cfg_resolve_path(r->cfg->dir, c3 + 1);
	if (!t.format || !t.name || !t.path)
		goto nomem;
	if (s < 0 || !lists_format_find(t.format)) {
		cfg_error_at(e, at, "plugins.%s.%s: \"%s\": %s", plugin, key, spec,
			     s < 0 ? "unknown severity" : "unknown list format");
		free(t.format);
		free(t.name);
		free(t.path);
		return -EINVAL;
	}
	t.severity = (enum kvs_severity)s;
	/* The same file named by several plugins is updated once. */
	for (size_t i = 0; i < r->n_t; i++) {
		if (strcmp(r->t[i].path, t.path) == 0) {
			free(t.format);
			free(t.name);
			free(t.path);
			return 0;
		}
	}
	v = realloc(r->t, (r->n_t + 1) * sizeof(*v));
	if (!v)
		goto nomem;
	r->t = v;
	r->t[r->n_t++] = t;
	return 0;
nomem:
	free(t.format);
	free(t.name);
	free(t.path);
	return -ENOMEM;
}

/* The lists one option of plugin cp names (its KVS_OPT_LISTS options). */
static int collect_option(struct run *r, const struct cfg_plugin *cp, const char *key,
			  struct cfg_errors *ep)
{
	const config_setting_t *l = config_setting_get_member(cp->group, key);
	int rc = 0, n, t;

	{
		if (!l)
			return 0;
		t = config_setting_type(l);
		if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST) {
			cfg_error_at(ep, l, "plugins.%s.%s: expected a list of strings", cp->name, key);
			return -EINVAL;
		}
		n = config_setting_length(l);
		for (int k = 0; k < n; k++) {
			const config_setting_t *el = config_setting_get_elem(l, (unsigned)k);
			const char *spec = config_setting_get_string(el);
			int x;

			if (!spec) {
				cfg_error_at(ep, el, "plugins.%s.%s[%d]: expected a string", cp->name,
					     key, k);
				rc = -EINVAL;
				continue;
			}
			x = add_target(r, spec, cp->name, key, el, ep);
			if (x == -ENOMEM)
				return x;
			if (x < 0)
				rc = x;
		}
	}
	return rc;
}

/* The lists to update: those named by the options of type KVS_OPT_LISTS
 * that each enabled plugin's descriptor declares (read without running
 * plugin code), whatever the options are called. */
static int collect_targets(struct run *r)
{
	struct cfg_errors e = { .out = r->opts->err };
	int rc = 0;

	for (size_t i = 0; i < r->cfg->n_plugins; i++) {
		const struct cfg_plugin *cp = &r->cfg->plugins[i];
		const struct kvs_plugin *desc;
		struct kvs_option *opts;
		char err[1024];
		void *dl;
		int x = 0;

		if (!cp->enabled)
			continue;
		if (plugin_open(cp->path, &dl, &desc, err, sizeof(err)) < 0) {
			cfg_error_at(&e, cp->group, "plugin %s: %s", cp->name, err);
			rc = -EINVAL;
			continue;
		}
		opts = plugin_options(desc);
		for (const struct kvs_option *o = opts; o && o->name && x != -ENOMEM; o++)
			if (o->type == KVS_OPT_LISTS && (x = collect_option(r, cp, o->name, &e)) < 0)
				rc = x;
		if (!opts)
			rc = x = -ENOMEM;
		free(opts);
		plugin_close(dl);
		if (x == -ENOMEM)
			return x;
	}
	return rc;
}

/* The files of target t: the configured one, and for OFAC's legacy CSV the
 * alias and address files beside it, named as lists_ofac.c reads them. */
static int target_files(const struct target *t, struct fileset *fs, const char **base)
{
	const char *slash = strrchr(t->path, '/');
	const char *b = slash ? slash + 1 : t->path;

	memset(fs, 0, sizeof(*fs));
	if (!*b || strlen(b) > NAME_MAX)
		return -EINVAL;
	strcpy(fs->names[0], b);
	fs->n = 1;
	if (strcmp(t->format, "ofac") == 0) {
		const char *pre = strncmp(b, "cons_", 5) == 0 ? "cons_" : "";

		snprintf(fs->names[1], sizeof(fs->names[1]), "%salt.csv", pre);
		snprintf(fs->names[2], sizeof(fs->names[2]), "%sadd.csv", pre);
		fs->n = 3;
	}
	*base = b;
	return 0;
}

/* ---- download ---- */

struct sink {
	int fd;
	long long got, max;
	int too_big;
	int werr;
};

static size_t sink_write(char *p, size_t size, size_t n, void *data)
{
	struct sink *s = data;
	size_t len = size * n, off = 0;

	if (s->got + (long long)len > s->max) {
		s->too_big = 1;
		return 0;
	}
	while (off < len) {
		ssize_t w = write(s->fd, p + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			s->werr = w < 0 ? errno : EIO;
			return 0;
		}
		off += (size_t)w;
	}
	s->got += (long long)len;
	return len;
}

/* Download url into the new file dst (mode, and owner when root).  On
 * failure returns a negative errno with the reason in why. */
static int download(const struct cfg_lists *lc, const char *url, const char *dst,
		    const struct stat *like, long long *bytes, char *why, size_t wl)
{
	char ebuf[CURL_ERROR_SIZE] = "";
	struct sink s = { .fd = -1, .max = lc->max_download_bytes };
	const char *protos = lc->allow_http ? "http,https" : "https";
	long status = 0;
	CURLcode cc;
	CURL *c = NULL;
	int rc;

	s.fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (s.fd < 0) {
		rc = -errno;
		snprintf(why, wl, "cannot create %.400s: %s", dst, strerror(errno));
		return rc;
	}
	c = curl_easy_init();
	if (!c) {
		snprintf(why, wl, "out of memory");
		rc = -ENOMEM;
		goto fail;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, protos);
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, protos);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, lc->max_redirects > 0 ? 1L : 0L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, (long)lc->max_redirects);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)lc->connect_timeout_ms);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)lc->timeout_ms);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)lc->max_download_bytes);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(c, CURLOPT_USERAGENT, "kvscreen/" PACKAGE_VERSION " (lists update)");
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
	if (lc->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, lc->ca_file);
	cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (s.too_big || cc == CURLE_FILESIZE_EXCEEDED) {
		snprintf(why, wl, "larger than lists.max_download_bytes (%lld bytes)",
			 lc->max_download_bytes);
		rc = -EFBIG;
		goto fail;
	}
	if (s.werr) {
		snprintf(why, wl, "cannot write %.400s: %s", dst, strerror(s.werr));
		rc = -s.werr;
		goto fail;
	}
	if (cc != CURLE_OK) {
		snprintf(why, wl, "%s%s%s", cc == CURLE_OPERATION_TIMEDOUT ? "timed out: " : "",
			 ebuf[0] ? ebuf : curl_easy_strerror(cc),
			 cc == CURLE_TOO_MANY_REDIRECTS ? " (lists.max_redirects)" : "");
		rc = cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -EIO;
		goto fail;
	}
	if (status != 200) {
		snprintf(why, wl, "HTTP status %ld", status);
		rc = -EIO;
		goto fail;
	}
	if (s.got == 0) {
		snprintf(why, wl, "empty response");
		rc = -EIO;
		goto fail;
	}
	if (fchmod(s.fd, like ? like->st_mode & 07777 : 0644) < 0 ||
	    (like && geteuid() == 0 && fchown(s.fd, like->st_uid, like->st_gid) < 0) ||
	    fsync(s.fd) < 0) {
		rc = -errno;
		snprintf(why, wl, "cannot write %.400s: %s", dst, strerror(errno));
		goto fail;
	}
	rc = close(s.fd) < 0 ? -errno : 0;
	s.fd = -1;
	if (rc < 0) {
		snprintf(why, wl, "cannot write %.400s: %s", dst, strerror(-rc));
		goto fail;
	}
	curl_easy_cleanup(c);
	*bytes = s.got;
	return 0;
fail:
	if (s.fd >= 0)
		close(s.fd);
	if (c)
		curl_easy_cleanup(c);
	return rc;
}

/* ---- staging folders ---- */

/* out = a/b; -ENAMETOOLONG when it does not fit. */
static int join(char *out, size_t n, const char *a, const char *b)
{
	int w = snprintf(out, n, "%s/%s", a, b);

	return w < 0 || (size_t)w >= n ? -ENAMETOOLONG : 0;
}

/* Remove a staging folder: the regular files in it, then itself. */
static void remove_stage(const char *stage)
{
	DIR *d = opendir(stage);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		char p[PATH_MAX];

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (join(p, sizeof(p), stage, de->d_name) == 0)
			unlink(p);
	}
	closedir(d);
	rmdir(stage);
}

/* With the folder locked, any staging folder in it is a crashed run's. */
static void remove_stale_stages(const char *dir, FILE *err)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		char p[PATH_MAX];
		struct stat st;

		if (strncmp(de->d_name, STAGE_PREFIX, strlen(STAGE_PREFIX)) != 0)
			continue;
		if (join(p, sizeof(p), dir, de->d_name) < 0 || lstat(p, &st) < 0 ||
		    !S_ISDIR(st.st_mode))
			continue;
		fprintf(err, "kvscreen lists update: removing %s, left by an interrupted update\n", p);
		remove_stage(p);
	}
	closedir(d);
}

/* ---- validation ---- */

struct diag {
	const char *stage;     /* the staging folder: its files are downloads */
	const struct fileset *fs;
	size_t n_urls;         /* files 0..n_urls-1 of fs were downloaded */
	int which;             /* the download of the first problem, or -1 */
	char first[512];       /* the first problem, "line N: msg" or "msg" */
	int n;
};

static void diag_cb(void *arg, const char *file, int line, int fatal, const char *msg)
{
	struct diag *d = arg;
	size_t sl = d->stage ? strlen(d->stage) : 0;

	(void)fatal;
	if (d->n++)
		return;
	d->which = -1;
	if (d->stage && file && strncmp(file, d->stage, sl) == 0 && file[sl] == '/')
		for (size_t i = 0; i < d->fs->n && i < d->n_urls; i++)
			if (strcmp(file + sl + 1, d->fs->names[i]) == 0)
				d->which = (int)i;
	if (line > 0)
		snprintf(d->first, sizeof(d->first), "line %d: %s", line, msg);
	else
		snprintf(d->first, sizeof(d->first), "%s", msg);
}

/* OFAC ends each of its legacy CSV files with a DOS end-of-file byte
 * (0x1A), perhaps followed by a line break: a file without it is cut off. */
static int has_eof_mark(const char *path)
{
	unsigned char b[8];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	off_t end;

	if (fd < 0)
		return 0;
	end = lseek(fd, 0, SEEK_END);
	n = end < 0 ? -1 : pread(fd, b, sizeof(b), end > 8 ? end - 8 : 0);
	close(fd);
	while (n > 0 && (b[n - 1] == '\n' || b[n - 1] == '\r'))
		n--;
	return n > 0 && b[n - 1] == 0x1a;
}

/* Make a message one line: control characters become spaces, trailing
 * ones go. */
static void one_line(char *s)
{
	size_t n;

	for (char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20)
			*p = ' ';
	n = strlen(s);
	while (n && s[n - 1] == ' ')
		s[--n] = '\0';
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- swap ---- */

int lists_update_swap(const char *dir, const char *stage, const char *const *names, size_t n,
		      char *why, size_t wl)
{
	char cur[LISTS_UPDATE_MAX_FILES][PATH_MAX], nu[LISTS_UPDATE_MAX_FILES][PATH_MAX];
	char old[LISTS_UPDATE_MAX_FILES][PATH_MAX];
	int had[LISTS_UPDATE_MAX_FILES] = { 0 };
	size_t done = 0;
	int dfd, rc = 0;

	if (n > LISTS_UPDATE_MAX_FILES) {
		snprintf(why, wl, "more than %d files", LISTS_UPDATE_MAX_FILES);
		return -EINVAL;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		rc = -errno;
		snprintf(why, wl, "cannot open %.400s: %s", dir, strerror(errno));
		return rc;
	}
	for (size_t i = 0; i < n; i++) {
		char oldname[NAME_MAX + 8];

		snprintf(oldname, sizeof(oldname), "old.%s", names[i]);
		if (join(cur[i], PATH_MAX, dir, names[i]) < 0 ||
		    join(nu[i], PATH_MAX, stage, names[i]) < 0 ||
		    join(old[i], PATH_MAX, stage, oldname) < 0) {
			rc = -ENAMETOOLONG;
			snprintf(why, wl, "path too long");
			goto out;
		}
		if (n == 1)
			continue;
		if (link(cur[i], old[i]) == 0) {
			had[i] = 1;
		} else if (errno != ENOENT) {
			rc = -errno;
			snprintf(why, wl, "cannot keep a link to %.400s for an all-or-nothing swap: %s",
				 cur[i], strerror(errno));
			goto out;
		}
	}
	for (; done < n; done++) {
		if (rename(nu[done], cur[done]) < 0) {
			rc = -errno;
			snprintf(why, wl, "cannot rename the new %s into place: %s; %s",
				 names[done], strerror(errno),
				 done ? "the files renamed before it were put back" : "nothing was replaced");
			break;
		}
	}
	if (rc < 0) {
		while (done-- > 0) {
			if (had[done])
				rename(old[done], cur[done]);
			else
				unlink(cur[done]);
		}
	}
	if (fsync(dfd) < 0 && rc == 0) {
		rc = -errno;
		snprintf(why, wl, "fsync of %.400s failed: %s (the new files are in place)", dir,
			 strerror(errno));
	}
out:
	close(dfd);
	return rc;
}

/* ---- one list ---- */

/* Plugins' list_dates entries date the shipped snapshots of lists whose
 * files carry no date; once such a list is updated an entry without the
 * snapshot's digest would keep dating it (and report it stale). */
static void warn_list_dates(const struct run *r, const char *name)
{
	size_t nl = strlen(name);

	for (size_t i = 0; i < r->cfg->n_plugins; i++) {
		const struct cfg_plugin *cp = &r->cfg->plugins[i];
		const config_setting_t *d = cp->enabled ? config_setting_get_member(cp->group, "list_dates")
							 : NULL;
		int n = d && config_setting_is_aggregate(d) ? config_setting_length(d) : 0;

		for (int k = 0; k < n; k++) {
			const config_setting_t *el = config_setting_get_elem(d, (unsigned)k);
			const char *v = config_setting_get_string(el);

			/* An entry bound to the snapshot's digest stops
			 * applying by itself. */
			if (v && strncmp(v, name, nl) == 0 && v[nl] == '=' && !strchr(v, '@'))
				fprintf(r->opts->err, "%s:%d: note: plugins.%s.list_dates still dates %s \"%s\": remove that entry, or the updated list keeps that date (and is reported stale by it)\n",
					config_setting_source_file(el) ? config_setting_source_file(el) : "?",
					(int)config_setting_source_line(el), cp->name, name, v + nl + 1);
		}
	}
}

static void short_digest(const struct kvs_list *l, char out[17])
{
	snprintf(out, 17, "%.16s", l ? l->digest : "none");
}

/* One list's update, from lock to swap: what its phases share.  why and
 * url name the problem and the download it concerns once a phase fails. */
struct update {
	struct run *r;
	const struct target *t;
	const struct lists_source *s;
	struct fileset fs;
	char dir[PATH_MAX], stage[PATH_MAX], why[768];
	const char *url;
	struct lists_load_opts lo;
	struct diag dnew, dcur;
	struct kvs_list *nu, *cur;  /* the staged and the current list */
	long long total;            /* bytes downloaded */
	double t0;
	int lockfd, staged;
};

/* The list's folder u->dir, made if missing, locked (u->lockfd), and a
 * fresh staging folder u->stage in it. */
static int update_stage(struct update *u)
{
	const struct target *t = u->t;
	const char *base;

	if (target_files(t, &u->fs, &base) < 0) {
		snprintf(u->why, sizeof(u->why), "bad file name in %.400s", t->path);
		return -EINVAL;
	}
	if (u->s->n_urls > u->fs.n) {
		snprintf(u->why, sizeof(u->why), "lists.sources gives %zu URLs; format %s takes %zu file%s",
			 u->s->n_urls, t->format, u->fs.n, u->fs.n == 1 ? "" : "s");
		return -EINVAL;
	}
	if ((size_t)(base - t->path) >= sizeof(u->dir)) {
		snprintf(u->why, sizeof(u->why), "path too long");
		return -ENAMETOOLONG;
	}
	if (base == t->path) {
		strcpy(u->dir, ".");
	} else {
		memcpy(u->dir, t->path, (size_t)(base - t->path - 1));
		u->dir[base - t->path - 1] = '\0';
		if (!u->dir[0])
			strcpy(u->dir, "/");
	}
	/* A list never downloaded (eu_fsf on a fresh install) may lack its
	 * own folder: make it, the folder above must exist. */
	if (mkdir(u->dir, 0755) == 0)
		fprintf(u->r->opts->err, "kvscreen lists update: %s: made the folder %s\n", t->name,
			u->dir);
	u->lockfd = open(u->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (u->lockfd < 0) {
		int rc = -errno;

		snprintf(u->why, sizeof(u->why), "cannot open the folder %.400s: %s", u->dir,
			 strerror(-rc));
		return rc;
	}
	if (flock(u->lockfd, LOCK_EX | LOCK_NB) < 0) {
		int rc = -errno;

		snprintf(u->why, sizeof(u->why), "another kvscreen lists update is working in %.400s",
			 u->dir);
		return rc;
	}
	remove_stale_stages(u->dir, u->r->opts->err);
	if ((size_t)snprintf(u->stage, sizeof(u->stage), "%s/" STAGE_PREFIX "XXXXXX", u->dir) >=
	    sizeof(u->stage))
		errno = ENAMETOOLONG;
	else if (mkdtemp(u->stage))
		u->staged = 1;
	if (!u->staged) {
		int rc = -errno;

		snprintf(u->why, sizeof(u->why), "cannot make a staging folder in %.400s: %s", u->dir,
			 strerror(-rc));
		return rc;
	}
	return 0;
}

/* Download every file the source names into the staging folder; the
 * others of the set (an OFAC source with fewer URLs) are linked in as
 * they are. */
static int update_download(struct update *u)
{
	for (size_t i = 0; i < u->fs.n; i++) {
		char cur_p[PATH_MAX], new_p[PATH_MAX];
		struct stat st;
		int have, rc;

		if (join(cur_p, sizeof(cur_p), u->dir, u->fs.names[i]) < 0 ||
		    join(new_p, sizeof(new_p), u->stage, u->fs.names[i]) < 0) {
			snprintf(u->why, sizeof(u->why), "path too long");
			return -ENAMETOOLONG;
		}
		have = stat(cur_p, &st) == 0 && S_ISREG(st.st_mode);
		if (i < u->s->n_urls) {
			long long got = 0;

			u->url = u->s->urls[i];
			rc = download(u->r->lc, u->url, new_p, have ? &st : NULL, &got, u->why,
				      sizeof(u->why));
			if (rc < 0)
				return rc;
			u->total += got;
		} else if (have && link(cur_p, new_p) < 0) {
			rc = -errno;
			snprintf(u->why, sizeof(u->why), "cannot link %.400s into the staging folder: %s",
				 cur_p, strerror(errno));
			return rc;
		}
	}
	u->url = u->s->urls[0];
	return 0;
}

/* The staged list must load with the daemon's loader (u->nu), and a cut-off
 * OFAC file, which can still load, is refused by its missing end mark. */
static int update_load(struct update *u)
{
	const struct target *t = u->t;
	const struct lists_source *s = u->s;
	char staged_path[PATH_MAX];
	int rc;

	if (join(staged_path, sizeof(staged_path), u->stage, u->fs.names[0]) < 0) {
		snprintf(u->why, sizeof(u->why), "path too long");
		return -ENAMETOOLONG;
	}
	u->dnew.stage = u->stage;
	u->dnew.fs = &u->fs;
	u->dnew.n_urls = s->n_urls;
	u->lo.diag_arg = &u->dnew;
	rc = lists_load_private(t->format, staged_path, t->name, t->severity, &u->lo, &u->nu);
	if (rc < 0) {
		if (u->dnew.n && u->dnew.which >= 0)
			u->url = s->urls[u->dnew.which];
		snprintf(u->why, sizeof(u->why), "does not load as format %s: %s", t->format,
			 u->dnew.first[0] ? u->dnew.first : strerror(-rc));
		return rc;
	}
	for (size_t i = 0; strcmp(t->format, "ofac") == 0 && i < s->n_urls; i++) {
		char cur_p[PATH_MAX], new_p[PATH_MAX];

		if (join(cur_p, sizeof(cur_p), u->dir, u->fs.names[i]) == 0 &&
		    join(new_p, sizeof(new_p), u->stage, u->fs.names[i]) == 0 &&
		    has_eof_mark(cur_p) && !has_eof_mark(new_p)) {
			u->url = s->urls[i];
			snprintf(u->why, sizeof(u->why),
				 "refused: no end-of-file byte 0x1A at its end, which OFAC writes and the current %s has (cut off)",
				 u->fs.names[i]);
			return -EINVAL;
		}
	}
	return 0;
}

/* Compare the staged list with the current one (u->cur, if it loads):
 * refuse one that shrank by more than lists.max_shrink_percent or has
 * more malformed rows than lists.max_malformed_rows and the current. */
static int update_compare(struct update *u)
{
	const struct cfg_lists *lc = u->r->lc;
	const struct target *t = u->t;
	const struct kvs_list *nu, *cur;

	if (access(t->path, F_OK) == 0) {
		u->lo.diag_arg = &u->dcur;
		if (lists_load_private(t->format, t->path, t->name, t->severity, &u->lo, &u->cur) < 0)
			fprintf(u->r->opts->err, "kvscreen lists update: %s: warning: the current %s does not load (%s); it is replaced\n",
				t->name, t->path, u->dcur.first[0] ? u->dcur.first : "?");
	}
	nu = u->nu;
	cur = u->cur;
	u->url = u->s->urls[0];
	if (cur && cur->n_entries > 0 &&
	    (long double)nu->n_entries * 100 <
		    (long double)cur->n_entries * (long double)(100 - lc->max_shrink_percent)) {
		snprintf(u->why, sizeof(u->why),
			 "refused: %zu entries where the current file has %zu (more than lists.max_shrink_percent = %lld%% fewer)",
			 nu->n_entries, cur->n_entries, lc->max_shrink_percent);
		return -EINVAL;
	}
	if ((long long)nu->n_skipped > lc->max_malformed_rows &&
	    (!cur || nu->n_skipped > cur->n_skipped)) {
		if (u->dnew.which >= 0)
			u->url = u->s->urls[u->dnew.which];
		snprintf(u->why, sizeof(u->why),
			 "refused: %zu malformed rows (lists.max_malformed_rows = %lld, current file %zu), the first at %s",
			 nu->n_skipped, lc->max_malformed_rows, cur ? cur->n_skipped : 0,
			 u->dnew.first);
		return -EINVAL;
	}
	return 0;
}

/* Swap the staged files in (unless a dry run or unchanged) and report.
 * Returns 1 updated (or would be), 0 unchanged, or a negative errno. */
static int update_apply(struct update *u)
{
	const struct lists_update_opts *o = u->r->opts;
	const struct target *t = u->t;
	const struct kvs_list *nu = u->nu, *cur = u->cur;
	char a[17], b[17];

	short_digest(cur, a);
	short_digest(nu, b);
	if (cur && strcmp(cur->digest, nu->digest) == 0) {
		fprintf(o->out, "%s: unchanged: %zu entries, sha256 %s (%lld bytes in %.1f s)\n",
			t->name, nu->n_entries, b, u->total, now_s() - u->t0);
		return 0;
	}
	if (!o->dry_run) {
		const char *names[LISTS_UPDATE_MAX_FILES];
		int rc;

		for (size_t i = 0; i < u->s->n_urls; i++)
			names[i] = u->fs.names[i];
		rc = lists_update_swap(u->dir, u->stage, names, u->s->n_urls, u->why, sizeof(u->why));
		if (rc < 0)
			return rc;
	}
	fprintf(o->out,
		"%s: %s: %zu -> %zu entries, %zu -> %zu names, sha256 %s -> %s, %s (%lld bytes in %.1f s)\n",
		t->name, o->dry_run ? "would update (dry run)" : "updated",
		cur ? cur->n_entries : 0, nu->n_entries, cur ? cur->n_names : 0, nu->n_names, a, b,
		t->path, u->total, now_s() - u->t0);
	if (!o->dry_run && !nu->date)
		warn_list_dates(u->r, t->name);
	return 1;
}

/* Update target t from source s.  Returns 1 updated (or would be), 0
 * unchanged, or a negative errno after printing the one-line error. */
static int update_one(struct run *r, const struct target *t, const struct lists_source *s)
{
	struct update upd = { .r = r, .t = t, .s = s, .url = s->urls[0],
			      .lo = { .strict = 0, .diag = diag_cb }, .t0 = now_s(), .lockfd = -1 };
	struct update *u = &upd;
	int rc;

	rc = update_stage(u);
	if (rc == 0)
		rc = update_download(u);
	if (rc == 0)
		rc = update_load(u);
	if (rc == 0)
		rc = update_compare(u);
	if (rc == 0)
		rc = update_apply(u);
	if (rc < 0) {
		one_line(u->why);
		fprintf(r->opts->err, "kvscreen lists update: %s: %s: %s; the current files are unchanged\n",
			t->name, u->url, u->why);
	}
	lists_free(u->nu);
	lists_free(u->cur);
	if (u->staged)
		remove_stage(u->stage);
	if (u->lockfd >= 0)
		close(u->lockfd);
	return rc;
}

/* ---- entry points ---- */

static int selected(const struct lists_update_opts *o, const char *name)
{
	if (!o->only || !o->only[0])
		return 1;
	for (size_t i = 0; o->only[i]; i++)
		if (strcmp(o->only[i], name) == 0)
			return 1;
	return 0;
}

static void run_free(struct run *r)
{
	free_targets(r);
	for (size_t i = 0; i < r->n_src; i++)
		lists_source_clear(&r->src[i]);
	free(r->src);
}

static int run_init(struct run *r, const struct kvs_cfg *cfg, const struct lists_update_opts *o)
{
	int rc;

	memset(r, 0, sizeof(*r));
	r->cfg = cfg;
	r->lc = &cfg->lists;
	r->opts = o;
	rc = collect_targets(r);
	if (rc == 0)
		rc = load_sources(r);
	if (rc < 0)
		return rc;
	/* A configured source for a list no plugin uses is probably a typo. */
	for (size_t i = 0; i < r->n_src; i++) {
		int used = 0;

		for (size_t k = 0; k < r->n_t; k++)
			used |= strcmp(r->t[k].name, r->src[i].name) == 0;
		if (!used && !r->src[i].builtin)
			fprintf(o->err, "kvscreen lists: warning: lists.sources names %s, which no enabled plugin's lists use\n",
				r->src[i].name);
	}
	for (size_t i = 0; o->only && o->only[i]; i++) {
		int found = 0;

		for (size_t k = 0; k < r->n_t; k++)
			found |= strcmp(r->t[k].name, o->only[i]) == 0;
		if (!found) {
			fprintf(o->err, "kvscreen lists: no enabled plugin uses a list named %s\n",
				o->only[i]);
			return -ENOENT;
		}
	}
	return 0;
}

int lists_update_show(const struct kvs_cfg *cfg, FILE *out, FILE *err)
{
	struct lists_update_opts o = { .out = out, .err = err };
	struct run r;
	int rc = run_init(&r, cfg, &o);

	for (size_t i = 0; rc == 0 && i < r.n_t; i++) {
		const struct target *t = &r.t[i];
		const struct lists_source *s = find_source(&r, t->name);

		fprintf(out, "%s\t%s\t%s\t%s\t", t->name, t->format, lists_severity_name(t->severity),
			t->path);
		if (!s || !s->n_urls)
			fputs("(no source: not updated)", out);
		for (size_t k = 0; s && k < s->n_urls; k++)
			fprintf(out, "%s%s", k ? " " : "", s->urls[k]);
		fprintf(out, "%s\n", s && s->n_urls && s->builtin ? " (default)" : "");
	}
	run_free(&r);
	return rc;
}

int lists_update_run(const struct kvs_cfg *cfg, const struct lists_update_opts *o,
		     struct lists_update_result *res)
{
	struct run r;
	int rc;

	memset(res, 0, sizeof(*res));
	rc = run_init(&r, cfg, o);
	if (rc < 0)
		goto out;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	for (size_t i = 0; i < r.n_t; i++) {
		const struct target *t = &r.t[i];
		const struct lists_source *s = find_source(&r, t->name);
		int x;

		if (!selected(o, t->name))
			continue;
		if (!s || !s->n_urls) {
			fprintf(o->out, "%s: no source (lists.sources): not updated\n", t->name);
			if (o->only && o->only[0]) {
				fprintf(o->err, "kvscreen lists update: %s: no source in lists.sources; the current files are unchanged\n",
					t->name);
				res->failed++;
			} else {
				res->skipped++;
			}
			continue;
		}
		x = update_one(&r, t, s);
		if (x < 0) {
			res->failed++;
		} else if (x == 0) {
			res->unchanged++;
		} else {
			res->updated++;
		}
	}
	curl_global_cleanup();
	rc = res->failed ? -EIO : 0;
out:
	run_free(&r);
	return rc;
}
