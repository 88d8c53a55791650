/*
 * A small test harness for the C tests of zcopy: checks that report and continue, fixtures
 * (temp files with known bytes, pipes, socketpairs, loopback TCP), and a main() that runs the
 * tests named on the command line (all by default) and prints `ok NAME` / `FAIL NAME` lines
 * and a closing `N passed, N failed`.
 */
#ifndef ZCOPY_TEST_HARNESS_H
#define ZCOPY_TEST_HARNESS_H

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zcopy.h"

/* ---- checks ---------------------------------------------------------------------------- */

static int h_failures; /* failed checks in the current test */

static inline void h_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline void h_fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fflush(stdout);
    fprintf(stderr, "  %s:%d: ", file, line);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    h_failures++;
}

/* CHECK(cond, fmt, ...): records a failure with the message and goes on. */
#define CHECK(cond, ...)                                                                        \
    do {                                                                                        \
        if (!(cond)) h_fail(__FILE__, __LINE__, "check failed: " #cond ": " __VA_ARGS__);      \
    } while (0)

/* REQUIRE(cond, ...): as CHECK, but returns from the test on failure. */
#define REQUIRE(cond, ...)                                                                      \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            h_fail(__FILE__, __LINE__, "required: " #cond ": " __VA_ARGS__);                   \
            return;                                                                             \
        }                                                                                       \
    } while (0)

/* Checks a zc_status, printing the last error when it differs. */
#define CHECK_STATUS(got, want)                                                                 \
    do {                                                                                        \
        zc_status h_got_ = (got);                                                               \
        if (h_got_ != (want))                                                                   \
            h_fail(__FILE__, __LINE__, "%s gave status %d, expected %d (%s); last error: %s",  \
                   #got, (int)h_got_, (int)(want), #want, zc_last_error());                    \
    } while (0)

/* Checks a call failed with `status` and errno `err`, and set errno to it too. */
#define CHECK_FAILS(call, status, err)                                                          \
    do {                                                                                        \
        errno = 0;                                                                              \
        CHECK_STATUS(call, status);                                                             \
        CHECK(zc_last_errno() == (err), "zc_last_errno() = %d, expected %d (%s)",              \
              zc_last_errno(), (int)(err), #err);                                               \
        CHECK(errno == (err), "errno = %d after the failure, expected %d", errno, (int)(err)); \
        CHECK(zc_last_error()[0] != '\0', "no message");                                       \
    } while (0)

#define CHECK_MSG(needle)                                                                       \
    CHECK(strstr(zc_last_error(), (needle)) != NULL, "message \"%s\" lacks \"%s\"",             \
          zc_last_error(), (needle))

/* ---- fixtures -------------------------------------------------------------------------- */

static char h_dir[4096];  /* the temp folder of this run */
static char h_self[4096]; /* this program, to run it again as a child process */

/* A path inside the temp folder. */
static inline const char *h_path(const char *name) {
    static char buf[8][4200];
    static int i;
    char *p = buf[i++ % 8];
    snprintf(p, sizeof buf[0], "%s/%s", h_dir, name);
    return p;
}

/* Deterministic bytes: byte i of stream `seed`. */
static inline unsigned char h_byte(uint64_t seed, uint64_t i) {
    uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull ^ (seed * 0xBF58476D1CE4E5B9ull);
    x ^= x >> 31;
    x *= 0x94D049BB133111EBull;
    x ^= x >> 29;
    return (unsigned char)x;
}

static inline unsigned char *h_data(uint64_t seed, size_t len) {
    unsigned char *p = malloc(len ? len : 1);
    if (!p) abort();
    for (size_t i = 0; i < len; i++) p[i] = h_byte(seed, i);
    return p;
}

static inline void h_write_all(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            perror("write");
            abort();
        }
        p += n;
        len -= (size_t)n;
    }
}

/* Creates the file `name` holding `len` bytes of stream `seed`; returns its path. */
static inline const char *h_make_file(const char *name, uint64_t seed, size_t len) {
    const char *path = h_path(name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        perror(path);
        abort();
    }
    unsigned char *d = h_data(seed, len);
    h_write_all(fd, d, len);
    free(d);
    close(fd);
    return path;
}

/* Reads a whole file (or fd from its current position) into a malloc'd buffer. */
static inline unsigned char *h_read_fd(int fd, size_t *len) {
    size_t cap = 1 << 16, n = 0;
    unsigned char *p = malloc(cap);
    if (!p) abort();
    for (;;) {
        if (n == cap) {
            cap *= 2;
            p = realloc(p, cap);
            if (!p) abort();
        }
        ssize_t k = read(fd, p + n, cap - n);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) {
            perror("read");
            abort();
        }
        if (k == 0) break;
        n += (size_t)k;
    }
    *len = n;
    return p;
}

static inline unsigned char *h_read_file(const char *path, size_t *len) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        *len = 0;
        return NULL;
    }
    unsigned char *p = h_read_fd(fd, len);
    close(fd);
    return p;
}

/* Whether `got` (len n) is exactly bytes [from, from+n) of stream `seed` and n == want. */
static inline bool h_same(const unsigned char *got, size_t n, uint64_t seed, uint64_t from, size_t want) {
    if (n != want) {
        fprintf(stderr, "  length %zu, expected %zu\n", n, want);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (got[i] != h_byte(seed, from + i)) {
            fprintf(stderr, "  first different byte at %zu\n", i);
            return false;
        }
    }
    return true;
}

/* Whether the file at `path` holds exactly `len` bytes of `seed` from `from`. */
static inline bool h_file_is(const char *path, uint64_t seed, uint64_t from, size_t len) {
    size_t n;
    unsigned char *p = h_read_file(path, &n);
    if (!p) return false;
    bool ok = h_same(p, n, seed, from, len);
    free(p);
    return ok;
}

/* A reader thread: drains fd into a buffer (optionally stopping after `limit` bytes and
 * closing the fd), for pipes and sockets. */
struct h_reader {
    pthread_t thread;
    int fd;
    size_t limit; /* 0: read to EOF */
    unsigned char *buf;
    size_t len;
};

static inline void *h_reader_main(void *arg) {
    struct h_reader *r = arg;
    size_t cap = 1 << 16;
    r->buf = malloc(cap);
    if (!r->buf) abort();
    for (;;) {
        if (r->len == cap) {
            cap *= 2;
            r->buf = realloc(r->buf, cap);
            if (!r->buf) abort();
        }
        size_t want = cap - r->len;
        if (r->limit && want > r->limit - r->len) want = r->limit - r->len;
        ssize_t k = read(r->fd, r->buf + r->len, want);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        r->len += (size_t)k;
        if (r->limit && r->len >= r->limit) break;
    }
    if (r->limit) close(r->fd);
    return NULL;
}

static inline void h_reader_start(struct h_reader *r, int fd, size_t limit) {
    memset(r, 0, sizeof *r);
    r->fd = fd;
    r->limit = limit;
    if (pthread_create(&r->thread, NULL, h_reader_main, r) != 0) abort();
}

static inline void h_reader_join(struct h_reader *r) { pthread_join(r->thread, NULL); }

/* A writer thread: writes `len` bytes of `seed` into fd, then closes it. */
struct h_writer {
    pthread_t thread;
    int fd;
    uint64_t seed;
    size_t len;
};

static inline void *h_writer_main(void *arg) {
    struct h_writer *w = arg;
    unsigned char *d = h_data(w->seed, w->len);
    h_write_all(w->fd, d, w->len);
    free(d);
    close(w->fd);
    return NULL;
}

static inline void h_writer_start(struct h_writer *w, int fd, uint64_t seed, size_t len) {
    w->fd = fd;
    w->seed = seed;
    w->len = len;
    if (pthread_create(&w->thread, NULL, h_writer_main, w) != 0) abort();
}

static inline void h_writer_join(struct h_writer *w) { pthread_join(w->thread, NULL); }

/* A connected loopback TCP pair: fds[0] connected to fds[1]. */
static inline void h_tcp_pair(int fds[2]) {
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, 1) != 0 ||
        getsockname(l, (struct sockaddr *)&a, &al) != 0) {
        perror("tcp listen");
        abort();
    }
    fds[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fds[0] < 0 || connect(fds[0], (struct sockaddr *)&a, sizeof a) != 0) {
        perror("tcp connect");
        abort();
    }
    fds[1] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    if (fds[1] < 0) {
        perror("accept");
        abort();
    }
    close(l);
}

static inline zc_options h_opts(void) {
    zc_options o;
    if (zc_options_default(&o, sizeof o) != ZC_OK) abort();
    return o;
}

static inline zc_report h_report(void) {
    zc_report r;
    memset(&r, 0xAB, sizeof r); /* garbage the library must overwrite */
    r.struct_size = sizeof r;
    return r;
}

/* ---- running --------------------------------------------------------------------------- */

/* Runs this program again as `h_self --child ARGS...` (a fresh process: under valgrind it runs
 * natively, so a child is judged by its exit status alone) and returns its wait status. */
static inline int h_spawn_child(const char *a1, const char *a2, const char *a3) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        abort();
    }
    if (pid == 0) {
        execl(h_self, h_self, "--child", a1, a2, a3, (char *)NULL);
        perror("execl");
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            perror("waitpid");
            abort();
        }
    }
    return status;
}

/* Describes a wait status: "exit 3", "killed by SIGPIPE (Broken pipe)". */
static inline const char *h_status_text(int status) {
    static char buf[128];
    if (WIFSIGNALED(status))
        snprintf(buf, sizeof buf, "killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else
        snprintf(buf, sizeof buf, "exit %d", WEXITSTATUS(status));
    return buf;
}

struct h_test {
    const char *name;
    void (*fn)(void);
};

static inline void h_init(const char *argv0) {
    if (!realpath(argv0, h_self)) snprintf(h_self, sizeof h_self, "%s", argv0);
    const char *base = getenv("TMPDIR");
    snprintf(h_dir, sizeof h_dir, "%s/zcopy-ctest.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(h_dir)) {
        perror("mkdtemp");
        exit(2);
    }
}

static inline void h_cleanup(void) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", h_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", h_dir);
}

static inline int h_run(const struct h_test *tests, size_t n, int argc, char **argv) {
    int passed = 0, failed = 0;
    for (size_t i = 0; i < n; i++) {
        if (argc > 1) {
            bool wanted = false;
            for (int a = 1; a < argc; a++) wanted |= strcmp(argv[a], tests[i].name) == 0;
            if (!wanted) continue;
        }
        h_failures = 0;
        tests[i].fn();
        if (h_failures == 0) {
            printf("ok   %s\n", tests[i].name);
            passed++;
        } else {
            printf("FAIL %s\n", tests[i].name);
            failed++;
        }
        fflush(stdout);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}

#define TEST(name) {#name, name}

#endif /* ZCOPY_TEST_HARNESS_H */
