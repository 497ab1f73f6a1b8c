/* Prometheus text format writers; see prom.h. */
#include "proto/prom.h"

#include <stdio.h>

void cn_prom_family(struct cn_strbuf *b, const char *name, const char *type, const char *help)
{
    cn_strbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void cn_prom_sample_u64(struct cn_strbuf *b, const char *name, const char *labels, uint64_t v)
{
    if (labels)
        cn_strbuf_printf(b, "%s{%s} %llu\n", name, labels, (unsigned long long)v);
    else
        cn_strbuf_printf(b, "%s %llu\n", name, (unsigned long long)v);
}

void cn_prom_sample_f64(struct cn_strbuf *b, const char *name, const char *labels, double v)
{
    if (labels)
        cn_strbuf_printf(b, "%s{%s} %.17g\n", name, labels, v);
    else
        cn_strbuf_printf(b, "%s %.17g\n", name, v);
}

void cn_prom_label(char *out, size_t outlen, const char *key, const char *value)
{
    size_t n = (size_t)snprintf(out, outlen, "%s=\"", key);
    for (const char *p = value; *p && n + 3 < outlen; p++) {
        if (*p == '\\' || *p == '"') {
            out[n++] = '\\';
            out[n++] = *p;
        } else if (*p == '\n') {
            out[n++] = '\\';
            out[n++] = 'n';
        } else {
            out[n++] = *p;
        }
    }
    if (n + 1 < outlen)
        out[n++] = '"';
    out[n < outlen ? n : outlen - 1] = '\0';
}

void cn_prom_counter(struct cn_strbuf *b, const char *name, const char *help, uint64_t v)
{
    cn_prom_family(b, name, "counter", help);
    cn_prom_sample_u64(b, name, NULL, v);
}

void cn_prom_gauge(struct cn_strbuf *b, const char *name, const char *help, double v)
{
    cn_prom_family(b, name, "gauge", help);
    cn_prom_sample_f64(b, name, NULL, v);
}
