/* chat-admin: the operator's client of a running chat-node's admin socket
 * (docs/ADMIN.md). Turns the command line into one JSON request line
 * (node/admin_cli_args.c), prints the answer as a table (node/admin_cli_print.c)
 * or as JSON with --json, and exits 0 on success, 1 when the node refused or
 * cannot be reached, 2 on a usage error. With --json, errors are JSON too:
 * {"error":{"code","message"}} on stdout. */
#include <errno.h>
#include <ini.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "io/config.h"
#include "node/admin_cli_args.h"
#include "node/admin_cli_completion.h"
#include "node/admin_cli_print.h"

static bool as_json;

/* Prints a JSON value (owned: released here) on stdout. */
static void put_json(json_t *v)
{
    char *out = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY);
    puts(out);
    free(out);
    json_decref(v);
}

/* One error: a line on stderr, or {"error":...} on stdout with --json. hint may be NULL. */
static void report(const char *code, const char *message, const char *hint)
{
    if (as_json) {
        json_t *e = json_pack("{s:s,s:s}", "code", code, "message", message);
        if (hint)
            json_object_set_new(e, "hint", json_string(hint));
        put_json(json_pack("{s:o}", "error", e));
        return;
    }
    if (strcmp(code, "USAGE") == 0 || strcmp(code, "UNREACHABLE") == 0 ||
        strcmp(code, "CONFIG") == 0 || strcmp(code, "IO") == 0)
        fprintf(stderr, "chat-admin: %s\n", message);
    else
        fprintf(stderr, "chat-admin: %s: %s\n", code, message);
    if (hint)
        fprintf(stderr, "try '%s'\n", hint);
}

static int usage_error(const char *message, const char *cmd)
{
    char hint[64];
    snprintf(hint, sizeof hint, "chat-admin help%s%s", cmd ? " " : "", cmd ? cmd : "");
    report("USAGE", message, hint);
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

static int connect_to(const char *path)
{
    char msg[512];
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        snprintf(msg, sizeof msg, "socket path too long: %s", path);
        report("UNREACHABLE", msg, NULL);
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        snprintf(msg, sizeof msg, "no chat-node is listening on %s: %s", path, strerror(errno));
        report("UNREACHABLE", msg, NULL);
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

/* The socket: --socket, else $CHAT_ADMIN_SOCKET, else admin.socket of --config,
 * else the default. *owned is what the caller frees. NULL after reporting. */
static const char *socket_path(const struct cn_admin_cli *cli, const struct cn_config *defaults,
                               char **owned)
{
    const char *path = cli->socket ? cli->socket : getenv("CHAT_ADMIN_SOCKET");
    if (!path && cli->config) {
        int e = ini_parse(cli->config, ini_socket, owned);
        if (e != 0) {
            char msg[512];
            snprintf(msg, sizeof msg, "cannot read %s%s", cli->config,
                     e < 0 ? "" : ": syntax error");
            report("CONFIG", msg, NULL);
            return NULL;
        }
        path = *owned;
    }
    return path ? path : defaults->admin_socket;
}

/* Sends the request and handles the answer. Returns the exit status. */
static int run(const struct cn_admin_cli *cli, const char *path)
{
    int fd = connect_to(path);
    if (fd < 0)
        return 1;
    FILE *in = fdopen(fd, "r");
    char *text = json_dumps(cli->req, JSON_COMPACT);
    char msg[512];
    int rc = 1;
    size_t n = strlen(text);
    text[n] = '\n';
    if (send(fd, text, n + 1, MSG_NOSIGNAL) != (ssize_t)(n + 1)) {
        snprintf(msg, sizeof msg, "%s: cannot send the request: %s", path, strerror(errno));
        report("IO", msg, NULL);
        goto out;
    }
    char *line = read_line(in);
    if (!line) {
        snprintf(msg, sizeof msg, "%s: the node closed the connection without answering", path);
        report("IO", msg, NULL);
        goto out;
    }
    json_t *answer = json_loads(line, 0, NULL);
    free(line);
    json_t *result = json_object_get(answer, "result");
    if (!answer || !json_is_true(json_object_get(answer, "ok"))) {
        json_t *e = json_object_get(answer, "error");
        const char *code = json_string_value(json_object_get(e, "code"));
        const char *m = json_string_value(json_object_get(e, "message"));
        report(code ? code : "BAD_ANSWER", m ? m : "the node's answer is not understood", NULL);
        json_decref(answer);
        goto out;
    }
    if (as_json)
        put_json(json_incref(result));
    else
        cn_admin_cli_print(stdout, cli->req, result);
    json_decref(answer);
    rc = 0;
    if (strcmp(cli->cmd, "drain") == 0 && cli->drain_wait) {
        fflush(stdout);
        /* The node keeps the connection until it stops: EOF or "stopped". */
        while ((line = read_line(in)) != NULL)
            free(line);
        if (!as_json)
            printf("stopped\n");
    }
out:
    free(text);
    fclose(in);
    return rc;
}

int main(int argc, char **argv)
{
    struct cn_admin_cli cli;
    char err[512];
    int parsed = cn_admin_cli_parse(argc, argv, &cli, err, sizeof err);
    as_json = cli.json;
    if (parsed != 0)
        return usage_error(err, cli.cmd);
    if (cli.version) {
        if (as_json)
            put_json(json_pack("{s:s}", "version", CN_VERSION));
        else
            printf("chat-admin %s\n", CN_VERSION);
        return 0;
    }
    if (cli.completion) {
        fputs(cn_admin_cli_completion(cli.completion), stdout);
        return 0;
    }
    if (cli.help) {
        cn_admin_cli_help(stdout, cli.cmd);
        return 0;
    }
    struct cn_config defaults;
    cn_config_defaults(&defaults);
    char *owned = NULL;
    const char *path = socket_path(&cli, &defaults, &owned);
    int rc = path ? run(&cli, path) : 2;
    free(owned);
    cn_config_free(&defaults);
    cn_admin_cli_free(&cli);
    return rc;
}
