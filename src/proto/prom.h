/* Writers for the Prometheus text exposition format (version 0.0.4): one
 * HELP/TYPE header per family, then samples. Pure formatting into a strbuf.
 * Label values are escaped as the format requires (\\, \", \n). */
#ifndef CN_PROTO_PROM_H
#define CN_PROTO_PROM_H

#include <stdint.h>

#include "base/strbuf.h"

/* Writes "# HELP name help" and "# TYPE name type" ("counter", "gauge"). */
void cn_prom_family(struct cn_strbuf *b, const char *name, const char *type, const char *help);

/* Writes one sample. `labels` is NULL or a preformatted list such as
 * `dep="redis"` (build it with cn_prom_label). */
void cn_prom_sample_u64(struct cn_strbuf *b, const char *name, const char *labels, uint64_t v);
void cn_prom_sample_f64(struct cn_strbuf *b, const char *name, const char *labels, double v);

/* Formats key="escaped value" into out (truncated to outlen). */
void cn_prom_label(char *out, size_t outlen, const char *key, const char *value);

/* Shorthand: a family with a single unlabelled sample. */
void cn_prom_counter(struct cn_strbuf *b, const char *name, const char *help, uint64_t v);
void cn_prom_gauge(struct cn_strbuf *b, const char *name, const char *help, double v);

#endif
