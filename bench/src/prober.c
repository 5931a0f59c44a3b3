/* SPDX-License-Identifier: GPL-2.0-or-later */
/* prober.c — latency, connection-rate and many-connection prober for the
 * Shuttle benchmark (bench/run.sh).  Adapted from the team's baseline recipe.
 *
 * prober conn HOST PORT COUNT INTERVAL_MS MAX_SECONDS SIZE [PARALLEL]
 *     COUNT times: connect, send SIZE bytes, read SIZE bytes back, close.
 *     Sleeps INTERVAL_MS between probes, stops early after MAX_SECONDS.
 *     With PARALLEL > 1, that many threads share the COUNT probes, each one
 *     probe after the other (a server's capacity, not one client's latency).
 *     Prints one JSON object: n, fail, wall_s, rate_per_s, min/med/p90/p99/max ms.
 * prober rtt HOST PORT COUNT INTERVAL_MS MAX_SECONDS SIZE
 *     the same on one persistent connection (request/response RTT only).
 * prober many HOST PORT N MAX_INFLIGHT TIMEOUT_S
 *     Opens N concurrent TCP connections (non-blocking, at most MAX_INFLIGHT
 *     connects in progress), prints {"phase":"open",...} and waits for a line
 *     on stdin; then sends one byte on every open connection and waits for
 *     every echo, prints {"phase":"echo",...} and waits for a line (or EOF) on
 *     stdin; then closes everything, prints {"phase":"closed"} and exits.
 *     The pauses let the caller sample the tunnel's memory at each stage.
 * prober first HOST PORT MAX_SECONDS SIZE
 *     Prints {"phase":"ready"} and then, until MAX_SECONDS have passed, tries
 *     connect + SIZE-byte echo (each connect given 5 ms, so a SYN that went
 *     out before a tunnel's rules existed is not waited for), every 2 ms.
 *     Prints t_ok, the CLOCK_MONOTONIC time of the first full echo, so the
 *     caller can measure a tunnel's start-up: command start -> first byte.
 *     Raises its own RLIMIT_NOFILE (needs root for more than the hard limit).
 * Every socket op has a 10 s timeout; a probe that fails is counted in fail. */
#define _GNU_SOURCE
#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, int n, double p)
{
    if (n == 0) return -1;
    int i = (int)(p * (n - 1) + 0.5);
    return v[i];
}

/* With PROBER_SOCKS5=PORT (conn and rtt modes): through a SOCKS5 proxy on
 * 127.0.0.1:PORT (no auth, CONNECT by address), counted in the connect. */
static int socks5_via(int s, struct sockaddr_in *sa)
{
    struct sockaddr_in px = { .sin_family = AF_INET,
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    unsigned char req[10] = { 5, 1, 0, 1 }, rep[10];
    px.sin_port = htons((unsigned short)atoi(getenv("PROBER_SOCKS5")));
    memcpy(req + 4, &sa->sin_addr, 4);
    memcpy(req + 8, &sa->sin_port, 2);
    if (connect(s, (struct sockaddr *)&px, sizeof px) < 0
        || send(s, "\x05\x01\x00", 3, MSG_NOSIGNAL) != 3
        || recv(s, rep, 2, MSG_WAITALL) != 2 || rep[0] != 5 || rep[1] != 0
        || send(s, req, sizeof req, MSG_NOSIGNAL) != sizeof req
        || recv(s, rep, 10, MSG_WAITALL) != 10 || rep[1] != 0)
        return -1;
    return 0;
}

static int open_conn(struct sockaddr_in *sa)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0) return -1;
    struct timeval tv = { .tv_sec = 10 };
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (getenv("PROBER_SOCKS5") ? socks5_via(s, sa) < 0
                                : connect(s, (struct sockaddr *)sa, sizeof *sa) < 0) {
        close(s);
        return -1;
    }
    return s;
}

static int xfer(int s, char *out, char *in, int size)
{
    int off = 0;
    while (off < size) {
        ssize_t w = send(s, out + off, size - off, MSG_NOSIGNAL);
        if (w <= 0) return -1;
        off += w;
    }
    off = 0;
    while (off < size) {
        ssize_t r = recv(s, in + off, size - off, 0);
        if (r <= 0) return -1;
        off += r;
    }
    return memcmp(out, in, size) ? -1 : 0;
}

struct prober_job {
    struct sockaddr_in *sa;
    int persistent, count, size, n, fail;
    double interval, maxs, t_start, *lat;
};

static void *probe_run(void *arg)
{
    struct prober_job *j = arg;
    char *out = malloc(j->size), *in = malloc(j->size);
    for (int i = 0; i < j->size; i++) out[i] = 'a' + i % 26;
    int s = -1;
    for (int i = 0; i < j->count; i++) {
        if (now() - j->t_start > j->maxs) break;
        double t0 = now();
        int ok = 0;
        if (!j->persistent || s < 0) s = open_conn(j->sa);
        if (s >= 0 && xfer(s, out, in, j->size) == 0) ok = 1;
        if (!j->persistent || !ok) {
            if (s >= 0) close(s);
            s = -1;
        }
        double t1 = now();
        if (ok) j->lat[j->n++] = (t1 - t0) * 1000.0;
        else j->fail++;
        if (j->interval > 0) {
            struct timespec ts = { (time_t)j->interval,
                                   (long)((j->interval - (time_t)j->interval) * 1e9) };
            nanosleep(&ts, NULL);
        }
    }
    if (s >= 0) close(s);
    free(out);
    free(in);
    return NULL;
}

static int probe_main(int argc, char **argv, struct sockaddr_in *sa)
{
    if (argc < 8) {
        fprintf(stderr, "usage: %s conn|rtt HOST PORT COUNT INTERVAL_MS MAX_SECONDS SIZE [PARALLEL]\n",
                argv[0]);
        return 2;
    }
    int persistent = !strcmp(argv[1], "rtt");
    int count = atoi(argv[4]);
    double interval = atof(argv[5]) / 1000.0, maxs = atof(argv[6]);
    int size = atoi(argv[7]);
    int par = argc > 8 ? atoi(argv[8]) : 1;
    if (size < 1) size = 1;
    if (count < 1) count = 1;
    if (par < 1) par = 1;
    if (par > count) par = count;
    struct prober_job *jobs = calloc(par, sizeof *jobs);
    pthread_t *th = calloc(par, sizeof *th);
    double t_start = now();
    for (int k = 0; k < par; k++) {
        jobs[k] = (struct prober_job){ .sa = sa, .persistent = persistent, .size = size,
                                       .count = count / par + (k < count % par),
                                       .interval = interval, .maxs = maxs, .t_start = t_start };
        jobs[k].lat = calloc(jobs[k].count, sizeof(double));
        if (pthread_create(&th[k], NULL, probe_run, &jobs[k]) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            return 1;
        }
    }
    double *lat = calloc(count, sizeof(double));
    int n = 0, fail = 0;
    for (int k = 0; k < par; k++) {
        pthread_join(th[k], NULL);
        memcpy(lat + n, jobs[k].lat, jobs[k].n * sizeof(double));
        n += jobs[k].n;
        fail += jobs[k].fail;
    }
    double wall = now() - t_start;
    double sum = 0;
    for (int i = 0; i < n; i++) sum += lat[i];
    qsort(lat, n, sizeof(double), cmpd);
    printf("{\"mode\":\"%s\",\"parallel\":%d,\"n\":%d,\"fail\":%d,\"wall_s\":%.4f,"
           "\"rate_per_s\":%.1f,\"mean_ms\":%.3f,\"min_ms\":%.3f,\"med_ms\":%.3f,"
           "\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f}\n",
           argv[1], par, n, fail, wall, wall > 0 ? n / wall : 0, n ? sum / n : -1,
           n ? lat[0] : -1, pct(lat, n, 0.5), pct(lat, n, 0.9), pct(lat, n, 0.99),
           n ? lat[n - 1] : -1);
    return 0;
}

/* ------------------------------------------------------------ first */
static int first_main(int argc, char **argv, struct sockaddr_in *sa)
{
    if (argc < 6) {
        fprintf(stderr, "usage: %s first HOST PORT MAX_SECONDS SIZE\n", argv[0]);
        return 2;
    }
    double maxs = atof(argv[4]);
    int size = atoi(argv[5]);
    if (size < 1) size = 1;
    char *out = malloc(size), *in = malloc(size);
    for (int i = 0; i < size; i++) out[i] = 'A' + i % 26;
    printf("{\"phase\":\"ready\"}\n");
    fflush(stdout);
    double t_start = now();
    int tries = 0;
    while (now() - t_start < maxs) {
        tries++;
        int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (s < 0) return 1;
        int ok = 0;
        if (connect(s, (struct sockaddr *)sa, sizeof *sa) == 0 || errno == EINPROGRESS) {
            struct pollfd pfd = { .fd = s, .events = POLLOUT };
            int err = 0;
            socklen_t len = sizeof err;
            if (poll(&pfd, 1, 5) == 1 && getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len) == 0
                && err == 0) {
                /* connected (to the tunnel's listener once its rules exist) */
                int fl = fcntl(s, F_GETFL);
                fcntl(s, F_SETFL, fl & ~O_NONBLOCK);
                struct timeval tv = { .tv_sec = 10 };
                setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
                setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
                ok = xfer(s, out, in, size) == 0;
            }
        }
        close(s);
        if (ok) {
            printf("{\"mode\":\"first\",\"t_ok\":%.6f,\"tries\":%d}\n", now(), tries);
            return 0;
        }
        struct timespec ts = { 0, 2000000 };
        nanosleep(&ts, NULL);
    }
    printf("{\"mode\":\"first\",\"error\":\"no echo within %.0f s\",\"tries\":%d}\n", maxs,
           tries);
    return 1;
}

/* ------------------------------------------------------------ many */
enum { C_NONE, C_CONNECTING, C_OPEN, C_SENT, C_ECHOED, C_FAILED };

static void wait_stdin_line(void)
{
    char line[64];
    if (!fgets(line, sizeof line, stdin)) return; /* EOF also continues */
}

static int many_main(int argc, char **argv, struct sockaddr_in *sa)
{
    if (argc < 7) {
        fprintf(stderr, "usage: %s many HOST PORT N MAX_INFLIGHT TIMEOUT_S\n", argv[0]);
        return 2;
    }
    int n = atoi(argv[4]), maxinf = atoi(argv[5]);
    double timeout = atof(argv[6]);
    if (n < 1 || maxinf < 1) return 2;

    struct rlimit rl = { .rlim_cur = (rlim_t)n + 256, .rlim_max = (rlim_t)n + 256 };
    struct rlimit cur;
    getrlimit(RLIMIT_NOFILE, &cur);
    if (cur.rlim_cur < rl.rlim_cur) {
        if (cur.rlim_max > rl.rlim_max) rl.rlim_max = cur.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
            fprintf(stderr, "setrlimit(NOFILE, %d): %s\n", n + 256, strerror(errno));
            return 1;
        }
    }

    int *fd = malloc(n * sizeof(int)), *st = calloc(n, sizeof(int));
    int *err = calloc(n, sizeof(int));
    for (int i = 0; i < n; i++) fd[i] = -1;
    int ep = epoll_create1(0);
    struct epoll_event evs[512];
    int next = 0, inflight = 0, open_ok = 0, open_fail = 0;
    int e_refused = 0, e_timeout = 0, e_other = 0;
    double t0 = now(), deadline = t0 + timeout;

    /* phase 1: open all, MAX_INFLIGHT connects at a time */
    while ((next < n || inflight > 0) && now() < deadline) {
        while (next < n && inflight < maxinf) {
            int i = next++;
            int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
            if (s < 0) {
                st[i] = C_FAILED;
                err[i] = errno;
                open_fail++;
                e_other++;
                continue;
            }
            fd[i] = s;
            int r = connect(s, (struct sockaddr *)sa, sizeof *sa);
            if (r == 0) {
                st[i] = C_OPEN;
                open_ok++;
                continue;
            }
            if (errno != EINPROGRESS) {
                st[i] = C_FAILED;
                err[i] = errno;
                open_fail++;
                e_other++;
                close(s);
                fd[i] = -1;
                continue;
            }
            st[i] = C_CONNECTING;
            inflight++;
            struct epoll_event ev = { .events = EPOLLOUT, .data.u32 = (uint32_t)i };
            epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
        }
        int k = epoll_wait(ep, evs, 512, 100);
        for (int j = 0; j < k; j++) {
            int i = (int)evs[j].data.u32;
            if (st[i] != C_CONNECTING) continue;
            int e = 0;
            socklen_t el = sizeof e;
            getsockopt(fd[i], SOL_SOCKET, SO_ERROR, &e, &el);
            epoll_ctl(ep, EPOLL_CTL_DEL, fd[i], NULL);
            inflight--;
            if (e == 0) {
                st[i] = C_OPEN;
                open_ok++;
            } else {
                st[i] = C_FAILED;
                err[i] = e;
                open_fail++;
                if (e == ECONNREFUSED || e == ECONNRESET) e_refused++;
                else if (e == ETIMEDOUT) e_timeout++;
                else e_other++;
                close(fd[i]);
                fd[i] = -1;
            }
        }
    }
    for (int i = 0; i < n; i++) {
        if (st[i] == C_CONNECTING || st[i] == C_NONE) {
            if (fd[i] >= 0) close(fd[i]);
            fd[i] = -1;
            st[i] = C_FAILED;
            open_fail++;
            e_timeout++;
        }
    }
    double t_open = now() - t0;
    printf("{\"phase\":\"open\",\"n\":%d,\"ok\":%d,\"fail\":%d,\"refused\":%d,\"timeout\":%d,"
           "\"other\":%d,\"secs\":%.3f}\n",
           n, open_ok, open_fail, e_refused, e_timeout, e_other, t_open);
    fflush(stdout);
    wait_stdin_line();

    /* phase 2: one byte on every open connection, then wait for all echoes */
    int sent = 0, echoed = 0, bad = 0, eof = 0;
    t0 = now();
    deadline = t0 + timeout;
    for (int i = 0; i < n; i++) {
        if (st[i] != C_OPEN) continue;
        char c = 'a' + i % 26;
        if (send(fd[i], &c, 1, MSG_NOSIGNAL) != 1) {
            st[i] = C_FAILED;
            bad++;
            continue;
        }
        st[i] = C_SENT;
        sent++;
        struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
        epoll_ctl(ep, EPOLL_CTL_ADD, fd[i], &ev);
    }
    int waiting = sent;
    while (waiting > 0 && now() < deadline) {
        int k = epoll_wait(ep, evs, 512, 100);
        for (int j = 0; j < k; j++) {
            int i = (int)evs[j].data.u32;
            if (st[i] != C_SENT) continue;
            char c;
            ssize_t r = recv(fd[i], &c, 1, MSG_DONTWAIT);
            if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            epoll_ctl(ep, EPOLL_CTL_DEL, fd[i], NULL);
            waiting--;
            if (r == 1 && c == 'a' + i % 26) {
                st[i] = C_ECHOED;
                echoed++;
            } else {
                st[i] = C_FAILED;
                if (r == 0) eof++;
                else bad++;
            }
        }
    }
    double t_echo = now() - t0;
    printf("{\"phase\":\"echo\",\"sent\":%d,\"echoed\":%d,\"eof\":%d,\"error\":%d,"
           "\"no_answer\":%d,\"secs\":%.3f}\n",
           sent, echoed, eof, bad, waiting, t_echo);
    fflush(stdout);
    wait_stdin_line();

    for (int i = 0; i < n; i++)
        if (fd[i] >= 0) close(fd[i]);
    printf("{\"phase\":\"closed\"}\n");
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr,
                "usage: %s conn|rtt HOST PORT COUNT INTERVAL_MS MAX_SECONDS SIZE\n"
                "       %s many HOST PORT N MAX_INFLIGHT TIMEOUT_S\n"
                "       %s first HOST PORT MAX_SECONDS SIZE\n",
                argv[0], argv[0], argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[3])) };
    if (inet_pton(AF_INET, argv[2], &sa.sin_addr) != 1) {
        fprintf(stderr, "bad host %s\n", argv[2]);
        return 2;
    }
    if (!strcmp(argv[1], "many")) return many_main(argc, argv, &sa);
    if (!strcmp(argv[1], "first")) return first_main(argc, argv, &sa);
    if (!strcmp(argv[1], "conn") || !strcmp(argv[1], "rtt")) return probe_main(argc, argv, &sa);
    fprintf(stderr, "unknown mode %s\n", argv[1]);
    return 2;
}
