// CSwiftletSystem: the one C target of Swiftlet.
//
// It makes liburing, OpenSSL and the Linux headers the loop needs visible to
// Swift, and wraps the few things Swift cannot call directly (macros,
// variadic functions, GNU-only declarations).
//
// Include order matters. liburing.h defines _XOPEN_SOURCE/_GNU_SOURCE before
// its own system includes; if it came first, types such as fd_set would be
// defined differently here than in Swift's Glibc module, and the importer
// rejects the mismatch ("fd_set ... is not present in definition"). So every
// system header liburing.h uses is included first, with the same macros the
// Glibc module sees, and liburing.h last.
#ifndef C_SWIFTLET_SYSTEM_H
#define C_SWIFTLET_SYSTEM_H

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <inttypes.h>
#include <time.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/select.h>
#include <sys/mman.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/resource.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <unistd.h>
#include <string.h>

#include <liburing.h>

#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <openssl/rand.h>
#include <openssl/evp.h>

// MARK: - Linux calls that are GNU extensions or variadic

/// memfd_create(2) with MFD_CLOEXEC (declared only under _GNU_SOURCE).
int swiftlet_memfd_create(const char *name);
/// accept4(2) with SOCK_NONBLOCK | SOCK_CLOEXEC.
int swiftlet_accept_nonblocking(int fd, struct sockaddr *addr, socklen_t *len);
/// socket(2) with SOCK_NONBLOCK | SOCK_CLOEXEC.
int swiftlet_socket_nonblocking(int domain, int type, int protocol);
/// fcntl(fd, F_SETFL, flags | O_NONBLOCK).
int swiftlet_set_nonblocking(int fd);
/// The thread id (gettid(2)).
int swiftlet_gettid(void);
/// Names the calling thread (pthread_setname_np; at most 15 characters).
void swiftlet_set_thread_name(const char *name);
/// Pins the calling thread to one CPU; returns 0 or -errno.
int swiftlet_pin_to_cpu(int cpu);
/// Blocks `signo` in the calling thread (inherited by threads it creates).
int swiftlet_block_signal(int signo);
/// Unblocks `signo` in the calling thread.
int swiftlet_unblock_signal(int signo);
/// A signalfd for exactly one signal; -errno on failure.
int swiftlet_signalfd_for(int fd, int signo);
/// Size of struct signalfd_siginfo.
size_t swiftlet_signalfd_siginfo_size(void);

// MARK: - Files

/// openat2(2) with O_RDONLY|O_CLOEXEC and RESOLVE_BENEATH (plus
/// RESOLVE_NO_SYMLINKS when `no_symlinks`): the kernel refuses any path that
/// would leave `dirfd` (.. or symlinks). Returns the fd or -errno (-ENOSYS
/// on kernels without openat2).
int swiftlet_open_beneath(int dirfd, const char *path, bool no_symlinks);
/// openat2(AT_FDCWD, path) with RESOLVE_NO_SYMLINKS: for a path realpath()
/// already resolved, any symlink met now means the tree changed meanwhile.
int swiftlet_open_resolved(const char *path);
/// The number of pages of [addr, addr+length) resident in memory (mincore).
long swiftlet_resident_pages(void *addr, size_t length);
/// The system page size.
long swiftlet_page_size(void);
/// Returns the allocator's free memory to the system (glibc malloc_trim(0),
/// every arena); 1 if memory was released.
int swiftlet_malloc_trim(void);

// MARK: - File mappings (file_mappings.c)

/// Reads the pages of [addr, addr+length) of a file mapping into memory,
/// waiting for the disk (madvise MADV_POPULATE_READ; on kernels before 5.14
/// a volatile touch of every page). Returns 0, or -errno: -EFAULT when part
/// of the range lies past the end of the file (it shrank), -ENOMEM when
/// the range is not mapped.
int swiftlet_populate_read(const void *addr, size_t length);
/// Installs (once per process) the SIGBUS handler that keeps a file shrunk
/// under a mapping from killing the process: a fault inside a registered
/// mapping maps a page of zeros over the missing page and marks the
/// mapping; any other SIGBUS keeps the default action.
void swiftlet_sigbus_guard_install(void);
/// Registers [start, start+length) as guarded. Returns a slot for
/// `swiftlet_mapping_faulted`/`unregister`, or -1 when every slot is taken
/// (the mapping is then unguarded).
int swiftlet_mapping_register(const void *start, size_t length);
/// Forgets a registration (before the mapping is unmapped).
void swiftlet_mapping_unregister(int slot);
/// Whether a SIGBUS in the slot's mapping was absorbed (zeros were read).
bool swiftlet_mapping_faulted(int slot);
/// Slots in use (for tests).
int swiftlet_mapping_count(void);

// MARK: - io_uring helpers for what liburing exposes only as macros or
// through structure layouts Swift imports awkwardly.

/// Whether this liburing/kernel supports the opcode (uses io_uring_get_probe).
bool swiftlet_uring_opcode_supported(struct io_uring *ring, int opcode);
/// Initialises `ring` with `entries`, trying `flags` first and falling back
/// to no flags when the kernel rejects them (-EINVAL). Returns 0 or -errno;
/// `used_flags` receives the flags that took effect.
int swiftlet_uring_init(struct io_uring *ring, unsigned entries, unsigned flags, unsigned *used_flags);
/// The CQE flag bits Swift needs.
unsigned swiftlet_cqe_f_more(void);
/// Prepares an ASYNC_CANCEL of every request on `fd`.
void swiftlet_uring_prep_cancel_fd_all(struct io_uring_sqe *sqe, int fd);

// MARK: - TLS (tls.c)

/// Ciphertext plumbing of one TLS session: SSL reads ciphertext from
/// [input, input + input_length) and hands every record it writes to
/// `write` (called with `write_context`).
typedef struct swiftlet_tls_io {
    const unsigned char *input;
    size_t input_length;
    size_t input_used;
    void (*write)(void *write_context, const void *bytes, size_t length);
    void *write_context;
} swiftlet_tls_io;

/// A set of server contexts, one per certificate group, chosen by SNI.
typedef struct swiftlet_tls_contexts swiftlet_tls_contexts;

/// Creates an empty context set. `ciphers` is the TLS 1.2 cipher list
/// (NULL: the secure default). Returns NULL and fills `error` on failure.
swiftlet_tls_contexts *swiftlet_tls_contexts_new(const char *ciphers, char *error, size_t error_length);
/// Adds a certificate chain and its key. Certificates whose names (SAN DNS
/// entries, else CN) equal those of an earlier pair share its context (an
/// RSA and an ECDSA certificate for one host). Returns 0, or -1 with a
/// message naming the file and the problem in `error`.
int swiftlet_tls_contexts_add(swiftlet_tls_contexts *set, const char *certificate_path, const char *key_path,
                              char *error, size_t error_length);
/// Finishes set-up (SNI callback, session cache, tickets). Returns 0 or -1.
int swiftlet_tls_contexts_finish(swiftlet_tls_contexts *set, unsigned ticket_rotation_seconds, char *error, size_t error_length);
/// Reference counting: sessions created from a set keep it alive.
/// Moves the ticket-key clock forward (tests of key rotation).
void swiftlet_tls_contexts_advance_ticket_clock(swiftlet_tls_contexts *set, long seconds);
/// After a reload: the new set decrypts (and issues) tickets with the old
/// set's keys, so clients resume across certificate reloads.
void swiftlet_tls_contexts_inherit_ticket_keys(swiftlet_tls_contexts *set, swiftlet_tls_contexts *from);
void swiftlet_tls_contexts_retain(swiftlet_tls_contexts *set);
void swiftlet_tls_contexts_release(swiftlet_tls_contexts *set);
/// Names served (for logs), comma separated, into `buffer`.
void swiftlet_tls_contexts_describe(swiftlet_tls_contexts *set, char *buffer, size_t length);

/// A server SSL for one connection, reading and writing through `io`.
SSL *swiftlet_tls_session_new(swiftlet_tls_contexts *set, swiftlet_tls_io *io);
/// The negotiated ALPN protocol ("h2", "http/1.1") or "" for none.
void swiftlet_tls_alpn(SSL *ssl, char *buffer, size_t length);
/// Whether the negotiated TLS 1.2 cipher is one RFC 9113 §9.2.2 prohibits
/// (anything but ephemeral key exchange with an AEAD cipher).
bool swiftlet_tls_cipher_prohibited_for_http2(SSL *ssl);
/// The last OpenSSL error as text (and clears the error queue); true when
/// it says the peer sent plain HTTP to the TLS port.
bool swiftlet_tls_error(char *buffer, size_t length);
/// Session resumption happened (for tests and statistics).
bool swiftlet_tls_session_reused(SSL *ssl);

#endif
