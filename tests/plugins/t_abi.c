/* t_abi.c - a test plugin built for an ABI version kvscreend does not speak. */
#include "kvscreen/plugin.h"

static int t_screen(void *state, const struct kvs_host *host, const kvs_request *req,
		    kvs_report *rep)
{
	return 0;
}

KVS_PLUGIN_DECLARE = {
	.abi_version = KVS_ABI_VERSION + 98,
	.size = sizeof(struct kvs_plugin),
	.name = "t_abi",
	.version = "1.0",
	.types = KVS_REQ_EXPORT,
	.screen = t_screen,
};
