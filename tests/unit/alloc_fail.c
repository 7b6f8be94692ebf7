/* alloc_fail.c - malloc, calloc and realloc that fail one chosen call of the arming thread (see alloc_fail.h). */
#include "config.h"

#include <errno.h>
#include <link.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc_fail.h"

#if defined(__SANITIZE_ADDRESS__)
#define ALLOC_FAIL_OFF 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ALLOC_FAIL_OFF 1
#endif
#endif

/* Calls left before the failing one (0: not armed), and whether it failed.
 * Initial-exec TLS of the executable: usable before any malloc. */
static __thread unsigned long left;
static __thread int fired;

/* When set, only the allocations called from this code are counted and
 * failed (see alloc_fail_only). */
static uintptr_t only_lo, only_hi;

static int find_only(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	if (!info->dlpi_name || !strstr(info->dlpi_name, (const char *)arg))
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		only_lo = lo;
		only_hi = lo + ph->p_memsz;
	}
	return 1;
}

int alloc_fail_only(const char *name)
{
	only_lo = only_hi = 0;
	if (!name)
		return 0;
	return dl_iterate_phdr(find_only, (void *)name) ? 0 : -ENOENT;
}

#ifndef ALLOC_FAIL_OFF
void *__libc_malloc(size_t size);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t size);

/* 1 when this call (from code at caller) is the one to fail. */
static int take(const void *caller)
{
	uintptr_t c = (uintptr_t)caller;

	if (!left || (only_hi && (c < only_lo || c >= only_hi)) || --left)
		return 0;
	fired = 1;
	errno = ENOMEM;
	return 1;
}

void *malloc(size_t size)
{
	return take(__builtin_return_address(0)) ? NULL : __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
	return take(__builtin_return_address(0)) ? NULL : __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
	return take(__builtin_return_address(0)) ? NULL : __libc_realloc(p, size);
}

int alloc_fail_available(void)
{
	return 1;
}
#else
int alloc_fail_available(void)
{
	return 0;
}
#endif

void alloc_fail_arm(unsigned long nth)
{
	fired = 0;
	left = nth;
}

int alloc_fail_disarm(void)
{
	left = 0;
	return fired;
}
