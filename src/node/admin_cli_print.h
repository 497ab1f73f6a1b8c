/* chat-admin's tables: how a successful answer of the admin socket looks to a person
 * (docs/ADMIN.md). --json bypasses this and prints the result as it came.
 *
 * Memory: borrows everything; allocates nothing that outlives a call. */
#ifndef CN_NODE_ADMIN_CLI_PRINT_H
#define CN_NODE_ADMIN_CLI_PRINT_H

#include <jansson.h>
#include <stdio.h>

/* Prints `result`, the answer to request `req` (whose "cmd" says which table). */
void cn_admin_cli_print(FILE *f, json_t *req, json_t *result);

#endif
