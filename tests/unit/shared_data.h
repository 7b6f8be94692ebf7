/* shared_data.h - where the tests of the list service find ../shared/data. */
#ifndef KVS_TEST_SHARED_DATA_H
#define KVS_TEST_SHARED_DATA_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* $KVS_SHARED_DATA, else the first shared/data holding INDEX.txt beside
 * the source tree or up to three folders above it (the sanitizer rerun
 * builds a copy of the tree under sanitize/src); NULL when there is none. */
static inline const char *shared_data_dir(void)
{
	static char buf[2048];
	const char *env = getenv("KVS_SHARED_DATA");
	const char *src = getenv("KVS_SRCDIR");
	static const char *const up[] = { "..", "../..", "../../..", "../../../.." };

	if (env && *env)
		return env;
	if (!src || !*src)
		src = KVS_SRCDIR;
	for (size_t i = 0; i < sizeof(up) / sizeof(*up); i++) {
		char probe[2100];

		snprintf(buf, sizeof(buf), "%s/%s/shared/data", src, up[i]);
		snprintf(probe, sizeof(probe), "%s/INDEX.txt", buf);
		if (access(probe, R_OK) == 0)
			return buf;
	}
	return NULL;
}

#endif
