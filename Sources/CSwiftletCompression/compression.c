#include "CSwiftletCompression.h"

#include <brotli/decode.h>
#include <brotli/encode.h>
#include <limits.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

size_t swiftlet_compress_bound(int coding, size_t length) {
    switch (coding) {
    case SWIFTLET_CODING_BROTLI: return BrotliEncoderMaxCompressedSize(length);
    case SWIFTLET_CODING_ZSTD: return ZSTD_compressBound(length);
    // deflateBound's estimate for raw deflate plus the 18-byte gzip wrapper
    // (header, CRC-32 and size), computed without a stream.
    case SWIFTLET_CODING_GZIP: return compressBound((uLong)length) + 18;
    default: return 0;
    }
}

int swiftlet_compress_level_min(int coding) {
    switch (coding) {
    case SWIFTLET_CODING_BROTLI: return BROTLI_MIN_QUALITY;
    case SWIFTLET_CODING_ZSTD: return 1;
    case SWIFTLET_CODING_GZIP: return 1;
    default: return 0;
    }
}

int swiftlet_compress_level_max(int coding) {
    switch (coding) {
    case SWIFTLET_CODING_BROTLI: return BROTLI_MAX_QUALITY;
    case SWIFTLET_CODING_ZSTD: return 19;
    case SWIFTLET_CODING_GZIP: return 9;
    default: return 0;
    }
}

static ssize_t gzip_compress(int level, const void *input, size_t length, void *output, size_t capacity) {
    if (length > UINT_MAX || capacity > UINT_MAX) return -1;  // one deflate call covers all of it
    z_stream stream;
    memset(&stream, 0, sizeof(stream));
    // windowBits 15 + 16: a gzip wrapper (RFC 1952) around the deflate data.
    if (deflateInit2(&stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return -1;
    stream.next_in = (Bytef *)input;
    stream.avail_in = (uInt)length;
    stream.next_out = output;
    stream.avail_out = (uInt)capacity;
    int status = deflate(&stream, Z_FINISH);
    size_t produced = stream.total_out;
    deflateEnd(&stream);
    return status == Z_STREAM_END ? (ssize_t)produced : -1;
}

ssize_t swiftlet_compress(int coding, int level, const void *input, size_t length,
                          void *output, size_t capacity) {
    if (level < swiftlet_compress_level_min(coding) || level > swiftlet_compress_level_max(coding)) return -1;
    switch (coding) {
    case SWIFTLET_CODING_BROTLI: {
        size_t produced = capacity;
        int ok = BrotliEncoderCompress(level, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_TEXT, length, input,
                                       &produced, output);
        return ok == BROTLI_TRUE ? (ssize_t)produced : -1;
    }
    case SWIFTLET_CODING_ZSTD: {
        size_t produced = ZSTD_compress(output, capacity, input, length, level);
        return ZSTD_isError(produced) ? -1 : (ssize_t)produced;
    }
    case SWIFTLET_CODING_GZIP:
        return gzip_compress(level, input, length, output, capacity);
    default:
        return -1;
    }
}

static ssize_t gzip_decompress(const void *input, size_t length, void *output, size_t capacity) {
    if (length > UINT_MAX || capacity > UINT_MAX) return -1;
    z_stream stream;
    memset(&stream, 0, sizeof(stream));
    if (inflateInit2(&stream, 15 + 16) != Z_OK) return -1;
    stream.next_in = (Bytef *)input;
    stream.avail_in = (uInt)length;
    stream.next_out = output;
    stream.avail_out = (uInt)capacity;
    int status = inflate(&stream, Z_FINISH);
    size_t produced = stream.total_out;
    int trailing = stream.avail_in != 0;
    inflateEnd(&stream);
    return status == Z_STREAM_END && !trailing ? (ssize_t)produced : -1;
}

ssize_t swiftlet_decompress(int coding, const void *input, size_t length, void *output, size_t capacity) {
    switch (coding) {
    case SWIFTLET_CODING_BROTLI: {
        size_t produced = capacity;
        BrotliDecoderResult result = BrotliDecoderDecompress(length, input, &produced, output);
        return result == BROTLI_DECODER_RESULT_SUCCESS ? (ssize_t)produced : -1;
    }
    case SWIFTLET_CODING_ZSTD: {
        size_t produced = ZSTD_decompress(output, capacity, input, length);
        return ZSTD_isError(produced) ? -1 : (ssize_t)produced;
    }
    case SWIFTLET_CODING_GZIP:
        return gzip_decompress(input, length, output, capacity);
    default:
        return -1;
    }
}
