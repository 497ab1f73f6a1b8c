/* The admin socket's commands; see admin_commands.h and docs/ADMIN.md. */
#include "node/admin_commands.h"

#include <inttypes.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "io/admin_kafka.h"
#include "io/health.h"
#include "actors/room/room_registry.h"
#include "actors/session/send_path.h"
#include "actors/session/session_directory.h"
#include "io/ws_counters.h"

static json_t *fail(const char *code, const char *message)
{
    return json_pack("{s:b,s:{s:s,s:s}}", "ok", 0, "error", "code", code, "message", message);
}

static json_t *ok(json_t *result)
{
    return json_pack("{s:b,s:o}", "ok", 1, "result", result);
}

static uint64_t ld(const atomic_uint_fast64_t *c)
{
    return (uint64_t)atomic_load_explicit(c, memory_order_relaxed);
}

/* An optional integer argument: absent -> *out untouched, 0; present and an integer
 * >= min -> 0; anything else -> -1. */
static int int_arg(json_t *req, const char *name, int64_t min, int64_t *out)
{
    json_t *v = json_object_get(req, name);
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < min)
        return -1;
    *out = json_integer_value(v);
    return 0;
}

static json_t *cmd_status(const struct cn_admin_deps *d)
{
    struct cn_runtime_stats rs;
    cn_runtime_stats(d->rt, &rs);
    struct cn_health_snapshot hs;
    cn_health_snapshot(d->health, &hs);
    json_t *deps = json_object();
    for (int i = 0; i < CN_DEP_COUNT; i++) {
        json_t *one = json_pack("{s:b}", "ok", hs.ok[i]);
        if (!hs.ok[i])
            json_object_set_new(one, "reason", json_string(hs.reason[i]));
        json_object_set_new(deps, cn_dep_name((enum cn_dep)i), one);
    }
    /* The sessions' mailboxes are where a stuck or flooded client shows first. */
    struct cn_session_info *list;
    size_t n = cn_session_dir_list(d->sessions, 0, 0, &list);
    uint64_t hwm = 0, depth = 0;
    const char *worst = "";
    for (size_t i = 0; i < n; i++) {
        if (list[i].mailbox_hwm > hwm) {
            hwm = list[i].mailbox_hwm;
            worst = list[i].id;
        }
        if (list[i].mailbox_depth > depth)
            depth = list[i].mailbox_depth;
    }
    json_t *mbox = json_pack("{s:I,s:I,s:s}", "sessions_max_hwm", (json_int_t)hwm,
                             "sessions_max_depth", (json_int_t)depth, "session", worst);
    cn_session_dir_list_free(list, n);
    int64_t uptime = (cn_wall_ms() - d->start_wall_ms) / 1000;
    return ok(json_pack("{s:s,s:s,s:I,s:b,s:I,s:I,s:I,s:I,s:I,s:i,s:i,s:o,s:I,s:s,s:o}", "node",
                        d->node_id, "version", CN_VERSION, "uptime_s", (json_int_t)uptime,
                        "draining", atomic_load_explicit(d->draining, memory_order_relaxed),
                        "sessions", (json_int_t)ld(&d->ws->sessions_open), "connections",
                        (json_int_t)ld(&d->ws->connections_open), "rooms",
                        (json_int_t)(d->rooms ? cn_room_registry_count(d->rooms) : 0), "actors",
                        (json_int_t)rs.actors_alive, "messages", (json_int_t)rs.messages, "workers",
                        (int)rs.workers, "workers_parked", (int)rs.workers_parked, "mailbox", mbox,
                        "send_rate", (json_int_t)cn_send_path_rate(d->send), "log_level",
                        cn_log_level_name(cn_log_get_level()), "dependencies", deps));
}

static json_t *cmd_sessions(const struct cn_admin_deps *d, json_t *req)
{
    int64_t user = 0, room = 0;
    if (int_arg(req, "user", 1, &user) != 0 || int_arg(req, "room", 1, &room) != 0)
        return fail("BAD_ARGUMENT", "user and room must be positive integers");
    struct cn_session_info *list;
    size_t n = cn_session_dir_list(d->sessions, user, room, &list);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *rooms = json_array();
        for (size_t j = 0; j < list[i].nrooms; j++)
            json_array_append_new(rooms, json_integer(list[i].rooms[j]));
        json_t *one =
            json_pack("{s:s,s:I,s:s,s:s,s:I,s:I,s:o,s:I,s:I,s:I}", "session", list[i].id, "user",
                      (json_int_t)list[i].user_id, "node", d->node_id, "client",
                      list[i].client_addr, "connected_at_ms", (json_int_t)list[i].connected_wall_ms,
                      "subscriptions", (json_int_t)list[i].nrooms, "rooms", rooms, "mailbox_depth",
                      (json_int_t)list[i].mailbox_depth, "mailbox_hwm",
                      (json_int_t)list[i].mailbox_hwm, "messages", (json_int_t)list[i].messages);
        json_array_append_new(arr, one);
    }
    cn_session_dir_list_free(list, n);
    return ok(arr);
}

static json_t *cmd_kick(const struct cn_admin_deps *d, json_t *req)
{
    json_t *sid = json_object_get(req, "session");
    int64_t user = 0;
    if (int_arg(req, "user", 1, &user) != 0)
        return fail("BAD_ARGUMENT", "user must be a positive integer");
    if ((sid && !json_is_string(sid)) || (!sid && !user) || (sid && user))
        return fail("BAD_ARGUMENT", "kick needs exactly one of session (a string) or user");
    json_t *reason = json_object_get(req, "reason");
    if (reason && (!json_is_string(reason) || json_string_length(reason) > 200))
        return fail("BAD_ARGUMENT", "reason must be a string of at most 200 bytes");
    size_t n = cn_session_dir_kick(d->sessions, sid ? json_string_value(sid) : NULL, user,
                                   reason ? json_string_value(reason) : "");
    if (n == 0)
        return fail("NOT_FOUND",
                    sid ? "no such session on this node" : "that user has no session on this node");
    CN_INFO("admin", "kicked %zu session(s)%s%s", n, reason ? ": " : "",
            reason ? json_string_value(reason) : "");
    return ok(json_pack("{s:I}", "kicked", (json_int_t)n));
}

/* rooms' orders: most subscriptions (the default), sessions, or messages. */
static const char *sort_key;

static int by_sort_key(const void *a, const void *b)
{
    json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, sort_key));
    json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, sort_key));
    if (x != y)
        return x > y ? -1 : 1;
    x = json_integer_value(json_object_get(*(json_t *const *)a, "room"));
    y = json_integer_value(json_object_get(*(json_t *const *)b, "room"));
    return x < y ? -1 : x > y;
}

static json_t *cmd_rooms(const struct cn_admin_deps *d, json_t *req)
{
    int64_t top = 0;
    if (int_arg(req, "top", 1, &top) != 0)
        return fail("BAD_ARGUMENT", "top must be a positive integer");
    json_t *sort = json_object_get(req, "sort");
    const char *by = sort ? json_string_value(sort) : "subscriptions";
    if (!by || (strcmp(by, "subscriptions") != 0 && strcmp(by, "sessions") != 0 &&
                strcmp(by, "rate") != 0))
        return fail("BAD_ARGUMENT", "sort must be subscriptions, sessions or rate");
    struct cn_room_info *rooms;
    size_t n = cn_session_dir_rooms(d->sessions, 0, &rooms);
    struct cn_room_rate_info *rates = NULL;
    size_t nrates = d->rooms ? cn_room_registry_rates(d->rooms, cn_wall_ms() / 1000, &rates) : 0;
    json_t **items = calloc(n + 1, sizeof *items);
    for (size_t i = 0; i < n; i++) {
        uint64_t msgs = 0;
        for (size_t j = 0; j < nrates; j++)
            if (rates[j].room_id == rooms[i].room_id)
                msgs = rates[j].messages;
        items[i] = json_pack("{s:I,s:I,s:I,s:I}", "room", (json_int_t)rooms[i].room_id, "sessions",
                             (json_int_t)rooms[i].sessions, "subscriptions",
                             (json_int_t)rooms[i].subscriptions, "messages_1m", (json_int_t)msgs);
    }
    free(rates);
    free(rooms);
    /* The admin thread is the only caller, so the comparator's key can be a static. */
    sort_key = strcmp(by, "rate") == 0 ? "messages_1m" : by;
    qsort(items, n, sizeof *items, by_sort_key);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        if (top && i >= (size_t)top)
            json_decref(items[i]);
        else
            json_array_append_new(arr, items[i]);
    }
    free(items);
    return ok(arr);
}

static json_t *cmd_loglevel(json_t *req)
{
    /* No level: the current one, changing nothing. */
    if (!json_object_get(req, "level"))
        return ok(json_pack("{s:s}", "level", cn_log_level_name(cn_log_get_level())));
    const char *name = json_string_value(json_object_get(req, "level"));
    enum cn_log_level level;
    if (!name || cn_log_parse_level(name, &level) != 0)
        return fail("BAD_ARGUMENT", "level must be one of debug, info, warn, error");
    enum cn_log_level before = cn_log_get_level();
    cn_log_set_level(level);
    /* At WARN so that the change shows whatever the new level is. */
    CN_WARN("admin", "log level %s -> %s", cn_log_level_name(before), cn_log_level_name(level));
    return ok(json_pack("{s:s,s:s}", "previous", cn_log_level_name(before), "level",
                        cn_log_level_name(level)));
}

static json_t *cmd_limits(const struct cn_admin_deps *d, json_t *req)
{
    /* Neither name nor value: the current limits, changing nothing. */
    if (!json_object_get(req, "name") && !json_object_get(req, "value"))
        return ok(json_pack("{s:I}", "send-rate", (json_int_t)cn_send_path_rate(d->send)));
    const char *name = json_string_value(json_object_get(req, "name"));
    int64_t value = 0;
    if (!name || strcmp(name, "send-rate") != 0)
        return fail("BAD_ARGUMENT", "the limit that can be set is send-rate");
    if (!json_object_get(req, "value") || int_arg(req, "value", 1, &value) != 0 || value > 100000)
        return fail("BAD_ARGUMENT", "send-rate must be an integer from 1 to 100000");
    uint32_t before = cn_send_path_rate(d->send);
    cn_send_path_set_rate(d->send, (uint32_t)value);
    CN_WARN("admin", "send rate %u -> %" PRId64 " per second", before, value);
    return ok(json_pack("{s:s,s:I,s:I}", "limit", "send-rate", "previous", (json_int_t)before,
                        "value", (json_int_t)value));
}

static json_t *cmd_drain(const struct cn_admin_deps *d, bool *started)
{
    bool already = atomic_load_explicit(d->draining, memory_order_relaxed);
    if (!already) {
        d->drain(d->drain_ctx);
        *started = true;
    }
    return ok(json_pack("{s:b,s:b,s:I}", "draining", 1, "already", already, "sessions",
                        (json_int_t)cn_session_dir_count(d->sessions)));
}

static const char *const commands[] = {"status", "sessions", "kick",   "rooms", "lag",
                                       "dlt",    "loglevel", "limits", "drain", "help"};

json_t *cn_admin_dispatch(void *deps, json_t *req, bool *drain_started)
{
    const struct cn_admin_deps *d = deps;
    *drain_started = false;
    const char *cmd = json_string_value(json_object_get(req, "cmd"));
    if (!json_is_object(req) || !cmd)
        return fail("BAD_REQUEST", "a request is a JSON object with a string \"cmd\"");
    if (strcmp(cmd, "status") == 0)
        return cmd_status(d);
    if (strcmp(cmd, "sessions") == 0)
        return cmd_sessions(d, req);
    if (strcmp(cmd, "kick") == 0)
        return cmd_kick(d, req);
    if (strcmp(cmd, "rooms") == 0)
        return cmd_rooms(d, req);
    if (strcmp(cmd, "loglevel") == 0)
        return cmd_loglevel(req);
    if (strcmp(cmd, "limits") == 0)
        return cmd_limits(d, req);
    if (strcmp(cmd, "drain") == 0)
        return cmd_drain(d, drain_started);
    if (strcmp(cmd, "lag") == 0 || strcmp(cmd, "dlt") == 0) {
        char err[256] = "";
        json_t *r = strcmp(cmd, "lag") == 0
                        ? cn_admin_kafka_lag(d->kafka_brokers, err, sizeof err)
                        : cn_admin_kafka_dlt(d->kafka_brokers, req, err, sizeof err);
        return r ? ok(r)
                 : fail(err[0] == '!' ? "BAD_ARGUMENT" : "KAFKA", err[0] == '!' ? err + 1 : err);
    }
    if (strcmp(cmd, "help") == 0) {
        json_t *arr = json_array();
        for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
            json_array_append_new(arr, json_string(commands[i]));
        return ok(json_pack("{s:o}", "commands", arr));
    }
    return fail("UNKNOWN_COMMAND", "unknown command; try help");
}
