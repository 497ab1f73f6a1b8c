/* The admin relay: how one node's admin command reaches the other nodes, wherever they
 * run (docs/ADMIN.md, "Across nodes"). Redis Pub/Sub, because every node already
 * reaches Redis and nodes on other hosts need not reach each other's admin sockets:
 *   - each node subscribes to `chat:admin:relay:<node.id>` (cn_admin_relay_start) and
 *     answers every request on it with the handler the program gives it;
 *   - the asking node (cn_admin_relay_ask, on its admin thread) subscribes to a reply
 *     channel of its own for this request, `chat:admin:reply:<node.id>:<random>`, then
 *     PUBLISHes {"from","reply","req"} to each node it asks. PUBLISH answers how many
 *     subscribers got the request: 0 means that node is not running (or not reaching
 *     Redis) and it is reported UNREACHABLE at once; for the others the asker waits for
 *     {"node","answer"} on the reply channel until the deadline, then reports those
 *     still silent as TIMEOUT. A reply that comes later goes to a channel nobody
 *     listens on any more and is dropped by Redis.
 * The relay knows no command: the program's handler decides what a relayed request
 * may do (chat-node's answers only the node-local commands, node/admin_commands.c).
 *
 * Threads: the listener has a thread of its own with blocking hiredis connections
 * (one subscribed, one to publish answers); it reconnects every second while Redis is
 * away. cn_admin_relay_ask and cn_admin_redis_members block their caller (the admin
 * thread) for at most their timeout.
 *
 * Memory: the listener owns its thread and connections (cn_admin_relay_close stops
 * them, cn_admin_relay_free frees); what the calls return is new and the caller's. */
#ifndef CN_IO_ADMIN_RELAY_H
#define CN_IO_ADMIN_RELAY_H

#include <jansson.h>
#include <stddef.h>

struct cn_admin_relay;

/* Answers one relayed request (borrowed) with a new JSON value (taken by the relay).
 * Runs on the relay's thread: it must be safe there. */
typedef json_t *(*cn_admin_relay_fn)(void *ctx, json_t *req);

/* Starts the listener for node_id (copied) on Redis host:port. Returns NULL with a
 * reason in err only when the thread cannot start; Redis being down is not an error
 * (it keeps trying). ctx is borrowed until cn_admin_relay_close. */
struct cn_admin_relay *cn_admin_relay_start(const char *host, int port, const char *node_id,
                                            cn_admin_relay_fn handler, void *ctx, char *err,
                                            size_t errlen);

/* Stops the thread (no handler call after it returns) and closes the connections.
 * Owner thread; idempotent; NULL is a no-op. cn_admin_relay_free closes first. */
void cn_admin_relay_close(struct cn_admin_relay *r);
void cn_admin_relay_free(struct cn_admin_relay *r);

/* Sends `req` (borrowed) to every node id in `nodes` (a borrowed array of strings)
 * and collects their answers for at most timeout_ms. Returns an object node id ->
 * that node's answer, or {"ok":false,"error":{"code":"UNREACHABLE"|"TIMEOUT",...}} for
 * a node that did not answer; NULL with a reason in err when Redis cannot be used. */
json_t *cn_admin_relay_ask(const char *host, int port, const char *from, json_t *nodes, json_t *req,
                           int timeout_ms, char *err, size_t errlen);

/* The members of the sorted set `key` (ZRANGE key 0 -1), as a new array of strings;
 * NULL with a reason in err. */
json_t *cn_admin_redis_members(const char *host, int port, const char *key, int timeout_ms,
                               char *err, size_t errlen);

#endif
