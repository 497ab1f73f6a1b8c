/* See ini_duplicates.h. Mirrors inih's line rules: ';' and '#' start a comment line,
 * "[name]" opens a section, "name = value" or "name : value" sets a key, and an indented
 * line right after a key continues that key's value (INI_ALLOW_MULTILINE). */
#include "ini_duplicates.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xmalloc.h"

struct seen {
    char *key; /* "section.name" */
    int line;
};

static char *trim(char *s)
{
    while (*s && isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

int cn_ini_find_duplicate(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char buf[4096], section[256] = "";
    struct seen *seen = NULL;
    size_t n = 0, cap = 0;
    int lineno = 0, rc = 0;
    bool have_prev = false; /* a key came since the last section: continuation possible */
    while (rc == 0 && fgets(buf, sizeof buf, f)) {
        lineno++;
        char *line = buf;
        if (lineno == 1 && (unsigned char)line[0] == 0xEF && (unsigned char)line[1] == 0xBB &&
            (unsigned char)line[2] == 0xBF)
            line += 3; /* INI_ALLOW_BOM */
        char *start = trim(line);
        if (*start == '\0' || *start == ';' || *start == '#')
            continue;
        if (have_prev && start > line)
            continue; /* a continuation line of the previous value */
        if (*start == '[') {
            char *end = strchr(start, ']');
            if (end) {
                *end = '\0';
                snprintf(section, sizeof section, "%s", start + 1);
                have_prev = false;
            }
            continue;
        }
        size_t cut = strcspn(start, "=:");
        if (start[cut] == '\0')
            continue; /* not a pair: ini_parse reports it */
        start[cut] = '\0';
        char key[600];
        snprintf(key, sizeof key, "%s.%s", section, trim(start));
        have_prev = true;
        for (size_t i = 0; i < n; i++) {
            if (strcmp(seen[i].key, key) == 0) {
                snprintf(err, errlen, "%s:%d: %s given again (first at line %d)", path, lineno, key,
                         seen[i].line);
                rc = -1;
                break;
            }
        }
        if (rc == 0) {
            if (n == cap) {
                cap = cap ? cap * 2 : 32;
                seen = cn_xrealloc(seen, cap * sizeof *seen);
            }
            seen[n++] = (struct seen){cn_xstrdup(key), lineno};
        }
    }
    fclose(f);
    for (size_t i = 0; i < n; i++)
        free(seen[i].key);
    free(seen);
    return rc;
}
