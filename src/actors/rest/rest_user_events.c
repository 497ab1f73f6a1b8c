/* The REST side of the per-user live events; see rest_user_events.h. */
#include "actors/rest/rest_user_events.h"

#include <stdlib.h>
#include <string.h>

#include "actors/user_events/user_events.h"
#include "base/xmalloc.h"

static void publish(struct cn_rest_req *req, enum cn_user_event_type type, int64_t room_id,
                    enum cn_user_event_reason reason, int64_t member_count, const int64_t *users,
                    size_t n)
{
    struct cn_user_event ev = {
        .type = type, .room_id = room_id, .reason = reason, .member_count = member_count};
    cn_user_events_publish(req->deps->user_events, &ev, users, n);
}

/* The ids of a bigint[] in text form, in a new array (caller frees); *n their count. */
static int64_t *ids_of(const char *text, size_t *n)
{
    /* At most one id per two bytes of "{1,2}". */
    size_t max = (text ? strlen(text) / 2 : 0) + 1;
    int64_t *ids = cn_xcalloc(max, sizeof *ids);
    size_t k = 0;
    for (const char *p = text ? text : ""; *p && k < max;) {
        if (*p >= '0' && *p <= '9') {
            char *end;
            ids[k++] = strtoll(p, &end, 10);
            p = end;
        } else {
            p++;
        }
    }
    *n = k;
    return ids;
}

void rest_event_added(struct cn_rest_req *req, int64_t room_id, const int64_t *users, size_t n,
                      int64_t member_count)
{
    publish(req, CN_UEV_ROOM_ADDED, room_id, CN_UEV_REASON_NONE, member_count, users, n);
}

void rest_event_removed(struct cn_rest_req *req, int64_t room_id, const int64_t *users, size_t n,
                        enum cn_user_event_reason reason)
{
    publish(req, CN_UEV_ROOM_REMOVED, room_id, reason, -1, users, n);
}

void rest_event_removed_text(struct cn_rest_req *req, int64_t room_id, const char *ids_text,
                             enum cn_user_event_reason reason)
{
    if (!req->deps->user_events)
        return;
    size_t n;
    int64_t *ids = ids_of(ids_text, &n);
    rest_event_removed(req, room_id, ids, n, reason);
    free(ids);
}

void rest_event_members(struct cn_rest_req *req, int64_t room_id, const int64_t *users, size_t n,
                        int64_t skip, int64_t member_count)
{
    if (!req->deps->user_events || n == 0)
        return;
    int64_t *others = cn_xcalloc(n, sizeof *others);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (users[i] != skip)
            others[k++] = users[i];
    publish(req, CN_UEV_MEMBERS_CHANGED, room_id, CN_UEV_REASON_NONE, member_count, others, k);
    free(others);
}

void rest_event_members_text(struct cn_rest_req *req, int64_t room_id, const char *ids_text,
                             int64_t skip, int64_t member_count, int64_t count_extra)
{
    if (!req->deps->user_events)
        return;
    size_t n;
    int64_t *ids = ids_of(ids_text, &n);
    if (member_count < 0) {
        int64_t c = 0;
        for (size_t i = 0; i < n; i++)
            c += ids[i] != skip;
        member_count = c + count_extra;
    }
    rest_event_members(req, room_id, ids, n, skip, member_count);
    free(ids);
}
