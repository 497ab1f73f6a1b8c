/* A Redis reply, read through accessors: what the Redis adapter hands the chat actors
 * instead of a hiredis reply, so that no code above src/io includes hiredis
 * (tests/check_layers.py).
 *
 * Memory: a value belongs to the struct cn_redis_reply that carries it and goes with
 * that message; nested values and strings read from it are borrowed from it. Read by
 * one thread at a time. */
#ifndef CN_IO_REDIS_VALUE_H
#define CN_IO_REDIS_VALUE_H

#include <stddef.h>

struct cn_redis_value;

enum cn_redis_kind {
    CN_REDIS_NIL,    /* also what a NULL value reads as */
    CN_REDIS_STRING, /* a bulk string */
    CN_REDIS_INTEGER,
    CN_REDIS_ARRAY,
    CN_REDIS_STATUS, /* +OK and the like */
    CN_REDIS_ERROR,  /* -ERR ... */
    CN_REDIS_OTHER,  /* RESP3 kinds chat-node does not use */
};

enum cn_redis_kind cn_redis_kind(const struct cn_redis_value *v);

/* The text of a STRING, STATUS or ERROR value (its length in *len when len is not
 * NULL); NULL for any other kind. */
const char *cn_redis_str(const struct cn_redis_value *v, size_t *len);

/* An INTEGER's value; 0 for any other kind. */
long long cn_redis_int(const struct cn_redis_value *v);

/* An ARRAY's length; 0 for any other kind. */
size_t cn_redis_count(const struct cn_redis_value *v);

/* Element i of an ARRAY; NULL out of range or for any other kind. */
const struct cn_redis_value *cn_redis_at(const struct cn_redis_value *v, size_t i);

/* Parses one value from RESP bytes ("*2\r\n:1\r\n$1\r\nx\r\n"), for fake adapters in
 * tests. Returns NULL when the bytes are not exactly one whole value. The caller frees
 * the value with cn_redis_value_free. */
struct cn_redis_value *cn_redis_value_parse(const char *resp, size_t len);

/* Frees a value from cn_redis_value_parse or one taken out of a reply. NULL is a
 * no-op. */
void cn_redis_value_free(struct cn_redis_value *v);

#endif
