/* Tensor files (.pbt): writer and validating reader of the format.
 *
 * Layout (docs/model.md):
 *   "PBTENS01" | uint64 LE header length J | J bytes JSON | data
 * The writer pads the JSON with spaces so the data starts at a multiple of
 * 64 bytes, and aligns every tensor to 64 bytes inside the data. The reader
 * copies the data region into its own (malloc-aligned) buffer, so tensors
 * with 4-aligned offsets can be used in place as float or int32 arrays.
 *
 * The JSON header is read by a small reader for this format only
 * (tensorfile_json.h); the "meta" object is validated and returned as its
 * raw text. Files are written with pb_write_atomic (atomic_file.h). */
#include "tensorfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "results_fs.h"
#include "tensorfile_json.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "tensorfile.c writes tensors in host order, which must be little-endian"
#endif

#define PB_TF_MAGIC "PBTENS01"
#define PB_TF_ALIGN 64

/* ------------------------------------------------------------------ */
/* A growing text buffer for the writer's header                       */

typedef struct strbuf {
    char *s;
    size_t len, cap;
    int oom;
} strbuf;

static void sb_add(strbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (b->len + n + 1 > cap) cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void sb_str(strbuf *b, const char *s) { sb_add(b, s, strlen(s)); }

static void sb_fmt(strbuf *b, const char *fmt, long long v) {
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, fmt, v);
    sb_add(b, tmp, (size_t)n);
}

/* JSON string with the escapes a tensor name might need. */
static void sb_json_string(strbuf *b, const char *s) {
    sb_add(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            sb_add(b, esc, 2);
        } else if (c < 0x20) {
            char esc[8];
            snprintf(esc, sizeof esc, "\\u%04x", c);
            sb_add(b, esc, 6);
        } else {
            sb_add(b, (const char *)&c, 1);
        }
    }
    sb_add(b, "\"", 1);
}

/* ------------------------------------------------------------------ */
/* Entries                                                             */

static const char *dtype_name(pb_tf_dtype t) { return t == PB_TF_I32 ? "i32" : "f32"; }

int64_t pb_tf_numel(const pb_tf_entry *e) {
    int64_t n = 1;
    for (int k = 0; k < e->ndim; k++) n *= e->shape[k];
    return n;
}

/* Number of bytes of an entry, or -1 when the element count overflows. */
static int64_t entry_bytes(const pb_tf_entry *e) {
    int64_t n = 1;
    for (int k = 0; k < e->ndim; k++) {
        if (e->shape[k] < 0) return -1;
        if (e->shape[k] != 0 && n > INT64_MAX / 4 / e->shape[k]) return -1;
        n *= e->shape[k];
    }
    return n * 4;
}

static int64_t align_up(int64_t x) { return (x + PB_TF_ALIGN - 1) / PB_TF_ALIGN * PB_TF_ALIGN; }

/* A non-negative integer field of a tensor entry. */
static int entry_count(pb_json_reader *p, const char *tensor, const char *field, int64_t *out) {
    int is_int;
    size_t at;
    pb_json_skip_ws(p);
    at = p->i;
    if (pb_json_peek(p) != '-' && (pb_json_peek(p) < '0' || pb_json_peek(p) > '9'))
        return pb_fail(p->err, "%s: tensor '%s': %s must be a non-negative integer", p->path, tensor, field);
    if (pb_json_number(p, &is_int, out)) return -1;
    if (!is_int)
        return pb_fail(p->err, "%s: tensor '%s': %s must be a non-negative integer, got '%.*s'",
                       p->path, tensor, field, (int)(p->i - at > 24 ? 24 : p->i - at), p->s + at);
    return 0;
}

/* Parses one {"name","dtype","shape","offset"} object into e (data offset in
 * *offset). */
static int parse_entry(pb_json_reader *p, pb_tf_entry *e, int64_t *offset, int index) {
    int have_name = 0, have_dtype = 0, have_shape = 0, have_offset = 0;
    char key[32], label[PB_TF_NAME_LEN + 16];
    memset(e, 0, sizeof *e);
    snprintf(label, sizeof label, "#%d", index);
    if (pb_json_expect(p, '{')) return -1;
    if (pb_json_peek(p) == '}') p->i++;
    else for (;;) {
        if (pb_json_peek(p) != '"') return pb_json_fail(p, "expected a key in tensor entry");
        size_t key_at = p->i;
        if (pb_json_string(p, key, sizeof key)) {
            /* Long unknown keys: skip them like any other unknown key. */
            p->i = key_at;
            if (pb_json_string(p, NULL, 0)) return -1;
            key[0] = '\0';
        }
        if (pb_json_expect(p, ':')) return -1;
        if (!strcmp(key, "name")) {
            if (pb_json_peek(p) != '"')
                return pb_fail(p->err, "%s: tensor %s: name must be a string", p->path, label);
            size_t at = p->i;
            if (pb_json_string(p, e->name, sizeof e->name)) {
                p->i = at;
                if (pb_json_string(p, NULL, 0)) return -1;  /* a syntax error */
                return pb_fail(p->err, "%s: tensor %s: name longer than %d bytes", p->path, label,
                               PB_TF_NAME_LEN - 1);
            }
            if (!e->name[0]) return pb_fail(p->err, "%s: tensor %s: empty name", p->path, label);
            snprintf(label, sizeof label, "'%s'", e->name);
            have_name = 1;
        } else if (!strcmp(key, "dtype")) {
            char dt[16];
            if (pb_json_peek(p) != '"' || pb_json_string(p, dt, sizeof dt))
                return pb_fail(p->err, "%s: tensor %s: dtype must be \"f32\" or \"i32\"", p->path, label);
            if (!strcmp(dt, "f32")) e->dtype = PB_TF_F32;
            else if (!strcmp(dt, "i32")) e->dtype = PB_TF_I32;
            else return pb_fail(p->err, "%s: tensor %s: unknown dtype \"%s\" (valid: f32, i32)", p->path, label, dt);
            have_dtype = 1;
        } else if (!strcmp(key, "shape")) {
            if (pb_json_expect(p, '['))
                return pb_fail(p->err, "%s: tensor %s: shape must be an array", p->path, label);
            e->ndim = 0;
            if (pb_json_peek(p) == ']') p->i++;
            else for (;;) {
                if (e->ndim == PB_TF_MAX_DIMS)
                    return pb_fail(p->err, "%s: tensor %s: more than %d dimensions", p->path, label, PB_TF_MAX_DIMS);
                if (entry_count(p, e->name[0] ? e->name : label, "shape entry", &e->shape[e->ndim]))
                    return -1;
                e->ndim++;
                int c = pb_json_peek(p);
                if (c == ',') { p->i++; continue; }
                if (c == ']') { p->i++; break; }
                return pb_json_fail(p, "expected ',' or ']' in shape");
            }
            have_shape = 1;
        } else if (!strcmp(key, "offset")) {
            if (entry_count(p, e->name[0] ? e->name : label, "offset", offset)) return -1;
            have_offset = 1;
        } else if (pb_json_skip_value(p, 2)) {
            return -1;
        }
        int c = pb_json_peek(p);
        if (c == ',') { p->i++; continue; }
        if (c == '}') { p->i++; break; }
        return pb_json_fail(p, "expected ',' or '}' in tensor entry");
    }
    const char *missing = !have_name ? "name" : !have_dtype ? "dtype" : !have_shape ? "shape"
                        : !have_offset ? "offset" : NULL;
    if (missing) return pb_fail(p->err, "%s: tensor %s has no %s", p->path, label, missing);
    return 0;
}

/* Parses the whole header: meta span and the tensor list (offsets kept in
 * a parallel array). */
static int parse_header(pb_json_reader *p, size_t *meta_at, size_t *meta_len,
                        pb_tf_entry **entries, int64_t **offsets, int *n) {
    int have_tensors = 0, cap = 0;
    *meta_at = *meta_len = 0;
    *entries = NULL;
    *offsets = NULL;
    *n = 0;
    if (pb_json_peek(p) != '{') return pb_json_fail(p, "header is not a JSON object");
    p->i++;
    if (pb_json_peek(p) == '}') p->i++;
    else for (;;) {
        char key[16];
        size_t key_at;
        if (pb_json_peek(p) != '"') return pb_json_fail(p, "expected a key");
        key_at = p->i;
        if (pb_json_string(p, key, sizeof key)) {
            p->i = key_at;
            if (pb_json_string(p, NULL, 0)) return -1;
            key[0] = '\0';
        }
        if (pb_json_expect(p, ':')) return -1;
        if (!strcmp(key, "meta")) {
            if (pb_json_peek(p) != '{') return pb_json_fail(p, "meta must be a JSON object");
            *meta_at = p->i;
            if (pb_json_skip_value(p, 1)) return -1;
            *meta_len = p->i - *meta_at;
        } else if (!strcmp(key, "tensors")) {
            if (have_tensors) return pb_json_fail(p, "two \"tensors\" lists");
            have_tensors = 1;
            if (pb_json_expect(p, '[')) return -1;
            if (pb_json_peek(p) == ']') p->i++;
            else for (;;) {
                if (*n == cap) {
                    int ncap = cap ? 2 * cap : 16;
                    pb_tf_entry *ne = realloc(*entries, (size_t)ncap * sizeof **entries);
                    if (!ne) return pb_fail(p->err, "%s: out of memory", p->path);
                    *entries = ne;
                    int64_t *no = realloc(*offsets, (size_t)ncap * sizeof **offsets);
                    if (!no) return pb_fail(p->err, "%s: out of memory", p->path);
                    *offsets = no;
                    cap = ncap;
                }
                if (parse_entry(p, &(*entries)[*n], &(*offsets)[*n], *n)) return -1;
                (*n)++;
                int c = pb_json_peek(p);
                if (c == ',') { p->i++; continue; }
                if (c == ']') { p->i++; break; }
                return pb_json_fail(p, "expected ',' or ']' in tensor list");
            }
        } else if (pb_json_skip_value(p, 1)) {
            return -1;
        }
        int c = pb_json_peek(p);
        if (c == ',') { p->i++; continue; }
        if (c == '}') { p->i++; break; }
        return pb_json_fail(p, "expected ',' or '}' in header");
    }
    if (pb_json_peek(p) != -1)
        return pb_json_fail(p, "trailing characters after the header object");
    if (!have_tensors) return pb_fail(p->err, "%s: header has no \"tensors\" list", p->path);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Writer                                                              */

int pb_tf_write(const char *path, const char *meta_json, const pb_tf_entry *entries,
                int n, pb_error *err) {
    if (!meta_json) meta_json = "{}";
    if (n < 0 || (n > 0 && !entries)) return pb_fail(err, "%s: bad tensor list (n = %d)", path, n);

    /* The meta must be one JSON object, or the file would not read back. */
    pb_json_reader mp = {meta_json, strlen(meta_json), 0, path, err};
    if (pb_json_peek(&mp) != '{') return pb_fail(err, "%s: meta is not a JSON object", path);
    if (pb_json_skip_value(&mp, 1)) return -1;
    if (pb_json_peek(&mp) != -1)
        return pb_fail(err, "%s: trailing text after the meta object", path);

    strbuf h = {0};
    int64_t data_len = 0;
    sb_str(&h, "{\"meta\": ");
    sb_str(&h, meta_json);
    sb_str(&h, ", \"tensors\": [");
    for (int i = 0; i < n; i++) {
        const pb_tf_entry *e = &entries[i];
        size_t nl = strnlen(e->name, PB_TF_NAME_LEN);
        int bad = 0;
        if (nl == 0 || nl == PB_TF_NAME_LEN) {
            free(h.s);
            return pb_fail(err, "%s: tensor #%d: name must be 1..%d bytes", path, i, PB_TF_NAME_LEN - 1);
        }
        for (int j = 0; j < i; j++)
            if (!strcmp(entries[j].name, e->name)) bad = 1;
        const char *problem = bad ? "duplicate name"
                            : (e->dtype != PB_TF_F32 && e->dtype != PB_TF_I32) ? "unknown dtype"
                            : (e->ndim < 0 || e->ndim > PB_TF_MAX_DIMS) ? "bad number of dimensions"
                            : entry_bytes(e) < 0 ? "negative or too large shape" : NULL;
        if (!problem && entry_bytes(e) > 0 && !e->data) problem = "no data";
        if (!problem && data_len > INT64_MAX / 2 - PB_TF_ALIGN - entry_bytes(e)) problem = "file too large";
        if (problem) {
            free(h.s);
            return pb_fail(err, "%s: tensor '%s': %s", path, e->name, problem);
        }
        sb_str(&h, i ? ",\n  {\"name\": " : "\n  {\"name\": ");
        sb_json_string(&h, e->name);
        sb_str(&h, ", \"dtype\": \"");
        sb_str(&h, dtype_name(e->dtype));
        sb_str(&h, "\", \"shape\": [");
        for (int k = 0; k < e->ndim; k++) sb_fmt(&h, k ? ", %lld" : "%lld", (long long)e->shape[k]);
        data_len = align_up(data_len);
        sb_fmt(&h, "], \"offset\": %lld}", (long long)data_len);
        data_len += entry_bytes(e);
    }
    sb_str(&h, "]}\n");
    /* Pad with spaces so the data starts 64-byte aligned in the file. */
    while (!h.oom && (16 + h.len) % PB_TF_ALIGN != 0) sb_add(&h, " ", 1);
    if (h.oom) {
        free(h.s);
        return pb_fail(err, "%s: out of memory", path);
    }
    if ((uint64_t)data_len > SIZE_MAX - 16 - h.len) {
        free(h.s);
        return pb_fail(err, "%s: file too large", path);
    }

    size_t total = 16 + h.len + (size_t)data_len;
    unsigned char *buf = calloc(1, total);
    if (!buf) {
        free(h.s);
        return pb_fail(err, "%s: out of memory (%zu bytes)", path, total);
    }
    memcpy(buf, PB_TF_MAGIC, 8);
    uint64_t J = h.len;
    for (int k = 0; k < 8; k++) buf[8 + k] = (unsigned char)(J >> (8 * k));
    memcpy(buf + 16, h.s, h.len);
    unsigned char *data = buf + 16 + h.len;
    int64_t off = 0;
    for (int i = 0; i < n; i++) {
        int64_t bytes = entry_bytes(&entries[i]);
        off = align_up(off);
        if (bytes > 0) memcpy(data + off, entries[i].data, (size_t)bytes);
        off += bytes;
    }
    free(h.s);
    int rc = pb_write_atomic(path, buf, total, err);
    free(buf);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Reader                                                              */

void pb_tf_free(pb_tf_file *f) {
    if (!f) return;
    free(f->meta_json);
    free(f->entries);
    free(f->blob);
    memset(f, 0, sizeof *f);
}

const pb_tf_entry *pb_tf_find(const pb_tf_file *f, const char *name) {
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->entries[i].name, name)) return &f->entries[i];
    return NULL;
}

static int read_exact(FILE *fp, void *buf, size_t len) {
    return len == 0 || fread(buf, 1, len, fp) == len ? 0 : -1;
}

/* Everything after the preamble: parses the J-byte header (NUL-terminated
 * at header[J]), checks every tensor against the data_len bytes of data
 * that follow it and fills f except for the data pointers (set by
 * attach_data once the data is in f->blob). */
static int parse_checked(const char *path, const char *header, uint64_t J, uint64_t data_len,
                         pb_tf_file *f, int64_t **offsets_out, pb_error *err) {
    pb_tf_entry *entries = NULL;
    int64_t *offsets = NULL;
    int n = 0;
    if (J == 0) return pb_fail(err, "%s: empty JSON header", path);
    if (memchr(header, '\0', (size_t)J))
        return pb_fail(err, "%s: NUL byte in the JSON header", path);

    pb_json_reader p = {header, (size_t)J, 0, path, err};
    size_t meta_at, meta_len;
    if (parse_header(&p, &meta_at, &meta_len, &entries, &offsets, &n)) goto fail;

    /* Every tensor inside the data, aligned for its element type, named
     * once. */
    for (int i = 0; i < n; i++) {
        pb_tf_entry *e = &entries[i];
        int64_t bytes = entry_bytes(e);
        if (bytes < 0) {
            pb_fail(err, "%s: tensor '%s': shape too large (size overflows)", path, e->name);
            goto fail;
        }
        if ((uint64_t)bytes > data_len || (uint64_t)offsets[i] > data_len - (uint64_t)bytes) {
            pb_fail(err, "%s: tensor '%s': offset %lld + %lld bytes is out of range (data is %llu bytes; "
                    "file truncated?)", path, e->name, (long long)offsets[i], (long long)bytes,
                    (unsigned long long)data_len);
            goto fail;
        }
        if (offsets[i] % 4 != 0) {
            pb_fail(err, "%s: tensor '%s': offset %lld is not a multiple of 4", path, e->name,
                    (long long)offsets[i]);
            goto fail;
        }
        for (int j = 0; j < i; j++)
            if (!strcmp(entries[j].name, e->name)) {
                pb_fail(err, "%s: tensor name '%s' appears twice", path, e->name);
                goto fail;
            }
    }
    if (data_len > SIZE_MAX - 1) {
        pb_fail(err, "%s: file too large", path);
        goto fail;
    }
    f->meta_json = meta_len ? malloc(meta_len + 1) : strdup("{}");
    if (!f->meta_json) {
        pb_fail(err, "%s: out of memory", path);
        goto fail;
    }
    if (meta_len) {
        memcpy(f->meta_json, header + meta_at, meta_len);
        f->meta_json[meta_len] = '\0';
    }
    f->blob = malloc(data_len ? (size_t)data_len : 1);
    if (!f->blob) {
        pb_fail(err, "%s: out of memory for %llu bytes of data", path, (unsigned long long)data_len);
        goto fail;
    }
    f->n = n;
    f->entries = entries;
    *offsets_out = offsets;
    return 0;
fail:
    free(offsets);
    free(entries);
    pb_tf_free(f);
    return -1;
}

static void attach_data(pb_tf_file *f, int64_t *offsets) {
    for (int i = 0; i < f->n; i++) f->entries[i].data = (const unsigned char *)f->blob + offsets[i];
    free(offsets);
}

/* The preamble: magic and header length J, checked against the size. */
static int read_preamble(const char *path, const unsigned char *lead, uint64_t size,
                         uint64_t *J, pb_error *err) {
    if (memcmp(lead, PB_TF_MAGIC, 8) != 0)
        return pb_fail(err, "%s: bad magic (not a posbench tensor file; expected \"%s\")", path,
                       PB_TF_MAGIC);
    *J = 0;
    for (int k = 0; k < 8; k++) *J |= (uint64_t)lead[8 + k] << (8 * k);
    if (*J > size - 16)
        return pb_fail(err, "%s: header length %llu exceeds the file size (%llu bytes after the "
                            "preamble)", path, (unsigned long long)*J,
                       (unsigned long long)(size - 16));
    return 0;
}

static int truncated(const char *path, uint64_t size, pb_error *err) {
    return pb_fail(err, "%s: truncated: %llu bytes, shorter than the 16-byte preamble", path,
                   (unsigned long long)size);
}

int pb_tf_read_mem(const void *data, size_t size, const char *name, pb_tf_file *f,
                   pb_error *err) {
    memset(f, 0, sizeof *f);
    const unsigned char *buf = data;
    uint64_t J = 0;
    if (size < 16) return truncated(name, size, err);
    if (read_preamble(name, buf, size, &J, err)) return -1;
    /* The parser wants a NUL-terminated header: copy it. */
    char *header = malloc((size_t)J + 1);
    if (!header) return pb_fail(err, "%s: out of memory for a %llu-byte header", name,
                                (unsigned long long)J);
    memcpy(header, buf + 16, (size_t)J);
    header[J] = '\0';
    int64_t *offsets;
    uint64_t data_len = size - 16 - J;
    int rc = parse_checked(name, header, J, data_len, f, &offsets, err);
    free(header);
    if (rc) return -1;
    if (data_len) memcpy(f->blob, buf + 16 + J, (size_t)data_len);
    attach_data(f, offsets);
    return 0;
}

int pb_tf_read(const char *path, pb_tf_file *f, pb_error *err) {
    memset(f, 0, sizeof *f);
    /* Not through fopen: a FIFO would block it forever. */
    int fd = pb_rfs_open_read(NULL, path, err);
    if (fd < 0) return -1;
    FILE *fp = fdopen(fd, "rb");
    if (!fp) {
        close(fd);
        return pb_fail(err, "%s: cannot open: %s", path, strerror(errno));
    }

    char *header = NULL;
    int64_t *offsets = NULL;
    int rc = -1;
    unsigned char lead[16];
    struct stat st;

    if (fstat(fileno(fp), &st) != 0) {
        pb_fail(err, "%s: cannot stat: %s", path, strerror(errno));
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        pb_fail(err, "%s: not a regular file", path);
        goto done;
    }
    uint64_t size = (uint64_t)st.st_size, J = 0;
    if (size < 16) {
        truncated(path, size, err);
        goto done;
    }
    if (read_exact(fp, lead, 16)) {
        pb_fail(err, "%s: read failed: %s", path, ferror(fp) ? strerror(errno) : "unexpected end of file");
        goto done;
    }
    if (read_preamble(path, lead, size, &J, err)) goto done;
    header = malloc((size_t)J + 1);
    if (!header) {
        pb_fail(err, "%s: out of memory for a %llu-byte header", path, (unsigned long long)J);
        goto done;
    }
    if (read_exact(fp, header, (size_t)J)) {
        pb_fail(err, "%s: truncated while reading the header", path);
        goto done;
    }
    header[J] = '\0';
    uint64_t data_len = size - 16 - J;
    if (parse_checked(path, header, J, data_len, f, &offsets, err)) goto done;
    if (read_exact(fp, f->blob, (size_t)data_len)) {
        free(offsets);
        pb_tf_free(f);
        pb_fail(err, "%s: truncated while reading the data (file changed while reading?)", path);
        goto done;
    }
    attach_data(f, offsets);
    rc = 0;

done:
    fclose(fp);
    free(header);
    return rc;
}
