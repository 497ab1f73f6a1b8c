/* Tests src/io/static_files.c: what is loaded from the directory, the answers'
 * Content-Type and Cache-Control, and the paths and methods that are refused. */
#include "check.h"
#include "io/static_files.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[64];

static void put(const char *rel, const char *text)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
}

static void make_tree(void)
{
    snprintf(root, sizeof root, "/tmp/cn-static-test-XXXXXX");
    CHECK(mkdtemp(root) != NULL);
    char p[256];
    snprintf(p, sizeof p, "%s/assets", root);
    mkdir(p, 0755);
    put("index.html", "<!doctype html><p>hi</p>");
    put("assets/app-ABC.js", "console.log(1)");
    put("assets/style-ABC.css", "p{}");
    put(".secret", "dot files are not served");
    snprintf(p, sizeof p, "%s/link.txt", root);
    CHECK(symlink("/etc/hostname", p) == 0);
}

static void remove_tree(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    CHECK(system(cmd) == 0);
}

static struct cn_http_response get(const struct cn_static_files *s, const char *method,
                                   const char *path, bool *handled)
{
    struct cn_http_request req = {.method = method, .path = path, .query = ""};
    struct cn_http_response resp = {0};
    *handled = cn_static_files_handle(s, &req, &resp);
    return resp;
}

static void test_serves_files_with_types_and_cache_control(void)
{
    make_tree();
    char err[256] = "";
    struct cn_static_files *s = cn_static_files_load(root, err, sizeof err);
    CHECK(s != NULL);
    CHECK_EQ(cn_static_files_count(s), 3); /* no dot file, no symlink */
    bool h;
    struct cn_http_response r = get(s, "GET", "/", &h);
    CHECK(h);
    CHECK_EQ(r.status, 200);
    CHECK_STR(r.content_type, "text/html; charset=utf-8");
    CHECK_STR(r.cache_control, "no-cache");
    CHECK_EQ(r.body_len, strlen("<!doctype html><p>hi</p>"));
    CHECK(memcmp(r.body, "<!doctype html><p>hi</p>", r.body_len) == 0);
    free(r.body);
    r = get(s, "GET", "/assets/app-ABC.js", &h);
    CHECK(h);
    CHECK_STR(r.content_type, "text/javascript; charset=utf-8");
    CHECK_STR(r.cache_control, "public, max-age=31536000, immutable");
    free(r.body);
    r = get(s, "GET", "/assets/style-ABC.css", &h);
    CHECK_STR(r.content_type, "text/css; charset=utf-8");
    free(r.body);
    cn_static_files_free(s);
    remove_tree();
}

static void test_refuses_bad_paths_and_methods(void)
{
    make_tree();
    char err[256] = "";
    struct cn_static_files *s = cn_static_files_load(root, err, sizeof err);
    CHECK(s != NULL);
    bool h;
    const char *bad[] = {"/../index.html",
                         "/assets/../index.html",
                         "/./index.html",
                         "/a//b",
                         "/assets/",
                         "/..",
                         "/.",
                         "/a\\..\\b",
                         "/x\x01y",
                         "relative"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct cn_http_response r = get(s, "GET", bad[i], &h);
        CHECK(h);
        CHECK_EQ(r.status, 400);
        free(r.body);
    }
    /* Not in the table: left to the router's 404. */
    const char *absent[] = {"/.secret", "/link.txt", "/nope.js", "/index.htm", "/assets"};
    for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++) {
        struct cn_http_response r = get(s, "GET", absent[i], &h);
        CHECK(!h);
        CHECK(r.body == NULL);
    }
    struct cn_http_response r = get(s, "POST", "/index.html", &h);
    CHECK(h);
    CHECK_EQ(r.status, 405);
    free(r.body);
    cn_static_files_free(s);
    CHECK(
        !cn_static_files_handle(NULL, &(struct cn_http_request){.method = "GET", .path = "/"}, &r));
    remove_tree();
}

static void test_load_fails_without_index_or_directory(void)
{
    char err[256] = "";
    CHECK(cn_static_files_load("/nonexistent-cn-dir", err, sizeof err) == NULL);
    CHECK(strstr(err, "http.static_dir /nonexistent-cn-dir: cannot open") != NULL);
    make_tree();
    char p[256];
    snprintf(p, sizeof p, "%s/index.html", root);
    unlink(p);
    CHECK(cn_static_files_load(root, err, sizeof err) == NULL);
    CHECK(strstr(err, "no index.html") != NULL);
    remove_tree();
}

CN_TEST_MAIN(test_serves_files_with_types_and_cache_control, test_refuses_bad_paths_and_methods,
             test_load_fails_without_index_or_directory)
