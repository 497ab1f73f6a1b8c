/* Messages: the unit of work an actor handles.
 *
 * A message is any struct whose first member is a `cn_msg`. The runtime links
 * messages into mailboxes through the intrusive `next` field, so sending never
 * allocates. Ownership travels with the message: the sender gives it away with
 * cn_actor_send(), the behaviour that receives it owns it and must free it with
 * cn_msg_free() or hand it on. Whoever ends up dropping a message that was never
 * delivered (a stopped actor, a cancelled timer, runtime shutdown) frees it
 * through the same hook. */
#ifndef CN_ACTORS_RUNTIME_MSG_H
#define CN_ACTORS_RUNTIME_MSG_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cn_msg cn_msg;

struct cn_msg {
    _Atomic(cn_msg *) next;    /* mailbox link: owned by the runtime while queued */
    uint32_t type;             /* free for the application */
    void (*free_fn)(cn_msg *); /* frees the whole message; NULL means free() */
};

/* Initialises the header of a message the caller allocated. `free_fn` NULL means the
 * message was allocated with malloc (cn_xmalloc) and is freed with free(). Cannot fail. */
static inline void cn_msg_init(cn_msg *m, uint32_t type, void (*free_fn)(cn_msg *))
{
    atomic_init(&m->next, NULL);
    m->type = type;
    m->free_fn = free_fn;
}

/* Frees `m` (takes it) through its free_fn, or free() when that is NULL. NULL is a no-op.
 * Cannot fail. */
void cn_msg_free(cn_msg *m);

#endif
