/* Command names and header lookup for STOMP frames, plus the one-allocation clone. */
#include "proto/stomp_frame.h"

#include <string.h>

#include "base/xmalloc.h"

static const char *const command_names[] = {
    [CN_STOMP_CONNECT] = "CONNECT",
    [CN_STOMP_STOMP] = "STOMP",
    [CN_STOMP_SEND] = "SEND",
    [CN_STOMP_SUBSCRIBE] = "SUBSCRIBE",
    [CN_STOMP_UNSUBSCRIBE] = "UNSUBSCRIBE",
    [CN_STOMP_ACK] = "ACK",
    [CN_STOMP_NACK] = "NACK",
    [CN_STOMP_BEGIN] = "BEGIN",
    [CN_STOMP_COMMIT] = "COMMIT",
    [CN_STOMP_ABORT] = "ABORT",
    [CN_STOMP_DISCONNECT] = "DISCONNECT",
    [CN_STOMP_CONNECTED] = "CONNECTED",
    [CN_STOMP_MESSAGE] = "MESSAGE",
    [CN_STOMP_RECEIPT] = "RECEIPT",
    [CN_STOMP_ERROR] = "ERROR",
};

#define NCOMMANDS ((int)(sizeof command_names / sizeof command_names[0]))

const char *cn_stomp_command_name(enum cn_stomp_command cmd)
{
    if ((int)cmd <= 0 || (int)cmd >= NCOMMANDS)
        return "?";
    return command_names[cmd];
}

enum cn_stomp_command cn_stomp_command_parse(const char *name, size_t len)
{
    /* A linear scan over 15 short names: the first byte rejects almost all of them. */
    for (int i = 1; i < NCOMMANDS; i++) {
        const char *c = command_names[i];
        if (c[0] == name[0] && strlen(c) == len && memcmp(c, name, len) == 0)
            return (enum cn_stomp_command)i;
    }
    return 0;
}

bool cn_stomp_command_allows_body(enum cn_stomp_command cmd)
{
    return cmd == CN_STOMP_SEND || cmd == CN_STOMP_MESSAGE || cmd == CN_STOMP_ERROR;
}

bool cn_stomp_command_is_raw(enum cn_stomp_command cmd)
{
    return cmd == CN_STOMP_CONNECT || cmd == CN_STOMP_STOMP || cmd == CN_STOMP_CONNECTED;
}

const char *cn_stomp_frame_get(const struct cn_stomp_frame *f, const char *name, size_t *len_out)
{
    size_t n = strlen(name);
    for (uint32_t i = 0; i < f->nheaders; i++) {
        const struct cn_stomp_header *h = &f->headers[i];
        if (h->name_len == n && memcmp(h->name, name, n) == 0) {
            if (len_out)
                *len_out = h->value_len;
            return h->value;
        }
    }
    return NULL;
}

struct cn_stomp_frame *cn_stomp_frame_clone(const struct cn_stomp_frame *f)
{
    size_t size = sizeof(struct cn_stomp_frame) + f->nheaders * sizeof(struct cn_stomp_header);
    for (uint32_t i = 0; i < f->nheaders; i++)
        size += f->headers[i].name_len + 1 + f->headers[i].value_len + 1;
    size += f->body_len + 1;

    char *mem = cn_xmalloc(size);
    struct cn_stomp_frame *copy = (struct cn_stomp_frame *)mem;
    struct cn_stomp_header *hdrs = (struct cn_stomp_header *)(copy + 1);
    char *p = (char *)(hdrs + f->nheaders);
    *copy = *f;
    copy->headers = hdrs;
    for (uint32_t i = 0; i < f->nheaders; i++) {
        const struct cn_stomp_header *h = &f->headers[i];
        hdrs[i] = *h;
        memcpy(p, h->name, h->name_len + 1);
        hdrs[i].name = p;
        p += h->name_len + 1;
        memcpy(p, h->value, h->value_len + 1);
        hdrs[i].value = p;
        p += h->value_len + 1;
    }
    memcpy(p, f->body, f->body_len);
    p[f->body_len] = '\0';
    copy->body = p;
    return copy;
}
