/* log.h - one-line log records on stderr with syslog priority prefixes. */
#ifndef KVS_LOG_H
#define KVS_LOG_H

#include <stdarg.h>

#include "kvscreen/plugin.h"

/* Parse "err", "warning", "notice", "info" or "debug"; -EINVAL otherwise. */
int log_level_parse(const char *name);
void log_set_level(int level);
int log_get_level(void);
/* Write "<N>tag: message\n" (journald reads the <N> prefix) in one write(2),
 * so lines of concurrent threads never interleave.  Safe on any thread. */
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(int level, const char *tag, const char *fmt, va_list ap);

#define log_err(...) log_msg(KVS_LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(KVS_LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(KVS_LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(KVS_LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(KVS_LOG_DEBUG, __VA_ARGS__)

#endif
