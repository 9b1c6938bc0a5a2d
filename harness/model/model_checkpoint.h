/* Checkpoints: a model's parameters as a tensor file (docs/model.md), one
 * float32 tensor per parameter tensor, named as pb_param_names. The config
 * travels as the file's meta text, written and read by the caller. */
#ifndef PB_MODEL_CHECKPOINT_H
#define PB_MODEL_CHECKPOINT_H

#include "../io/tensorfile.h"
#include "model.h"

/* Writes every non-empty parameter tensor of m, atomically. */
int pb_model_save(const pb_model *m, const char *path, const char *meta_json, pb_error *err);

/* Copies the parameters of f (read from path, which errors name) into m:
 * every parameter present, float32, with exactly the model's shape, no
 * other tensors, and only finite values unless allow_nonfinite. Nothing
 * is changed unless all of that holds. */
int pb_model_load_params(pb_model *m, const pb_tf_file *f, const char *path,
                         int allow_nonfinite, pb_error *err);

#endif
