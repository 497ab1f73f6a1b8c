/* Batches of consumed records: one allocation holding the batch header, the record
 * array, the header arrays, the topic name and every key, value and header byte, so
 * that a batch is freed by one free() and outlives the librdkafka handle it came
 * from. Copying costs one memcpy of bytes that were just fetched into cache; in
 * exchange the consumer's shutdown never waits on an actor to release librdkafka
 * memory (rd_kafka_destroy blocks until every message it handed out is destroyed). */
#include "io/kafka_consumer_batch.h"

#include <stdalign.h>
#include <string.h>

#include "base/xmalloc.h"

/* Rounds up to the alignment of any of our structs. */
static size_t align_up(size_t n)
{
    const size_t a = alignof(max_align_t);
    return (n + a - 1) & ~(a - 1);
}

static size_t header_count(const rd_kafka_message_t *m)
{
    rd_kafka_headers_t *hs = NULL;
    if (rd_kafka_message_headers(m, &hs) != RD_KAFKA_RESP_ERR_NO_ERROR || !hs)
        return 0;
    return rd_kafka_header_cnt(hs);
}

struct cn_kafka_batch *cn__kafka_batch_new(rd_kafka_message_t *const *m, size_t n, uint32_t type)
{
    const char *topic = rd_kafka_topic_name(m[0]->rkt);
    size_t topic_len = strlen(topic) + 1;
    size_t nhdr = 0, bytes = topic_len;
    for (size_t i = 0; i < n; i++) {
        bytes += m[i]->key_len + m[i]->len;
        rd_kafka_headers_t *hs = NULL;
        size_t hn = header_count(m[i]);
        if (hn && rd_kafka_message_headers(m[i], &hs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            const char *name;
            const void *val;
            size_t len;
            for (size_t h = 0;
                 rd_kafka_header_get_all(hs, h, &name, &val, &len) == RD_KAFKA_RESP_ERR_NO_ERROR;
                 h++)
                bytes += strlen(name) + 1 + len;
        }
        nhdr += hn;
    }
    size_t off_rec = align_up(sizeof(struct cn_kafka_batch));
    size_t off_hdr = off_rec + align_up(n * sizeof(struct cn_kafka_record));
    size_t off_bytes = off_hdr + align_up(nhdr * sizeof(struct cn_kafka_header));
    char *mem = cn_xmalloc(off_bytes + bytes);

    struct cn_kafka_batch *b = (struct cn_kafka_batch *)mem;
    cn_msg_init(&b->hdr, type, NULL);
    b->records = (struct cn_kafka_record *)(mem + off_rec);
    b->n = n;
    b->partition = m[0]->partition;
    struct cn_kafka_header *hdrs = (struct cn_kafka_header *)(mem + off_hdr);
    char *p = mem + off_bytes;
    memcpy(p, topic, topic_len);
    b->topic = p;
    p += topic_len;

    for (size_t i = 0; i < n; i++) {
        struct cn_kafka_record *r = &b->records[i];
        r->partition = m[i]->partition;
        r->offset = m[i]->offset;
        rd_kafka_timestamp_type_t tt;
        r->timestamp_ms = rd_kafka_message_timestamp(m[i], &tt);
        r->key = NULL;
        r->keylen = m[i]->key_len;
        if (m[i]->key) {
            memcpy(p, m[i]->key, m[i]->key_len);
            r->key = p;
            p += m[i]->key_len;
        }
        r->value = NULL;
        r->len = m[i]->len;
        if (m[i]->payload) {
            memcpy(p, m[i]->payload, m[i]->len);
            r->value = p;
            p += m[i]->len;
        }
        r->headers = hdrs;
        r->nheaders = 0;
        rd_kafka_headers_t *hs = NULL;
        if (header_count(m[i]) &&
            rd_kafka_message_headers(m[i], &hs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            const char *name;
            const void *val;
            size_t len;
            for (size_t h = 0;
                 rd_kafka_header_get_all(hs, h, &name, &val, &len) == RD_KAFKA_RESP_ERR_NO_ERROR;
                 h++) {
                size_t nl = strlen(name) + 1;
                memcpy(p, name, nl);
                hdrs->name = p;
                p += nl;
                hdrs->value = NULL;
                hdrs->len = len;
                if (val) {
                    memcpy(p, val, len);
                    hdrs->value = p;
                    p += len;
                }
                hdrs++;
                r->nheaders++;
            }
        }
    }
    return b;
}

bool cn_kafka_record_header(const struct cn_kafka_record *r, const char *name, const void **value,
                            size_t *len)
{
    for (size_t i = r->nheaders; i-- > 0;) {
        if (strcmp(r->headers[i].name, name) == 0) {
            *value = r->headers[i].value;
            *len = r->headers[i].len;
            return true;
        }
    }
    return false;
}
