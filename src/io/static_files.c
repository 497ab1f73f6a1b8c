/* The web client's files, served from memory; see static_files.h. */
#include "static_files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/xmalloc.h"

#define MAX_FILES 1024
#define MAX_BYTES (64u << 20)
#define MAX_DEPTH 8

struct file {
    char *path; /* "/index.html", "/assets/app-XXXX.js" */
    const char *content_type;
    const char *cache_control;
    char *data;
    size_t len;
};

struct cn_static_files {
    struct file *files; /* sorted by path */
    size_t count;
    size_t bytes;
};

static const struct {
    const char *ext;
    const char *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".map", "application/json"},
    {".webmanifest", "application/manifest+json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".woff2", "font/woff2"},
    {".txt", "text/plain; charset=utf-8"},
};

static const char *content_type_of(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (dot && !strchr(dot, '/'))
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (strcmp(dot, types[i].ext) == 0)
                return types[i].type;
    return "application/octet-stream";
}

static const char *cache_control_of(const char *path)
{
    /* The build names everything under assets/ by its content hash. */
    return strncmp(path, "/assets/", 8) == 0 ? "public, max-age=31536000, immutable" : "no-cache";
}

/* Writes the reason into err (truncated to errlen) and returns -1. Through vsnprintf:
 * GCC's -Wformat-truncation flags every direct snprintf of a path into err. */
__attribute__((format(printf, 3, 4))) static int set_err(char *err, size_t errlen, const char *fmt,
                                                         ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static int fail(char *err, size_t errlen, const char *what, const char *path, int e)
{
    return set_err(err, errlen, "%s %s: %s", what, path, strerror(e));
}

static int read_file(int dirfd, const char *name, const char *shown, struct file *f, char *err,
                     size_t errlen)
{
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return fail(err, errlen, "cannot open", shown, errno);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return fail(err, errlen, "cannot stat", shown, e);
    }
    if (st.st_size > (off_t)MAX_BYTES) {
        close(fd);
        return set_err(err, errlen, "%s is larger than %u bytes", shown, MAX_BYTES);
    }
    f->len = (size_t)st.st_size;
    f->data = cn_xmalloc(f->len + 1);
    size_t got = 0;
    while (got < f->len) {
        ssize_t n = read(fd, f->data + got, f->len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;
            close(fd);
            free(f->data);
            f->data = NULL;
            return fail(err, errlen, "cannot read", shown, e);
        }
        got += (size_t)n;
    }
    close(fd);
    return 0;
}

/* Adds every regular file under the directory fd (taken), prefix being its URL path ("" for the
 * root). */
static int walk(struct cn_static_files *s, int fd, const char *prefix, int depth, char *err,
                size_t errlen)
{
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = errno;
        close(fd);
        return fail(err, errlen, "cannot list", prefix[0] ? prefix : "/", e);
    }
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue; /* ".", "..", and dot files are not served */
        char path[1024];
        if (snprintf(path, sizeof path, "%s/%s", prefix, de->d_name) >= (int)sizeof path)
            continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            rc = fail(err, errlen, "cannot stat", path, errno);
        } else if (S_ISDIR(st.st_mode) && depth < MAX_DEPTH) {
            int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
            rc = sub < 0 ? fail(err, errlen, "cannot open", path, errno)
                         : walk(s, sub, path, depth + 1, err, errlen);
        } else if (S_ISREG(st.st_mode)) {
            if (s->count == MAX_FILES) {
                rc = set_err(err, errlen, "more than %d files", MAX_FILES);
                break;
            }
            struct file *f = &s->files[s->count];
            memset(f, 0, sizeof *f);
            rc = read_file(dirfd(d), de->d_name, path, f, err, errlen);
            if (rc == 0) {
                f->path = cn_xstrdup(path);
                f->content_type = content_type_of(path);
                f->cache_control = cache_control_of(path);
                s->count++;
                s->bytes += f->len;
                if (s->bytes > MAX_BYTES) {
                    rc = set_err(err, errlen, "more than %u bytes in all", MAX_BYTES);
                }
            }
        }
    }
    closedir(d);
    return rc;
}

static int by_path(const void *a, const void *b)
{
    return strcmp(((const struct file *)a)->path, ((const struct file *)b)->path);
}

static const struct file *find(const struct cn_static_files *s, const char *path)
{
    struct file key = {.path = (char *)path};
    return bsearch(&key, s->files, s->count, sizeof *s->files, by_path);
}

struct cn_static_files *cn_static_files_load(const char *dir, char *err, size_t errlen)
{
    struct cn_static_files *s = cn_xcalloc(1, sizeof *s);
    s->files = cn_xcalloc(MAX_FILES, sizeof *s->files);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    char why[512];
    int rc = fd < 0 ? fail(why, sizeof why, "cannot open", "the directory", errno)
                    : walk(s, fd, "", 0, why, sizeof why);
    if (rc == 0) {
        qsort(s->files, s->count, sizeof *s->files, by_path);
        if (!find(s, "/index.html")) {
            rc = set_err(why, sizeof why, "no index.html in it (is the web client built?)");
        }
    }
    if (rc != 0) {
        set_err(err, errlen, "http.static_dir %s: %s", dir, why);
        cn_static_files_free(s);
        return NULL;
    }
    return s;
}

/* A path the table could hold: "/" then segments of printable characters, none
 * empty, "." or "..", no backslash. (lws has already decoded %XX and folded
 * "/../" by itself; this also catches what its folding lets through.) */
static bool path_ok(const char *p)
{
    if (p[0] != '/')
        return false;
    const char *seg = p + 1;
    for (const char *c = seg;; c++) {
        if (*c == '/' || *c == '\0') {
            size_t n = (size_t)(c - seg);
            if (n == 0 && !(*c == '\0' && c == p + 1))
                return false; /* empty segment ("//", trailing "/"), except "/" itself */
            if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
                return false;
            if (*c == '\0')
                return true;
            seg = c + 1;
        } else if ((unsigned char)*c < 0x20 || *c == 0x7f || *c == '\\') {
            return false;
        }
    }
}

bool cn_static_files_handle(const struct cn_static_files *s, const struct cn_http_request *req,
                            struct cn_http_response *resp)
{
    if (!s)
        return false;
    if (!path_ok(req->path)) {
        cn_http_error(resp, 400, "BAD_PATH", "malformed path");
        return true;
    }
    const struct file *f = find(s, strcmp(req->path, "/") == 0 ? "/index.html" : req->path);
    if (!f)
        return false;
    if (strcmp(req->method, "GET") != 0) {
        cn_http_error(resp, 405, "METHOD_NOT_ALLOWED", "use GET");
        return true;
    }
    resp->status = 200;
    resp->content_type = f->content_type;
    resp->cache_control = f->cache_control;
    resp->static_file = true;
    resp->body = cn_xmalloc(f->len + 1);
    memcpy(resp->body, f->data, f->len);
    resp->body_len = f->len;
    return true;
}

size_t cn_static_files_count(const struct cn_static_files *s)
{
    return s ? s->count : 0;
}

void cn_static_files_free(struct cn_static_files *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->count; i++) {
        free(s->files[i].path);
        free(s->files[i].data);
    }
    free(s->files);
    free(s);
}
