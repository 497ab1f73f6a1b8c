/* OPTIONS answers; see http_options.h. */
#include "http_options.h"

#include <string.h>

static const char api_methods[] = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";
static const char read_only[] = "GET, HEAD, OPTIONS";

const char *cn_http_allow_for(const char *path)
{
    if (strcmp(path, "/api") == 0 || strncmp(path, "/api/", 5) == 0)
        return api_methods;
    return read_only;
}

void cn_http_options_answer(const struct cn_http_request *req, struct cn_http_response *resp)
{
    resp->status = 204;
    resp->content_type = NULL;
    resp->body = NULL;
    resp->body_len = 0;
    resp->allow = cn_http_allow_for(req->path);
}
