/* sanctions.h - sanctions bans of the export_control plugin: what export_control.c calls. */
#ifndef KVS_EC_SANCTIONS_H
#define KVS_EC_SANCTIONS_H

#include "kvscreen/plugin.h"

struct sanctions;

/* What export_control found in a request before the bans are weighed. */
struct sanctions_items {
	int dual_use;               /* dual-use rule findings and Annex I classifications */
	int military;               /* Common Military List rule findings and ML classifications */
	const kvs_ruleset *rules;   /* export_control's rules, scanned again for Annex I entries */
	const char *const *eu;      /* EU member states */
	const char *home;           /* the institute's country */
};

/* Load the sanctions file `file` (libconfig; see conf/rules/export_control/
 * sanctions.conf) from create().  Every error is reported through
 * host->config_error as file:line.  Returns 0 and *out, or a negative errno. */
int sanctions_load(const struct kvs_host *host, const kvs_config_ctx *ctx, const char *file,
		   struct sanctions **out);

/* Weigh the bans against one request; thread-safe (reads the state only).
 * Returns 0 or a negative errno. */
int sanctions_screen(const struct sanctions *s, const kvs_request *req, kvs_report *rep,
		     const struct sanctions_items *it);

void sanctions_free(struct sanctions *s);

#endif
