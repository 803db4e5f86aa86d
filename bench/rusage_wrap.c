/* Run a command, then write its wall time and rusage (peak RSS, user, sys) as JSON.
 *
 *   rusage_wrap OUT.json CMD [ARGS...]
 *
 * compare.py compiles this into bench/work/rusage_wrap (gcc -O2) and runs both the Brian2
 * standalone binary and engram through it. It is C and not Python on purpose: on Linux a
 * child's ru_maxrss is at least the RSS its parent had when it forked (the copied address
 * space counts until exec), so a Python wrapper puts a floor of about 10 MiB under every
 * figure (and compare.py itself, with Brian2 imported, one of about 110 MiB). This wrapper's
 * own footprint is about 1 MiB. The exit status of CMD is passed on.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s OUT.json CMD [ARGS...]\n", argv[0]);
        return 2;
    }
    double t0 = now();
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); return 2; }
    if (pid == 0) {
        execvp(argv[2], argv + 2);
        fprintf(stderr, "rusage_wrap: cannot run %s: %s\n", argv[2], strerror(errno));
        _exit(127);
    }
    int status = 0;
    struct rusage ru;
    while (wait4(pid, &status, 0, &ru) < 0) {
        if (errno != EINTR) { perror("wait4"); return 2; }
    }
    double wall = now() - t0;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : (WIFSIGNALED(status) ? -WTERMSIG(status) : -1);
    FILE *f = fopen(argv[1], "w");
    if (!f) { perror(argv[1]); return 2; }
    fprintf(f, "{\"wall_s\": %.9f, \"maxrss_mib\": %.6f, \"user_s\": %.6f, \"sys_s\": %.6f, \"status\": %d}\n",
            wall, ru.ru_maxrss / 1024.0, ru.ru_utime.tv_sec + 1e-6 * ru.ru_utime.tv_usec,
            ru.ru_stime.tv_sec + 1e-6 * ru.ru_stime.tv_usec, code);
    fclose(f);
    return code >= 0 ? code : 128 - code;
}
