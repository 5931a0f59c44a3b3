/* SPDX-License-Identifier: GPL-2.0-or-later */
/* echo_server.c — small epoll TCP echo server for the Shuttle benchmark
 * (adapted from the team's baseline recipe).
 *
 * usage: echo_server PORT [MAX_FDS]     (binds 0.0.0.0:PORT; MAX_FDS default 65536)
 * Echoes every byte back; closes when the peer closes.  Single-threaded,
 * epoll-based, so it holds tens of thousands of idle connections; it raises
 * its own RLIMIT_NOFILE to MAX_FDS (needs root beyond the hard limit). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PORT [MAX_FDS]\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    rlim_t maxfds = argc > 2 ? (rlim_t)atol(argv[2]) : 65536;
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < maxfds) {
        struct rlimit want = { maxfds, rl.rlim_max > maxfds ? rl.rlim_max : maxfds };
        if (setrlimit(RLIMIT_NOFILE, &want) < 0)
            fprintf(stderr, "echo_server: setrlimit(NOFILE, %lu): %s\n", (unsigned long)maxfds,
                    strerror(errno));
    }
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[1])) };
    if (bind(ls, (struct sockaddr *)&a, sizeof a) < 0) {
        perror("bind");
        return 1;
    }
    if (listen(ls, 4096) < 0) {
        perror("listen");
        return 1;
    }
    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = ls };
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    static char buf[65536];
    struct epoll_event evs[512];
    long accepted = 0;
    for (;;) {
        int n = epoll_wait(ep, evs, 512, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            perror("epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == ls) {
                for (;;) {
                    int c = accept4(ls, NULL, NULL, SOCK_NONBLOCK);
                    if (c < 0) {
                        if (errno == EMFILE || errno == ENFILE)
                            fprintf(stderr, "echo_server: accept: %s after %ld\n",
                                    strerror(errno), accepted);
                        break;
                    }
                    accepted++;
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct epoll_event ce = { .events = EPOLLIN, .data.fd = c };
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
                }
                continue;
            }
            ssize_t r = read(fd, buf, sizeof buf);
            if (r > 0) {
                /* requests are small: a short blocking-ish write loop is fine */
                ssize_t off = 0;
                int spins = 0;
                while (off < r) {
                    ssize_t w = write(fd, buf + off, r - off);
                    if (w < 0) {
                        if (errno == EAGAIN && ++spins < 100000) {
                            usleep(100);
                            continue;
                        }
                        break;
                    }
                    off += w;
                }
                if (off < r) close(fd);
            } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                close(fd);
            }
        }
    }
}
