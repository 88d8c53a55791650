/*
 * Tests of every function of zcopy.h from C: real files, pipes, socketpairs and loopback TCP,
 * exact bytes compared after every transfer, and every bad input the ABI can be given.
 *
 *   test_zcopy [TEST...]      runs the named tests (all by default)
 */
#include "harness.h"

#include <poll.h>
#include <sys/resource.h>
#include <sys/vfs.h>
#include <stdatomic.h>

#define MIB (1024 * 1024)

/* ---- version, names, last error -------------------------------------------------------- */

static void version(void) {
    errno = 4242;
    const char *v = zc_version();
    REQUIRE(v != NULL, "zc_version() is NULL");
    CHECK(strcmp(v, ZCOPY_VERSION_STRING) == 0, "library %s, header %s", v, ZCOPY_VERSION_STRING);
    char want[64];
    snprintf(want, sizeof want, "%d.%d.%d", ZCOPY_VERSION_MAJOR, ZCOPY_VERSION_MINOR,
             ZCOPY_VERSION_PATCH);
    CHECK(strcmp(want, ZCOPY_VERSION_STRING) == 0, "macros %s vs %s", want, ZCOPY_VERSION_STRING);
    CHECK(errno == 4242, "zc_version changed errno to %d", errno);
}

static void strategy_names(void) {
    static const char *const want[] = {"auto",   "read_write",      "mmap_write", "sendfile",
                                        "splice", "copy_file_range", "reflink",    "direct",
                                        "msg_zerocopy", "io_uring"};
    static const zc_strategy values[] = {
        ZC_STRATEGY_AUTO,   ZC_STRATEGY_READ_WRITE,      ZC_STRATEGY_MMAP_WRITE,
        ZC_STRATEGY_SENDFILE, ZC_STRATEGY_SPLICE, ZC_STRATEGY_COPY_FILE_RANGE,
        ZC_STRATEGY_REFLINK, ZC_STRATEGY_DIRECT, ZC_STRATEGY_MSG_ZEROCOPY, ZC_STRATEGY_IO_URING};
    size_t n = 0;
    while (zc_strategy_name((zc_strategy)n) != NULL) n++;
    CHECK(n == sizeof want / sizeof want[0], "%zu strategies", n);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const char *name = zc_strategy_name(values[i]);
        REQUIRE(name != NULL, "no name for %u", values[i]);
        CHECK(strcmp(name, want[i]) == 0, "value %u is %s, expected %s", values[i], name, want[i]);
        zc_strategy s = 999;
        errno = 77;
        CHECK_STATUS(zc_strategy_from_name(want[i], &s), ZC_OK);
        CHECK(s == values[i], "%s parsed as %u", want[i], s);
        CHECK(errno == 77, "a successful zc_strategy_from_name changed errno to %d", errno);
        CHECK(zc_last_errno() == 0 && zc_last_error()[0] == '\0', "last error not cleared");
    }
    CHECK(zc_strategy_name((zc_strategy)n) == NULL, "%zu has a name", n);
    CHECK(zc_strategy_name(UINT32_MAX) == NULL, "UINT32_MAX has a name");
}

static void strategy_from_name_bad_input(void) {
    zc_strategy s = 12345;
    CHECK_FAILS(zc_strategy_from_name("teleport", &s), ZC_INVALID, EINVAL);
    CHECK_MSG("unknown strategy \"teleport\"");
    CHECK_MSG("copy_file_range");
    CHECK(s == 12345, "out written on failure");
    CHECK_FAILS(zc_strategy_from_name("", &s), ZC_INVALID, EINVAL);
    CHECK_FAILS(zc_strategy_from_name("AUTO", &s), ZC_INVALID, EINVAL);
    CHECK_FAILS(zc_strategy_from_name("\xff\xfe", &s), ZC_INVALID, EINVAL);
    CHECK_FAILS(zc_strategy_from_name(NULL, &s), ZC_NULL_POINTER, EINVAL);
    CHECK_MSG("name is NULL");
    CHECK_FAILS(zc_strategy_from_name("auto", NULL), ZC_NULL_POINTER, EINVAL);
    CHECK_MSG("out is NULL");
}

struct thread_err {
    int errno_seen;
    char message[256];
};

static void *fail_in_thread(void *arg) {
    struct thread_err *t = arg;
    zc_strategy s;
    t->errno_seen = -1;
    if (zc_strategy_from_name(NULL, &s) == ZC_NULL_POINTER) {
        t->errno_seen = zc_last_errno();
        snprintf(t->message, sizeof t->message, "%s", zc_last_error());
    }
    return NULL;
}

static void last_error_is_per_thread(void) {
    zc_strategy s;
    CHECK_STATUS(zc_strategy_from_name("nope", &s), ZC_INVALID);
    const char *mine = zc_last_error();
    struct thread_err t;
    memset(&t, 0, sizeof t);
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, fail_in_thread, &t) == 0, "pthread_create");
    pthread_join(th, NULL);
    CHECK(t.errno_seen == EINVAL && strstr(t.message, "name is NULL"), "thread saw %d %s",
          t.errno_seen, t.message);
    /* This thread's error is untouched by the other thread's. */
    CHECK(strstr(mine, "unknown strategy \"nope\"") != NULL, "now %s", mine);
    CHECK(zc_last_errno() == EINVAL, "errno %d", zc_last_errno());
}

/* ---- options --------------------------------------------------------------------------- */

static void options_default(void) {
    zc_options o;
    memset(&o, 0x5A, sizeof o);
    errno = 99;
    CHECK_STATUS(zc_options_default(&o, sizeof o), ZC_OK);
    CHECK(errno == 99, "errno changed to %d", errno);
    CHECK(o.struct_size == sizeof o, "struct_size %zu", o.struct_size);
    CHECK(o.strategy == ZC_STRATEGY_AUTO, "strategy %u", o.strategy);
    CHECK(!o.has_src_offset && !o.has_dst_offset && !o.has_len, "offsets or len set");
    CHECK(o.src_offset == 0 && o.dst_offset == 0 && o.len == 0, "nonzero");
    CHECK(o.chunk_size == 0, "chunk_size %llu", (unsigned long long)o.chunk_size);
    CHECK(o.fallback, "fallback off");
    CHECK(o.progress == NULL && o.user == NULL && o.cancel == NULL, "pointers set");
}

static void options_default_bad_input(void) {
    zc_options o;
    CHECK_FAILS(zc_options_default(NULL, sizeof o), ZC_NULL_POINTER, EINVAL);
    CHECK_FAILS(zc_options_default(&o, 0), ZC_INVALID, EINVAL);
    CHECK_MSG("struct_size is 0");
    CHECK_FAILS(zc_options_default(&o, offsetof(zc_options, cache) - 8), ZC_INVALID, EINVAL);
    CHECK_MSG("smaller than the smallest zc_options");
    CHECK_FAILS(zc_options_default(&o, (size_t)1 << 40), ZC_INVALID, EINVAL);
    CHECK_MSG("larger than any zc_options");
}

/* A program built against a newer header: a larger struct. The library fills what it knows,
 * zeroes the rest, and accepts it back while the unknown bytes stay zero. */
static void options_from_a_newer_header(void) {
    union {
        zc_options o;
        unsigned char bytes[sizeof(zc_options) + 64];
    } big;
    memset(&big, 0xEE, sizeof big);
    CHECK_STATUS(zc_options_default(&big.o, sizeof big), ZC_OK);
    CHECK(big.o.struct_size == sizeof big, "struct_size %zu", big.o.struct_size);
    for (size_t i = sizeof(zc_options); i < sizeof big; i++)
        CHECK(big.bytes[i] == 0, "byte %zu is %u", i, big.bytes[i]);

    const char *src = h_make_file("newer.src", 1, 1000);
    int s = open(src, O_RDONLY), d = open(h_path("newer.dst"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    REQUIRE(s >= 0 && d >= 0, "open");
    zc_report r = h_report();
    CHECK_STATUS(zc_transfer(s, d, &big.o, &r), ZC_OK);
    CHECK(r.bytes == 1000, "bytes %llu", (unsigned long long)r.bytes);

    big.bytes[sizeof(zc_options) + 10] = 1; /* an option this library does not know */
    CHECK_FAILS(zc_transfer(s, d, &big.o, &r), ZC_INVALID, EINVAL);
    CHECK_MSG("built against a newer zcopy.h");
    CHECK(r.bytes == 0, "report not written on an options error");
    close(s);
    close(d);
}

static void options_bad_struct_size(void) {
    const char *src = h_make_file("size.src", 2, 100);
    int s = open(src, O_RDONLY), d = open(h_path("size.dst"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    REQUIRE(s >= 0 && d >= 0, "open");
    zc_options o = h_opts();
    zc_report r = h_report();
    o.struct_size = 0;
    CHECK_FAILS(zc_transfer(s, d, &o, &r), ZC_INVALID, EINVAL);
    CHECK_MSG("zc_options.struct_size is 0");
    CHECK(r.bytes == 0 && r.syscalls == 0 && r.struct_size == sizeof r, "report %llu",
          (unsigned long long)r.bytes);
    o.struct_size = 16;
    CHECK_FAILS(zc_transfer(s, d, &o, &r), ZC_INVALID, EINVAL);
    o.struct_size = SIZE_MAX;
    CHECK_FAILS(zc_transfer(s, d, &o, &r), ZC_INVALID, EINVAL);
    /* Nothing moved, positions untouched. */
    CHECK(lseek(s, 0, SEEK_CUR) == 0 && lseek(d, 0, SEEK_END) == 0, "moved something");
    close(s);
    close(d);
}

static void options_bad_strategy(void) {
    const char *src = h_make_file("strat.src", 3, 100);
    int s = open(src, O_RDONLY), d = open(h_path("strat.dst"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    REQUIRE(s >= 0 && d >= 0, "open");
    zc_options o = h_opts();
    zc_report r = h_report();
    o.strategy = 1000;
    CHECK_FAILS(zc_transfer(s, d, &o, &r), ZC_INVALID, EINVAL);
    CHECK_MSG("zc_options.strategy is 1000, which is no zc_strategy");
    o.strategy = UINT32_MAX;
    CHECK_FAILS(zc_transfer(s, d, &o, &r), ZC_INVALID, EINVAL);
    /* Any byte in a bool field is read as C reads it: nonzero is true. */
    o = h_opts();
    memset(&o.fallback, 0x7F, 1);
    CHECK_STATUS(zc_transfer(s, d, &o, &r), ZC_OK);
    CHECK(r.bytes == 100, "bytes %llu", (unsigned long long)r.bytes);
    close(s);
    close(d);
}

/* ---- transfers ------------------------------------------------------------------------- */

static void transfer_file_to_file_every_strategy(void) {
    static const size_t sizes[] = {0, 1, 4095, 65536 + 7, 3 * MIB + 5};
    for (zc_strategy st = 0; zc_strategy_name(st) != NULL; st++) {
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            size_t size = sizes[k];
            const char *src = h_make_file("every.src", st * 10 + k, size);
            const char *dst = h_path("every.dst");
            int s = open(src, O_RDONLY), d = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            REQUIRE(s >= 0 && d >= 0, "open");
            zc_options o = h_opts();
            o.strategy = st;
            o.fallback = false;
            zc_report r = h_report();
            zc_status status = zc_transfer(s, d, &o, &r);
            bool must_work = st <= ZC_STRATEGY_COPY_FILE_RANGE;
            if (!must_work && status == ZC_UNSUPPORTED) {
                /* reflink on ext4/tmpfs, msg_zerocopy to a file: a clear refusal, before any
                 * byte. */
                CHECK(zc_last_errno() != 0, "no errno for the refusal");
                CHECK(r.bytes == 0, "bytes %llu", (unsigned long long)r.bytes);
            } else {
                CHECK(status == ZC_OK, "%s, %zu bytes: status %d: %s", zc_strategy_name(st),
                      size, status, zc_last_error());
                CHECK(r.bytes == size, "%s: bytes %llu of %zu", zc_strategy_name(st),
                      (unsigned long long)r.bytes, size);
                CHECK(h_file_is(dst, st * 10 + k, 0, size), "%s, %zu bytes: different bytes",
                      zc_strategy_name(st), size);
                if (st != ZC_STRATEGY_AUTO)
                    CHECK(r.strategy == st, "report says %u, asked %u", r.strategy, st);
                CHECK(r.fallbacks_len == 0 || st == ZC_STRATEGY_AUTO, "fallbacks without fallback");
                CHECK(lseek(s, 0, SEEK_CUR) == (off_t)size, "src position %lld",
                      (long long)lseek(s, 0, SEEK_CUR));
            }
            CHECK(r.struct_size == sizeof r, "struct_size changed");
            CHECK(r.mode_switches == 2 * r.syscalls, "mode switches %llu, syscalls %llu",
                  (unsigned long long)r.mode_switches, (unsigned long long)r.syscalls);
            CHECK(r.syscalls > 0, "no syscalls counted");
            close(s);
            close(d);
        }
    }
}

static void transfer_report_fields(void) {
    const char *src = h_make_file("rep.src", 5, 2 * MIB);
    int s = open(src, O_RDONLY), d = open(h_path("rep.dst"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    REQUIRE(s >= 0 && d >= 0, "open");
    zc_options o = h_opts();
    o.strategy = ZC_STRATEGY_READ_WRITE;
    o.chunk_size = 64 * 1024;
    zc_report r = h_report();
    CHECK_STATUS(zc_transfer(s, d, &o, &r), ZC_OK);
    CHECK(r.bytes == 2 * MIB, "bytes");
    CHECK(r.strategy == ZC_STRATEGY_READ_WRITE, "strategy %u", r.strategy);
    CHECK(r.fallbacks_len == 0, "fallbacks %zu", r.fallbacks_len);
    /* 32 reads + 32 writes of 64 KiB, one read at EOF, plus bookkeeping. */
    CHECK(r.syscalls >= 65 && r.syscalls < 100, "syscalls %llu", (unsigned long long)r.syscalls);
    CHECK(r.elapsed_ns > 0, "elapsed 0");
    CHECK(r.cpu_copies_bytes == 2 * 2 * MIB, "cpu copies %llu", (unsigned long long)r.cpu_copies_bytes);
    CHECK(r.dma_copies_bytes == 2 * 2 * MIB, "dma copies %llu", (unsigned long long)r.dma_copies_bytes);
    CHECK(r.user_cpu_ns < 10ull * 1000 * 1000 * 1000 && r.sys_cpu_ns < 10ull * 1000 * 1000 * 1000,
          "cpu times");
    CHECK(r.voluntary_ctx_switches < 100000 && r.involuntary_ctx_switches < 100000, "ctx");
    close(s);
    close(d);
}

static void transfer_fallbacks_are_reported(void) {
    /* reflink named with fallback on: on ext4/tmpfs it refuses and the next technique runs. */
    const char *src = h_make_file("fb.src", 6, 50000);
    int s = open(src, O_RDONLY), d = open(h_path("fb.dst"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    REQUIRE(s >= 0 && d >= 0, "open");
    zc_options o = h_opts();
    o.strategy = ZC_STRATEGY_REFLINK;
    zc_report r = h_report();
    errno = 31337;
    CHECK_STATUS(zc_transfer(s, d, &o, &r), ZC_OK);
    /* The engine's internal EOPNOTSUPP must not leak into errno on success (cgo reads it). */
    CHECK(errno == 31337, "errno %d after a successful call with a fallback", errno);
    CHECK(h_file_is(h_path("fb.dst"), 6, 0, 50000), "bytes differ");
    if (r.strategy != ZC_STRATEGY_REFLINK) {
        CHECK(r.fallbacks_len >= 1, "no fallback recorded");
        CHECK(r.fallbacks[0].strategy == ZC_STRATEGY_REFLINK, "first fallback %u",
              r.fallbacks[0].strategy);
        CHECK(strlen(r.fallbacks[0].reason) > 0 && strlen(r.fallbacks[0].reason) < ZC_REASON_SIZE,
              "reason");
        CHECK(strstr(r.fallbacks[0].reason, "reflink") != NULL, "reason %s",
              r.fallbacks[0].reason);
    } else {
        printf("  (reflink worked here: this filesystem shares extents)\n");
    }
    close(s);
    close(d);
}

static void transfer_offsets_and_len(void) {
    const char *src = h_make_file("off.src", 7, 100000);
    const char *dst = h_path("off.dst");
    int s = open(src, O_RDONLY), d = open(dst, O_RDWR | O_CREAT | O_TRUNC, 0644);
    REQUIRE(s >= 0 && d >= 0, "open");
    REQUIRE(lseek(s, 123, SEEK_SET) == 123 && lseek(d, 45, SEEK_SET) == 45, "lseek");
    zc_options o = h_opts();
    o.has_src_offset = true;
    o.src_offset = 1000;
    o.has_dst_offset = true;
    o.dst_offset = 0;
    o.has_len = true;
    o.len = 5000;
    zc_report r = h_report();
    CHECK_STATUS(zc_transfer(s, d, &o, &r), ZC_OK);
    CHECK(r.bytes == 5000, "bytes %llu", (unsigned long long)r.bytes);
    CHECK(h_file_is(dst, 7, 1000, 5000), "bytes differ");
    CHECK(lseek(s, 0, SEEK_CUR) == 123 && lseek(d, 0, SEEK_CUR) == 45, "positions moved");

    /* Without offsets: from the positions, which advance. */
    o = h_opts();
    o.has_len = true;
    o.len = 10;
    REQUIRE(ftruncate(d, 0) == 0 && lseek(d, 0, SEEK_SET) == 0, "truncate");
    CHECK_STATUS(zc_transfer(s, d, &o, &r), ZC_OK);
    CHECK(lseek(s, 0, SEEK_CUR) == 133 && lseek(d, 0, SEEK_CUR) == 10, "positions");
    CHECK(h_file_is(dst, 7, 123, 10), "bytes differ");

    /* len 0 moves nothing and succeeds; a len past EOF moves what there is. */
    o.len = 0;
    CHECK_STATUS(zc_transfer(s, d, &o, &r), ZC_OK);
    CHECK(r.bytes == 0, "len 0 moved %llu", (unsigned long long)r.bytes);
    o.len = 1u << 30;
    CHECK_STATUS(zc_transfer(s, d, &o, &r), ZC_OK);
    CHECK(r.bytes == 100000 - 133, "bytes %llu", (unsigned long long)r.bytes);
    close(s);
    close(d);
}

/* What a buffered reader read ahead goes out first, then the rest of the fd. */
static void transfer_buffered_sends_read_ahead_first(void) {
    const char *src = h_make_file("buf.src", 21, 100000);
    const char *dst = h_path("buf.dst");
    int s = open(src, O_RDONLY), d = open(dst, O_RDWR | O_CREAT | O_TRUNC, 0644);
    REQUIRE(s >= 0 && d >= 0, "open");
    /* A reader took 1000 bytes into its buffer and handed out the first 100. */
    unsigned char buf[1000];
    REQUIRE(read(s, buf, sizeof buf) == (ssize_t)sizeof buf, "read");
    zc_report r = h_report();
    CHECK_STATUS(zc_transfer_buffered(s, buf + 100, 900, d, NULL, &r), ZC_OK);
    CHECK(r.bytes == 100000 - 100, "bytes %llu", (unsigned long long)r.bytes);
    CHECK(h_file_is(dst, 21, 100, 100000 - 100), "bytes differ");
    CHECK(lseek(s, 0, SEEK_CUR) == 100000, "src position %lld", (long long)lseek(s, 0, SEEK_CUR));

    /* A len inside the read-ahead takes only from it: the fd's position does not move. */
    REQUIRE(lseek(s, 1000, SEEK_SET) == 1000 && ftruncate(d, 0) == 0 && lseek(d, 0, SEEK_SET) == 0,
            "rewind");
    zc_options o = h_opts();
    o.has_len = true;
    o.len = 500;
    CHECK_STATUS(zc_transfer_buffered(s, buf + 100, 900, d, &o, &r), ZC_OK);
    CHECK(r.bytes == 500, "bytes %llu", (unsigned long long)r.bytes);
    CHECK(h_file_is(dst, 21, 100, 500), "bytes differ");
    CHECK(lseek(s, 0, SEEK_CUR) == 1000, "src moved to %lld", (long long)lseek(s, 0, SEEK_CUR));

    /* No read-ahead: a plain transfer from the position. */
    REQUIRE(ftruncate(d, 0) == 0 && lseek(d, 0, SEEK_SET) == 0, "truncate");
    CHECK_STATUS(zc_transfer_buffered(s, NULL, 0, d, NULL, &r), ZC_OK);
    CHECK(r.bytes == 100000 - 1000, "bytes %llu", (unsigned long long)r.bytes);
    CHECK(h_file_is(dst, 21, 1000, 100000 - 1000), "bytes differ");

    /* Bad input: NULL bytes with a length, a src_offset with bytes read ahead, a bad fd. */
    CHECK_FAILS(zc_transfer_buffered(s, NULL, 10, d, NULL, &r), ZC_NULL_POINTER, EINVAL);
    CHECK_MSG("read_ahead");
    o = h_opts();
    o.has_src_offset = true;
    o.src_offset = 0;
    CHECK_FAILS(zc_transfer_buffered(s, buf, 10, d, &o, &r), ZC_INVALID, EINVAL);
    CHECK_MSG("src_offset");
    CHECK_FAILS(zc_transfer_buffered(-1, buf, 10, d, NULL, &r), ZC_IO, EBADF);
    close(s);
    close(d);
}

static void transfer_null_opts_and_report(void) {
    const char *src = h_make_file("null.src", 8, 3000);
    const char *dst = h_path("null.dst");
    int s = open(src, O_RDONLY), d = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    REQUIRE(s >= 0 && d >= 0, "open");
    CHECK_STATUS(zc_transfer(s, d, NULL, NULL), ZC_OK);
    CHECK(h_file_is(dst, 8, 0, 3000), "bytes differ");
    close(s);
    close(d);
}

static void transfer_report_bad_struct_size(void) {
    const char *src = h_make_file("rs.src", 9, 3000);
    int s = open(src, O_RDONLY), d = open(h_path("rs.dst"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    REQUIRE(s >= 0 && d >= 0, "open");
    zc_report r;
    memset(&r, 0, sizeof r);
    CHECK_FAILS(zc_transfer(s, d, NULL, &r), ZC_INVALID, EINVAL);
    CHECK_MSG("zc_report.struct_size is 0");
    r.struct_size = 8;
    CHECK_FAILS(zc_transfer(s, d, NULL, &r), ZC_INVALID, EINVAL);
    CHECK(r.struct_size == 8 && r.bytes == 0, "report written past its struct_size");
    CHECK(lseek(s, 0, SEEK_CUR) == 0, "moved bytes despite the bad report");

    /* A newer, larger report: the bytes past ours are zeroed. */
    union {
        zc_report r;
        unsigned char bytes[sizeof(zc_report) + 32];
    } big;
    memset(&big, 0xCC, sizeof big);
    big.r.struct_size = sizeof big;
    CHECK_STATUS(zc_transfer(s, d, NULL, &big.r), ZC_OK);
    CHECK(big.r.bytes == 3000, "bytes %llu", (unsigned long long)big.r.bytes);
    for (size_t i = sizeof(zc_report); i < sizeof big; i++)
        CHECK(big.bytes[i] == 0, "byte %zu is %u", i, big.bytes[i]);
    close(s);
    close(d);
}

struct progress_log {
    int calls;
    uint64_t last;
    uint64_t stop_after; /* 0: never stop */
    bool monotonic;
};

static bool on_progress(uint64_t moved, void *user) {
    struct progress_log *p = user;
    if (moved < p->last) p->monotonic = false;
    p->last = moved;
    p->calls++;
    return !(p->stop_after && moved >= p->stop_after);
}

static void transfer_progress_and_stop(void) {
    const char *src = h_make_file("prog.src", 10, 4 * MIB);
    const char *dst = h_path("prog.dst");
    int s = open(src, O_RDONLY), d = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    REQUIRE(s >= 0 && d >= 0, "open");
    struct progress_log log = {0, 0, 0, true};
    zc_options o = h_opts();
    o.strategy = ZC_STRATEGY_READ_WRITE;
    o.chunk_size = 256 * 1024;
    o.progress = on_progress;
    o.user = &log;
    zc_report r = h_report();
    CHECK_STATUS(zc_transfer(s, d, &o, &r), ZC_OK);
    CHECK(log.calls >= 16, "%d calls", log.calls);
    CHECK(log.last == 4 * MIB && log.monotonic, "last %llu", (unsigned long long)log.last);

    /* Stop after 1 MiB: ZC_CANCELLED, errno ECANCELED, exactly the bytes reported. */
    REQUIRE(ftruncate(d, 0) == 0 && lseek(d, 0, SEEK_SET) == 0 && lseek(s, 0, SEEK_SET) == 0,
            "reset");
    struct progress_log stop = {0, 0, MIB, true};
    o.user = &stop;
    CHECK_FAILS(zc_transfer(s, d, &o, &r), ZC_CANCELLED, ECANCELED);
    CHECK_MSG("stopped by the progress callback");
    CHECK(r.bytes >= MIB && r.bytes < 4 * MIB, "bytes %llu", (unsigned long long)r.bytes);
    struct stat st;
    CHECK(fstat(d, &st) == 0 && (uint64_t)st.st_size == r.bytes, "dst holds %lld, report %llu",
          (long long)st.st_size, (unsigned long long)r.bytes);
    CHECK(h_file_is(dst, 10, 0, r.bytes), "bytes differ");
    CHECK(lseek(s, 0, SEEK_CUR) == (off_t)r.bytes, "src position");
    close(s);
    close(d);
}

/* A prepared transfer: classified once, run many times, each run byte-exact with its own report;
 * bad input refused at preparation and per run; progress kept across runs; freed cleanly. */
static void prepared_transfer_runs(void) {
    const char *src = h_make_file("prep.src", 21, 4096 * 3);
    int s = open(src, O_RDONLY);
    int tcp[2];
    h_tcp_pair(tcp);
    REQUIRE(s >= 0, "open");
    struct h_reader rd;
    h_reader_start(&rd, tcp[1], 0);
    struct progress_log log = {0, 0, 0, true};
    zc_options o = h_opts();
    o.progress = on_progress;
    o.user = &log;
    zc_prepared *p = (zc_prepared *)1;
    CHECK_STATUS(zc_prepared_new(s, tcp[0], &o, &p), ZC_OK);
    REQUIRE(p != NULL && p != (zc_prepared *)1, "no handle");
    uint64_t len = 4096, total = 0;
    for (uint64_t i = 0; i < 3; i++) {
        uint64_t off = i * 4096;
        zc_report r = h_report();
        CHECK_STATUS(zc_prepared_run(p, &len, &off, NULL, &r), ZC_OK);
        CHECK(r.bytes == 4096, "run %llu: bytes %llu", (unsigned long long)i,
              (unsigned long long)r.bytes);
        CHECK(r.strategy == ZC_STRATEGY_SENDFILE, "strategy %d", (int)r.strategy);
        total += r.bytes;
    }
    /* To end of file from offset 4096: the last two blocks again. */
    uint64_t from = 4096;
    zc_report r = h_report();
    CHECK_STATUS(zc_prepared_run(p, NULL, &from, NULL, &r), ZC_OK);
    CHECK(r.bytes == 8192, "bytes %llu", (unsigned long long)r.bytes);
    total += r.bytes;
    CHECK(log.calls >= 4, "progress calls %d", log.calls);
    /* A dst_offset on a socket: refused per run, the prepared transfer still usable. */
    uint64_t doff = 1;
    CHECK_FAILS(zc_prepared_run(p, &len, &from, &doff, &r), ZC_INVALID, ESPIPE);
    CHECK_MSG("dst_offset");
    CHECK_FAILS(zc_prepared_run(NULL, &len, NULL, NULL, &r), ZC_NULL_POINTER, EINVAL);
    zc_prepared_free(p);
    zc_prepared_free(NULL);
    close(tcp[0]);
    h_reader_join(&rd);
    CHECK(rd.len == total, "reader got %zu of %llu", rd.len, (unsigned long long)total);
    if (rd.len == total) {
        CHECK(h_same(rd.buf, 12288, 21, 0, 12288), "runs 1-3 differ");
        CHECK(h_same(rd.buf + 12288, 8192, 21, 4096, 8192), "run 4 differs");
    }
    free(rd.buf);
    close(tcp[1]);

    /* Refused at preparation: a read-only destination (out left NULL), a NULL out. */
    int ro = open(src, O_RDONLY);
    p = (zc_prepared *)1;
    CHECK_FAILS(zc_prepared_new(s, ro, NULL, &p), ZC_INVALID, EBADF);
    CHECK_MSG("read-only");
    CHECK(p == NULL, "out not cleared");
    CHECK_FAILS(zc_prepared_new(s, ro, NULL, NULL), ZC_NULL_POINTER, EINVAL);
    CHECK_FAILS(zc_prepared_new(-1, ro, NULL, &p), ZC_IO, EBADF);
    close(ro);
    close(s);
}

/* The caller closes its fds after preparing and another file takes the source's number: the
 * runs still move the prepared file's bytes to the prepared destination (zcopy holds
 * duplicates), with a length (no fstat) and to end of file (one). Until 2026-12 such a run
 * was refused with ZC_INVALID ("no longer refers to the file"). */
static void prepared_runs_survive_the_callers_close(void) {
    const char *a = h_make_file("reuse.a", 41, 8192);
    const char *b = h_make_file("reuse.b", 42, 8192);
    const char *out = h_path("reuse.dst");
    int s = open(a, O_RDONLY);
    int d = open(out, O_RDWR | O_CREAT | O_TRUNC, 0644);
    REQUIRE(s >= 0 && d >= 0, "open");
    zc_prepared *p = NULL;
    CHECK_STATUS(zc_prepared_new(s, d, NULL, &p), ZC_OK);
    REQUIRE(p != NULL, "no handle");
    close(s);
    close(d);
    int other = open(b, O_RDONLY);
    REQUIRE(other == s, "the number %d was not reused (got %d)", s, other);
    uint64_t len = 4096, zero = 0, from = 4096;
    zc_report r = h_report();
    CHECK_STATUS(zc_prepared_run(p, &len, &zero, &zero, &r), ZC_OK);
    CHECK(r.bytes == 4096, "bytes %llu", (unsigned long long)r.bytes);
    r = h_report();
    CHECK_STATUS(zc_prepared_run(p, NULL, &from, &from, &r), ZC_OK);
    CHECK(r.bytes == 4096, "to end of file: bytes %llu", (unsigned long long)r.bytes);
    CHECK(h_file_is(out, 41, 0, 8192), "dst is not the prepared file's bytes");
    CHECK(h_file_is(b, 42, 0, 8192), "the file on the reused number changed");
    zc_prepared_free(p);
    /* Messages name the ends by the caller's numbers, not the duplicates'. */
    char want[64];
    snprintf(want, sizeof want, "dst fd %d is opened read-only", other);
    int s2 = open(a, O_RDONLY);
    REQUIRE(s2 >= 0, "open");
    p = (zc_prepared *)1;
    CHECK_FAILS(zc_prepared_new(s2, other, NULL, &p), ZC_INVALID, EBADF);
    CHECK_MSG(want);
    CHECK(p == NULL, "out not cleared");
    close(s2);
    close(other);
    /* A closed fd at preparation: the engine's message, the caller's number. */
    CHECK_FAILS(zc_prepared_new(other, 1000, NULL, &p), ZC_IO, EBADF);
    snprintf(want, sizeof want, "src fd %d is not an open file descriptor", other);
    CHECK_MSG(want);
    CHECK(p == NULL, "out not cleared");
}

/* A transfer prepared to a socket alone: each run names its file; the CPU meter off. */
static void prepared_to_dst_runs_from_each_file(void) {
    const char *a = h_make_file("todst.a", 31, 5000);
    const char *b = h_make_file("todst.b", 32, 70000);
    int fa = open(a, O_RDONLY), fb = open(b, O_RDONLY);
    REQUIRE(fa >= 0 && fb >= 0, "open");
    int tcp[2];
    h_tcp_pair(tcp);
    struct h_reader rd;
    h_reader_start(&rd, tcp[1], 0);
    zc_prepared *p = NULL;
    CHECK_STATUS(zc_prepared_to_dst(tcp[0], NULL, &p), ZC_OK);
    REQUIRE(p != NULL, "no handle");
    zc_report r = h_report();
    /* A run without a source cannot make sense. */
    CHECK_FAILS(zc_prepared_run(p, NULL, NULL, NULL, &r), ZC_INVALID, EINVAL);
    CHECK_MSG("run_from");
    uint64_t zero = 0;
    CHECK_STATUS(zc_prepared_run_from(p, fa, NULL, &zero, NULL, &r), ZC_OK);
    CHECK(r.bytes == 5000, "bytes %llu", (unsigned long long)r.bytes);
    CHECK(r.user_cpu_ns + r.sys_cpu_ns > 0, "meter on: CPU not measured");
    CHECK_STATUS(zc_prepared_set_cpu_meter(p, false), ZC_OK);
    r = h_report();
    CHECK_STATUS(zc_prepared_run_from(p, fb, NULL, &zero, NULL, &r), ZC_OK);
    CHECK(r.bytes == 70000, "bytes %llu", (unsigned long long)r.bytes);
    CHECK(r.user_cpu_ns + r.sys_cpu_ns == 0 && r.voluntary_ctx_switches == 0,
          "meter off: CPU %llu", (unsigned long long)(r.user_cpu_ns + r.sys_cpu_ns));
    CHECK(r.syscalls >= 1, "syscalls %llu", (unsigned long long)r.syscalls);
    /* Bad input: a NULL handle, a bad source fd, a write-only source. */
    CHECK_FAILS(zc_prepared_run_from(NULL, fa, NULL, NULL, NULL, &r), ZC_NULL_POINTER, EINVAL);
    CHECK_FAILS(zc_prepared_run_from(p, -1, NULL, NULL, NULL, &r), ZC_IO, EBADF);
    CHECK_FAILS(zc_prepared_set_cpu_meter(NULL, true), ZC_NULL_POINTER, EINVAL);
    int wo = open(h_path("todst.wo"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK_FAILS(zc_prepared_run_from(p, wo, NULL, NULL, NULL, &r), ZC_INVALID, EBADF);
    close(wo);
    zc_prepared_free(p);
    close(tcp[0]);
    h_reader_join(&rd);
    CHECK(rd.len == 75000, "reader got %zu", rd.len);
    if (rd.len == 75000) {
        CHECK(h_same(rd.buf, 5000, 31, 0, 5000), "first file differs");
        CHECK(h_same(rd.buf + 5000, 70000, 32, 0, 70000), "second file differs");
    }
    free(rd.buf);
    close(tcp[1]);
    /* A NULL out, a bad destination. */
    CHECK_FAILS(zc_prepared_to_dst(tcp[0], NULL, NULL), ZC_NULL_POINTER, EINVAL);
    p = (zc_prepared *)1;
    CHECK_FAILS(zc_prepared_to_dst(-1, NULL, &p), ZC_IO, EBADF);
    CHECK(p == NULL, "out not cleared");
    close(fa);
    close(fb);
}

static void transfer_cancel_flag(void) {
    const char *src = h_make_file("cancel.src", 11, MIB);
    int s = open(src, O_RDONLY), d = open(h_path("cancel.dst"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    REQUIRE(s >= 0 && d >= 0, "open");
    atomic_bool flag;
    atomic_init(&flag, true);
    zc_options o = h_opts();
    o.cancel = (const bool *)&flag;
    zc_report r = h_report();
    CHECK_FAILS(zc_transfer(s, d, &o, &r), ZC_CANCELLED, ECANCELED);
    CHECK_MSG("cancel flag");
    CHECK(r.bytes == 0, "bytes %llu", (unsigned long long)r.bytes);
    atomic_store(&flag, false);
    CHECK_STATUS(zc_transfer(s, d, &o, &r), ZC_OK);
    CHECK(r.bytes == MIB, "bytes %llu", (unsigned long long)r.bytes);
    close(s);
    close(d);
}

static void transfer_file_to_pipe_and_back(void) {
    static const zc_strategy strategies[] = {ZC_STRATEGY_AUTO, ZC_STRATEGY_READ_WRITE,
                                             ZC_STRATEGY_SENDFILE, ZC_STRATEGY_SPLICE,
                                             ZC_STRATEGY_MMAP_WRITE};
    for (size_t i = 0; i < sizeof strategies / sizeof strategies[0]; i++) {
        size_t size = 2 * MIB + 11;
        const char *src = h_make_file("pipe.src", 20 + i, size);
        int s = open(src, O_RDONLY), p[2];
        REQUIRE(s >= 0 && pipe2(p, O_CLOEXEC) == 0, "open");
        struct h_reader rd;
        h_reader_start(&rd, p[0], 0);
        zc_options o = h_opts();
        o.strategy = strategies[i];
        o.fallback = false;
        zc_report r = h_report();
        CHECK_STATUS(zc_transfer(s, p[1], &o, &r), ZC_OK);
        close(p[1]);
        h_reader_join(&rd);
        CHECK(r.bytes == size, "%s: bytes %llu", zc_strategy_name(strategies[i]),
              (unsigned long long)r.bytes);
        CHECK(h_same(rd.buf, rd.len, 20 + i, 0, size), "%s: file->pipe bytes differ",
              zc_strategy_name(strategies[i]));
        free(rd.buf);
        close(p[0]);
        close(s);
    }
    /* pipe -> file, with splice and read_write. */
    static const zc_strategy from_pipe[] = {ZC_STRATEGY_AUTO, ZC_STRATEGY_SPLICE,
                                            ZC_STRATEGY_READ_WRITE};
    for (size_t i = 0; i < sizeof from_pipe / sizeof from_pipe[0]; i++) {
        int p[2];
        REQUIRE(pipe2(p, O_CLOEXEC) == 0, "pipe");
        const char *dst = h_path("frompipe.dst");
        int d = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        struct h_writer w;
        h_writer_start(&w, p[1], 30 + i, MIB + 3);
        zc_options o = h_opts();
        o.strategy = from_pipe[i];
        o.fallback = false;
        zc_report r = h_report();
        CHECK_STATUS(zc_transfer(p[0], d, &o, &r), ZC_OK);
        h_writer_join(&w);
        CHECK(r.bytes == MIB + 3, "bytes %llu", (unsigned long long)r.bytes);
        CHECK(h_file_is(dst, 30 + i, 0, MIB + 3), "%s: pipe->file bytes differ",
              zc_strategy_name(from_pipe[i]));
        close(p[0]);
        close(d);
    }
}

static void transfer_sockets(void) {
    for (int kind = 0; kind < 2; kind++) {
        static const zc_strategy strategies[] = {ZC_STRATEGY_AUTO, ZC_STRATEGY_SENDFILE,
                                                 ZC_STRATEGY_SPLICE, ZC_STRATEGY_READ_WRITE};
        for (size_t i = 0; i < sizeof strategies / sizeof strategies[0]; i++) {
            int sv[2];
            if (kind == 0)
                REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
            else
                h_tcp_pair(sv);
            size_t size = MIB + 99;
            const char *src = h_make_file("sock.src", 40 + i + 10 * kind, size);
            int s = open(src, O_RDONLY);
            struct h_reader rd;
            h_reader_start(&rd, sv[1], 0);
            zc_options o = h_opts();
            o.strategy = strategies[i];
            o.fallback = false;
            zc_report r = h_report();
            CHECK_STATUS(zc_transfer(s, sv[0], &o, &r), ZC_OK);
            shutdown(sv[0], SHUT_WR);
            h_reader_join(&rd);
            CHECK(h_same(rd.buf, rd.len, 40 + i + 10 * kind, 0, size), "%s %s: bytes differ",
                  kind ? "tcp" : "unix", zc_strategy_name(strategies[i]));
            free(rd.buf);
            close(s);

            /* and back: socket -> file */
            const char *dst = h_path("sock.dst");
            int d = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            struct h_writer w;
            h_writer_start(&w, sv[1], 50 + i, size);
            zc_options back = h_opts();
            back.strategy = strategies[i] == ZC_STRATEGY_SENDFILE ? ZC_STRATEGY_AUTO : strategies[i];
            CHECK_STATUS(zc_transfer(sv[0], d, &back, &r), ZC_OK);
            h_writer_join(&w);
            CHECK(h_file_is(dst, 50 + i, 0, size), "%s socket->file bytes differ",
                  kind ? "tcp" : "unix");
            close(d);
            close(sv[0]);
        }
    }
}

static void transfer_dev_zero_and_null(void) {
    int z = open("/dev/zero", O_RDONLY), n = open("/dev/null", O_WRONLY);
    REQUIRE(z >= 0 && n >= 0, "open");
    zc_options o = h_opts();
    zc_report r = h_report();
    CHECK_FAILS(zc_transfer(z, n, &o, &r), ZC_INVALID, EINVAL);
    CHECK_MSG("never ends");
    o.has_len = true;
    o.len = 3 * MIB;
    CHECK_STATUS(zc_transfer(z, n, &o, &r), ZC_OK);
    CHECK(r.bytes == 3 * MIB, "bytes %llu", (unsigned long long)r.bytes);
    close(z);
    close(n);
}

/* A full non-blocking pipe: EAGAIN with exactly the bytes that went in. */
static void transfer_nonblocking_would_block(void) {
    const char *src = h_make_file("nb.src", 60, 4 * MIB);
    int s = open(src, O_RDONLY), p[2];
    REQUIRE(s >= 0 && pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0, "pipe");
    zc_options o = h_opts();
    zc_report r = h_report();
    CHECK_FAILS(zc_transfer(s, p[1], &o, &r), ZC_IO, EAGAIN);
    CHECK(r.bytes > 0 && r.bytes < 4 * MIB, "bytes %llu", (unsigned long long)r.bytes);
    CHECK(lseek(s, 0, SEEK_CUR) == (off_t)r.bytes, "src position %lld vs %llu",
          (long long)lseek(s, 0, SEEK_CUR), (unsigned long long)r.bytes);
    close(p[1]);
    size_t n;
    unsigned char *got = h_read_fd(p[0], &n);
    CHECK(h_same(got, n, 60, 0, r.bytes), "pipe holds other bytes than reported");
    CHECK((fcntl(p[0], F_GETFL) & O_NONBLOCK) != 0, "flags changed");
    free(got);
    close(p[0]);
    close(s);
}

/* ---- bad fds --------------------------------------------------------------------------- */

static void transfer_bad_fds(void) {
    const char *src = h_make_file("bad.src", 70, 100);
    int s = open(src, O_RDONLY), d = open(h_path("bad.dst"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    REQUIRE(s >= 0 && d >= 0, "open");
    zc_report r = h_report();
    CHECK_FAILS(zc_transfer(-1, d, NULL, &r), ZC_IO, EBADF);
    CHECK_MSG("src fd -1 is not an open file descriptor");
    CHECK(r.bytes == 0, "bytes");
    CHECK_FAILS(zc_transfer(s, -7, NULL, &r), ZC_IO, EBADF);
    CHECK_MSG("dst fd -7");
    CHECK_FAILS(zc_transfer(1000, d, NULL, &r), ZC_IO, EBADF);
    CHECK_MSG("src fd 1000 is not an open file descriptor");
    CHECK_FAILS(zc_transfer(INT32_MIN, INT32_MAX, NULL, &r), ZC_IO, EBADF);

    /* Wrong access modes. */
    CHECK_FAILS(zc_transfer(d, s, NULL, &r), ZC_INVALID, EBADF);
    CHECK_MSG("opened write-only");

    /* O_PATH fds can be neither read nor written. */
    int op = open(src, O_PATH);
    REQUIRE(op >= 0, "O_PATH");
    CHECK_FAILS(zc_transfer(op, d, NULL, &r), ZC_INVALID, EINVAL);
    CHECK_MSG("O_PATH");
    CHECK_FAILS(zc_transfer(s, op, NULL, &r), ZC_INVALID, EINVAL);

    /* Directories. */
    int dir = open(h_dir, O_RDONLY | O_DIRECTORY);
    REQUIRE(dir >= 0, "dir");
    /* An OS error, as read(2) says of a directory (Python: IsADirectoryError). */
    CHECK_FAILS(zc_transfer(dir, d, NULL, &r), ZC_IO, EISDIR);
    CHECK_MSG("is a directory");

    /* An offset on a pipe. */
    int p[2];
    REQUIRE(pipe2(p, O_CLOEXEC) == 0, "pipe");
    zc_options o = h_opts();
    o.has_dst_offset = true;
    CHECK_FAILS(zc_transfer(s, p[1], &o, &r), ZC_INVALID, ESPIPE);
    CHECK_MSG("has no offsets");

    /* The same file, overlapping ranges. */
    int rw = open(src, O_RDWR);
    o = h_opts();
    o.has_src_offset = o.has_dst_offset = true;
    o.dst_offset = 10;
    CHECK_FAILS(zc_transfer(rw, rw, &o, &r), ZC_INVALID, EINVAL);
    CHECK_MSG("overlap");

    /* A technique that cannot serve the pair, with fallback off. */
    o = h_opts();
    o.strategy = ZC_STRATEGY_COPY_FILE_RANGE;
    o.fallback = false;
    CHECK_FAILS(zc_transfer(s, p[1], &o, &r), ZC_UNSUPPORTED, zc_last_errno());
    CHECK(zc_last_errno() != 0, "no errno for unsupported");
    CHECK(r.bytes == 0, "bytes");

    close(rw);
    close(p[0]);
    close(p[1]);
    close(dir);
    close(op);
    close(s);
    close(d);
}

/* ---- zc_copy_file ---------------------------------------------------------------------- */

static void copy_file(void) {
    const char *src = h_make_file("cf.src", 80, 3 * MIB + 1);
    REQUIRE(chmod(src, 0640) == 0, "chmod");
    const char *dst = h_path("cf.dst");
    h_make_file("cf.dst", 81, 10 * MIB); /* truncated by the copy */
    zc_report r = h_report();
    errno = 555;
    CHECK_STATUS(zc_copy_file(src, dst, NULL, &r), ZC_OK);
    CHECK(errno == 555, "errno %d", errno);
    CHECK(r.bytes == 3 * MIB + 1, "bytes %llu", (unsigned long long)r.bytes);
    CHECK(h_file_is(dst, 80, 0, 3 * MIB + 1), "bytes differ");
    struct stat st;
    /* An existing destination keeps its mode (cp's rule); h_make_file made it 0644. */
    CHECK(stat(dst, &st) == 0 && (st.st_mode & 07777) == 0644, "mode %o", st.st_mode & 07777);

    zc_options o = h_opts();
    o.strategy = ZC_STRATEGY_SPLICE;
    o.fallback = false;
    o.has_src_offset = true;
    o.src_offset = 100;
    o.has_len = true;
    o.len = 1000;
    CHECK_STATUS(zc_copy_file(src, dst, &o, &r), ZC_OK);
    CHECK(r.strategy == ZC_STRATEGY_SPLICE, "strategy %u", r.strategy);
    CHECK(h_file_is(dst, 80, 100, 1000), "bytes differ");
}

/* Under umask 077, as cp: a new file gets the source's mode minus the umask and without
 * setuid/setgid/sticky; an existing destination keeps its mode. (The tests run one at a time on
 * the main thread, so changing the umask here and back is safe.) */
static void copy_file_permissions_follow_cp(void) {
    const char *src = h_make_file("cfp.src", 83, MIB + 7);
    const char *dst = h_path("cfp.dst");
    zc_report r = h_report();
    struct stat st;
    mode_t old = umask(077);
    static const mode_t modes[][2] = {{0666, 0600}, {04755, 0700}, {02775, 0700}};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        REQUIRE(chmod(src, modes[i][0]) == 0, "chmod");
        unlink(dst);
        CHECK_STATUS(zc_copy_file(src, dst, NULL, &r), ZC_OK);
        CHECK(h_file_is(dst, 83, 0, MIB + 7), "bytes differ");
        CHECK(stat(dst, &st) == 0 && (st.st_mode & 07777) == modes[i][1],
              "new file from a %o source: mode %o, want %o", (unsigned)modes[i][0],
              (unsigned)(st.st_mode & 07777), (unsigned)modes[i][1]);
    }
    REQUIRE(chmod(src, 0666) == 0, "chmod");
    REQUIRE(chmod(dst, 0600) == 0, "chmod");
    CHECK_STATUS(zc_copy_file(src, dst, NULL, &r), ZC_OK);
    CHECK(stat(dst, &st) == 0 && (st.st_mode & 07777) == 0600, "existing: mode %o",
          (unsigned)(st.st_mode & 07777));
    umask(old);
}

/* Issue 14, case 4: a strict technique never succeeds short. procfs and sysfs files report
   size 0 or one page whatever they hold: mmap_write, reflink, copy_file_range and sendfile
   refuse them (ZC_UNSUPPORTED) before writing a byte; Auto copies exactly what read(2) gives. */
static void transfer_sizeless_sources(void) {
    const char *files[] = {"/proc/cpuinfo", "/sys/devices/system/cpu/online"};
    const char *fs[] = {"is on procfs", "is on sysfs"};
    const zc_strategy strict[] = {ZC_STRATEGY_MMAP_WRITE, ZC_STRATEGY_REFLINK,
                                  ZC_STRATEGY_COPY_FILE_RANGE, ZC_STRATEGY_SENDFILE};
    for (size_t i = 0; i < 2; i++) {
        size_t want_n;
        unsigned char *want = h_read_file(files[i], &want_n);
        if (!want) {
            printf("  skip %s: cannot read it\n", files[i]);
            continue;
        }
        for (size_t k = 0; k < sizeof strict / sizeof strict[0]; k++) {
            int s = open(files[i], O_RDONLY | O_CLOEXEC);
            const char *out = h_path("sizeless.out");
            int d = open(out, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
            REQUIRE(s >= 0 && d >= 0, "open");
            zc_options o = h_opts();
            o.strategy = strict[k];
            o.fallback = false;
            zc_report r = h_report();
            CHECK_FAILS(zc_transfer(s, d, &o, &r), ZC_UNSUPPORTED, EOPNOTSUPP);
            CHECK_MSG(fs[i]);
            CHECK(r.bytes == 0, "%s by %s: %llu bytes", files[i], zc_strategy_name(strict[k]),
                  (unsigned long long)r.bytes);
            struct stat st;
            CHECK(fstat(d, &st) == 0 && st.st_size == 0, "%s by %s wrote %lld bytes", files[i],
                  zc_strategy_name(strict[k]), (long long)st.st_size);
            /* With fallback, the exact bytes. */
            o.fallback = true;
            r = h_report();
            CHECK_STATUS(zc_transfer(s, d, &o, &r), ZC_OK);
            CHECK(r.bytes == want_n, "%s: %llu bytes, read(2) gives %zu", files[i],
                  (unsigned long long)r.bytes, want_n);
            size_t got_n;
            unsigned char *got = h_read_file(out, &got_n);
            CHECK(got && got_n == want_n && memcmp(got, want, want_n) == 0,
                  "%s by %s with fallback: bytes differ", files[i], zc_strategy_name(strict[k]));
            free(got);
            close(s);
            close(d);
        }
        free(want);
    }
}

/* A child that opens `fifo` (both ends) and closes it after `seconds`: it wakes an open of
   the FIFO that blocked instead of being refused, so such a test fails instead of hanging. */
static pid_t release_fifo_after(const char *fifo, unsigned seconds) {
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        abort();
    }
    if (pid == 0) {
        sleep(seconds);
        int fd = open(fifo, O_RDWR | O_NONBLOCK);
        if (fd >= 0) close(fd);
        _exit(0);
    }
    return pid;
}

static void stop_child(pid_t pid) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* Issue 14, case 5: copy_file refuses a FIFO, socket or device as src, and a FIFO as dst,
   before opening it (a FIFO's open would block), as shutil.copyfile refuses named pipes. */
static void copy_file_special_files(void) {
    const char *fifo = h_path("cf.fifo");
    REQUIRE(mkfifo(fifo, 0600) == 0, "mkfifo");
    const char *src = h_make_file("cf.special.src", 83, 10);
    const char *out = h_make_file("cf.special.out", 84, 3);
    zc_report r = h_report();
    pid_t guard = release_fifo_after(fifo, 5);
    CHECK_FAILS(zc_copy_file(fifo, out, NULL, &r), ZC_INVALID, EINVAL);
    CHECK_MSG("is a named pipe");
    CHECK_MSG(fifo);
    stop_child(guard);
    CHECK_FAILS(zc_copy_file("/dev/null", out, NULL, &r), ZC_INVALID, EINVAL);
    CHECK_MSG("is a character device");
    CHECK(h_file_is(out, 84, 0, 3), "dst touched by a refused copy");
    guard = release_fifo_after(fifo, 5);
    CHECK_FAILS(zc_copy_file(src, fifo, NULL, &r), ZC_INVALID, EINVAL);
    CHECK_MSG("dst");
    CHECK_MSG("is a named pipe");
    stop_child(guard);
    /* A directory is an OS error, as open() and read() say (errno EISDIR). */
    CHECK_FAILS(zc_copy_file(h_dir, out, NULL, &r), ZC_IO, EISDIR);
    CHECK(h_file_is(out, 84, 0, 3), "dst touched by a refused copy");
}

/* Issue 14, case 15: one DMA copy per end backed by a device; a file on tmpfs (/dev/shm)
   lives in memory and has none: tmpfs -> tmpfs 0, tmpfs -> /dev/null 0, disk -> tmpfs 1. */
static bool on_tmpfs(const char *path) {
    struct statfs sf;
    return statfs(path, &sf) == 0 && sf.f_type == 0x01021994;
}

static void report_memory_filesystems_cost_no_dma(void) {
    if (!on_tmpfs("/dev/shm") || on_tmpfs(h_dir)) {
        printf("  skip: needs /dev/shm on tmpfs and the temp folder on a disk filesystem\n");
        return;
    }
    const size_t n = (1u << 20) + 7;
    char a[] = "/dev/shm/zcopy-ctest-XXXXXX", b[] = "/dev/shm/zcopy-ctest-XXXXXX";
    int fa = mkstemp(a), fb = mkstemp(b);
    REQUIRE(fa >= 0 && fb >= 0, "mkstemp in /dev/shm");
    unsigned char *d = h_data(86, n);
    h_write_all(fa, d, n);
    free(d);
    close(fa);
    close(fb);
    zc_report r = h_report();
    CHECK_STATUS(zc_copy_file(a, b, NULL, &r), ZC_OK);
    CHECK(r.bytes == n && r.dma_copies_bytes == 0, "tmpfs -> tmpfs: %llu bytes, %llu DMA",
          (unsigned long long)r.bytes, (unsigned long long)r.dma_copies_bytes);
    CHECK(h_file_is(b, 86, 0, n), "tmpfs -> tmpfs: bytes differ");
    r = h_report();
    CHECK_STATUS(zc_copy_file(a, "/dev/null", NULL, &r), ZC_OK);
    CHECK(r.bytes == n && r.dma_copies_bytes == 0, "tmpfs -> /dev/null: %llu DMA",
          (unsigned long long)r.dma_copies_bytes);
    const char *disk = h_make_file("dma.disk", 87, n);
    r = h_report();
    CHECK_STATUS(zc_copy_file(disk, b, NULL, &r), ZC_OK);
    CHECK(r.bytes == n && r.dma_copies_bytes == n, "disk -> tmpfs: %llu DMA, expected %zu",
          (unsigned long long)r.dma_copies_bytes, n);
    unlink(a);
    unlink(b);
}

static void copy_file_bad_input(void) {
    const char *src = h_make_file("cfb.src", 82, 10);
    zc_report r = h_report();
    CHECK_FAILS(zc_copy_file(NULL, h_path("x"), NULL, &r), ZC_NULL_POINTER, EINVAL);
    CHECK_MSG("src_path is NULL");
    CHECK_FAILS(zc_copy_file(src, NULL, NULL, &r), ZC_NULL_POINTER, EINVAL);
    CHECK_MSG("dst_path is NULL");
    const char *missing = h_path("no/such/file");
    CHECK_FAILS(zc_copy_file(missing, h_path("x"), NULL, &r), ZC_IO, ENOENT);
    CHECK_MSG(missing);
    CHECK_FAILS(zc_copy_file(src, src, NULL, &r), ZC_INVALID, EINVAL);
    CHECK_MSG("the same file");
    size_t n;
    unsigned char *still = h_read_file(src, &n);
    CHECK(h_same(still, n, 82, 0, 10), "src damaged");
    free(still);
    CHECK_FAILS(zc_copy_file(h_dir, h_path("y"), NULL, &r), ZC_IO, EISDIR);
    CHECK_MSG("is a directory");
    CHECK_FAILS(zc_copy_file(src, h_dir, NULL, &r), ZC_IO, EISDIR);
    CHECK_FAILS(zc_copy_file("", h_path("y"), NULL, &r), ZC_IO, ENOENT);
    zc_options o = h_opts();
    o.strategy = 1234;
    CHECK_FAILS(zc_copy_file(src, h_path("z"), &o, &r), ZC_INVALID, EINVAL);
    CHECK(access(h_path("z"), F_OK) != 0, "created dst despite bad options");
}

/* ---- zc_probe -------------------------------------------------------------------------- */

static void probe(void) {
    const char *src = h_make_file("probe.src", 90, 100);
    int s = open(src, O_RDONLY), d = open(h_path("probe.dst"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    REQUIRE(s >= 0 && d >= 0, "open");
    size_t n = 0;
    errno = 8;
    CHECK_STATUS(zc_probe(s, d, NULL, 0, &n), ZC_OK);
    CHECK(errno == 8, "errno %d", errno);
    size_t techniques = 0;
    while (zc_strategy_name((zc_strategy)(techniques + 1)) != NULL) techniques++;
    CHECK(n == techniques, "%zu techniques, %zu strategies", n, techniques);
    zc_support all[16];
    memset(all, 0xAB, sizeof all);
    size_t n2 = 0;
    CHECK_STATUS(zc_probe(s, d, all, 16, &n2), ZC_OK);
    CHECK(n2 == n, "%zu then %zu", n, n2);
    /* Each technique once, Auto never; a reason exactly when unsupported. */
    bool seen[64] = {false};
    for (size_t i = 0; i < n2 && i < 16; i++) {
        zc_strategy st = all[i].strategy;
        CHECK(st != ZC_STRATEGY_AUTO && zc_strategy_name(st) != NULL && st < 64 && !seen[st],
              "entry %zu is %u", i, st);
        if (st < 64) seen[st] = true;
        CHECK(all[i].supported == (all[i].reason[0] == '\0'), "entry %zu: %d \"%s\"", i,
              all[i].supported, all[i].reason);
    }
    CHECK(((unsigned char *)&all[n2])[0] == 0xAB, "wrote past the entries");
    for (size_t i = 0; i < n2; i++) {
        if (all[i].strategy == ZC_STRATEGY_READ_WRITE || all[i].strategy == ZC_STRATEGY_COPY_FILE_RANGE)
            CHECK(all[i].supported, "%s cannot serve file -> file: %s",
                  zc_strategy_name(all[i].strategy), all[i].reason);
    }

    /* A small buffer: only cap entries are written, the count is the full one. */
    memset(all, 0xAB, sizeof all);
    CHECK_STATUS(zc_probe(s, d, all, 2, &n2), ZC_OK);
    CHECK(n2 == n, "count %zu", n2);
    CHECK(zc_strategy_name(all[1].strategy) != NULL, "entry 1 %u", all[1].strategy);
    CHECK(((unsigned char *)&all[2])[0] == 0xAB, "wrote past cap");

    /* A pipe destination: copy_file_range and reflink say why not. */
    int p[2];
    REQUIRE(pipe2(p, O_CLOEXEC) == 0, "pipe");
    CHECK_STATUS(zc_probe(s, p[1], all, 16, &n2), ZC_OK);
    for (size_t i = 0; i < n2; i++) {
        if (all[i].strategy == ZC_STRATEGY_COPY_FILE_RANGE)
            CHECK(!all[i].supported && strlen(all[i].reason) > 0, "copy_file_range to a pipe");
        if (all[i].strategy == ZC_STRATEGY_SPLICE)
            CHECK(all[i].supported, "splice to a pipe: %s", all[i].reason);
    }

    CHECK_FAILS(zc_probe(s, d, all, 16, NULL), ZC_NULL_POINTER, EINVAL);
    CHECK_FAILS(zc_probe(s, d, NULL, 3, &n2), ZC_NULL_POINTER, EINVAL);
    CHECK_FAILS(zc_probe(-1, d, all, 16, &n2), ZC_IO, EBADF);
    CHECK_FAILS(zc_probe(s, 999, all, 16, &n2), ZC_IO, EBADF);
    CHECK_FAILS(zc_probe(d, s, all, 16, &n2), ZC_INVALID, EBADF);
    int op = open(src, O_PATH), dir = open(h_dir, O_RDONLY | O_DIRECTORY);
    CHECK_FAILS(zc_probe(op, d, all, 16, &n2), ZC_INVALID, EINVAL);
    CHECK_FAILS(zc_probe(dir, d, all, 16, &n2), ZC_IO, EISDIR);
    close(op);
    close(dir);
    close(p[0]);
    close(p[1]);
    close(s);
    close(d);
}

/* ---- options added after the first layout ---------------------------------------------- */

/* A program built against the first layout (no cache, sync, direct_threshold, sparse): its
 * struct_size ends before `cache`, and the library uses the defaults for the rest. */
static void options_from_an_older_header(void) {
    const size_t v0 = offsetof(zc_options, cache);
    CHECK(v0 == 96, "the first layout is %zu bytes", v0);
    union {
        zc_options o;
        unsigned char bytes[sizeof(zc_options)];
    } old;
    memset(&old, 0xEE, sizeof old); /* what lies past an old struct is not the library's */
    CHECK_STATUS(zc_options_default(&old.o, v0), ZC_OK);
    CHECK(old.o.struct_size == v0, "struct_size %zu", old.o.struct_size);
    for (size_t i = v0; i < sizeof old; i++) CHECK(old.bytes[i] == 0xEE, "wrote byte %zu", i);
    const char *src = h_make_file("older.src", 12, 70000);
    int s = open(src, O_RDONLY), d = open(h_path("older.dst"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    REQUIRE(s >= 0 && d >= 0, "open");
    zc_report r = h_report();
    /* The bytes past struct_size hold garbage (0xEE): never read. */
    CHECK_STATUS(zc_transfer(s, d, &old.o, &r), ZC_OK);
    CHECK(r.bytes == 70000 && h_file_is(h_path("older.dst"), 12, 0, 70000), "bytes");
    CHECK_FAILS(zc_options_default(&old.o, v0 - 1), ZC_INVALID, EINVAL);

    /* The same for an old zc_report: written up to its struct_size only. */
    union {
        zc_report r;
        unsigned char bytes[sizeof(zc_report)];
    } oldr;
    memset(&oldr, 0xEE, sizeof oldr);
    const size_t rv0 = offsetof(zc_report, zerocopy_sends);
    oldr.r.struct_size = rv0;
    REQUIRE(lseek(s, 0, SEEK_SET) == 0, "lseek");
    CHECK_STATUS(zc_transfer(s, d, NULL, &oldr.r), ZC_OK);
    CHECK(oldr.r.bytes == 70000 && oldr.r.syscalls > 0, "old report not filled");
    for (size_t i = rv0; i < sizeof oldr; i++) CHECK(oldr.bytes[i] == 0xEE, "wrote byte %zu", i);
    close(s);
    close(d);
}

static void options_cache_sync_sparse_direct(void) {
    const char *src = h_make_file("pol.src", 13, 2 * MIB + 100);
    int s = open(src, O_RDONLY), d = open(h_path("pol.dst"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    REQUIRE(s >= 0 && d >= 0, "open");
    static const zc_cache caches[] = {ZC_CACHE_KEEP, ZC_CACHE_DROP_AFTER, ZC_CACHE_NOREUSE,
                                      ZC_CACHE_DONTCACHE};
    static const zc_sync syncs[] = {ZC_SYNC_NONE, ZC_SYNC_DATA, ZC_SYNC_FULL, ZC_SYNC_DATA};
    for (size_t i = 0; i < 4; i++) {
        zc_options o = h_opts();
        o.cache = caches[i];
        o.sync = syncs[i];
        o.sparse = i == 1 ? ZC_SPARSE_WRITE_ZEROS : ZC_SPARSE_KEEP_HOLES;
        o.has_src_offset = o.has_dst_offset = true;
        zc_report r = h_report();
        CHECK_STATUS(zc_transfer(s, d, &o, &r), ZC_OK);
        CHECK(r.bytes == 2 * MIB + 100, "bytes %llu", (unsigned long long)r.bytes);
        CHECK(h_file_is(h_path("pol.dst"), 13, 0, 2 * MIB + 100), "cache %u: bytes differ", caches[i]);
        if (caches[i] == ZC_CACHE_DONTCACHE) {
            /* read_write with RWF_DONTCACHE, or (a kernel or filesystem without it) drop_after
             * after a fallback that says why. */
            CHECK(r.strategy == ZC_STRATEGY_READ_WRITE ||
                      (r.fallbacks_len > 0 && strstr(r.fallbacks[0].reason, "RWF_DONTCACHE")),
                  "dontcache: strategy %d, %zu fallbacks", (int)r.strategy, (size_t)r.fallbacks_len);
        }
    }

    /* io_uring with a queue depth of 3; 0 means the default; 2000 is out of range. */
    for (uint64_t q = 0; q < 4; q += 3) {
        zc_options o = h_opts();
        o.strategy = ZC_STRATEGY_IO_URING;
        o.fallback = false;
        o.queue_depth = q;
        o.has_src_offset = o.has_dst_offset = true;
        zc_report r = h_report();
        CHECK_STATUS(zc_transfer(s, d, &o, &r), ZC_OK);
        CHECK(h_file_is(h_path("pol.dst"), 13, 0, 2 * MIB + 100), "queue_depth %llu: bytes differ",
              (unsigned long long)q);
    }
    {
        zc_options o = h_opts();
        o.strategy = ZC_STRATEGY_IO_URING;
        o.queue_depth = 2000;
        zc_report r = h_report();
        CHECK_FAILS(zc_transfer(s, d, &o, &r), ZC_INVALID, EINVAL);
        CHECK(strstr(zc_last_error(), "queue_depth") != NULL, "message: %s", zc_last_error());
    }
    /* A direct_threshold below the size: Auto moves it with direct I/O (or says why not). */
    zc_options o = h_opts();
    o.has_direct_threshold = true;
    o.direct_threshold = 4096;
    o.has_src_offset = o.has_dst_offset = true;
    zc_report r = h_report();
    REQUIRE(ftruncate(d, 0) == 0, "truncate");
    CHECK_STATUS(zc_transfer(s, d, &o, &r), ZC_OK);
    CHECK(h_file_is(h_path("pol.dst"), 13, 0, 2 * MIB + 100), "direct: bytes differ");
    CHECK(r.strategy == ZC_STRATEGY_IO_URING || r.strategy == ZC_STRATEGY_DIRECT ||
              r.fallbacks_len > 0,
          "direct_threshold ignored: %s", zc_strategy_name(r.strategy));

    zc_options bad = h_opts();
    bad.cache = 4;
    CHECK_FAILS(zc_transfer(s, d, &bad, &r), ZC_INVALID, EINVAL);
    CHECK_MSG("zc_options.cache is 4, which is no zc_cache");
    bad = h_opts();
    bad.sync = 99;
    CHECK_FAILS(zc_transfer(s, d, &bad, &r), ZC_INVALID, EINVAL);
    CHECK_MSG("zc_options.sync is 99");
    bad = h_opts();
    bad.sparse = 2;
    CHECK_FAILS(zc_transfer(s, d, &bad, &r), ZC_INVALID, EINVAL);
    CHECK_MSG("zc_options.sparse is 2");
    close(s);
    close(d);
}

static void transfer_msg_zerocopy_over_tcp(void) {
    int sv[2];
    h_tcp_pair(sv);
    const char *src = h_make_file("mzc.src", 14, 2 * MIB);
    int s = open(src, O_RDONLY);
    struct h_reader rd;
    h_reader_start(&rd, sv[1], 0);
    zc_options o = h_opts();
    o.strategy = ZC_STRATEGY_MSG_ZEROCOPY;
    o.fallback = false;
    zc_report r = h_report();
    zc_status st = zc_transfer(s, sv[0], &o, &r);
    shutdown(sv[0], SHUT_WR);
    h_reader_join(&rd);
    if (st == ZC_UNSUPPORTED) {
        printf("  (msg_zerocopy unsupported here: %s)\n", zc_last_error());
    } else {
        CHECK_STATUS(st, ZC_OK);
        CHECK(h_same(rd.buf, rd.len, 14, 0, 2 * MIB), "bytes differ");
        CHECK(r.zerocopy_sends > 0 && r.zerocopy_copied <= r.zerocopy_sends, "sends %llu copied %llu",
              (unsigned long long)r.zerocopy_sends, (unsigned long long)r.zerocopy_copied);
    }
    free(rd.buf);
    close(s);
    close(sv[0]);
    close(sv[1]);
}

/* ---- the page cache -------------------------------------------------------------------- */

static void page_cache(void) {
    const char *path = h_make_file("pc.dat", 15, MIB + 1);
    int fd = open(path, O_RDWR);
    REQUIRE(fd >= 0, "open");
    long ps = sysconf(_SC_PAGESIZE);
    uint64_t want_pages = (MIB + 1 + (uint64_t)ps - 1) / (uint64_t)ps;
    zc_residency_info info = {.struct_size = sizeof info};

    CHECK_STATUS(zc_warm(fd, 0, NULL, &info), ZC_OK);
    CHECK(info.pages == want_pages && info.resident == info.pages && info.ratio == 1.0,
          "after warm: %llu/%llu", (unsigned long long)info.resident, (unsigned long long)info.pages);
    CHECK(info.method == ZC_METHOD_CACHESTAT || info.method == ZC_METHOD_MINCORE, "method %u",
          info.method);

    /* Count only, then a bitmap, then a bitmap too small (only its bytes are written). */
    errno = 3;
    CHECK_STATUS(zc_residency(fd, 0, NULL, NULL, 0, &info), ZC_OK);
    CHECK(errno == 3, "errno %d", errno);
    CHECK(info.pages == want_pages, "pages %llu", (unsigned long long)info.pages);
    unsigned char *bitmap = malloc(want_pages + 8);
    REQUIRE(bitmap != NULL, "malloc");
    memset(bitmap, 0xAB, want_pages + 8);
    CHECK_STATUS(zc_residency(fd, 0, NULL, bitmap, want_pages + 8, &info), ZC_OK);
    for (uint64_t i = 0; i < want_pages; i++) CHECK(bitmap[i] == 1, "page %llu: %u", (unsigned long long)i, bitmap[i]);
    CHECK(bitmap[want_pages] == 0xAB, "wrote past the pages");
    memset(bitmap, 0xAB, want_pages + 8);
    CHECK_STATUS(zc_residency(fd, 0, NULL, bitmap, 3, &info), ZC_OK);
    CHECK(bitmap[2] == 1 && bitmap[3] == 0xAB, "wrote past bitmap_len");
    uint64_t one_page = (uint64_t)ps;
    CHECK_STATUS(zc_residency(fd, (uint64_t)ps, &one_page, bitmap, 8, &info), ZC_OK);
    CHECK(info.pages == 1, "one page: %llu", (unsigned long long)info.pages);

    CHECK_STATUS(zc_evict(fd, 0, NULL, &info), ZC_OK);
    CHECK(info.resident == 0, "after evict: %llu resident", (unsigned long long)info.resident);
    CHECK_STATUS(zc_evict(fd, 0, NULL, NULL), ZC_OK);

    static const zc_advice advice[] = {ZC_ADVICE_NORMAL, ZC_ADVICE_SEQUENTIAL, ZC_ADVICE_RANDOM,
                                       ZC_ADVICE_WILLNEED, ZC_ADVICE_DONTNEED, ZC_ADVICE_NOREUSE};
    for (size_t i = 0; i < sizeof advice / sizeof advice[0]; i++) {
        bool applied = false;
        CHECK_STATUS(zc_advise(fd, 0, NULL, advice[i], &applied), ZC_OK);
        CHECK(applied, "advice %u not applied", advice[i]);
    }
    CHECK_STATUS(zc_advise(fd, 0, &one_page, ZC_ADVICE_WILLNEED, NULL), ZC_OK);
    bool applied = false;
    CHECK_STATUS(zc_readahead(fd, 0, NULL, &applied), ZC_OK);
    CHECK(applied, "readahead not applied");
    CHECK_STATUS(zc_readahead(fd, 0, &one_page, NULL), ZC_OK);
    CHECK_STATUS(zc_warm(fd, 0, &one_page, NULL), ZC_OK);

    /* A pipe has no page cache: not an error, and it says so. */
    int p[2];
    REQUIRE(pipe2(p, O_CLOEXEC) == 0, "pipe");
    CHECK_STATUS(zc_residency(p[0], 0, NULL, bitmap, 8, &info), ZC_OK);
    CHECK(info.method == ZC_METHOD_NONE && info.pages == 0, "pipe: method %u", info.method);
    applied = true;
    CHECK_STATUS(zc_advise(p[0], 0, NULL, ZC_ADVICE_WILLNEED, &applied), ZC_OK);
    CHECK(!applied, "a hint on a pipe applied");
    CHECK_STATUS(zc_evict(p[0], 0, NULL, &info), ZC_OK);
    CHECK(info.method == ZC_METHOD_NONE, "pipe evict");

    /* Bad input. */
    CHECK_FAILS(zc_residency(fd, 0, NULL, NULL, 0, NULL), ZC_NULL_POINTER, EINVAL);
    zc_residency_info small = {.struct_size = 8};
    CHECK_FAILS(zc_residency(fd, 0, NULL, NULL, 0, &small), ZC_INVALID, EINVAL);
    CHECK_FAILS(zc_warm(fd, 0, NULL, &small), ZC_INVALID, EINVAL);
    CHECK_FAILS(zc_residency(-1, 0, NULL, NULL, 0, &info), ZC_IO, EBADF);
    CHECK_FAILS(zc_residency(999, 0, NULL, NULL, 0, &info), ZC_IO, EBADF);
    CHECK_FAILS(zc_advise(fd, 0, NULL, 6, NULL), ZC_INVALID, EINVAL);
    CHECK_MSG("advice is 6, which is no zc_advice");
    CHECK_FAILS(zc_advise(fd, 0, NULL, UINT32_MAX, NULL), ZC_INVALID, EINVAL);
    CHECK_FAILS(zc_advise(-3, 0, NULL, ZC_ADVICE_NORMAL, NULL), ZC_IO, EBADF);
    CHECK_FAILS(zc_readahead(-3, 0, NULL, NULL), ZC_IO, EBADF);
    CHECK_FAILS(zc_evict(-3, 0, NULL, NULL), ZC_IO, EBADF);
    CHECK_FAILS(zc_warm(-3, 0, NULL, NULL), ZC_IO, EBADF);
    uint64_t huge = UINT64_MAX;
    CHECK_FAILS(zc_residency(fd, 10, &huge, NULL, 0, &info), ZC_INVALID, EINVAL);
    int op = open(path, O_PATH), dir = open(h_dir, O_RDONLY | O_DIRECTORY);
    /* An O_PATH fd is a bad argument and a directory an OS error, named as such (as for
       zc_transfer). */
    CHECK_FAILS(zc_residency(op, 0, NULL, NULL, 0, &info), ZC_INVALID, EINVAL);
    CHECK(strstr(zc_last_error(), "O_PATH") != NULL, "O_PATH message: %s", zc_last_error());
    CHECK_FAILS(zc_warm(op, 0, NULL, &info), ZC_INVALID, EINVAL);
    CHECK_FAILS(zc_warm(dir, 0, NULL, &info), ZC_IO, EISDIR);
    CHECK(strstr(zc_last_error(), "directory") != NULL, "directory message: %s", zc_last_error());
    close(op);
    close(dir);
    close(p[0]);
    close(p[1]);
    free(bitmap);
    close(fd);
}

/* ---- what Auto picks, the files under directories, locked pages ----------------------- */

/* zc_auto_choice's first is the strategy the transfer then reports: file -> file (4 KiB) and
   file -> pipe. */
static void auto_choice_is_what_transfer_runs(void) {
    const char *src = h_make_file("choice.src", 70, 4096);
    int s = open(src, O_RDONLY), d = open(h_path("choice.dst"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    REQUIRE(s >= 0 && d >= 0, "open");
    zc_auto_choice_info c;
    memset(&c, 0xAB, sizeof c);
    c.struct_size = sizeof c;
    errno = 9;
    CHECK_STATUS(zc_auto_choice(s, d, NULL, &c), ZC_OK);
    CHECK(errno == 9, "errno %d", errno);
    CHECK(c.struct_size == sizeof c, "struct_size %zu", c.struct_size);
    CHECK(c.has_first, "no first: %s", c.why);
    CHECK(c.order_len > 0 && c.order_len <= ZC_MAX_ORDER && c.order[0] == c.first,
          "order_len %zu, order[0] %u, first %u", c.order_len, c.order[0], c.first);
    CHECK(strlen(c.why) > 0 && strlen(c.why) < ZC_WHY_SIZE, "why: %s", c.why);
    zc_report r = h_report();
    CHECK_STATUS(zc_transfer(s, d, NULL, &r), ZC_OK);
    CHECK(r.bytes == 4096 && r.strategy == c.first, "transfer ran %s, auto_choice said %s",
          zc_strategy_name(r.strategy), zc_strategy_name(c.first));
    CHECK(h_file_is(h_path("choice.dst"), 70, 0, 4096), "copy differs");

    /* A pipe destination: Auto's first is what the transfer reports, copy_file_range is not. */
    int p[2];
    REQUIRE(pipe2(p, O_CLOEXEC) == 0, "pipe");
    zc_options o = h_opts();
    o.has_src_offset = true;
    o.src_offset = 0;
    CHECK_STATUS(zc_auto_choice(s, p[1], &o, &c), ZC_OK);
    CHECK(c.has_first && c.first != ZC_STRATEGY_COPY_FILE_RANGE, "first %s",
          zc_strategy_name(c.first));
    r = h_report();
    CHECK_STATUS(zc_transfer(s, p[1], &o, &r), ZC_OK);
    CHECK(r.bytes == 4096 && r.strategy == c.first, "file -> pipe ran %s, auto_choice said %s (%s)",
          zc_strategy_name(r.strategy), zc_strategy_name(c.first), c.why);
    close(p[1]);
    size_t n = 0;
    unsigned char *got = h_read_fd(p[0], &n);
    CHECK(got != NULL && h_same(got, n, 70, 0, 4096), "the pipe got %zu bytes", n);
    free(got);

    /* Bad input: the struct, the fds, the options. */
    CHECK_FAILS(zc_auto_choice(s, d, NULL, NULL), ZC_NULL_POINTER, EINVAL);
    zc_auto_choice_info small = {.struct_size = 8};
    CHECK_FAILS(zc_auto_choice(s, d, NULL, &small), ZC_INVALID, EINVAL);
    CHECK_FAILS(zc_auto_choice(-1, d, NULL, &c), ZC_IO, EBADF);
    CHECK_FAILS(zc_auto_choice(d, s, NULL, &c), ZC_INVALID, EBADF);
    o = h_opts();
    o.strategy = 99;
    CHECK_FAILS(zc_auto_choice(s, d, &o, &c), ZC_INVALID, EINVAL);
    close(p[0]);
    close(s);
    close(d);
}

struct files_seen {
    char names[8][4200];
    int errnos[8];
    size_t n;
    size_t stop_after; /* 0: never */
};

static bool on_file(const char *path, int error_errno, const char *error, void *user) {
    struct files_seen *seen = user;
    if (seen->n < 8) {
        snprintf(seen->names[seen->n], sizeof seen->names[0], "%s", path);
        seen->errnos[seen->n] = error_errno;
        if (error_errno != 0 && (error == NULL || error[0] == '\0')) seen->errnos[seen->n] = -1;
    }
    seen->n++;
    return seen->stop_after == 0 || seen->n < seen->stop_after;
}

/* zc_files lists exactly the files of a tree, as vmtouch walks it: a nested directory in name
   order, a symlink skipped, a missing path given back with ENOENT. */
static void files_walks_a_tree(void) {
    REQUIRE(mkdir(h_path("walk"), 0755) == 0 && mkdir(h_path("walk/b"), 0755) == 0 &&
                mkdir(h_path("walk/b/c"), 0755) == 0,
            "mkdir");
    h_make_file("walk/a", 1, 10);
    h_make_file("walk/b/x", 2, 20);
    h_make_file("walk/b/c/y", 3, 30);
    REQUIRE(symlink(h_path("walk/a"), h_path("walk/link")) == 0, "symlink");
    const char *paths[] = {h_path("walk"), h_path("nothing-here")};
    struct files_seen seen = {.n = 0};
    zc_files_summary sum;
    memset(&sum, 0xAB, sizeof sum);
    sum.struct_size = sizeof sum;
    CHECK_STATUS(zc_files(paths, 2, on_file, &seen, &sum), ZC_OK);
    const char *want[] = {"walk/a", "walk/b/c/y", "walk/b/x", "nothing-here"};
    CHECK(seen.n == 4, "%zu calls", seen.n);
    for (size_t i = 0; i < 4 && i < seen.n; i++) {
        CHECK(strcmp(seen.names[i], h_path(want[i])) == 0, "call %zu: %s, expected %s", i,
              seen.names[i], h_path(want[i]));
        CHECK(seen.errnos[i] == (i == 3 ? ENOENT : 0), "call %zu: errno %d", i, seen.errnos[i]);
    }
    CHECK(sum.struct_size == sizeof sum && sum.files == 3 && sum.directories == 3 &&
              sum.errors == 1 && sum.any_directory,
          "files %llu, directories %llu, errors %llu, any_directory %d",
          (unsigned long long)sum.files, (unsigned long long)sum.directories,
          (unsigned long long)sum.errors, sum.any_directory);

    /* A file alone; no function, no summary; the function stopping the walk. */
    const char *one[] = {h_path("walk/b/x")};
    CHECK_STATUS(zc_files(one, 1, NULL, NULL, &sum), ZC_OK);
    CHECK(sum.files == 1 && sum.directories == 0 && !sum.any_directory, "one file");
    CHECK_STATUS(zc_files(NULL, 0, NULL, NULL, NULL), ZC_OK);
    seen = (struct files_seen){.stop_after = 2};
    CHECK_FAILS(zc_files(paths, 1, on_file, &seen, &sum), ZC_CANCELLED, ECANCELED);
    CHECK(seen.n == 2 && sum.files == 3, "stopped after %zu calls, %llu files", seen.n,
          (unsigned long long)sum.files);

    /* Bad input. */
    CHECK_FAILS(zc_files(NULL, 1, on_file, &seen, NULL), ZC_NULL_POINTER, EINVAL);
    const char *with_null[] = {h_path("walk"), NULL};
    CHECK_FAILS(zc_files(with_null, 2, on_file, &seen, NULL), ZC_NULL_POINTER, EINVAL);
    CHECK_MSG("paths[1] is NULL");
    zc_files_summary small = {.struct_size = 4};
    CHECK_FAILS(zc_files(paths, 1, NULL, NULL, &small), ZC_INVALID, EINVAL);
}

/* AddressSanitizer intercepts mlock as a no-op (it cannot lock its shadow memory): under it
   zc_lock succeeds without locking, so what locking does cannot be seen. */
#if defined(__SANITIZE_ADDRESS__)
#define H_MLOCK_IS_A_NOOP 1
#else
#define H_MLOCK_IS_A_NOOP 0
#endif

/* zc_lock makes every page of a file resident and keeps it so until zc_unlock. */
static void lock_keeps_pages_resident(void) {
    const char *path = h_make_file("locked.dat", 16, MIB + 100);
    int fd = open(path, O_RDWR);
    REQUIRE(fd >= 0, "open");
    uint64_t ps = (uint64_t)sysconf(_SC_PAGESIZE), pages = (MIB + 100 + ps - 1) / ps;
    zc_residency_info info = {.struct_size = sizeof info};
    CHECK_STATUS(zc_evict(fd, 0, NULL, &info), ZC_OK);
    CHECK(info.resident == 0, "evicted: %llu resident", (unsigned long long)info.resident);
    zc_locked *l = (zc_locked *)&info; /* garbage the library must overwrite */
    CHECK_STATUS(zc_lock(fd, 0, NULL, &l), ZC_OK);
    REQUIRE(l != NULL, "no handle");
    CHECK(zc_locked_pages(l) == pages, "%llu pages locked, file has %llu",
          (unsigned long long)zc_locked_pages(l), (unsigned long long)pages);
    CHECK(zc_locked_bytes(l) == MIB + 100, "%llu bytes locked", (unsigned long long)zc_locked_bytes(l));
    if (H_MLOCK_IS_A_NOOP) {
        printf("  SKIP residency while locked: AddressSanitizer makes mlock a no-op\n");
    } else {
        CHECK_STATUS(zc_residency(fd, 0, NULL, NULL, 0, &info), ZC_OK);
        CHECK(info.pages == pages && info.resident == pages, "locked: %llu of %llu resident",
              (unsigned long long)info.resident, (unsigned long long)info.pages);
        CHECK_STATUS(zc_evict(fd, 0, NULL, &info), ZC_OK);
        CHECK(info.resident == pages, "locked pages evicted: %llu resident",
              (unsigned long long)info.resident);
    }
    zc_unlock(l);
    CHECK_STATUS(zc_evict(fd, 0, NULL, &info), ZC_OK);
    CHECK(info.resident == 0, "unlocked: %llu resident", (unsigned long long)info.resident);

    /* A range from a page boundary below its offset; an empty range; NULLs. */
    uint64_t len = ps;
    CHECK_STATUS(zc_lock(fd, ps + 1, &len, &l), ZC_OK);
    CHECK(zc_locked_pages(l) == 2, "range: %llu pages", (unsigned long long)zc_locked_pages(l));
    zc_unlock(l);
    len = 0;
    CHECK_STATUS(zc_lock(fd, 0, &len, &l), ZC_OK);
    CHECK(l != NULL && zc_locked_pages(l) == 0, "empty range");
    zc_unlock(l);
    zc_unlock(NULL);
    CHECK(zc_locked_pages(NULL) == 0 && zc_locked_bytes(NULL) == 0, "NULL has pages");

    /* A pipe has no page cache to lock; bad fds; NULL out. */
    int p[2];
    REQUIRE(pipe2(p, O_CLOEXEC) == 0, "pipe");
    l = (zc_locked *)&info;
    CHECK_FAILS(zc_lock(p[0], 0, NULL, &l), ZC_INVALID, EINVAL);
    CHECK(l == NULL, "a failed lock left a handle");
    CHECK(strstr(zc_last_error(), "has no page cache") != NULL, "message: %s", zc_last_error());
    CHECK_FAILS(zc_lock(-1, 0, NULL, &l), ZC_IO, EBADF);
    CHECK_FAILS(zc_lock(fd, 0, NULL, NULL), ZC_NULL_POINTER, EINVAL);
    close(p[0]);
    close(p[1]);
    close(fd);
}

/* Child: RLIMIT_MEMLOCK lowered to 64 KiB, without CAP_IPC_LOCK (root becomes nobody): zc_lock
   of 1 MiB fails with ENOMEM, zc_lock_limit says 64 KiB. Exit 0 when all holds, 3 when the
   limit cannot bind here. */
static int child_lock_limit(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return 10;
    /* This process's own temp folder is empty: gone now, nobody could not remove it later. */
    rmdir(h_dir);
    struct rlimit lim = {64 << 10, 64 << 10};
    if (setrlimit(RLIMIT_MEMLOCK, &lim) != 0) return 11;
    if (getuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) return 12;
    uint64_t limit = 0;
    if (!zc_lock_limit(&limit)) {
        printf("  the child still has CAP_IPC_LOCK: the limit cannot bind\n");
        return 3;
    }
    if (limit != 64 << 10) return 13;
    zc_locked *l = NULL;
    zc_status st = zc_lock(fd, 0, NULL, &l);
    if (st != ZC_IO || zc_last_errno() != ENOMEM || l != NULL) {
        fprintf(stderr, "  zc_lock past the limit: status %d, errno %d: %s\n", (int)st,
                zc_last_errno(), zc_last_error());
        zc_unlock(l);
        return 14;
    }
    if (strstr(zc_last_error(), "mlock of 1048576 bytes") == NULL) {
        fprintf(stderr, "  message: %s\n", zc_last_error());
        return 15;
    }
    close(fd);
    return 0;
}

static void lock_past_rlimit_memlock_fails_cleanly(void) {
    const char *path = h_make_file("limited.dat", 17, MIB);
    /* Without a limit of its own, this process's answer: a number, or none binding. */
    uint64_t limit = 12345;
    bool bound = zc_lock_limit(&limit);
    CHECK(bound || limit == 12345, "zc_lock_limit wrote %llu but said none binds",
          (unsigned long long)limit);
    if (H_MLOCK_IS_A_NOOP) {
        printf("  SKIP: AddressSanitizer makes mlock a no-op, so no limit can be reached\n");
        return;
    }
    int status = h_spawn_child("lock_limit", path, "");
    if (WIFEXITED(status) && WEXITSTATUS(status) == 3) {
        printf("  SKIP: CAP_IPC_LOCK lifts RLIMIT_MEMLOCK in the child\n");
        return;
    }
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child: %s", h_status_text(status));
}

/* ---- SIGPIPE --------------------------------------------------------------------------- */

static const char *const kinds[] = {"unix", "tcp", "pipe"};

/* Child: SIGPIPE at SIG_DFL, unblocked; a peer reads 256 KiB of an 8 MiB transfer and closes.
 * Exit 0 when the call failed with EPIPE (or, for a socket whose peer closed with unread data,
 * ECONNRESET) and reported the bytes sent; 2.. for what went wrong. A SIGPIPE reaching the
 * process kills it instead. */
static int child_sigpipe(int kind, zc_strategy strategy) {
    signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &none, NULL);
    int sv[2];
    if (kind == 0) {
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return 2;
    } else if (kind == 1) {
        h_tcp_pair(sv);
    } else {
        int p[2];
        if (pipe2(p, O_CLOEXEC) != 0) return 2;
        sv[0] = p[1];
        sv[1] = p[0];
    }
    const char *src = h_make_file("sigpipe.src", 100, 8 * MIB);
    int s = open(src, O_RDONLY);
    struct h_reader rd;
    h_reader_start(&rd, sv[1], 256 * 1024); /* reads 256 KiB, then closes its end */
    zc_options o = h_opts();
    o.strategy = strategy;
    o.fallback = false;
    o.chunk_size = 64 * 1024;
    zc_report r = h_report();
    zc_status st = zc_transfer(s, sv[0], &o, &r);
    h_reader_join(&rd);
    int e = zc_last_errno();
    printf("  %s %s: status %d, errno %d, %llu bytes sent: %s\n", kinds[kind],
           zc_strategy_name(strategy), st, e, (unsigned long long)r.bytes, zc_last_error());
    fflush(stdout);
    if (st != ZC_IO) return 3;
    if (e != EPIPE && !(kind != 2 && e == ECONNRESET)) return 4;
    if (r.bytes < 256 * 1024 || r.bytes >= 8 * MIB) return 5;
    /* The thread's mask is as it was, and no SIGPIPE is left pending. */
    sigset_t mask, pending;
    pthread_sigmask(SIG_SETMASK, NULL, &mask);
    sigpending(&pending);
    if (sigismember(&mask, SIGPIPE) || sigismember(&pending, SIGPIPE)) return 6;
    free(rd.buf);
    close(s);
    close(sv[0]);
    return 0;
}

/* Child: the control. A plain write() to a socket whose peer is gone kills it. */
static int child_control(void) {
    signal(SIGPIPE, SIG_DFL);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return 2;
    close(sv[1]);
    if (write(sv[0], "x", 1) < 0) return 3;
    return 4;
}

/* Child: the caller has SIGPIPE blocked already. The call fails with EPIPE and leaves the mask
 * as it was (still blocking SIGPIPE); the pending signal is the caller's to handle. */
static int child_blocked(void) {
    signal(SIGPIPE, SIG_DFL);
    sigset_t pipe_only;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, NULL);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return 2;
    close(sv[1]);
    const char *src = h_make_file("sigpipe.blocked.src", 101, 1000);
    int s = open(src, O_RDONLY);
    zc_report r = h_report();
    zc_status st = zc_transfer(s, sv[0], NULL, &r);
    if (st != ZC_IO || zc_last_errno() != EPIPE) return 3;
    sigset_t mask;
    pthread_sigmask(SIG_SETMASK, NULL, &mask);
    if (!sigismember(&mask, SIGPIPE)) return 4; /* the caller's block was undone */
    close(s);
    close(sv[0]);
    return 0;
}

static void sigpipe_never_reaches_the_host(void) {
    int cs = h_spawn_child("control", "", "");
    CHECK(WIFSIGNALED(cs) && WTERMSIG(cs) == SIGPIPE,
          "the control (a plain write) was not killed by SIGPIPE: %s", h_status_text(cs));

    for (int kind = 0; kind < 3; kind++) {
        for (zc_strategy st = 0; zc_strategy_name(st) != NULL; st++) {
            if (st == ZC_STRATEGY_COPY_FILE_RANGE || st == ZC_STRATEGY_REFLINK ||
                st == ZC_STRATEGY_DIRECT || (st == ZC_STRATEGY_MSG_ZEROCOPY && kind != 1))
                continue; /* they serve no file -> socket/pipe pair */
            char k[16], s[16];
            snprintf(k, sizeof k, "%d", kind);
            snprintf(s, sizeof s, "%u", st);
            int status = h_spawn_child("sigpipe", k, s);
            CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s %s: the child: %s",
                  kinds[kind], zc_strategy_name(st), h_status_text(status));
        }
    }
}

/* The calling thread and whether every progress call came on it, for transfer_parallelism. */
struct caller_check {
    pthread_t caller;
    int calls;
    bool on_caller;
    uint64_t last;
};

static bool on_caller_progress(uint64_t moved, void *user) {
    struct caller_check *c = user;
    c->calls++;
    c->on_caller = c->on_caller && pthread_equal(pthread_self(), c->caller);
    c->last = moved;
    return true;
}

static void transfer_parallelism(void) {
    /* 16 MiB + 12345: split in 2 ranges of at least 8 MiB, whatever the 4 asked. */
    size_t size = 16 * MIB + 12345;
    const char *src = h_make_file("par.src", 31, size);
    const char *dst = h_path("par.dst");
    int s = open(src, O_RDONLY), d = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    REQUIRE(s >= 0 && d >= 0, "open");
    REQUIRE(lseek(s, 100, SEEK_SET) == 100, "lseek");
    struct caller_check check = {pthread_self(), 0, true, 0};
    zc_options o = h_opts();
    o.strategy = ZC_STRATEGY_COPY_FILE_RANGE;
    o.fallback = false;
    o.parallelism = 4;
    o.progress = on_caller_progress;
    o.user = &check;
    zc_report r = h_report();
    CHECK_STATUS(zc_transfer(s, d, &o, &r), ZC_OK);
    CHECK(r.bytes == size - 100, "bytes %llu", (unsigned long long)r.bytes);
    CHECK(r.strategy == ZC_STRATEGY_COPY_FILE_RANGE, "strategy %s", zc_strategy_name(r.strategy));
    CHECK(h_file_is(dst, 31, 100, size - 100), "bytes differ");
    CHECK(lseek(s, 0, SEEK_CUR) == (off_t)size, "src position");
    CHECK(lseek(d, 0, SEEK_CUR) == (off_t)(size - 100), "dst position");
    CHECK(check.calls > 0 && check.on_caller, "%d progress calls, on the caller: %d", check.calls,
          check.on_caller);
    CHECK(check.last == size - 100, "last progress %llu", (unsigned long long)check.last);
    /* More than 64 threads is refused, naming the option. */
    o = h_opts();
    o.parallelism = 65;
    CHECK_FAILS(zc_transfer(s, d, &o, &r), ZC_INVALID, EINVAL);
    CHECK_MSG("parallelism 65");
    close(s);
    close(d);
}

/* ---- the log (zc_log_*) ---------------------------------------------------------------- */

/* Record i of the log tests: log_len(i) bytes of stream i. */
static size_t log_len(uint64_t i) { return (size_t)(i * 37 % 2000); }

static uint64_t le(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* Checks that buf holds exactly the frames of records from..from+count of the tests. */
static bool log_frames_are(const unsigned char *buf, size_t len, uint64_t from, uint64_t count) {
    size_t at = 0;
    for (uint64_t i = from; i < from + count; i++) {
        if (len - at < ZC_LOG_FRAME_HEADER) {
            fprintf(stderr, "  frames end at record %llu\n", (unsigned long long)i);
            return false;
        }
        uint64_t frame = le(buf + at, 4), off = le(buf + at + 8, 8);
        if (off != i || frame != ZC_LOG_FRAME_HEADER + log_len(i) || frame > len - at) {
            fprintf(stderr, "  record %llu: offset %llu, frame %llu\n", (unsigned long long)i,
                    (unsigned long long)off, (unsigned long long)frame);
            return false;
        }
        if (!h_same(buf + at + ZC_LOG_FRAME_HEADER, frame - ZC_LOG_FRAME_HEADER, i, 0, log_len(i)))
            return false;
        /* The library parses it the same way, checking the CRC. */
        uint64_t lo = 0;
        size_t plen = 0, flen = 0;
        if (zc_log_frame(buf + at, len - at, &lo, &plen, &flen) != ZC_OK || lo != i ||
            plen != log_len(i) || flen != frame) {
            fprintf(stderr, "  zc_log_frame at record %llu: %s\n", (unsigned long long)i,
                    zc_last_error());
            return false;
        }
        at += frame;
    }
    if (at != len) fprintf(stderr, "  %zu bytes after the frames\n", len - at);
    return at == len;
}

static zc_log *log_open_small(const char *name, zc_log_flush_policy flush) {
    zc_log_options o;
    if (zc_log_options_default(&o, sizeof o) != ZC_OK) abort();
    o.segment_bytes = 64 * 1024;
    o.flush = flush;
    o.flush_interval_ms = 10;
    zc_log *log = NULL;
    if (zc_log_open(h_path(name), &o, &log) != ZC_OK) fprintf(stderr, "  zc_log_open: %s\n", zc_last_error());
    return log;
}

static bool log_append_records(zc_log *log, uint64_t from, uint64_t to) {
    for (uint64_t i = from; i < to; i++) {
        unsigned char *d = h_data(i, log_len(i));
        uint64_t off = 999999;
        zc_status st = zc_log_append(log, d, log_len(i), &off);
        free(d);
        if (st != ZC_OK || off != i) {
            fprintf(stderr, "  append %llu: status %d, offset %llu: %s\n", (unsigned long long)i,
                    (int)st, (unsigned long long)off, zc_last_error());
            return false;
        }
    }
    return true;
}

/* Sends the whole log to fd in pieces of at most max_bytes; returns the bytes the reports
 * counted, or 0 on a failure. */
static uint64_t log_send_all(zc_log *log, int fd, uint64_t max_bytes) {
    uint64_t from = 0, end = 0, total = 0;
    if (zc_log_next_offset(log, &end) != ZC_OK) return 0;
    while (from < end) {
        uint64_t next = 0;
        zc_report r = h_report();
        if (zc_log_send(log, fd, from, max_bytes, &next, &r) != ZC_OK || next <= from ||
            r.strategy != ZC_STRATEGY_SENDFILE) {
            fprintf(stderr, "  send from %llu: %s\n", (unsigned long long)from, zc_last_error());
            return 0;
        }
        total += r.bytes;
        from = next;
    }
    return total;
}

static void log_options_default(void) {
    zc_log_options o;
    memset(&o, 0xAB, sizeof o);
    errno = 55;
    CHECK_STATUS(zc_log_options_default(&o, sizeof o), ZC_OK);
    CHECK(errno == 55, "errno changed to %d", errno);
    CHECK(o.struct_size == sizeof o, "struct_size %zu", o.struct_size);
    CHECK(o.segment_bytes == 64 * MIB, "segment_bytes %llu", (unsigned long long)o.segment_bytes);
    CHECK(o.flush == ZC_LOG_FLUSH_SYNC, "flush %u", o.flush);
    CHECK(o.flush_bytes == 0 && o.flush_interval_ms == 1000, "async defaults");
    CHECK(o.index_interval_bytes == 4096, "index_interval_bytes %llu",
          (unsigned long long)o.index_interval_bytes);
    CHECK_FAILS(zc_log_options_default(NULL, sizeof o), ZC_NULL_POINTER, EINVAL);
    CHECK_MSG("opts is NULL");
    CHECK_FAILS(zc_log_options_default(&o, 8), ZC_INVALID, EINVAL);
    CHECK_MSG("zc_log_options.struct_size is 8");
}

static void log_append_send_and_reopen(void) {
    zc_log *log = log_open_small("log-a", ZC_LOG_FLUSH_SYNC);
    REQUIRE(log != NULL, "open: %s", zc_last_error());
    CHECK(log_append_records(log, 0, 200), "append");
    /* To a pipe, drained by a thread. */
    int p[2];
    REQUIRE(pipe(p) == 0, "pipe");
    struct h_reader rd;
    h_reader_start(&rd, p[0], 0);
    uint64_t total = log_send_all(log, p[1], 10000);
    close(p[1]);
    h_reader_join(&rd);
    close(p[0]);
    CHECK(total > 0 && total == rd.len, "sent %llu, read %zu", (unsigned long long)total, rd.len);
    CHECK(log_frames_are(rd.buf, rd.len, 0, 200), "pipe bytes");
    free(rd.buf);
    /* To a loopback TCP socket. */
    int t[2];
    h_tcp_pair(t);
    h_reader_start(&rd, t[1], 0);
    total = log_send_all(log, t[0], 1 << 20);
    close(t[0]);
    h_reader_join(&rd);
    close(t[1]);
    CHECK(total == rd.len, "sent %llu, read %zu", (unsigned long long)total, rd.len);
    CHECK(log_frames_are(rd.buf, rd.len, 0, 200), "tcp bytes");
    free(rd.buf);
    /* A budget below one frame moves one; from == end moves nothing. */
    int f = open(h_path("log-a.out"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    REQUIRE(f >= 0, "open");
    uint64_t next = 0;
    zc_report r = h_report();
    CHECK_STATUS(zc_log_send(log, f, 5, 1, &next, &r), ZC_OK);
    CHECK(next == 6 && r.bytes == ZC_LOG_FRAME_HEADER + log_len(5), "next %llu, bytes %llu",
          (unsigned long long)next, (unsigned long long)r.bytes);
    CHECK_STATUS(zc_log_send(log, f, 200, 1 << 20, &next, NULL), ZC_OK);
    CHECK(next == 200, "next %llu", (unsigned long long)next);
    close(f);
    size_t flen = 0;
    unsigned char *fbuf = h_read_file(h_path("log-a.out"), &flen);
    CHECK(fbuf && log_frames_are(fbuf, flen, 5, 1), "the file holds record 5's frame");
    free(fbuf);
    CHECK_STATUS(zc_log_flush(log), ZC_OK);
    CHECK_STATUS(zc_log_close(log), ZC_OK);
    /* Reopened: the records are there and the offsets go on. */
    log = log_open_small("log-a", ZC_LOG_FLUSH_MANUAL);
    REQUIRE(log != NULL, "reopen: %s", zc_last_error());
    uint64_t n = 0;
    CHECK_STATUS(zc_log_next_offset(log, &n), ZC_OK);
    CHECK(n == 200, "next offset %llu", (unsigned long long)n);
    CHECK(log_append_records(log, 200, 220), "append after reopen");
    p[0] = p[1] = -1;
    REQUIRE(pipe(p) == 0, "pipe");
    h_reader_start(&rd, p[0], 0);
    total = log_send_all(log, p[1], 1 << 20);
    close(p[1]);
    h_reader_join(&rd);
    close(p[0]);
    CHECK(log_frames_are(rd.buf, rd.len, 0, 220), "bytes after reopen");
    free(rd.buf);
    CHECK_STATUS(zc_log_close(log), ZC_OK);
}

static void log_async_flush_and_close(void) {
    zc_log *log = log_open_small("log-async", ZC_LOG_FLUSH_ASYNC);
    REQUIRE(log != NULL, "open: %s", zc_last_error());
    CHECK(log_append_records(log, 0, 100), "append");
    usleep(30 * 1000); /* let the 10 ms flusher run at least once (not checked: no timing) */
    CHECK_STATUS(zc_log_flush(log), ZC_OK);
    CHECK(log_append_records(log, 100, 150), "append after flush");
    CHECK_STATUS(zc_log_close(log), ZC_OK); /* joins the thread: valgrind sees no leak */
    log = log_open_small("log-async", ZC_LOG_FLUSH_SYNC);
    REQUIRE(log != NULL, "reopen: %s", zc_last_error());
    uint64_t n = 0;
    CHECK_STATUS(zc_log_next_offset(log, &n), ZC_OK);
    CHECK(n == 150, "next offset %llu", (unsigned long long)n);
    CHECK_STATUS(zc_log_close(log), ZC_OK);
}

static void log_send_nonblocking_and_rest(void) {
    zc_log *log = log_open_small("log-nb", ZC_LOG_FLUSH_MANUAL);
    REQUIRE(log != NULL, "open: %s", zc_last_error());
    CHECK(log_append_records(log, 0, 200), "append");
    int p[2];
    REQUIRE(pipe(p) == 0, "pipe");
    REQUIRE(fcntl(p[1], F_SETPIPE_SZ, 4096) >= 4096, "F_SETPIPE_SZ");
    REQUIRE(fcntl(p[1], F_SETFL, fcntl(p[1], F_GETFL) | O_NONBLOCK) == 0, "O_NONBLOCK");
    /* Nobody reads: the 4 KiB pipe fills and the frames (a 64 KiB segment of them) are cut. */
    uint64_t next = 0, skip = 0;
    zc_report r = h_report();
    CHECK_FAILS(zc_log_send(log, p[1], 0, UINT64_MAX, &next, &r), ZC_IO, EAGAIN);
    CHECK(r.bytes > 0 && r.bytes <= 4096, "moved %llu", (unsigned long long)r.bytes);
    skip = r.bytes;
    struct h_reader rd;
    h_reader_start(&rd, p[0], 0);
    for (;;) {
        struct pollfd pf = {p[1], POLLOUT, 0};
        REQUIRE(poll(&pf, 1, -1) == 1, "poll");
        r = h_report();
        zc_status st = zc_log_send_rest(log, p[1], 0, skip, UINT64_MAX, &next, &r);
        skip += r.bytes;
        if (st == ZC_OK) break;
        REQUIRE(st == ZC_IO && zc_last_errno() == EAGAIN, "send_rest: %s", zc_last_error());
    }
    uint64_t total = 0;
    for (uint64_t i = 0; i < next; i++) total += ZC_LOG_FRAME_HEADER + log_len(i);
    CHECK(next > 0 && next < 200 && skip == total, "next %llu, sent %llu of %llu",
          (unsigned long long)next, (unsigned long long)skip, (unsigned long long)total);
    close(p[1]);
    h_reader_join(&rd);
    close(p[0]);
    CHECK(log_frames_are(rd.buf, rd.len, 0, next), "whole frames arrived");
    free(rd.buf);
    CHECK_STATUS(zc_log_close(log), ZC_OK);
}

/* The bytes of the frames of records from..to of the tests. */
static uint64_t log_frames_len(uint64_t from, uint64_t to) {
    uint64_t n = 0;
    for (uint64_t i = from; i < to; i++) n += ZC_LOG_FRAME_HEADER + log_len(i);
    return n;
}

/* zc_log_send_prepared: the frames zc_log_send_rest sends, through a transfer prepared once to
 * the consumer's fd (a pipe from zc_prepared_to_dst, a socket from zc_prepared_new whose source
 * is left alone), byte-exact across sends and segment rolls; 3 syscalls for a one-record send
 * with the CPU meter off and SIGPIPE ignored (5 at its default), where zc_log_send makes 11 to a
 * pipe, 12 to a socket; a cut send finished with `skip`; the segment named in a fallback reason;
 * bad input refused. */
static void log_send_prepared(void) {
    zc_log *log = log_open_small("log-prep", ZC_LOG_FLUSH_MANUAL);
    REQUIRE(log != NULL, "open: %s", zc_last_error());
    CHECK(log_append_records(log, 0, 200), "append");
    zc_options o = h_opts();
    o.strategy = ZC_STRATEGY_SENDFILE; /* zc_log_send's choice */

    /* To a pipe, prepared to it alone, in pieces of at most 10,000 bytes (64 KiB segments). */
    int p[2];
    REQUIRE(pipe(p) == 0, "pipe");
    struct h_reader rd;
    h_reader_start(&rd, p[0], 0);
    zc_prepared *pp = NULL;
    REQUIRE(zc_prepared_to_dst(p[1], &o, &pp) == ZC_OK && pp != NULL, "to_dst: %s", zc_last_error());
    uint64_t from = 0, total = 0, next = 0;
    int sends = 0;
    while (from < 200) {
        zc_report r = h_report();
        next = 0;
        zc_status st = zc_log_send_prepared(log, pp, from, 0, 10000, &next, &r);
        REQUIRE(st == ZC_OK, "send_prepared from %llu: %s", (unsigned long long)from, zc_last_error());
        CHECK(next > from, "next %llu after %llu", (unsigned long long)next, (unsigned long long)from);
        CHECK(r.bytes == log_frames_len(from, next), "from %llu: bytes %llu, frames %llu",
              (unsigned long long)from, (unsigned long long)r.bytes,
              (unsigned long long)log_frames_len(from, next));
        CHECK(r.strategy == ZC_STRATEGY_SENDFILE, "strategy %d", (int)r.strategy);
        total += r.bytes;
        from = next;
        sends++;
    }
    CHECK(from == 200 && sends > 10, "%d sends ended at %llu", sends, (unsigned long long)from);
    /* The meter off, one record: statx and fcntl of the segment, one sendfile, and (SIGPIPE
     * at its default, as in this program) two pthread_sigmask around it. */
    CHECK_STATUS(zc_prepared_set_cpu_meter(pp, false), ZC_OK);
    zc_report small = h_report();
    CHECK_STATUS(zc_log_send_prepared(log, pp, 5, 0, 1, &next, &small), ZC_OK);
    CHECK(small.syscalls == 5 && next == 6, "syscalls %llu, next %llu",
          (unsigned long long)small.syscalls, (unsigned long long)next);
    CHECK(small.bytes == log_frames_len(5, 6), "bytes %llu", (unsigned long long)small.bytes);
    CHECK(small.user_cpu_ns + small.sys_cpu_ns == 0, "meter off: CPU measured");
    zc_report plain = h_report();
    CHECK_STATUS(zc_log_send(log, p[1], 5, 1, &next, &plain), ZC_OK);
    CHECK(plain.syscalls >= small.syscalls + 6, "zc_log_send: %llu syscalls",
          (unsigned long long)plain.syscalls);
    zc_prepared_free(pp);
    close(p[1]);
    h_reader_join(&rd);
    close(p[0]);
    uint64_t five = log_frames_len(5, 6);
    CHECK(rd.len == total + 2 * five, "read %zu, sent %llu", rd.len, (unsigned long long)(total + 2 * five));
    if (rd.len == total + 2 * five) {
        CHECK(log_frames_are(rd.buf, total, 0, 200), "pipe bytes");
        CHECK(log_frames_are(rd.buf + total, five, 5, 1), "record 5 by send_prepared");
        CHECK(log_frames_are(rd.buf + total + five, five, 5, 1), "record 5 by zc_log_send");
    }
    free(rd.buf);

    /* To a socket, through a zc_prepared_new transfer: its destination only. Prepared with
     * SIGPIPE ignored (as Rust's runtime and Python set it), its sends block no signal. */
    const char *src = h_make_file("log-prep.src", 51, 4096);
    int s = open(src, O_RDONLY);
    REQUIRE(s >= 0, "open");
    int t[2];
    h_tcp_pair(t);
    h_reader_start(&rd, t[1], 0);
    struct sigaction ign, was;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    REQUIRE(sigaction(SIGPIPE, &ign, &was) == 0, "sigaction");
    zc_status made = zc_prepared_new(s, t[0], &o, &pp);
    REQUIRE(sigaction(SIGPIPE, &was, NULL) == 0, "sigaction");
    REQUIRE(made == ZC_OK && pp != NULL, "new: %s", zc_last_error());
    total = 0;
    for (from = 0; from < 200; from = next) {
        zc_report r = h_report();
        zc_status st = zc_log_send_prepared(log, pp, from, 0, 1 << 20, &next, &r);
        REQUIRE(st == ZC_OK, "send_prepared from %llu: %s", (unsigned long long)from, zc_last_error());
        total += r.bytes;
    }
    CHECK_STATUS(zc_prepared_set_cpu_meter(pp, false), ZC_OK);
    small = h_report();
    CHECK_STATUS(zc_log_send_prepared(log, pp, 7, 0, 1, &next, &small), ZC_OK);
    CHECK(small.syscalls == 3 && next == 8, "socket: syscalls %llu, next %llu",
          (unsigned long long)small.syscalls, (unsigned long long)next);
    plain = h_report();
    CHECK_STATUS(zc_log_send(log, t[0], 7, 1, &next, &plain), ZC_OK);
    CHECK(plain.syscalls >= small.syscalls + 6, "zc_log_send to the socket: %llu syscalls",
          (unsigned long long)plain.syscalls);
    zc_prepared_free(pp);
    CHECK(lseek(s, 0, SEEK_CUR) == 0, "the prepared source moved");
    close(s);
    close(t[0]);
    h_reader_join(&rd);
    close(t[1]);
    uint64_t seven = log_frames_len(7, 8);
    CHECK(rd.len == total + 2 * seven && total == log_frames_len(0, 200), "read %zu, sent %llu",
          rd.len, (unsigned long long)(total + 2 * seven));
    if (rd.len == total + 2 * seven) {
        CHECK(log_frames_are(rd.buf, total, 0, 200), "socket bytes");
        CHECK(log_frames_are(rd.buf + total, seven, 7, 1), "record 7 by send_prepared");
        CHECK(log_frames_are(rd.buf + total + seven, seven, 7, 1), "record 7 by zc_log_send");
    }
    free(rd.buf);

    /* A non-blocking 4 KiB pipe nobody reads: the segment's frames are cut (EAGAIN); sends with
     * skip = the bytes so far finish them once it drains. */
    REQUIRE(pipe(p) == 0, "pipe");
    REQUIRE(fcntl(p[1], F_SETPIPE_SZ, 4096) >= 4096, "F_SETPIPE_SZ");
    REQUIRE(fcntl(p[1], F_SETFL, fcntl(p[1], F_GETFL) | O_NONBLOCK) == 0, "O_NONBLOCK");
    REQUIRE(zc_prepared_to_dst(p[1], &o, &pp) == ZC_OK, "to_dst: %s", zc_last_error());
    zc_report r = h_report();
    next = 42;
    CHECK_FAILS(zc_log_send_prepared(log, pp, 0, 0, UINT64_MAX, &next, &r), ZC_IO, EAGAIN);
    CHECK(r.bytes > 0 && r.bytes <= 4096 && next == 42, "moved %llu, next %llu",
          (unsigned long long)r.bytes, (unsigned long long)next);
    uint64_t skip = r.bytes;
    h_reader_start(&rd, p[0], 0);
    for (;;) {
        struct pollfd pf = {p[1], POLLOUT, 0};
        REQUIRE(poll(&pf, 1, -1) == 1, "poll");
        r = h_report();
        zc_status st = zc_log_send_prepared(log, pp, 0, skip, UINT64_MAX, &next, &r);
        skip += r.bytes;
        if (st == ZC_OK) break;
        REQUIRE(st == ZC_IO && zc_last_errno() == EAGAIN, "send_prepared: %s", zc_last_error());
    }
    CHECK(next > 0 && next < 200 && skip == log_frames_len(0, next), "next %llu, sent %llu",
          (unsigned long long)next, (unsigned long long)skip);

    /* Bad input: NULL pointers (the report written empty, next untouched), a skip past the
     * frames. */
    uint64_t kept = 42;
    r = h_report();
    CHECK_FAILS(zc_log_send_prepared(NULL, pp, 0, 0, 100, &kept, &r), ZC_NULL_POINTER, EINVAL);
    CHECK_MSG("log is NULL");
    CHECK(r.bytes == 0 && kept == 42, "report written empty, next untouched");
    r = h_report();
    CHECK_FAILS(zc_log_send_prepared(log, NULL, 0, 0, 100, &kept, &r), ZC_NULL_POINTER, EINVAL);
    CHECK_MSG("p is NULL");
    CHECK(r.bytes == 0 && kept == 42, "report written empty, next untouched");
    CHECK_FAILS(zc_log_send_prepared(log, pp, 0, 1 << 20, 100, &kept, &r), ZC_INVALID, EINVAL);
    CHECK_MSG("skip 1048576 is past the end");
    CHECK_FAILS(zc_log_send_prepared(log, pp, 201, 0, 100, &kept, &r), ZC_INVALID, EINVAL);
    CHECK_MSG("offset 201 is past the end");
    CHECK(kept == 42, "next written on failure");
    zc_prepared_free(pp);
    close(p[1]);
    h_reader_join(&rd);
    close(p[0]);
    CHECK(log_frames_are(rd.buf, rd.len, 0, next), "whole frames arrived");
    free(rd.buf);

    /* To a file, reflink asked for: where the filesystem refuses, the reason names the segment
     * by its path. */
    int f = open(h_path("log-prep.out"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    REQUIRE(f >= 0, "open");
    o.strategy = ZC_STRATEGY_REFLINK;
    REQUIRE(zc_prepared_to_dst(f, &o, &pp) == ZC_OK, "to_dst: %s", zc_last_error());
    r = h_report();
    CHECK_STATUS(zc_log_send_prepared(log, pp, 0, 0, UINT64_MAX, &next, &r), ZC_OK);
    char seg[4096];
    snprintf(seg, sizeof seg, "%s/%020d.log", h_path("log-prep"), 0);
    if (r.strategy == ZC_STRATEGY_REFLINK) {
        printf("  SKIP the segment named in a fallback reason: this filesystem clones ranges\n");
    } else {
        CHECK(r.fallbacks_len > 0 && strstr(r.fallbacks[0].reason, seg) != NULL,
              "%zu fallbacks, the first: %s", r.fallbacks_len, r.fallbacks_len ? r.fallbacks[0].reason : "");
    }
    zc_prepared_free(pp);
    close(f);
    size_t flen = 0;
    unsigned char *fbuf = h_read_file(h_path("log-prep.out"), &flen);
    CHECK(fbuf && log_frames_are(fbuf, flen, 0, next), "the file holds records 0..%llu",
          (unsigned long long)next);
    free(fbuf);
    CHECK_STATUS(zc_log_close(log), ZC_OK);
}

/* The base offsets of the segments of log_open_small's 64 KiB for records 0..n: a record
 * whose frame does not fit in what is left of a segment begins the next one. */
static size_t log_expected_bases(uint64_t n, uint64_t *bases, size_t cap) {
    size_t count = 1;
    uint64_t used = 0;
    bases[0] = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t frame = ZC_LOG_FRAME_HEADER + log_len(i);
        if (used + frame > 64 * 1024) {
            if (count < cap) bases[count] = i;
            count++;
            used = 0;
        }
        used += frame;
    }
    return count;
}

static void log_read_segments_options_and_flushes(void) {
    zc_log *log = log_open_small("log-r", ZC_LOG_FLUSH_MANUAL);
    REQUIRE(log != NULL, "open: %s", zc_last_error());
    CHECK(log_append_records(log, 0, 200), "append");

    /* zc_log_read: payloads back to back, stopping before the first that overflows buf. */
    size_t cap = 64 * 1024, lens[300], count = 999;
    unsigned char *buf = malloc(cap);
    REQUIRE(buf != NULL, "malloc");
    uint64_t from = 0;
    while (from < 200) {
        count = 999;
        CHECK_STATUS(zc_log_read(log, from, 300, buf, cap, lens, &count), ZC_OK);
        REQUIRE(count > 0, "no progress from %llu", (unsigned long long)from);
        size_t at = 0, fits = 0;
        uint64_t want_count = 0;
        for (uint64_t i = from; i < 200 && fits + log_len(i) <= cap; i++) {
            fits += log_len(i);
            want_count++;
        }
        CHECK(count == want_count, "from %llu: count %zu, want %llu", (unsigned long long)from, count,
              (unsigned long long)want_count);
        for (size_t k = 0; k < count; k++) {
            uint64_t i = from + k;
            CHECK(lens[k] == log_len(i), "record %llu: length %zu", (unsigned long long)i, lens[k]);
            CHECK(h_same(buf + at, lens[k], i, 0, log_len(i)), "record %llu bytes", (unsigned long long)i);
            at += lens[k];
        }
        from += count;
    }
    CHECK(from == 200, "read %llu records", (unsigned long long)from);
    /* A window of 3 records; the empty record 0 with no buffer at all. */
    CHECK_STATUS(zc_log_read(log, 150, 3, buf, cap, lens, &count), ZC_OK);
    CHECK(count == 3 && lens[0] == log_len(150) && lens[2] == log_len(152), "window: %zu", count);
    CHECK(h_same(buf, lens[0], 150, 0, log_len(150)), "record 150");
    CHECK_STATUS(zc_log_read(log, 0, 1, NULL, 0, lens, &count), ZC_OK);
    CHECK(count == 1 && lens[0] == 0, "record 0: count %zu, length %zu", count, lens[0]);
    /* The end: nothing; past it: an error; max_records 0: nothing, lens may be NULL. */
    count = 999;
    CHECK_STATUS(zc_log_read(log, 200, 5, buf, cap, lens, &count), ZC_OK);
    CHECK(count == 0, "at the end: count %zu", count);
    count = 999;
    CHECK_STATUS(zc_log_read(log, 7, 0, NULL, 0, NULL, &count), ZC_OK);
    CHECK(count == 0, "max_records 0: count %zu", count);
    count = 999;
    CHECK_FAILS(zc_log_read(log, 201, 1, buf, cap, lens, &count), ZC_INVALID, EINVAL);
    CHECK_MSG("offset 201 is past the end of the log");
    CHECK(count == 0, "past the end: count %zu", count);
    /* A buffer too small for the first record: ENOBUFS, and lens[0] says what it needs. */
    count = 999;
    lens[0] = 0;
    CHECK_FAILS(zc_log_read(log, 1, 5, buf, 10, lens, &count), ZC_INVALID, ENOBUFS);
    CHECK_MSG("record 1 has 37 bytes, more than buf_len 10");
    CHECK(count == 0 && lens[0] == 37, "count %zu, lens[0] %zu", count, lens[0]);
    /* Room for records 1 and 2 (37 + 74 bytes) but not 3: two, then the caller goes on. */
    CHECK_STATUS(zc_log_read(log, 1, 5, buf, 37 + 74 + 110, lens, &count), ZC_OK);
    CHECK(count == 2 && lens[0] == 37 && lens[1] == 74, "count %zu", count);
    /* NULL pointers. */
    CHECK_FAILS(zc_log_read(NULL, 0, 1, buf, cap, lens, &count), ZC_NULL_POINTER, EINVAL);
    CHECK_MSG("log is NULL");
    CHECK_FAILS(zc_log_read(log, 0, 1, buf, cap, lens, NULL), ZC_NULL_POINTER, EINVAL);
    CHECK_MSG("count is NULL");
    CHECK_FAILS(zc_log_read(log, 0, 1, buf, cap, NULL, &count), ZC_NULL_POINTER, EINVAL);
    CHECK_MSG("lens (with max_records > 0) is NULL");
    CHECK_FAILS(zc_log_read(log, 0, 1, NULL, 100, lens, &count), ZC_NULL_POINTER, EINVAL);
    CHECK_MSG("buf (with buf_len > 0) is NULL");
    free(buf);

    /* zc_log_segments: the count alone, all of them, and a short array. */
    uint64_t want[64], bases[64];
    size_t nwant = log_expected_bases(200, want, 64);
    REQUIRE(nwant >= 3 && nwant <= 64, "the test needs several segments: %zu", nwant);
    count = 0;
    CHECK_STATUS(zc_log_segments(log, NULL, 0, &count), ZC_OK);
    CHECK(count == nwant, "count %zu, want %zu", count, nwant);
    memset(bases, 0xEE, sizeof bases);
    CHECK_STATUS(zc_log_segments(log, bases, 64, &count), ZC_OK);
    CHECK(count == nwant && memcmp(bases, want, nwant * sizeof *bases) == 0, "the bases differ");
    memset(bases, 0xEE, sizeof bases);
    CHECK_STATUS(zc_log_segments(log, bases, 1, &count), ZC_OK);
    CHECK(count == nwant && bases[0] == 0 && bases[1] == 0xEEEEEEEEEEEEEEEEull, "short array");
    CHECK_FAILS(zc_log_segments(NULL, bases, 64, &count), ZC_NULL_POINTER, EINVAL);
    CHECK_MSG("log is NULL");
    CHECK_FAILS(zc_log_segments(log, bases, 64, NULL), ZC_NULL_POINTER, EINVAL);
    CHECK_MSG("count is NULL");
    CHECK_FAILS(zc_log_segments(log, NULL, 3, &count), ZC_NULL_POINTER, EINVAL);
    CHECK_MSG("bases (with bases_len > 0) is NULL");

    /* zc_log_get_options: what log_open_small gave (manual keeps the default interval). */
    zc_log_options o;
    memset(&o, 0xAB, sizeof o);
    o.struct_size = sizeof o;
    CHECK_STATUS(zc_log_get_options(log, &o), ZC_OK);
    CHECK(o.struct_size == sizeof o && o.segment_bytes == 64 * 1024 && o.flush == ZC_LOG_FLUSH_MANUAL &&
              o.flush_bytes == 0 && o.flush_interval_ms == 1000 && o.index_interval_bytes == 4096,
          "options %llu %u %llu %llu %llu", (unsigned long long)o.segment_bytes, o.flush,
          (unsigned long long)o.flush_bytes, (unsigned long long)o.flush_interval_ms,
          (unsigned long long)o.index_interval_bytes);
    CHECK_FAILS(zc_log_get_options(NULL, &o), ZC_NULL_POINTER, EINVAL);
    CHECK_MSG("log is NULL");
    CHECK_FAILS(zc_log_get_options(log, NULL), ZC_NULL_POINTER, EINVAL);
    CHECK_MSG("out is NULL");
    o.struct_size = 8;
    CHECK_FAILS(zc_log_get_options(log, &o), ZC_INVALID, EINVAL);
    CHECK_MSG("zc_log_options.struct_size is 8");

    /* zc_log_background_flushes: 0 without the async thread. */
    uint64_t flushes = 99;
    CHECK_STATUS(zc_log_background_flushes(log, &flushes), ZC_OK);
    CHECK(flushes == 0, "manual: %llu background flushes", (unsigned long long)flushes);
    CHECK_FAILS(zc_log_background_flushes(NULL, &flushes), ZC_NULL_POINTER, EINVAL);
    CHECK_MSG("log is NULL");
    CHECK_FAILS(zc_log_background_flushes(log, NULL), ZC_NULL_POINTER, EINVAL);
    CHECK_MSG("out is NULL");
    CHECK_STATUS(zc_log_close(log), ZC_OK);

    /* Async with a 10 ms timer: its options, and the thread's flushes (waited for, 10 s at
     * most: no timing is checked). */
    log = log_open_small("log-r2", ZC_LOG_FLUSH_ASYNC);
    REQUIRE(log != NULL, "open: %s", zc_last_error());
    o.struct_size = sizeof o;
    CHECK_STATUS(zc_log_get_options(log, &o), ZC_OK);
    CHECK(o.flush == ZC_LOG_FLUSH_ASYNC && o.flush_interval_ms == 10 && o.flush_bytes == 0, "async options");
    CHECK(log_append_records(log, 0, 50), "append");
    flushes = 0;
    for (int i = 0; i < 1000 && flushes == 0; i++) {
        CHECK_STATUS(zc_log_background_flushes(log, &flushes), ZC_OK);
        if (flushes == 0) usleep(10 * 1000);
    }
    CHECK(flushes > 0, "no background flush within 10 s");
    CHECK_STATUS(zc_log_close(log), ZC_OK);
}

/* zc_log_open(dir, opts, &l) failed with status `st`: NULL written into l, the errno and a
 * message containing `needle`. */
static char not_a_log;
#define CHECK_OPEN_FAILS(dir, opts, st, err, needle)                                            \
    do {                                                                                        \
        errno = 0;                                                                              \
        zc_log *l_ = (zc_log *)(void *)&not_a_log; /* must be overwritten with NULL */          \
        zc_status st_ = zc_log_open((dir), (opts), &l_);                                        \
        CHECK(st_ == (st), "zc_log_open(%s, %s): status %d, expected %d", #dir, #opts, (int)st_, \
              (int)(st));                                                                       \
        CHECK(l_ == NULL, "zc_log_open(%s, %s) left %p, not NULL", #dir, #opts, (void *)l_);   \
        if (st_ == ZC_OK && l_) zc_log_close(l_);                                               \
        CHECK(zc_last_errno() == (err) && errno == (err), "errno %d / %d, expected %d",        \
              zc_last_errno(), errno, (int)(err));                                              \
        CHECK_MSG(needle);                                                                      \
    } while (0)

static void log_bad_input(void) {
    zc_log_options o;
    REQUIRE(zc_log_options_default(&o, sizeof o) == ZC_OK, "defaults");
    CHECK_OPEN_FAILS(NULL, NULL, ZC_NULL_POINTER, EINVAL, "dir is NULL");
    CHECK_FAILS(zc_log_open(h_path("log-bad"), NULL, NULL), ZC_NULL_POINTER, EINVAL);
    CHECK_MSG("out is NULL");
    o.segment_bytes = 100;
    CHECK_OPEN_FAILS(h_path("log-bad"), &o, ZC_INVALID, EINVAL, "segment_bytes 100");
    o.segment_bytes = 0;
    CHECK_OPEN_FAILS(h_path("log-bad"), &o, ZC_INVALID, EINVAL, "segment_bytes 0");
    zc_log_options_default(&o, sizeof o);
    o.flush = 9;
    CHECK_OPEN_FAILS(h_path("log-bad"), &o, ZC_INVALID, EINVAL, "zc_log_options.flush is 9");
    o.flush = ZC_LOG_FLUSH_ASYNC;
    o.flush_interval_ms = 0;
    CHECK_OPEN_FAILS(h_path("log-bad"), &o, ZC_INVALID, EINVAL, "async needs");
    o.struct_size = 0;
    CHECK_OPEN_FAILS(h_path("log-bad"), &o, ZC_INVALID, EINVAL, "struct_size is 0");

    zc_log_options_default(&o, sizeof o);
    o.segment_bytes = 4096;
    zc_log *log = NULL;
    REQUIRE(zc_log_open(h_path("log-bad"), &o, &log) == ZC_OK && log != NULL, "open: %s", zc_last_error());
    CHECK_OPEN_FAILS(h_path("log-bad"), &o, ZC_IO, EWOULDBLOCK, "already open for writing");
    CHECK_MSG(h_path("log-bad"));

    uint64_t off = 7;
    CHECK_FAILS(zc_log_append(NULL, "x", 1, &off), ZC_NULL_POINTER, EINVAL);
    CHECK_MSG("log is NULL");
    CHECK_FAILS(zc_log_append(log, NULL, 5, &off), ZC_NULL_POINTER, EINVAL);
    CHECK_MSG("data");
    CHECK(off == 7, "offset written on failure");
    CHECK_STATUS(zc_log_append(log, NULL, 0, &off), ZC_OK); /* an empty record */
    CHECK(off == 0, "offset %llu", (unsigned long long)off);
    CHECK_STATUS(zc_log_append(log, "abc", 3, NULL), ZC_OK);
    static unsigned char big[4096];
    CHECK_FAILS(zc_log_append(log, big, 4081, &off), ZC_INVALID, EINVAL);
    CHECK_MSG("4081 bytes");
    CHECK_STATUS(zc_log_append(log, big, 4080, &off), ZC_OK); /* rolls to a fresh segment */
    CHECK(off == 2, "offset %llu", (unsigned long long)off);

    CHECK_FAILS(zc_log_flush(NULL), ZC_NULL_POINTER, EINVAL);
    uint64_t n = 0;
    CHECK_FAILS(zc_log_next_offset(NULL, &n), ZC_NULL_POINTER, EINVAL);
    CHECK_FAILS(zc_log_next_offset(log, NULL), ZC_NULL_POINTER, EINVAL);

    zc_report r = h_report();
    uint64_t next = 42;
    int p[2];
    REQUIRE(pipe(p) == 0, "pipe");
    CHECK_FAILS(zc_log_send(NULL, p[1], 0, 100, &next, &r), ZC_NULL_POINTER, EINVAL);
    CHECK(r.bytes == 0 && next == 42, "report written empty, next untouched");
    r = h_report();
    CHECK_FAILS(zc_log_send_rest(NULL, p[1], 0, 0, 100, &next, &r), ZC_NULL_POINTER, EINVAL);
    CHECK(r.bytes == 0 && next == 42, "report written empty, next untouched");
    CHECK_FAILS(zc_log_send_rest(log, p[1], 0, 1 << 20, 100, &next, &r), ZC_INVALID, EINVAL);
    CHECK_MSG("skip 1048576 is past the end");
    r = h_report();
    CHECK_FAILS(zc_log_send(log, -1, 0, 100, &next, &r), ZC_IO, EBADF);
    CHECK(r.bytes == 0, "bytes %llu", (unsigned long long)r.bytes);
    CHECK_FAILS(zc_log_send(log, p[1], 4, 100, &next, &r), ZC_INVALID, EINVAL);
    CHECK_MSG("offset 4 is past the end");
    zc_report small_report = h_report();
    small_report.struct_size = 3;
    CHECK_FAILS(zc_log_send(log, p[1], 0, 100, &next, &small_report), ZC_INVALID, EINVAL);
    /* A reader that went away: EPIPE, and no SIGPIPE kills the test. */
    close(p[0]);
    CHECK_FAILS(zc_log_send(log, p[1], 0, 100, &next, &r), ZC_IO, EPIPE);
    close(p[1]);
    CHECK(next == 42, "next written on failure");

    CHECK_STATUS(zc_log_close(log), ZC_OK);
    CHECK_STATUS(zc_log_close(NULL), ZC_OK);

    /* zc_log_frame: a frame cut short wants more bytes; a damaged one is EBADMSG. */
    unsigned char fr[32];
    memset(fr, 0, sizeof fr);
    fr[0] = 20; /* frame_len 20: a 4-byte payload */
    uint64_t fo = 9;
    size_t pl = 9, fl = 9;
    CHECK_STATUS(zc_log_frame(fr, 19, &fo, &pl, &fl), ZC_OK);
    CHECK(fl == 0, "a cut frame: frame_len %zu", fl);
    CHECK_STATUS(zc_log_frame(NULL, 0, &fo, &pl, &fl), ZC_OK);
    CHECK(fl == 0, "nothing: frame_len %zu", fl);
    CHECK_FAILS(zc_log_frame(fr, 20, &fo, &pl, &fl), ZC_INVALID, EBADMSG); /* crc 0 is wrong */
    CHECK_MSG("CRC-32C");
    fr[0] = 3;
    CHECK_FAILS(zc_log_frame(fr, 20, &fo, &pl, &fl), ZC_INVALID, EBADMSG);
    CHECK_MSG("less than its 16-byte header");
    CHECK_FAILS(zc_log_frame(NULL, 5, &fo, &pl, &fl), ZC_NULL_POINTER, EINVAL);
    CHECK_FAILS(zc_log_frame(fr, 20, NULL, &pl, &fl), ZC_NULL_POINTER, EINVAL);
    CHECK_FAILS(zc_log_frame(fr, 20, &fo, NULL, &fl), ZC_NULL_POINTER, EINVAL);
    CHECK_FAILS(zc_log_frame(fr, 20, &fo, &pl, NULL), ZC_NULL_POINTER, EINVAL);
    CHECK_MSG("frame_len is NULL");
}

static void sigpipe_with_sigpipe_already_blocked(void) {
    int status = h_spawn_child("blocked", "", "");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child: %s", h_status_text(status));
}

static int child_main(int argc, char **argv) {
    if (argc >= 5 && strcmp(argv[2], "sigpipe") == 0)
        return child_sigpipe(atoi(argv[3]), (zc_strategy)atoi(argv[4]));
    if (argc >= 3 && strcmp(argv[2], "control") == 0) return child_control();
    if (argc >= 3 && strcmp(argv[2], "blocked") == 0) return child_blocked();
    if (argc >= 4 && strcmp(argv[2], "lock_limit") == 0) return child_lock_limit(argv[3]);
    fprintf(stderr, "unknown child %s\n", argc >= 3 ? argv[2] : "");
    return 2;
}

/* ---- whole trees ------------------------------------------------------------------------ */

/* Runs a shell command; true when it exits 0. */
static bool sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static bool sh(const char *fmt, ...) {
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return system(cmd) == 0;
}

/* A small tree with every kind of entry: files (empty, 100 KiB, sparse), nested directories,
 * a relative and a dangling symlink, a hard link, a FIFO, odd modes, nanosecond times. */
static void make_tree(const char *root) {
    bool sh_ok1 = sh("set -e; mkdir -p '%s/a/b'; cd '%s'; : > empty; head -c 100000 /dev/urandom > a/b/f;"
             "truncate -s 4M sparse; printf tail >> sparse; ln a/b/f a/hard; ln -s b/f a/rel;"
             "ln -s nowhere dangling; mkfifo fifo; chmod 600 a/b/f; chmod 2755 a;"
             "touch -h -d '2020-01-02 03:04:05.123456789' a/rel fifo empty a/b/f a/b a",
             root, root);
    CHECK(sh_ok1, "building the tree");
}

/* The listing `find` prints of a tree: type, mode, size, mtime (ns), link target, link
 * count, owner, for every entry, sorted. */
static bool same_listing(const char *a, const char *b) {
    return sh("cd '%s' && find . -printf '%%y %%m %%s %%T@ %%l %%n %%U %%G %%p\\n' | sort > '%s.list' &&"
              "cd '%s' && find . -printf '%%y %%m %%s %%T@ %%l %%n %%U %%G %%p\\n' | sort > '%s.list' &&"
              "cmp -s '%s.list' '%s.list' && diff -r --no-dereference -x fifo '%s' '%s' >/dev/null",
              a, a, b, b, a, b, a, b);
}

static bool tree_progress_calls(uint64_t bytes, uint64_t files, void *user) {
    uint64_t *seen = user;
    seen[0] = bytes;
    seen[1] = files;
    seen[2]++;
    return true;
}

static bool tree_progress_stop(uint64_t bytes, uint64_t files, void *user) {
    (void)bytes;
    (void)files;
    int *calls = user;
    return ++*calls < 2;
}

static void copy_tree_matches_cp_a(void) {
    const char *src = h_path("tree.src");
    make_tree(src);
    bool sh_ok1 = sh("cp -a '%s' '%s'", src, h_path("tree.cp"));
    REQUIRE(sh_ok1, "cp -a");
    zc_tree_options o;
    CHECK_STATUS(zc_tree_options_default(&o, sizeof o), ZC_OK);
    CHECK(o.symlinks && !o.dirs_exist_ok && o.workers == 0, "defaults");
    uint64_t seen[3] = {0, 0, 0};
    o.progress = tree_progress_calls;
    o.user = seen;
    zc_tree_report r = {.struct_size = sizeof r};
    CHECK_STATUS(zc_copy_tree(src, h_path("tree.ours"), &o, &r), ZC_OK);
    CHECK(r.files == 3 && r.directories == 3 && r.symlinks == 2 && r.specials == 1,
          "files %llu dirs %llu symlinks %llu specials %llu", (unsigned long long)r.files,
          (unsigned long long)r.directories, (unsigned long long)r.symlinks,
          (unsigned long long)r.specials);
    CHECK(r.hard_links == 1 && r.errors == 0, "hard links %llu", (unsigned long long)r.hard_links);
    CHECK(r.bytes == 100000 + 4 * 1048576 + 4, "bytes %llu", (unsigned long long)r.bytes);
    CHECK(seen[2] >= 1 && seen[0] == r.bytes && seen[1] == r.files, "the last progress call has the totals");
    CHECK(same_listing(h_path("tree.cp"), h_path("tree.ours")), "the copy matches cp -a's");
    /* NULL options and report: the defaults. */
    CHECK_STATUS(zc_copy_tree(src, h_path("tree.ours2"), NULL, NULL), ZC_OK);
    CHECK(same_listing(h_path("tree.cp"), h_path("tree.ours2")), "the copy matches cp -a's");
}

static void copy_tree_errors(void) {
    const char *src = h_path("treerr.src");
    make_tree(src);
    zc_tree_report r = {.struct_size = sizeof r};
    /* NULL paths; a destination that exists. */
    CHECK_FAILS(zc_copy_tree(NULL, "x", NULL, &r), ZC_NULL_POINTER, EINVAL);
    CHECK_FAILS(zc_copy_tree(src, NULL, NULL, NULL), ZC_NULL_POINTER, EINVAL);
    CHECK_FAILS(zc_tree_options_default(NULL, sizeof(zc_tree_options)), ZC_NULL_POINTER, EINVAL);
    bool sh_ok2 = sh("mkdir -p '%s'", h_path("treerr.exists"));
    REQUIRE(sh_ok2, "mkdir");
    CHECK_FAILS(zc_copy_tree(src, h_path("treerr.exists"), NULL, &r), ZC_IO, EEXIST);
    CHECK_MSG("dirs_exist_ok");
    zc_tree_options o;
    zc_tree_options_default(&o, sizeof o);
    o.dirs_exist_ok = true;
    CHECK_STATUS(zc_copy_tree(src, h_path("treerr.exists"), &o, &r), ZC_OK);
    /* Collected errors: the FIFO refused, the dangling symlink followed. */
    zc_tree_options_default(&o, sizeof o);
    o.specials = ZC_SPECIALS_ERROR;
    o.symlinks = false;
    o.errors = ZC_TREE_ERRORS_COLLECT;
    CHECK_STATUS(zc_copy_tree(src, h_path("treerr.collect"), &o, &r), ZC_INVALID);
    CHECK_MSG("2 entries failed");
    CHECK_MSG("fifo");
    CHECK_MSG("dangling");
    CHECK(r.errors == 2 && r.files == 3, "errors %llu files %llu", (unsigned long long)r.errors,
          (unsigned long long)r.files);
    /* Bad enum values and struct sizes. */
    zc_tree_options_default(&o, sizeof o);
    o.specials = 7;
    CHECK_FAILS(zc_copy_tree(src, h_path("treerr.bad"), &o, &r), ZC_INVALID, EINVAL);
    CHECK_MSG("zc_specials");
    o.specials = ZC_SPECIALS_RECREATE;
    o.struct_size = 3;
    CHECK_FAILS(zc_copy_tree(src, h_path("treerr.bad"), &o, &r), ZC_INVALID, EINVAL);
    /* Per-file offsets make no sense for a tree. */
    zc_tree_options_default(&o, sizeof o);
    zc_options t;
    zc_options_default(&t, sizeof t);
    t.has_len = true;
    o.transfer = &t;
    CHECK_FAILS(zc_copy_tree(src, h_path("treerr.bad"), &o, &r), ZC_INVALID, EINVAL);
    /* A stop from the progress callback: ZC_CANCELLED, no half-written file. */
    bool sh_ok3 = sh("set -e; mkdir -p '%s'; for i in 1 2 3 4; do truncate -s 64M '%s'/big$i; done",
               h_path("treerr.big"), h_path("treerr.big"));
    REQUIRE(sh_ok3, "big files");
    zc_tree_options_default(&o, sizeof o);
    zc_options_default(&t, sizeof t);
    t.strategy = ZC_STRATEGY_READ_WRITE;
    t.chunk_size = 4096;
    t.sparse = ZC_SPARSE_WRITE_ZEROS;
    o.transfer = &t;
    o.workers = 2;
    int calls = 0;
    o.progress = tree_progress_stop;
    o.user = &calls;
    CHECK_FAILS(zc_copy_tree(h_path("treerr.big"), h_path("treerr.stopped"), &o, &r), ZC_CANCELLED,
                ECANCELED);
    CHECK(r.files < 4, "stopped before the end: %llu files", (unsigned long long)r.files);
    bool no_temp = !sh("ls -a '%s' | grep -q zcopy-", h_path("treerr.stopped"));
    CHECK(no_temp, "a temporary file is left");
    bool whole = sh("cd '%s' && for f in *; do [ \"$f\" = '*' ] || cmp -s \"$f\" '%s'/\"$f\" || exit 1; done",
             h_path("treerr.stopped"), h_path("treerr.big"));
    CHECK(whole, "every file there is whole");
}

int main(int argc, char **argv) {
    static const struct h_test tests[] = {
        TEST(version),
        TEST(strategy_names),
        TEST(strategy_from_name_bad_input),
        TEST(last_error_is_per_thread),
        TEST(options_default),
        TEST(options_default_bad_input),
        TEST(options_from_a_newer_header),
        TEST(options_bad_struct_size),
        TEST(options_bad_strategy),
        TEST(transfer_file_to_file_every_strategy),
        TEST(transfer_report_fields),
        TEST(transfer_fallbacks_are_reported),
        TEST(transfer_offsets_and_len),
        TEST(transfer_buffered_sends_read_ahead_first),
        TEST(transfer_null_opts_and_report),
        TEST(transfer_report_bad_struct_size),
        TEST(transfer_progress_and_stop),
        TEST(transfer_cancel_flag),
        TEST(prepared_transfer_runs),
        TEST(prepared_to_dst_runs_from_each_file),
        TEST(prepared_runs_survive_the_callers_close),
        TEST(transfer_file_to_pipe_and_back),
        TEST(transfer_sockets),
        TEST(transfer_dev_zero_and_null),
        TEST(transfer_nonblocking_would_block),
        TEST(transfer_bad_fds),
        TEST(copy_file),
        TEST(copy_file_permissions_follow_cp),
        TEST(copy_file_bad_input),
        TEST(copy_file_special_files),
        TEST(copy_tree_matches_cp_a),
        TEST(copy_tree_errors),
        TEST(transfer_sizeless_sources),
        TEST(report_memory_filesystems_cost_no_dma),
        TEST(probe),
        TEST(options_from_an_older_header),
        TEST(options_cache_sync_sparse_direct),
        TEST(transfer_parallelism),
        TEST(transfer_msg_zerocopy_over_tcp),
        TEST(page_cache),
        TEST(auto_choice_is_what_transfer_runs),
        TEST(files_walks_a_tree),
        TEST(lock_keeps_pages_resident),
        TEST(lock_past_rlimit_memlock_fails_cleanly),
        TEST(sigpipe_never_reaches_the_host),
        TEST(sigpipe_with_sigpipe_already_blocked),
        TEST(log_options_default),
        TEST(log_append_send_and_reopen),
        TEST(log_async_flush_and_close),
        TEST(log_read_segments_options_and_flushes),
        TEST(log_send_nonblocking_and_rest),
        TEST(log_send_prepared),
        TEST(log_bad_input),
    };
    h_init(argv[0]);
    int rc;
    if (argc >= 2 && strcmp(argv[1], "--child") == 0)
        rc = child_main(argc, argv);
    else
        rc = h_run(tests, sizeof tests / sizeof tests[0], argc, argv);
    h_cleanup();
    return rc;
}
