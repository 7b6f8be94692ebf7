/* list.c - the arena every string of a loaded list lives in. */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "list.h"

#define ARENA_CHUNK (256u << 10)

struct lists_chunk {
	struct lists_chunk *next;
	size_t cap;
	char data[];
};

void *list_arena_alloc(struct lists_arena *a, size_t n)
{
	void *p;

	n = (n + 7) & ~(size_t)7;
	if (!a->head || a->cap - a->used < n) {
		size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
		struct lists_chunk *c = malloc(sizeof(*c) + cap);

		if (!c) {
			/* Loaders take NULL for an empty field: remember. */
			a->failed = 1;
			return NULL;
		}
		c->next = a->head;
		c->cap = cap;
		a->head = c;
		a->used = 0;
		a->cap = cap;
	}
	p = a->head->data + a->used;
	a->used += n;
	return p;
}

void list_arena_free(struct lists_arena *a)
{
	struct lists_chunk *c = a->head, *next;

	for (; c; c = next) {
		next = c->next;
		free(c);
	}
	a->head = NULL;
}

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
	p = list_arena_alloc(&l->arena, n + 1);
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
