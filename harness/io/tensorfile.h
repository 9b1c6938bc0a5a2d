/* Tensor files (.pbt): named float32/int32 tensors plus a JSON meta object.
 * Used for checkpoints (model:save / pb.load) and for the debug dumps the
 * PyTorch reference reads. Layout (docs/model.md):
 *   "PBTENS01" | uint64 LE header length J | J bytes JSON | data
 * JSON: {"meta": <meta>, "tensors": [{"name","dtype","shape","offset"}...]}
 * with offsets in bytes from the end of the header. Writes are atomic
 * (pb_write_atomic, atomic_file.h), so a failed write never leaves a torn
 * file. */
#ifndef PB_TENSORFILE_H
#define PB_TENSORFILE_H

#include <stddef.h>
#include <stdint.h>

#include "../core/pb_error.h"

#define PB_TF_MAX_DIMS 4
#define PB_TF_NAME_LEN 64

typedef enum { PB_TF_F32, PB_TF_I32 } pb_tf_dtype;

typedef struct pb_tf_entry {
    char name[PB_TF_NAME_LEN];
    pb_tf_dtype dtype;
    int ndim;
    int64_t shape[PB_TF_MAX_DIMS];
    const void *data;   /* writer: caller's memory; reader: inside the file buffer */
} pb_tf_entry;

/* Write entries (meta_json must be a JSON object, e.g. "{}"). */
int pb_tf_write(const char *path, const char *meta_json, const pb_tf_entry *entries,
                int n, pb_error *err);

typedef struct pb_tf_file {
    char *meta_json;        /* the "meta" object as JSON text (NUL-terminated) */
    int n;
    pb_tf_entry *entries;   /* data points into `blob` */
    void *blob;
} pb_tf_file;

/* Read and validate a whole file: bad magic, truncated data, offsets or
 * shapes out of range -> -1 with a message naming the file and the problem. */
int pb_tf_read(const char *path, pb_tf_file *f, pb_error *err);
/* The same from a whole file's bytes in memory (name stands for the path
 * in messages); the data is copied, so buf may be freed afterwards. */
int pb_tf_read_mem(const void *buf, size_t size, const char *name, pb_tf_file *f,
                   pb_error *err);
const pb_tf_entry *pb_tf_find(const pb_tf_file *f, const char *name);
int64_t pb_tf_numel(const pb_tf_entry *e);
void pb_tf_free(pb_tf_file *f);

#endif
