/* plugin_host.h - loading plugins and the host function table they call. */
#ifndef KVS_PLUGIN_HOST_H
#define KVS_PLUGIN_HOST_H

#include "cfg.h"
#include <jansson.h>
#include <stdint.h>

#include "arena.h"
#include "kvscreen/plugin.h"
#include "request.h"
#include "verdict.h"

/* The host's side of one loaded plugin (kvs_config_ctx in the ABI). */
struct kvs_config_ctx {
	const struct cfg_plugin *cp;     /* its configuration group */
	struct kvs_cfg *cfg;             /* the configuration being loaded */
	struct cfg_errors *errors;       /* errors during create(), else NULL */
	const config_setting_t *at;      /* where an error without a file is, or NULL */
	int failed;
	json_t *lists_missing;           /* names of the lists it loaded that are
					  * not downloaded yet (placeholders), or
					  * NULL; every verdict lists them */
};

/* The smallest sizes of the structs of ABI 3 (the members ABI 3 has): a
 * plugin's structs are at least this big; later members are appended. */
#define KVS_ABI3_OPTION_SIZE (offsetof(struct kvs_option, strict_key) + sizeof(const char *))
#define KVS_ABI3_FINDING_SIZE (offsetof(struct kvs_finding, action) + sizeof(const char *))
#define KVS_ABI3_EVIDENCE_SIZE (offsetof(struct kvs_evidence, whole) + sizeof(int))
#define KVS_ABI3_TEXT_ITER_SIZE (offsetof(struct kvs_text_iter, pos) + sizeof(size_t))
#define PLUGIN_MAX_OPTIONS 1024

struct plugin {
	void *dl;                        /* dlopen handle */
	const struct kvs_plugin *desc;
	struct kvs_config_ctx ctx;
	struct cfg_plugin *cp;
	struct kvs_option *options;      /* desc->options in the host's layout */
	void *config;                    /* parsed options, desc->config_size */
	struct kvs_list **lists;         /* every list of its KVS_OPT_LISTS options */
	size_t n_lists;
	void *state;                     /* from create() */
	long long timeout_ms;
};

struct plugin_set {
	struct plugin *v;
	size_t n;
	struct cfg_arena arena;          /* option strings */
};

extern const struct kvs_host plugin_host_table;

/* dlopen every enabled plugin of cfg, check its descriptor, parse its
 * options and run create().  Returns 0, or the number of errors printed to
 * e; on error nothing stays loaded. */
int plugin_set_load(struct kvs_cfg *cfg, struct plugin_set **out, struct cfg_errors *e);
void plugin_set_free(struct plugin_set *ps);
/* Load one shared object and check its descriptor (no create()).  Returns
 * 0, or -EINVAL with a message naming the file in err. */
int plugin_open(const char *path, void **dl, const struct kvs_plugin **desc,
		char *err, size_t errlen);
/* The option table of a (checked) descriptor in the host's struct layout:
 * each entry read with the plugin's option_size, members the plugin does
 * not know zeroed; NULL-terminated, malloc'd; NULL only on ENOMEM. */
struct kvs_option *plugin_options(const struct kvs_plugin *d);
/* Unload what plugin_open() loaded. */
void plugin_close(void *dl);

/* Record a file a plugin or a host service read while creating, so it is
 * part of the policy digest. */
int plugin_ctx_add_file(const kvs_config_ctx *ctx, const char *path);

/* The findings of one plugin on one request (kvs_report in the ABI).
 * Filled by one worker thread; read by the loop thread after it is done. */
struct kvs_report {
	const struct kvs_request *req;
	struct arena arena;              /* the findings and their texts */
	struct finding *first, **tail;   /* the findings, in order */
	size_t n_findings;
	uint64_t deadline_ns;            /* CLOCK_MONOTONIC */
	int invalid;                     /* the plugin reported something invalid */
	int truncated;                   /* more findings than the cap */
	/* The reporting plugin (report_set_plugin): its name for the log, and
	 * the sizes of its findings and evidence (0: the host's). */
	const char *plugin;
	uint32_t finding_size, evidence_size;
	char why[384];                   /* the first invalid finding's reason */
};
#define REPORT_MAX_FINDINGS 1000

void report_init(struct kvs_report *rep, const struct kvs_request *req, uint64_t deadline_ns);
void report_clear(struct kvs_report *rep);
void report_set_plugin(struct kvs_report *rep, const struct kvs_plugin *desc);
uint64_t now_ns(void);

#endif
