/* The Lua module "posbench.core": every C function scripts can call.
 * The public module "posbench" (harness/lua/posbench.lua) wraps it. */
#include "lua_api.h"

#include <gsl/gsl_errno.h>

#include "../core/blas.h"
#include "lua_diag.h"
#include "lua_encoding.h"
#include "lua_eval.h"
#include "lua_internal.h"
#include "lua_metrics.h"
#include "lua_proc.h"
#include "lua_results_fs.h"
#include "../core/version.h"

int luaopen_posbench_core(lua_State *L) {
    pb_blas_init();
    /* GSL's default handler aborts; every GSL call checks its status. */
    gsl_set_error_handler_off();
    lua_newtable(L);
    pb_lua_open_model(L);
    pb_lua_open_train(L);
    pb_lua_open_eval(L);
    pb_lua_open_format(L);
    pb_lua_open_util(L);
    pb_lua_open_diag(L);
    pb_lua_open_encoding(L);
    pb_lua_open_probe(L);
    pb_lua_open_metrics(L);
    pb_lua_open_proc(L);
    pb_lua_open_results_fs(L);
    lua_pushstring(L, PB_VERSION);
    lua_setfield(L, -2, "version");
    return 1;
}
