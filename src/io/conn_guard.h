/* What every accepted socket and every WebSocket upgrade passes through before it
 * costs the node more: TCP keepalive on the socket, and the node's connection
 * limits on the upgrade (limits.max_connections WebSocket connections open,
 * limits.accept_rate upgrades per second). The per-user limit needs the token,
 * which comes with CONNECT, so the session enforces it (user_sessions.h).
 *
 * An upgrade over a limit is answered `HTTP/1.1 503` with `Retry-After` and a JSON
 * error body, then closed; each refusal is counted in
 * cn_ws_counters.refused[reason]. The check runs when lws has read the whole
 * upgrade request, so the close never resets a request the client is still
 * sending (which would lose the answer).
 *
 * Threads: the I/O threads (the rate window is shared under a mutex; the open
 * count is the transport's relaxed gauge, so a burst may pass the limit by the
 * upgrades in flight on other threads: at most one per I/O thread).
 * Memory: the program owns the guard; it borrows the counters. */
#ifndef CN_IO_CONN_GUARD_H
#define CN_IO_CONN_GUARD_H

#include <stddef.h>
#include <stdint.h>

#include "io/ws_counters.h"

struct cn_conn_guard;

/* max_connections / accept_rate 0 = no limit. counters borrowed. Cannot fail. */
struct cn_conn_guard *cn_conn_guard_new(uint32_t max_connections, uint32_t accept_rate,
                                        struct cn_ws_counters *counters);
void cn_conn_guard_free(struct cn_conn_guard *g);

/* A freshly accepted socket: TCP keepalive (idle `keepalive_s`, then 3 probes a
 * third of it apart; 0 = off: ws.tcp_keepalive_s), so a peer that vanished without
 * a FIN is closed even when nothing is written to it. Errors are ignored (the
 * socket still works without it). */
void cn_conn_guard_socket(int fd, int keepalive_s);

/* Writes an answer on the connection being upgraded (through TLS when it has it). */
typedef void (*cn_conn_guard_write_fn)(void *arg, const void *buf, size_t len);

/* A WebSocket upgrade: 0 to go on, or -1 after writing the 503 with write(arg, ...)
 * (the caller closes; write NULL: refused and counted, nothing written). NULL g:
 * always 0. */
int cn_conn_guard_upgrade(struct cn_conn_guard *g, cn_conn_guard_write_fn write, void *arg);

#endif
