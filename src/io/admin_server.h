/* The admin socket: a Unix stream socket (admin.socket, mode 0600) on a thread of
 * its own, one JSON request per line and one JSON answer per line (docs/ADMIN.md).
 * It knows no command: each parsed request goes to the dispatcher the program
 * gives cn_admin_start (chat-node's is node/admin_commands.c). chat-admin is its
 * client.
 *
 * Start-up is two steps so that a bad path stops the node before anything else
 * runs: cn_admin_listen checks the path (a file that is not a socket: refused; a
 * socket some live process accepts on: refused; a socket nobody accepts on, left
 * by a crash: replaced) and binds; cn_admin_start starts the thread once the
 * node's parts exist.
 *
 * Memory: the server owns its socket, its thread and its clients;
 * cn_admin_server_close stops the thread, closes the clients and the socket and
 * unlinks the path; cn_admin_server_free frees it. */
#ifndef CN_IO_ADMIN_SERVER_H
#define CN_IO_ADMIN_SERVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct cn_admin_server;

/* Checks `path` and binds it (mode 0600). Returns NULL with a one-line reason in
 * err. No thread yet. */
struct cn_admin_server *cn_admin_listen(const char *path, char *err, size_t errlen);

/* Answers one request (borrowed) on the admin thread with a new JSON value (taken by
 * the server); sets *drain_started when the client is to be kept for the drain's
 * progress lines. May block briefly (the Kafka admin queries). */
typedef json_t *(*cn_admin_dispatch_fn)(void *ctx, json_t *req, bool *drain_started);

/* Starts answering on the thread; every request goes to dispatch(ctx, ...). ctx is
 * borrowed until cn_admin_server_close. Returns 0 or -errno. */
int cn_admin_start(struct cn_admin_server *s, cn_admin_dispatch_fn dispatch, void *ctx);

/* cn_admin_server_close: stops the thread, so no request is dispatched any more
 * (clients waiting on a drain get a last {"event":"stopped"} line), closes the
 * clients and the socket, and unlinks the path when it is still ours. Idempotent.
 * cn_admin_server_free: frees s (closing first if that has not been done). Owner
 * thread, never the admin thread; NULL is a no-op. Cannot fail. */
void cn_admin_server_close(struct cn_admin_server *s);
void cn_admin_server_free(struct cn_admin_server *s);

#endif
