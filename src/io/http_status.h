/* Reason phrases for HTTP status lines (RFC 9110, section 15). libwebsockets
 * knows only a few of them and leaves the rest empty ("HTTP/1.1 201 "), which
 * some clients and proxies log as malformed.
 *
 * Memory: returns static strings. */
#ifndef CN_IO_HTTP_STATUS_H
#define CN_IO_HTTP_STATUS_H

/* The reason phrase for status, or a generic one for its class ("Success",
 * "Client Error", ...) when the code is not a registered one. Never NULL. */
const char *cn_http_reason(int status);

#endif
