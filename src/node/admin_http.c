/* The admin HTTP listener; see admin_http.h. */
#include "node/admin_http.h"

#include <string.h>

void cn_admin_http_handle(void *ctx, const struct cn_http_request *req,
                          struct cn_http_response *resp, const struct cn_http_later *later)
{
    (void)later;
    struct cn_http_routes *r = ctx;
    bool metrics = strcmp(req->path, "/metrics") == 0;
    if (metrics || strcmp(req->path, "/healthz") == 0)
        resp->route = metrics ? "/metrics" : "/healthz";
    if (!metrics && strcmp(req->path, "/healthz") != 0) {
        cn_http_error(resp, 404, "NOT_FOUND", "no such resource (here: /metrics, /healthz)");
        return;
    }
    if (strcmp(req->method, "GET") != 0) {
        cn_http_error(resp, 405, "METHOD_NOT_ALLOWED", "use GET");
        return;
    }
    if (metrics)
        cn_http_routes_metrics(r, resp);
    else
        cn_http_routes_health_detail(r, resp);
}

struct cn_http_server *cn_admin_http_start(const char *host, int port, struct cn_http_routes *r,
                                           char *err, size_t errlen)
{
    /* One I/O thread: a scrape every few seconds. A small body limit: nothing here
     * takes a body. No ws: upgrades are refused. */
    struct cn_http_server_config cfg = {
        .host = host,
        .port = port,
        .io_threads = 1,
        .max_body = 1024,
        .request_timeout_s = 10,
        .handler = cn_admin_http_handle,
        .handler_ctx = r,
    };
    return cn_http_server_start(&cfg, err, errlen);
}
