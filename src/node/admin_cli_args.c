/* chat-admin's command line; see admin_cli_args.h and docs/ADMIN.md. */
#include "node/admin_cli_args.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* One command: its synopsis, what it does, the options it takes (each
 * surrounded by spaces) and how many positional arguments. */
struct command {
    const char *name, *synopsis, *text, *opts;
    int min_pos, max_pos;
};

static const struct command commands[] = {
    {"status", "status",
     "version, uptime, sessions, rooms, actors, mailbox high-water marks,\n"
     "dependency health",
     " ", 0, 0},
    {"sessions", "sessions [--user ID] [--room ID]",
     "the open STOMP sessions of this node: user and nickname, client address,\n"
     "connected since, subscriptions, queue depth",
     " --user --room ", 0, 0},
    {"kick", "kick SESSION | --user ID [--reason TEXT]",
     "close a session of this node, or every session of a user on every node\n"
     "(how many per node); the client gets ERROR \"closed by the operator[: TEXT]\"",
     " --user --reason ", 0, 1},
    {"user", "user ID|EMAIL|NICKNAME",
     "a user's account and their sessions on every node (the nodes their presence\n"
     "names are asked through Redis)",
     " ", 1, 1},
    {"rooms", "rooms [--top N] [--sort subscriptions|sessions|rate]",
     "rooms with local subscribers and their messages in the last minute; most\n"
     "subscriptions first, or most sessions, or most messages (rate)",
     " --top --sort ", 0, 0},
    {"lag", "lag",
     "per consumer group and partition: committed offset, end offset, lag\n"
     "(cluster-wide: every node answers the same)",
     " ", 0, 0},
    {"dlt",
     "dlt list [--topic T] [--since TIME] [--limit N]\n"
     "dlt show PARTITION:OFFSET [--topic T]\n"
     "dlt replay [--topic T] [--since TIME]",
     "dead letters (default topic chat.messages.dlt); replay produces them back to\n"
     "their origin topic and partition (the consumers are idempotent)",
     " --topic --since --limit ", 1, 2},
    {"loglevel", "loglevel [LEVEL]",
     "show the log level, or set it: debug, info, warn or error (not persisted)", " ", 0, 1},
    {"limits", "limits [set send-rate N]",
     "show the limits, or set SENDs per second per session from now on\n"
     "(N from 1 to 100000; not persisted)",
     " ", 0, 3},
    {"drain", "drain [--no-wait]",
     "stop accepting, tell clients to reconnect elsewhere, finish in-flight work\n"
     "and exit; waits for the exit unless --no-wait",
     " --no-wait ", 0, 0},
    {"tls", "tls reload",
     "re-read http.tls_cert_file and http.tls_key_file and serve them to new\n"
     "connections (open ones keep theirs); a bad file keeps the old certificate",
     " ", 1, 1},
    {"help", "help [COMMAND]", "all commands, or one command's usage", " ", 0, 1},
    {"completion", "completion bash",
     "print the bash completion script; in ~/.bashrc:\n"
     "eval \"$(chat-admin completion bash)\"",
     " ", 1, 1},
};
enum { NCOMMANDS = sizeof commands / sizeof commands[0] };

static const char globals_text[] =
    "global options (anywhere on the line):\n"
    "  --socket PATH   the node's admin socket (else $CHAT_ADMIN_SOCKET, else admin.socket\n"
    "                  of --config FILE, else the built-in default)\n"
    "  --config FILE   the node's INI file, to find admin.socket\n"
    "  --json          print the result, or the error, as JSON\n"
    "  --help, -h      this text, or the command's usage after a command\n"
    "  --version       chat-admin's version\n";

static const struct command *find(const char *name)
{
    for (int i = 0; name && i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

bool cn_admin_cli_known(const char *cmd)
{
    return find(cmd) != NULL;
}

/* Prints text with each line indented by `indent` spaces. */
static void indented(FILE *f, const char *text, int indent)
{
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        int n = nl ? (int)(nl - p) : (int)strlen(p);
        fprintf(f, "%*s%.*s\n", indent, "", n, p);
        p += n + (nl ? 1 : 0);
    }
}

int cn_admin_cli_help(FILE *f, const char *cmd)
{
    if (cmd) {
        const struct command *c = find(cmd);
        if (!c)
            return -1;
        for (const char *p = c->synopsis; *p;) {
            const char *nl = strchr(p, '\n');
            int n = nl ? (int)(nl - p) : (int)strlen(p);
            fprintf(f, "usage: chat-admin %.*s\n", n, p);
            p += n + (nl ? 1 : 0);
        }
        fputc('\n', f);
        indented(f, c->text, 0);
        fputc('\n', f);
        fputs(globals_text, f);
        return 0;
    }
    fputs("usage: chat-admin [--socket PATH | --config FILE] [--json] COMMAND [ARGS]\n\n"
          "commands:\n",
          f);
    for (int i = 0; i < NCOMMANDS; i++) {
        indented(f, commands[i].synopsis, 2);
        indented(f, commands[i].text, 6);
    }
    fputc('\n', f);
    fputs(globals_text, f);
    fputs("\nTIME is seconds since the epoch, an ISO time (2026-12-01T10:00:00Z) or an age\n"
          "(30s, 15m, 2h, 7d). 'chat-admin help COMMAND' shows one command's usage.\n",
          f);
    return 0;
}

static int fail(char *err, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, len, fmt, ap);
    va_end(ap);
    return -1;
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

/* The command options that take a value: their value is never a global flag. */
static bool takes_value(const char *a)
{
    static const char *const with_value[] = {"--user",  "--room",  "--top",    "--limit",
                                             "--since", "--topic", "--reason", "--sort"};
    for (size_t i = 0; i < sizeof with_value / sizeof with_value[0]; i++)
        if (strcmp(a, with_value[i]) == 0)
            return true;
    return false;
}

/* "--name VALUE" or "--name=VALUE" at argv[*i]: 1 and *value set (and *i moved past
 * a separate value), 0 when argv[*i] is another flag, -1 when VALUE is missing. */
static int flag_value(int argc, char **argv, int *i, const char *name, const char **value)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return 0;
    if (argv[*i][n] == '=') {
        *value = argv[*i] + n + 1;
        return 1;
    }
    if (argv[*i][n])
        return 0;
    /* "--socket --json": the path is missing, not "--json". */
    if (*i + 1 >= argc || argv[*i + 1][0] == '-')
        return -1;
    *value = argv[++*i];
    return 1;
}

/* Takes the global flags out of argv; the rest, in order, goes to rest[]. After an
 * error it reads on, so that a --json further on still shapes the error. */
static int split_globals(int argc, char **argv, struct cn_admin_cli *out, char **rest, int *nrest,
                         char *err, size_t len)
{
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r;
        if (strcmp(a, "--json") == 0) {
            out->json = true;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            out->help = true;
        } else if (strcmp(a, "--version") == 0) {
            out->version = true;
        } else if ((r = flag_value(argc, argv, &i, "--socket", &out->socket)) != 0 ||
                   (r = flag_value(argc, argv, &i, "--config", &out->config)) != 0) {
            if (r < 0 && rc == 0)
                rc = fail(err, len, "%s needs a value", a);
        } else {
            rest[(*nrest)++] = argv[i];
            if (takes_value(a) && i + 1 < argc)
                rest[(*nrest)++] = argv[++i];
        }
    }
    return rc;
}

/* Reads the options and positional arguments of command c from rest[1..n). */
static int read_args(const struct command *c, char **rest, int n, struct cn_admin_cli *out,
                     const char **pos, int *npos, char *err, size_t len)
{
    for (int i = 1; i < n; i++) {
        const char *a = rest[i];
        bool has_value = i + 1 < n;
        if (a[0] == '-' && a[1]) {
            char word[40];
            snprintf(word, sizeof word, " %s ", a);
            if (!strstr(c->opts, word))
                return fail(err, len, "%s: unknown option '%s'", c->name, a);
        }
        if (strcmp(a, "--user") == 0 || strcmp(a, "--room") == 0 || strcmp(a, "--top") == 0 ||
            strcmp(a, "--limit") == 0) {
            long long v = has_value ? parse_id(rest[i + 1]) : -1;
            if (v < 0)
                return fail(err, len, "%s: %s needs a positive integer%s%s%s", c->name, a,
                            has_value ? ", not '" : "", has_value ? rest[i + 1] : "",
                            has_value ? "'" : "");
            json_object_set_new(out->req, a + 2, json_integer(v));
            i++;
        } else if (strcmp(a, "--sort") == 0) {
            const char *v = has_value ? rest[i + 1] : "";
            if (strcmp(v, "subscriptions") != 0 && strcmp(v, "sessions") != 0 &&
                strcmp(v, "rate") != 0)
                return fail(err, len, "%s: --sort takes subscriptions, sessions or rate, not '%s'",
                            c->name, v);
            json_object_set_new(out->req, "sort", json_string(v));
            i++;
        } else if (strcmp(a, "--reason") == 0 || strcmp(a, "--topic") == 0) {
            if (!has_value)
                return fail(err, len, "%s: %s needs a value", c->name, a);
            json_object_set_new(out->req, a + 2, json_string(rest[++i]));
        } else if (strcmp(a, "--since") == 0) {
            long long t = has_value ? parse_time(rest[i + 1]) : -1;
            if (t < 0)
                return fail(err, len,
                            "%s: --since needs a TIME (epoch seconds, ISO time or 15m-style "
                            "age), not '%s'",
                            c->name, has_value ? rest[i + 1] : "");
            json_object_set_new(out->req, "since_ms", json_integer(t));
            i++;
        } else if (strcmp(a, "--no-wait") == 0) {
            out->drain_wait = false;
        } else if (*npos < c->max_pos) {
            pos[(*npos)++] = a;
        } else {
            return fail(err, len, "%s: unexpected argument '%s'", c->name, a);
        }
    }
    if (*npos < c->min_pos)
        return fail(err, len, "%s: missing argument", c->name);
    return 0;
}

static int check_loglevel(struct cn_admin_cli *out, const char *level, char *err, size_t len)
{
    static const char *const levels[] = {"debug", "info", "warn", "error"};
    for (int l = 0; l < 4; l++)
        if (strcasecmp(level, levels[l]) == 0) {
            json_object_set_new(out->req, "level", json_string(levels[l]));
            return 0;
        }
    return fail(err, len, "loglevel: LEVEL must be debug, info, warn or error, not '%s'", level);
}

static int check_dlt(struct cn_admin_cli *out, const char **pos, int npos, char *err, size_t len)
{
    const char *action = pos[0];
    bool since = json_object_get(out->req, "since_ms"), limit = json_object_get(out->req, "limit");
    if (strcmp(action, "show") == 0) {
        int p;
        long long o;
        char tail;
        if (npos != 2 || sscanf(pos[1], "%d:%lld%c", &p, &o, &tail) != 2 || p < 0 || o < 0)
            return fail(err, len, "dlt: show needs PARTITION:OFFSET");
        if (since || limit)
            return fail(err, len, "dlt: show takes only PARTITION:OFFSET and --topic");
        json_object_set_new(out->req, "partition", json_integer(p));
        json_object_set_new(out->req, "offset", json_integer(o));
    } else if (strcmp(action, "list") != 0 && strcmp(action, "replay") != 0) {
        return fail(err, len, "dlt: takes list, show PARTITION:OFFSET or replay, not '%s'", action);
    } else if (npos != 1) {
        return fail(err, len, "dlt: unexpected argument '%s'", pos[1]);
    } else if (limit && strcmp(action, "replay") == 0) {
        return fail(err, len, "dlt: --limit is for dlt list");
    }
    json_object_set_new(out->req, "action", json_string(action));
    return 0;
}

/* What each command checks beyond the counts of its arguments. */
static int check_command(struct cn_admin_cli *out, const char **pos, int npos, char *err,
                         size_t len)
{
    const char *cmd = out->cmd;
    if (strcmp(cmd, "kick") == 0) {
        if ((npos == 1) == (json_object_get(out->req, "user") != NULL))
            return fail(err, len, "kick: needs SESSION or --user ID (one of them)");
        if (npos == 1)
            json_object_set_new(out->req, "session", json_string(pos[0]));
    } else if (strcmp(cmd, "user") == 0) {
        json_object_set_new(out->req, "user", json_string(pos[0]));
    } else if (strcmp(cmd, "loglevel") == 0 && npos == 1) {
        return check_loglevel(out, pos[0], err, len);
    } else if (strcmp(cmd, "limits") == 0 && npos > 0) {
        long long v = npos == 3 ? parse_id(pos[2]) : -1;
        if (npos != 3 || strcmp(pos[0], "set") != 0 || strcmp(pos[1], "send-rate") != 0 || v < 0 ||
            v > 100000)
            return fail(err, len,
                        "limits: takes nothing (show) or set send-rate N "
                        "(N from 1 to 100000)");
        json_object_set_new(out->req, "name", json_string("send-rate"));
        json_object_set_new(out->req, "value", json_integer(v));
    } else if (strcmp(cmd, "dlt") == 0) {
        return check_dlt(out, pos, npos, err, len);
    } else if (strcmp(cmd, "tls") == 0) {
        if (strcmp(pos[0], "reload") != 0)
            return fail(err, len, "tls: takes reload, not '%s'", pos[0]);
        json_object_set_new(out->req, "action", json_string("reload"));
    }
    return 0;
}

int cn_admin_cli_parse(int argc, char **argv, struct cn_admin_cli *out, char *err, size_t len)
{
    *out = (struct cn_admin_cli){.drain_wait = true};
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    int n = 0, rc = -1;
    if (!rest)
        return fail(err, len, "out of memory");
    if (split_globals(argc, argv, out, rest, &n, err, len) != 0)
        goto done;
    if (n == 0) {
        rc = out->help || out->version ? 0 : fail(err, len, "no command given");
        goto done;
    }
    if (rest[0][0] == '-') {
        fail(err, len, "unknown option '%s' (command options go after the command)", rest[0]);
        goto done;
    }
    const struct command *c = find(rest[0]);
    if (!c) {
        fail(err, len, "unknown command '%s'", rest[0]);
        goto done;
    }
    out->cmd = c->name;
    if (strcmp(c->name, "help") == 0) {
        out->help = true;
        out->cmd = NULL;
        if (n > 2) {
            fail(err, len, "help: unexpected argument '%s'", rest[2]);
        } else if (n == 2 && !find(rest[1])) {
            fail(err, len, "help: unknown command '%s'", rest[1]);
        } else {
            out->cmd = n == 2 ? find(rest[1])->name : NULL;
            rc = 0;
        }
        goto done;
    }
    if (out->help || out->version) {
        rc = 0;
        goto done;
    }
    if (strcmp(c->name, "completion") == 0) {
        if (n != 2 || strcmp(rest[1], "bash") != 0)
            fail(err, len, "completion: takes bash, the one shell it has a script for");
        else
            rc = 0, out->completion = rest[1];
        goto done;
    }
    out->req = json_pack("{s:s}", "cmd", c->name);
    const char *pos[3] = {0};
    int npos = 0;
    if (read_args(c, rest, n, out, pos, &npos, err, len) != 0 ||
        check_command(out, pos, npos, err, len) != 0)
        goto done;
    rc = 0;
done:
    free(rest);
    if (rc != 0) {
        json_decref(out->req);
        out->req = NULL;
    }
    return rc;
}

void cn_admin_cli_free(struct cn_admin_cli *cli)
{
    json_decref(cli->req);
    cli->req = NULL;
}
