/* No positional encoding (NoPE): order is only visible through the causal
 * mask (Kazemnejad et al. 2023). */
#include "encoding.h"

static const char *const none_options[] = {NULL};

const pb_encoding_type pb_enc_none = {
    .name = "none",
    .summary = "no positional information (NoPE); needs a causal mask to see order",
    .reference = "Kazemnejad et al. 2023",
    .options_doc = "",
    .options = none_options,
    .sites = 0,
    .pos_dims = 1,
};
