/* The answer to an OPTIONS request: 204 No Content with an Allow header naming the
 * methods the path's kind of resource takes. The REST API (/api/...) takes GET, HEAD,
 * POST, PUT, PATCH and DELETE (each resource a subset: a request with another
 * method gets 405 naming its own); everything else (the web client's files,
 * /healthz, /metrics) is read-only.
 *
 * A separate function so that CORS preflight handling can wrap it: it fills resp
 * and returns; whoever adds headers for an allowed origin does so on the same resp.
 *
 * Memory: resp gets static strings only (no body). */
#ifndef CN_IO_HTTP_OPTIONS_H
#define CN_IO_HTTP_OPTIONS_H

#include "io/http_server.h"

/* The Allow value for path. Static. (`OPTIONS *` never gets here: lws refuses a
 * request target that is not a path with its own 403.) */
const char *cn_http_allow_for(const char *path);

/* Fills resp with 204 and `allow`. I/O thread; cannot fail. */
void cn_http_options_answer(const struct cn_http_request *req, struct cn_http_response *resp);

#endif
