/* TLS certificate and key of the public listener; see tls_certs.h. */
#include "io/tls_certs.h"

#include <errno.h>
#include <libwebsockets.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/xmalloc.h"

struct cn_tls_certs {
    X509 *leaf;
    STACK_OF(X509) * chain; /* intermediates, may be empty */
    EVP_PKEY *key;
};

/* OpenSSL's first queued error as text, or `fallback`; clears the queue. */
static const char *ssl_reason(char *buf, size_t len, const char *fallback)
{
    unsigned long e = ERR_get_error();
    if (e)
        ERR_error_string_n(e, buf, len);
    else
        snprintf(buf, len, "%s", fallback);
    ERR_clear_error();
    return buf;
}

static FILE *open_file(const char *key, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f)
        snprintf(err, errlen, "%s: cannot read %s: %s", key, path, strerror(errno));
    return f;
}

void cn_tls_certs_free(struct cn_tls_certs *c)
{
    if (!c)
        return;
    X509_free(c->leaf);
    sk_X509_pop_free(c->chain, X509_free);
    EVP_PKEY_free(c->key);
    free(c);
}

struct cn_tls_certs *cn_tls_certs_load(const char *cert_file, const char *key_file, char *err,
                                       size_t errlen)
{
    char why[256];
    struct cn_tls_certs *c = cn_xcalloc(1, sizeof *c);
    c->chain = sk_X509_new_null();
    if (!c->chain)
        cn_oom(0);
    FILE *f = open_file("http.tls_cert_file", cert_file, err, errlen);
    if (!f)
        goto fail;
    ERR_clear_error();
    c->leaf = PEM_read_X509(f, NULL, NULL, NULL);
    for (X509 *x; c->leaf && (x = PEM_read_X509(f, NULL, NULL, NULL));)
        sk_X509_push(c->chain, x);
    fclose(f);
    ERR_clear_error(); /* the end of the file reads as an error after the last one */
    if (!c->leaf) {
        snprintf(err, errlen, "http.tls_cert_file: %s holds no PEM certificate", cert_file);
        goto fail;
    }
    f = open_file("http.tls_key_file", key_file, err, errlen);
    if (!f)
        goto fail;
    c->key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (!c->key) {
        snprintf(err, errlen, "http.tls_key_file: %s holds no unencrypted PEM private key (%s)",
                 key_file, ssl_reason(why, sizeof why, "unreadable"));
        goto fail;
    }
    if (X509_check_private_key(c->leaf, c->key) != 1) {
        ERR_clear_error();
        snprintf(err, errlen,
                 "http.tls_key_file: the key in %s does not belong to the certificate in %s "
                 "(http.tls_cert_file)",
                 key_file, cert_file);
        goto fail;
    }
    return c;
fail:
    cn_tls_certs_free(c);
    return NULL;
}

int cn_tls_certs_apply(const struct cn_tls_certs *c, void *ssl_ctx, char *err, size_t errlen)
{
    char why[256];
    SSL_CTX *ctx = ssl_ctx;
    /* The certificate and key are swapped together: OpenSSL checks the key against
     * the certificate in place, and both come checked from cn_tls_certs_load. */
    if (SSL_CTX_use_certificate(ctx, c->leaf) != 1 || SSL_CTX_set1_chain(ctx, c->chain) != 1 ||
        SSL_CTX_use_PrivateKey(ctx, c->key) != 1) {
        snprintf(err, errlen, "installing the certificate failed: %s",
                 ssl_reason(why, sizeof why, "unknown OpenSSL error"));
        return -1;
    }
    return 0;
}

void cn_tls_certs_describe(const struct cn_tls_certs *c, char *out, size_t outlen)
{
    char subject[256];
    X509_NAME_oneline(X509_get_subject_name(c->leaf), subject, sizeof subject);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char hex[2 * EVP_MAX_MD_SIZE + 1] = "";
    if (X509_digest(c->leaf, EVP_sha256(), md, &mdlen) == 1)
        for (unsigned i = 0; i < mdlen; i++)
            snprintf(hex + 2 * i, 3, "%02x", md[i]);
    snprintf(out, outlen, "subject %s, sha256 %s", subject, hex);
}

void cn_tls_min_version(void *ssl_ctx)
{
    SSL_CTX_set_min_proto_version((SSL_CTX *)ssl_ctx, TLS1_2_VERSION);
}

void *cn_tls_client_ctx_new(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    ERR_clear_error();
    return ctx;
}

void cn_tls_client_ctx_free(void *ssl_ctx)
{
    SSL_CTX_free((SSL_CTX *)ssl_ctx); /* NULL is fine */
}

void cn_tls_raw_send(struct lws *wsi, const void *buf, size_t len)
{
    SSL *ssl = lws_get_ssl(wsi);
    if (ssl) {
        /* The handshake is over (lws read a request through it); a fresh TLS
         * connection's socket buffer takes a short record whole. */
        (void)SSL_write(ssl, buf, (int)len);
        ERR_clear_error();
        return;
    }
    int fd = lws_get_socket_fd(wsi);
    if (fd >= 0)
        (void)send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
}
