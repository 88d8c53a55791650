/*
 * The file server (the zcopy-serve crate) through the C face: zc_server_start / zc_server_port /
 * zc_server_address / zc_server_running / zc_server_stop, checked with a plain socket client:
 * byte-exact bodies on every I/O model, HEAD, a Range (206 and the exact slice), 404, O_DIRECT
 * above a threshold, many starts and stops with no fd left open, EADDRINUSE (a second server
 * in every model), the header and keep-alive timeouts, 1,000 idle connections, nginx's answers
 * (ETag, Last-Modified, Date, 304, 301) and its combined access log (access_log), and bad
 * arguments (NULL everywhere, struct_size, model, listen, a missing directory, the 64-byte
 * layout without access_log), each with its zc_status and NULL written into the handle, and a
 * panic in a worker thread: ZC_PANIC from zc_server_stop.
 *
 * Run by scripts/test-c.sh beside test_zcopy.c (shared, static, ASan + UBSan, valgrind).
 */
#include "harness.h"

#include <dirent.h>
#include <poll.h>
#include <sys/resource.h>
#include <time.h>

/* The test-only hook (ffi-c/src/testing.rs; built with the cargo feature `testing`, which
 * scripts/test-c.sh's debug build has and no release build has), left out of the header. */
extern void zc_test_inject_worker_panic(void);

static const zc_serve_model models[] = {ZC_SERVE_MODEL_THREADS, ZC_SERVE_MODEL_POLL,
                                        ZC_SERVE_MODEL_EPOLL, ZC_SERVE_MODEL_URING};
static const char *const model_names[] = {"threads", "poll", "epoll", "uring"};

#define BIG_LEN ((size_t)(1u << 20) + 17)   /* www/f: seed 1 */
#define DIRECT_LEN ((size_t)(3u << 20) + 123) /* www/big: seed 2, above the threshold */
#define SMALL_LEN ((size_t)1000)             /* www/small.txt: seed 3 */

static char www[4300];

/* The served directory, made once. */
static const char *www_dir(void) {
    if (www[0]) return www;
    snprintf(www, sizeof www, "%s", h_path("www"));
    if (mkdir(www, 0755) != 0 && errno != EEXIST) {
        perror(www);
        abort();
    }
    h_make_file("www/f", 1, BIG_LEN);
    h_make_file("www/big", 2, DIRECT_LEN);
    h_make_file("www/small.txt", 3, SMALL_LEN);
    return www;
}

/* Whether this machine runs io_uring (zc_probe's answer for io_uring, file -> file); when it
 * does not, the uring model is skipped with the reason printed once. */
static bool model_here(zc_serve_model model) {
    static int known = -1;
    if (model != ZC_SERVE_MODEL_URING) return true;
    if (known < 0 && getenv("ZCOPY_TEST_UNDER_VALGRIND")) {
        /* valgrind (3.19 here) keeps its one big lock through io_uring_enter's wait, so the
         * test's client thread never runs and the proactor waits for it for ever. The model is
         * tested in the other three runs of this program (shared, static, ASan+UBSan). */
        printf("SKIP the uring model under valgrind: it holds its scheduler lock through "
               "io_uring_enter's wait, so the client thread never runs\n");
        known = 0;
    }
    if (known < 0) {
        www_dir();
        int s = open(h_path("www/small.txt"), O_RDONLY | O_CLOEXEC);
        int d = open(h_path("probe.dst"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        zc_support sup[16];
        size_t n = 0;
        known = 0;
        if (s >= 0 && d >= 0 && zc_probe(s, d, sup, 16, &n) == ZC_OK) {
            for (size_t i = 0; i < n; i++) {
                if (sup[i].strategy != ZC_STRATEGY_IO_URING) continue;
                known = sup[i].supported;
                if (!known) printf("SKIP the uring model: io_uring is unavailable here (%s)\n", sup[i].reason);
            }
        }
        if (s >= 0) close(s);
        if (d >= 0) close(d);
    }
    return known == 1;
}

static zc_server_options server_opts(zc_serve_model model) {
    zc_server_options o;
    if (zc_server_options_default(&o, sizeof o) != ZC_OK) abort();
    o.listen = "127.0.0.1:0";
    o.workers = 2;
    o.model = model;
    return o;
}

/* zc_server_start(dir, opts, &s): the server, or NULL when it failed (zc_last_error() says
 * why); checks the status and the handle agree. */
static zc_server *start_server(const char *dir, const zc_server_options *opts) {
    zc_server *s = (zc_server *)(void *)&s; /* not NULL: the call writes NULL first */
    zc_status st = zc_server_start(dir, opts, &s);
    CHECK((st == ZC_OK) == (s != NULL), "zc_server_start: status %d with handle %p", (int)st, (void *)s);
    return st == ZC_OK ? s : NULL;
}

static uint16_t port_of(zc_server *s) {
    uint16_t port = 0;
    if (zc_server_port(s, &port) != ZC_OK) abort();
    return port;
}

/* A response: the status code, the head (headers, NUL-terminated) and the body. */
struct response {
    int status;
    char head[4096];
    unsigned char *raw; /* everything received (malloc'd); body points into it */
    unsigned char *body;
    size_t body_len;
};

/* Connects to 127.0.0.1:port, sends `request`, reads to EOF. false when the connection fails. */
static bool http(uint16_t port, const char *request, struct response *r) {
    memset(r, 0, sizeof *r);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0) close(fd);
        return false;
    }
    h_write_all(fd, request, strlen(request));
    size_t n = 0;
    r->raw = h_read_fd(fd, &n);
    close(fd);
    unsigned char *end = memmem(r->raw, n, "\r\n\r\n", 4);
    if (!end) return n > 0;
    size_t head_len = (size_t)(end - r->raw);
    snprintf(r->head, sizeof r->head, "%.*s", (int)(head_len < sizeof r->head ? head_len : sizeof r->head - 1),
             (const char *)r->raw);
    r->body = end + 4;
    r->body_len = n - head_len - 4;
    if (sscanf(r->head, "HTTP/1.1 %d", &r->status) != 1) r->status = -1;
    return true;
}

static void response_free(struct response *r) { free(r->raw); }

static bool get(uint16_t port, const char *path, const char *extra, struct response *r) {
    char req[1024];
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n%sConnection: close\r\n\r\n", path,
             extra ? extra : "");
    return http(port, req, r);
}

static void every_model_serves_exact_bytes(void) {
    const char *dir = www_dir();
    for (size_t m = 0; m < sizeof models / sizeof models[0]; m++) {
        if (!model_here(models[m])) continue;
        zc_server_options o = server_opts(models[m]);
        zc_server *s = start_server(dir, &o);
        REQUIRE(s != NULL, "%s: start: %s", model_names[m], zc_last_error());
        uint16_t port = port_of(s);
        CHECK(port != 0, "%s: a port was chosen", model_names[m]);
        struct response r;
        CHECK(get(port, "/f", NULL, &r), "%s: connect", model_names[m]);
        CHECK(r.status == 200, "%s: status %d", model_names[m], r.status);
        CHECK(h_same(r.body, r.body_len, 1, 0, BIG_LEN), "%s: the body of /f", model_names[m]);
        CHECK(strstr(r.head, "Content-Length: 1048593") != NULL, "%s: head %s", model_names[m],
              r.head);
        response_free(&r);
        CHECK(get(port, "/small.txt", NULL, &r) && r.status == 200, "%s: small", model_names[m]);
        CHECK(h_same(r.body, r.body_len, 3, 0, SMALL_LEN), "%s: the body of /small.txt",
              model_names[m]);
        CHECK(strstr(r.head, "Content-Type: text/plain") != NULL, "%s: type", model_names[m]);
        response_free(&r);
        /* HEAD: the same head, no body. */
        CHECK(http(port, "HEAD /f HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &r),
              "%s: HEAD", model_names[m]);
        CHECK(r.status == 200 && r.body_len == 0, "%s: HEAD gave %d with %zu body bytes",
              model_names[m], r.status, r.body_len);
        CHECK(strstr(r.head, "Content-Length: 1048593") != NULL, "%s: HEAD head", model_names[m]);
        response_free(&r);
        bool running = false;
        CHECK_STATUS(zc_server_running(s, &running), ZC_OK);
        CHECK(running, "%s: running", model_names[m]);
        CHECK_STATUS(zc_server_stop(s), ZC_OK);
    }
}

static void range_is_206_with_the_exact_slice(void) {
    zc_server_options o = server_opts(ZC_SERVE_MODEL_EPOLL);
    zc_server *s = start_server(www_dir(), &o);
    REQUIRE(s != NULL, "start: %s", zc_last_error());
    uint16_t port = port_of(s);
    struct response r;
    CHECK(get(port, "/f", "Range: bytes=1000-70999\r\n", &r), "connect");
    CHECK(r.status == 206, "status %d", r.status);
    CHECK(h_same(r.body, r.body_len, 1, 1000, 70000), "bytes 1000-70999");
    CHECK(strstr(r.head, "Content-Range: bytes 1000-70999/1048593") != NULL, "head: %s", r.head);
    response_free(&r);
    /* The last 17 bytes (a suffix range), and an open-ended one. */
    CHECK(get(port, "/f", "Range: bytes=-17\r\n", &r) && r.status == 206, "suffix: %d", r.status);
    CHECK(h_same(r.body, r.body_len, 1, BIG_LEN - 17, 17), "the last 17 bytes");
    response_free(&r);
    CHECK(get(port, "/f", "Range: bytes=1048576-\r\n", &r) && r.status == 206, "open: %d",
          r.status);
    CHECK(h_same(r.body, r.body_len, 1, 1048576, 17), "from 1048576");
    response_free(&r);
    /* Past the end: 416. */
    CHECK(get(port, "/f", "Range: bytes=2000000-\r\n", &r) && r.status == 416, "416: %d",
          r.status);
    response_free(&r);
    CHECK_STATUS(zc_server_stop(s), ZC_OK);
}

static void missing_file_is_404(void) {
    for (size_t m = 0; m < sizeof models / sizeof models[0]; m++) {
        if (!model_here(models[m])) continue;
        zc_server_options o = server_opts(models[m]);
        zc_server *s = start_server(www_dir(), &o);
        REQUIRE(s != NULL, "start: %s", zc_last_error());
        struct response r;
        CHECK(get(port_of(s), "/nope", NULL, &r), "connect");
        CHECK(r.status == 404, "%s: status %d", model_names[m], r.status);
        response_free(&r);
        /* A path that would leave the directory is never served. */
        CHECK(get(port_of(s), "/../www/f", NULL, &r), "connect");
        CHECK(r.status != 200, "%s: /../www/f gave 200", model_names[m]);
        response_free(&r);
        CHECK_STATUS(zc_server_stop(s), ZC_OK);
    }
}

static void directio_above_the_threshold_is_exact(void) {
    for (size_t m = 0; m < sizeof models / sizeof models[0]; m++) {
        if (!model_here(models[m])) continue;
        zc_server_options o = server_opts(models[m]);
        o.has_directio = true;
        o.directio = 1u << 20; /* www/big (3 MiB + 123) and www/f (1 MiB + 17) above, small below */
        zc_server *s = start_server(www_dir(), &o);
        REQUIRE(s != NULL, "start: %s", zc_last_error());
        uint16_t port = port_of(s);
        struct response r;
        CHECK(get(port, "/big", NULL, &r) && r.status == 200, "%s: status %d", model_names[m],
              r.status);
        CHECK(h_same(r.body, r.body_len, 2, 0, DIRECT_LEN), "%s: /big by O_DIRECT",
              model_names[m]);
        response_free(&r);
        CHECK(get(port, "/big", "Range: bytes=4097-2000000\r\n", &r) && r.status == 206,
              "%s: range status %d", model_names[m], r.status);
        CHECK(h_same(r.body, r.body_len, 2, 4097, 2000000 - 4097 + 1),
              "%s: an unaligned range by O_DIRECT", model_names[m]);
        response_free(&r);
        CHECK(get(port, "/small.txt", NULL, &r) && r.status == 200, "%s: small", model_names[m]);
        CHECK(h_same(r.body, r.body_len, 3, 0, SMALL_LEN), "%s: below the threshold",
              model_names[m]);
        response_free(&r);
        CHECK_STATUS(zc_server_stop(s), ZC_OK);
    }
}

static int open_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    int n = 0;
    while (readdir(d)) n++;
    closedir(d);
    return n;
}

/* The value of header `name` in `head` (up to its CR), copied into `out`; false if absent. */
static bool header_value(const char *head, const char *name, char *out, size_t cap) {
    const char *p = strcasestr(head, name);
    if (!p) return false;
    p += strlen(name);
    while (*p == ' ') p++;
    size_t n = strcspn(p, "\r\n");
    snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), p);
    return true;
}

/* nginx's answers (Date, Last-Modified, ETag; 304 for If-None-Match; 301 for a directory) and
 * the access log in nginx's combined format, written by zc_server_stop, in every model. */
static void nginx_answers_and_access_log(void) {
    const char *dir = www_dir();
    if (mkdir(h_path("www/sub"), 0755) != 0 && errno != EEXIST) abort();
    for (size_t m = 0; m < sizeof models / sizeof models[0]; m++) {
        if (!model_here(models[m])) continue;
        char logpath[4300];
        snprintf(logpath, sizeof logpath, "%s", h_path(model_names[m]));
        strcat(logpath, ".access.log");
        zc_server_options o = server_opts(models[m]);
        o.access_log = logpath;
        zc_server *s = start_server(dir, &o);
        REQUIRE(s != NULL, "%s: start: %s", model_names[m], zc_last_error());
        uint16_t port = port_of(s);
        struct response r;
        CHECK(get(port, "/small.txt", "User-Agent: c-test\r\n", &r) && r.status == 200,
              "%s: status %d", model_names[m], r.status);
        char etag[64] = "", lm[64] = "", date[64] = "";
        CHECK(header_value(r.head, "\nETag:", etag, sizeof etag) && etag[0] == '"',
              "%s: ETag in %s", model_names[m], r.head);
        CHECK(strstr(etag, "-3e8\"") != NULL, "%s: ETag %s ends with the size 1000 in hex",
              model_names[m], etag);
        CHECK(header_value(r.head, "\nLast-Modified:", lm, sizeof lm) && strlen(lm) == 29,
              "%s: Last-Modified %s", model_names[m], lm);
        CHECK(header_value(r.head, "\nDate:", date, sizeof date) && strlen(date) == 29,
              "%s: Date %s", model_names[m], date);
        response_free(&r);
        char inm[128];
        snprintf(inm, sizeof inm, "If-None-Match: %s\r\n", etag);
        CHECK(get(port, "/small.txt", inm, &r) && r.status == 304 && r.body_len == 0,
              "%s: If-None-Match gave %d with %zu bytes", model_names[m], r.status, r.body_len);
        response_free(&r);
        CHECK(get(port, "/sub", NULL, &r) && r.status == 301, "%s: /sub %d", model_names[m],
              r.status);
        CHECK(strstr(r.head, "\r\nLocation: /sub/\r\n") != NULL, "%s: %s", model_names[m], r.head);
        response_free(&r);
        CHECK_STATUS(zc_server_stop(s), ZC_OK);
        size_t n = 0;
        unsigned char *text = h_read_file(logpath, &n);
        REQUIRE(text != NULL, "%s: no access log at %s", model_names[m], logpath);
        text = realloc(text, n + 1);
        if (!text) abort();
        text[n] = 0;
        size_t lines = 0;
        for (size_t i = 0; i < n; i++) lines += text[i] == '\n';
        CHECK(lines == 3, "%s: %zu lines:\n%s", model_names[m], lines, (char *)text);
        CHECK(strncmp((char *)text, "127.0.0.1 - - [", 15) == 0, "%s: %s", model_names[m], (char *)text);
        CHECK(strstr((char *)text, "] \"GET /small.txt HTTP/1.1\" 200 1000 \"-\" \"c-test\"\n"),
              "%s: the 200 line in\n%s", model_names[m], (char *)text);
        CHECK(strstr((char *)text, "] \"GET /small.txt HTTP/1.1\" 304 0 \"-\" \"-\"\n"),
              "%s: the 304 line in\n%s", model_names[m], (char *)text);
        CHECK(strstr((char *)text, "] \"GET /sub HTTP/1.1\" 301 "), "%s: the 301 line in\n%s",
              model_names[m], (char *)text);
        free(text);
    }
}

static void start_stop_many_times_leaks_no_fd(void) {
    const char *dir = www_dir();
    int before = open_fds();
    REQUIRE(before > 0, "cannot list /proc/self/fd");
    for (int i = 0; i < 24; i++) {
        size_t m = (size_t)i % 4;
        if (!model_here(models[m])) m = 0;
        zc_server_options o = server_opts(models[m]);
        zc_server *s = start_server(dir, &o);
        REQUIRE(s != NULL, "round %d (%s): %s", i, model_names[m], zc_last_error());
        if (i % 2 == 0) { /* with a served request, and without */
            struct response r;
            CHECK(get(port_of(s), "/small.txt", NULL, &r) && r.status == 200, "round %d", i);
            response_free(&r);
        }
        CHECK_STATUS(zc_server_stop(s), ZC_OK);
    }
    /* A start that fails leaves nothing open either. */
    zc_server_options o = server_opts(ZC_SERVE_MODEL_EPOLL);
    o.model = 99;
    CHECK(start_server(dir, &o) == NULL, "bad model");
    CHECK(start_server(h_path("missing"), NULL) == NULL, "missing dir");
    int after = open_fds();
    CHECK(after == before, "%d fds open before, %d after", before, after);
}

/* Issue 14, case 8: with SO_REUSEPORT a second server on a served address started and took
 * half the connections. Every model against every model: NULL with EADDRINUSE. */
static void second_server_is_eaddrinuse_in_every_model(void) {
    for (size_t i = 0; i < 4; i++) {
        if (!model_here(models[i])) continue;
        zc_server_options o = server_opts(models[i]);
        zc_server *s = start_server(www_dir(), &o);
        REQUIRE(s != NULL, "start %s: %s", model_names[i], zc_last_error());
        char addr[ZC_SERVER_ADDRESS_SIZE];
        CHECK_STATUS(zc_server_address(s, addr, sizeof addr), ZC_OK);
        for (size_t j = 0; j < 4; j++) {
            if (!model_here(models[j])) continue;
            zc_server_options o2 = server_opts(models[j]);
            o2.listen = addr;
            errno = 0;
            zc_server *s2 = start_server(www_dir(), &o2);
            CHECK(s2 == NULL, "a %s server on the %s server's %s", model_names[j], model_names[i], addr);
            CHECK(zc_last_errno() == EADDRINUSE && errno == EADDRINUSE, "%s then %s: errno %d",
                  model_names[i], model_names[j], errno);
            CHECK_MSG(addr);
            zc_server_stop(s2);
        }
        CHECK_STATUS(zc_server_stop(s), ZC_OK);
    }
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int connect_to(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Seconds until the server closes fd (EOF or reset), sending a byte every 0.1 s when trickle;
 * -1 when it kept it for 20 s or sent something. */
static double until_closed(int fd, bool trickle) {
    double t0 = now_s();
    while (now_s() - t0 < 20) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) == 1) {
            char b[4096];
            ssize_t n = recv(fd, b, sizeof b, 0);
            if (n == 0 || (n < 0 && errno == ECONNRESET)) return now_s() - t0;
            if (n > 0) return -1;
        }
        if (trickle && send(fd, "x", 1, MSG_NOSIGNAL) != 1) return now_s() - t0;
    }
    return -1;
}

/* header_timeout 1 s: a head trickled one byte per 0.1 s is closed after it; keepalive_timeout
 * 1 s: an idle kept-alive connection after its response is closed after it. */
static void timeouts_close_slow_and_idle_clients(void) {
    for (size_t i = 0; i < 4; i++) {
        if (!model_here(models[i])) continue;
        zc_server_options o = server_opts(models[i]);
        o.header_timeout = 1;
        o.keepalive_timeout = 1;
        zc_server *s = start_server(www_dir(), &o);
        REQUIRE(s != NULL, "start %s: %s", model_names[i], zc_last_error());
        int fd = connect_to(port_of(s));
        REQUIRE(fd >= 0, "connect");
        const char *slow = "GET /small.txt HTTP/1.1\r\nX-Slow: ";
        h_write_all(fd, slow, strlen(slow));
        double took = until_closed(fd, true);
        CHECK(took >= 0.9, "%s: slow head closed after %.2f s", model_names[i], took);
        close(fd);
        fd = connect_to(port_of(s));
        REQUIRE(fd >= 0, "connect");
        const char *req = "GET /small.txt HTTP/1.1\r\nHost: x\r\n\r\n";
        h_write_all(fd, req, strlen(req));
        size_t got = 0;
        char buf[4096];
        while (got < SMALL_LEN) { /* the head and the 1000-byte body, at least */
            ssize_t n = recv(fd, buf, sizeof buf, 0);
            if (n <= 0) break;
            got += (size_t)n;
        }
        CHECK(got >= SMALL_LEN, "%s: the response", model_names[i]);
        took = until_closed(fd, false);
        CHECK(took >= 0.9, "%s: idle keep-alive closed after %.2f s", model_names[i], took);
        close(fd);
        CHECK_STATUS(zc_server_stop(s), ZC_OK);
    }
}

/* 1,000 connections that send nothing do not keep a new client from being served. */
static void thousand_idle_connections_do_not_stop_a_new_client(void) {
    if (getenv("ZCOPY_TEST_UNDER_VALGRIND")) {
        printf("SKIP 1,000 idle connections under valgrind: a thread each in the threads model "
               "is too slow there; the other runs of this program check it\n");
        return;
    }
    struct rlimit r;
    getrlimit(RLIMIT_NOFILE, &r);
    if (r.rlim_cur < 4096) {
        r.rlim_cur = r.rlim_max < 4096 ? r.rlim_max : 4096;
        setrlimit(RLIMIT_NOFILE, &r);
    }
    if (r.rlim_cur < 4096) {
        printf("SKIP 1,000 idle connections: RLIMIT_NOFILE is %lu (2,000 sockets needed)\n",
               (unsigned long)r.rlim_cur);
        return;
    }
    static int idle[1000];
    for (size_t i = 0; i < 4; i++) {
        if (!model_here(models[i])) continue;
        zc_server_options o = server_opts(models[i]);
        o.max_connections = 2000;
        zc_server *s = start_server(www_dir(), &o);
        REQUIRE(s != NULL, "start %s: %s", model_names[i], zc_last_error());
        for (size_t k = 0; k < 1000; k++) idle[k] = connect_to(port_of(s));
        struct response resp;
        CHECK(get(port_of(s), "/small.txt", NULL, &resp) && resp.status == 200 &&
                  h_same(resp.body, resp.body_len, 3, 0, SMALL_LEN),
              "%s: served beside 1,000 idle connections", model_names[i]);
        response_free(&resp);
        for (size_t k = 0; k < 1000; k++)
            if (idle[k] >= 0) close(idle[k]);
        CHECK_STATUS(zc_server_stop(s), ZC_OK);
    }
}

static void address_in_use_is_eaddrinuse(void) {
    zc_server_options o = server_opts(ZC_SERVE_MODEL_THREADS);
    zc_server *s = start_server(www_dir(), &o);
    REQUIRE(s != NULL, "start: %s", zc_last_error());
    char addr[ZC_SERVER_ADDRESS_SIZE];
    CHECK_STATUS(zc_server_address(s, addr, sizeof addr), ZC_OK);
    char want[64];
    snprintf(want, sizeof want, "127.0.0.1:%u", (unsigned)port_of(s));
    CHECK(strcmp(addr, want) == 0, "address %s, expected %s", addr, want);
    /* Too small a buffer: ERANGE, nothing written. */
    char tiny[4] = "abc";
    CHECK_FAILS(zc_server_address(s, tiny, sizeof tiny), ZC_INVALID, ERANGE);
    CHECK(strcmp(tiny, "abc") == 0, "the small buffer is untouched");
    zc_server_options o2 = server_opts(ZC_SERVE_MODEL_THREADS);
    o2.listen = addr;
    errno = 0;
    zc_server *s2 = start_server(www_dir(), &o2);
    CHECK(s2 == NULL, "a second server on %s", addr);
    CHECK(zc_last_errno() == EADDRINUSE, "zc_last_errno %d", zc_last_errno());
    CHECK(errno == EADDRINUSE, "errno %d", errno);
    CHECK_MSG(addr);
    zc_server_stop(s2);
    /* The first one still serves. */
    struct response r;
    CHECK(get(port_of(s), "/small.txt", NULL, &r) && r.status == 200, "still serving");
    response_free(&r);
    CHECK_STATUS(zc_server_stop(s), ZC_OK);
}

/* zc_server_start's failures: the status, NULL written into the handle, errno and a message
 * naming the culprit. */
static char not_a_server;
#define CHECK_START_FAILS(dir, opts, st, err, needle)                                          \
    do {                                                                                       \
        errno = 0;                                                                             \
        zc_server *s_ = (zc_server *)(void *)&not_a_server; /* must be overwritten */          \
        zc_status st_ = zc_server_start((dir), (opts), &s_);                                 \
        CHECK(st_ == (st), "status %d, expected %s", (int)st_, #st);                           \
        CHECK(s_ == NULL, "started, or left %p", (void *)s_);                                  \
        CHECK(zc_last_errno() == (err), "zc_last_errno() = %d, expected %s", zc_last_errno(), \
              #err);                                                                           \
        CHECK(errno == (err), "errno %d, expected %s", errno, #err);                          \
        CHECK_MSG(needle);                                                                     \
        if (st_ == ZC_OK) zc_server_stop(s_);                                                  \
    } while (0)

static void bad_arguments_are_refused(void) {
    const char *dir = www_dir();
    zc_server_options o = server_opts(ZC_SERVE_MODEL_EPOLL);
    CHECK_START_FAILS(NULL, &o, ZC_NULL_POINTER, EINVAL, "dir is NULL");
    CHECK_FAILS(zc_server_start(dir, &o, NULL), ZC_NULL_POINTER, EINVAL);
    CHECK_MSG("out is NULL");
    CHECK_START_FAILS(h_path("missing"), &o, ZC_IO, ENOENT, "missing");
    CHECK_START_FAILS(h_path("www/f"), &o, ZC_IO, ENOTDIR, "www/f");
    o.model = 4;
    CHECK_START_FAILS(dir, &o, ZC_INVALID, EINVAL, "zc_server_options.model is 4");
    o = server_opts(ZC_SERVE_MODEL_EPOLL);
    o.listen = "nonsense";
    CHECK_START_FAILS(dir, &o, ZC_INVALID, EINVAL, "listen \"nonsense\"");
    o.listen = "localhost:80";
    CHECK_START_FAILS(dir, &o, ZC_INVALID, EINVAL, "numeric host");
    o.listen = "127.0.0.1:0";
    o.has_directio = true;
    o.directio = 0;
    CHECK_START_FAILS(dir, &o, ZC_INVALID, EINVAL, "directio");
    o = server_opts(ZC_SERVE_MODEL_EPOLL);
    o.struct_size = 0;
    CHECK_START_FAILS(dir, &o, ZC_INVALID, EINVAL, "struct_size is 0");
    o.struct_size = 8;
    CHECK_START_FAILS(dir, &o, ZC_INVALID, EINVAL, "smaller than the smallest zc_server_options (40 bytes)");
    o.struct_size = (size_t)1 << 20;
    CHECK_START_FAILS(dir, &o, ZC_INVALID, EINVAL, "larger than any");
    /* A newer, larger struct: zeros past the known fields are fine, anything else is not. */
    struct {
        zc_server_options o;
        uint64_t newer;
    } big;
    memset(&big, 0, sizeof big);
    CHECK_STATUS(zc_server_options_default(&big.o, sizeof big), ZC_OK);
    CHECK(big.o.struct_size == sizeof big && big.newer == 0, "defaults of a larger struct");
    big.o.listen = "127.0.0.1:0";
    zc_server *s = start_server(dir, &big.o);
    CHECK(s != NULL, "a larger struct with zeros: %s", zc_last_error());
    CHECK_STATUS(zc_server_stop(s), ZC_OK);
    big.newer = 1;
    CHECK_START_FAILS(dir, &big.o, ZC_INVALID, EINVAL, "does not know");
    /* The defaults. */
    zc_server_options d;
    memset(&d, 0xAB, sizeof d);
    CHECK_STATUS(zc_server_options_default(&d, sizeof d), ZC_OK);
    CHECK(d.struct_size == sizeof d && d.listen == NULL && d.workers == 0 && !d.has_directio &&
              d.directio == 0 && d.model == ZC_SERVE_MODEL_EPOLL && d.header_timeout == 60 &&
              d.keepalive_timeout == 75 && d.max_connections == 512 && d.access_log == NULL,
          "defaults");
    /* A caller compiled with the first, 40-byte layout gets the limits' defaults. */
    o = server_opts(ZC_SERVE_MODEL_EPOLL);
    o.struct_size = 40;
    o.header_timeout = -1; /* past its struct_size: not read */
    s = start_server(dir, &o);
    CHECK(s != NULL, "the 40-byte layout: %s", zc_last_error());
    CHECK_STATUS(zc_server_stop(s), ZC_OK);
    /* A caller compiled with the 64-byte layout (before access_log) gets no log. */
    o = server_opts(ZC_SERVE_MODEL_EPOLL);
    o.struct_size = 64;
    o.access_log = h_path("not-read.log"); /* past its struct_size: not read */
    s = start_server(dir, &o);
    CHECK(s != NULL, "the 64-byte layout: %s", zc_last_error());
    if (s) {
        struct response r;
        CHECK(get(port_of(s), "/small.txt", NULL, &r) && r.status == 200, "64-byte layout");
        response_free(&r);
    }
    CHECK_STATUS(zc_server_stop(s), ZC_OK);
    CHECK(access(h_path("not-read.log"), F_OK) != 0, "a 64-byte caller's access_log was read");
    o = server_opts(ZC_SERVE_MODEL_EPOLL);
    o.access_log = "";
    CHECK_START_FAILS(dir, &o, ZC_INVALID, EINVAL, "access_log");
    o.access_log = "/nonexistent/dir/access.log";
    CHECK_START_FAILS(dir, &o, ZC_IO, ENOENT, "/nonexistent/dir/access.log");
    o.access_log = "off";
    s = start_server(dir, &o);
    CHECK(s != NULL, "access_log \"off\": %s", zc_last_error());
    CHECK_STATUS(zc_server_stop(s), ZC_OK);
    o = server_opts(ZC_SERVE_MODEL_EPOLL);
    o.header_timeout = 0;
    CHECK_START_FAILS(dir, &o, ZC_INVALID, EINVAL, "header_timeout");
    o.header_timeout = -1;
    CHECK_START_FAILS(dir, &o, ZC_INVALID, EINVAL, "header_timeout");
    o = server_opts(ZC_SERVE_MODEL_EPOLL);
    o.keepalive_timeout = 0;
    CHECK_START_FAILS(dir, &o, ZC_INVALID, EINVAL, "keepalive_timeout");
    o = server_opts(ZC_SERVE_MODEL_EPOLL);
    o.max_connections = 0;
    CHECK_START_FAILS(dir, &o, ZC_INVALID, EINVAL, "max_connections");
    CHECK_FAILS(zc_server_options_default(&d, 8), ZC_INVALID, EINVAL);
    CHECK_FAILS(zc_server_options_default(NULL, sizeof d), ZC_NULL_POINTER, EINVAL);
    /* NULL for every pointer of the other calls. */
    /* NULL options are the defaults (their 127.0.0.1:8080 is not bound here: on a shared
     * machine it may be someone else's). */
    CHECK_START_FAILS(h_path("missing"), NULL, ZC_IO, ENOENT, "missing");
    o = server_opts(ZC_SERVE_MODEL_EPOLL);
    s = start_server(dir, &o);
    REQUIRE(s != NULL, "start: %s", zc_last_error());
    uint16_t port;
    bool running;
    char buf[ZC_SERVER_ADDRESS_SIZE];
    CHECK_FAILS(zc_server_port(NULL, &port), ZC_NULL_POINTER, EINVAL);
    CHECK_MSG("server is NULL");
    CHECK_FAILS(zc_server_port(s, NULL), ZC_NULL_POINTER, EINVAL);
    CHECK_FAILS(zc_server_address(NULL, buf, sizeof buf), ZC_NULL_POINTER, EINVAL);
    CHECK_FAILS(zc_server_address(s, NULL, sizeof buf), ZC_NULL_POINTER, EINVAL);
    CHECK_FAILS(zc_server_running(NULL, &running), ZC_NULL_POINTER, EINVAL);
    CHECK_FAILS(zc_server_running(s, NULL), ZC_NULL_POINTER, EINVAL);
    CHECK_STATUS(zc_server_stop(s), ZC_OK);
    errno = 77;
    CHECK_STATUS(zc_server_stop(NULL), ZC_OK);
    CHECK(errno == 77, "zc_server_stop(NULL) left errno alone");
}

/* Issue 15: a panic in a worker thread (a bug) came back as ZC_INVALID. zc_server_stop returns
 * ZC_PANIC with the panic's message, in every model; the other worker stops with it, and the
 * host lives on. */
static void a_worker_panic_is_zc_panic(void) {
    for (size_t m = 0; m < sizeof models / sizeof models[0]; m++) {
        if (!model_here(models[m])) continue;
        zc_server_options o = server_opts(models[m]);
        o.workers = 2;
        zc_test_inject_worker_panic();
        zc_server *s = start_server(www_dir(), &o);
        REQUIRE(s != NULL, "%s: start: %s", model_names[m], zc_last_error());
        errno = 55;
        CHECK_STATUS(zc_server_stop(s), ZC_PANIC);
        CHECK_MSG("injected panic in a server worker");
        CHECK_MSG("a bug");
        CHECK(zc_last_errno() == 0 && errno == 55, "%s: a panic has no errno (%d, errno %d)",
              model_names[m], zc_last_errno(), errno);
        /* The library still serves. */
        s = start_server(www_dir(), &o);
        REQUIRE(s != NULL, "%s: start after the panic: %s", model_names[m], zc_last_error());
        struct response r;
        CHECK(get(port_of(s), "/small.txt", NULL, &r) && r.status == 200, "%s: serves after", model_names[m]);
        response_free(&r);
        CHECK_STATUS(zc_server_stop(s), ZC_OK);
    }
}

int main(int argc, char **argv) {
    static const struct h_test tests[] = {
        TEST(every_model_serves_exact_bytes),
        TEST(range_is_206_with_the_exact_slice),
        TEST(missing_file_is_404),
        TEST(directio_above_the_threshold_is_exact),
        TEST(nginx_answers_and_access_log),
        TEST(start_stop_many_times_leaks_no_fd),
        TEST(address_in_use_is_eaddrinuse),
        TEST(second_server_is_eaddrinuse_in_every_model),
        TEST(timeouts_close_slow_and_idle_clients),
        TEST(thousand_idle_connections_do_not_stop_a_new_client),
        TEST(bad_arguments_are_refused),
        TEST(a_worker_panic_is_zc_panic),
    };
    h_init(argv[0]);
    int rc = h_run(tests, sizeof tests / sizeof tests[0], argc, argv);
    h_cleanup();
    return rc;
}
