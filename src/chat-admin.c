/* chat-admin: the operator's client of a running chat-node's admin socket
 * (docs/ADMIN.md). Turns the command line into one JSON request line, prints the
 * answer as a table (or as JSON with --json), and exits 0 on success, 1 when the
 * node refused or cannot be reached, 2 on a usage error. */
#include <errno.h>
#include <ini.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "io/config.h"

static const char usage_text[] =
    "usage: chat-admin [--socket PATH | --config FILE] [--json] COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  status                              version, uptime, sessions, rooms, actors,\n"
    "                                      mailbox high-water marks, dependency health\n"
    "  sessions [--user ID] [--room ID]    open STOMP sessions of this node\n"
    "  kick SESSION | --user ID [--reason TEXT]\n"
    "                                      close a session (or every session of a user)\n"
    "  rooms [--top N]                     rooms with local subscribers, busiest first\n"
    "  lag                                 per consumer group and partition: committed\n"
    "                                      offset, end offset, lag\n"
    "  dlt list [--topic T] [--since TIME] [--limit N]\n"
    "  dlt show PARTITION:OFFSET [--topic T]\n"
    "  dlt replay [--topic T] [--since TIME]\n"
    "                                      dead letters; replay produces them back to\n"
    "                                      their origin topic (idempotent consumers)\n"
    "  loglevel LEVEL                      debug, info, warn or error\n"
    "  limits set send-rate N              SENDs per second per session, from now on\n"
    "  drain [--no-wait]                   stop accepting, send clients elsewhere, finish\n"
    "                                      in-flight work, exit; waits for the exit\n"
    "  help                                this text\n"
    "\n"
    "The socket is --socket, else $CHAT_ADMIN_SOCKET, else admin.socket of --config FILE,\n"
    "else the built-in default. TIME is seconds since the epoch, an ISO time\n"
    "(2026-12-01T10:00:00Z) or an age (30s, 15m, 2h, 7d).\n";

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "chat-admin: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n\n%s", usage_text);
    return 2;
}

static int ini_socket(void *user, const char *section, const char *name, const char *value)
{
    char **out = user;
    if (strcmp(section, "admin") == 0 && strcmp(name, "socket") == 0) {
        free(*out);
        *out = strdup(value);
    }
    return 1;
}

/* Positive integer or -1. */
static long long parse_id(const char *s)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    return errno || end == s || *end || v < 1 ? -1 : v;
}

/* TIME as milliseconds since the epoch, or -1. */
static long long parse_time(const char *s)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!errno && end != s && v >= 0) {
        static const struct {
            char unit;
            long long s;
        } ages[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}};
        if (!*end)
            return v * 1000;
        for (size_t i = 0; i < sizeof ages / sizeof ages[0]; i++)
            if (end[0] == ages[i].unit && !end[1])
                return ((long long)time(NULL) - v * ages[i].s) * 1000;
    }
    struct tm tm = {0};
    const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (rest && (strcmp(rest, "Z") == 0 || !*rest))
        return (long long)timegm(&tm) * 1000;
    return -1;
}

/* Builds the request from argv[i..argc). Returns NULL after printing a usage error
 * (*rc = 2). *drain_wait is set for a drain that waits for the exit. */
static json_t *build_request(int argc, char **argv, int i, bool *drain_wait, int *rc)
{
    *rc = 2;
    const char *cmd = argv[i++];
    json_t *req = json_pack("{s:s}", "cmd", cmd);
    const char *pos[3] = {0};
    int npos = 0;
    for (; i < argc; i++) {
        const char *a = argv[i];
        bool has_value = i + 1 < argc;
        if (strcmp(a, "--user") == 0 || strcmp(a, "--room") == 0 || strcmp(a, "--top") == 0 ||
            strcmp(a, "--limit") == 0) {
            long long v = has_value ? parse_id(argv[i + 1]) : -1;
            if (v < 0) {
                usage_error("%s needs a positive integer", a);
                goto bad;
            }
            json_object_set_new(req, a + 2, json_integer(v));
            i++;
        } else if (strcmp(a, "--reason") == 0 || strcmp(a, "--topic") == 0) {
            if (!has_value) {
                usage_error("%s needs a value", a);
                goto bad;
            }
            json_object_set_new(req, a + 2, json_string(argv[++i]));
        } else if (strcmp(a, "--since") == 0) {
            long long t = has_value ? parse_time(argv[i + 1]) : -1;
            if (t < 0) {
                usage_error("--since needs a TIME (epoch seconds, ISO time or 15m-style age), "
                            "not '%s'",
                            has_value ? argv[i + 1] : "");
                goto bad;
            }
            json_object_set_new(req, "since_ms", json_integer(t));
            i++;
        } else if (strcmp(a, "--no-wait") == 0 && strcmp(cmd, "drain") == 0) {
            *drain_wait = false;
        } else if (a[0] == '-' && a[1]) {
            usage_error("unknown option '%s'", a);
            goto bad;
        } else if (npos < 3) {
            pos[npos++] = a;
        } else {
            usage_error("unexpected argument '%s'", a);
            goto bad;
        }
    }
    /* Which options and positional arguments each command takes. */
    static const struct {
        const char *cmd, *opts;
        int min_pos, max_pos;
    } shapes[] = {
        {"status", "", 0, 0},
        {"sessions", "user room", 0, 0},
        {"kick", "user reason", 0, 1},
        {"rooms", "top", 0, 0},
        {"lag", "", 0, 0},
        {"dlt", "topic since_ms limit", 1, 2},
        {"loglevel", "", 1, 1},
        {"limits", "", 3, 3},
        {"drain", "", 0, 0},
    };
    int k = -1;
    for (int s = 0; s < (int)(sizeof shapes / sizeof shapes[0]); s++)
        if (strcmp(shapes[s].cmd, cmd) == 0)
            k = s;
    if (k < 0) {
        usage_error("unknown command '%s'", cmd);
        goto bad;
    }
    const char *key;
    json_t *val;
    json_object_foreach(req, key, val)
    {
        char word[32];
        snprintf(word, sizeof word, " %s ", key);
        char opts[64];
        snprintf(opts, sizeof opts, " %s ", shapes[k].opts);
        if (strcmp(key, "cmd") != 0 && !strstr(opts, word)) {
            usage_error("that option is not one of %s's", cmd);
            goto bad;
        }
    }
    if (npos < shapes[k].min_pos || npos > shapes[k].max_pos) {
        usage_error("wrong number of arguments for %s", cmd);
        goto bad;
    }
    if (strcmp(cmd, "kick") == 0) {
        if ((npos == 1) == (json_object_get(req, "user") != NULL)) {
            usage_error("%s needs SESSION or --user ID (one of them)", cmd);
            goto bad;
        }
        if (npos == 1)
            json_object_set_new(req, "session", json_string(pos[0]));
    } else if (strcmp(cmd, "loglevel") == 0) {
        static const char *const levels[] = {"debug", "info", "warn", "error"};
        bool known = false;
        for (int l = 0; l < 4; l++)
            known |= strcasecmp(pos[0], levels[l]) == 0;
        if (!known) {
            usage_error("LEVEL must be debug, info, warn or error, not '%s'", pos[0]);
            goto bad;
        }
        char lower[8];
        size_t n = strlen(pos[0]);
        for (size_t c = 0; c <= n; c++)
            lower[c] = (char)(pos[0][c] >= 'A' && pos[0][c] <= 'Z' ? pos[0][c] + 32 : pos[0][c]);
        json_object_set_new(req, "level", json_string(lower));
    } else if (strcmp(cmd, "limits") == 0) {
        long long v = parse_id(pos[2]);
        if (strcmp(pos[0], "set") != 0 || strcmp(pos[1], "send-rate") != 0 || v < 0 || v > 100000) {
            usage_error("%s", "limits takes: set send-rate N (N from 1 to 100000)");
            goto bad;
        }
        json_object_set_new(req, "name", json_string("send-rate"));
        json_object_set_new(req, "value", json_integer(v));
    } else if (strcmp(cmd, "dlt") == 0) {
        const char *action = pos[0];
        if (strcmp(action, "show") == 0) {
            int p;
            long long o;
            char tail;
            if (npos != 2 || sscanf(pos[1], "%d:%lld%c", &p, &o, &tail) != 2 || p < 0 || o < 0) {
                usage_error("%s", "dlt show needs PARTITION:OFFSET");
                goto bad;
            }
            json_object_set_new(req, "partition", json_integer(p));
            json_object_set_new(req, "offset", json_integer(o));
        } else if ((strcmp(action, "list") != 0 && strcmp(action, "replay") != 0) || npos != 1) {
            usage_error("dlt takes list, show PARTITION:OFFSET or replay, not '%s'", action);
            goto bad;
        }
        json_object_set_new(req, "action", json_string(action));
    }
    *rc = 0;
    return req;
bad:
    json_decref(req);
    return NULL;
}

static int connect_to(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        fprintf(stderr, "chat-admin: socket path too long: %s\n", path);
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        fprintf(stderr, "chat-admin: no chat-node is listening on %s: %s\n", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* Reads one line (the answer) into a growing buffer. NULL on EOF before a line. */
static char *read_line(FILE *in)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, in);
    if (n <= 0) {
        free(line);
        return NULL;
    }
    return line;
}

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

static void print_status(json_t *r)
{
    printf("node          %s (chat-node %s)\n", str(r, "node"), str(r, "version"));
    printf("uptime        %lld s%s\n", num(r, "uptime_s"),
           json_is_true(json_object_get(r, "draining")) ? "   DRAINING" : "");
    printf("sessions      %lld (connections %lld)\n", num(r, "sessions"), num(r, "connections"));
    printf("rooms         %lld\n", num(r, "rooms"));
    printf("actors        %lld on %lld workers (%lld parked), %lld messages handled\n",
           num(r, "actors"), num(r, "workers"), num(r, "workers_parked"), num(r, "messages"));
    json_t *m = json_object_get(r, "mailbox");
    printf("mailboxes     sessions: high-water %lld (session %s), deepest now %lld\n",
           num(m, "sessions_max_hwm"), str(m, "session"), num(m, "sessions_max_depth"));
    printf("send rate     %lld per second per session\n", num(r, "send_rate"));
    printf("log level     %s\n", str(r, "log_level"));
    const char *name;
    json_t *dep;
    json_object_foreach(json_object_get(r, "dependencies"), name, dep)
    {
        bool up = json_is_true(json_object_get(dep, "ok"));
        printf("%-13s %s%s%s\n", name, up ? "ok" : "DOWN", up ? "" : ": ",
               up ? "" : str(dep, "reason"));
    }
}

static void print_result(const char *cmd, json_t *req, json_t *r)
{
    if (strcmp(cmd, "status") == 0) {
        print_status(r);
    } else if (strcmp(cmd, "sessions") == 0) {
        printf("%-18s %-10s %-20s %-8s %-8s %s\n", "SESSION", "USER", "CONNECTED", "MAILBOX", "HWM",
               "ROOMS");
        size_t i;
        json_t *s;
        json_array_foreach(r, i, s)
        {
            char when[32];
            fmt_time(num(s, "connected_at_ms"), when, sizeof when);
            printf("%-18s %-10lld %-20s %-8lld %-8lld", str(s, "session"), num(s, "user"), when,
                   num(s, "mailbox_depth"), num(s, "mailbox_hwm"));
            size_t j;
            json_t *room;
            json_array_foreach(json_object_get(s, "rooms"), j, room)
                printf("%s%lld", j ? "," : " ", (long long)json_integer_value(room));
            printf("\n");
        }
        printf("(%zu sessions)\n", json_array_size(r));
    } else if (strcmp(cmd, "rooms") == 0) {
        printf("%-12s %-10s %s\n", "ROOM", "SESSIONS", "SUBSCRIPTIONS");
        size_t i;
        json_t *x;
        json_array_foreach(r, i, x) printf("%-12lld %-10lld %lld\n", num(x, "room"),
                                           num(x, "sessions"), num(x, "subscriptions"));
    } else if (strcmp(cmd, "lag") == 0) {
        printf("%-20s %-20s %-9s %-10s %-10s %s\n", "GROUP", "TOPIC", "PARTITION", "COMMITTED",
               "END", "LAG");
        size_t i, j;
        json_t *g, *p;
        json_array_foreach(r, i, g) json_array_foreach(json_object_get(g, "partitions"), j, p)
        {
            json_t *c = json_object_get(p, "committed");
            char cs[24] = "-";
            if (json_is_integer(c))
                snprintf(cs, sizeof cs, "%lld", (long long)json_integer_value(c));
            printf("%-20s %-20s %-9lld %-10s %-10lld %lld\n", str(g, "group"), str(g, "topic"),
                   num(p, "partition"), cs, num(p, "end"), num(p, "lag"));
        }
    } else if (strcmp(cmd, "kick") == 0) {
        printf("kicked %lld session(s)\n", num(r, "kicked"));
    } else if (strcmp(cmd, "loglevel") == 0) {
        printf("log level %s (was %s)\n", str(r, "level"), str(r, "previous"));
    } else if (strcmp(cmd, "limits") == 0) {
        printf("send-rate %lld per second (was %lld)\n", num(r, "value"), num(r, "previous"));
    } else if (strcmp(cmd, "dlt") == 0) {
        const char *action = str(req, "action");
        if (strcmp(action, "list") == 0) {
            printf("%-9s %-8s %-20s %-7s %-24s %s\n", "PARTITION", "OFFSET", "TIME", "STAGE",
                   "ORIGIN", "ERROR");
            size_t i;
            json_t *x;
            json_array_foreach(json_object_get(r, "records"), i, x)
            {
                char when[32], origin[64];
                fmt_time(num(x, "timestamp_ms"), when, sizeof when);
                snprintf(origin, sizeof origin, "%s[%s]@%s", str(x, "origin-topic"),
                         str(x, "origin-partition"), str(x, "origin-offset"));
                printf("%-9lld %-8lld %-20s %-7s %-24s %s\n", num(x, "partition"), num(x, "offset"),
                       when, str(x, "error-stage"), origin, str(x, "error"));
            }
            printf("(%zu records of %s%s)\n", json_array_size(json_object_get(r, "records")),
                   str(r, "topic"),
                   json_is_true(json_object_get(r, "truncated")) ? "; more: use --limit" : "");
        } else if (strcmp(action, "show") == 0) {
            const char *k;
            json_t *v;
            json_object_foreach(r, k, v)
            {
                char *t = json_is_string(v) ? NULL : json_dumps(v, JSON_ENCODE_ANY);
                printf("%-17s %s\n", k, t ? t : json_string_value(v));
                free(t);
            }
        } else {
            printf("replayed %lld of %lld records of %s to their origin topics\n",
                   num(r, "replayed"), num(r, "records"), str(r, "topic"));
        }
    }
}

int main(int argc, char **argv)
{
    const char *socket_path = NULL, *config = NULL;
    bool as_json = false;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            as_json = true;
        } else if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc) {
            socket_path = argv[++i];
        } else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config = argv[++i];
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage_text, stdout);
            return 0;
        } else {
            return usage_error("unknown option '%s'", argv[i]);
        }
    }
    if (i >= argc)
        return usage_error("%s", "no command given");
    if (strcmp(argv[i], "help") == 0) {
        if (i + 1 < argc)
            return usage_error("help takes no arguments, got '%s'", argv[i + 1]);
        fputs(usage_text, stdout);
        return 0;
    }
    bool drain_wait = true;
    int rc;
    json_t *req = build_request(argc, argv, i, &drain_wait, &rc);
    if (!req)
        return rc;
    const char *cmd = argv[i];

    char *from_config = NULL;
    if (!socket_path)
        socket_path = getenv("CHAT_ADMIN_SOCKET");
    if (!socket_path && config) {
        int e = ini_parse(config, ini_socket, &from_config);
        if (e != 0) {
            fprintf(stderr, "chat-admin: cannot read %s%s\n", config,
                    e < 0 ? "" : ": syntax error");
            json_decref(req);
            return 2;
        }
        socket_path = from_config;
    }
    struct cn_config defaults;
    cn_config_defaults(&defaults);
    if (!socket_path)
        socket_path = defaults.admin_socket;

    int fd = connect_to(socket_path);
    FILE *in = fd >= 0 ? fdopen(fd, "r") : NULL;
    char *text = json_dumps(req, JSON_COMPACT);
    rc = 1;
    if (in) {
        size_t n = strlen(text);
        text[n] = '\n';
        if (send(fd, text, n + 1, MSG_NOSIGNAL) != (ssize_t)(n + 1)) {
            fprintf(stderr, "chat-admin: %s: cannot send the request: %s\n", socket_path,
                    strerror(errno));
            goto out;
        }
        char *line = read_line(in);
        if (!line) {
            fprintf(stderr, "chat-admin: %s: the node closed the connection without answering\n",
                    socket_path);
            goto out;
        }
        json_error_t jerr;
        json_t *answer = json_loads(line, 0, &jerr);
        free(line);
        json_t *result = json_object_get(answer, "result");
        if (!answer || !json_is_true(json_object_get(answer, "ok"))) {
            json_t *e = json_object_get(answer, "error");
            fprintf(stderr, "chat-admin: %s: %s\n", str(e, "code"), str(e, "message"));
            json_decref(answer);
            goto out;
        }
        if (as_json) {
            char *out = json_dumps(result, JSON_INDENT(2) | JSON_ENCODE_ANY);
            puts(out);
            free(out);
        } else if (strcmp(cmd, "drain") == 0) {
            printf("draining: %lld sessions told to reconnect to another node%s\n",
                   num(result, "sessions"),
                   json_is_true(json_object_get(result, "already")) ? " (already draining)" : "");
        } else {
            print_result(cmd, req, result);
        }
        json_decref(answer);
        rc = 0;
        if (strcmp(cmd, "drain") == 0 && drain_wait) {
            fflush(stdout);
            /* The node keeps the connection until it stops: EOF or "stopped". */
            while ((line = read_line(in)) != NULL)
                free(line);
            if (!as_json)
                printf("stopped\n");
        }
    }
out:
    free(text);
    if (in)
        fclose(in);
    json_decref(req);
    free(from_config);
    cn_config_free(&defaults);
    return rc;
}
