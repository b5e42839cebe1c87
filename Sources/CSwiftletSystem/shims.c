#define _GNU_SOURCE
#include "CSwiftletSystem.h"
#include <sys/syscall.h>
#include <pthread.h>
#include <linux/memfd.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <malloc.h>

int swiftlet_memfd_create(const char *name) {
    return (int)syscall(SYS_memfd_create, name, MFD_CLOEXEC);
}

int swiftlet_accept_nonblocking(int fd, struct sockaddr *addr, socklen_t *len) {
    return accept4(fd, addr, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

int swiftlet_socket_nonblocking(int domain, int type, int protocol) {
    return socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
}

int swiftlet_set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL, 0);
    if (flags < 0) return -errno;
    if (fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return -errno;
    return 0;
}

int swiftlet_gettid(void) { return (int)syscall(SYS_gettid); }

void swiftlet_set_thread_name(const char *name) { pthread_setname_np(pthread_self(), name); }

int swiftlet_pin_to_cpu(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) != 0) return -errno;
    return 0;
}

int swiftlet_block_signal(int signo) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, signo);
    return -pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int swiftlet_unblock_signal(int signo) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, signo);
    return -pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

int swiftlet_signalfd_for(int fd, int signo) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, signo);
    int r = signalfd(fd, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    return r < 0 ? -errno : r;
}

size_t swiftlet_signalfd_siginfo_size(void) { return sizeof(struct signalfd_siginfo); }

bool swiftlet_uring_opcode_supported(struct io_uring *ring, int opcode) {
    struct io_uring_probe *probe = io_uring_get_probe_ring(ring);
    if (!probe) return false;
    bool ok = io_uring_opcode_supported(probe, opcode);
    io_uring_free_probe(probe);
    return ok;
}

int swiftlet_uring_init(struct io_uring *ring, unsigned entries, unsigned flags, unsigned *used_flags) {
    struct io_uring_params params;
    memset(&params, 0, sizeof(params));
    params.flags = flags;
    int rc = io_uring_queue_init_params(entries, ring, &params);
    if (rc == -EINVAL && flags != 0) {
        memset(&params, 0, sizeof(params));
        rc = io_uring_queue_init_params(entries, ring, &params);
        flags = 0;
    }
    if (rc == 0 && used_flags) *used_flags = flags;
    return rc;
}

unsigned swiftlet_cqe_f_more(void) { return IORING_CQE_F_MORE; }

void swiftlet_uring_prep_cancel_fd_all(struct io_uring_sqe *sqe, int fd) {
    io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL);
}

int swiftlet_open_beneath(int dirfd, const char *path, bool no_symlinks) {
    struct open_how how;
    memset(&how, 0, sizeof(how));
    how.flags = O_RDONLY | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | (no_symlinks ? RESOLVE_NO_SYMLINKS : 0);
    long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
    return fd < 0 ? -errno : (int)fd;
}

long swiftlet_page_size(void) { return sysconf(_SC_PAGESIZE); }

long swiftlet_resident_pages(void *addr, size_t length) {
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t start = (uintptr_t)addr & ~(uintptr_t)(page - 1);
    size_t span = (uintptr_t)addr + length - start;
    size_t pages = (span + page - 1) / page;
    unsigned char small[256];
    unsigned char *vec = pages <= sizeof(small) ? small : malloc(pages);
    if (!vec) return -1;
    long resident = 0;
    if (mincore((void *)start, span, vec) == 0) {
        for (size_t i = 0; i < pages; i++) resident += vec[i] & 1;
    } else {
        resident = -1;
    }
    if (vec != small) free(vec);
    return resident;
}

int swiftlet_open_resolved(const char *path) {
    struct open_how how;
    memset(&how, 0, sizeof(how));
    how.flags = O_RDONLY | O_CLOEXEC;
    how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    long fd = syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof(how));
    return fd < 0 ? -errno : (int)fd;
}

int swiftlet_malloc_trim(void) { return malloc_trim(0); }
