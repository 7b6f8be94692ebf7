/* lists_aspi.c - loader for the ASPI China Defence Universities Tracker as
 * a MISP galaxy cluster JSON (values[] of { value, uuid, meta }).
 *
 * `value` is "English name (Chinese name)": the English part is the primary
 * name and the Chinese part an alias, as are meta.aliases (Chinese script,
 * abbreviations, former names).  The severity follows meta.categories:
 * "Civilian" institutions take the list's configured severity, all others
 * (Military, Security, Defence industry conglomerate, Seven sons of
 * national defence) at least high.  The categories are the entry's reason.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lists.h"

static int aspi_load(struct lists_ctx *ctx, const char *path)
{
	struct kvs_list *l = ctx->list;
	const char **av = malloc(LISTS_MAX_ALIASES * sizeof(*av));
	json_t *root = NULL, *values, *v;
	json_error_t jerr;
	char *buf = NULL;
	size_t len, i;
	int rc;

	if (!av)
		return -ENOMEM;
	rc = lists_read_file(ctx, path, &buf, &len);
	if (rc < 0)
		goto fail;
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		lists_diag(ctx, path, 0, "JSON error at line %d: %s", jerr.line,
			   jerr.text);
		rc = -EINVAL;
		goto fail;
	}
	values = json_object_get(root, "values");
	if (!json_is_array(values)) {
		lists_diag(ctx, path, 0, "no \"values\" array");
		rc = -EINVAL;
		goto fail;
	}
	if (json_is_integer(json_object_get(root, "version"))) {
		char ver[32];

		snprintf(ver, sizeof(ver), "%lld",
			 (long long)json_integer_value(
			     json_object_get(root, "version")));
		lists_set_version(l, ver);
	}
	json_array_foreach(values, i, v) {
		json_t *meta = json_object_get(v, "meta"), *a, *cats;
		const char *value = json_string_value(json_object_get(v, "value"));
		const char *uuid = json_string_value(json_object_get(v, "uuid"));
		const char *open, *close, *name;
		char reason[256] = "";
		int military = 0;
		struct list_entry *e;
		size_t na = 0, k;

		if (!value || !*value) {
			/* JSON values carry no line numbers: name the index. */
			lists_diag(ctx, path, (int)i + 1,
				   "/values/%zu has no \"value\" string", i);
			continue;
		}
		open = strrchr(value, '(');
		close = open ? strchr(open, ')') : NULL;
		if (open && close && open > value) {
			name = lists_strndup(l, value, (size_t)(open - value));
			av[na] = lists_strndup(l, open + 1,
					       (size_t)(close - open - 1));
			if (av[na])
				na++;
		} else {
			name = lists_strndup(l, value, strnlen(value, LISTS_MAX_NAME));
		}
		json_array_foreach(json_object_get(meta, "aliases"), k, a) {
			const char *s = json_string_value(a);

			if (s && na < LISTS_MAX_ALIASES &&
			    (av[na] = lists_strndup(l, s, strnlen(s, LISTS_MAX_NAME))))
				na++;
		}
		e = lists_add(l, lists_strdup(l, uuid ? uuid : ""), name, av, na);
		if (!e) {
			rc = name ? -ENOMEM : 0;
			if (!name) {
				lists_diag(ctx, path, (int)i + 1,
					   "/values/%zu has an empty name", i);
				continue;
			}
			goto fail;
		}
		cats = json_object_get(meta, "categories");
		json_array_foreach(cats, k, a) {
			const char *s = json_string_value(a);
			size_t o = strlen(reason);

			if (!s)
				continue;
			if (strcmp(s, "Civilian") != 0)
				military = 1;
			snprintf(reason + o, sizeof(reason) - o, "%s%s",
				 o ? ", " : "ASPI category: ", s);
		}
		if (military && e->severity < KVS_SEV_HIGH)
			e->severity = KVS_SEV_HIGH;
		e->reason = reason[0] ? lists_strdup(l, reason) : NULL;
		e->country = lists_strdup(l, "CN");
		e->program = lists_strdup(l, "ASPI China Defence Universities Tracker");
	}
	rc = 0;
fail:
	json_decref(root);
	free(buf);
	free(av);
	return rc;
}

const struct lists_format lists_format_aspi = {
	.name = "aspi",
	.load = aspi_load,
};
