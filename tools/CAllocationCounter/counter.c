#include "CAllocationCounter.h"
#include <stddef.h>
#include <stdlib.h>
#include <errno.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
extern void *__libc_memalign(size_t, size_t);

static uint64_t allocations;
static uint64_t frees;

static inline void count_allocation(void) { __atomic_fetch_add(&allocations, 1, __ATOMIC_RELAXED); }

void *malloc(size_t size) {
    count_allocation();
    return __libc_malloc(size);
}

void *calloc(size_t n, size_t size) {
    count_allocation();
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size) {
    count_allocation();
    return __libc_realloc(p, size);
}

void free(void *p) {
    if (p) __atomic_fetch_add(&frees, 1, __ATOMIC_RELAXED);
    __libc_free(p);
}

int posix_memalign(void **out, size_t alignment, size_t size) {
    count_allocation();
    void *p = __libc_memalign(alignment, size);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}

void *aligned_alloc(size_t alignment, size_t size) {
    count_allocation();
    return __libc_memalign(alignment, size);
}

void *memalign(size_t alignment, size_t size) {
    count_allocation();
    return __libc_memalign(alignment, size);
}

uint64_t swiftlet_allocation_count(void) { return __atomic_load_n(&allocations, __ATOMIC_RELAXED); }
uint64_t swiftlet_free_count(void) { return __atomic_load_n(&frees, __ATOMIC_RELAXED); }

int swiftlet_allocation_counter_active(void) {
    uint64_t before = swiftlet_allocation_count();
    void *volatile p = malloc(16);
    free(p);
    return swiftlet_allocation_count() > before;
}
