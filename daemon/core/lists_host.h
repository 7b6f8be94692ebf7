/* lists_host.h - the list service as the plugin ABI offers it (struct
 * kvs_host lists_* members). */
#ifndef KVS_LISTS_HOST_H
#define KVS_LISTS_HOST_H

#include "kvscreen/plugin.h"

int lists_host_load(const kvs_config_ctx *ctx, const char *format,
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
