/* load_env.h - what a library in lib/ needs from its caller to load files.
 *
 * The rule engine and the list service read files named in the daemon's
 * configuration, but include nothing from daemon/: the caller hands them a
 * struct kvs_load_env instead.  It says which folder relative paths are
 * resolved against, where an error goes (with file and line), and which
 * files make up the policy digest.  The struct is borrowed for the duration
 * of one load call; every member may be NULL (paths taken as given, errors
 * dropped, nothing recorded).
 */
#ifndef KVS_LOAD_ENV_H
#define KVS_LOAD_ENV_H

struct kvs_load_env {
	const char *base_dir;
	/* One error at file:line (line 0: the file as a whole). */
	void (*error)(void *arg, const char *file, int line, const char *msg);
	/* A file the load read, to be part of the policy digest.  Returns 0 or
	 * a negative errno (the load then fails with it). */
	int (*add_file)(void *arg, const char *path);
	void *arg;
};

/* `path` as given when it is absolute or dir is NULL or empty, else
 * "dir/path"; malloc'd, NULL on ENOMEM. */
char *load_env_resolve_path(const char *dir, const char *path);

/* load_env_resolve_path(env->base_dir, path); env may be NULL. */
char *load_env_resolve(const struct kvs_load_env *env, const char *path);

/* Report msg at file:line through env->error, if any. */
void load_env_error(const struct kvs_load_env *env, const char *file, int line,
		    const char *msg);

/* Record path through env->add_file, if any.  Returns 0 or its error. */
int load_env_add_file(const struct kvs_load_env *env, const char *path);

#endif
