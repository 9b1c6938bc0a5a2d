/* Quoting for the three languages posbench writes text into: POSIX shell
 * command lines (sweep commands, batch scripts, printed hints, popen),
 * gnuplot scripts (every label, name and file name of a plot) and Slurm
 * filename patterns (sbatch --output). One function per language; the Lua
 * library reaches them through posbench.core (quote_shell, quote_gnuplot,
 * quote_slurm_pattern), and tests/fuzz/fuzz_quote_*.c check that what they
 * produce parses back to the text given.
 *
 * Each returns a malloc'd NUL-terminated string (the caller frees it), or
 * NULL with err set when the text is refused or memory runs out. */
#ifndef PB_QUOTE_H
#define PB_QUOTE_H

#include <stddef.h>

#include "pb_error.h"

/* A byte a command line or a terminal must not carry: C0 controls
 * (newline, tab, escape, ...) and DEL. */
static inline int pb_is_control_byte(unsigned char c) { return c < 0x20 || c == 0x7f; }

/* Offset of the first control byte (NUL included) in s[0..n), or -1. */
long pb_find_control(const char *s, size_t n);

/* One shell word: 'text' with each ' written '\''. Refuses text with a
 * control byte: a newline inside quotes is valid shell, but GNU parallel
 * and xargs read one command per line, and a pasted hint would break. */
char *pb_quote_shell(const char *s, size_t n, pb_error *err);

/* A gnuplot string expression: runs of other bytes as single-quoted
 * strings (gnuplot expands nothing in them: no backquote command, no
 * @macro, no backslash escape), control bytes and the quote ' as "\ooo"
 * octal escapes in double-quoted strings, joined with the '.' operator, so
 * the expression sits on one line and evaluates to exactly the text. The
 * empty text is ''. Refuses a NUL byte (gnuplot strings are C strings). */
char *pb_quote_gnuplot(const char *s, size_t n, pb_error *err);

/* Literal text for a Slurm filename pattern (sbatch --output/--error):
 * each '%' doubled, so Slurm expands none of it; the caller appends its
 * own %A, %a or %j. Refuses control bytes and '\': Slurm ignores every
 * replacement symbol of a pattern holding a backslash, which would keep
 * the caller's %A_%a (and the doubled %%) literally. */
char *pb_quote_slurm_pattern(const char *s, size_t n, pb_error *err);

#endif
