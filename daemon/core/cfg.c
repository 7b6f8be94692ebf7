/* cfg.c - loads kvscreend.conf (libconfig) and checks every setting.
 *
 * Groups are parsed with option tables (struct kvs_option, the same
 * mechanism plugins use), so every key is declared once with its type,
 * default and help, unknown keys are errors, and every error names the
 * file and line libconfig recorded for the setting.  Plugin groups are
 * checked here only for the host's own keys; their plugin keys are parsed
 * by plugin_host.c once the plugin's option table is known.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg.h"
#include "load_env.h"
#include "lists.h"
#include "lists_source.h"
#include "log.h"

#define D(f) offsetof(struct cfg_daemon, f)
const struct kvs_option cfg_daemon_options[] = {
	{ "listen", KVS_OPT_STRING, "127.0.0.1:8710", D(listen),
	  "TCP address:port of the HTTP API (loopback by default); empty disables TCP", 0, 0, 0, NULL, NULL },
	{ "socket", KVS_OPT_STRING, "/run/kvscreend/kvscreend.sock", D(socket),
	  "path of the HTTP API's Unix socket; empty disables it", 0, 0, 0, NULL, NULL },
	{ "socket_mode", KVS_OPT_STRING, "0660", D(socket_mode),
	  "file mode of the Unix socket, in octal as a string", 0, 0, 0, NULL, NULL },
	{ "socket_group", KVS_OPT_STRING, "", D(socket_group),
	  "group owning the Unix socket; empty keeps the daemon's group", 0, 0, 0, NULL, NULL },
	{ "state_dir", KVS_OPT_STRING, "/var/lib/kvscreend", D(state_dir),
	  "folder of the spool, the outbox and the verdict store", 0, 0, 0, NULL, NULL },
	{ "token_file", KVS_OPT_STRING, "", D(token_file),
	  "file of bearer tokens for the TCP API; empty creates STATE_DIR/api-token", 0, 0, 0, NULL, NULL },
	{ "threads", KVS_OPT_INT, "4", D(threads),
	  "worker threads that run plugins", 0, 1, 256, NULL, NULL },
	{ "log_level", KVS_OPT_STRING, "info", D(log_level),
	  "err, warning, notice, info or debug", 0, 0, 0, NULL, NULL },
	{ "max_connections", KVS_OPT_INT, "1024", D(max_connections),
	  "concurrent HTTP connections; when full, a new connection closes the idlest one",
	  0, 1, 65536, NULL, NULL },
	{ "max_connections_per_client", KVS_OPT_INT, "64", D(max_connections_per_client),
	  "concurrent TCP connections of one client IP address; past it a new connection is "
	  "answered 503 (the Unix socket is not capped per client)", 0, 1, 65536, NULL, NULL },
	{ "max_inflight", KVS_OPT_INT, "256", D(max_inflight),
	  "screenings in flight before the API answers 503", 0, 1, 65536, NULL, NULL },
	{ "header_timeout_ms", KVS_OPT_INT, "10000", D(header_timeout_ms),
	  "time a client has to send the request line and headers", 0, 100, 600000, NULL, NULL },
	{ "body_timeout_ms", KVS_OPT_INT, "10000", D(body_timeout_ms),
	  "time a client has to send the body", 0, 100, 600000, NULL, NULL },
	{ "idle_timeout_ms", KVS_OPT_INT, "5000", D(idle_timeout_ms),
	  "idle keep-alive time before a connection is closed", 0, 100, 600000, NULL, NULL },
	{ "max_header_bytes", KVS_OPT_INT, "16384", D(max_header_bytes),
	  "bytes of request line and headers", 0, 1024, 1048576, NULL, NULL },
	{ "spool_rescan_ms", KVS_OPT_INT, "5000", D(spool_rescan_ms),
	  "interval of the periodic rescan of spool/incoming", 0, 100, 3600000, NULL, NULL },
	{ "plugin_dir", KVS_OPT_STRING, KVS_PLUGINDIR, D(plugin_dir),
	  "folder where plugins named without a path are found", 0, 0, 0, NULL, NULL },
	{ "outbox_syncfs", KVS_OPT_BOOL, "false", D(outbox_syncfs),
	  "make each outbox batch durable with one syncfs(2) of the state filesystem instead of "
	  "one fdatasync per verdict: much faster when the disk is busy, but it also flushes "
	  "what other programs wrote to that filesystem", 0, 0, 0, NULL, NULL },
	{ "outbox_min_free_mb", KVS_OPT_INT, "64", D(outbox_min_free_mb),
	  "free space (MiB) the state filesystem must keep: below it new verdicts are refused "
	  "(503) until space is freed; 0 never refuses", 0, 0, 16777216, NULL, NULL },
	{ "rescreen_rate", KVS_OPT_INT, "1000", D(rescreen_rate),
	  "open cases screened again per second at most after a policy or list change, in the "
	  "background behind live requests", 0, 1, 1000000, NULL, NULL },
	{ "case_retention_days", KVS_OPT_INT, "1825", D(case_retention_days),
	  "an open case never closed is expired (kept, no longer screened again) this many days "
	  "after its request; 0 keeps it open for ever", 0, 0, 36500, NULL, NULL },
	{ NULL, 0, NULL, 0, NULL, 0, 0, 0, NULL, NULL }
};
#undef D

struct limits_block {
	struct request_limits req;
	long long plugin_timeout_ms;
};
#define L(f) offsetof(struct limits_block, req.f)
const struct kvs_option cfg_limits_options[] = {
	{ "max_request_bytes", KVS_OPT_INT, "4194304", L(max_bytes),
	  "bytes of one request document (also the largest HTTP body and spool file accepted)",
	  0, 64, 67108864, NULL, NULL },
	{ "max_depth", KVS_OPT_INT, "8", L(max_depth),
	  "nesting depth of a request", 0, 1, 64, NULL, NULL },
	{ "max_array", KVS_OPT_INT, "1000", L(max_array),
	  "elements of any one array in a request", 0, 1, 1000000, NULL, NULL },
	{ "max_string", KVS_OPT_INT, "1048576", L(max_string),
	  "bytes of any one string in a request (a description of a long proposal)", 0, 1, 67108864, NULL, NULL },
	{ "max_text", KVS_OPT_INT, "2097152", L(max_text),
	  "bytes of all strings of a request together", 0, 1, 67108864, NULL, NULL },
	{ "plugin_timeout_ms", KVS_OPT_INT, "2000", offsetof(struct limits_block, plugin_timeout_ms),
	  "time budget of one plugin on one request", 0, 1, 600000, NULL, NULL },
	{ NULL, 0, NULL, 0, NULL, 0, 0, 0, NULL, NULL }
};
#undef L

/* max_string <= max_text <= max_request_bytes, or a limit could never be
 * reached.  A default that exceeds a smaller value set in the file follows
 * it down (an older file that sets only max_text = 524288 keeps working);
 * two values set in the file that contradict each other are an error. */
static int check_limits(struct kvs_cfg *cfg, struct cfg_errors *e)
{
	static const struct { const char *small, *big; size_t off_small, off_big; } pairs[] = {
		{ "max_text", "max_request_bytes", offsetof(struct request_limits, max_text),
		  offsetof(struct request_limits, max_bytes) },
		{ "max_string", "max_text", offsetof(struct request_limits, max_string),
		  offsetof(struct request_limits, max_text) },
	};
	int errors = 0;

	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		long long *small = (long long *)((char *)&cfg->limits + pairs[i].off_small);
		long long *big = (long long *)((char *)&cfg->limits + pairs[i].off_big);
		char key[64];
		const config_setting_t *s;

		if (*small <= *big)
			continue;
		snprintf(key, sizeof(key), "limits.%s", pairs[i].small);
		s = config_lookup(&cfg->lc, key);
		if (!s) {
			*small = *big;
			continue;
		}
		cfg_error_at(e, s, "%s (%lld) exceeds %s (%lld): raise %s or lower %s", pairs[i].small,
			     *small, pairs[i].big, *big, pairs[i].big, pairs[i].small);
		errors++;
	}
	return errors;
}

#define LI(f) offsetof(struct cfg_lists, f)
const struct kvs_option cfg_lists_options[] = {
	{ "sources", KVS_OPT_STRINGS, NULL, LI(sources),
	  "where `kvscreen lists update` fetches lists: \"name = URL\" per list (OFAC lists: "
	  "\"name = PRIMARY ALT ADD\"; \"name =\" never updates that list); lists not named "
	  "here use the built-in official address for their name", 0, 0, 0, NULL, NULL },
	{ "allow_http", KVS_OPT_BOOL, "false", LI(allow_http),
	  "also accept plain http:// addresses (a local mirror or a test server); else https:// only",
	  0, 0, 0, NULL, NULL },
	{ "max_download_bytes", KVS_OPT_INT, "268435456", LI(max_download_bytes),
	  "bytes of one downloaded file", 0, 1024, 268435456, NULL, NULL },
	{ "connect_timeout_ms", KVS_OPT_INT, "15000", LI(connect_timeout_ms),
	  "time to connect to a list's server", 0, 100, 600000, NULL, NULL },
	{ "timeout_ms", KVS_OPT_INT, "300000", LI(timeout_ms),
	  "time of one whole download, connecting included", 0, 100, 3600000, NULL, NULL },
	{ "max_redirects", KVS_OPT_INT, "5", LI(max_redirects),
	  "HTTP redirects followed per download (to https only, unless allow_http)", 0, 0, 20, NULL, NULL },
	{ "max_shrink_percent", KVS_OPT_INT, "50", LI(max_shrink_percent),
	  "refuse a download with more than this percentage fewer entries than the current file",
	  0, 0, 100, NULL, NULL },
	{ "max_malformed_rows", KVS_OPT_INT, "0", LI(max_malformed_rows),
	  "refuse a download with more malformed rows than this and than the current file has",
	  0, 0, 1000000, NULL, NULL },
	{ "ca_file", KVS_OPT_PATH, NULL, LI(ca_file),
	  "CA bundle to verify the lists' servers with instead of the system's", 0, 0, 0, NULL, NULL },
	{ NULL, 0, NULL, 0, NULL, 0, 0, 0, NULL, NULL }
};
#undef LI

void cfg_error(struct cfg_errors *e, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	e->count++;
	if (!e->out)
		return;
	if (file && line > 0)
		fprintf(e->out, "%s:%d: ", file, line);
	else if (file)
		fprintf(e->out, "%s: ", file);
	va_start(ap, fmt);
	vfprintf(e->out, fmt, ap);
	va_end(ap);
	fputc('\n', e->out);
}

void cfg_error_at(struct cfg_errors *e, const config_setting_t *s, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cfg_error(e, config_setting_source_file(s), (int)config_setting_source_line(s), "%s", msg);
}

void *cfg_arena_keep(struct cfg_arena *a, void *p)
{
	if (!p)
		return NULL;
	if (a->n == a->cap) {
		size_t cap = a->cap ? 2 * a->cap : 16;
		void **v = realloc(a->ptrs, cap * sizeof(*v));

		if (!v) {
			free(p);
			return NULL;
		}
		a->ptrs = v;
		a->cap = cap;
	}
	a->ptrs[a->n++] = p;
	return p;
}

void cfg_arena_free(struct cfg_arena *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->ptrs[i]);
	free(a->ptrs);
	memset(a, 0, sizeof(*a));
}

/* `path` with its folder made canonical when only the last component is
 * missing (a state file or socket not yet created); NULL if the folder does
 * not exist either. */
static char *canonical_parent(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir, *real, *out = NULL;

	if (!slash || slash == path || !slash[1])
		return NULL;
	dir = strndup(path, (size_t)(slash - path));
	if (!dir)
		return NULL;
	real = realpath(dir, NULL);
	if (real && asprintf(&out, "%s%s", strcmp(real, "/") ? real : "", slash) < 0)
		out = NULL;
	free(real);
	free(dir);
	return out;
}

char *cfg_canonical_path(const char *path)
{
	char *out = realpath(path, NULL);

	if (out)
		return out;
	if (errno == ENOMEM)
		return NULL;
	out = canonical_parent(path);
	return out ? out : strdup(path);
}

char *cfg_resolve_path(const char *dir, const char *path)
{
	char *joined, *out;

	if (path[0] == '/' || !dir || !*dir)
		joined = strdup(path);
	else if (asprintf(&joined, "%s/%s", dir, path) < 0)
		joined = NULL;
	if (!joined)
		return NULL;
	/* An empty path (no folder given either) stays empty; one that does
	 * not exist yet is still absolute, as cfg->dir is. */
	if (!*joined)
		return joined;
	out = cfg_canonical_path(joined);
	free(joined);
	return out;
}

/* 0 if `path` is a readable regular file; else reports why at `at`
 * (naming `name`, the option) and returns 1. */
static int check_file(const char *name, const char *path, const config_setting_t *at,
		      struct cfg_errors *e)
{
	struct stat st;

	if (stat(path, &st) != 0 || access(path, R_OK) != 0) {
		cfg_error_at(e, at, "%s: cannot read \"%s\": %s", name, path, strerror(errno));
		return 1;
	}
	if (S_ISDIR(st.st_mode)) {
		cfg_error_at(e, at, "%s: \"%s\" is a folder, expected a file", name, path);
		return 1;
	}
	if (!S_ISREG(st.st_mode)) {
		cfg_error_at(e, at, "%s: \"%s\" is not a regular file", name, path);
		return 1;
	}
	return 0;
}

static const char *type_name(enum kvs_opt_type t)
{
	switch (t) {
	case KVS_OPT_STRING: return "a string";
	case KVS_OPT_PATH: return "a path (string)";
	case KVS_OPT_INT: return "an integer";
	case KVS_OPT_BOOL: return "a boolean (true or false)";
	case KVS_OPT_REAL: return "a number";
	case KVS_OPT_STRINGS: return "a list of strings";
	case KVS_OPT_SEVERITY: return "a severity (" KVS_SEVERITY_CHOICES ")";
	case KVS_OPT_ENUM: return "one of its names (a string)";
	case KVS_OPT_LISTS: return "a list of \"format:name:severity:path\" strings";
	}
	return "?";
}

/* Store one value of option o; `s` is the setting (NULL: apply the default
 * text `def`).  Returns 0 or the number of errors reported. */
/* One option being set: its descriptor, its setting (NULL: the default
 * def applies), the slot in the parsed struct, and where errors go. */
struct opt_at {
	const struct kvs_option *o;
	const config_setting_t *s, *group;
	const char *def, *dir;
	char *slot;
	struct cfg_arena *arena;
	struct cfg_errors *e;
};

/* The setting if there is one, else the group: where an error points. */
static const config_setting_t *opt_where(const struct opt_at *a)
{
	return a->s ? a->s : a->group;
}

static int opt_type_error(const struct opt_at *a)
{
	cfg_error_at(a->e, opt_where(a), "%s: expected %s", a->o->name, type_name(a->o->type));
	return 1;
}

/* KVS_OPT_STRING and KVS_OPT_PATH (resolved against dir, must exist). */
static int set_string(const struct opt_at *a)
{
	const char *v = a->s ? config_setting_get_string(a->s) : a->def;
	char *copy;

	if (!v)
		return opt_type_error(a);
	copy = a->o->type == KVS_OPT_PATH ? cfg_resolve_path(a->dir, v) : strdup(v);
	if (!cfg_arena_keep(a->arena, copy)) {
		cfg_error_at(a->e, opt_where(a), "%s: out of memory", a->o->name);
		return 1;
	}
	if (a->o->type == KVS_OPT_PATH && check_file(a->o->name, copy, opt_where(a), a->e))
		return 1;
	memcpy(a->slot, &copy, sizeof(copy));
	return 0;
}

/* KVS_OPT_SEVERITY and KVS_OPT_ENUM: a name, stored as its number. */
static int set_choice(const struct opt_at *a)
{
	const struct kvs_option *o = a->o;
	const char *v = a->s ? config_setting_get_string(a->s) : a->def;
	char names[512] = "";
	size_t len = 0;
	int k = -1;

	if (!v)
		return opt_type_error(a);
	if (o->type == KVS_OPT_SEVERITY)
		k = kvs_severity_parse(v);
	for (int i = 0; o->type == KVS_OPT_ENUM && o->values && o->values[i] && i < 1024; i++)
		if (strcmp(o->values[i], v) == 0)
			k = i;
	if (k >= 0) {
		memcpy(a->slot, &k, sizeof(k));
		return 0;
	}
	for (int i = 0; o->type == KVS_OPT_ENUM && o->values && o->values[i] && len < sizeof(names);
	     i++)
		len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s", i ? ", " : "",
					o->values[i]);
	cfg_error_at(a->e, opt_where(a), "%s: \"%s\" is not %s%s%s", o->name, v,
		     o->type == KVS_OPT_SEVERITY ? "a severity (" KVS_SEVERITY_CHOICES : "one of ",
		     o->type == KVS_OPT_SEVERITY ? "" : names,
		     o->type == KVS_OPT_SEVERITY ? ")" : "");
	return 1;
}

/* KVS_OPT_STRINGS and KVS_OPT_LISTS (each a format:name:severity:path
 * spec): a NULL-terminated array. */
static int set_strings(const struct opt_at *a)
{
	const struct kvs_option *o = a->o;
	int n = a->s ? config_setting_length(a->s) : 0;
	const char **v;

	if (a->s && config_setting_type(a->s) != CONFIG_TYPE_ARRAY &&
	    config_setting_type(a->s) != CONFIG_TYPE_LIST)
		return opt_type_error(a);
	v = cfg_arena_keep(a->arena, calloc((size_t)n + 1, sizeof(*v)));
	if (!v) {
		cfg_error_at(a->e, a->group, "%s: out of memory", o->name);
		return 1;
	}
	for (int i = 0; i < n; i++) {
		const config_setting_t *el = config_setting_get_elem(a->s, (unsigned)i);
		const char *str = config_setting_get_string(el);
		struct lists_spec sp;
		const char *why;

		if (!str) {
			cfg_error_at(a->e, el, "%s[%d]: expected a string", o->name, i);
			return 1;
		}
		if (o->type == KVS_OPT_LISTS && lists_spec_parse(str, &sp, &why) < 0) {
			cfg_error_at(a->e, el, "%s[%d]: \"%s\" %s", o->name, i, str, why);
			return 1;
		}
		v[i] = cfg_arena_keep(a->arena, strdup(str));
		if (!v[i])
			return 1;
	}
	memcpy(a->slot, &v, sizeof(v));
	return 0;
}

/* KVS_OPT_BOOL, KVS_OPT_INT and KVS_OPT_REAL (numbers within min..max
 * when min < max). */
static int set_scalar(const struct opt_at *a)
{
	const struct kvs_option *o = a->o;
	int t = a->s ? config_setting_type(a->s) : CONFIG_TYPE_NONE;
	long long iv = 0;
	double dv = 0;
	int b;

	switch (o->type) {
	case KVS_OPT_BOOL:
		if (a->s && t != CONFIG_TYPE_BOOL)
			return opt_type_error(a);
		b = a->s ? config_setting_get_bool(a->s) : a->def && strcmp(a->def, "true") == 0;
		memcpy(a->slot, &b, sizeof(b));
		return 0;
	case KVS_OPT_INT:
		if (a->s && t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
			return opt_type_error(a);
		iv = a->s ? config_setting_get_int64(a->s) : a->def ? strtoll(a->def, NULL, 0) : 0;
		if (o->min < o->max && (iv < o->min || iv > o->max)) {
			cfg_error_at(a->e, opt_where(a), "%s: %lld is out of range %.0f..%.0f", o->name,
				     iv, o->min, o->max);
			return 1;
		}
		memcpy(a->slot, &iv, sizeof(iv));
		return 0;
	default:
		if (a->s && t != CONFIG_TYPE_FLOAT && t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
			return opt_type_error(a);
		if (a->s)
			dv = t == CONFIG_TYPE_FLOAT ? config_setting_get_float(a->s)
						    : (double)config_setting_get_int64(a->s);
		else if (a->def)
			dv = strtod(a->def, NULL);
		if (o->min < o->max && (dv < o->min || dv > o->max)) {
			cfg_error_at(a->e, opt_where(a), "%s: %g is out of range %g..%g", o->name, dv,
				     o->min, o->max);
			return 1;
		}
		memcpy(a->slot, &dv, sizeof(dv));
		return 0;
	}
}

static int set_option(const struct kvs_option *o, const config_setting_t *s, const char *def,
		      void *out, const char *dir, const config_setting_t *group,
		      struct cfg_arena *arena, struct cfg_errors *e)
{
	const struct opt_at a = {
		.o = o, .s = s, .group = group, .def = def, .dir = dir,
		.slot = (char *)out + o->offset, .arena = arena, .e = e,
	};

	switch (o->type) {
	case KVS_OPT_STRING:
	case KVS_OPT_PATH:
		return set_string(&a);
	case KVS_OPT_SEVERITY:
	case KVS_OPT_ENUM:
		return set_choice(&a);
	case KVS_OPT_STRINGS:
	case KVS_OPT_LISTS:
		return set_strings(&a);
	case KVS_OPT_BOOL:
	case KVS_OPT_INT:
	case KVS_OPT_REAL:
		return set_scalar(&a);
	}
	return 0;
}

int cfg_parse_options(const config_setting_t *group, const struct kvs_option *table,
		      void *out, const char *dir, const char *const *skip,
		      struct cfg_arena *arena, struct cfg_errors *e)
{
	int errors = 0;
	int n = group ? config_setting_length(group) : 0;

	/* Every key present must be known. */
	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
		const char *name = config_setting_name(s);
		const struct kvs_option *o;
		int skipped = 0;

		for (const char *const *k = skip; k && *k; k++)
			if (strcmp(*k, name) == 0)
				skipped = 1;
		if (skipped)
			continue;
		for (o = table; o && o->name; o++)
			if (strcmp(o->name, name) == 0)
				break;
		if (!o || !o->name) {
			cfg_error_at(e, s, "unknown setting \"%s\" in %s", name,
				     config_setting_name(group) ? config_setting_name(group)
								: "the configuration");
			errors++;
		}
	}
	for (const struct kvs_option *o = table; o && o->name; o++) {
		const config_setting_t *s = group ? config_setting_get_member(group, o->name) : NULL;

		if (!s && o->required) {
			cfg_error_at(e, group, "%s: required setting is missing", o->name);
			errors++;
			continue;
		}
		if (!s && !o->def)
			continue;
		errors += set_option(o, s, o->def, out, dir, group, arena, e);
	}
	return errors;
}

int cfg_add_file(struct kvs_cfg *cfg, const char *path)
{
	char **v;
	char *copy;

	/* By canonical path: one file spelled two ways is digested once. */
	copy = cfg_canonical_path(path);
	if (!copy)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->n_files; i++)
		if (strcmp(cfg->files[i], copy) == 0) {
			free(copy);
			return 0;
		}
	v = realloc(cfg->files, (cfg->n_files + 1) * sizeof(*v));
	if (!v) {
		free(copy);
		return -ENOMEM;
	}
	cfg->files = v;
	cfg->files[cfg->n_files++] = copy;
	return 0;
}

/* Record every file the settings came from (the main file and @includes). */
static void collect_sources(struct kvs_cfg *cfg, const config_setting_t *s)
{
	const char *f = config_setting_source_file(s);
	int n;

	if (f)
		cfg_add_file(cfg, f);
	if (!config_setting_is_aggregate(s))
		return;
	n = config_setting_length(s);
	for (int i = 0; i < n; i++)
		collect_sources(cfg, config_setting_get_elem(s, (unsigned)i));
}

static int parse_policy(struct kvs_cfg *cfg, const config_setting_t *g, struct cfg_errors *e)
{
	static const char *const keys[] = { "decisions", "weights", "on_plugin_failure",
		"on_no_plugin", NULL };
	int errors = 0, n;
	const config_setting_t *s;

	policy_default(&cfg->policy);
	if (!g)
		return 0;
	n = config_setting_length(g);
	for (int i = 0; i < n; i++) {
		const char *name = config_setting_name(config_setting_get_elem(g, (unsigned)i));
		int ok = 0;

		for (const char *const *k = keys; *k; k++)
			ok |= strcmp(*k, name) == 0;
		if (!ok) {
			cfg_error_at(e, config_setting_get_elem(g, (unsigned)i),
				     "unknown setting \"%s\" in policy", name);
			errors++;
		}
	}
	for (int which = 0; which < 2; which++) {
		const char *gname = which ? "weights" : "decisions";

		s = config_setting_get_member(g, gname);
		if (!s)
			continue;
		if (!config_setting_is_group(s)) {
			cfg_error_at(e, s, "policy.%s: expected a group of severity = value", gname);
			errors++;
			continue;
		}
		n = config_setting_length(s);
		for (int i = 0; i < n; i++) {
			const config_setting_t *el = config_setting_get_elem(s, (unsigned)i);
			int sev = kvs_severity_parse(config_setting_name(el));

			if (sev < 0) {
				cfg_error_at(e, el, "policy.%s: unknown severity \"%s\" (expected info, low, medium, high or critical)",
					     gname, config_setting_name(el));
				errors++;
				continue;
			}
			if (which == 0) {
				const char *v = config_setting_get_string(el);
				int d = v ? decision_parse(v) : -EINVAL;

				if (d < 0) {
					cfg_error_at(e, el, "policy.decisions.%s: expected clear, review, escalate or deny",
						     config_setting_name(el));
					errors++;
					continue;
				}
				cfg->policy.by_severity[sev] = (enum decision)d;
			} else {
				long long w;

				if (config_setting_type(el) != CONFIG_TYPE_INT ||
				    (w = config_setting_get_int64(el)) < 0 || w > 100) {
					cfg_error_at(e, el, "policy.weights.%s: expected an integer from 0 to 100",
						     config_setting_name(el));
					errors++;
					continue;
				}
				cfg->policy.weight[sev] = w;
			}
		}
	}
	for (int which = 0; which < 2; which++) {
		const char *key = which ? "on_no_plugin" : "on_plugin_failure";
		const char *v;
		int d;

		s = config_setting_get_member(g, key);
		if (!s)
			continue;
		v = config_setting_get_string(s);
		d = v ? decision_parse(v) : -EINVAL;
		if (d < DECISION_REVIEW) {
			cfg_error_at(e, s, "policy.%s: expected review, escalate or deny (never clear: fail closed)",
				     key);
			errors++;
			continue;
		}
		if (which)
			cfg->policy.on_no_plugin = (enum decision)d;
		else
			cfg->policy.on_plugin_failure = (enum decision)d;
	}
	return errors;
}

static int valid_plugin_name(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return 0;
	return 1;
}

/* Find the shared object of a plugin named without a path: DIR/NAME.so,
 * or the libtool build-tree layouts DIR/NAME/.libs/NAME.so and
 * DIR/.libs/NAME.so. */
static char *find_plugin(const char *dir, const char *name)
{
	for (int i = 0; i < 3; i++) {
		char *p = NULL;
		int n;

		if (i == 0)
			n = asprintf(&p, "%s/%s.so", dir, name);
		else if (i == 1)
			n = asprintf(&p, "%s/%s/.libs/%s.so", dir, name, name);
		else
			n = asprintf(&p, "%s/.libs/%s.so", dir, name);
		if (n < 0)
			return NULL;
		if (access(p, R_OK) == 0)
			return p;
		free(p);
	}
	return NULL;
}

static int parse_plugins(struct kvs_cfg *cfg, const config_setting_t *g, struct cfg_errors *e)
{
	const char *env_dir = getenv("KVSCREEND_PLUGIN_DIR");
	const char *plugin_dir;
	int errors = 0, n;
	char *dir_abs = NULL;

	if (!g)
		return 0;
	if (!config_setting_is_group(g)) {
		cfg_error_at(e, g, "plugins: expected a group of plugin groups");
		return 1;
	}
	/* The environment's folder is relative to the working directory, the
	 * configuration's to the configuration's folder. */
	plugin_dir = env_dir && *env_dir ? env_dir : cfg->daemon.plugin_dir;
	dir_abs = env_dir && *env_dir ? cfg_canonical_path(env_dir)
				      : cfg_resolve_path(cfg->dir, plugin_dir);
	n = config_setting_length(g);
	cfg->plugins = calloc((size_t)n + 1, sizeof(*cfg->plugins));
	if (!cfg->plugins || !dir_abs) {
		free(dir_abs);
		cfg_error_at(e, g, "out of memory");
		return 1;
	}
	for (int i = 0; i < n; i++) {
		const config_setting_t *pg = config_setting_get_elem(g, (unsigned)i);
		struct cfg_plugin *cp = &cfg->plugins[cfg->n_plugins];
		const config_setting_t *s;
		const char *path;

		if (!config_setting_is_group(pg)) {
			cfg_error_at(e, pg, "plugins.%s: expected a group", config_setting_name(pg));
			errors++;
			continue;
		}
		if (!valid_plugin_name(config_setting_name(pg))) {
			cfg_error_at(e, pg, "plugins.%s: a plugin name is [a-z0-9_]+",
				     config_setting_name(pg));
			errors++;
			continue;
		}
		cp->name = strdup(config_setting_name(pg));
		cp->group = pg;
		cp->enabled = 1;
		cp->timeout_ms = cfg->plugin_timeout_ms;
		cfg->n_plugins++;
		if ((s = config_setting_get_member(pg, "enabled"))) {
			if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
				cfg_error_at(e, s, "enabled: expected a boolean (true or false)");
				errors++;
			}
			cp->enabled = config_setting_get_bool(s);
		}
		if ((s = config_setting_get_member(pg, "timeout_ms"))) {
			long long t = config_setting_get_int64(s);

			if (config_setting_type(s) != CONFIG_TYPE_INT || t < 1 || t > 600000) {
				cfg_error_at(e, s, "timeout_ms: expected an integer from 1 to 600000");
				errors++;
			}
			cp->timeout_ms = t;
		}
		s = config_setting_get_member(pg, "path");
		if (s && !(path = config_setting_get_string(s))) {
			cfg_error_at(e, s, "path: expected a string");
			errors++;
			continue;
		}
		if (!cp->enabled)
			continue;
		if (s) {
			char what[128];

			cp->path = cfg_resolve_path(cfg->dir, path);
			snprintf(what, sizeof(what), "plugin %s", cp->name);
			if (cp->path && check_file(what, cp->path, s, e))
				errors++;
		} else {
			cp->path = find_plugin(dir_abs, cp->name);
			if (!cp->path) {
				cfg_error_at(e, pg, "plugin %s: no %s.so in %s", cp->name, cp->name,
					     dir_abs);
				errors++;
			}
		}
		if (cp->path)
			cfg_add_file(cfg, cp->path);
	}
	free(dir_abs);
	return errors;
}

/* Check the syntax of lists.sources now, so check-config and the daemon
 * report a bad one with file:line; `kvscreen lists update` matches the
 * names against the plugins' lists. */
static int check_list_sources(struct kvs_cfg *cfg, struct cfg_errors *e)
{
	const config_setting_t *s = config_lookup(&cfg->lc, "lists.sources");
	int errors = 0;

	for (size_t i = 0; cfg->lists.sources && cfg->lists.sources[i]; i++) {
		char msg[256];

		if (lists_source_check(cfg->lists.sources[i], cfg->lists.allow_http, msg,
				       sizeof(msg)) == 0)
			continue;
		if (s)
			cfg_error_at(e, config_setting_get_elem(s, (unsigned)i),
				     "lists.sources[%zu]: %s", i, msg);
		else
			cfg_error(e, cfg->path, 0, "lists.sources[%zu]: %s", i, msg);
		errors++;
	}
	return errors;
}

/* The intake group: only intake.amqp so far (amqp_intake.h). */
static int parse_intake(struct kvs_cfg *cfg, const config_setting_t *g, struct cfg_errors *e)
{
	static const struct kvs_option none[] = { { .name = NULL } };
	static const char *const groups[] = { "amqp", NULL };
	const config_setting_t *ag = g ? config_setting_get_member(g, "amqp") : NULL;
	const char *opt = NULL, *msg;
	int errors;

	errors = cfg_parse_options(g, none, &cfg->intake_amqp, cfg->dir, groups, &cfg->arena, e);
	if (ag && !config_setting_is_group(ag)) {
		cfg_error_at(e, ag, "intake.amqp: expected a group { ... }");
		return errors + 1;
	}
	errors += cfg_parse_options(ag, amqp_intake_options, &cfg->intake_amqp, cfg->dir, NULL,
				    &cfg->arena, e);
	if (errors)
		return errors;
	msg = amqp_intake_cfg_check(&cfg->intake_amqp, &opt);
	if (!msg)
		return 0;
	{
		const config_setting_t *at = opt ? config_setting_get_member(ag, opt) : NULL;

		cfg_error_at(e, at ? at : ag, "intake.amqp: %s", msg);
	}
	return 1;
}

/* Resolve a daemon path setting (may be empty) against the config folder. */
static int resolve_daemon_path(struct kvs_cfg *cfg, const char **slot)
{
	char *p;

	if (!*slot || !**slot)
		return 0;
	p = cfg_resolve_path(cfg->dir, *slot);
	if (!cfg_arena_keep(&cfg->arena, p))
		return -ENOMEM;
	*slot = p;
	return 0;
}

/* Read the file at path into cfg->lc, with cfg->path and cfg->dir (the
 * canonical folder every relative path is resolved against, so the policy
 * is the same however the file was named: -c conf/x.conf, -c
 * $PWD/conf/x.conf, a symlinked folder).  0, or -1 after reporting. */
static int read_file(struct kvs_cfg *cfg, const char *path, struct cfg_errors *e)
{
	const char *slash = strrchr(path, '/');
	char *dir;

	cfg->path = strdup(path);
	dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
	if (!cfg->path || !dir) {
		free(dir);
		cfg_error(e, path, 0, "out of memory");
		return -1;
	}
	cfg->dir = realpath(dir, NULL);
	free(dir);
	if (!cfg->dir || access(path, R_OK) != 0) {
		cfg_error(e, path, 0, "cannot read the configuration: %s", strerror(errno));
		return -1;
	}
	config_set_include_dir(&cfg->lc, cfg->dir);
	if (config_read_file(&cfg->lc, path) != CONFIG_TRUE) {
		cfg_error(e, config_error_file(&cfg->lc) ? config_error_file(&cfg->lc) : path,
			  config_error_line(&cfg->lc), "%s", config_error_text(&cfg->lc));
		return -1;
	}
	return 0;
}

/* Every top-level setting is one of the known groups.  Returns the number
 * of errors reported. */
static int check_top_keys(const config_setting_t *root, struct cfg_errors *e)
{
	static const char *const top_keys[] = { "daemon", "limits", "policy", "plugins", "sink",
						"lists", "intake", NULL };
	int errors = 0, n = config_setting_length(root);

	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
		int ok = 0;

		for (const char *const *k = top_keys; *k; k++)
			ok |= strcmp(*k, config_setting_name(s)) == 0;
		if (!ok) {
			cfg_error_at(e, s, "unknown setting \"%s\" (expected daemon, limits, policy, plugins, sink, lists or intake)",
				     config_setting_name(s));
			errors++;
		} else if (!config_setting_is_group(s)) {
			cfg_error_at(e, s, "%s: expected a group { ... }", config_setting_name(s));
			errors++;
		}
	}
	return errors;
}

/* The daemon and limits groups: options, then the checks across them.
 * Returns the number of errors reported, or -1 when out of memory. */
static int parse_daemon(struct kvs_cfg *cfg, const config_setting_t *root, struct cfg_errors *e)
{
	struct limits_block lb;
	int errors;

	errors = cfg_parse_options(config_setting_get_member(root, "daemon"), cfg_daemon_options,
				   &cfg->daemon, cfg->dir, NULL, &cfg->arena, e);
	memset(&lb, 0, sizeof(lb));
	errors += cfg_parse_options(config_setting_get_member(root, "limits"), cfg_limits_options,
				    &lb, cfg->dir, NULL, &cfg->arena, e);
	cfg->limits = lb.req;
	cfg->plugin_timeout_ms = lb.plugin_timeout_ms;
	if (!errors)
		errors += check_limits(cfg, e);
	if (!errors && log_level_parse(cfg->daemon.log_level) < 0) {
		cfg_error_at(e, config_lookup(&cfg->lc, "daemon.log_level"),
			     "log_level: expected err, warning, notice, info or debug");
		errors++;
	}
	if (!errors) {
		char *end;
		unsigned long m = strtoul(cfg->daemon.socket_mode, &end, 8);

		if (!*cfg->daemon.socket_mode || *end || m > 0777) {
			cfg_error_at(e, config_lookup(&cfg->lc, "daemon.socket_mode"),
				     "socket_mode: expected an octal file mode such as \"0660\"");
			errors++;
		}
		cfg->daemon.socket_perm = (unsigned)m;
	}
	if (resolve_daemon_path(cfg, &cfg->daemon.socket) < 0 ||
	    resolve_daemon_path(cfg, &cfg->daemon.state_dir) < 0 ||
	    resolve_daemon_path(cfg, &cfg->daemon.token_file) < 0) {
		cfg_error(e, cfg->path, 0, "out of memory");
		return -1;
	}
	return errors;
}

/* The sink group, checked as a whole by the sink's own rules.  Returns the
 * number of errors reported. */
static int parse_sink(struct kvs_cfg *cfg, const config_setting_t *root, struct cfg_errors *e)
{
	const char *opt = NULL, *msg;
	const config_setting_t *at;
	char key[128];
	int errors;

	errors = cfg_parse_options(config_setting_get_member(root, "sink"), sink_options, &cfg->sink,
				   cfg->dir, NULL, &cfg->arena, e);
	if (errors || !(msg = sink_cfg_check(&cfg->sink, &opt)))
		return errors;
	snprintf(key, sizeof(key), "sink.%s", opt ? opt : "");
	at = opt ? config_lookup(&cfg->lc, key) : NULL;
	if (!at)
		at = config_lookup(&cfg->lc, "sink");
	if (at)
		cfg_error_at(e, at, "sink: %s", msg);
	else
		cfg_error(e, cfg->path, 0, "sink: %s", msg);
	return 1;
}

int cfg_load(const char *path, struct kvs_cfg **out, struct cfg_errors *e)
{
	struct kvs_cfg *cfg;
	config_setting_t *root;
	int errors = 0, rc;

	*out = NULL;
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg) {
		cfg_error(e, path, 0, "out of memory");
		return 1;
	}
	config_init(&cfg->lc);
	if (read_file(cfg, path, e) < 0)
		goto fail;
	root = config_root_setting(&cfg->lc);
	errors = check_top_keys(root, e);
	if (errors)
		goto fail;
	rc = parse_daemon(cfg, root, e);
	if (rc < 0)
		goto fail;
	errors += rc;
	errors += parse_sink(cfg, root, e);
	errors += parse_intake(cfg, config_setting_get_member(root, "intake"), e);
	errors += cfg_parse_options(config_setting_get_member(root, "lists"), cfg_lists_options,
				    &cfg->lists, cfg->dir, NULL, &cfg->arena, e);
	if (!errors)
		errors += check_list_sources(cfg, e);
	errors += parse_policy(cfg, config_setting_get_member(root, "policy"), e);
	if (!errors)
		errors += parse_plugins(cfg, config_setting_get_member(root, "plugins"), e);
	collect_sources(cfg, root);
	if (errors)
		goto fail;
	*out = cfg;
	return 0;
fail:
	cfg_free(cfg);
	return errors ? errors : 1;
}

void cfg_free(struct kvs_cfg *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->n_plugins; i++) {
		free(cfg->plugins[i].name);
		free(cfg->plugins[i].path);
	}
	free(cfg->plugins);
	for (size_t i = 0; i < cfg->n_files; i++)
		free(cfg->files[i]);
	free(cfg->files);
	cfg_arena_free(&cfg->arena);
	config_destroy(&cfg->lc);
	free(cfg->path);
	free(cfg->dir);
	free(cfg);
}

const char *cfg_default_path(void)
{
	const char *env = getenv("KVSCREEND_CONF");

	return env && *env ? env : KVS_SYSCONFDIR "/kvscreend.conf";
}
