/* alloc_fail.h - make one chosen allocation of the calling thread fail, to test what follows a NULL from malloc. */
#ifndef KVS_ALLOC_FAIL_H
#define KVS_ALLOC_FAIL_H

/* A test program that links alloc_fail.c replaces malloc, calloc and
 * realloc for the whole process (the executable's definitions take
 * precedence over libc's for every library it loads); the replacements
 * forward to glibc's own allocator, so free() stays libc's.  Counting is
 * per thread: only the thread that armed the injector sees a failure, so
 * a test is deterministic while other threads allocate.
 *
 * Under AddressSanitizer the replacements are left out (ASan must own the
 * heap) and alloc_fail_available() is 0: the test skips. */

/* 1 when the replacements are built in. */
int alloc_fail_available(void);
/* From now on, the nth (1-based) allocation call of this thread returns
 * NULL with errno ENOMEM; the calls before it and after it succeed. */
void alloc_fail_arm(unsigned long nth);
/* Count and fail only the allocations called directly from the code of the
 * first loaded object whose file name contains `name` ("" is the program
 * itself); NULL counts all again.  For code that calls a library which
 * does not survive a NULL from malloc.  0, or -ENOENT. */
int alloc_fail_only(const char *name);
/* Stop counting.  Returns 1 when the armed allocation was failed. */
int alloc_fail_disarm(void);

#endif
