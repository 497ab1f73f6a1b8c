/* The admin HTTP listener (admin.http_host:admin.http_port, loopback by default): GET
 * /metrics (Prometheus text) and GET /healthz with every dependency's state, for
 * Prometheus and operators, kept off the public port. It is a cn_http_server of its own
 * with one I/O thread and no WebSocket; its answers come from the public routes'
 * renderers (node/http_routes.h), so both ports describe the same node.
 *
 * Memory: the routes are borrowed until cn_http_server_close of the returned server;
 * the caller closes and frees the server like the public one. */
#ifndef CN_NODE_ADMIN_HTTP_H
#define CN_NODE_ADMIN_HTTP_H

#include <stddef.h>

#include "node/http_routes.h"

/* Binds host:port and starts the listener. Returns NULL with a reason in err (the port
 * in use, for example). */
struct cn_http_server *cn_admin_http_start(const char *host, int port, struct cn_http_routes *r,
                                           char *err, size_t errlen);

/* The handler (cn_http_handler_fn; ctx is a struct cn_http_routes), for tests. */
void cn_admin_http_handle(void *ctx, const struct cn_http_request *req,
                          struct cn_http_response *resp, const struct cn_http_later *later);

#endif
