// CSwiftletCompression: one-shot compression (and, for tests and checks,
// decompression) through the C libraries: zstd (RFC 8878), brotli
// (RFC 7932) and zlib's gzip (RFC 1952). Only the static-file handler links
// it; the core library does not depend on compression.
//
// Each call takes a whole input and writes into a caller-sized output
// (see swiftlet_compress_bound); nothing here allocates beyond the libraries'
// own working state, freed before the call returns.
#ifndef C_SWIFTLET_COMPRESSION_H
#define C_SWIFTLET_COMPRESSION_H

#include <stddef.h>
#include <sys/types.h>

/// The codings, numbered as Swift's `ContentCoding` cases are ordered.
enum swiftlet_coding {
    SWIFTLET_CODING_BROTLI = 0,
    SWIFTLET_CODING_ZSTD = 1,
    SWIFTLET_CODING_GZIP = 2,
};

/// The largest output `swiftlet_compress` can produce for `length` bytes
/// (0 for an unknown coding).
size_t swiftlet_compress_bound(int coding, size_t length);

/// Compresses `input` at `level` into `output`; returns the compressed
/// length, or -1 if the coding or level is unknown, the output is too small
/// or the library failed.
ssize_t swiftlet_compress(int coding, int level, const void *input, size_t length,
                          void *output, size_t capacity);

/// Decompresses a whole `input` into `output`; returns the decompressed
/// length, or -1 if the input is malformed or does not fit.
ssize_t swiftlet_decompress(int coding, const void *input, size_t length,
                            void *output, size_t capacity);

/// The levels each coding accepts (zstd without its "ultra" levels).
int swiftlet_compress_level_min(int coding);
int swiftlet_compress_level_max(int coding);

#endif
