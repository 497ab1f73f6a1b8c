/* The per-user live event line and its JSON body; see user_event.h. */
#include "proto/user_event.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const type_names[] = {
    [CN_UEV_ROOM_ADDED] = "ROOM_ADDED",
    [CN_UEV_ROOM_REMOVED] = "ROOM_REMOVED",
    [CN_UEV_MEMBERS_CHANGED] = "MEMBERS_CHANGED",
};

static const char *const reason_names[] = {
    [CN_UEV_REASON_LEFT] = "LEFT",
    [CN_UEV_REASON_REMOVED] = "REMOVED",
    [CN_UEV_REASON_CLOSED] = "CLOSED",
};

const char *cn_user_event_type_name(enum cn_user_event_type t)
{
    return t >= CN_UEV_ROOM_ADDED && t <= CN_UEV_MEMBERS_CHANGED ? type_names[t] : "";
}

const char *cn_user_event_reason_name(enum cn_user_event_reason r)
{
    return r >= CN_UEV_REASON_LEFT && r <= CN_UEV_REASON_CLOSED ? reason_names[r] : "";
}

/* A ROOM_REMOVED names its reason; the others have none. */
static bool fields_ok(const struct cn_user_event *ev)
{
    if (ev->room_id <= 0 || ev->member_count < -1 || !cn_user_event_type_name(ev->type)[0])
        return false;
    if (ev->type == CN_UEV_ROOM_REMOVED)
        return cn_user_event_reason_name(ev->reason)[0] != '\0';
    return ev->reason == CN_UEV_REASON_NONE;
}

char *cn_user_event_render(const struct cn_user_event *ev, const int64_t *users, size_t n,
                           size_t *len_out)
{
    if (!fields_ok(ev) || n == 0 || n > CN_USER_EVENT_MAX_USERS || !users)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (users[i] <= 0)
            return NULL;
    /* "uev " + type + 3 numbers/words + separators, then 20 bytes per id. */
    size_t cap = 128 + n * 21;
    char *buf = malloc(cap);
    if (!buf)
        abort();
    char count[24];
    if (ev->member_count >= 0)
        snprintf(count, sizeof count, "%" PRId64, ev->member_count);
    else
        strcpy(count, "-");
    const char *reason =
        ev->type == CN_UEV_ROOM_REMOVED ? cn_user_event_reason_name(ev->reason) : "-";
    int at = snprintf(buf, cap, "uev %s %" PRId64 " %s %s ", cn_user_event_type_name(ev->type),
                      ev->room_id, reason, count);
    for (size_t i = 0; i < n; i++)
        at += snprintf(buf + at, cap - (size_t)at, "%s%" PRId64, i ? "," : "", users[i]);
    *len_out = (size_t)at;
    return buf;
}

/* The next space-separated word of [*p, end): sets *w and *wl, moves *p past it and
 * its one space (when `last`, the word must end the buffer). False when empty. */
static bool word(const char **p, const char *end, bool last, const char **w, size_t *wl)
{
    const char *s = *p, *e = s;
    while (e < end && *e != ' ')
        e++;
    if (e == s || (last ? e != end : e == end))
        return false;
    *w = s;
    *wl = (size_t)(e - s);
    *p = last ? e : e + 1;
    return true;
}

static bool eq(const char *w, size_t wl, const char *lit)
{
    return strlen(lit) == wl && memcmp(w, lit, wl) == 0;
}

/* A decimal of 1..18 digits (no sign, no leading zero unless "0"). */
static bool number(const char *w, size_t wl, int64_t *out)
{
    if (wl == 0 || wl > 18 || (wl > 1 && w[0] == '0'))
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < wl; i++) {
        if (w[i] < '0' || w[i] > '9')
            return false;
        v = v * 10 + (w[i] - '0');
    }
    *out = v;
    return true;
}

int cn_user_event_parse(const char *buf, size_t len, struct cn_user_event *out)
{
    const char *p = buf, *end = buf + len, *w;
    size_t wl;
    memset(out, 0, sizeof *out);
    if (!buf || !word(&p, end, false, &w, &wl) || !eq(w, wl, "uev"))
        return -EINVAL;
    if (!word(&p, end, false, &w, &wl))
        return -EINVAL;
    for (int t = CN_UEV_ROOM_ADDED; t <= CN_UEV_MEMBERS_CHANGED; t++)
        if (eq(w, wl, type_names[t]))
            out->type = (enum cn_user_event_type)t;
    if (!out->type || !word(&p, end, false, &w, &wl) || !number(w, wl, &out->room_id) ||
        out->room_id == 0 || !word(&p, end, false, &w, &wl))
        return -EINVAL;
    if (!eq(w, wl, "-")) {
        for (int r = CN_UEV_REASON_LEFT; r <= CN_UEV_REASON_CLOSED; r++)
            if (eq(w, wl, reason_names[r]))
                out->reason = (enum cn_user_event_reason)r;
        if (!out->reason)
            return -EINVAL;
    }
    if (!word(&p, end, false, &w, &wl))
        return -EINVAL;
    out->member_count = -1;
    if (!eq(w, wl, "-") && !number(w, wl, &out->member_count))
        return -EINVAL;
    if (!word(&p, end, true, &w, &wl))
        return -EINVAL;
    /* 1..MAX ids, each a positive decimal, single commas between. */
    size_t n = 0;
    for (const char *q = w, *qe = w + wl; q < qe;) {
        const char *c = q;
        while (c < qe && *c != ',')
            c++;
        int64_t id;
        if (!number(q, (size_t)(c - q), &id) || id == 0 || ++n > CN_USER_EVENT_MAX_USERS)
            return -EINVAL;
        if (c < qe && c + 1 == qe)
            return -EINVAL; /* a trailing comma */
        q = c < qe ? c + 1 : c;
    }
    out->users = w;
    out->users_len = wl;
    out->nusers = n;
    return fields_ok(out) ? 0 : -EINVAL;
}

void cn_user_event_users(const struct cn_user_event *ev, int64_t *out)
{
    size_t n = 0;
    int64_t v = 0;
    for (size_t i = 0; i < ev->users_len; i++) {
        if (ev->users[i] == ',') {
            out[n++] = v;
            v = 0;
        } else {
            v = v * 10 + (ev->users[i] - '0');
        }
    }
    if (ev->users_len)
        out[n] = v;
}

size_t cn_user_event_json(const struct cn_user_event *ev, char out[CN_USER_EVENT_JSON_MAX])
{
    int at = snprintf(out, CN_USER_EVENT_JSON_MAX, "{\"type\":\"%s\",\"roomId\":%" PRId64,
                      cn_user_event_type_name(ev->type), ev->room_id);
    if (ev->type == CN_UEV_ROOM_REMOVED && cn_user_event_reason_name(ev->reason)[0])
        at += snprintf(out + at, CN_USER_EVENT_JSON_MAX - (size_t)at, ",\"reason\":\"%s\"",
                       cn_user_event_reason_name(ev->reason));
    if (ev->member_count >= 0)
        at += snprintf(out + at, CN_USER_EVENT_JSON_MAX - (size_t)at, ",\"memberCount\":%" PRId64,
                       ev->member_count);
    at += snprintf(out + at, CN_USER_EVENT_JSON_MAX - (size_t)at, "}");
    return (size_t)at;
}
