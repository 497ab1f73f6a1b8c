/* The admin socket's commands; see admin_commands.h and docs/ADMIN.md. */
#include "node/admin_commands.h"

#include <inttypes.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/strbuf.h"
#include "actors/presence/presence.h"
#include "actors/sql/queries.h"
#include "io/admin_kafka.h"
#include "io/admin_pg.h"
#include "io/admin_relay.h"
#include "io/health.h"
#include "actors/room/room_registry.h"
#include "actors/session/send_path.h"
#include "actors/session/session_directory.h"
#include "io/ws_counters.h"

/* The statements of the admin thread run on a connection of their own (io/admin_pg.h):
 * this bounds its connect and its statement. */
#define ADMIN_PG_TIMEOUT_MS 5000

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

/* This node's sessions (filters 0: any), as the sessions command lists them. */
static json_t *local_sessions(const struct cn_admin_deps *d, int64_t user, int64_t room)
{
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
    return arr;
}

/* Sets "nickname" on each session of arr: one query for all their users. The session
 * knows only its user id (the token carries no nickname); when PostgreSQL cannot answer,
 * the nicknames stay null and the listing is still given. */
static void add_nicknames(const struct cn_admin_deps *d, json_t *arr)
{
    size_t i;
    json_t *s;
    json_array_foreach(arr, i, s) json_object_set_new(s, "nickname", json_null());
    if (json_array_size(arr) == 0 || !d->postgres_url)
        return;
    struct cn_strbuf ids;
    cn_strbuf_init(&ids, 64);
    cn_strbuf_printf(&ids, "{");
    json_array_foreach(arr, i, s) cn_strbuf_printf(
        &ids, "%s%" PRId64, i ? "," : "", (int64_t)json_integer_value(json_object_get(s, "user")));
    cn_strbuf_printf(&ids, "}");
    const char *params[1] = {ids.data};
    char err[256];
    json_t *rows = cn_admin_pg_query(d->postgres_url, cn_sql(CN_SQL_ADMIN_USER_NICKNAMES), 1,
                                     params, ADMIN_PG_TIMEOUT_MS, err, sizeof err);
    cn_strbuf_free(&ids);
    if (!rows) {
        CN_WARN("admin", "sessions: nicknames unknown: %s", err);
        return;
    }
    size_t j;
    json_t *row;
    json_array_foreach(arr, i, s)
    {
        json_int_t user = json_integer_value(json_object_get(s, "user"));
        json_array_foreach(rows, j, row) if (json_integer_value(json_object_get(row, "id")) == user)
            json_object_set(s, "nickname", json_object_get(row, "nickname"));
    }
    json_decref(rows);
}

static json_t *cmd_sessions(const struct cn_admin_deps *d, json_t *req, bool nicknames)
{
    int64_t user = 0, room = 0;
    if (int_arg(req, "user", 1, &user) != 0 || int_arg(req, "room", 1, &room) != 0)
        return fail("BAD_ARGUMENT", "user and room must be positive integers");
    json_t *arr = local_sessions(d, user, room);
    if (nicknames)
        add_nicknames(d, arr);
    return ok(arr);
}

/* The nodes other than this one that vouch for `user` in its presence set, as a new
 * array; NULL with the reason in err when Redis could not tell. */
static json_t *other_nodes(const struct cn_admin_deps *d, int64_t user, char *err, size_t errlen)
{
    char key[64];
    snprintf(key, sizeof key, CN_PRESENCE_KEY "%" PRId64, user);
    json_t *all = d->redis_host ? cn_admin_redis_members(d->redis_host, d->redis_port, key,
                                                         d->relay_timeout_ms, err, errlen)
                                : NULL;
    if (!all && !d->redis_host)
        snprintf(err, errlen, "no Redis configured");
    json_t *others = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(all, i, v) if (strcmp(json_string_value(v), d->node_id) != 0)
        json_array_append(others, v);
    json_decref(all);
    return all || !d->redis_host ? others : (json_decref(others), NULL);
}

/* Asks `nodes` (may be NULL or empty) for req; NULL answers when Redis failed, with
 * the reason in err. */
static json_t *relay(const struct cn_admin_deps *d, json_t *nodes, json_t *req, char *err,
                     size_t errlen)
{
    if (!nodes || json_array_size(nodes) == 0)
        return json_object();
    return cn_admin_relay_ask(d->redis_host, d->redis_port, d->node_id, nodes, req,
                              d->relay_timeout_ms, err, errlen);
}

static json_t *node_error(const char *node, const char *code, const char *message)
{
    return json_pack("{s:s,s:{s:s,s:s}}", "node", node, "error", "code", code, "message", message);
}

/* kick --user across the nodes: this node's sessions, then those of every other node
 * the user's presence set names, through the relay. */
static json_t *kick_everywhere(const struct cn_admin_deps *d, int64_t user, json_t *reason)
{
    const char *why = reason ? json_string_value(reason) : "";
    size_t total = cn_session_dir_kick(d->sessions, NULL, user, why);
    json_t *nodes = json_array();
    json_array_append_new(nodes,
                          json_pack("{s:s,s:I}", "node", d->node_id, "kicked", (json_int_t)total));
    char err[256] = "";
    json_t *others = other_nodes(d, user, err, sizeof err);
    if (!others) {
        json_array_append_new(nodes, node_error("*", "REDIS", err));
    } else {
        json_t *req = json_pack("{s:s,s:I}", "cmd", "kick", "user", (json_int_t)user);
        if (reason)
            json_object_set(req, "reason", reason);
        json_t *answers = relay(d, others, req, err, sizeof err);
        json_decref(req);
        size_t i;
        json_t *v;
        json_array_foreach(others, i, v)
        {
            const char *node = json_string_value(v);
            json_t *a = answers ? json_object_get(answers, node) : NULL;
            json_t *e = json_object_get(a, "error");
            const char *code = json_string_value(json_object_get(e, "code"));
            json_int_t n =
                json_integer_value(json_object_get(json_object_get(a, "result"), "kicked"));
            if (!a) {
                json_array_append_new(nodes, node_error(node, "REDIS", err));
            } else if (json_is_true(json_object_get(a, "ok")) ||
                       (code && strcmp(code, "NOT_FOUND") == 0)) {
                /* NOT_FOUND: the node held no session of the user any more. */
                json_array_append_new(nodes, json_pack("{s:s,s:I}", "node", node, "kicked", n));
                total += (size_t)n;
            } else {
                json_array_append_new(nodes, e ? json_pack("{s:s,s:O}", "node", node, "error", e)
                                               : node_error(node, "BAD_ANSWER", "not understood"));
            }
        }
        json_decref(answers);
        json_decref(others);
    }
    bool failed = false;
    size_t i;
    json_t *v;
    json_array_foreach(nodes, i, v) failed |= json_object_get(v, "error") != NULL;
    if (total == 0 && !failed) {
        json_decref(nodes);
        return fail("NOT_FOUND", "that user has no session on any node");
    }
    CN_INFO("admin", "kicked %zu session(s) of user %" PRId64 " across the nodes%s%s", total, user,
            *why ? ": " : "", why);
    return ok(json_pack("{s:I,s:o}", "kicked", (json_int_t)total, "nodes", nodes));
}

/* local: this node only (a relayed request, or "local":true on the socket). */
static json_t *cmd_kick(const struct cn_admin_deps *d, json_t *req, bool local)
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
    local |= json_is_true(json_object_get(req, "local"));
    if (user && !local)
        return kick_everywhere(d, user, reason);
    size_t n = cn_session_dir_kick(d->sessions, sid ? json_string_value(sid) : NULL, user,
                                   reason ? json_string_value(reason) : "");
    if (n == 0)
        return fail("NOT_FOUND",
                    sid ? "no such session on this node" : "that user has no session on this node");
    CN_INFO("admin", "kicked %zu session(s)%s%s", n, reason ? ": " : "",
            reason ? json_string_value(reason) : "");
    return ok(json_pack("{s:I}", "kicked", (json_int_t)n));
}

/* user ID|EMAIL|NICKNAME: the account from PostgreSQL, then its sessions on this node
 * and, through the relay, on every other node its presence set names. */
static json_t *cmd_user(const struct cn_admin_deps *d, json_t *req)
{
    const char *who = json_string_value(json_object_get(req, "user"));
    if (!who || !*who || strlen(who) > 320)
        return fail("BAD_ARGUMENT", "user must be a user id, an email or a nickname");
    if (!d->postgres_url)
        return fail("POSTGRES", "no PostgreSQL configured");
    char err[256] = "";
    const char *params[1] = {who};
    json_t *rows = cn_admin_pg_query(d->postgres_url, cn_sql(CN_SQL_ADMIN_USER_FIND), 1, params,
                                     ADMIN_PG_TIMEOUT_MS, err, sizeof err);
    if (!rows)
        return fail("POSTGRES", err);
    if (json_array_size(rows) == 0) {
        json_decref(rows);
        char msg[400];
        snprintf(msg, sizeof msg, "no user has the id, email or nickname '%s'", who);
        return fail("NOT_FOUND", msg);
    }
    json_t *account = json_incref(json_array_get(rows, 0));
    json_decref(rows);
    int64_t id = json_integer_value(json_object_get(account, "id"));
    json_t *sessions = local_sessions(d, id, 0);
    json_t *nodes = json_array();
    json_array_append_new(nodes, json_pack("{s:s,s:I}", "node", d->node_id, "sessions",
                                           (json_int_t)json_array_size(sessions)));
    json_t *others = other_nodes(d, id, err, sizeof err);
    if (!others) {
        json_array_append_new(nodes, node_error("*", "REDIS", err));
    } else {
        json_t *ask = json_pack("{s:s,s:I}", "cmd", "sessions", "user", (json_int_t)id);
        json_t *answers = relay(d, others, ask, err, sizeof err);
        json_decref(ask);
        size_t i;
        json_t *v;
        json_array_foreach(others, i, v)
        {
            const char *node = json_string_value(v);
            json_t *a = answers ? json_object_get(answers, node) : NULL;
            json_t *list = json_object_get(a, "result");
            if (!a) {
                json_array_append_new(nodes, node_error(node, "REDIS", err));
            } else if (!json_is_true(json_object_get(a, "ok")) || !json_is_array(list)) {
                json_t *e = json_object_get(a, "error");
                json_array_append_new(nodes, e ? json_pack("{s:s,s:O}", "node", node, "error", e)
                                               : node_error(node, "BAD_ANSWER", "not understood"));
            } else {
                json_array_append_new(nodes, json_pack("{s:s,s:I}", "node", node, "sessions",
                                                       (json_int_t)json_array_size(list)));
                json_array_extend(sessions, list);
            }
        }
        json_decref(answers);
        json_decref(others);
    }
    size_t i;
    json_t *s;
    json_array_foreach(sessions, i, s)
        json_object_set(s, "nickname", json_object_get(account, "nickname"));
    return ok(json_pack("{s:o,s:o,s:o}", "user", account, "nodes", nodes, "sessions", sessions));
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

static json_t *cmd_tls(const struct cn_admin_deps *d, json_t *req)
{
    const char *action = json_string_value(json_object_get(req, "action"));
    if (!action || strcmp(action, "reload") != 0)
        return fail("BAD_ARGUMENT", "tls takes the action reload");
    char msg[512];
    if (!d->tls_reload || d->tls_reload(d->tls_ctx, msg, sizeof msg) != 0) {
        if (!d->tls_reload)
            snprintf(msg, sizeof msg, "TLS is off (http.tls_cert_file is unset)");
        CN_WARN("admin", "TLS reload failed, the old certificate stays: %s", msg);
        return fail("TLS_RELOAD_FAILED", msg);
    }
    CN_INFO("admin", "TLS certificate reloaded: %s", msg);
    return ok(json_pack("{s:b,s:s}", "reloaded", 1, "certificate", msg));
}

static const char *const commands[] = {"status", "sessions", "kick",   "user",  "rooms", "lag",
                                       "dlt",    "loglevel", "limits", "drain", "tls",   "help"};

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
        return cmd_sessions(d, req, true);
    if (strcmp(cmd, "kick") == 0)
        return cmd_kick(d, req, false);
    if (strcmp(cmd, "user") == 0)
        return cmd_user(d, req);
    if (strcmp(cmd, "rooms") == 0)
        return cmd_rooms(d, req);
    if (strcmp(cmd, "loglevel") == 0)
        return cmd_loglevel(req);
    if (strcmp(cmd, "limits") == 0)
        return cmd_limits(d, req);
    if (strcmp(cmd, "drain") == 0)
        return cmd_drain(d, drain_started);
    if (strcmp(cmd, "tls") == 0)
        return cmd_tls(d, req);
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

json_t *cn_admin_relay_dispatch(void *deps, json_t *req)
{
    const struct cn_admin_deps *d = deps;
    const char *cmd = json_string_value(json_object_get(req, "cmd"));
    if (cmd && strcmp(cmd, "sessions") == 0)
        return cmd_sessions(d, req, false);
    if (cmd && strcmp(cmd, "kick") == 0)
        return cmd_kick(d, req, true);
    return fail("UNKNOWN_COMMAND", "a relayed request is sessions or kick");
}
