/* The parameters of messages_insert_batch: eight parallel arrays in PostgreSQL's text
 * format ('{a,b}'), built one decoded event at a time. Text elements are always
 * double-quoted so that commas, braces, blanks and the word NULL in a message stay
 * data; uuids and numbers need no quoting. */
#include <inttypes.h>
#include <stdlib.h>

#include "actors/pipeline/persist_internal.h"
#include "proto/chat_types.h"

void cn__persist_sql_init(struct cn_persist_sql *s)
{
    for (int i = 0; i < 8; i++) {
        cn_strbuf_init(&s->a[i], 64);
        cn_strbuf_append(&s->a[i], "{", 1);
    }
    s->n = 0;
}

void cn__persist_sql_text_elem(struct cn_strbuf *b, const char *s, size_t n)
{
    cn_strbuf_append(b, "\"", 1);
    size_t run = 0; /* copy unescaped stretches in one append */
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"' || s[i] == '\\') {
            cn_strbuf_append(b, s + run, i - run);
            cn_strbuf_append(b, "\\", 1);
            run = i;
        }
    }
    cn_strbuf_append(b, s + run, n - run);
    cn_strbuf_append(b, "\"", 1);
}

void cn__persist_sql_add(struct cn_persist_sql *s, const struct cn_chat_message_event *e,
                         int32_t partition, int64_t offset)
{
    if (s->n > 0)
        for (int i = 0; i < 8; i++)
            cn_strbuf_append(&s->a[i], ",", 1);
    cn_strbuf_printf(&s->a[0], "%s", e->message_key);
    cn_strbuf_printf(&s->a[1], "%" PRId64, e->room_id);
    cn_strbuf_printf(&s->a[2], "%" PRId64, e->sender_id);
    cn__persist_sql_text_elem(&s->a[3], e->content, e->content_len);
    cn_strbuf_printf(&s->a[4], "%s", cn_message_type_name(e->type));
    cn_strbuf_printf(&s->a[5], "%" PRId64, e->sent_at_ms);
    cn_strbuf_printf(&s->a[6], "%" PRId32, partition);
    cn_strbuf_printf(&s->a[7], "%" PRId64, offset);
    s->n++;
}

void cn__persist_sql_finish(struct cn_persist_sql *s, char *params[8])
{
    for (int i = 0; i < 8; i++) {
        cn_strbuf_append(&s->a[i], "}", 1);
        params[i] = cn_strbuf_take(&s->a[i], NULL);
    }
    s->n = 0;
}
