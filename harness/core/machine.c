/* The machine a run ran on (machine.h). */
#include "machine.h"

#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

/* Value of the first line "key<spaces/tabs>: value" (or key=value with
 * sep '=') in a text file, quotes stripped; 0 when absent. */
static int read_field(const char *file, const char *key, char sep, char *out, size_t cap) {
    FILE *f = fopen(file, "r");
    if (!f) return 0;
    char line[512];
    size_t klen = strlen(key);
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        if (strncmp(line, key, klen) != 0) continue;
        char *p = line + klen;
        while (*p == ' ' || *p == '\t') p++;
        if (*p != sep) continue;
        p++;
        while (*p == ' ' || *p == '"') p++;
        size_t n = strcspn(p, "\"\n");
        if (n >= cap) n = cap - 1;
        memcpy(out, p, n);
        out[n] = '\0';
        found = n > 0;
    }
    fclose(f);
    return found;
}

void pb_machine_get(pb_machine *m, const char *cpu_model) {
    memset(m, 0, sizeof *m);
    snprintf(m->cpu, sizeof m->cpu, "%s", cpu_model);
    if (strcmp(m->cpu, "unknown") == 0 &&
        !read_field("/proc/cpuinfo", "Hardware", ':', m->cpu, sizeof m->cpu))
        strcpy(m->cpu, "unknown");
    m->cores = sysconf(_SC_NPROCESSORS_ONLN);
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    m->memory = pages > 0 && page > 0 ? (long long)pages * page : 0;
    struct utsname u;
    int have_uname = uname(&u) == 0;
    if (!read_field("/etc/os-release", "PRETTY_NAME", '=', m->os, sizeof m->os))
        snprintf(m->os, sizeof m->os, "%s", have_uname ? u.sysname : "unknown");
    if (have_uname) {
        snprintf(m->kernel, sizeof m->kernel, "%s %s", u.sysname, u.release);
        snprintf(m->arch, sizeof m->arch, "%s", u.machine);
    }
}
