/* The public listener's TLS certificate and key (http.tls_cert_file,
 * http.tls_key_file): read, checked and held in memory, so that start-up and a
 * reload refuse a missing file or a key that does not match with our own words
 * before libwebsockets or OpenSSL sees them, and so that a reload applies to every
 * I/O thread's SSL_CTX exactly what was checked, even if the files change again
 * meanwhile. Also the one way to write raw bytes on a connection that may be TLS.
 *
 * Memory: a cn_tls_certs owns its certificate, chain and key (OpenSSL reference
 * counts); an SSL_CTX it was applied to takes references of its own, so the
 * holder may free it at once. */
#ifndef CN_IO_TLS_CERTS_H
#define CN_IO_TLS_CERTS_H

#include <stdbool.h>
#include <stddef.h>

struct cn_tls_certs;
struct lws;

/* Reads the PEM certificate (leaf first, then any intermediates) and private key.
 * Returns NULL with a one-line reason naming the key and file in err when a file
 * is missing or unreadable, holds no certificate or key, or the key does not
 * belong to the certificate. Any thread. */
struct cn_tls_certs *cn_tls_certs_load(const char *cert_file, const char *key_file, char *err,
                                       size_t errlen);

/* Installs them in `ssl_ctx` (an OpenSSL SSL_CTX *) for connections accepted from
 * now on; connections already open keep theirs. Returns 0, or -1 with a reason.
 * Only the thread that creates connections from ssl_ctx may call it. */
int cn_tls_certs_apply(const struct cn_tls_certs *c, void *ssl_ctx, char *err, size_t errlen);

/* The leaf's subject and SHA-256 fingerprint (hex, colon-free), for logs and the
 * admin reply. */
void cn_tls_certs_describe(const struct cn_tls_certs *c, char *out, size_t outlen);

void cn_tls_certs_free(struct cn_tls_certs *c);

/* Restricts ssl_ctx to TLS 1.2 and newer. */
void cn_tls_min_version(void *ssl_ctx);

/* A bare client SSL_CTX (an OpenSSL SSL_CTX *) to hand libwebsockets as a TLS
 * vhost's provided_client_ssl_ctx, so that it makes no client context of its own:
 * libwebsockets 4.1 keeps the reference count of the client contexts it makes
 * under an OpenSSL ex_data index that each lws_create_context with
 * LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT allocates anew, so with one context per I/O
 * thread every context but the last one looks it up under the wrong index at
 * destruction and never frees its client context (with the library state it
 * pins). The vhosts never connect out; this one is never used. The caller owns
 * it, libwebsockets never frees a provided one: cn_tls_client_ctx_free after
 * every context using it is destroyed. NULL when OpenSSL is out of memory. */
void *cn_tls_client_ctx_new(void);
void cn_tls_client_ctx_free(void *ssl_ctx);

/* Writes len bytes straight on the connection, past lws's queue: a short answer
 * before an upgrade or a 100 Continue, when lws has nothing of ours queued.
 * Through TLS when the connection has it. Best effort: errors are ignored. I/O
 * thread of the connection. */
void cn_tls_raw_send(struct lws *wsi, const void *buf, size_t len);

#endif
