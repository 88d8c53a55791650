/*
 * zc-serve: a tiny HTTP/1.0 file server that sends files with zcopy (Auto's choice for file ->
 * socket: sendfile, or mmap_write for a file of 1 MiB or more already cached, to a loopback
 * peer), on loopback only.
 *
 *   zc-serve DIR [PORT [MAX_REQUESTS]]
 *
 * Serves GET /NAME for the regular files directly in DIR, one connection at a time, on
 * 127.0.0.1:PORT (0, the default, picks a free port). Prints "listening on 127.0.0.1:PORT"
 * first, then one line per request with what the transfer cost; exits after MAX_REQUESTS
 * requests (0, the default: never).
 *
 * Build: cc zc-serve.c $(pkg-config --cflags --libs zcopy) -o zc-serve
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zcopy.h>

static void reply(int conn, const char *status) {
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.0 %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n\r\n%s\n",
                     status, strlen(status) + 1, status);
    if (write(conn, head, (size_t)n) < 0) perror("zc-serve: write");
}

static void serve(int dir, int conn) {
    char req[2048];
    size_t len = 0;
    /* Read the request head (up to the blank line). */
    while (len < sizeof req - 1) {
        ssize_t k = read(conn, req + len, sizeof req - 1 - len);
        if (k <= 0) break;
        len += (size_t)k;
        req[len] = '\0';
        if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n")) break;
    }
    req[len] = '\0';
    char name[1024];
    if (sscanf(req, "GET /%1023s HTTP/", name) != 1 || strchr(name, '/') || name[0] == '.') {
        reply(conn, "400 Bad Request");
        return;
    }
    int fd = openat(dir, name, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0) close(fd);
        reply(conn, "404 Not Found");
        return;
    }
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n"
                     "Content-Length: %lld\r\n\r\n",
                     (long long)st.st_size);
    if (write(conn, head, (size_t)n) != n) {
        close(fd);
        return;
    }

    /* The body: file -> socket, Auto picks the technique. A client that goes away gives EPIPE,
     * never a SIGPIPE that would kill the server. */
    zc_report r = {.struct_size = sizeof r};
    zc_status status = zc_transfer(fd, conn, NULL, &r);
    printf("GET /%s: %llu bytes by %s, %llu syscalls, %.3f ms%s%s\n", name,
           (unsigned long long)r.bytes, zc_strategy_name(r.strategy),
           (unsigned long long)r.syscalls, (double)r.elapsed_ns / 1e6,
           status == ZC_OK ? "" : ", failed: ", status == ZC_OK ? "" : zc_last_error());
    fflush(stdout);
    close(fd);
}

int main(int argc, char **argv) {
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: zc-serve DIR [PORT [MAX_REQUESTS]]\n");
        return 2;
    }
    int dir = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) {
        perror(argv[1]);
        return 1;
    }
    int port = argc > 2 ? atoi(argv[2]) : 0;
    long max = argc > 3 ? atol(argv[3]) : 0;

    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* loopback only */
    socklen_t al = sizeof a;
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, 16) != 0 ||
        getsockname(l, (struct sockaddr *)&a, &al) != 0) {
        perror("zc-serve: listen");
        return 1;
    }
    printf("listening on 127.0.0.1:%d\n", ntohs(a.sin_port));
    fflush(stdout);

    for (long served = 0; max == 0 || served < max; served++) {
        int conn = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        if (conn < 0) {
            perror("zc-serve: accept");
            continue;
        }
        serve(dir, conn);
        close(conn);
    }
    close(l);
    close(dir);
    return 0;
}
