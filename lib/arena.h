/* arena.h - a bump allocator for many small blocks that die together.
 *
 * Two users: the strings of a loaded list (lib/lists/, hundreds of
 * thousands, freed with the list) and a plugin's findings on one request
 * (dozens of strings and evidence arrays that live exactly as long as the
 * verdict: allocating and freeing them one by one, on two threads, was a
 * tenth of the daemon's CPU).  An arena hands out blocks from chunks it
 * mallocs (from `next_size`, default 2 KB, doubling to 64 KB; a block over
 * a quarter of a chunk gets a chunk of its own) and frees them all at
 * once.  Not thread-safe: one arena, one thread at a time.
 */
#ifndef KVS_ARENA_H
#define KVS_ARENA_H

#include <stddef.h>

struct arena_chunk;

struct arena {
	struct arena_chunk *chunks;
	char *p;            /* next free byte of the newest chunk */
	size_t left;        /* bytes free there */
	size_t next_size;   /* size of the next chunk (0: 2 KB); may be set
			     * before the first allocation, e.g. to 256 KB */
	int failed;         /* an allocation has failed (for callers that
			     * check once at the end) */
};

/* A zeroed struct arena is an empty arena. */
#define ARENA_INIT { 0 }
/* Blocks are aligned to this: pointers, 64-bit integers and doubles. */
#define ARENA_ALIGN 8u

/* n bytes aligned to ARENA_ALIGN, or NULL (and `failed` set) when out of
 * memory or n is absurd. */
void *arena_alloc(struct arena *a, size_t n);
/* n zeroed bytes; the same. */
void *arena_zalloc(struct arena *a, size_t n);
/* A NUL-terminated copy of n bytes at s; NULL when out of memory. */
char *arena_strndup(struct arena *a, const char *s, size_t n);
/* Frees every block; the arena is empty again and may be reused. */
void arena_free(struct arena *a);
/* Bytes the arena holds from malloc (for tests and statistics). */
size_t arena_size(const struct arena *a);

#endif
