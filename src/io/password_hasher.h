/* Password hashing off the hot threads: argon2id (libsodium crypto_pwhash_str) on a
 * small pool of hasher threads, with results delivered to an actor as messages.
 *
 * One hash with the default (INTERACTIVE) limits takes about 110 ms of one core and
 * 64 MiB of memory on this 2-core machine (measured: best of 5, hash 110 ms, verify
 * 125 ms; MODERATE, 256 MiB, takes 580 ms). That must never run on an actor worker or
 * an I/O thread, so requests go to `threads` hasher threads (default 2) through a
 * bounded queue: peak memory is threads x memlimit, and a signup or login flood gets
 * -EBUSY at once instead of a growing backlog. INTERACTIVE is libsodium's
 * recommendation for online logins; the limits are configurable (tests use MIN).
 *
 * Every accepted request is answered with exactly one cn_hasher_reply sent to the
 * actor given with it (error -ESHUTDOWN if the hasher is closed first). A refused request
 * (negative return) is never answered. Passwords are copied and wiped with
 * sodium_memzero as soon as they are hashed or the request is dropped; they are never
 * logged.
 *
 * Threads: submit from any thread (actor behaviours included: it never blocks beyond
 * a short mutex), at any time until cn_hasher_free. The owner closes the hasher while
 * the actor runtime runs (replies need live actors) and frees it once the runtime
 * has shut down; neither from a hasher thread. */
#ifndef CN_IO_PASSWORD_HASHER_H
#define CN_IO_PASSWORD_HASHER_H

#include "actors/runtime/runtime.h"

#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest password accepted (bytes): argon2 takes anything, but a peer should not
 * make us copy megabytes. */
#define CN_HASHER_MAX_PASSWORD    1024u
#define CN_HASHER_DEFAULT_THREADS 2u
#define CN_HASHER_DEFAULT_QUEUE   256u

struct cn_hasher_config {
    unsigned threads;            /* 0 = CN_HASHER_DEFAULT_THREADS; at most 64 */
    unsigned max_queue;          /* waiting requests; 0 = CN_HASHER_DEFAULT_QUEUE */
    unsigned long long opslimit; /* 0 = crypto_pwhash_OPSLIMIT_INTERACTIVE */
    size_t memlimit;             /* 0 = crypto_pwhash_MEMLIMIT_INTERACTIVE */
};

/* The message every request is answered with (msg type as given with the request).
 * The receiving actor frees it with cn_msg_free. */
struct cn_hasher_reply {
    cn_msg hdr;
    uint64_t tag; /* as given with the request */
    int ok;       /* hash: 1 = `hash` holds the new hash; verify: 1 = password matches */
    /* verify only, when ok: 1 = the stored hash used other limits than the hasher's
     * now, so the caller should store a fresh hash of this password. */
    int needs_rehash;
    /* 0, or -ESHUTDOWN (hasher closed first), -ENOMEM (argon2 could not get its
     * memory), -EINVAL (stored hash is not an argon2id string). */
    int error;
    char hash[crypto_pwhash_STRBYTES]; /* NUL-terminated; empty unless a hash succeeded */
};

typedef struct cn_hasher cn_hasher;

/* Starts a hasher with `cfg` (borrowed; NULL = all defaults). Calls sodium_init.
 * Returns the hasher, or NULL when sodium_init fails, the limits are outside
 * libsodium's bounds, or a thread cannot be started (logged). Close it with
 * cn_hasher_close, free it with cn_hasher_free. */
cn_hasher *cn_hasher_start_config(const struct cn_hasher_config *cfg);

/* cn_hasher_start_config with `threads` and `max_queue` (0 = defaults) and the
 * INTERACTIVE limits. */
cn_hasher *cn_hasher_start(unsigned threads, unsigned max_queue);

/* cn_hasher_close: from now on every submission returns -ESHUTDOWN (no reply). Lets
 * each thread finish the hash it is running (its reply is sent), answers every
 * request still queued with error -ESHUTDOWN (dropping the actor references) and
 * joins the threads. The memory stays: submissions may race with it and may come
 * after it. Blocks for up to one hash per thread. Idempotent; NULL is a no-op. Cannot
 * fail.
 *
 * cn_hasher_free: frees everything. The caller makes sure no thread can submit any
 * more (the actor runtime has shut down). A hasher not closed yet is closed first,
 * which is right only while the runtime still runs (close sends to actors). NULL is
 * a no-op. Cannot fail. */
void cn_hasher_close(cn_hasher *h);
void cn_hasher_free(cn_hasher *h);

/* Queues a hash of `password[0..len)` (copied). The reply (type `msg_type`, `tag`)
 * goes to `reply_to` (borrowed; the hasher holds its own reference until it has
 * replied). Returns 0, -EBUSY when max_queue requests are waiting, -ESHUTDOWN once
 * closed, -E2BIG for a password over CN_HASHER_MAX_PASSWORD, -EINVAL for a NULL
 * argument. Any thread. */
int cn_hasher_hash(cn_hasher *h, cn_actor *reply_to, uint32_t msg_type, uint64_t tag,
                   const char *password, size_t len);

/* Queues a check of `password[0..len)` (copied) against `stored_hash` (borrowed,
 * NUL-terminated, copied). Errors as cn_hasher_hash, plus -EINVAL for a stored hash
 * that does not fit crypto_pwhash_STRBYTES. Any thread. */
int cn_hasher_verify(cn_hasher *h, cn_actor *reply_to, uint32_t msg_type, uint64_t tag,
                     const char *password, size_t len, const char *stored_hash);

/* For a login with an unknown user: checks `password` against a fixed hash made with
 * the hasher's limits at start, so the answer takes as long as a real verify and
 * nobody can tell "no such user" from "wrong password" by timing. The reply always
 * has ok = 0. Errors as cn_hasher_hash. Any thread. */
int cn_hasher_verify_dummy(cn_hasher *h, cn_actor *reply_to, uint32_t msg_type, uint64_t tag,
                           const char *password, size_t len);

/* Test seam: while paused, hasher threads take no new request (queued ones wait), so
 * a test can fill the queue or close with requests pending without racing the
 * threads. Any thread until cn_hasher_free. Cannot fail. */
void cn__hasher_pause(cn_hasher *h, bool paused);

#endif
