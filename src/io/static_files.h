/* The web client's files: every regular file under one directory (http.static_dir),
 * read into memory once at start and answered on GET by exact path, `/` being
 * `/index.html`. Nothing is read from disk per request, so an I/O thread never
 * blocks on the file system and no request path can reach a file outside the
 * table: a path is only ever a key, never joined to the directory. Paths with a
 * `.` or `..` segment, an empty segment, a backslash or a control character are
 * refused with 400 anyway, so that probing is visible as such.
 *
 * Cache-Control: files under `assets/` (the build names them by content hash) are
 * `public, max-age=31536000, immutable`; everything else (index.html) `no-cache`.
 * A rebuilt bundle is served after a node restart.
 *
 * Memory: cn_static_files_load returns a table that owns copies of every file;
 * cn_static_files_free releases it. Handling a request only reads the table, so
 * any number of I/O threads may use it at once. */
#ifndef CN_IO_STATIC_FILES_H
#define CN_IO_STATIC_FILES_H

#include <stdbool.h>
#include <stddef.h>

#include "io/http_server.h"

struct cn_static_files;

/* Reads dir (recursively; dot files, symlinks and other non-regular files are
 * skipped). Fails with a reason in err when dir cannot be read, holds no
 * index.html, or holds more than 1024 files or 64 MiB. */
struct cn_static_files *cn_static_files_load(const char *dir, char *err, size_t errlen);

/* Answers req when its path is a file of the table (GET: 200; other methods: 405)
 * or a malformed path (400). Returns false, leaving resp untouched, otherwise. */
bool cn_static_files_handle(const struct cn_static_files *s, const struct cn_http_request *req,
                            struct cn_http_response *resp);

size_t cn_static_files_count(const struct cn_static_files *s);

void cn_static_files_free(struct cn_static_files *s);

#endif
