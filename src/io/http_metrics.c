/* HTTP request metrics; see http_metrics.h. */
#include "io/http_metrics.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xmalloc.h"
#include "proto/prom.h"
#include "proto/prom_histogram.h"

/* Routes (~30) x methods x classes actually seen stays far below this. */
#define SERIES_MAX 160

struct series {
    const char *route;  /* static */
    const char *method; /* static */
    const char *status; /* static: "2xx" ... */
    struct cn_prom_histo h;
};

struct cn_http_metrics {
    pthread_mutex_t mu; /* guards n and the identity of series; counts are atomic */
    size_t n;
    struct series s[SERIES_MAX];
};

static const char *const methods[] = {"GET",    "POST", "PUT",     "PATCH",
                                      "DELETE", "HEAD", "OPTIONS", NULL};
static const char *const classes[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};

struct cn_http_metrics *cn_http_metrics_new(void)
{
    struct cn_http_metrics *m = cn_xcalloc(1, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
    return m;
}

void cn_http_metrics_free(struct cn_http_metrics *m)
{
    if (!m)
        return;
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static const char *method_label(const char *method)
{
    for (size_t i = 0; method && methods[i]; i++)
        if (strcmp(method, methods[i]) == 0)
            return methods[i];
    return "other";
}

static const char *status_label(int status)
{
    int c = status / 100;
    return c >= 1 && c <= 5 ? classes[c - 1] : "5xx";
}

/* Finds or adds the series; the caller holds mu. */
static struct series *series_of(struct cn_http_metrics *m, const char *route, const char *method,
                                const char *status)
{
    for (size_t i = 0; i < m->n; i++) {
        struct series *s = &m->s[i];
        /* Pointers of static strings, compared by content too: two copies of a literal
         * in two translation units are one route. */
        if (s->method == method && s->status == status &&
            (s->route == route || strcmp(s->route, route) == 0))
            return s;
    }
    if (m->n == SERIES_MAX) /* defensive: fold into the last one */
        return &m->s[SERIES_MAX - 1];
    struct series *s = &m->s[m->n];
    s->route = route;
    s->method = method;
    s->status = status;
    cn_prom_histo_init(&s->h, cn_prom_latency_bounds_us, cn_prom_latency_nbounds);
    m->n++;
    return s;
}

void cn_http_metrics_observe(struct cn_http_metrics *m, const char *route, const char *method,
                             int status, uint64_t ns)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->mu);
    struct series *s =
        series_of(m, route ? route : "other", method_label(method), status_label(status));
    cn_prom_histo_observe(&s->h, ns);
    pthread_mutex_unlock(&m->mu);
}

static void labels_of(const struct series *s, char *out, size_t len)
{
    char r[160], me[32], st[24];
    cn_prom_label(r, sizeof r, "route", s->route);
    cn_prom_label(me, sizeof me, "method", s->method);
    cn_prom_label(st, sizeof st, "status", s->status);
    snprintf(out, len, "%s,%s,%s", r, me, st);
}

void cn_http_metrics_render(struct cn_http_metrics *m, struct cn_strbuf *b)
{
    char lbl[256];
    cn_prom_family(b, "chat_http_requests_total", "counter",
                   "HTTP requests answered, by route template, method and status class.");
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->n; i++) {
        labels_of(&m->s[i], lbl, sizeof lbl);
        cn_prom_sample_u64(b, "chat_http_requests_total", lbl, cn_prom_histo_count(&m->s[i].h));
    }
    cn_prom_family(b, "chat_http_request_duration_seconds", "histogram",
                   "From the request line to the answer queued for writing, by route template, "
                   "method and status class.");
    for (size_t i = 0; i < m->n; i++) {
        labels_of(&m->s[i], lbl, sizeof lbl);
        cn_prom_histo_render(b, "chat_http_request_duration_seconds", lbl, &m->s[i].h);
    }
    pthread_mutex_unlock(&m->mu);
}
