/*
 * Hostile cases through the C face: a panic injected inside the engine comes back as ZC_PANIC
 * (the host lives, its fds stay open with their flags), /dev/full and a full tmpfs give ENOSPC
 * with the exact prefix, offsets past 4 GiB in a sparse file are exact, offsets that overflow
 * are refused naming the offset, and NULL pointers everywhere.
 *
 * Run by scripts/test-c.sh beside test_zcopy.c (shared, static, ASan + UBSan, valgrind).
 */
#include "harness.h"

#include <sys/mount.h>
#include <stdatomic.h>
#include <time.h>

/* The test-only hook (ffi-c/src/testing.rs), left out of the header on purpose. */
extern void zc_test_inject_panic(uint64_t after_bytes);

static bool fd_open(int fd) { return fcntl(fd, F_GETFD) >= 0; }

/* h_path's buffers are reused after 8 calls: keep a path that must outlive them. */
static const char *keep(char *buf, size_t cap, const char *path) {
    snprintf(buf, cap, "%s", path);
    return buf;
}

static void panic_comes_back_as_zc_panic(void) {
    const size_t n = 8u << 20;
    char src_buf[4300];
    const char *src = keep(src_buf, sizeof src_buf, h_make_file("panic.src", 90, n));
    const zc_strategy strategies[] = {ZC_STRATEGY_AUTO,      ZC_STRATEGY_READ_WRITE,
                                      ZC_STRATEGY_MMAP_WRITE, ZC_STRATEGY_SENDFILE,
                                      ZC_STRATEGY_SPLICE,     ZC_STRATEGY_COPY_FILE_RANGE,
                                      ZC_STRATEGY_DIRECT,     ZC_STRATEGY_IO_URING};
    for (size_t i = 0; i < sizeof strategies / sizeof strategies[0]; i++) {
        zc_strategy st = strategies[i];
        int s = open(src, O_RDONLY | O_CLOEXEC);
        int d = open(h_path("panic.dst"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        REQUIRE(s >= 0 && d >= 0, "open");
        int sfl = fcntl(s, F_GETFL), dfl = fcntl(d, F_GETFL);
        zc_options o = h_opts();
        o.strategy = st;
        o.fallback = false;
        o.chunk_size = 256 * 1024;
        zc_report r = h_report();
        zc_test_inject_panic(1u << 20);
        errno = 1234;
        CHECK_STATUS(zc_transfer(s, d, &o, &r), ZC_PANIC);
        CHECK(errno == 1234, "%s: errno changed to %d by a panic", zc_strategy_name(st), errno);
        CHECK(zc_last_errno() == 0, "%s: zc_last_errno %d", zc_strategy_name(st), zc_last_errno());
        CHECK_MSG("zcopy panicked");
        CHECK_MSG("injected panic");
        CHECK(fd_open(s) && fd_open(d), "%s: the caller's fds are still open", zc_strategy_name(st));
        CHECK(fcntl(s, F_GETFL) == sfl && fcntl(d, F_GETFL) == dfl, "%s: flags unchanged",
              zc_strategy_name(st));
        /* The library still works on this thread, with the same technique. */
        CHECK(lseek(s, 0, SEEK_SET) == 0 && ftruncate(d, 0) == 0 && lseek(d, 0, SEEK_SET) == 0,
              "rewind");
        r = h_report();
        CHECK_STATUS(zc_transfer(s, d, &o, &r), ZC_OK);
        CHECK(r.bytes == n, "%s: %llu bytes after the panic", zc_strategy_name(st),
              (unsigned long long)r.bytes);
        CHECK(h_file_is(h_path("panic.dst"), 90, 0, n), "%s: bytes after the panic",
              zc_strategy_name(st));
        close(s);
        close(d);
    }
    /* zc_copy_file too. */
    zc_test_inject_panic(0);
    CHECK_STATUS(zc_copy_file(src, h_path("panic.copy"), NULL, NULL), ZC_PANIC);
    CHECK_MSG("injected panic");
    CHECK_STATUS(zc_copy_file(src, h_path("panic.copy"), NULL, NULL), ZC_OK);
    CHECK(h_file_is(h_path("panic.copy"), 90, 0, n), "copy_file after the panic");
}

static void dev_full_is_enospc(void) {
    char src_buf[4300];
    const char *src = keep(src_buf, sizeof src_buf, h_make_file("full.src", 91, 1u << 20));
    const zc_strategy strategies[] = {ZC_STRATEGY_AUTO, ZC_STRATEGY_READ_WRITE,
                                      ZC_STRATEGY_SENDFILE, ZC_STRATEGY_SPLICE};
    for (size_t i = 0; i < sizeof strategies / sizeof strategies[0]; i++) {
        int s = open(src, O_RDONLY | O_CLOEXEC), d = open("/dev/full", O_WRONLY | O_CLOEXEC);
        REQUIRE(s >= 0 && d >= 0, "open /dev/full");
        zc_options o = h_opts();
        o.strategy = strategies[i];
        zc_report r = h_report();
        CHECK_FAILS(zc_transfer(s, d, &o, &r), ZC_IO, ENOSPC);
        CHECK_MSG("dst");
        CHECK(r.bytes == 0, "%s: bytes %llu", zc_strategy_name(strategies[i]),
              (unsigned long long)r.bytes);
        CHECK(lseek(s, 0, SEEK_CUR) == 0, "the source position did not move");
        CHECK(fd_open(s) && fd_open(d), "fds open");
        close(s);
        close(d);
    }
}

/* ENOSPC in the middle of a copy onto a 1 MiB tmpfs (as root): the destination holds exactly
 * the prefix the report counts. Elsewhere: says why, and /dev/full (above) is the check. */
static void enospc_mid_transfer_keeps_the_prefix(void) {
    char mnt_buf[4300];
    const char *mnt = keep(mnt_buf, sizeof mnt_buf, h_path("tiny"));
    if (mkdir(mnt, 0755) != 0 || mount("zcopy-test", mnt, "tmpfs", 0, "size=1m") != 0) {
        printf("SKIP enospc_mid_transfer_keeps_the_prefix: cannot mount a 1 MiB tmpfs (%s); "
               "dev_full_is_enospc checks ENOSPC instead\n",
               strerror(errno));
        return;
    }
    const size_t n = 4u << 20;
    char src_buf[4300];
    const char *src = keep(src_buf, sizeof src_buf, h_make_file("enospc.src", 92, n));
    const zc_strategy strategies[] = {ZC_STRATEGY_AUTO, ZC_STRATEGY_READ_WRITE,
                                      ZC_STRATEGY_SENDFILE, ZC_STRATEGY_SPLICE,
                                      ZC_STRATEGY_MMAP_WRITE};
    char dst[4400];
    snprintf(dst, sizeof dst, "%s/dst", mnt);
    for (size_t i = 0; i < sizeof strategies / sizeof strategies[0]; i++) {
        int s = open(src, O_RDONLY | O_CLOEXEC);
        int d = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        REQUIRE(s >= 0 && d >= 0, "open");
        zc_options o = h_opts();
        o.strategy = strategies[i];
        zc_report r = h_report();
        CHECK_FAILS(zc_transfer(s, d, &o, &r), ZC_IO, ENOSPC);
        struct stat st;
        CHECK(fstat(d, &st) == 0 && (uint64_t)st.st_size == r.bytes,
              "%s: dst holds %lld bytes, the report says %llu", zc_strategy_name(strategies[i]),
              (long long)st.st_size, (unsigned long long)r.bytes);
        CHECK(r.bytes > 0 && r.bytes < n, "%s: %llu bytes", zc_strategy_name(strategies[i]),
              (unsigned long long)r.bytes);
        CHECK(h_file_is(dst, 92, 0, (size_t)r.bytes), "%s: the prefix is exact",
              zc_strategy_name(strategies[i]));
        close(s);
        close(d);
        unlink(dst);
    }
    CHECK(umount(mnt) == 0, "umount: %s", strerror(errno));
}

/* A 5 GiB sparse file with markers around 2^31 and 2^32, read at offsets across them. */
static void offsets_past_4_gib(void) {
    char path_buf[4300];
    const char *path = keep(path_buf, sizeof path_buf, h_path("big.sparse"));
    int f = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    REQUIRE(f >= 0, "open");
    const uint64_t size = (5ull << 30) + 17;
    if (ftruncate(f, (off_t)size) != 0) {
        printf("SKIP offsets_past_4_gib: this filesystem cannot hold a 5 GiB file (%s)\n",
               strerror(errno));
        close(f);
        return;
    }
    const uint64_t marks[] = {(1ull << 31) - 3, 1ull << 31, (1ull << 32) - 1, 1ull << 32,
                              (1ull << 32) + 4096, size - 1};
    for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++) {
        unsigned char b = (unsigned char)(0xA0 + i);
        REQUIRE(pwrite(f, &b, 1, (off_t)marks[i]) == 1, "mark");
    }
    const zc_strategy strategies[] = {ZC_STRATEGY_AUTO, ZC_STRATEGY_READ_WRITE,
                                      ZC_STRATEGY_SENDFILE, ZC_STRATEGY_COPY_FILE_RANGE};
    for (size_t i = 0; i < sizeof strategies / sizeof strategies[0]; i++) {
        /* 8 KiB from 2^32 - 4096 into a file at dst offset 2^32 + 5: the marker at 2^32 - 1
         * lands at 2^32 + 4100, the one at 2^32 at 2^32 + 4101. */
        int d = open(h_path("big.dst"), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        REQUIRE(d >= 0, "open dst");
        zc_options o = h_opts();
        o.strategy = strategies[i];
        o.fallback = false;
        o.has_src_offset = true;
        o.src_offset = (1ull << 32) - 4096;
        o.has_dst_offset = true;
        o.dst_offset = (1ull << 32) + 5;
        o.has_len = true;
        o.len = 8192;
        zc_report r = h_report();
        CHECK_STATUS(zc_transfer(f, d, &o, &r), ZC_OK);
        CHECK(r.bytes == 8192, "%s: %llu bytes", zc_strategy_name(strategies[i]),
              (unsigned long long)r.bytes);
        unsigned char got[8192], want[8192];
        memset(want, 0, sizeof want);
        want[4095] = 0xA2;
        want[4096] = 0xA3;
        CHECK(pread(d, got, sizeof got, (off_t)((1ull << 32) + 5)) == (ssize_t)sizeof got,
              "read back");
        CHECK(memcmp(got, want, sizeof got) == 0, "%s: bytes across 2^32",
              zc_strategy_name(strategies[i]));
        struct stat st;
        CHECK(fstat(d, &st) == 0 && (uint64_t)st.st_size == (1ull << 32) + 5 + 8192, "dst size");
        CHECK(lseek(f, 0, SEEK_CUR) == 0, "explicit offsets leave the position alone");
        close(d);
    }
    /* To a pipe: the last 17 bytes of the file, whose last byte is the last marker. */
    int p[2];
    REQUIRE(pipe2(p, O_CLOEXEC) == 0, "pipe");
    zc_options o = h_opts();
    o.has_src_offset = true;
    o.src_offset = size - 17;
    zc_report r = h_report();
    CHECK_STATUS(zc_transfer(f, p[1], &o, &r), ZC_OK);
    CHECK(r.bytes == 17, "to a pipe: %llu", (unsigned long long)r.bytes);
    unsigned char tail[17];
    CHECK(read(p[0], tail, sizeof tail) == 17 && tail[16] == 0xA5 && tail[0] == 0, "tail");
    /* Offsets that overflow the kernel's signed loff_t are refused, naming the offset. */
    o.src_offset = UINT64_MAX - 10;
    CHECK_STATUS(zc_transfer(f, p[1], &o, &r), ZC_INVALID);
    CHECK_MSG("offset");
    CHECK(r.bytes == 0, "nothing moved");
    close(p[0]);
    close(p[1]);
    close(f);
    unlink(path);
    unlink(h_path("big.dst"));
}

/* Every exported function given NULL where it takes a pointer. */
static void null_pointers_everywhere(void) {
    zc_report r = h_report();
    CHECK_FAILS(zc_copy_file(NULL, "x", NULL, &r), ZC_NULL_POINTER, EINVAL);
    CHECK_FAILS(zc_copy_file("x", NULL, NULL, &r), ZC_NULL_POINTER, EINVAL);
    CHECK_FAILS(zc_options_default(NULL, sizeof(zc_options)), ZC_NULL_POINTER, EINVAL);
    zc_strategy st;
    CHECK_FAILS(zc_strategy_from_name(NULL, &st), ZC_NULL_POINTER, EINVAL);
    CHECK_FAILS(zc_strategy_from_name("auto", NULL), ZC_NULL_POINTER, EINVAL);
    int f = open(h_make_file("null.src", 93, 4096), O_RDONLY | O_CLOEXEC);
    REQUIRE(f >= 0, "open");
    CHECK_FAILS(zc_residency(f, 0, NULL, NULL, 0, NULL), ZC_NULL_POINTER, EINVAL);
    CHECK_STATUS(zc_warm(f, 0, NULL, NULL), ZC_OK); /* out is optional there */
    size_t len = 0;
    CHECK_FAILS(zc_probe(f, 1, NULL, 4, &len), ZC_NULL_POINTER, EINVAL);
    zc_support sup[16];
    CHECK_FAILS(zc_probe(f, 1, sup, 16, NULL), ZC_NULL_POINTER, EINVAL);
    CHECK(fd_open(f), "the fd is still open");
    close(f);
    CHECK(zc_strategy_name((zc_strategy)12345) == NULL, "no name for a bad value");
    CHECK(zc_last_error() != NULL && zc_version() != NULL, "never NULL");
}

/* ---- every wait can be stopped ------------------------------------------------------- */

static atomic_bool stop_flag;

/* Sets the stop flag 400 ms after it starts. */
static void *set_stop_flag_later(void *arg) {
    (void)arg;
    usleep(400 * 1000);
    atomic_store(&stop_flag, true);
    return NULL;
}

/* A progress callback that says stop once the flag is set. */
static bool progress_until_flag(uint64_t moved, void *user) {
    (void)moved;
    (void)user;
    return !atomic_load(&stop_flag);
}

static double mono_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Options that stop once stop_flag is set: through the cancel flag (by_progress false) or the
 * progress callback. */
static zc_options stop_opts(bool by_progress) {
    zc_options o = h_opts();
    if (by_progress)
        o.progress = progress_until_flag;
    else
        o.cancel = (const bool *)&stop_flag;
    return o;
}

/* Runs `call` (a blocked zc_copy_file or zc_transfer) with stop_flag set 400 ms in:
 * ZC_CANCELLED within 1.5 s of the flag, naming what stopped it. alarm() ends a run that
 * missed it, never a hang. */
#define CHECK_STOPPED(call, by_progress)                                                        \
    do {                                                                                        \
        atomic_store(&stop_flag, false);                                                        \
        pthread_t setter_;                                                                      \
        REQUIRE(pthread_create(&setter_, NULL, set_stop_flag_later, NULL) == 0, "thread");      \
        alarm(20);                                                                              \
        double t0_ = mono_s();                                                                  \
        CHECK_FAILS(call, ZC_CANCELLED, ECANCELED);                                             \
        double took_ = mono_s() - t0_;                                                          \
        alarm(0);                                                                               \
        pthread_join(setter_, NULL);                                                            \
        CHECK_MSG((by_progress) ? "progress callback" : "cancel flag");                         \
        CHECK(took_ > 0.35 && took_ < 0.4 + 1.5, "ended after %.3f s", took_);                 \
    } while (0)

/* A pipe or socket whose writer wrote 1000 bytes and went quiet without closing: the stop ends
 * the wait for more, with exactly the 1000 bytes in the destination. */
static void idle_source_stopped(void) {
    static const zc_strategy strategies[] = {ZC_STRATEGY_READ_WRITE, ZC_STRATEGY_SPLICE};
    unsigned char *first = h_data(33, 1000);
    for (size_t i = 0; i < sizeof strategies / sizeof strategies[0]; i++) {
        for (int kind = 0; kind < 2; kind++) { /* 0: pipe, 1: Unix socket */
            for (int by_progress = 0; by_progress < 2; by_progress++) {
                int fds[2]; /* [0] read by the transfer, [1] the idle writer */
                if (kind == 0)
                    REQUIRE(pipe2(fds, O_CLOEXEC) == 0, "pipe");
                else
                    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0, "socketpair");
                h_write_all(fds[1], first, 1000);
                int d = open(h_path("idle.dst"), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                REQUIRE(d >= 0, "open dst");
                zc_options o = stop_opts(by_progress);
                o.strategy = strategies[i];
                o.fallback = false;
                zc_report r = h_report();
                CHECK_STOPPED(zc_transfer(fds[0], d, &o, &r), by_progress);
                CHECK(r.bytes == 1000, "%s: bytes %llu", zc_strategy_name(strategies[i]),
                      (unsigned long long)r.bytes);
                CHECK(h_file_is(h_path("idle.dst"), 33, 0, 1000), "dst bytes");
                close(d);
                close(fds[0]);
                close(fds[1]);
            }
        }
    }
    free(first);
}

/* File -> a full pipe (nobody reads it) or a socket whose peer does not read: the call blocks
 * once the buffers between are full, and the stop ends it; the far end then reads exactly
 * r.bytes, the source's first bytes, and the source's position is r.bytes. */
static void stalled_destination_stopped(int kind, const char *path, size_t size) {
    static const zc_strategy strategies[] = {ZC_STRATEGY_READ_WRITE, ZC_STRATEGY_SENDFILE,
                                             ZC_STRATEGY_SPLICE};
    static const char *kinds[] = {"pipe", "unix", "tcp"};
    for (size_t i = 0; i < sizeof strategies / sizeof strategies[0]; i++) {
        for (int by_progress = 0; by_progress < 2; by_progress++) {
            int near, far;
            int sv[2];
            if (kind == 0) {
                REQUIRE(pipe2(sv, O_CLOEXEC) == 0, "pipe");
                far = sv[0], near = sv[1];
            } else {
                if (kind == 2)
                    h_tcp_pair(sv);
                else
                    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
                near = sv[0], far = sv[1];
            }
            int s = open(path, O_RDONLY | O_CLOEXEC);
            REQUIRE(s >= 0, "open");
            zc_options o = stop_opts(by_progress);
            o.strategy = strategies[i];
            o.fallback = false;
            zc_report r = h_report();
            CHECK_STOPPED(zc_transfer(s, near, &o, &r), by_progress);
            const char *what = zc_strategy_name(strategies[i]);
            CHECK(r.bytes > 0, "%s to %s: nothing moved before the stall", what, kinds[kind]);
            CHECK(lseek(s, 0, SEEK_CUR) == (off_t)r.bytes, "%s to %s: src position %lld, report %llu",
                  what, kinds[kind], (long long)lseek(s, 0, SEEK_CUR), (unsigned long long)r.bytes);
            close(near);
            size_t n;
            unsigned char *got = h_read_fd(far, &n);
            CHECK(h_same(got, n, 32, 0, r.bytes), "%s to %s: the far end got %zu bytes, report %llu",
                  what, kinds[kind], n, (unsigned long long)r.bytes);
            CHECK(r.bytes < size, "%s to %s: everything moved", what, kinds[kind]);
            free(got);
            close(far);
            close(s);
        }
    }
}

static void full_pipe_stopped(void) {
    const size_t size = 4 * 1024 * 1024;
    const char *path = h_make_file("full.src", 32, size);
    stalled_destination_stopped(0, path, size);
    unlink(path);
}

static void stalled_socket_stopped(void) {
    const size_t size = 32 * 1024 * 1024;
    const char *path = h_make_file("stall.src", 32, size);
    stalled_destination_stopped(1, path, size);
    stalled_destination_stopped(2, path, size);
    unlink(path);
}

int main(int argc, char **argv) {
    static const struct h_test tests[] = {
        TEST(panic_comes_back_as_zc_panic),
        TEST(dev_full_is_enospc),
        TEST(enospc_mid_transfer_keeps_the_prefix),
        TEST(offsets_past_4_gib),
        TEST(null_pointers_everywhere),
        TEST(idle_source_stopped),
        TEST(full_pipe_stopped),
        TEST(stalled_socket_stopped),
    };
    h_init(argv[0]);
    int rc = h_run(tests, sizeof tests / sizeof tests[0], argc, argv);
    h_cleanup();
    return rc;
}
