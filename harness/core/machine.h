/* The machine a run ran on, recorded with every run so timings can be
 * compared (and explained) across machines. The BLAS side is blas_info.h. */
#ifndef PB_MACHINE_H
#define PB_MACHINE_H

typedef struct pb_machine {
    char cpu[128];      /* model name (or "Hardware" on some ARM boards), "unknown" */
    long cores;         /* online */
    long long memory;   /* bytes of physical memory, 0 if unknown */
    char os[128];       /* /etc/os-release PRETTY_NAME, else the kernel's name */
    char kernel[256];   /* "Linux 6.1.0-...", "" if unknown */
    char arch[128];     /* "x86_64", "" if unknown */
} pb_machine;

/* cpu_model: the CPU model already read (pb_blas_info's), or "unknown". */
void pb_machine_get(pb_machine *m, const char *cpu_model);

#endif
