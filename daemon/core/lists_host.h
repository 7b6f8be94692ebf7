/* lists_host.h - the list service as the plugin ABI offers it (struct
 * kvs_host lists_* members). */
#ifndef KVS_LISTS_HOST_H
#define KVS_LISTS_HOST_H

#include "kvscreen/plugin.h"
#include "load_env.h"

#include <stddef.h>

/* The smallest sizes of the list structs of ABI 3 (see plugin_host.h). */
#define KVS_ABI3_LIST_MATCH_SIZE \
	(offsetof(struct kvs_list_match, nationality) + sizeof(const char *))
#define KVS_ABI3_LIST_INFO_SIZE (offsetof(struct kvs_list_info, mtime) + sizeof(long long))

/* What loading a list needs of its caller (the plugin host): load.base_dir
 * is the folder of the plugin's configuration file; every member may be
 * NULL or 0, and env itself may be NULL. */
struct lists_host_env {
	struct kvs_load_env load;  /* base folder, errors, policy digest */
	int at_entry;              /* errors point at the configuration entry
				    * (file NULL), not at the list file */
	/* 1 when `kvscreen lists update` has an address for the list `name`:
	 * a missing file of such a list is loaded as an empty placeholder. */
	int (*has_source)(void *arg, const char *name);
	void (*warn)(void *arg, const char *msg);
};

/* Load a list for a plugin: host->lists_load() without the context. */
int lists_host_load(const struct lists_host_env *env, const char *format,
		    const char *path, const char *list_name,
		    enum kvs_severity severity, int strict,
		    struct kvs_list **out);
void lists_host_release(struct kvs_list *list);
int lists_host_match(const struct kvs_list *const *lists, size_t n,
		     const char *name, size_t len, double threshold,
		     struct kvs_list_match *out, size_t max_out);
int lists_host_info(const struct kvs_list *list, struct kvs_list_info *out);
int lists_host_normalise(const char *name, size_t len, char *buf,
			 size_t buflen);

#endif
