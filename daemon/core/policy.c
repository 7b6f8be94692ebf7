/* policy.c - turns findings into a decision and a score under the admin's policy.
 *
 * Evidence and decision are kept apart (as in rspamd): plugins report
 * findings with a severity; the policy maps each severity to a decision and a
 * weight.  The highest decision wins.  A failed or timed-out plugin, and a
 * request that no plugin handles, force at least "review" (fail closed).
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "policy.h"

static const char *const decision_names[] = {
	[DECISION_CLEAR] = "clear",
	[DECISION_REVIEW] = "review",
	[DECISION_ESCALATE] = "escalate",
	[DECISION_DENY] = "deny",
};

void policy_default(struct policy *p)
{
	static const enum decision dec[] = {
		DECISION_CLEAR, DECISION_CLEAR, DECISION_REVIEW,
		DECISION_ESCALATE, DECISION_DENY,
	};
	static const long long w[] = { 0, 10, 40, 70, 100 };

	memcpy(p->by_severity, dec, sizeof(dec));
	memcpy(p->weight, w, sizeof(w));
	p->on_plugin_failure = DECISION_REVIEW;
	p->on_no_plugin = DECISION_REVIEW;
}

const char *decision_name(enum decision d)
{
	return (unsigned)d <= DECISION_DENY ? decision_names[d] : "?";
}

int decision_parse(const char *name)
{
	for (int i = DECISION_CLEAR; i <= DECISION_DENY; i++)
		if (strcmp(name, decision_names[i]) == 0)
			return i;
	return -EINVAL;
}

void policy_result_init(struct policy_result *r)
{
	r->decision = DECISION_CLEAR;
	r->max_weight = 0;
	r->extra = 0;
}

static void raise_to(struct policy_result *r, enum decision d)
{
	if (d > r->decision)
		r->decision = d;
}

void policy_add_finding(const struct policy *p, struct policy_result *r, enum kvs_severity s)
{
	int w;

	if ((unsigned)s > KVS_SEV_CRITICAL)
		s = KVS_SEV_CRITICAL;
	w = (int)p->weight[s];
	raise_to(r, p->by_severity[s]);
	if (w > r->max_weight) {
		r->extra += r->max_weight;
		r->max_weight = w;
	} else {
		r->extra += w;
	}
}

void policy_add_failure(const struct policy *p, struct policy_result *r)
{
	raise_to(r, p->on_plugin_failure > DECISION_REVIEW ? p->on_plugin_failure
							   : DECISION_REVIEW);
}

void policy_add_no_plugin(const struct policy *p, struct policy_result *r)
{
	raise_to(r, p->on_no_plugin > DECISION_REVIEW ? p->on_no_plugin : DECISION_REVIEW);
}

int policy_score(const struct policy_result *r)
{
	long long s = r->max_weight + r->extra / 10;

	return s > 100 ? 100 : (int)s;
}
