/* plugin_host.h - loading plugins and the host function table they call. */
#ifndef KVS_PLUGIN_HOST_H
#define KVS_PLUGIN_HOST_H

#include "cfg.h"
#include "kvscreen/plugin.h"

/* The host's side of one loaded plugin (kvs_config_ctx in the ABI). */
struct kvs_config_ctx {
	const struct cfg_plugin *cp;     /* its configuration group */
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

#endif
