/* The scheduler: runtime creation, worker threads, finding work, parking, shutdown.
 *
 * A worker looks for a runnable actor in this order: every 61st look the injection
 * queue first (so adapters are never starved by a worker whose own ring stays full),
 * then its own ring, the injection queue, and the rings of the other workers
 * (stealing). Finding nothing, it spins briefly so that a burst costs no system call,
 * then parks (park.h) until a sender wakes it.
 *
 * Only half the workers (at least one) may spin at once, and a sender wakes a parked
 * worker only when none spins (Go's scheduler does the same). On a small machine the
 * workers share the cores with the I/O, Redis and Kafka threads: with every idle
 * worker spinning, the spin took a quarter of the node's CPU under REST load and
 * every send paid a futex wake-up (docs/PERFORMANCE.md, REST). */
#include "actors/runtime/internal.h"

#include "base/log.h"
#include "base/xmalloc.h"

#include <errno.h>
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#define DEFAULT_BATCH 64u
#define INJECT_EVERY  61u
#define SPIN_ROUNDS   64u /* looks for work before parking, with pauses in between */
#define SPIN_PAUSES   32u /* cpu pauses between two looks: some 50-100 ns each */

/* The worker running on this thread, NULL on other threads. */
static _Thread_local cn__worker *current_worker;

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

cn_runtime *cn_runtime_new(const cn_runtime_config *cfg)
{
    unsigned n = cfg ? cfg->workers : 0;
    if (n == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        n = cpus > 0 ? (unsigned)cpus : 1;
    }
    if (n > CN_RUNTIME_MAX_WORKERS)
        n = CN_RUNTIME_MAX_WORKERS;
    cn_runtime *rt = cn_xcalloc(1, sizeof *rt);
    rt->nworkers = n;
    rt->batch = cfg && cfg->batch ? cfg->batch : DEFAULT_BATCH;
    rt->workers = aligned_alloc(64, sizeof(cn__worker) * n);
    if (!rt->workers)
        cn_oom(sizeof(cn__worker) * n);
    for (unsigned i = 0; i < n; i++) {
        cn__worker *w = &rt->workers[i];
        cn__localq_init(&w->q);
        w->rt = rt;
        w->index = i;
        w->thread_started = false;
        w->tick = 0;
        atomic_init(&w->messages, 0);
        atomic_init(&w->actors_run, 0);
        atomic_init(&w->steals, 0);
        atomic_init(&w->parks, 0);
    }
    cn__injectq_init(&rt->inject);
    cn__parking_init(&rt->parking, n);
    cn__timers_init(&rt->timers);
    atomic_init(&rt->stopping, false);
    atomic_init(&rt->spinning, 0);
    rt->spin_rounds = cfg && cfg->spin_rounds < 0   ? 0u
                      : cfg && cfg->spin_rounds > 0 ? (unsigned)cfg->spin_rounds
                                                    : SPIN_ROUNDS;
    /* No spinner place, no spin: start_spinning always fails, and senders always wake
     * a parked worker. */
    rt->max_spinners = rt->spin_rounds == 0 ? 0 : n / 2 > 0 ? n / 2 : 1;
    if (pthread_mutex_init(&rt->reg_lock, NULL) != 0)
        abort();
    rt->reg_first = NULL;
    atomic_init(&rt->actors_alive, 0);
    atomic_init(&rt->actors_spawned, 0);
    atomic_init(&rt->sends_dropped, 0);
    atomic_init(&rt->discarded, 0);
    return rt;
}

unsigned cn_runtime_workers(const cn_runtime *rt)
{
    return rt->nworkers;
}

/* Wakes a parked worker unless one is spinning, which will find the work. */
static void wake_unless_spinning(cn_runtime *rt)
{
    /* acq_rel RMW rather than a load: pairs with the RMW in stop_spinning. The two
     * RMWs are ordered in `spinning`'s modification order: if ours comes first, the
     * spinner's reads from it and so sees the caller's queue push when it looks again;
     * if the spinner's comes first, we read the count without it. Either the work is
     * seen or we wake someone. (An RMW, not a fence, because ThreadSanitizer does not
     * model fences.) */
    if (atomic_fetch_add_explicit(&rt->spinning, 0, memory_order_acq_rel) == 0)
        cn__unpark_one(&rt->parking);
}

/* Claims one of the spinner places; false when they are all taken. */
static bool start_spinning(cn_runtime *rt)
{
    /* relaxed: the count only limits spinning; stop_spinning orders the way out. */
    unsigned s = atomic_load_explicit(&rt->spinning, memory_order_relaxed);
    while (s < rt->max_spinners)
        if (atomic_compare_exchange_weak_explicit(&rt->spinning, &s, s + 1, memory_order_relaxed,
                                                  memory_order_relaxed))
            return true;
    return false;
}

static void stop_spinning(cn_runtime *rt)
{
    /* acq_rel: pairs with the RMW in wake_unless_spinning (see there); the caller
     * looks at the queues after it. */
    atomic_fetch_sub_explicit(&rt->spinning, 1, memory_order_acq_rel);
}

void cn__schedule(cn_actor *a)
{
    cn_runtime *rt = a->rt;
    cn__worker *w = current_worker;
    if (!w || w->rt != rt || !cn__localq_push(&w->q, &a->run))
        cn__injectq_push(&rt->inject, &a->run);
    /* The actor may already be running elsewhere; from here on only rt is used. */
    wake_unless_spinning(rt);
}

static cn_actor *as_actor(cn__runnable *r)
{
    return (cn_actor *)((char *)r - offsetof(cn_actor, run));
}

static cn__runnable *find_work(cn__worker *w)
{
    cn_runtime *rt = w->rt;
    cn__runnable *r;
    if (++w->tick % INJECT_EVERY == 0 && (r = cn__injectq_pop(&rt->inject)) != NULL)
        return r;
    if ((r = cn__localq_pop(&w->q)) != NULL)
        return r;
    if ((r = cn__injectq_pop(&rt->inject)) != NULL)
        return r;
    for (unsigned k = 1; k < rt->nworkers; k++) {
        cn__worker *v = &rt->workers[(w->index + k) % rt->nworkers];
        if ((r = cn__localq_pop(&v->q)) != NULL) {
            cn__count(&w->steals, 1);
            return r;
        }
    }
    return NULL;
}

/* Whether any queue looks non-empty. Called after the park fence. */
static bool work_visible(cn_runtime *rt)
{
    if (cn__injectq_nonempty(&rt->inject))
        return true;
    for (unsigned i = 0; i < rt->nworkers; i++)
        if (cn__localq_nonempty(&rt->workers[i].q))
            return true;
    return false;
}

static bool stopping(cn_runtime *rt)
{
    /* relaxed: the park protocol's fences order it against the parked mask, and the
     * join in shutdown orders everything else. */
    return atomic_load_explicit(&rt->stopping, memory_order_relaxed);
}

static void *worker_main(void *arg)
{
    cn__worker *w = arg;
    cn_runtime *rt = w->rt;
    current_worker = w;
    while (!stopping(rt)) {
        cn__runnable *r = find_work(w);
        if (!r && start_spinning(rt)) {
            for (unsigned s = 0; !r && s < rt->spin_rounds && !stopping(rt); s++) {
                for (unsigned p = 0; p < SPIN_PAUSES; p++)
                    cpu_relax();
                r = find_work(w);
            }
            stop_spinning(rt);
            /* Senders did not wake anyone while we spun: if more work waits behind
             * what we took, get a parked worker to help. */
            if (r && work_visible(rt))
                wake_unless_spinning(rt);
        }
        if (r) {
            cn__actor_run(w, as_actor(r));
            continue;
        }
        cn__park_prepare(&rt->parking, w->index);
        if (work_visible(rt) || stopping(rt)) {
            cn__park_cancel(&rt->parking, w->index);
            continue;
        }
        cn__count(&w->parks, 1);
        cn__park_wait(&rt->parking, w->index);
    }
    current_worker = NULL;
    return NULL;
}

int cn_runtime_start(cn_runtime *rt)
{
    if (rt->started)
        return -EALREADY;
    rt->started = true;
    int err = cn__timers_start(&rt->timers);
    if (err)
        return err;
    for (unsigned i = 0; i < rt->nworkers; i++) {
        cn__worker *w = &rt->workers[i];
        int e = pthread_create(&w->thread, NULL, worker_main, w);
        if (e) {
            CN_WARN("actors", "cannot start worker %u: error %d", i, e);
            return -e;
        }
        w->thread_started = true;
    }
    return 0;
}

void cn_runtime_shutdown(cn_runtime *rt)
{
    /* The timer thread first, so nothing fires into a runtime that is stopping. Its
     * data stays until the workers are joined: a behaviour may still set a timer. */
    cn__timers_stop(&rt->timers);

    /* seq_cst: pairs with the park fence, see cn__unpark_all. */
    atomic_store_explicit(&rt->stopping, true, memory_order_seq_cst);
    cn__unpark_all(&rt->parking);
    for (unsigned i = 0; i < rt->nworkers; i++)
        if (rt->workers[i].thread_started)
            pthread_join(rt->workers[i].thread, NULL);

    /* Pending timers own messages and actor references: free them before the actors
     * are finalised. */
    cn__timers_destroy(&rt->timers);

    /* No thread runs actors any more: the queues' entries are covered by the
     * runtime's references, which finalisation drops. */
    while (cn__injectq_pop(&rt->inject))
        ;
    for (unsigned i = 0; i < rt->nworkers; i++)
        while (cn__localq_pop(&rt->workers[i].q))
            ;
    for (;;) {
        pthread_mutex_lock(&rt->reg_lock);
        cn_actor *a = rt->reg_first;
        pthread_mutex_unlock(&rt->reg_lock);
        if (!a)
            break;
        cn__actor_finalize(a); /* unregisters a */
    }

    cn__injectq_destroy(&rt->inject);
    cn__parking_destroy(&rt->parking);
    pthread_mutex_destroy(&rt->reg_lock);
    free(rt->workers);
    free(rt);
}
