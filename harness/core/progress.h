/* Progress output shared by long loops: a rewriting line on a terminal,
 * periodic plain lines otherwise. */
#ifndef PB_PROGRESS_H
#define PB_PROGRESS_H

typedef struct pb_progress {
    const char *label;
    int total, enabled, tty;
    double start, last;
    int last_logged;
} pb_progress;

void pb_progress_start(pb_progress *p, const char *label, int total, int enabled);
void pb_progress_update(pb_progress *p, int done, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void pb_progress_end(pb_progress *p);
double pb_now(void);

#endif
