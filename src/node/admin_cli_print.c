/* chat-admin's tables; see admin_cli_print.h. */
#include "node/admin_cli_print.h"

#include <stdbool.h>
#include <string.h>
#include <time.h>

static const char *str(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "-";
}

static long long num(json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

static void fmt_time(long long ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void print_status(FILE *f, json_t *r)
{
    fprintf(f, "node          %s (chat-node %s)\n", str(r, "node"), str(r, "version"));
    fprintf(f, "uptime        %lld s%s\n", num(r, "uptime_s"),
            json_is_true(json_object_get(r, "draining")) ? "   DRAINING" : "");
    fprintf(f, "sessions      %lld (connections %lld)\n", num(r, "sessions"),
            num(r, "connections"));
    fprintf(f, "rooms         %lld\n", num(r, "rooms"));
    fprintf(f, "actors        %lld on %lld workers (%lld parked), %lld messages handled\n",
            num(r, "actors"), num(r, "workers"), num(r, "workers_parked"), num(r, "messages"));
    json_t *m = json_object_get(r, "mailbox");
    fprintf(f, "mailboxes     sessions: high-water %lld (session %s), deepest now %lld\n",
            num(m, "sessions_max_hwm"), str(m, "session"), num(m, "sessions_max_depth"));
    fprintf(f, "send rate     %lld per second per session\n", num(r, "send_rate"));
    fprintf(f, "log level     %s\n", str(r, "log_level"));
    const char *name;
    json_t *dep;
    json_object_foreach(json_object_get(r, "dependencies"), name, dep)
    {
        bool up = json_is_true(json_object_get(dep, "ok"));
        fprintf(f, "%-13s %s%s%s\n", name, up ? "ok" : "DOWN", up ? "" : ": ",
                up ? "" : str(dep, "reason"));
    }
}

/* One line per node: "  node1  2 <what>", or the node's error. */
static void print_nodes(FILE *f, json_t *nodes, const char *what)
{
    size_t i;
    json_t *n;
    json_array_foreach(nodes, i, n)
    {
        json_t *e = json_object_get(n, "error");
        if (e)
            fprintf(f, "  %-12s %s: %s\n", str(n, "node"), str(e, "code"), str(e, "message"));
        else
            fprintf(f, "  %-12s %lld %s\n", str(n, "node"), num(n, what), what);
    }
}

static void print_sessions(FILE *f, json_t *r)
{
    fprintf(f, "%-18s %-10s %-16s %-10s %-16s %-20s %-5s %-6s %-6s %s\n", "SESSION", "USER",
            "NICKNAME", "NODE", "CLIENT", "CONNECTED", "SUBS", "QUEUE", "HWM", "ROOMS");
    size_t i;
    json_t *s;
    json_array_foreach(r, i, s)
    {
        char when[32];
        fmt_time(num(s, "connected_at_ms"), when, sizeof when);
        const char *client = str(s, "client");
        fprintf(f, "%-18s %-10lld %-16s %-10s %-16s %-20s %-5lld %-6lld %-6lld", str(s, "session"),
                num(s, "user"), str(s, "nickname"), str(s, "node"), *client ? client : "-", when,
                num(s, "subscriptions"), num(s, "mailbox_depth"), num(s, "mailbox_hwm"));
        size_t j;
        json_t *room;
        json_array_foreach(json_object_get(s, "rooms"), j, room)
            fprintf(f, "%s%lld", j ? "," : " ", (long long)json_integer_value(room));
        fprintf(f, "\n");
    }
    fprintf(f, "(%zu session%s)\n", json_array_size(r), json_array_size(r) == 1 ? "" : "s");
}

static void print_user(FILE *f, json_t *r)
{
    json_t *u = json_object_get(r, "user");
    char when[32] = "-";
    fprintf(f, "user          %lld\n", num(u, "id"));
    fprintf(f, "nickname      %s\n", str(u, "nickname"));
    fprintf(f, "email         %s\n", str(u, "email"));
    fprintf(f, "status        %s\n", str(u, "status"));
    fmt_time(num(u, "created_at_ms"), when, sizeof when);
    fprintf(f, "created       %s\n", when);
    if (json_is_integer(json_object_get(u, "last_seen_at_ms")))
        fmt_time(num(u, "last_seen_at_ms"), when, sizeof when);
    else
        snprintf(when, sizeof when, "-");
    fprintf(f, "last seen     %s\n", when);
    fprintf(f, "nodes\n");
    print_nodes(f, json_object_get(r, "nodes"), "sessions");
    fputc('\n', f);
    print_sessions(f, json_object_get(r, "sessions"));
}

void cn_admin_cli_print(FILE *f, json_t *req, json_t *r)
{
    const char *cmd = str(req, "cmd");
    if (strcmp(cmd, "status") == 0) {
        print_status(f, r);
    } else if (strcmp(cmd, "sessions") == 0) {
        print_sessions(f, r);
    } else if (strcmp(cmd, "user") == 0) {
        print_user(f, r);
    } else if (strcmp(cmd, "rooms") == 0) {
        fprintf(f, "%-12s %-10s %-14s %s\n", "ROOM", "SESSIONS", "SUBSCRIPTIONS", "MSGS/MIN");
        size_t i;
        json_t *x;
        json_array_foreach(r, i, x)
            fprintf(f, "%-12lld %-10lld %-14lld %lld\n", num(x, "room"), num(x, "sessions"),
                    num(x, "subscriptions"), num(x, "messages_1m"));
    } else if (strcmp(cmd, "lag") == 0) {
        fprintf(f, "%-20s %-20s %-9s %-10s %-10s %s\n", "GROUP", "TOPIC", "PARTITION", "COMMITTED",
                "END", "LAG");
        size_t i, j;
        json_t *g, *p;
        json_array_foreach(r, i, g) json_array_foreach(json_object_get(g, "partitions"), j, p)
        {
            json_t *c = json_object_get(p, "committed");
            char cs[24] = "-";
            if (json_is_integer(c))
                snprintf(cs, sizeof cs, "%lld", (long long)json_integer_value(c));
            fprintf(f, "%-20s %-20s %-9lld %-10s %-10lld %lld\n", str(g, "group"), str(g, "topic"),
                    num(p, "partition"), cs, num(p, "end"), num(p, "lag"));
        }
    } else if (strcmp(cmd, "kick") == 0) {
        fprintf(f, "kicked %lld session%s\n", num(r, "kicked"), num(r, "kicked") == 1 ? "" : "s");
        print_nodes(f, json_object_get(r, "nodes"), "kicked");
    } else if (strcmp(cmd, "loglevel") == 0) {
        if (json_object_get(r, "previous"))
            fprintf(f, "log level %s (was %s)\n", str(r, "level"), str(r, "previous"));
        else
            fprintf(f, "log level %s\n", str(r, "level"));
    } else if (strcmp(cmd, "limits") == 0) {
        if (json_object_get(r, "previous"))
            fprintf(f, "send-rate %lld per second per session (was %lld)\n", num(r, "value"),
                    num(r, "previous"));
        else
            fprintf(f, "send-rate %lld per second per session\n", num(r, "send-rate"));
    } else if (strcmp(cmd, "drain") == 0) {
        fprintf(f, "draining: %lld sessions told to reconnect to another node%s\n",
                num(r, "sessions"),
                json_is_true(json_object_get(r, "already")) ? " (already draining)" : "");
    } else if (strcmp(cmd, "tls") == 0) {
        fprintf(f, "TLS certificate reloaded: %s\n", str(r, "certificate"));
    } else if (strcmp(cmd, "dlt") == 0) {
        const char *action = str(req, "action");
        if (strcmp(action, "list") == 0) {
            fprintf(f, "%-9s %-8s %-20s %-7s %-24s %s\n", "PARTITION", "OFFSET", "TIME", "STAGE",
                    "ORIGIN", "ERROR");
            size_t i;
            json_t *x;
            json_array_foreach(json_object_get(r, "records"), i, x)
            {
                char when[32], origin[64];
                fmt_time(num(x, "timestamp_ms"), when, sizeof when);
                snprintf(origin, sizeof origin, "%s[%s]@%s", str(x, "origin-topic"),
                         str(x, "origin-partition"), str(x, "origin-offset"));
                fprintf(f, "%-9lld %-8lld %-20s %-7s %-24s %s\n", num(x, "partition"),
                        num(x, "offset"), when, str(x, "error-stage"), origin, str(x, "error"));
            }
            fprintf(f, "(%zu records of %s%s)\n", json_array_size(json_object_get(r, "records")),
                    str(r, "topic"),
                    json_is_true(json_object_get(r, "truncated")) ? "; more: use --limit" : "");
        } else if (strcmp(action, "show") == 0) {
            const char *k;
            json_t *v;
            json_object_foreach(r, k, v)
            {
                /* The decoded event, one field a line, under its own heading. */
                size_t flags = json_is_object(v) ? JSON_INDENT(2) : 0;
                char *t = json_is_string(v) ? NULL : json_dumps(v, JSON_ENCODE_ANY | flags);
                fprintf(f, "%-17s %s\n", k, t ? t : json_string_value(v));
                free(t);
            }
        } else {
            fprintf(f, "replayed %lld of %lld records of %s to their origin topics\n",
                    num(r, "replayed"), num(r, "records"), str(r, "topic"));
        }
    }
}
