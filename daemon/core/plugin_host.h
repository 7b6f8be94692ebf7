/* plugin_host.h - loading plugins and the host function table they call. */
#ifndef KVS_PLUGIN_HOST_H
#define KVS_PLUGIN_HOST_H

#include "cfg.h"
#include <jansson.h>
#include <stdint.h>

#include "kvscreen/plugin.h"
#include "request.h"

/* The host's side of one loaded plugin (kvs_config_ctx in the ABI). */
struct kvs_config_ctx {
	const struct cfg_plugin *cp;     /* its configuration group */
	struct kvs_cfg *cfg;             /* the configuration being loaded */
	struct cfg_errors *errors;       /* errors during create(), else NULL */
	int failed;
};

struct plugin {
	void *dl;                        /* dlopen handle */
	const struct kvs_plugin *desc;
	struct kvs_config_ctx ctx;
	struct cfg_plugin *cp;
	void *config;                    /* parsed options, desc->config_size */
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

/* Record a file a plugin or a host service read while creating, so it is
 * part of the policy digest. */
int plugin_ctx_add_file(const kvs_config_ctx *ctx, const char *path);

/* The findings of one plugin on one request (kvs_report in the ABI).
 * Filled by one worker thread; read by the loop thread after it is done. */
struct kvs_report {
	const struct kvs_request *req;
	json_t *findings;                /* array of finding objects */
	uint64_t deadline_ns;            /* CLOCK_MONOTONIC */
	int invalid;                     /* the plugin reported something invalid */
	int truncated;                   /* more findings than the cap */
};
#define REPORT_MAX_FINDINGS 1000

void report_init(struct kvs_report *rep, const struct kvs_request *req, uint64_t deadline_ns);
void report_clear(struct kvs_report *rep);
uint64_t now_ns(void);

#endif
