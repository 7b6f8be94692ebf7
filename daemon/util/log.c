/* log.c - one-line log records on stderr, in the form journald keeps well. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static int log_level = KVS_LOG_INFO;

static const char *const level_names[] = {
	[KVS_LOG_ERR] = "err",
	[KVS_LOG_WARNING] = "warning",
	[KVS_LOG_NOTICE] = "notice",
	[KVS_LOG_INFO] = "info",
	[KVS_LOG_DEBUG] = "debug",
};

int log_level_parse(const char *name)
{
	for (int i = KVS_LOG_ERR; i <= KVS_LOG_DEBUG; i++)
		if (strcmp(name, level_names[i]) == 0)
			return i;
	return -EINVAL;
}

void log_set_level(int level)
{
	log_level = level;
}

int log_get_level(void)
{
	return log_level;
}

void log_vmsg(int level, const char *tag, const char *fmt, va_list ap)
{
	char line[2048];
	int n, m;

	if (level > log_level)
		return;
	n = snprintf(line, sizeof(line), "<%d>%s%s", level, tag ? tag : "",
		     tag ? ": " : "");
	if (n < 0)
		return;
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	if (m < 0)
		return;
	n += m;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	/* A message must stay one line: newlines inside it become spaces. */
	for (char *p = line; p < line + n; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}

void log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, NULL, fmt, ap);
	va_end(ap);
}
