/* Atomic file writes: a reader sees the old file or the whole new one,
 * never a torn one, whatever happens during the write. */
#ifndef PB_ATOMIC_FILE_H
#define PB_ATOMIC_FILE_H

#include <stddef.h>

#include "../core/pb_error.h"

/* Write `len` bytes to path atomically (temp file in the same directory,
 * fsync, rename). Shared by every writer of results. An existing path that
 * is not a regular file (a device, FIFO, directory or symbolic link) is
 * refused: the rename would replace it. */
int pb_write_atomic(const char *path, const void *data, size_t len, pb_error *err);

#endif
