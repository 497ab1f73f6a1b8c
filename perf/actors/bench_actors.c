/* bench_actors: send+dispatch throughput of the actor runtime. Not a test.
 *
 * Two shapes, each printed as one JSON line per run:
 *  - one_mailbox: S adapter (non-worker) threads send to one actor as fast as they
 *    can; measures the MPSC mailbox and the consumer's dispatch loop.
 *  - ring: R actors each forwarding every message to the next; T messages start
 *    spread around the ring and hop until H hops in total are done. Every hop is a
 *    send from a worker plus a dispatch, and often a scheduling of an idle actor.
 * Messages come from a preallocated pool with a no-op free hook so that the figure is
 * the runtime's cost, not malloc's; "alloc":"malloc" lines repeat one_mailbox with a
 * malloc'd message per send for comparison.
 *
 * Usage: bench_actors [workers=2] [repeats=3] */
#include "actors/runtime/runtime.h"
#include "base/clock.h"
#include "base/xmalloc.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef struct bmsg {
    cn_msg hdr;
    uint64_t hops;
} bmsg;

static void pool_free(cn_msg *m)
{
    (void)m; /* pool memory: freed in bulk by the benchmark */
}

static void wait_until(_Atomic uint64_t *counter, uint64_t target)
{
    struct timespec ts = {0, 100000};
    while (atomic_load_explicit(counter, memory_order_acquire) < target)
        nanosleep(&ts, NULL);
}

/* ---- one mailbox, several senders ---- */

static _Atomic uint64_t sink_count;

static void sink(cn_actor *self, void *state, cn_msg *msg)
{
    (void)self;
    (void)state;
    cn_msg_free(msg);
    /* relaxed would do for counting; release lets wait_until see a settled total. */
    atomic_fetch_add_explicit(&sink_count, 1, memory_order_release);
}

typedef struct sender {
    cn_actor *target;
    bmsg *pool; /* NULL: malloc per message */
    uint64_t count;
    pthread_t th;
} sender;

static void *sender_main(void *p)
{
    sender *s = p;
    for (uint64_t i = 0; i < s->count; i++) {
        bmsg *m;
        if (s->pool) {
            m = &s->pool[i];
            cn_msg_init(&m->hdr, 0, pool_free);
        } else {
            m = cn_xmalloc(sizeof *m);
            cn_msg_init(&m->hdr, 0, NULL);
        }
        cn_actor_send(s->target, &m->hdr);
    }
    return NULL;
}

static void bench_one_mailbox(unsigned workers, unsigned senders, uint64_t per_sender, bool pool)
{
    cn_runtime *rt = cn_runtime_new(&(cn_runtime_config){.workers = workers});
    cn_runtime_start(rt);
    cn_actor *a = cn_actor_spawn(rt, sink, NULL, NULL);
    atomic_store(&sink_count, 0);
    sender *s = cn_xcalloc(senders, sizeof *s);
    for (unsigned i = 0; i < senders; i++) {
        s[i].target = a;
        s[i].count = per_sender;
        s[i].pool = pool ? cn_xmalloc(per_sender * sizeof(bmsg)) : NULL;
        /* Touch the pool now so page faults are not measured. */
        for (uint64_t j = 0; pool && j < per_sender; j++)
            s[i].pool[j].hops = 0;
    }
    uint64_t total = per_sender * senders;
    uint64_t t0 = cn_now_ns();
    for (unsigned i = 0; i < senders; i++)
        pthread_create(&s[i].th, NULL, sender_main, &s[i]);
    for (unsigned i = 0; i < senders; i++)
        pthread_join(s[i].th, NULL);
    wait_until(&sink_count, total);
    double secs = (double)(cn_now_ns() - t0) / 1e9;
    struct cn_actor_stats as;
    cn_actor_stats(a, &as);
    printf("{\"bench\":\"one_mailbox\",\"alloc\":\"%s\",\"workers\":%u,\"senders\":%u,"
           "\"messages\":%llu,\"seconds\":%.3f,\"msgs_per_sec\":%.0f,\"mailbox_hwm\":%llu}\n",
           pool ? "pool" : "malloc", workers, senders, (unsigned long long)total, secs,
           (double)total / secs, (unsigned long long)as.mailbox_hwm);
    fflush(stdout);
    cn_actor_unref(a);
    cn_runtime_shutdown(rt);
    for (unsigned i = 0; i < senders; i++)
        free(s[i].pool);
    free(s);
}

/* ---- ring ---- */

typedef struct ring_node {
    cn_actor *next;
} ring_node;

static _Atomic uint64_t ring_done;
static uint64_t ring_hop_limit; /* per message */

static void ring_behaviour(cn_actor *self, void *state, cn_msg *msg)
{
    (void)self;
    ring_node *n = state;
    bmsg *m = (bmsg *)msg;
    if (++m->hops < ring_hop_limit) {
        cn_actor_send(n->next, msg);
    } else {
        cn_msg_free(msg);
        atomic_fetch_add_explicit(&ring_done, 1, memory_order_release); /* for wait_until */
    }
}

static void bench_ring(unsigned workers, unsigned n_actors, unsigned in_flight, uint64_t hops)
{
    cn_runtime *rt = cn_runtime_new(&(cn_runtime_config){.workers = workers});
    cn_actor **a = cn_xcalloc(n_actors, sizeof *a);
    ring_node *nodes = cn_xcalloc(n_actors, sizeof *nodes);
    for (unsigned i = 0; i < n_actors; i++)
        a[i] = cn_actor_spawn(rt, ring_behaviour, &nodes[i], NULL);
    for (unsigned i = 0; i < n_actors; i++)
        nodes[i].next = a[(i + 1) % n_actors];
    bmsg *pool = cn_xcalloc(in_flight, sizeof *pool);
    ring_hop_limit = hops / in_flight;
    atomic_store(&ring_done, 0);
    cn_runtime_start(rt);
    uint64_t t0 = cn_now_ns();
    for (unsigned i = 0; i < in_flight; i++) {
        cn_msg_init(&pool[i].hdr, 0, pool_free);
        pool[i].hops = 0;
        cn_actor_send(a[(uint64_t)i * n_actors / in_flight], &pool[i].hdr);
    }
    wait_until(&ring_done, in_flight);
    double secs = (double)(cn_now_ns() - t0) / 1e9;
    uint64_t total = ring_hop_limit * in_flight;
    struct cn_runtime_stats st;
    cn_runtime_stats(rt, &st);
    uint64_t steals = 0, parks = 0, runs = 0;
    for (unsigned i = 0; i < st.workers; i++) {
        steals += st.worker[i].steals;
        parks += st.worker[i].parks;
        runs += st.worker[i].actors_run;
    }
    printf("{\"bench\":\"ring\",\"workers\":%u,\"actors\":%u,\"in_flight\":%u,\"messages\":%llu,"
           "\"seconds\":%.3f,\"msgs_per_sec\":%.0f,\"msgs_per_turn\":%.1f,\"steals\":%llu,"
           "\"parks\":%llu,\"handled\":%llu}\n",
           workers, n_actors, in_flight, (unsigned long long)total, secs, (double)total / secs,
           runs ? (double)st.messages / (double)runs : 0.0, (unsigned long long)steals,
           (unsigned long long)parks, (unsigned long long)st.messages);
    fflush(stdout);
    for (unsigned i = 0; i < n_actors; i++)
        cn_actor_unref(a[i]);
    cn_runtime_shutdown(rt);
    free(pool);
    free(nodes);
    free(a);
}

int main(int argc, char **argv)
{
    unsigned workers = argc > 1 ? (unsigned)atoi(argv[1]) : 2;
    int repeats = argc > 2 ? atoi(argv[2]) : 3;
    for (int r = 0; r < repeats; r++) {
        bench_one_mailbox(workers, 1, 10000000, true);
        bench_one_mailbox(workers, 2, 5000000, true);
        bench_one_mailbox(workers, 4, 2500000, true);
        bench_one_mailbox(workers, 2, 5000000, false);
        bench_ring(workers, 1000, 1000, 20000000);
        bench_ring(workers, 1000, 10000, 20000000);
        bench_ring(workers, 1000, 1, 2000000);
    }
    return 0;
}
