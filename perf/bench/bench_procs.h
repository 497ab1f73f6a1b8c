/* chat-bench over several processes: this machine allows 20,000 open files per process,
 * so a run of more sessions forks children, each driving a contiguous slice of the
 * sessions file. What must be exact across processes (per message: expected and actual
 * deliveries, acknowledged) lives in memory shared by all of them (bench_shared_alloc);
 * the phases (connect, send, drain) are kept in step through counters in struct
 * bench_ctl, so that no child sends before every subscriber in every child is ready, and
 * no child closes its sessions while another still sends. Each child's own results
 * (counts, histograms, CPU, first error) travel to the parent as one struct bench_report
 * over a pipe; the parent merges them.
 *
 * Memory: shared mappings live until the process exits (the children inherit them; they
 * are never unmapped). Reports are caller-owned structs. */
#ifndef CN_BENCH_PROCS_H
#define CN_BENCH_PROCS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "latency_hist.h"

/* Shared between the parent and every child; fields are read and written with
 * __atomic builtins. */
struct bench_ctl {
    unsigned connected;    /* children done connecting and subscribing */
    unsigned sending_done; /* children past their send phase */
    unsigned drained;      /* children done draining, waiting for go_exit */
    int go_send, go_exit;  /* set by the parent */
    int64_t start_ns;      /* the send phase's start, set by the parent with go_send */
    /* totals over all children, for the drain condition */
    uint64_t sent, receipts, want, delivered;
};

/* The most nodes one run spreads its sessions over (--url HOST:PORT,...). */
#define BENCH_MAX_NODES 16

/* One child's raw results; the parent sums the counts and merges the histograms. */
struct bench_report {
    uint64_t sent, receipts, errors, dead, delivered, dups_seen, bad_body, connects_ok;
    uint64_t ready;
    /* per node (index in --url): ready after the connect phase, dead by then (failed
     * connects), dead by the end of the run (failed + dropped later) */
    uint64_t node_ready[BENCH_MAX_NODES], node_failed[BENCH_MAX_NODES];
    uint64_t node_dead_end[BENCH_MAX_NODES];
    double connect_cpu_s, cpu_s; /* CPU of the connect phase, of the send+drain phase */
    struct latency_hist lat, connect_lat, ack_lat;
    char first_error[256];
};

/* Zeroed memory shared with children forked later; exits on failure. */
void *bench_shared_alloc(size_t bytes);

/* How many processes SESSIONS sessions need: ASKED (at least 1), or more when one process
 * cannot open that many sockets. Raises the soft RLIMIT_NOFILE to the hard limit first. */
unsigned bench_procs_needed(unsigned sessions, unsigned asked);

/* The slice [*lo, *hi) of N items that child K of PROCS drives. */
void bench_slice(unsigned n, unsigned procs, unsigned k, unsigned *lo, unsigned *hi);

/* Forks child K; it runs child(k, fd, arg) with fd the write end of its pipe and exits
 * with its return value. The parent gets *pid and *fd (the read end); earlier[0..k) are
 * the read ends of the earlier children, which the new child closes. */
void bench_spawn_one(unsigned k, pid_t *pid, int *fd, const int *earlier,
                     int (*child)(unsigned, int, void *), void *arg);

/* Parent: waits until *counter reaches want; false when a child exited first or the
 * timeout passed (the caller then kills the children). */
bool bench_wait_children(const unsigned *counter, unsigned want, const pid_t *pids, unsigned procs,
                         double timeout_s);

/* Sends / receives one report over a pipe; false on error or early EOF. */
bool bench_report_write(int fd, const struct bench_report *r);
bool bench_report_read(int fd, struct bench_report *r);

/* Adds src's counts and histograms to dst (dst keeps its first error if it has one). */
void bench_report_merge(struct bench_report *dst, const struct bench_report *src);

#endif
