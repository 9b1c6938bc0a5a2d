/* Every built-in encoding, in the order `posbench list encodings` shows them.
 * Adding an encoding: write encodings/<name>.c defining a pb_encoding_type,
 * then add one extern line and one list entry here. */
#include "encoding.h"

extern const pb_encoding_type pb_enc_none;

const pb_encoding_type *const pb_encoding_types[] = {
    &pb_enc_none,
    NULL,
};
