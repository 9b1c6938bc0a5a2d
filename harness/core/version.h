#ifndef PB_VERSION_H
#define PB_VERSION_H

/* posbench's version: --version, `posbench info`, checkpoints and run configs. */
#define PB_VERSION "0.1.0"

#endif
