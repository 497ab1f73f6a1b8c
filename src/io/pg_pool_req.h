/* One query on its way through the pool, and the reply it turns into.
 *
 * A request is a cn_msg so that it can travel through the pool's cn_inbox; once the
 * pool thread has drained it, it sits on the pool's FIFO (intrusive `next`) and then
 * on a connection until its reply is sent. It is one allocation holding the SQL text
 * and the parameters, and it holds a reference to the reply actor.
 *
 * Threads: cn__pg_req_new on any thread; everything else on the pool thread. */
#ifndef CN_IO_PG_POOL_REQ_H
#define CN_IO_PG_POOL_REQ_H

#include <libpq-fe.h>
#include <stdint.h>

#include "actors/runtime/runtime.h"
#include "io/pg_pool.h"

struct cn__pg_req {
    cn_msg hdr;
    struct cn__pg_req *next; /* pool FIFO link, pool thread only */
    cn_actor *reply_to;      /* referenced */
    uint32_t msg_type;
    uint64_t tag;
    uint64_t submit_ns;   /* cn_now_ns at submit */
    uint64_t deadline_ns; /* fail if still queued then */
    uint64_t sql_hash;
    int nparams;
    const char *const *params; /* points into this allocation */
    const char *sql;           /* points into this allocation */
};

/* Copies sql and params into one new request and takes a reference on reply_to
 * (borrowed). The caller validated the arguments. Cannot fail. */
struct cn__pg_req *cn__pg_req_new(cn_actor *reply_to, uint32_t msg_type, uint64_t tag,
                                  const char *sql, int nparams, const char *const *params,
                                  uint64_t now_ns, uint64_t timeout_ns);

/* Sends the reply for `q` (taken: freed here, its actor reference dropped) carrying
 * `res` (taken; NULL allowed). When `res` is a successful result the reply is ok;
 * otherwise its SQLSTATE and first message line come from `res` when it is an error
 * result, else from `sqlstate`/`msg`, and `res` is cleared. A stopped actor drops the
 * reply (the runtime frees it). Returns the reply's ok and stores its latency in
 * *latency_ns. Cannot fail. */
int cn__pg_req_reply(struct cn__pg_req *q, PGresult *res, const char *sqlstate, const char *msg,
                     uint64_t now_ns, uint64_t *latency_ns);

#endif
