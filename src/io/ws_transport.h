/* The I/O-thread side of STOMP over WebSocket at /ws: internal to the HTTP server
 * (http_server.c routes WebSocket callbacks here; nothing else calls it).
 *
 * Per connection it keeps an incremental STOMP parser, a reference to the
 * connection's session actor, and a bounded queue of outbound bytes. Received
 * bytes go through the parser and each complete frame is cloned and sent to the
 * session; outbound messages from the session are queued and, once the inbox
 * drain that brought them is over (cn__ws_flush), written at once, several
 * WebSocket messages per send; what the socket does not take waits for
 * LWS_CALLBACK_SERVER_WRITEABLE. A queue that would pass its byte bound makes the
 * connection a slow consumer: the queue is dropped, an ERROR is written if the
 * client ever reads again, and the connection closes within a short deadline;
 * nothing else waits for it.
 *
 * Threads: everything here runs on the owning I/O thread, except
 * cn__ws_thread_new/free (the server's start and free). */
#ifndef CN_IO_WS_TRANSPORT_H
#define CN_IO_WS_TRANSPORT_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "actors/runtime/runtime.h"
#include "io/ws_link.h"
#include "proto/stomp_parser.h"

struct cn_http_server;

struct cn__ws_thread;

/* Per-I/O-thread WebSocket state. Cannot fail. cfg is copied. */
struct cn__ws_thread *cn__ws_thread_new(struct cn_http_server *srv, uint32_t index,
                                        const struct cn_ws_config *cfg);

/* Frees the thread's state once its lws context is destroyed (every connection
 * has been closed through cn__ws_callback by then). NULL is a no-op. */
void cn__ws_thread_free(struct cn__ws_thread *t);

/* The connection's client address (http_server.c): the TCP peer's, or from
 * X-Forwarded-For when the peer is in http.trusted_proxies (trusted_proxies.h).
 * While the request headers are at hand (an HTTP request, an upgrade). */
void cn__http_client_addr(struct lws *wsi, char *out, size_t outlen);

/* True when the wsi's opaque user data is a WebSocket connection of ours (the
 * other kind is the HTTP server's per-request state). */
bool cn__ws_is_conn(const void *opaque);

/* Handles a WebSocket callback reason (FILTER_PROTOCOL_CONNECTION, ESTABLISHED,
 * RECEIVE, SERVER_WRITEABLE, CLOSED, WSI_DESTROY for a connection of ours).
 * Returns what the lws callback must return (-1 closes the connection). */
int cn__ws_callback(struct cn__ws_thread *t, struct lws *wsi, enum lws_callback_reasons reason,
                    void *in, size_t len);

/* Queues an outbound message (taken) on its connection, or frees it when the
 * connection is gone or closing. Written by the next cn__ws_flush. */
void cn__ws_deliver(struct cn__ws_thread *t, struct cn_ws_out *out);

/* Writes what cn__ws_deliver queued since the last flush, without waiting for a
 * writeable callback (which costs two epoll_ctl calls and a loop round per
 * connection): called after each inbox drain. */
void cn__ws_flush(struct cn__ws_thread *t);

/* Shutdown: tells every session its connection is gone (reason shutdown), drops
 * the actor references and closes the connections; later upgrades are refused.
 * After it returns this thread never sends to an actor again. Idempotent. */
void cn__ws_close_all(struct cn__ws_thread *t);

#endif
