/* load_env.c - the helpers of struct kvs_load_env (see load_env.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "load_env.h"

char *load_env_resolve_path(const char *dir, const char *path)
{
	char *out;

	if (path[0] == '/' || !dir || !*dir)
		return strdup(path);
	if (asprintf(&out, "%s/%s", dir, path) < 0)
		return NULL;
	return out;
}

char *load_env_resolve(const struct kvs_load_env *env, const char *path)
{
	return load_env_resolve_path(env ? env->base_dir : NULL, path);
}

void load_env_error(const struct kvs_load_env *env, const char *file, int line,
		    const char *msg)
{
	if (env && env->error)
		env->error(env->arg, file, line, msg);
}

int load_env_add_file(const struct kvs_load_env *env, const char *path)
{
	if (env && env->add_file)
		return env->add_file(env->arg, path);
	return 0;
}
