# gen_queries.cmake — turns src/actors/sql/queries.sql into C (run with cmake -P at build time).
#
#   cmake -DIN=queries.sql -DOUT=queries_sql.c -P gen_queries.cmake
#
# Each `-- name: <identifier>` starts a statement; its `-- params:` and `-- returns:` doc
# lines are required; full-line comments and blank lines are dropped from the text, and
# one trailing semicolon is allowed. The output defines cn_sql(), cn_sql_name(),
# cn_sql_param_count() and cn_sql_find() for the enum cn_sql_id of src/actors/sql/queries.h with
# designated initializers ([CN_SQL_<NAME>] = ...) and a _Static_assert on the count, so a
# name missing from the enum, or an enum entry missing from the file, fails the build.
# Errors here (no statement text, two statements under one name, a duplicate name, a
# missing doc line) fail the build too.
cmake_minimum_required(VERSION 3.25)

if(NOT DEFINED IN OR NOT DEFINED OUT)
  message(FATAL_ERROR "gen_queries.cmake: pass -DIN=<queries.sql> -DOUT=<file.c>")
endif()

file(READ "${IN}" text)
# CMake lists split on ';' and treat '[' ']' specially: hide them while working line by line.
string(REPLACE "\r" "" text "${text}")
string(REPLACE ";" "@CN_SEMI@" text "${text}")
string(REPLACE "[" "@CN_LB@" text "${text}")
string(REPLACE "]" "@CN_RB@" text "${text}")
string(REPLACE "\\" "@CN_BS@" text "${text}")
string(REPLACE "\n" ";" lines "${text}")

set(names "")
set(cur "")
set(lineno 0)

# Emits the C initializers of the statement in cur_* (called at each new name and at EOF).
macro(cn_finish_statement)
  if(NOT cur STREQUAL "")
    if(NOT cur_params)
      message(FATAL_ERROR "${IN}:${cur_line}: statement '${cur}' has no '-- params:' line")
    endif()
    if(NOT cur_returns)
      message(FATAL_ERROR "${IN}:${cur_line}: statement '${cur}' has no '-- returns:' line")
    endif()
    # Drop one trailing semicolon (and the whitespace around it).
    string(REGEX REPLACE "[ \t\n]+$" "" cur_sql "${cur_sql}")
    string(REGEX REPLACE "@CN_SEMI@$" "" cur_sql "${cur_sql}")
    string(REGEX REPLACE "[ \t\n]+$" "" cur_sql "${cur_sql}")
    if(cur_sql STREQUAL "")
      message(FATAL_ERROR "${IN}:${cur_line}: statement '${cur}' is empty")
    endif()
    string(FIND "${cur_sql}" "@CN_SEMI@" semi)
    if(NOT semi EQUAL -1)
      message(FATAL_ERROR "${IN}:${cur_line}: '${cur}' holds more than one statement (a ';' "
                          "before its end); one statement per name")
    endif()
    # The highest $n is the parameter count.
    string(REGEX MATCHALL "\\$[0-9]+" refs "${cur_sql}")
    set(nparams 0)
    foreach(ref IN LISTS refs)
      string(SUBSTRING "${ref}" 1 -1 n)
      if(n GREATER nparams)
        set(nparams ${n})
      endif()
    endforeach()
    # C string literal, one source line per SQL line.
    set(lit "${cur_sql}")
    string(REPLACE "@CN_BS@" "\\\\" lit "${lit}")
    string(REPLACE "\"" "\\\"" lit "${lit}")
    string(REPLACE "?" "\\?" lit "${lit}")
    string(REPLACE "\n" "\\n\"\n    \"" lit "${lit}")
    string(REPLACE "@CN_SEMI@" ";" lit "${lit}")
    string(REPLACE "@CN_LB@" "[" lit "${lit}")
    string(REPLACE "@CN_RB@" "]" lit "${lit}")
    string(TOUPPER "${cur}" upper)
    string(APPEND c_text "    [CN_SQL_${upper}] =\n    \"${lit}\",\n")
    string(APPEND c_names "    [CN_SQL_${upper}] = \"${cur}\",\n")
    string(APPEND c_nparams "    [CN_SQL_${upper}] = ${nparams},\n")
  endif()
endmacro()

set(c_text "")
set(c_names "")
set(c_nparams "")
foreach(line IN LISTS lines)
  math(EXPR lineno "${lineno} + 1")
  if(line MATCHES "^-- name:[ \t]*([A-Za-z_][A-Za-z0-9_]*)[ \t]*$")
    set(next "${CMAKE_MATCH_1}")
    cn_finish_statement()
    set(cur "${next}")
    string(TOLOWER "${cur}" lower)
    if(NOT cur STREQUAL lower)
      message(FATAL_ERROR "${IN}:${lineno}: statement name '${cur}' must be lower case")
    endif()
    if(cur IN_LIST names)
      message(FATAL_ERROR "${IN}:${lineno}: statement name '${cur}' is used twice")
    endif()
    list(APPEND names "${cur}")
    set(cur_line ${lineno})
    set(cur_sql "")
    set(cur_params FALSE)
    set(cur_returns FALSE)
  elseif(line MATCHES "^-- name:")
    message(FATAL_ERROR "${IN}:${lineno}: bad statement name line: ${line}")
  elseif(line MATCHES "^[ \t]*--")
    if(line MATCHES "^-- params:")
      set(cur_params TRUE)
    elseif(line MATCHES "^-- returns:")
      set(cur_returns TRUE)
    endif()
  elseif(line MATCHES "^[ \t]*$")
    # blank
  elseif(cur STREQUAL "")
    message(FATAL_ERROR "${IN}:${lineno}: SQL text before the first '-- name:' line")
  else()
    string(APPEND cur_sql "${line}\n")
  endif()
endforeach()
cn_finish_statement()

list(LENGTH names count)
if(count EQUAL 0)
  message(FATAL_ERROR "${IN}: no '-- name:' statements")
endif()

set(out "/* Generated from src/actors/sql/queries.sql by src/actors/sql/gen_queries.cmake at build time: do not edit. */
#include \"actors/sql/queries.h\"

#include <string.h>

_Static_assert(CN_SQL__COUNT == ${count},
               \"src/actors/sql/queries.sql names ${count} statements: enum cn_sql_id in src/actors/sql/queries.h \"
               \"must list exactly those (CN_SQL_<NAME>)\");

static const char *const sql_text[CN_SQL__COUNT] = {
${c_text}};

static const char *const sql_names[CN_SQL__COUNT] = {
${c_names}};

static const int sql_nparams[CN_SQL__COUNT] = {
${c_nparams}};

const char *cn_sql(enum cn_sql_id id)
{
    return (unsigned)id < CN_SQL__COUNT ? sql_text[id] : NULL;
}

const char *cn_sql_name(enum cn_sql_id id)
{
    return (unsigned)id < CN_SQL__COUNT ? sql_names[id] : NULL;
}

int cn_sql_param_count(enum cn_sql_id id)
{
    return (unsigned)id < CN_SQL__COUNT ? sql_nparams[id] : -1;
}

int cn_sql_find(const char *name)
{
    for (int i = 0; name && i < CN_SQL__COUNT; i++)
        if (sql_names[i] && strcmp(sql_names[i], name) == 0)
            return i;
    return -1;
}
")
file(WRITE "${OUT}.tmp" "${out}")
file(RENAME "${OUT}.tmp" "${OUT}")
