/* grid2d: a neighbour lookup on a w x h grid, for 2D position encodings.
 *
 * The grid (h = n rows of w = `width` random symbols, row-major; with
 * square=1, w = n too, so a larger problem grows along both axes as an
 * image does at a higher resolution) has one
 * cell (x, y) replaced by MARK; then comes a direction token and the answer,
 * the symbol of the marked cell's neighbour in that direction:
 *
 *   UP (0,-1), DOWN (0,+1), LEFT (-1,0), RIGHT (+1,0)
 *
 *   c(0,0) .. c(w-1,0) c(0,1) .. c(w-1,h-1) DIR answer       (S = w h + 2)
 *
 * The direction is uniform and the mark uniform among the cells whose
 * neighbour lies inside the grid (no wrap-around). With grid positions
 * (t mod w, t div w) the answer sits at a fixed 2D offset from the mark;
 * in 1D the vertical offsets are +-w, so a 1D encoding must resolve row
 * length. The direction and answer tokens occupy row h of the grid scheme. */
#include "task_common.h"

#define MARK 1
#define DIR0 2 /* UP, DOWN, LEFT, RIGHT = 2..5 */
#define SYM0 6 /* BLANK, MARK, 4 directions */

static const char *const grid_options[] = {"min_len", "max_len", "vocab", "width", "square",
                                           NULL};

static int grid_create(pb_task *t, const pb_opts *o, pb_error *err) {
    int V, w, square;
    if (pb_task_parse_lengths(t, o, 2, 2, 5, err) ||
        pb_task_parse_int(t, o, "vocab", 8, 2, 65536, &V, err) ||
        pb_task_parse_int(t, o, "width", 5, 2, 4096, &w, err) ||
        pb_task_parse_int(t, o, "square", 0, 0, 1, &square, err))
        return -1;
    if (square && pb_opts_has(o, "width"))
        return pb_fail(err, "task 'grid2d': square=1 makes the width n; drop option width");
    t->vocab = SYM0 + V;
    t->chance = 1.0 / V;
    t->pos_dims = 2;
    t->grid_w = square ? 0 : w;
    return 0;
}

static int grid_width(const pb_task *t, int n) {
    return t->grid_w ? t->grid_w : n;
}

static int grid_len(const pb_task *t, int n, pb_error *err) {
    return pb_task_check_size(t, n, 2, (long long)n * grid_width(t, n) + 2, err);
}

static int grid_sample(const pb_task *t, gsl_rng *rng, int n, int *seq, float *is_answer,
                       int *place, pb_error *err) {
    (void)place, (void)err;
    static const int dx[4] = {0, 0, -1, 1}, dy[4] = {-1, 1, 0, 0};
    int w = grid_width(t, n), h = n, cells = w * h;
    for (int i = 0; i < cells; i++)
        seq[i] = SYM0 + (int)gsl_rng_uniform_int(rng, (unsigned long)(t->vocab - SYM0));
    int d = (int)gsl_rng_uniform_int(rng, 4);
    /* the mark ranges over a (w - |dx|) x (h - |dy|) block, shifted by 1
     * along the axis where the neighbour lies before it */
    int bw = w - (dx[d] != 0), bh = h - (dy[d] != 0);
    int k = (int)gsl_rng_uniform_int(rng, (unsigned long)(bw * bh));
    int x = k % bw + (dx[d] < 0), y = k / bw + (dy[d] < 0);
    int answer = seq[(y + dy[d]) * w + x + dx[d]];
    seq[y * w + x] = MARK;
    seq[cells] = DIR0 + d;
    seq[cells + 1] = answer;
    for (int i = 0; i < cells + 2; i++) is_answer[i] = i == cells + 1 ? 1.0f : 0.0f;
    return 0;
}

const pb_task_type pb_task_grid2d = {
    .name = "grid2d",
    .summary = "w x n grid with one MARK cell, then UP/DOWN/LEFT/RIGHT; answer the "
               "neighbour's symbol (S = w n + 2; 2D positions)",
    .options_doc = "min_len=2 max_len=5 (n = rows), width=5 (w, cells per row), square=0 "
                   "(1: w = n, the grid grows along both axes), vocab=8 "
                   "(symbols V; ids 0 BLANK, 1 MARK, 2 UP, 3 DOWN, 4 LEFT, 5 RIGHT, "
                   "6..V+5 symbols)",
    .options = grid_options,
    .create = grid_create,
    .grid_width = grid_width,
    .seq_len = grid_len,
    .sample = grid_sample,
};
