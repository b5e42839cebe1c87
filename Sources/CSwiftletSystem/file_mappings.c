// File mappings that survive their file shrinking.
//
// Swiftlet sends files from `mmap`ed pages. When a file is truncated while
// mapped, touching a page past its new end raises SIGBUS, which would kill
// the server. The kernel's own copies (sendmsg from the mapping) fail with
// EFAULT instead, and MADV_POPULATE_READ reports EFAULT too; only user-space
// reads (TLS encryption, small copies) can fault. This guard turns such a
// fault into a read of zeros and marks the mapping, so the sender can see
// that the body can no longer be completed and abandon it (RST_STREAM, or a
// closed HTTP/1.1 connection) instead of crashing.
#define _GNU_SOURCE
#include "CSwiftletSystem.h"
#include <stdatomic.h>
#include <pthread.h>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

int swiftlet_populate_read(const void *addr, size_t length) {
    if (length == 0) return 0;
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t start = (uintptr_t)addr & ~(uintptr_t)(page - 1);
    size_t span = (uintptr_t)addr + length - start;
    if (madvise((void *)start, span, MADV_POPULATE_READ) == 0) return 0;
    int error = errno;
    if (error != EINVAL) return -error;
    // Kernels before 5.14: touch every page. The volatile loads cannot be
    // optimised away; a page past the end of the file raises SIGBUS, which
    // the guard below absorbs for registered mappings.
    const volatile unsigned char *bytes = (const volatile unsigned char *)start;
    unsigned char sum = 0;
    for (size_t offset = 0; offset < span; offset += (size_t)page) sum += bytes[offset];
    (void)sum;
    return 0;
}

// MARK: - the registry the signal handler reads

#define SLOTS 16384

struct slot {
    _Atomic uintptr_t start;   // 0: free; 1: being filled
    _Atomic uintptr_t end;
    _Atomic int faulted;
};

static struct slot slots[SLOTS];
static _Atomic int used;
static _Atomic int hint;

static void sigbus_handler(int signo, siginfo_t *info, void *context) {
    (void)context;
    uintptr_t address = (uintptr_t)info->si_addr;
    for (int i = 0; i < SLOTS; i++) {
        uintptr_t start = atomic_load_explicit(&slots[i].start, memory_order_acquire);
        if (start <= 1 || address < start) continue;  // free, or being filled
        if (address >= atomic_load_explicit(&slots[i].end, memory_order_acquire)) continue;
        long page = sysconf(_SC_PAGESIZE);
        void *missing = (void *)(address & ~(uintptr_t)(page - 1));
        // mmap is async-signal-safe in practice (a plain system call).
        if (mmap(missing, (size_t)page, PROT_READ, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) != MAP_FAILED) {
            atomic_store_explicit(&slots[i].faulted, 1, memory_order_release);
            return;  // the faulting load runs again and reads zeros
        }
        break;
    }
    // Not ours: the default action (the instruction faults again).
    signal(signo, SIG_DFL);
}

static pthread_once_t installed = PTHREAD_ONCE_INIT;

static void install(void) {
    struct sigaction action;
    memset(&action, 0, sizeof(action));
    action.sa_sigaction = sigbus_handler;
    action.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&action.sa_mask);
    sigaction(SIGBUS, &action, NULL);
}

void swiftlet_sigbus_guard_install(void) { pthread_once(&installed, install); }

int swiftlet_mapping_register(const void *start, size_t length) {
    if (start == NULL || length == 0) return -1;
    int first = atomic_load_explicit(&hint, memory_order_relaxed);
    for (int n = 0; n < SLOTS; n++) {
        int i = (first + n) % SLOTS;
        uintptr_t expected = 0;
        // Claim the slot with a marker the handler skips, fill it, then
        // publish the start.
        if (!atomic_compare_exchange_strong(&slots[i].start, &expected, (uintptr_t)1)) continue;
        atomic_store_explicit(&slots[i].end, (uintptr_t)start + length, memory_order_relaxed);
        atomic_store_explicit(&slots[i].faulted, 0, memory_order_relaxed);
        atomic_store_explicit(&slots[i].start, (uintptr_t)start, memory_order_release);
        atomic_store_explicit(&hint, (i + 1) % SLOTS, memory_order_relaxed);
        atomic_fetch_add(&used, 1);
        return i;
    }
    return -1;
}

void swiftlet_mapping_unregister(int slot) {
    if (slot < 0 || slot >= SLOTS) return;
    atomic_store_explicit(&slots[slot].start, 0, memory_order_release);
    atomic_fetch_sub(&used, 1);
}

bool swiftlet_mapping_faulted(int slot) {
    if (slot < 0 || slot >= SLOTS) return false;
    return atomic_load_explicit(&slots[slot].faulted, memory_order_acquire) != 0;
}

int swiftlet_mapping_count(void) { return atomic_load(&used); }
