/* Every built-in encoding, in the order `posbench list encodings` shows them.
 * Adding an encoding: write encodings/<name>.c defining a pb_encoding_type,
 * then add one extern line and one list entry here. */
#include "encoding.h"

extern const pb_encoding_type pb_enc_none;
extern const pb_encoding_type pb_enc_integer;
extern const pb_encoding_type pb_enc_integer_norm;
extern const pb_encoding_type pb_enc_binary;
extern const pb_encoding_type pb_enc_sinusoidal;
extern const pb_encoding_type pb_enc_learned;
extern const pb_encoding_type pb_enc_alibi;
extern const pb_encoding_type pb_enc_t5;
extern const pb_encoding_type pb_enc_kerple_log;
extern const pb_encoding_type pb_enc_kerple_power;
extern const pb_encoding_type pb_enc_fire;
extern const pb_encoding_type pb_enc_abacus;
extern const pb_encoding_type pb_enc_sinusoidal2d;
extern const pb_encoding_type pb_enc_rope;
extern const pb_encoding_type pb_enc_xpos;
extern const pb_encoding_type pb_enc_rope2d_axial;
extern const pb_encoding_type pb_enc_rope2d_mixed;

/* What a model uses when its config names no encoding. */
const char pb_encoding_default[] = "rope";

const pb_encoding_type *const pb_encoding_types[] = {
    &pb_enc_none,
    &pb_enc_integer,
    &pb_enc_integer_norm,
    &pb_enc_binary,
    &pb_enc_sinusoidal,
    &pb_enc_learned,
    &pb_enc_rope,
    &pb_enc_xpos,
    &pb_enc_alibi,
    &pb_enc_t5,
    &pb_enc_kerple_log,
    &pb_enc_kerple_power,
    &pb_enc_fire,
    &pb_enc_abacus,
    &pb_enc_rope2d_axial,
    &pb_enc_rope2d_mixed,
    &pb_enc_sinusoidal2d,
    NULL,
};
