/* The Redis adapter's subscription registry; see redis_client_subs.h. */
#include "io/redis_client_subs.h"

#include <stdlib.h>
#include <string.h>

#include "base/xmalloc.h"

#define INITIAL_BUCKETS 64u

/* FNV-1a: channel names are short and chosen by us (room:{id}), so a simple hash
 * that mixes every byte is enough. */
static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 14695981039346656037u;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211u;
    }
    return h;
}

void cn__redis_subs_init(struct cn__redis_subs *s)
{
    s->nbuckets = INITIAL_BUCKETS;
    s->bucket = cn_xcalloc(s->nbuckets, sizeof *s->bucket);
    s->count = 0;
}

static void free_chan(struct cn__redis_chan *c)
{
    while (c->subs)
        cn__redis_chan_remove_sub(c, c->subs);
    free(c);
}

void cn__redis_subs_free(struct cn__redis_subs *s)
{
    for (size_t i = 0; i < s->nbuckets; i++) {
        struct cn__redis_chan *c = s->bucket[i];
        while (c) {
            struct cn__redis_chan *next = c->next;
            free_chan(c);
            c = next;
        }
    }
    free(s->bucket);
    s->bucket = NULL;
    s->nbuckets = s->count = 0;
}

struct cn__redis_chan *cn__redis_subs_find(struct cn__redis_subs *s, const char *name, size_t len)
{
    uint64_t h = hash_bytes(name, len);
    for (struct cn__redis_chan *c = s->bucket[h & (s->nbuckets - 1)]; c; c = c->next)
        if (c->hash == h && c->len == len && memcmp(c->name, name, len) == 0)
            return c;
    return NULL;
}

/* Doubles the table when it averages more than one channel per bucket, so chains
 * stay short however many rooms have local subscribers. */
static void grow(struct cn__redis_subs *s)
{
    size_t n = s->nbuckets * 2;
    struct cn__redis_chan **b = cn_xcalloc(n, sizeof *b);
    for (size_t i = 0; i < s->nbuckets; i++) {
        struct cn__redis_chan *c = s->bucket[i];
        while (c) {
            struct cn__redis_chan *next = c->next;
            c->next = b[c->hash & (n - 1)];
            b[c->hash & (n - 1)] = c;
            c = next;
        }
    }
    free(s->bucket);
    s->bucket = b;
    s->nbuckets = n;
}

struct cn__redis_chan *cn__redis_subs_get(struct cn__redis_subs *s, const char *name, size_t len)
{
    struct cn__redis_chan *c = cn__redis_subs_find(s, name, len);
    if (c)
        return c;
    if (s->count >= s->nbuckets)
        grow(s);
    c = cn_xmalloc(sizeof *c + len + 1);
    c->hash = hash_bytes(name, len);
    c->subs = NULL;
    c->server = CN__CHAN_NONE;
    c->len = len;
    memcpy(c->name, name, len);
    c->name[len] = '\0';
    struct cn__redis_chan **head = &s->bucket[c->hash & (s->nbuckets - 1)];
    c->next = *head;
    *head = c;
    s->count++;
    return c;
}

void cn__redis_subs_remove(struct cn__redis_subs *s, struct cn__redis_chan *c)
{
    struct cn__redis_chan **pp = &s->bucket[c->hash & (s->nbuckets - 1)];
    while (*pp != c)
        pp = &(*pp)->next;
    *pp = c->next;
    s->count--;
    free_chan(c);
}

struct cn__redis_sub *cn__redis_chan_find_sub(struct cn__redis_chan *c, const cn_actor *actor)
{
    for (struct cn__redis_sub *u = c->subs; u; u = u->next)
        if (u->actor == actor)
            return u;
    return NULL;
}

void cn__redis_chan_remove_sub(struct cn__redis_chan *c, struct cn__redis_sub *sub)
{
    struct cn__redis_sub **pp = &c->subs;
    while (*pp != sub)
        pp = &(*pp)->next;
    *pp = sub->next;
    cn_actor_unref(sub->actor);
    free(sub);
}

void cn__redis_subs_each(struct cn__redis_subs *s, void (*fn)(void *ctx, struct cn__redis_chan *c),
                         void *ctx)
{
    for (size_t i = 0; i < s->nbuckets; i++) {
        struct cn__redis_chan *c = s->bucket[i];
        while (c) {
            struct cn__redis_chan *next = c->next; /* fn may free c */
            fn(ctx, c);
            c = next;
        }
    }
}
