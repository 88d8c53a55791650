/*
 * zcp: copy a file with zcopy and print what it cost.
 *
 *   zcp [-s STRATEGY] [-n] SRC DST     SRC or DST may be "-" (standard input / output)
 *
 *   -s STRATEGY   auto (default), read_write, mmap_write, sendfile, splice, copy_file_range, reflink
 *   -n            no fallback: exactly STRATEGY, or fail
 *
 * Build: cc zcp.c $(pkg-config --cflags --libs zcopy) -o zcp
 */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zcopy.h>

static int usage(void) {
    fprintf(stderr, "usage: zcp [-s STRATEGY] [-n] SRC DST\n");
    return 2;
}

int main(int argc, char **argv) {
    zc_options opts;
    zc_options_default(&opts, sizeof opts);
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
        if (strcmp(argv[i], "-s") == 0 && i + 1 < argc) {
            if (zc_strategy_from_name(argv[++i], &opts.strategy) != ZC_OK) {
                fprintf(stderr, "zcp: %s\n", zc_last_error());
                return 2;
            }
        } else if (strcmp(argv[i], "-n") == 0) {
            opts.fallback = false;
        } else {
            return usage();
        }
    }
    if (argc - i != 2) return usage();
    const char *src = argv[i], *dst = argv[i + 1];

    zc_report report = {.struct_size = sizeof report};
    zc_status status;
    if (strcmp(src, "-") == 0 || strcmp(dst, "-") == 0) {
        int in = strcmp(src, "-") == 0 ? STDIN_FILENO : open(src, O_RDONLY | O_CLOEXEC);
        int out = strcmp(dst, "-") == 0 ? STDOUT_FILENO
                                        : open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (in < 0 || out < 0) {
            perror("zcp: open");
            return 1;
        }
        status = zc_transfer(in, out, &opts, &report);
    } else {
        status = zc_copy_file(src, dst, &opts, &report);
    }

    for (size_t f = 0; f < report.fallbacks_len && f < ZC_MAX_FALLBACKS; f++)
        fprintf(stderr, "tried %-16s %s\n", zc_strategy_name(report.fallbacks[f].strategy),
                report.fallbacks[f].reason);
    fprintf(stderr, "%llu bytes by %s in %.3f ms, %llu syscalls, %llu mode switches\n",
            (unsigned long long)report.bytes,
            zc_strategy_name(report.strategy) ? zc_strategy_name(report.strategy) : "?",
            (double)report.elapsed_ns / 1e6, (unsigned long long)report.syscalls,
            (unsigned long long)report.mode_switches);
    if (status != ZC_OK) {
        fprintf(stderr, "zcp: %s (errno %d)\n", zc_last_error(), zc_last_errno());
        return 1;
    }
    return 0;
}
