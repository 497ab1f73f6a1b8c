/* The catch-up reader of a room: "the room's messages after position X", read from
 * the room's Redis window (room:{id}:window, the envelopes the broadcast pipeline
 * keeps, broadcast_envelope.h) and, for what the window no longer holds, from
 * PostgreSQL (room_messages_after_offset). The room actor (room_actor.c) runs one for
 * its gap repair and one per subscription that resumes. The reader sends the reads on
 * the actor's behalf, is handed their replies by the actor's behaviour, and gives
 * the messages it finds back through a callback, in position order, each above the
 * last one given, so nothing is given twice.
 *
 * One read after X:
 *   1. ZRANGEBYSCORE of the window above X.
 *   2. When the window's oldest row follows X (its prev is X), the window is all of
 *      it. Otherwise the window lost the start (capped, expired, unreachable), and
 *      PostgreSQL is read from X up to (not including) the window's oldest row; its
 *      rows are given as they come, bodies rendered, prev unknown (-2).
 *   3. Then the window rows above the last position given, and the read is done.
 * PostgreSQL is written by the persistence pipeline, which may trail the broadcast
 * (batches, a consumer group's rebalance): when a short page still ends below the
 * previous offset of the first row known after it (that row's prev names the message
 * that must come right before it), the rows in between are not stored yet, and the
 * reader asks again after CN_ROOM_CATCHUP_WAIT_MS, up to CN_ROOM_CATCHUP_WAITS times,
 * before it gives up on them. Giving the window rows at once would skip those
 * messages for good: nothing later shows the hole again.
 * Its two uses differ where the window tells nothing (empty or unreadable) and in
 * paging:
 *   CN_ROOM_CATCHUP_REPAIR  (the room's gap repair): the first thing known after X is
 *       then the oldest envelope the room holds back (`next`); with none, nothing is
 *       missing. PostgreSQL is read once, CN_ROOM_CATCHUP_PAGE rows at the most.
 *   CN_ROOM_CATCHUP_RESUME  (one subscription's catch-up): then all of PostgreSQL after
 *       X; PostgreSQL is read in pages of CN_ROOM_CATCHUP_PAGE rows until a short one.
 *
 * Threads: a reader belongs to one actor and is only touched by its behaviour.
 * Memory: the reader keeps the window rows between a window reply and the end of the
 * read; cn_room_catchup_clear drops them when the read is abandoned. */
#ifndef CN_ACTORS_ROOM_ROOM_CATCHUP_H
#define CN_ACTORS_ROOM_ROOM_CATCHUP_H

#include <stddef.h>
#include <stdint.h>

#include "actors/room/room_counters.h"
#include "actors/runtime/runtime.h"
#include "io/pg_pool.h"
#include "io/redis_client.h"
#include "proto/broadcast_envelope.h"

/* Rows per PostgreSQL read. */
#define CN_ROOM_CATCHUP_PAGE 1000

/* PostgreSQL not there yet: the wait before asking again, and how many times (20 s:
 * longer than a consumer group's rebalance and the backlog persistence then stores). */
#define CN_ROOM_CATCHUP_WAIT_MS 250
#define CN_ROOM_CATCHUP_WAITS   80

/* An envelope kept: its positions and a copy of its key and body (a window row, or
 * an envelope the room holds back during a repair). Linked through `next`. */
struct cn_room_catchup_row {
    struct cn_room_catchup_row *next;
    int64_t offset, prev;
    char message_key[CN_UUID_STR_LEN + 1];
    size_t body_len;
    char body[];
};

/* A copy of `e` (borrowed), next = NULL; the caller frees it with free() or
 * cn_room_catchup_rows_free. Cannot fail. */
struct cn_room_catchup_row *cn_room_catchup_row_new(const struct cn_bc_envelope *e);

/* Frees a list of rows. NULL is a no-op. */
void cn_room_catchup_rows_free(struct cn_room_catchup_row *list);

/* Where one room's messages are, shared by all its readers (borrowed by them: it
 * outlives them). The replies of the reads come to the actor as a struct
 * cn_redis_reply of type window_reply and a struct cn_pg_reply of type pg_reply,
 * carrying the tag given to cn_room_catchup_start. */
struct cn_room_store {
    int64_t room_id;
    const char *window; /* "room:{id}:window" */
    struct cn_redis *redis;
    struct cn_pg_pool *pg;
    struct cn_fanout_counters *counters; /* repaired_window, repaired_postgres */
    uint32_t window_reply, pg_reply;
    uint32_t wait_reply; /* the timer message that ends a wait for PostgreSQL */
};

/* The message a reader's wait for PostgreSQL ends with (type store->wait_reply); the
 * actor hands it to cn_room_catchup_on_wait. */
struct cn_room_catchup_wait {
    cn_msg hdr;
    uint64_t tag;
};

enum cn_room_catchup_mode { CN_ROOM_CATCHUP_REPAIR, CN_ROOM_CATCHUP_RESUME };

/* What a step left: a read (or a wait's timer) is out (hand its reply to the
 * reader), or the read is done (everything found was given). */
enum cn_room_catchup_step { CN_ROOM_CATCHUP_READING, CN_ROOM_CATCHUP_DONE };

/* Receives one message found, in position order: prev -2 when not known (a
 * PostgreSQL row). key and body are borrowed for the call. */
typedef void (*cn_room_catchup_give_fn)(void *ctx, int64_t offset, int64_t prev, const char *key,
                                        const char *body, size_t body_len);

struct cn_room_catchup {
    const struct cn_room_store *store;
    enum cn_room_catchup_mode mode;
    uint64_t tag;                       /* carried by the replies of this read */
    int64_t after;                      /* X, then the last position given */
    int64_t before;                     /* PostgreSQL's exclusive upper bound; -1 none */
    int64_t need;                       /* prev of the row at `before`: PostgreSQL's last; -1 */
    int waits;                          /* waits for PostgreSQL in this read */
    int waiting;                        /* a wait's timer is out */
    struct cn_room_catchup_row *window; /* window rows above `after`, given at the end */
};

/* Makes an idle reader of `store` (borrowed). Cannot fail. */
void cn_room_catchup_init(struct cn_room_catchup *c, const struct cn_room_store *store,
                          enum cn_room_catchup_mode mode);

/* Starts a read after position `after` (-1: from the start) for actor `self`
 * (borrowed): sends the window read. Returns 0 (one window reply with `tag` will
 * come: cn_room_catchup_on_window), or the negative errno with which the Redis client
 * refused it; then nothing is out, and the caller either gives up or goes on without
 * the window (cn_room_catchup_on_window with rep NULL). */
int cn_room_catchup_start(struct cn_room_catchup *c, cn_actor *self, uint64_t tag, int64_t after);

/* The window's answer (rep taken; NULL: the window could not be asked). `next`
 * (borrowed; REPAIR only, NULL otherwise) is the oldest envelope the caller holds
 * back that came after the start. Gives what it can through give(ctx, ...) and
 * returns READING when PostgreSQL is being asked (hand the reply to
 * cn_room_catchup_on_pg), DONE when the read is over. Cannot fail: an unreadable
 * window or a refused PostgreSQL read is logged and the read goes on without it. */
enum cn_room_catchup_step cn_room_catchup_on_window(struct cn_room_catchup *c, cn_actor *self,
                                                    struct cn_redis_reply *rep,
                                                    const struct cn_room_catchup_row *next,
                                                    cn_room_catchup_give_fn give, void *ctx);

/* PostgreSQL's answer (rep taken): gives its rows above the last position given,
 * asks for the next page (RESUME, after a full page) and returns READING; or, when a
 * short page stops below what the first row after it follows, starts a wait
 * (cn_timer_after on self's runtime; its struct cn_room_catchup_wait goes to
 * cn_room_catchup_on_wait) and returns READING; or gives the window rows and returns
 * DONE. A failed query is logged and ends the read with what was found. Cannot fail. */
enum cn_room_catchup_step cn_room_catchup_on_pg(struct cn_room_catchup *c, cn_actor *self,
                                                struct cn_pg_reply *rep,
                                                cn_room_catchup_give_fn give, void *ctx);

/* A wait's end (m taken): asks PostgreSQL again from the last position given.
 * Returns READING, or DONE (the window rows given) when the query was refused. A
 * message of no wait in progress (the read was abandoned) is freed, and READING
 * returned with nothing out. Cannot fail. */
enum cn_room_catchup_step cn_room_catchup_on_wait(struct cn_room_catchup *c, cn_actor *self,
                                                  cn_msg *m, cn_room_catchup_give_fn give,
                                                  void *ctx);

/* Drops the window rows held by an abandoned read (a late reply must not be handed
 * to it afterwards). The reader stays usable. Cannot fail. */
void cn_room_catchup_clear(struct cn_room_catchup *c);

#endif
