/* policy.h - turns findings into a decision and a score. */
#ifndef KVS_POLICY_H
#define KVS_POLICY_H

#include "kvscreen/plugin.h"

enum decision {
	DECISION_CLEAR = 0,
	DECISION_REVIEW,
	DECISION_ESCALATE,
	DECISION_DENY,
};

struct policy {
	enum decision by_severity[KVS_SEV_CRITICAL + 1];
	long long weight[KVS_SEV_CRITICAL + 1];   /* score contribution, 0..100 */
	enum decision on_plugin_failure;          /* at least review */
	enum decision on_no_plugin;               /* at least review */
};

void policy_default(struct policy *p);
const char *decision_name(enum decision d);
int decision_parse(const char *name);          /* -EINVAL if unknown */
/* Severity names: kvs_severity_name() and kvs_severity_parse() of
 * kvscreen/plugin.h, the one table of them. */

/* Accumulates findings into a decision; start with policy_result_init. */
struct policy_result {
	enum decision decision;
	int max_weight;
	long long extra;
};
void policy_result_init(struct policy_result *r);
void policy_add_finding(const struct policy *p, struct policy_result *r, enum kvs_severity s);
void policy_add_failure(const struct policy *p, struct policy_result *r);
void policy_add_no_plugin(const struct policy *p, struct policy_result *r);
/* 0..100: the heaviest finding, plus a tenth of the others, capped. */
int policy_score(const struct policy_result *r);

#endif
