/* chat-admin's shell completion; see admin_cli_completion.h. The word lists
 * mirror the command table of admin_cli_args.c; tests/integration/admin_cli.py
 * runs the script in bash against it. */
#include "node/admin_cli_completion.h"

#include <string.h>

static const char bash_script[] =
    "# bash completion for chat-admin: eval \"$(chat-admin completion bash)\"\n"
    "_chat_admin() {\n"
    "    local cur prev cmd i w\n"
    "    cur=${COMP_WORDS[COMP_CWORD]}\n"
    "    prev=${COMP_WORDS[COMP_CWORD-1]}\n"
    "    local globals='--socket --config --json --help --version'\n"
    "    local commands='status sessions kick user rooms lag dlt loglevel limits drain "
    "tls help completion'\n"
    "    case $prev in\n"
    "        --socket|--config) COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n"
    "        --topic) COMPREPLY=($(compgen -W 'chat.messages.dlt chat.read-receipts.dlt' "
    "-- \"$cur\")); return ;;\n"
    "        --sort) COMPREPLY=($(compgen -W 'subscriptions sessions rate' -- \"$cur\")); "
    "return ;;\n"
    "        --user|--room|--top|--limit|--since|--reason) return ;;\n"
    "    esac\n"
    "    cmd=; local npos=0\n"
    "    for ((i = 1; i < COMP_CWORD; i++)); do\n"
    "        w=${COMP_WORDS[i]}\n"
    "        case $w in\n"
    "            --socket|--config|--topic|--user|--room|--top|--limit|--since|--reason|--sort) "
    "((i++)) ;;\n"
    "            -*) ;;\n"
    "            *) if [[ -z $cmd ]]; then cmd=$w; else ((npos++)); fi ;;\n"
    "        esac\n"
    "    done\n"
    "    local words\n"
    "    case $cmd in\n"
    "        '') words=\"$commands $globals\" ;;\n"
    "        sessions) words='--user --room' ;;\n"
    "        kick) words='--user --reason' ;;\n"
    "        rooms) words='--top --sort' ;;\n"
    "        dlt) if ((npos == 0)); then words='list show replay'; "
    "else words='--topic --since --limit'; fi ;;\n"
    "        loglevel) ((npos == 0)) && words='debug info warn error' ;;\n"
    "        limits) case $npos in 0) words='set' ;; 1) words='send-rate' ;; esac ;;\n"
    "        drain) words='--no-wait' ;;\n"
    "        tls) ((npos == 0)) && words='reload' ;;\n"
    "        help) ((npos == 0)) && words=\"$commands\" ;;\n"
    "        completion) ((npos == 0)) && words='bash' ;;\n"
    "    esac\n"
    "    [[ -n $cmd && $cur == -* ]] && words=\"$words $globals\"\n"
    "    COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n"
    "}\n"
    "complete -F _chat_admin chat-admin\n";

const char *cn_admin_cli_completion(const char *shell)
{
    return strcmp(shell, "bash") == 0 ? bash_script : NULL;
}
