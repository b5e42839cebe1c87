// Counts heap allocations of the process this target is linked into.
//
// Linking it defines malloc, calloc, realloc, free, posix_memalign,
// aligned_alloc and memalign in the executable, which takes precedence over
// glibc's (symbol interposition); each forwards to glibc's __libc_* entry
// point and bumps an atomic counter. Benchmarks read the counter around a
// measured window to report allocations per message or per request, as
// swift-nio's allocation-counter tests do.
#ifndef C_ALLOCATION_COUNTER_H
#define C_ALLOCATION_COUNTER_H
#include <stdint.h>

/// Allocations (malloc, calloc, realloc of a new block, aligned variants).
uint64_t swiftlet_allocation_count(void);
/// Calls of free with a non-null pointer.
uint64_t swiftlet_free_count(void);
/// Whether the interposed functions are the ones in use (0 if something
/// else won the symbol resolution, making the counts meaningless).
int swiftlet_allocation_counter_active(void);

#endif
