/* lists_host.c - the list service as the plugin ABI offers it.
 *
 * Thin adapters from the struct kvs_host lists_* members to lists.c and
 * namematch.c: paths resolved against the plugin's configuration file,
 * diagnostics turned into host log lines or configuration errors, and
 * matches of several lists merged into one best-first array.  What it
 * needs of the plugin host comes through struct lists_host_env, so this
 * file includes nothing of the host.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lists.h"
#include "lists_host.h"
#include "namematch.h"

#define MATCH_MAX_PER_LIST 64

struct diag_arg {
	const struct lists_host_env *env;
	int strict;
};

static void env_error(const struct lists_host_env *env, const char *file, int line,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void env_error(const struct lists_host_env *env, const char *file, int line,
		      const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!env || !env->load.error)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	env->load.error(env->load.arg, file, line, msg);
}

static void env_warn(const struct lists_host_env *env, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void env_warn(const struct lists_host_env *env, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!env || !env->warn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	env->warn(env->load.arg, msg);
}

static void host_diag(void *arg, const char *file, int line, int fatal,
		      const char *msg)
{
	struct diag_arg *d = arg;

	if (fatal)
		env_error(d->env, file, line, "%s", msg);
	else
		env_warn(d->env, "%s:%d: %s (row skipped)", file, line, msg);
}

/* A list is policy: its file, or every file of its folder, goes into the
 * policy digest. */
static void add_to_digest(const struct lists_host_env *env, const char *abs)
{
	struct dirent **names;
	struct stat st;
	int n;

	if (!env || !env->load.add_file || stat(abs, &st) != 0)
		return;
	if (S_ISREG(st.st_mode)) {
		(void)env->load.add_file(env->load.arg, abs);
		return;
	}
	if (!S_ISDIR(st.st_mode))
		return;
	n = scandir(abs, &names, NULL, alphasort);
	for (int i = 0; i < n; i++) {
		char *p;

		if (names[i]->d_name[0] != '.' &&
		    asprintf(&p, "%s/%s", abs, names[i]->d_name) >= 0) {
			if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
				(void)env->load.add_file(env->load.arg, p);
			free(p);
		}
		free(names[i]);
	}
	if (n >= 0)
		free(names);
}

int lists_host_load(const struct lists_host_env *env, const char *format,
		    const char *path, const char *list_name,
		    enum kvs_severity severity, int strict,
		    struct kvs_list **out)
{
	struct diag_arg d = { .env = env, .strict = strict };
	struct lists_load_opts opts = {
		.strict = strict, .diag = host_diag, .diag_arg = &d,
	};
	char *abs;
	int rc;

	*out = NULL;
	if (!format || !path || !list_name)
		return -EINVAL;
	abs = load_env_resolve_path(env ? env->load.base_dir : NULL, path);
	if (!abs)
		return -ENOMEM;
	/* A list `kvscreen lists update` can fetch but has not fetched yet
	 * (a fresh install: the EU FSF list is not shipped) is no reason to
	 * refuse the configuration: it stands in as an empty placeholder, and
	 * the plugins say in every verdict that it is missing. */
	if (access(abs, F_OK) < 0 && errno == ENOENT && lists_format_find(format) &&
	    env && env->has_source && env->has_source(env->load.arg, list_name)) {
		rc = lists_placeholder(format, abs, list_name, severity, out);
		if (rc == 0)
			env_warn(env,
				"list \"%s\" (%s) is not downloaded yet: nothing is screened "
				"against it (every verdict names it in the plugin's lists_missing) until "
				"\"kvscreen lists update\" has fetched it", list_name, abs);
		free(abs);
		return rc;
	}
	rc = lists_load(format, abs, list_name, severity, &opts, out);
	if (rc == -ENOTSUP)
		env_error(env, NULL, 0,
			"unknown list format \"%s\" (ofac, csl, un, eu, eu_fsf, aspi, kvs, table, opensanctions)",
			format);
	else if (rc < 0)
		/* At the configuration entry naming it when the host loads it
		 * for a KVS_OPT_LISTS option, else at the file. */
		env_error(env, env && env->at_entry ? NULL : abs, 0,
			"list \"%s\" (%s) not loaded: %s", list_name, abs, strerror(-rc));
	else
		add_to_digest(env, abs);
	free(abs);
	return rc;
}

void lists_host_release(struct kvs_list *list)
{
	lists_release(list);
}

/* The name matcher's working memory of the calling thread, kept from name
 * to name (making it per name cost 15% of a match) and freed when the
 * thread exits. */
static __thread struct nm_scratch *tls_scratch;
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_destroy(void *p)
{
	nm_scratch_fini(p);
	free(p);
	tls_scratch = NULL;
}

static void scratch_key_init(void)
{
	(void)pthread_key_create(&scratch_key, scratch_destroy);
}

static struct nm_scratch *scratch_get(void)
{
	struct nm_scratch *sc = tls_scratch;

	if (sc)
		return sc;
	pthread_once(&scratch_once, scratch_key_init);
	sc = calloc(1, sizeof(*sc));
	if (!sc)
		return NULL;
	if (pthread_setspecific(scratch_key, sc) != 0) {
		free(sc);
		return NULL;
	}
	return tls_scratch = sc;
}

/* Matches into an array of the host's struct kvs_list_match. */
static int match_into(const struct kvs_list *const *lists, size_t n,
		      const char *name, size_t len, double threshold,
		      struct kvs_list_match *out, size_t max_out)
{
	struct nm_hit hits[MATCH_MAX_PER_LIST];
	struct nm_scratch *sc = scratch_get();
	size_t nout = 0;
	int total = 0, rc;

	if (!sc)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct kvs_list *l = lists[i];

		if (!l || !l->index)
			continue;
		rc = nm_match_name(l, name, len, threshold, 0, hits,
				   MATCH_MAX_PER_LIST, sc);
		if (rc < 0) {
			/* Start from clean memory after a failure. */
			nm_scratch_fini(sc);
			return rc;
		}
		total += rc;
		for (int k = 0; k < rc && k < MATCH_MAX_PER_LIST; k++) {
			const struct nm_hit *h = &hits[k];
			struct kvs_list_match m = {
				.size = sizeof(struct kvs_list_match),
				.list = l->name,
				.entry_id = h->entry->id ? h->entry->id : "",
				.primary_name = h->entry->name,
				.matched_name = h->matched,
				.normalised = h->norm,
				.country = h->entry->country,
				.program = h->entry->program,
				.reason = h->entry->reason,
				.score = h->score,
				.cov_query = h->cov_query,
				.cov_name = h->cov_name,
				.severity = h->entry->severity,
				.kind = h->entry->kind,
				.birthdate = h->entry->birthdate,
				.nationality = h->entry->nationality,
			};
			size_t j;

			/* Insert by score; equal scores keep list order. */
			if (nout == max_out &&
			    (!max_out || out[max_out - 1].score >= m.score))
				continue;
			if (nout == max_out)
				nout--;
			for (j = nout; j > 0 && out[j - 1].score < m.score; j--)
				out[j] = out[j - 1];
			out[j] = m;
			nout++;
		}
	}
	return total;
}

#define MATCH_MAX_OUT 4096

int lists_host_match(const struct kvs_list *const *lists, size_t n,
		     const char *name, size_t len, double threshold,
		     struct kvs_list_match *out, size_t max_out)
{
	struct kvs_list_match *tmp;
	size_t stride;
	int rc;

	if (!max_out)
		return match_into(lists, n, name, len, threshold, out, 0);
	stride = out->size;
	if (stride < KVS_ABI3_LIST_MATCH_SIZE)
		return -EINVAL;
	if (stride == sizeof(*out))
		return match_into(lists, n, name, len, threshold, out, max_out);
	/* A plugin built with another size: match into the host's layout, then
	 * write each element with the plugin's size (no byte beyond it). */
	if (max_out > MATCH_MAX_OUT)
		max_out = MATCH_MAX_OUT;
	tmp = calloc(max_out, sizeof(*tmp));
	if (!tmp)
		return -ENOMEM;
	rc = match_into(lists, n, name, len, threshold, tmp, max_out);
	for (size_t i = 0; rc > 0 && i < max_out && i < (size_t)rc; i++) {
		char *dst = (char *)out + i * stride;

		tmp[i].size = (uint32_t)stride;
		memcpy(dst, &tmp[i], stride < sizeof(*tmp) ? stride : sizeof(*tmp));
		if (stride > sizeof(*tmp))
			memset(dst + sizeof(*tmp), 0, stride - sizeof(*tmp));
	}
	free(tmp);
	return rc;
}

int lists_host_info(const struct kvs_list *l, struct kvs_list_info *out)
{
	struct kvs_list_info in = { .size = sizeof(in) };
	size_t size = out->size;

	if (size < KVS_ABI3_LIST_INFO_SIZE)
		return -EINVAL;
	in.name = l->name;
	in.format = l->format;
	in.path = l->path;
	in.version = l->version;
	in.date = l->date;
	in.digest = l->digest;
	in.entries = l->n_entries;
	in.names = l->n_names;
	in.skipped = l->n_skipped;
	in.severity = l->severity;
	in.mtime = l->mtime_ns / 1000000000LL;
	/* No byte beyond the plugin's size; members the host does not know
	 * are zeroed. */
	in.size = (uint32_t)size;
	memcpy(out, &in, size < sizeof(in) ? size : sizeof(in));
	if (size > sizeof(in))
		memset((char *)out + sizeof(in), 0, size - sizeof(in));
	return 0;
}

int lists_host_normalise(const char *name, size_t len, char *buf,
			 size_t buflen)
{
	struct nm_name *nn = malloc(sizeof(*nn));
	int rc;

	if (!nn)
		return -ENOMEM;
	rc = nm_normalise(name, len, nn);
	if (rc == 0 && buflen)
		snprintf(buf, buflen, "%s", nn->norm);
	else if (buflen)
		buf[0] = '\0';
	free(nn);
	return rc;
}
