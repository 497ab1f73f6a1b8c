/* chat-admin's command line (docs/ADMIN.md, "chat-admin"): the commands it knows,
 * their help texts, and the translation of argv into one admin-socket request.
 * Pure: no I/O but writing help text to the FILE it is given.
 *
 * Global flags (--json, --socket, --config, --help, --version) may stand anywhere
 * on the line; cn_admin_cli_parse takes them out before reading the command.
 *
 * Memory: the request in cn_admin_cli is new and owned by the caller
 * (cn_admin_cli_free); every string in it points into argv or static text. */
#ifndef CN_NODE_ADMIN_CLI_ARGS_H
#define CN_NODE_ADMIN_CLI_ARGS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct cn_admin_cli {
    bool json;              /* --json */
    bool help;              /* --help, -h or `help [COMMAND]`: print help, do nothing */
    bool version;           /* --version */
    bool drain_wait;        /* drain without --no-wait */
    const char *socket;     /* --socket PATH, or NULL */
    const char *config;     /* --config FILE, or NULL */
    const char *completion; /* `completion SHELL`: print its script, do nothing else */
    const char *cmd;        /* the command (for help: the one asked about, or NULL) */
    json_t *req;            /* the request line's object, NULL for help and version */
};

/* Reads argv[1..argc). Returns 0 when *out is ready; -1 on a usage error, with a
 * one-line message in err (no newline) and, when the error concerns a known
 * command, *out->cmd set so the caller can point at `chat-admin help COMMAND`. */
int cn_admin_cli_parse(int argc, char **argv, struct cn_admin_cli *out, char *err, size_t errlen);

void cn_admin_cli_free(struct cn_admin_cli *cli);

/* Writes the whole usage (cmd NULL) or one command's. Returns -1 for a command
 * it does not know. */
int cn_admin_cli_help(FILE *f, const char *cmd);

/* Whether cmd is one of chat-admin's commands. */
bool cn_admin_cli_known(const char *cmd);

#endif
