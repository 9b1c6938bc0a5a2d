#include "blas_info.h"

#include <string.h>

#include "blas_select.h"
#include "kernels.h"

static void cpu_model(char *out, size_t len) {
    char line[512];
    FILE *f = fopen("/proc/cpuinfo", "r");
    snprintf(out, len, "unknown");
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) != 0 || !colon) continue;
        colon += 1 + (colon[1] == ' ');
        colon[strcspn(colon, "\n")] = 0;
        snprintf(out, len, "%s", colon);
        break;
    }
    fclose(f);
}

void pb_blas_info_get(pb_blas_info *info) {
    pb_cpu_features f;
    pb_cpu_detect(&f);
    const char *best = pb_blas_best_core(&f);
    info->library = pb_blas_name();
    info->kernel = pb_blas_kernel();
    info->selection = pb_blas_selection();
    info->best_kernel = best ? best : "none";
    info->kernels = pb_kernels_active()->name;
    pb_cpu_features_str(&f, info->cpu_features, sizeof info->cpu_features);
    cpu_model(info->cpu_model, sizeof info->cpu_model);
}

void pb_blas_info_print(FILE *out, const pb_blas_info *info) {
    fprintf(out, "blas=%s\n", info->library);
    fprintf(out, "blas_kernel=%s\n", info->kernel);
    fprintf(out, "blas_selection=%s\n", info->selection);
    fprintf(out, "cpu=%s\n", info->cpu_model);
    fprintf(out, "cpu_best_kernel=%s\n", info->best_kernel);
    fprintf(out, "cpu_features=%s\n", info->cpu_features);
    fprintf(out, "kernels=%s\n", info->kernels);
}
