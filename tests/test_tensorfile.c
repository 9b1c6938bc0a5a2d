/* Tensor files: round trip, atomic replacement, and a corrupt file of each
 * kind giving an error that names the file and the problem. */
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../harness/io/atomic_file.h"
#include "../harness/io/tensorfile.h"
#include "check.h"

static char dir[256];

static void path_in_dir(char *out, size_t len, const char *name) {
    snprintf(out, len, "%s/%s", dir, name);
}

static unsigned char *slurp(const char *path, size_t *len) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *buf = malloc(n > 0 ? (size_t)n : 1);
    if (fread(buf, 1, (size_t)n, fp) != (size_t)n) n = 0;
    fclose(fp);
    *len = (size_t)n;
    return buf;
}

static void spit(const char *path, const void *data, size_t len) {
    FILE *fp = fopen(path, "wb");
    if (!fp) return;
    fwrite(data, 1, len, fp);
    fclose(fp);
}

/* Files in the test directory with ".tmp." in their name. */
static int count_temp_files(void) {
    int n = 0;
    DIR *d = opendir(dir);
    if (!d) return -1;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

/* Header length J of a file image. */
static uint64_t header_len(const unsigned char *buf) {
    uint64_t J = 0;
    for (int k = 0; k < 8; k++) J |= (uint64_t)buf[8 + k] << (8 * k);
    return J;
}

/* Builds a file image "PBTENS01" | J | json | data (data_len zero bytes). */
static size_t make_image(unsigned char *buf, size_t cap, const char *json, size_t data_len) {
    size_t J = strlen(json);
    if (16 + J + data_len > cap) return 0;
    memcpy(buf, "PBTENS01", 8);
    for (int k = 0; k < 8; k++) buf[8 + k] = (unsigned char)((uint64_t)J >> (8 * k));
    memcpy(buf + 16, json, J);
    memset(buf + 16 + J, 0, data_len);
    return 16 + J + data_len;
}

/* Reading `image` must fail with a message containing the file's path and
 * `expect`. */
static void expect_error(const char *label, const void *image, size_t len, const char *expect) {
    char path[320];
    pb_tf_file f;
    pb_error err = {{0}};
    path_in_dir(path, sizeof path, "corrupt.pbt");
    spit(path, image, len);
    int rc = pb_tf_read(path, &f, &err);
    CHECK(rc == -1, "%s: read should fail", label);
    CHECK(strstr(err.msg, path) != NULL, "%s: message should name the file: %s", label, err.msg);
    CHECK(strstr(err.msg, expect) != NULL, "%s: message should say '%s': %s", label, expect, err.msg);
    CHECK(f.n == 0 && f.entries == NULL && f.blob == NULL && f.meta_json == NULL,
          "%s: failed read leaves an empty file struct", label);
    pb_tf_free(&f);
    /* The in-memory reader (what the fuzzer drives) refuses it the same way. */
    rc = pb_tf_read_mem(image, len, "mem.pbt", &f, &err);
    CHECK(rc == -1 && strstr(err.msg, "mem.pbt") && strstr(err.msg, expect),
          "%s: pb_tf_read_mem should fail saying '%s': %s", label, expect, rc ? err.msg : "ok");
    CHECK(f.n == 0 && f.entries == NULL && f.blob == NULL && f.meta_json == NULL,
          "%s: failed pb_tf_read_mem leaves an empty file struct", label);
}

static void test_round_trip(void) {
    char path[320];
    pb_error err = {{0}};
    float w[2][3] = {{1.5f, -2.0f, 3.25f}, {1e-30f, -0.0f, 65504.0f}};
    int32_t tok[5] = {0, 1, -7, 2147483647, -2147483647 - 1};
    float scalar = 42.0f;
    pb_tf_entry in[4] = {
        {.name = "wte", .dtype = PB_TF_F32, .ndim = 2, .shape = {2, 3}, .data = w},
        {.name = "tokens", .dtype = PB_TF_I32, .ndim = 1, .shape = {5}, .data = tok},
        {.name = "ln1_b", .dtype = PB_TF_F32, .ndim = 2, .shape = {2, 0}, .data = NULL},
        {.name = "loss \"quoted\"", .dtype = PB_TF_F32, .ndim = 0, .data = &scalar},
    };
    const char *meta = "{\"config\": {\"d\": 16, \"causal\": true, \"enc\": {\"scaling.type\": \"yarn\"},"
                       " \"x\": [1, 2.5e-3, null, false]}}";
    path_in_dir(path, sizeof path, "round.pbt");
    CHECK(pb_tf_write(path, meta, in, 4, &err) == 0, "write: %s", err.msg);

    pb_tf_file f;
    CHECK(pb_tf_read(path, &f, &err) == 0, "read: %s", err.msg);
    CHECK(f.n == 4, "4 tensors, got %d", f.n);
    CHECK(f.meta_json && !strcmp(f.meta_json, meta), "meta round trip: %s", f.meta_json ? f.meta_json : "(null)");
    const pb_tf_entry *e = pb_tf_find(&f, "wte");
    CHECK(e && e->dtype == PB_TF_F32 && e->ndim == 2 && e->shape[0] == 2 && e->shape[1] == 3,
          "wte header");
    CHECK(e && pb_tf_numel(e) == 6 && !memcmp(e->data, w, sizeof w), "wte data bit-identical");
    CHECK(e && ((uintptr_t)e->data % 4) == 0, "wte data aligned");
    e = pb_tf_find(&f, "tokens");
    CHECK(e && e->dtype == PB_TF_I32 && e->ndim == 1 && e->shape[0] == 5 &&
          !memcmp(e->data, tok, sizeof tok), "tokens round trip");
    e = pb_tf_find(&f, "ln1_b");
    CHECK(e && e->ndim == 2 && e->shape[1] == 0 && pb_tf_numel(e) == 0, "zero-size tensor");
    e = pb_tf_find(&f, "loss \"quoted\"");
    CHECK(e && e->ndim == 0 && pb_tf_numel(e) == 1 && ((const float *)e->data)[0] == 42.0f,
          "scalar with an escaped name");
    CHECK(pb_tf_find(&f, "missing") == NULL, "find of an absent name");
    pb_tf_free(&f);

    /* The same bytes from memory read the same. */
    size_t len;
    unsigned char *bytes = slurp(path, &len);
    CHECK(pb_tf_read_mem(bytes, len, "mem.pbt", &f, &err) == 0, "read_mem: %s", err.msg);
    free(bytes);  /* the reader copied what it keeps */
    e = pb_tf_find(&f, "wte");
    CHECK(f.n == 4 && !strcmp(f.meta_json, meta) && e && !memcmp(e->data, w, sizeof w) &&
          ((uintptr_t)e->data % 4) == 0, "read_mem gives the same tensors and meta");
    pb_tf_free(&f);
    CHECK(f.blob == NULL && f.n == 0, "free clears");
    pb_tf_free(&f);  /* twice is harmless */

    /* No tensors at all, and the smallest meta. */
    CHECK(pb_tf_write(path, "{}", NULL, 0, &err) == 0, "empty write: %s", err.msg);
    CHECK(pb_tf_read(path, &f, &err) == 0 && f.n == 0 && !strcmp(f.meta_json, "{}"),
          "empty read: %s", err.msg);
    pb_tf_free(&f);
}

static void test_writer_rejects(void) {
    char path[320];
    pb_error err = {{0}};
    float x = 1;
    pb_tf_entry dup[2] = {
        {.name = "a", .dtype = PB_TF_F32, .ndim = 1, .shape = {1}, .data = &x},
        {.name = "a", .dtype = PB_TF_F32, .ndim = 1, .shape = {1}, .data = &x},
    };
    path_in_dir(path, sizeof path, "reject.pbt");
    CHECK(pb_tf_write(path, "{}", dup, 2, &err) == -1 && strstr(err.msg, "duplicate"),
          "duplicate names: %s", err.msg);
    CHECK(pb_tf_write(path, "[1]", dup, 1, &err) == -1 && strstr(err.msg, "meta"),
          "meta not an object: %s", err.msg);
    CHECK(pb_tf_write(path, "{\"a\": }", dup, 1, &err) == -1 && strstr(err.msg, path),
          "bad meta JSON: %s", err.msg);
    pb_tf_entry neg = {.name = "n", .dtype = PB_TF_F32, .ndim = 1, .shape = {-1}, .data = &x};
    CHECK(pb_tf_write(path, "{}", &neg, 1, &err) == -1 && strstr(err.msg, "'n'"),
          "negative shape: %s", err.msg);
    pb_tf_entry nodata = {.name = "z", .dtype = PB_TF_F32, .ndim = 1, .shape = {3}, .data = NULL};
    CHECK(pb_tf_write(path, "{}", &nodata, 1, &err) == -1 && strstr(err.msg, "no data"),
          "missing data: %s", err.msg);
    CHECK(access(path, F_OK) != 0, "rejected writes create no file");
}

static void test_atomic(void) {
    char path[320], bad[360];
    pb_error err = {{0}};
    float a[4] = {1, 2, 3, 4};
    pb_tf_entry e = {.name = "a", .dtype = PB_TF_F32, .ndim = 1, .shape = {4}, .data = a};
    path_in_dir(path, sizeof path, "atomic.pbt");
    CHECK(pb_tf_write(path, "{\"v\": 1}", &e, 1, &err) == 0, "first write: %s", err.msg);
    size_t len0;
    unsigned char *before = slurp(path, &len0);

    /* A failing write (the directory does not exist) reports the path and
     * the system error, and leaves nothing behind. */
    snprintf(bad, sizeof bad, "%s/no-such-dir/atomic.pbt", dir);
    CHECK(pb_tf_write(bad, "{}", &e, 1, &err) == -1, "write into a missing directory fails");
    CHECK(strstr(err.msg, bad) && strstr(err.msg, "No such file or directory"),
          "message names path and strerror: %s", err.msg);
    CHECK(count_temp_files() == 0, "failed create leaves no temporary file");

    /* A directory in the target's place (which a rename would fail on, or
     * replace when empty) is refused before anything is written: it keeps
     * its content and no temporary file is left. */
    char dirpath[360], inner[400];
    snprintf(dirpath, sizeof dirpath, "%s/is-a-dir.pbt", dir);
    snprintf(inner, sizeof inner, "%s/keep", dirpath);
    CHECK(mkdir(dirpath, 0755) == 0, "mkdir");
    spit(inner, "x", 1);
    CHECK(pb_tf_write(dirpath, "{}", &e, 1, &err) == -1 && strstr(err.msg, "is a directory"),
          "writing over a directory is refused: %s", err.msg);
    CHECK(access(inner, F_OK) == 0, "the directory keeps its content");
    CHECK(count_temp_files() == 0, "no temporary file left in %s", dir);

    /* A write that fails half-way (the file size limit is hit, as on a
     * full disk) must not touch the old file: the naive fopen(path, "w")
     * would have truncated it. */
    static float big[4096];
    pb_tf_entry be = {.name = "big", .dtype = PB_TF_F32, .ndim = 1, .shape = {4096}, .data = big};
    struct rlimit old_lim, lim;
    getrlimit(RLIMIT_FSIZE, &old_lim);
    lim = old_lim;
    lim.rlim_cur = 2048;
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    if (setrlimit(RLIMIT_FSIZE, &lim) == 0) {
        int rc = pb_tf_write(path, "{}", &be, 1, &err);
        setrlimit(RLIMIT_FSIZE, &old_lim);
        CHECK(rc == -1 && strstr(err.msg, path) && strstr(err.msg, "File too large"),
              "write past the size limit fails naming path and strerror: %s", err.msg);
        CHECK(count_temp_files() == 0, "failed write removes its temporary file");
    }
    signal(SIGXFSZ, old_handler);

    /* The old file is intact after the failed writes. */
    size_t len1;
    unsigned char *after = slurp(path, &len1);
    CHECK(before && after && len0 == len1 && !memcmp(before, after, len0), "old file intact");
    free(before);
    free(after);

    /* A successful second write replaces it whole. */
    a[0] = 9;
    CHECK(pb_tf_write(path, "{\"v\": 2}", &e, 1, &err) == 0, "second write: %s", err.msg);
    pb_tf_file f;
    CHECK(pb_tf_read(path, &f, &err) == 0 && ((const float *)f.entries[0].data)[0] == 9.0f &&
          !strcmp(f.meta_json, "{\"v\": 2}"), "second write visible: %s", err.msg);
    pb_tf_free(&f);

    /* pb_write_atomic on its own. */
    char txt[320];
    path_in_dir(txt, sizeof txt, "plain.txt");
    CHECK(pb_write_atomic(txt, "hello\n", 6, &err) == 0, "atomic text: %s", err.msg);
    size_t n;
    unsigned char *s = slurp(txt, &n);
    CHECK(s && n == 6 && !memcmp(s, "hello\n", 6), "atomic text content");
    free(s);
}

static void test_corrupt(void) {
    char path[320];
    pb_error err = {{0}};
    float v[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    pb_tf_entry e[2] = {
        {.name = "a", .dtype = PB_TF_F32, .ndim = 2, .shape = {2, 2}, .data = v},
        {.name = "b", .dtype = PB_TF_I32, .ndim = 1, .shape = {4}, .data = v + 4},
    };
    path_in_dir(path, sizeof path, "good.pbt");
    CHECK(pb_tf_write(path, "{\"k\": [1, {\"x\": \"y\"}]}", e, 2, &err) == 0, "write: %s", err.msg);
    size_t len;
    unsigned char *good = slurp(path, &len);
    unsigned char *img = malloc(len + 4096);
    uint64_t J = header_len(good);

    memcpy(img, good, len);
    img[0] = 'X';
    expect_error("bad magic", img, len, "bad magic");

    expect_error("shorter than the preamble", good, 10, "truncated");
    expect_error("empty file", good, 0, "truncated");
    expect_error("truncated data", good, len - 4, "out of range");
    expect_error("truncated header", good, 16 + (size_t)J / 2, "exceeds the file size");

    memcpy(img, good, len);
    img[8] = 0xff; img[9] = 0xff; img[15] = 0x7f;  /* absurd header length */
    expect_error("header length too large", img, len, "exceeds the file size");
    memset(img + 8, 0, 8);
    expect_error("header length zero", img, len, "empty JSON header");

    unsigned char buf[2048];
    size_t n;
    n = make_image(buf, sizeof buf,
                   "{\"meta\": {}, \"tensors\": [{\"name\": \"a\", \"dtype\": \"f32\", \"shape\": [4], "
                   "\"offset\": 16}]}", 16);
    expect_error("offset out of range", buf, n, "out of range");
    n = make_image(buf, sizeof buf,
                   "{\"meta\": {}, \"tensors\": [{\"name\": \"a\", \"dtype\": \"f32\", \"shape\": [2], "
                   "\"offset\": 18446744073709551615}]}", 16);
    expect_error("offset overflowing int64", buf, n, "non-negative integer");
    n = make_image(buf, sizeof buf,
                   "{\"meta\": {}, \"tensors\": [{\"name\": \"a\", \"dtype\": \"f32\", \"shape\": [2], "
                   "\"offset\": 9223372036854775800}]}", 16);
    expect_error("offset + size overflowing", buf, n, "out of range");
    n = make_image(buf, sizeof buf,
                   "{\"meta\": {}, \"tensors\": [{\"name\": \"a\", \"dtype\": \"f32\", "
                   "\"shape\": [4294967296, 4294967296, 4294967296], \"offset\": 0}]}", 16);
    expect_error("shape product overflowing", buf, n, "overflow");
    n = make_image(buf, sizeof buf,
                   "{\"meta\": {}, \"tensors\": [{\"name\": \"a\", \"dtype\": \"f32\", \"shape\": [-2], "
                   "\"offset\": 0}]}", 16);
    expect_error("negative shape", buf, n, "non-negative integer");
    n = make_image(buf, sizeof buf,
                   "{\"meta\": {}, \"tensors\": [{\"name\": \"a\", \"dtype\": \"f32\", \"shape\": [1.5], "
                   "\"offset\": 0}]}", 16);
    expect_error("fractional shape", buf, n, "non-negative integer");
    n = make_image(buf, sizeof buf,
                   "{\"meta\": {}, \"tensors\": [{\"name\": \"a\", \"dtype\": \"f64\", \"shape\": [1], "
                   "\"offset\": 0}]}", 16);
    expect_error("unknown dtype", buf, n, "unknown dtype \"f64\"");
    n = make_image(buf, sizeof buf,
                   "{\"meta\": {}, \"tensors\": [{\"name\": \"a\", \"dtype\": \"f32\", "
                   "\"shape\": [1, 1, 1, 1, 1], \"offset\": 0}]}", 16);
    expect_error("too many dimensions", buf, n, "more than 4 dimensions");
    n = make_image(buf, sizeof buf,
                   "{\"meta\": {}, \"tensors\": [{\"name\": \"a\", \"dtype\": \"f32\", \"shape\": [1], "
                   "\"offset\": 2}]}", 16);
    expect_error("misaligned offset", buf, n, "not a multiple of 4");
    n = make_image(buf, sizeof buf,
                   "{\"meta\": {}, \"tensors\": [{\"name\": \"a\", \"dtype\": \"f32\", \"shape\": [1]}]}", 16);
    expect_error("missing offset", buf, n, "has no offset");
    n = make_image(buf, sizeof buf,
                   "{\"meta\": {}, \"tensors\": [{\"name\": \"a\", \"dtype\": \"f32\", \"shape\": [1], "
                   "\"offset\": 0}, {\"name\": \"a\", \"dtype\": \"f32\", \"shape\": [1], \"offset\": 4}]}", 16);
    expect_error("duplicate name", buf, n, "appears twice");
    n = make_image(buf, sizeof buf,
                   "{\"meta\": {}, \"tensors\": [{\"name\": \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\", "
                   "\"dtype\": \"f32\", \"shape\": [1], \"offset\": 0}]}", 16);
    expect_error("name too long", buf, n, "name longer than");

    /* Bad JSON of several kinds: each names the byte and the problem. */
    n = make_image(buf, sizeof buf, "{\"meta\": {}, \"tensors\": [", 16);
    expect_error("unterminated array", buf, n, "bad JSON header");
    n = make_image(buf, sizeof buf, "{\"meta\": {\"a\" 1}, \"tensors\": []}", 16);
    expect_error("missing colon", buf, n, "expected ':'");
    n = make_image(buf, sizeof buf, "{\"meta\": {\"a\": \"x", 0);
    expect_error("unterminated string", buf, n, "unterminated string");
    n = make_image(buf, sizeof buf, "{\"meta\": {\"a\": tru}, \"tensors\": []}", 16);
    expect_error("bad literal", buf, n, "unexpected character");
    n = make_image(buf, sizeof buf, "{\"meta\": {}, \"tensors\": []} x", 16);
    expect_error("trailing text", buf, n, "trailing characters");
    n = make_image(buf, sizeof buf, "[]", 16);
    expect_error("header not an object", buf, n, "not a JSON object");
    n = make_image(buf, sizeof buf, "{\"meta\": {}}", 16);
    expect_error("no tensor list", buf, n, "no \"tensors\" list");
    n = make_image(buf, sizeof buf, "{\"meta\": 3, \"tensors\": []}", 16);
    expect_error("meta not an object", buf, n, "meta must be a JSON object");
    char deep[600];
    size_t k = 0;
    k += (size_t)snprintf(deep, sizeof deep, "{\"meta\": {\"a\": ");
    for (int i = 0; i < 200; i++) deep[k++] = '[';
    deep[k] = '\0';
    n = make_image(buf, sizeof buf, deep, 0);
    expect_error("nested too deeply", buf, n, "nested too deeply");
    n = make_image(buf, sizeof buf, "{\"meta\": {\"a\": 01}, \"tensors\": []}", 16);
    expect_error("leading zero", buf, n, "leading zero");
    n = make_image(buf, sizeof buf, "{\"meta\": {\"a\": \"\\q\"}, \"tensors\": []}", 16);
    expect_error("bad escape", buf, n, "bad escape");
    memcpy(buf, "PBTENS01", 8);
    memset(buf + 8, 0, 8);
    buf[8] = 4;
    memcpy(buf + 16, "{\0}}", 4);
    expect_error("NUL in header", buf, 20, "NUL byte");

    /* Valid but unusual: unknown keys are skipped, \u escapes decode,
     * whitespace anywhere. */
    n = make_image(buf, sizeof buf,
                   " { \"version\" : 2 , \"tensors\" : [ { \"extra\" : [ {} ] , \"name\" : \"\\u00e9t\\u00e9\" ,"
                   " \"dtype\" : \"i32\" , \"shape\" : [ ] , \"offset\" : 12 } ] }\n  ", 16);
    char upath[320];
    path_in_dir(upath, sizeof upath, "unusual.pbt");
    spit(upath, buf, n);
    pb_tf_file f;
    CHECK(pb_tf_read(upath, &f, &err) == 0, "unusual but valid header: %s", err.msg);
    if (f.n == 1) {
        CHECK(!strcmp(f.entries[0].name, "\xc3\xa9t\xc3\xa9"), "\\u escapes decode to UTF-8");
        CHECK(!strcmp(f.meta_json, "{}"), "missing meta reads as {}");
    }
    pb_tf_free(&f);

    /* Not a regular file / missing file. */
    pb_tf_file g;
    CHECK(pb_tf_read(dir, &g, &err) == -1 && strstr(err.msg, "not a regular file"),
          "directory: %s", err.msg);
    CHECK(pb_tf_read("/nonexistent/x.pbt", &g, &err) == -1 && strstr(err.msg, "/nonexistent/x.pbt"),
          "missing file: %s", err.msg);
    free(good);
    free(img);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/pb_test_tensorfile.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_round_trip();
    test_writer_rejects();
    test_atomic();
    test_corrupt();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_summary("test_tensorfile");
}
