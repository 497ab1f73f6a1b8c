/* Tests src/actors/runtime/scheduler.c (and park.c): wake-up latency from an adapter thread
 * to parked workers, 10,000 times in a row, worker counts and statistics. */
#include "check.h"
#include "testutil.h"

#include <dirent.h>
#include <errno.h>

static _Atomic uint64_t last_latency_ns, handled;

static void latency_behaviour(cn_actor *self, void *state, cn_msg *msg)
{
    (void)self;
    (void)state;
    test_msg *m = (test_msg *)msg;
    atomic_store(&last_latency_ns, cn_now_ns() - m->t0_ns);
    cn_msg_free(msg);
    atomic_fetch_add(&handled, 1);
}

/* Nanoseconds that this process's threads have spent runnable but waiting for a CPU
 * (second field of /proc/self/task/N/schedstat), or 0 when the kernel does not say.
 * On a shared 2-core box other processes' load shows up here, not in our code. */
static uint64_t runq_wait_ns(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return 0;
    uint64_t sum = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[300];
        snprintf(path, sizeof path, "/proc/self/task/%s/schedstat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue; /* the thread exited meanwhile */
        unsigned long long run, wait;
        if (fscanf(f, "%llu %llu", &run, &wait) == 2)
            sum += wait;
        fclose(f);
    }
    closedir(d);
    return sum;
}

static void test_wakeup_from_adapter_thread_within_5ms_10000_times(void)
{
    cn_runtime *rt = cn_runtime_new(&(cn_runtime_config){.workers = 2});
    CHECK_EQ(cn_runtime_start(rt), 0);
    cn_actor *a = cn_actor_spawn(rt, latency_behaviour, NULL, NULL);
    struct cn_runtime_stats st;
    /* `over` counts raw latencies above 5 ms; `late` those still above 5 ms after
     * subtracting the time our threads waited for a CPU held by another process. */
    uint64_t worst = 0, worst_adj = 0, sum = 0, over = 0, late = 0, not_parked = 0;
    const int rounds = 10000;
    int done = 0;
    for (int i = 0; i < rounds; i++) {
        /* Every worker asleep first: this measures the park/unpark path, not a spin. */
        cn_runtime_stats(rt, &st);
        if (!WAIT_FOR((cn_runtime_stats(rt, &st), st.workers_parked == st.workers), 1000)) {
            not_parked++;
            continue;
        }
        test_msg *m = test_msg_new(0, (uint64_t)i);
        uint64_t wait0 = runq_wait_ns();
        m->t0_ns = cn_now_ns();
        CHECK_EQ(cn_actor_send(a, &m->hdr), 0);
        if (!WAIT_FOR(atomic_load(&handled) == (uint64_t)i + 1, 1000)) {
            CHECK(!"message not handled within 1 s");
            break;
        }
        uint64_t lat = atomic_load(&last_latency_ns);
        worst = lat > worst ? lat : worst;
        sum += lat;
        if (lat > 5000000u) {
            over++;
            uint64_t stolen = runq_wait_ns() - wait0;
            uint64_t adj = lat > stolen ? lat - stolen : 0;
            worst_adj = adj > worst_adj ? adj : worst_adj;
            late += adj > 5000000u;
        } else {
            worst_adj = lat > worst_adj ? lat : worst_adj;
        }
        done++;
    }
    fprintf(stderr,
            "  %d wake-ups: worst %.3f ms, mean %.1f us, over 5 ms: %llu; without CPU "
            "contention: worst %.3f ms, over 5 ms: %llu\n",
            done, (double)worst / 1e6, done ? (double)sum / done / 1e3 : 0.0,
            (unsigned long long)over, (double)worst_adj / 1e6, (unsigned long long)late);
    CHECK_EQ(done, rounds);
    CHECK_EQ(not_parked, 0);
    /* A lost wake-up would show as a 1 s timeout above; here the runtime's own share
     * of the latencies must stay under 5 ms. Not every one of 10,000: the run-queue
     * wait subtracted above does not see the hypervisor preempting the whole VM
     * (steal), which put 3-4 rounds of one CI run at 5-17 ms in both the ASan and the
     * TSan build while other runs had none. So at most 0.1 % may pass 5 ms, and none
     * 50 ms. */
    CHECK(late <= (uint64_t)rounds / 1000);
    CHECK(worst_adj < 50000000u);
    cn_runtime_stats(rt, &st);
    /* A parked bit is set just before the worker's last look at the queues; when our
     * send lands in that window the worker cancels the park instead of sleeping. That
     * is rare, so nearly every round must have gone through a real sleep. */
    CHECK_INT(st.worker[0].parks + st.worker[1].parks, >=, (uint64_t)(rounds - rounds / 100));
    cn_actor_unref(a);
    cn_runtime_shutdown(rt);
    CHECK(msgs_balanced());
}

static void test_worker_count_defaults_and_clamps(void)
{
    cn_runtime *rt = cn_runtime_new(NULL);
    CHECK_INT(cn_runtime_workers(rt), >=, 1);
    cn_runtime_shutdown(rt);
    rt = cn_runtime_new(&(cn_runtime_config){.workers = 1000});
    CHECK_EQ(cn_runtime_workers(rt), CN_RUNTIME_MAX_WORKERS);
    cn_runtime_shutdown(rt);
    rt = cn_runtime_new(&(cn_runtime_config){.workers = 3});
    CHECK_EQ(cn_runtime_start(rt), 0);
    CHECK_EQ(cn_runtime_start(rt), -EALREADY);
    cn_runtime_shutdown(rt);
}

/* A ping-pong between two actors exercises worker-to-worker scheduling (the local
 * ring, stealing) rather than the injection queue. */
static cn_actor *pp[2];
static _Atomic uint64_t pp_count;
static uint64_t pp_limit;

static void pingpong_behaviour(cn_actor *self, void *state, cn_msg *msg)
{
    (void)self;
    unsigned me = (unsigned)(uintptr_t)state;
    uint64_t n = atomic_fetch_add(&pp_count, 1) + 1;
    if (n < pp_limit)
        cn_actor_send(pp[!me], msg); /* hand the message on: we no longer own it */
    else
        cn_msg_free(msg);
}

static void test_pingpong_between_workers(void)
{
    pp_limit = SCALE(200000, 20000);
    cn_runtime *rt = cn_runtime_new(&(cn_runtime_config){.workers = 2});
    CHECK_EQ(cn_runtime_start(rt), 0);
    pp[0] = cn_actor_spawn(rt, pingpong_behaviour, (void *)0, NULL);
    pp[1] = cn_actor_spawn(rt, pingpong_behaviour, (void *)1, NULL);
    for (int i = 0; i < 4; i++) /* several balls so both workers have work */
        cn_actor_send(pp[i & 1], &test_msg_new(0, 0)->hdr);
    CHECK(WAIT_FOR(atomic_load(&pp_count) >= pp_limit + 3, 30000));
    struct cn_runtime_stats st;
    /* Workers add their counts at the end of a turn: wait for the last one. */
    CHECK(WAIT_FOR((cn_runtime_stats(rt, &st), st.messages == pp_limit + 3), 5000));
    CHECK_EQ(st.messages, atomic_load(&pp_count));
    cn_actor_unref(pp[0]);
    cn_actor_unref(pp[1]);
    cn_runtime_shutdown(rt);
    CHECK(msgs_balanced());
}

CN_TEST_MAIN(test_wakeup_from_adapter_thread_within_5ms_10000_times,
             test_worker_count_defaults_and_clamps, test_pingpong_between_workers)
