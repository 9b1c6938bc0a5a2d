/* libFuzzer target: the tensor-file reader (pb_tf_read_mem, the code behind
 * pb.load and pb_tf_read) on arbitrary bytes. A file it accepts must have
 * every tensor readable in full (AddressSanitizer checks the bytes), names
 * that pb_tf_find finds and its meta as a JSON object's text; a file it
 * refuses must get a message naming the file. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../harness/io/tensorfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    pb_tf_file f;
    pb_error err;
    if (pb_tf_read_mem(data, size, "fuzz.pbt", &f, &err) != 0) {
        if (!strstr(err.msg, "fuzz.pbt")) abort();  /* errors name the file */
        return 0;
    }
    volatile uint32_t sum = 0;
    for (int i = 0; i < f.n; i++) {
        const pb_tf_entry *e = &f.entries[i];
        if (pb_tf_find(&f, e->name) != e) abort();
        if (e->ndim < 0 || e->ndim > PB_TF_MAX_DIMS) abort();
        int64_t n = pb_tf_numel(e);
        if (n < 0) abort();
        const uint8_t *p = e->data;
        for (int64_t k = 0; k < n * 4; k++) sum += p[k];
    }
    if (f.meta_json[0] != '{' || f.meta_json[strlen(f.meta_json) - 1] != '}') abort();
    (void)sum;
    pb_tf_free(&f);
    return 0;
}
