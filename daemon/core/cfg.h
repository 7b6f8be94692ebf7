/* cfg.h - the daemon configuration: load, validate, and describe it. */
#ifndef KVS_CFG_H
#define KVS_CFG_H

#include <libconfig.h>
#include <stdio.h>

#include "kvscreen/plugin.h"
#include "request.h"
#include "policy.h"
#include "sink.h"
#include "amqp_intake.h"

/* Error sink: every configuration error is one "file:line: message" line. */
struct cfg_errors {
	FILE *out;             /* where to print, or NULL to only count */
	int count;
};
void cfg_error(struct cfg_errors *e, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void cfg_error_at(struct cfg_errors *e, const config_setting_t *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Parse the settings of `group` into `out` (zeroed by the caller) with an
 * option table (see struct kvs_option in plugin.h).  Keys named in `skip`
 * (NULL-terminated, may be NULL) are left for the caller; any other key not
 * in the table is an error.  Paths are resolved against `dir`.  Strings are
 * allocated and recorded in `arena` so cfg_free_options() releases them.
 * Every path option's file is appended to `files` for the policy digest.
 * Returns the number of errors reported. */
struct cfg_arena {
	void **ptrs;
	size_t n, cap;
};
int cfg_parse_options(const config_setting_t *group, const struct kvs_option *table,
		      void *out, const char *dir, const char *const *skip,
		      struct cfg_arena *arena, struct cfg_errors *e);
void *cfg_arena_keep(struct cfg_arena *a, void *p);
void cfg_arena_free(struct cfg_arena *a);
/* Resolve `path` against `dir` (absolute) unless it is absolute itself, and
 * make it canonical (realpath); a path whose last component does not exist
 * yet gets a canonical folder, one whose folder does not exist either stays
 * as joined.  Returns a malloc'd string, or NULL when out of memory. */
char *cfg_resolve_path(const char *dir, const char *path);
/* `path` made canonical as cfg_resolve_path() does; malloc'd. */
char *cfg_canonical_path(const char *path);

/* daemon group */
struct cfg_daemon {
	const char *listen;            /* "127.0.0.1:8710", "" to disable TCP */
	const char *socket;            /* Unix socket path, "" to disable */
	const char *socket_mode;       /* octal text, e.g. "0660" */
	unsigned socket_perm;          /* socket_mode, parsed */
	const char *socket_group;      /* "" keeps the default group */
	const char *state_dir;         /* spool/, outbox/, store/ live here */
	const char *token_file;        /* "" = <state_dir>/api-token, created */
	long long threads;             /* worker threads for plugins */
	const char *log_level;
	long long max_connections;
	long long max_connections_per_client; /* per IP address / peer uid */
	long long max_inflight;        /* screenings in flight before 503 */
	long long header_timeout_ms;
	long long body_timeout_ms;
	long long idle_timeout_ms;
	long long max_header_bytes;
	long long spool_rescan_ms;
	const char *plugin_dir;        /* where bare plugin names are found */
	int outbox_syncfs;             /* one syncfs per outbox batch (outbox.h) */
	long long outbox_min_free_mb;  /* refuse verdicts below this free space */
	long long rescreen_rate;       /* re-screens per second (rescreen.h) */
	long long case_retention_days; /* open cases expire after this; 0 never */
};

extern const struct kvs_option cfg_daemon_options[];
extern const struct kvs_option cfg_limits_options[];

/* lists group: where and how `kvscreen lists update` fetches the lists the
 * plugins name (lists_update.h).  The daemon itself never downloads. */
struct cfg_lists {
	const char **sources;          /* "name = URL [URL URL]", NULL-terminated;
					* NULL when unset (the built-in defaults) */
	int allow_http;                /* also plain http:// (tests, mirrors) */
	long long max_download_bytes;  /* bytes of one downloaded file */
	long long connect_timeout_ms;
	long long timeout_ms;          /* one whole download */
	long long max_redirects;
	long long max_shrink_percent;  /* refuse a list losing more entries */
	long long max_malformed_rows;  /* refuse more malformed rows than this
					* (or than the current file has) */
	const char *ca_file;           /* CA bundle instead of the system's */
};
extern const struct kvs_option cfg_lists_options[];

/* One configured plugin: the group under plugins { name: { ... } }. */
struct cfg_plugin {
	char *name;
	char *path;                  /* resolved shared object path */
	int enabled;
	long long timeout_ms;
	const config_setting_t *group; /* plugin's own keys live here */
};

struct kvs_cfg {
	char *path;                  /* the main config file */
	char *dir;                   /* its folder, canonical (realpath): base
				      * of relative paths */
	config_t lc;                 /* kept: settings carry file:line */
	struct cfg_daemon daemon;
	struct request_limits limits;
	long long plugin_timeout_ms; /* default time budget of a plugin */
	struct policy policy;
	struct cfg_sink sink;         /* the sink group (sink.h) */
	struct cfg_lists lists;       /* the lists group */
	struct cfg_intake_amqp intake_amqp; /* intake { amqp { ... } } */
	struct cfg_plugin *plugins;
	size_t n_plugins;
	char **files;                /* every file the config names, for the
				      * digest: canonical paths, no duplicates */
	size_t n_files;
	struct cfg_arena arena;
};

/* Load and validate `path`.  Returns 0 and *out, or the number of errors
 * (each printed to e->out as file:line: message). */
int cfg_load(const char *path, struct kvs_cfg **out, struct cfg_errors *e);
void cfg_free(struct kvs_cfg *cfg);
/* Record a file that is part of the effective policy. */
int cfg_add_file(struct kvs_cfg *cfg, const char *path);
/* The configuration file to use when none is given: $KVSCREEND_CONF, else
 * the installed one. */
const char *cfg_default_path(void);

#endif
