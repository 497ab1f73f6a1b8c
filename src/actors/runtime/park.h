/* Parking idle workers without losing a wake-up.
 *
 * A bitmask holds one bit per parked worker (so at most 64 workers) and each worker
 * sleeps on its own futex word. The protocol is Dekker's, with a seq_cst fence on
 * both sides:
 *   worker:  set my bit; fence; look at every run queue; sleep only if all empty
 *   waker:   publish the actor on a run queue; fence; read the mask; claim a bit
 * Whatever the interleaving, either the worker sees the new actor or the waker sees
 * the bit. A claimed bit is cleared by the claimer (a CAS), so each parked worker is
 * woken by at most one waker, and a waker never wakes more than one worker. */
#ifndef CN_ACTORS_RUNTIME_PARK_H
#define CN_ACTORS_RUNTIME_PARK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define CN__PARK_MAX 64u

typedef struct cn__parker {
    /* 1 = "wake up": set by a waker (release), reset by the owner before it parks. */
    _Alignas(64) _Atomic uint32_t wake;
} cn__parker;

typedef struct cn__parking {
    /* Bit i set = worker i is parked or about to be. Any thread. */
    _Alignas(64) _Atomic uint64_t mask;
    unsigned n;
    cn__parker *slot; /* n entries */
} cn__parking;

/* Sets up parking for `n` (1..64) workers. Cannot fail (allocation aborts). */
void cn__parking_init(cn__parking *p, unsigned n);
/* Frees what init allocated. No worker may be parked. */
void cn__parking_destroy(cn__parking *p);

/* Worker `i` announces it is about to sleep: resets its wake word, sets its bit and
 * issues the seq_cst fence. The caller must then look for work once more and call
 * either cn__park_cancel (found some) or cn__park_wait. Worker i only. */
void cn__park_prepare(cn__parking *p, unsigned i);
/* Withdraws the announcement. A waker may already have claimed the bit; its wake-up
 * then stays pending and only makes a later park return early. Worker i only. */
void cn__park_cancel(cn__parking *p, unsigned i);
/* Sleeps until a waker claims worker i. Worker i only. */
void cn__park_wait(cn__parking *p, unsigned i);

/* Called after publishing work: fence, then wake one parked worker if there is any.
 * Returns true when it woke one. Any thread; cannot fail. */
bool cn__unpark_one(cn__parking *p);
/* Wakes every parked worker (shutdown). Any thread. */
void cn__unpark_all(cn__parking *p);
/* Number of workers currently parked (a snapshot). Any thread. */
unsigned cn__parked_count(cn__parking *p);

#endif
