/* Small encodings of bytes the results directories use: FNV-1a 64 (config
 * hashes that name runs) and base64 (figures embedded in HTML reports). */
#ifndef PB_ENCODE_H
#define PB_ENCODE_H

#include <stddef.h>
#include <stdint.h>

uint64_t pb_fnv1a64(const void *data, size_t len);

/* Bytes base64 needs for len input bytes (without a terminating NUL). */
static inline size_t pb_base64_len(size_t len) { return (len + 2) / 3 * 4; }
/* Standard alphabet with '=' padding; writes pb_base64_len(len) bytes to
 * out and returns that count. */
size_t pb_base64(const void *data, size_t len, char *out);

#endif
