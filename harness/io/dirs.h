/* Directories for results: create a path like `mkdir -p`. */
#ifndef PB_DIRS_H
#define PB_DIRS_H

#include "../core/pb_error.h"

/* Every missing component of path; an existing directory is fine, an
 * existing file in the way is an error naming it. */
int pb_mkdir_p(const char *path, pb_error *err);

#endif
