/* kvscreen/plugin.h - the one public header of kvscreend: the plugin ABI.
 *
 * A screening plugin is a shared object that exports exactly one symbol,
 * KVS_PLUGIN_SYMBOL, a const struct kvs_plugin filled with designated
 * initialisers.  The host reads the descriptor without running plugin code,
 * checks abi_version and size before touching anything else, parses the
 * plugin's options from its configuration group with the option table the
 * descriptor declares, and only then calls create().
 *
 * Plugins never link against daemon symbols: everything they may call is in
 * the struct kvs_host function table handed to create() and screen().
 *
 * Lifecycle and threads
 *   create()  runs once per configuration generation, on one thread, before
 *             any screen() of that generation.  It receives the parsed
 *             options (a block of descriptor->config_size bytes laid out by
 *             the option table) which stay valid until destroy() returns.
 *   screen()  runs on worker threads, concurrently with itself for other
 *             requests; it must be thread-safe with respect to its state.
 *             The request and the report are borrowed for the duration of
 *             the call only: never keep a pointer into either after screen()
 *             returns.  A screen() that overruns its time budget is recorded
 *             as "timeout" and its late findings are discarded; it should
 *             poll host->report_expired() in long loops and return early.
 *   destroy() runs once, after the last screen() of that generation has
 *             returned, on any thread; it receives the host table (ABI 3)
 *             so it may release what it took from the host.
 * A plugin never writes to stdout or stderr (use host->log), never calls
 * exit(), and never installs signal handlers.
 *
 * Members of every struct here are only ever appended; KVS_ABI_VERSION is
 * raised when a change would break an existing plugin.  So that appending
 * needs no new ABI number, every struct the host writes into plugin memory
 * (kvs_list_match, kvs_list_info, kvs_text_iter) starts with a `size` the
 * plugin sets to the sizeof it was compiled with (the _INIT macros do it),
 * and the host writes no byte beyond it; the descriptor states the sizes of
 * the structs the host reads from the plugin (options, findings, evidence),
 * and the host reads no byte beyond those (KVS_PLUGIN_INIT fills them in).
 */
#ifndef KVSCREEN_PLUGIN_H
#define KVSCREEN_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KVS_ABI_VERSION 3u

/* Name of the one symbol a plugin exports. */
#define KVS_PLUGIN_SYMBOL "kvs_plugin"
/* Defines the descriptor: exported with default visibility (so a plugin
 * built with -fvisibility=hidden still exports it) and C linkage (in C++ a
 * namespace-scope const would otherwise have internal linkage). */
#ifdef __cplusplus
#define KVS_PLUGIN_LINKAGE extern "C"
#else
#define KVS_PLUGIN_LINKAGE
#endif
#define KVS_PLUGIN_DECLARE KVS_PLUGIN_LINKAGE __attribute__((visibility("default"))) \
	const struct kvs_plugin kvs_plugin

/* Request types, used as a bit set in kvs_plugin.types. */
enum kvs_request_type {
	KVS_REQ_PARTNERSHIP = 1u << 0,
	KVS_REQ_EXPORT = 1u << 1,
	KVS_REQ_INVESTMENT = 1u << 2,
};

enum kvs_severity {
	KVS_SEV_INFO = 0,
	KVS_SEV_LOW,
	KVS_SEV_MEDIUM,
	KVS_SEV_HIGH,
	KVS_SEV_CRITICAL,
};

/* The one table of severity names, for the host and plugins alike. */
#define KVS_SEVERITY_NAMES { "info", "low", "medium", "high", "critical" }
#define KVS_SEVERITY_CHOICES "info, low, medium, high or critical"

/* Name of severity s ("info".."critical"), or "?" when out of range. */
static inline const char *kvs_severity_name(enum kvs_severity s)
{
	static const char *const names[] = KVS_SEVERITY_NAMES;

	return (unsigned)s <= KVS_SEV_CRITICAL ? names[s] : "?";
}

/* The severity named `name` (exactly, lower case), or -1. */
static inline int kvs_severity_parse(const char *name)
{
	static const char *const names[] = KVS_SEVERITY_NAMES;

	for (int i = KVS_SEV_INFO; name && i <= KVS_SEV_CRITICAL; i++) {
		const char *a = name, *b = names[i];

		while (*a && *a == *b)
			a++, b++;
		if (!*a && !*b)
			return i;
	}
	return -1;
}

enum kvs_log_level {
	KVS_LOG_ERR = 3,
	KVS_LOG_WARNING = 4,
	KVS_LOG_NOTICE = 5,
	KVS_LOG_INFO = 6,
	KVS_LOG_DEBUG = 7,
};

/* Kinds of JSON value, as returned by kvs_host.value_kind. */
enum kvs_kind {
	KVS_KIND_ABSENT = 0,
	KVS_KIND_NULL,
	KVS_KIND_BOOL,
	KVS_KIND_INT,
	KVS_KIND_REAL,
	KVS_KIND_STRING,
	KVS_KIND_ARRAY,
	KVS_KIND_OBJECT,
};

/* Opaque handles owned by the host. */
typedef struct kvs_request kvs_request;
typedef struct kvs_report kvs_report;
typedef struct kvs_config_ctx kvs_config_ctx;
typedef struct kvs_ruleset kvs_ruleset;

/* ---- Options ------------------------------------------------------------
 * A plugin declares its configuration keys as a table terminated by an entry
 * whose name is NULL.  The host parses the plugin's configuration group,
 * rejects unknown keys and ill-typed values with file:line, applies the
 * defaults, and writes each value at `offset` into a zeroed block of
 * kvs_plugin.config_size bytes:
 *   KVS_OPT_STRING  const char *   (host-owned, NUL-terminated)
 *   KVS_OPT_PATH    const char *   (resolved against the config file's folder;
 *                                   the file must exist and is part of the
 *                                   policy digest)
 *   KVS_OPT_INT     long long
 *   KVS_OPT_BOOL    int (0 or 1)
 *   KVS_OPT_REAL    double
 *   KVS_OPT_STRINGS const char *const * (NULL-terminated array, host-owned)
 * ABI 3:
 *   KVS_OPT_SEVERITY enum kvs_severity (one of KVS_SEVERITY_NAMES)
 *   KVS_OPT_ENUM    int: the index into `values` (NULL-terminated array of
 *                   the allowed names) of the name given
 *   KVS_OPT_LISTS   struct kvs_list *const * (NULL-terminated, host-owned):
 *                   a list of "format:name:severity:path" strings, which the
 *                   host parses and loads with lists_load() (see there)
 *                   before create(), and releases after destroy().  When
 *                   `strict_key` names a KVS_OPT_BOOL option of the same
 *                   table that is true, a malformed list row is an error.
 *                   `kvscreen lists update` finds the lists to download
 *                   through the options of this type.
 * Errors in these (an unknown severity or name, a malformed list entry, a
 * list that does not load) are reported with file:line.
 * `def` is the default written as it would appear in the config, or NULL for
 * "no default" (strings then stay NULL, numbers 0).  With `required` set, a
 * missing key is an error.  `min`/`max` bound KVS_OPT_INT and KVS_OPT_REAL
 * when min < max. */
enum kvs_opt_type {
	KVS_OPT_STRING = 1,
	KVS_OPT_PATH,
	KVS_OPT_INT,
	KVS_OPT_BOOL,
	KVS_OPT_REAL,
	KVS_OPT_STRINGS,
	KVS_OPT_SEVERITY,      /* ABI 3 */
	KVS_OPT_ENUM,          /* ABI 3 */
	KVS_OPT_LISTS,         /* ABI 3 */
};

struct kvs_option {
	const char *name;
	enum kvs_opt_type type;
	const char *def;
	size_t offset;
	const char *help;
	int required;
	double min;
	double max;
	/* ABI 3 */
	const char *const *values;  /* KVS_OPT_ENUM: the allowed names */
	const char *strict_key;     /* KVS_OPT_LISTS: see above, or NULL */
};

/* ---- Findings -----------------------------------------------------------
 * Evidence points at bytes [start, end) of the string at JSON pointer `path`
 * of the request; or, with `whole` set (ABI 3), at the whole value at `path`,
 * which may then also be a number or a boolean (e.g. "/investment/
 * stake_percent"): start and end are ignored and the verdict shows the
 * value.  Evidence that points at nothing in the request makes the finding
 * invalid: it is dropped, the plugin's run counts as failed (so the verdict
 * is at least "review") and the reason is logged and put in the verdict. */
struct kvs_evidence {
	const char *path;
	size_t start;
	size_t end;
	int whole;                     /* ABI 3 */
};
/* Evidence of the whole value at JSON pointer p. */
#define KVS_EVIDENCE_VALUE(p) { .path = (p), .start = 0, .end = 0, .whole = 1 }

struct kvs_finding {
	const char *rule;              /* stable rule id, required */
	enum kvs_severity severity;
	const char *title;             /* one line, required */
	const char *rationale;         /* why this matters, may be NULL */
	const char *const *references; /* legal or policy references */
	size_t n_references;
	const struct kvs_evidence *evidence;
	size_t n_evidence;
	/* ABI 2: what the officer must do next, naming the authority (e.g.
	 * "Apply for an individual export licence at the CDIU (Douane)"), or
	 * NULL.  The verdict collects the actions of its findings. */
	const char *action;
};

/* Iterator over every free-text string of a request (title, description,
 * item descriptions, end use, names, keywords ...), in document order.
 * Initialise with KVS_TEXT_ITER_INIT; do not touch the members. */
struct kvs_text_iter {
	uint32_t size;                 /* ABI 3: sizeof(struct kvs_text_iter) */
	size_t pos;
};
#define KVS_TEXT_ITER_INIT { sizeof(struct kvs_text_iter), 0 }

/* ---- Lists: the shared sanctions / restricted-party list service ---------
 * The host loads lists (OFAC, CSL, UN, EU, ASPI, kvscreen CSV) once and
 * shares them between plugins and configuration generations; a plugin holds
 * references from create() to destroy().  A struct kvs_list is opaque and
 * immutable: matching needs no locks and is safe on any worker thread.  The
 * strings of a struct kvs_list_match or kvs_list_info are borrowed from the
 * list and stay valid while the plugin holds its reference. */
struct kvs_list;

/* lists_match() writes an array of these: the plugin sets `size` of the
 * first element (out[0].size = sizeof(struct kvs_list_match)); the host
 * steps through the array by that size and writes no more of each element
 * (setting `size` of each element it writes). */
struct kvs_list_match {
	uint32_t size;             /* ABI 3 */
	const char *list;          /* the list's configured name */
	const char *entry_id;      /* the list's own id of the entry */
	const char *primary_name;
	const char *matched_name;  /* the primary name or the alias that matched */
	const char *normalised;    /* matched_name as the matcher normalised it */
	const char *country;       /* as the list writes it, or NULL */
	const char *program;       /* sanctions programme / source list, or NULL */
	const char *reason;        /* listing reason or remarks, or NULL */
	double score;              /* similarity in [0, 1] */
	double cov_query;          /* weighted share of the query matched */
	double cov_name;           /* weighted share of the listed name matched */
	enum kvs_severity severity; /* the entry's (list default or per entry) */
	/* ABI 2: identity data of the entry, for telling namesakes apart. */
	const char *kind;          /* "person", "entity", "vessel", ... or NULL */
	const char *birthdate;     /* "YYYY[-MM[-DD]]", several ';'-separated, or NULL */
	const char *nationality;   /* ISO 3166-1 alpha-2 codes, ';'-separated, or NULL */
};

/* Initialise with KVS_LIST_INFO_INIT (sets size) before lists_info(). */
struct kvs_list_info {
	uint32_t size;             /* ABI 3: sizeof(struct kvs_list_info) */
	const char *name, *format, *path;
	const char *version;       /* as the file states it, or NULL */
	const char *date;          /* date of the data, or NULL */
	const char *digest;        /* sha256 hex of the files read */
	size_t entries, names, skipped;
	enum kvs_severity severity;
	long long mtime;           /* the file's modification time (Unix s) */
};
#define KVS_LIST_INFO_INIT { .size = sizeof(struct kvs_list_info) }

/* ---- The host function table --------------------------------------------
 * Every function here is safe to call from screen() on any worker thread.
 * JSON pointers follow RFC 6901 ("/parties/0/name"); "" is the whole
 * request.  Returned strings are borrowed from the request and stay valid
 * until screen() returns. */
struct kvs_host {
	uint32_t abi_version;
	uint32_t size;

	/* Log one line tagged with the plugin's name. */
	void (*log)(const kvs_config_ctx *ctx, enum kvs_log_level level,
		    const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

	/* Report a configuration error found by create(), e.g. in a rule file.
	 * With `file` NULL the location is the plugin option `option` (or the
	 * plugin's group when `option` is NULL) in the daemon configuration;
	 * otherwise it is file:line as given.  create() then returns nonzero. */
	void (*config_error)(const kvs_config_ctx *ctx, const char *option,
			     const char *file, int line, const char *fmt, ...)
	    __attribute__((format(printf, 5, 6)));

	/* Request accessors. */
	const char *(*request_id)(const kvs_request *req);
	enum kvs_request_type (*request_type)(const kvs_request *req);
	enum kvs_kind (*value_kind)(const kvs_request *req, const char *ptr);
	/* String at ptr, or NULL when absent or not a string; *len (if not
	 * NULL) gets its length in bytes.  Strings are valid UTF-8. */
	const char *(*get_string)(const kvs_request *req, const char *ptr,
				  size_t *len);
	/* 0 and the value in *out, or -ENOENT (absent) / -EINVAL (wrong type).
	 * get_real accepts integers too. */
	int (*get_int)(const kvs_request *req, const char *ptr,
		       long long *out);
	int (*get_real)(const kvs_request *req, const char *ptr, double *out);
	int (*get_bool)(const kvs_request *req, const char *ptr, int *out);
	/* Number of elements of the array (or members of the object) at ptr;
	 * 0 when absent or scalar. */
	size_t (*get_size)(const kvs_request *req, const char *ptr);
	/* Next free-text field: returns 1 and sets *path, *text, *len, or 0
	 * at the end. */
	int (*text_next)(const kvs_request *req, struct kvs_text_iter *it,
			 const char **path, const char **text, size_t *len);

	/* Add one finding.  All strings are copied; returns 0 or -ENOMEM. */
	int (*report_add)(kvs_report *rep, const struct kvs_finding *f);
	/* Nonzero once the plugin's time budget for this request is spent. */
	int (*report_expired)(const kvs_report *rep);

	/* ---- Lists (appended with ABI 1; check size before use) ----
	 * lists_load: from create() only.  Loads the list file at `path`
	 * (relative paths are taken from the folder of the configuration file
	 * holding the plugin's group) with the loader `format` ("ofac", "csl",
	 * "un", "eu", "aspi", "kvs", or "table" for other CSV/TSV files with a
	 * "name" column, e.g. DoD 1260H/1286 or BIS DPL), names it
	 * `list_name`, and gives its entries `severity` (a loader may raise it
	 * per entry, as ASPI does by category).  The same file loaded again,
	 * by any plugin, while it is unchanged is shared.  Malformed rows are
	 * logged as warnings with file:line and skipped; with `strict` set
	 * they are configuration errors and the load fails.  Returns 0 and
	 * *out (one reference), or a negative errno after reporting the reason
	 * with host->config_error.  A list that `kvscreen lists update` has an
	 * address for but whose file does not exist yet (not downloaded)
	 * loads as an empty placeholder that matches nothing and whose
	 * lists_info() says entries 0 (a loaded list has at least one): the
	 * plugin must then report in every verdict that the list is missing. */
	int (*lists_load)(const kvs_config_ctx *ctx, const char *format,
			  const char *path, const char *list_name,
			  enum kvs_severity severity, int strict,
			  struct kvs_list **out);
	/* Drop a reference taken by lists_load (from destroy() or create()). */
	void (*lists_release)(struct kvs_list *list);
	/* Match `name` (len bytes of UTF-8) against n lists: writes the best
	 * matching name of every entry scoring at least `threshold` (0..1) to
	 * out, at most max_out, best first (ties in list order), and returns
	 * how many entries qualified (may exceed max_out), or a negative errno.
	 * Safe from screen() on any thread.  -EINVAL when max_out > 0 and
	 * out[0].size is smaller than ABI 3's struct kvs_list_match. */
	int (*lists_match)(const struct kvs_list *const *lists, size_t n,
			   const char *name, size_t len, double threshold,
			   struct kvs_list_match *out, size_t max_out);
	/* Version data of a list, for findings and verdicts: 0, or -EINVAL
	 * (nothing written) when out->size is smaller than ABI 3's struct. */
	int (*lists_info)(const struct kvs_list *list,
			  struct kvs_list_info *out);
	/* The matcher's normalised form of `name` into buf (NUL-terminated,
	 * truncated to buflen); returns 0, or -EINVAL when nothing of the name
	 * is left (e.g. only punctuation). */
	int (*lists_normalise)(const char *name, size_t len, char *buf,
			       size_t buflen);

	/* ---- The rule engine (appended; present when size covers it) ----
	 * A rule set is a compiled list of text rules read from libconfig rule
	 * files (see conf/rules/ for the format): pcre2 patterns with optional
	 * context and exclusion patterns, the fields they read, a severity and
	 * references.
	 *
	 * rules_load() is called from create() only.  `path` names one rule
	 * file or a folder whose *.conf files are all loaded (in name order)
	 * into the one set; a relative path is resolved against the folder of
	 * the configuration file holding the plugin's group.  Every error (bad
	 * regex, unknown key, missing id, duplicate id) is reported through
	 * config_error as file:line naming the rule id, and nothing is
	 * returned.  Returns 0 and *out, or a negative errno (-EINVAL for
	 * errors in the files, -ENOENT, -ENOMEM).  The set belongs to the
	 * plugin, which frees it with rules_free() in destroy().
	 *
	 * rules_screen() may run concurrently on any worker thread with the
	 * same set (the set is read-only after loading).  It reads the request
	 * only through text_next(), screening every free-text field whose JSON
	 * pointer starts with `path_prefix` (every field when NULL) and that a
	 * rule's `fields` select, and adds one finding per rule that fires,
	 * with up to 8 evidence spans, through report_add().  A pattern that
	 * exceeds its pcre2 match, depth or heap limit on hostile text adds a
	 * medium finding "rule limit reached" instead of stalling.  Returns the
	 * number of rule findings added (limit findings not counted), or a
	 * negative errno.  It returns early when report_expired() says so. */
	int (*rules_load)(const kvs_config_ctx *ctx, const char *path,
			  kvs_ruleset **out);
	int (*rules_screen)(const kvs_ruleset *rs, const kvs_request *req,
			    kvs_report *rep, const char *path_prefix);
	void (*rules_free)(kvs_ruleset *rs);

	/* ---- Rule scan (appended with ABI 1; check size before use) ----
	 * As rules_screen, but instead of adding findings to a report it hands
	 * each one to emit(arg, f, limit), so a plugin can weigh what fired
	 * (rule id, severity, evidence) before it reports anything itself.
	 * `limit` is nonzero for a "rule limit reached" finding.  f and all it
	 * points to are valid during the emit call only; a negative return of
	 * emit stops the scan and is returned.  `rep` is only polled with
	 * report_expired() (it may be NULL).  Returns the number of rule
	 * findings emitted (limit findings not counted), or a negative errno. */
	int (*rules_scan)(const kvs_ruleset *rs, const kvs_request *req,
			  const kvs_report *rep, const char *path_prefix,
			  int (*emit)(void *arg, const struct kvs_finding *f,
				      int limit),
			  void *arg);

	/* ---- Rule sets of several paths (appended with ABI 1; check size) ----
	 * rules_load_paths() loads the n rule files or folders of paths (1 to
	 * 256; each as rules_load() loads one, with the same errors) into one
	 * set, so that one prefilter pass over a field serves them all.
	 * rules_screen_counted() is rules_screen() that also adds to counts[k]
	 * (an array of n) the rule findings of the rules from paths[k]. */
	int (*rules_load_paths)(const kvs_config_ctx *ctx, const char *const *paths,
				size_t n, kvs_ruleset **out);
	int (*rules_screen_counted)(const kvs_ruleset *rs, const kvs_request *req,
				    kvs_report *rep, const char *path_prefix, int *counts);
};

/* Nonzero when the host table h has member m (its size covers it: members
 * are only ever appended) and m is set.  Check it before calling a member
 * newer than the oldest host the plugin supports. */
#define KVS_HOST_HAS(h, m) \
	((h)->size >= offsetof(struct kvs_host, m) + sizeof((h)->m) && (h)->m != NULL)

/* ---- The descriptor ------------------------------------------------------
 * create() returns 0 and sets *state, or nonzero after reporting the reason
 * through host->config_error or host->log.  screen() returns 0 on success
 * or a negative errno; a failed screen() makes the verdict at least
 * "review" (fail closed), whatever it reported. */
struct kvs_plugin {
	uint32_t abi_version;  /* KVS_ABI_VERSION */
	uint32_t size;         /* sizeof(struct kvs_plugin) */
	/* ABI 3: the sizes of the structs the host reads from the plugin, as
	 * the plugin was compiled (KVS_PLUGIN_INIT). */
	uint32_t option_size;  /* sizeof(struct kvs_option): the table's stride */
	uint32_t finding_size; /* sizeof(struct kvs_finding) */
	uint32_t evidence_size; /* sizeof(struct kvs_evidence): the stride */
	const char *name;      /* [a-z0-9_]+, equals the config group name */
	const char *version;
	const char *description;
	unsigned types;        /* enum kvs_request_type bits */
	const struct kvs_option *options;
	size_t config_size;

	int (*create)(const struct kvs_host *host, const kvs_config_ctx *ctx,
		      const void *config, void **state);
	int (*screen)(void *state, const struct kvs_host *host,
		      const kvs_request *req, kvs_report *rep);
	void (*destroy)(void *state, const struct kvs_host *host); /* ABI 3: host */
};

#define KVS_PLUGIN_INIT .abi_version = KVS_ABI_VERSION, \
	.size = sizeof(struct kvs_plugin), \
	.option_size = sizeof(struct kvs_option), \
	.finding_size = sizeof(struct kvs_finding), \
	.evidence_size = sizeof(struct kvs_evidence)

#ifdef __cplusplus
}
#endif

#endif
