/* arena.c - a bump allocator for many small blocks that die together (see arena.h). */
#include "config.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"

#define ARENA_FIRST 2048u
#define ARENA_MAX_CHUNK 65536u

struct arena_chunk {
	struct arena_chunk *next;
	size_t size;                        /* bytes of data[] */
	alignas(ARENA_ALIGN) char data[];
};

static size_t round_up(size_t n)
{
	return (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
}

void *arena_alloc(struct arena *a, size_t n)
{
	struct arena_chunk *c;
	size_t need, size;
	void *p;

	if (n > SIZE_MAX / 2) {
		a->failed = 1;
		return NULL;
	}
	need = round_up(n ? n : 1);
	if (need <= a->left) {
		p = a->p;
		a->p += need;
		a->left -= need;
		return p;
	}
	size = a->next_size ? a->next_size : ARENA_FIRST;
	if (need > size / 4) {
		/* A large block gets a chunk of its own, behind the current
		 * one, so the space left in the current one stays usable. */
		c = malloc(sizeof(*c) + need);
		if (!c) {
			a->failed = 1;
			return NULL;
		}
		c->size = need;
		if (a->chunks) {
			c->next = a->chunks->next;
			a->chunks->next = c;
		} else {
			c->next = NULL;
			a->chunks = c;
		}
		return c->data;
	}
	c = malloc(sizeof(*c) + size);
	if (!c) {
		a->failed = 1;
		return NULL;
	}
	c->size = size;
	c->next = a->chunks;
	a->chunks = c;
	a->p = c->data + need;
	a->left = size - need;
	if (size < ARENA_MAX_CHUNK)
		a->next_size = size * 2;
	return c->data;
}

void *arena_zalloc(struct arena *a, size_t n)
{
	void *p = arena_alloc(a, n);

	if (p)
		memset(p, 0, n);
	return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
	char *p = n < SIZE_MAX ? arena_alloc(a, n + 1) : NULL;

	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

void arena_free(struct arena *a)
{
	struct arena_chunk *c = a->chunks, *next;

	for (; c; c = next) {
		next = c->next;
		free(c);
	}
	memset(a, 0, sizeof(*a));
}

size_t arena_size(const struct arena *a)
{
	size_t n = 0;

	for (const struct arena_chunk *c = a->chunks; c; c = c->next)
		n += sizeof(*c) + c->size;
	return n;
}
