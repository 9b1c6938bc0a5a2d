/* Minimal test helpers for the C test programs.
 *
 * Each test program calls CHECK / CHECK_CLOSE as often as it likes and ends
 * with `return check_summary("name");`, which prints "N passed, N failed"
 * and returns non-zero when anything failed (so make stops). */
#ifndef PB_CHECK_H
#define PB_CHECK_H

#include <math.h>
#include <stdio.h>

static int check_passed, check_failed;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (cond) {                                                        \
            check_passed++;                                                \
        } else {                                                           \
            check_failed++;                                                \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);           \
            fprintf(stderr, __VA_ARGS__);                                  \
            fprintf(stderr, "\n");                                         \
        }                                                                  \
    } while (0)

/* |a - b| <= tol * max(1, |a|, |b|): relative for large values, absolute
 * near zero. */
static inline int check_close(double a, double b, double tol) {
    double scale = fabs(a) > fabs(b) ? fabs(a) : fabs(b);
    if (scale < 1.0) scale = 1.0;
    return fabs(a - b) <= tol * scale;
}

#define CHECK_CLOSE(a, b, tol, what)                                       \
    CHECK(check_close((a), (b), (tol)), "%s: %.9g vs %.9g (tol %g)", (what), \
          (double)(a), (double)(b), (double)(tol))

static inline int check_summary(const char *name) {
    printf("%s: %d passed, %d failed\n", name, check_passed, check_failed);
    return check_failed ? 1 : 0;
}

#endif
