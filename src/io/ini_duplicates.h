/* Finds a key given twice in one INI file (the same section and name, even across two
 * [section] blocks). inih hands the handler no line numbers (Debian builds it without
 * INI_HANDLER_LINENO), so this reads the file once itself, with inih's rules for
 * sections, comments and continuation lines, before ini_parse reads it for values.
 *
 * Memory: nothing is kept; the file is read line by line into a stack buffer. */
#ifndef CN_IO_INI_DUPLICATES_H
#define CN_IO_INI_DUPLICATES_H

#include <stddef.h>

/* Returns -1 with "<path>:<line>: <section>.<name> given again (first at line <n>)" in
 * err when a key repeats, else 0 (also when the file cannot be opened: ini_parse says
 * so). Never quotes a value. */
int cn_ini_find_duplicate(const char *path, char *err, size_t errlen);

#endif
