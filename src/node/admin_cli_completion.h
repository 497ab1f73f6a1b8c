/* chat-admin's shell completion: `chat-admin completion bash` prints a bash script
 * that completes commands, their options and fixed values (docs/ADMIN.md).
 *
 * Memory: returns static text. */
#ifndef CN_NODE_ADMIN_CLI_COMPLETION_H
#define CN_NODE_ADMIN_CLI_COMPLETION_H

/* The script for `shell`, or NULL for a shell it has none for (only "bash"). */
const char *cn_admin_cli_completion(const char *shell);

#endif
