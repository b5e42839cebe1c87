// LD_PRELOAD library counting the heap allocations of any process (used by
// tools/write-path-bench.py on the unmodified swiftlet binary).
//
//   gcc -O2 -shared -fPIC alloc_preload.c -o libswiftlet_alloc_count.so
//   LD_PRELOAD=./libswiftlet_alloc_count.so swiftlet ...
//   kill -USR2 <pid>    # prints "allocations=N" to standard error
//
// malloc, calloc, realloc and the aligned variants forward to glibc's
// __libc_* functions and bump an atomic counter; SIGUSR2 prints it with
// async-signal-safe calls only.
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static uint64_t allocations;

static inline void count(void) { __atomic_fetch_add(&allocations, 1, __ATOMIC_RELAXED); }

void *malloc(size_t size) { count(); return __libc_malloc(size); }
void *calloc(size_t n, size_t size) { count(); return __libc_calloc(n, size); }
void *realloc(void *p, size_t size) { count(); return __libc_realloc(p, size); }
void *memalign(size_t alignment, size_t size) { count(); return __libc_memalign(alignment, size); }
void *aligned_alloc(size_t alignment, size_t size) { count(); return __libc_memalign(alignment, size); }
int posix_memalign(void **out, size_t alignment, size_t size) {
    count();
    void *p = __libc_memalign(alignment, size);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}

static void report(int signo) {
    (void)signo;
    char text[64] = "allocations=";
    char digits[24];
    uint64_t value = __atomic_load_n(&allocations, __ATOMIC_RELAXED);
    int length = 0;
    do { digits[length++] = (char)('0' + value % 10); value /= 10; } while (value);
    size_t position = strlen(text);
    while (length) text[position++] = digits[--length];
    text[position++] = '\n';
    ssize_t ignored = write(STDERR_FILENO, text, position);
    (void)ignored;
}

__attribute__((constructor)) static void install(void) {
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_handler = report;
    sigemptyset(&action.sa_mask);
    sigaction(SIGUSR2, &action, NULL);
}
