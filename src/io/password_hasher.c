/* Password hasher: a mutex+condvar queue feeding a few threads that run argon2id and
 * send each result to the requesting actor.
 *
 * A plain locked queue is enough here: a request costs ~100 ms of hashing, so the
 * lock is never contended in a way that matters, and it makes the bound (max_queue)
 * and "refuse once stopping" exact. Requests are allocated before the lock is taken
 * and freed (password wiped) by whichever side finishes with them: a hasher thread
 * after replying, cn_hasher_close for those never started, the submitter when refused. */
#include "io/password_hasher.h"

#include "base/log.h"
#include "base/xmalloc.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#define MAX_THREADS 64u
/* What crypto_pwhash_str writes and what we accept to verify. */
static const char argon2id_prefix[] = "$argon2id$";

enum req_kind { REQ_HASH, REQ_VERIFY, REQ_DUMMY };

struct req {
    struct req *next;
    enum req_kind kind;
    cn_actor *reply_to; /* one reference, dropped after the reply is sent */
    uint32_t msg_type;
    uint64_t tag;
    char *password; /* cn_xmalloc'd copy, wiped before free */
    size_t len;
    char stored[crypto_pwhash_STRBYTES]; /* REQ_VERIFY only */
};

struct cn_hasher {
    pthread_mutex_t mu;
    pthread_cond_t cv;       /* signalled on a new request, unpause and stop */
    struct req *head, *tail; /* mu */
    unsigned queued;         /* mu: requests waiting, not those being hashed */
    bool stopping;           /* mu: cn_hasher_close has begun */
    bool paused;             /* mu */
    bool joined;             /* owner thread: cn_hasher_close has joined the threads */
    /* Set before the threads start and never written again, so read without mu. */
    unsigned max_queue;
    unsigned long long opslimit;
    size_t memlimit;
    char dummy[crypto_pwhash_STRBYTES];
    unsigned nthreads;
    pthread_t threads[MAX_THREADS];
};

static void req_free(struct req *r)
{
    sodium_memzero(r->password, r->len);
    free(r->password);
    free(r);
}

/* Sends the reply for `r` and frees `r`. A reply to an actor that has stopped is
 * dropped (and freed) by cn_actor_send: nobody is left to care. */
static void reply(struct req *r, int ok, int needs_rehash, int error, const char *hash)
{
    struct cn_hasher_reply *m = cn_xcalloc(1, sizeof *m);
    cn_msg_init(&m->hdr, r->msg_type, NULL);
    m->tag = r->tag;
    m->ok = ok;
    m->needs_rehash = needs_rehash;
    m->error = error;
    if (hash) /* the rest stays zeroed by calloc */
        memcpy(m->hash, hash, strnlen(hash, crypto_pwhash_STRBYTES - 1));
    cn_actor *a = r->reply_to;
    req_free(r);
    cn_actor_send(a, &m->hdr);
    cn_actor_unref(a);
}

static void run(cn_hasher *h, struct req *r)
{
    if (r->kind == REQ_HASH) {
        char out[crypto_pwhash_STRBYTES];
        if (crypto_pwhash_str(out, r->password, r->len, h->opslimit, h->memlimit) != 0) {
            /* The only failure with valid limits: argon2 could not allocate memlimit. */
            CN_WARN("hasher", "argon2id hash failed: out of memory (%zu bytes)", h->memlimit);
            reply(r, 0, 0, -ENOMEM, NULL);
            return;
        }
        reply(r, 1, 0, 0, out);
        return;
    }
    const char *stored = r->kind == REQ_DUMMY ? h->dummy : r->stored;
    if (crypto_pwhash_str_verify(stored, r->password, r->len) == 0) {
        /* A match against the dummy is impossible in practice (random password);
         * answer "no" regardless, since there is no user behind it. */
        if (r->kind == REQ_DUMMY) {
            reply(r, 0, 0, 0, NULL);
            return;
        }
        int rehash = crypto_pwhash_str_needs_rehash(stored, h->opslimit, h->memlimit) != 0;
        reply(r, 1, rehash, 0, NULL);
        return;
    }
    /* Mismatch, or a stored string libsodium cannot parse (needs_rehash says -1 for
     * those); the latter is a data problem the caller should hear about. */
    if (r->kind == REQ_VERIFY &&
        crypto_pwhash_str_needs_rehash(stored, h->opslimit, h->memlimit) < 0) {
        reply(r, 0, 0, -EINVAL, NULL);
        return;
    }
    reply(r, 0, 0, 0, NULL);
}

static void *hasher_main(void *arg)
{
    cn_hasher *h = arg;
    pthread_mutex_lock(&h->mu);
    for (;;) {
        while (!h->stopping && (h->paused || !h->head))
            pthread_cond_wait(&h->cv, &h->mu);
        if (h->stopping)
            break;
        struct req *r = h->head;
        h->head = r->next;
        if (!h->head)
            h->tail = NULL;
        h->queued--;
        pthread_mutex_unlock(&h->mu);
        run(h, r);
        pthread_mutex_lock(&h->mu);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

cn_hasher *cn_hasher_start_config(const struct cn_hasher_config *cfg)
{
    struct cn_hasher_config c = cfg ? *cfg : (struct cn_hasher_config){0};
    if (!c.threads)
        c.threads = CN_HASHER_DEFAULT_THREADS;
    if (!c.max_queue)
        c.max_queue = CN_HASHER_DEFAULT_QUEUE;
    if (!c.opslimit)
        c.opslimit = crypto_pwhash_OPSLIMIT_INTERACTIVE;
    if (!c.memlimit)
        c.memlimit = crypto_pwhash_MEMLIMIT_INTERACTIVE;
    if (c.threads > MAX_THREADS || c.opslimit < crypto_pwhash_OPSLIMIT_MIN ||
        c.opslimit > crypto_pwhash_OPSLIMIT_MAX || c.memlimit < crypto_pwhash_MEMLIMIT_MIN ||
        c.memlimit > crypto_pwhash_MEMLIMIT_MAX) {
        CN_ERROR("hasher", "invalid config: threads %u (max %u), opslimit %llu, memlimit %zu",
                 c.threads, MAX_THREADS, c.opslimit, c.memlimit);
        return NULL;
    }
    /* Idempotent and thread-safe; 1 means another module initialised it already. */
    if (sodium_init() < 0) {
        CN_ERROR("hasher", "sodium_init failed");
        return NULL;
    }

    cn_hasher *h = cn_xcalloc(1, sizeof *h);
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    h->max_queue = c.max_queue;
    h->opslimit = c.opslimit;
    h->memlimit = c.memlimit;

    /* The dummy is a hash of a random password with the same limits as real hashes,
     * so verifying against it costs what a real verify costs. */
    unsigned char secret[32];
    randombytes_buf(secret, sizeof secret);
    int rc =
        crypto_pwhash_str(h->dummy, (const char *)secret, sizeof secret, h->opslimit, h->memlimit);
    sodium_memzero(secret, sizeof secret);
    if (rc != 0) {
        CN_ERROR("hasher", "argon2id hash failed: out of memory (%zu bytes)", h->memlimit);
        cn_hasher_free(h);
        return NULL;
    }

    for (unsigned i = 0; i < c.threads; i++) {
        int err = pthread_create(&h->threads[i], NULL, hasher_main, h);
        if (err) {
            CN_ERROR("hasher", "cannot start hasher thread: %s", strerror(err));
            cn_hasher_free(h);
            return NULL;
        }
        h->nthreads++;
    }
    CN_INFO("hasher", "argon2id: %u threads, queue %u, opslimit %llu, memlimit %zu KiB",
            h->nthreads, h->max_queue, h->opslimit, h->memlimit / 1024);
    return h;
}

cn_hasher *cn_hasher_start(unsigned threads, unsigned max_queue)
{
    struct cn_hasher_config c = {.threads = threads, .max_queue = max_queue};
    return cn_hasher_start_config(&c);
}

void cn_hasher_close(cn_hasher *h)
{
    if (!h || h->joined)
        return;
    pthread_mutex_lock(&h->mu);
    h->stopping = true;
    struct req *pending = h->head;
    h->head = h->tail = NULL;
    h->queued = 0;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    /* Each thread finishes (and answers) the hash it is running. */
    for (unsigned i = 0; i < h->nthreads; i++)
        pthread_join(h->threads[i], NULL);
    h->joined = true;
    while (pending) {
        struct req *next = pending->next;
        reply(pending, 0, 0, -ESHUTDOWN, NULL);
        pending = next;
    }
}

void cn_hasher_free(cn_hasher *h)
{
    if (!h)
        return;
    cn_hasher_close(h);
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    sodium_memzero(h->dummy, sizeof h->dummy);
    free(h);
}

static int submit(cn_hasher *h, enum req_kind kind, cn_actor *reply_to, uint32_t msg_type,
                  uint64_t tag, const char *password, size_t len, const char *stored)
{
    if (!h || !reply_to || !password)
        return -EINVAL;
    if (len > CN_HASHER_MAX_PASSWORD)
        return -E2BIG;
    struct req *r = cn_xcalloc(1, sizeof *r);
    r->kind = kind;
    r->msg_type = msg_type;
    r->tag = tag;
    r->len = len;
    r->password = cn_xmalloc(len ? len : 1);
    memcpy(r->password, password, len);
    if (stored)
        memcpy(r->stored, stored, strlen(stored) + 1);

    int rc = 0;
    pthread_mutex_lock(&h->mu);
    if (h->stopping) {
        rc = -ESHUTDOWN;
    } else if (h->queued >= h->max_queue) {
        rc = -EBUSY;
    } else {
        /* Referenced under the lock so that close, which drains under it, always
         * finds a referenced actor. */
        cn_actor_ref(reply_to);
        r->reply_to = reply_to;
        if (h->tail)
            h->tail->next = r;
        else
            h->head = r;
        h->tail = r;
        h->queued++;
        pthread_cond_signal(&h->cv);
    }
    pthread_mutex_unlock(&h->mu);
    if (rc)
        req_free(r);
    return rc;
}

int cn_hasher_hash(cn_hasher *h, cn_actor *reply_to, uint32_t msg_type, uint64_t tag,
                   const char *password, size_t len)
{
    return submit(h, REQ_HASH, reply_to, msg_type, tag, password, len, NULL);
}

int cn_hasher_verify(cn_hasher *h, cn_actor *reply_to, uint32_t msg_type, uint64_t tag,
                     const char *password, size_t len, const char *stored_hash)
{
    if (!stored_hash || strnlen(stored_hash, crypto_pwhash_STRBYTES) == crypto_pwhash_STRBYTES ||
        strncmp(stored_hash, argon2id_prefix, sizeof argon2id_prefix - 1) != 0)
        return -EINVAL;
    return submit(h, REQ_VERIFY, reply_to, msg_type, tag, password, len, stored_hash);
}

int cn_hasher_verify_dummy(cn_hasher *h, cn_actor *reply_to, uint32_t msg_type, uint64_t tag,
                           const char *password, size_t len)
{
    return submit(h, REQ_DUMMY, reply_to, msg_type, tag, password, len, NULL);
}

void cn__hasher_pause(cn_hasher *h, bool paused)
{
    pthread_mutex_lock(&h->mu);
    h->paused = paused;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
}
