/* chat-bench's processes: fork, phase counters, report pipe and merge; see bench_procs.h. */
#include "bench_procs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Descriptors a process keeps besides its sockets: stdio, epoll, the report pipe, the
 * sessions file, and some slack. */
#define FD_HEADROOM 64

void *bench_shared_alloc(size_t bytes)
{
    void *p =
        mmap(NULL, bytes ? bytes : 1, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        fprintf(stderr, "chat-bench: mmap of %zu shared bytes failed\n", bytes);
        exit(2);
    }
    return p;
}

unsigned bench_procs_needed(unsigned sessions, unsigned asked)
{
    struct rlimit rl;
    unsigned procs = asked ? asked : 1;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return procs;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur <= 2 * FD_HEADROOM)
        return procs;
    unsigned per = (unsigned)(rl.rlim_cur - FD_HEADROOM);
    unsigned need = (sessions + per - 1) / per;
    return need > procs ? need : procs;
}

void bench_slice(unsigned n, unsigned procs, unsigned k, unsigned *lo, unsigned *hi)
{
    *lo = (unsigned)((uint64_t)n * k / procs);
    *hi = (unsigned)((uint64_t)n * (k + 1) / procs);
}

void bench_spawn_one(unsigned k, pid_t *pid, int *fd, const int *earlier,
                     int (*child)(unsigned, int, void *), void *arg)
{
    fflush(NULL); /* or buffered output would be written by the child too */
    int p[2];
    if (pipe(p) != 0) {
        perror("chat-bench: pipe");
        exit(2);
    }
    pid_t c = fork();
    if (c < 0) {
        perror("chat-bench: fork");
        exit(2);
    }
    if (c == 0) {
        close(p[0]);
        for (unsigned j = 0; j < k; j++)
            close(earlier[j]);
        _exit(child(k, p[1], arg));
    }
    close(p[1]);
    *pid = c;
    *fd = p[0];
}

bool bench_wait_children(const unsigned *counter, unsigned want, const pid_t *pids, unsigned procs,
                         double timeout_s)
{
    struct timespec t0, t, nap = {0, 2000000};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (__atomic_load_n(counter, __ATOMIC_ACQUIRE) < want) {
        for (unsigned k = 0; k < procs; k++) {
            int st;
            if (waitpid(pids[k], &st, WNOHANG) == pids[k]) {
                fprintf(stderr, "chat-bench: child %u exited early (status %d)\n", k, st);
                return false;
            }
        }
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((double)(t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 > timeout_s)
            return false;
        nanosleep(&nap, NULL);
    }
    return true;
}

bool bench_report_write(int fd, const struct bench_report *r)
{
    const char *p = (const char *)r;
    size_t left = sizeof *r;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        left -= (size_t)w;
    }
    return true;
}

bool bench_report_read(int fd, struct bench_report *r)
{
    char *p = (char *)r;
    size_t left = sizeof *r;
    while (left > 0) {
        ssize_t n = read(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        left -= (size_t)n;
    }
    return true;
}

static void hist_merge(struct latency_hist *dst, const struct latency_hist *src)
{
    for (unsigned i = 0; i < LAT_BUCKETS; i++)
        dst->bucket[i] += src->bucket[i];
    dst->count += src->count;
    if (src->max_us > dst->max_us)
        dst->max_us = src->max_us;
}

void bench_report_merge(struct bench_report *dst, const struct bench_report *src)
{
    dst->sent += src->sent;
    dst->receipts += src->receipts;
    dst->errors += src->errors;
    dst->dead += src->dead;
    dst->delivered += src->delivered;
    dst->dups_seen += src->dups_seen;
    dst->bad_body += src->bad_body;
    dst->connects_ok += src->connects_ok;
    dst->ready += src->ready;
    for (unsigned i = 0; i < BENCH_MAX_NODES; i++) {
        dst->node_ready[i] += src->node_ready[i];
        dst->node_failed[i] += src->node_failed[i];
        dst->node_dead_end[i] += src->node_dead_end[i];
    }
    dst->connect_cpu_s += src->connect_cpu_s;
    dst->cpu_s += src->cpu_s;
    hist_merge(&dst->lat, &src->lat);
    hist_merge(&dst->connect_lat, &src->connect_lat);
    hist_merge(&dst->ack_lat, &src->ack_lat);
    if (!dst->first_error[0])
        memcpy(dst->first_error, src->first_error, sizeof dst->first_error);
}
