#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "progress.h"

double pb_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void pb_progress_start(pb_progress *p, const char *label, int total, int enabled) {
    p->label = label ? label : "";
    p->total = total;
    p->enabled = enabled;
    p->tty = isatty(fileno(stderr));
    p->start = p->last = pb_now();
    p->last_logged = 0;
}

/* On a terminal: at most 10 rewrites a second. Otherwise: a line at every
 * tenth of the work, so logs stay short. */
void pb_progress_update(pb_progress *p, int done, const char *fmt, ...) {
    if (!p->enabled) return;
    double now = pb_now();
    int tenth = p->total >= 10 ? p->total / 10 : 1;
    if (p->tty ? (now - p->last < 0.1 && done < p->total)
               : (done - p->last_logged < tenth && done < p->total))
        return;
    p->last = now;
    p->last_logged = done;
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    double elapsed = now - p->start;
    double eta = done > 0 ? elapsed * (p->total - done) / done : 0;
    fprintf(stderr, "%s%s %d/%d %s  %.0fs elapsed, eta %.0fs%s", p->tty ? "\r\033[K" : "",
            p->label, done, p->total, msg, elapsed, eta, p->tty ? "" : "\n");
    fflush(stderr);
}

void pb_progress_end(pb_progress *p) {
    if (p->enabled && p->tty) fputc('\n', stderr);
}
