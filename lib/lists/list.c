/* list.c - copies of a loaded list's strings, in the list's arena. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "list.h"

static int is_blank(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

const char *lists_strndup(struct kvs_list *l, const char *s, size_t n)
{
	char *p;

	if (!s)
		return NULL;
	while (n && is_blank((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n && is_blank((unsigned char)s[n - 1]))
		n--;
	if (!n)
		return NULL;
	p = arena_alloc(&l->arena, n + 1);
	if (!p)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

const char *lists_strdup(struct kvs_list *l, const char *s)
{
	return s ? lists_strndup(l, s, strlen(s)) : NULL;
}
