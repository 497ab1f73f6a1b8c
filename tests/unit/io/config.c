/* Tests src/io/config.c: defaults, INI loading, environment overrides and the
 * errors that name the offending key. */
#include "check.h"
#include "io/config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *secret = "0123456789abcdef0123456789abcdef-test";

static char *write_ini(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/cn-config-test-%d.ini", (int)getpid());
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_defaults_are_valid_once_a_secret_is_set(void)
{
    struct cn_config cfg;
    char err[256] = "";
    char env[128];
    snprintf(env, sizeof env, "CHAT_AUTH_JWT_SECRET=%s", secret);
    char *envp[] = {env, NULL};
    cn_config_defaults(&cfg);
    CHECK_EQ(cn_config_load(&cfg, NULL, envp, err, sizeof err), 0);
    CHECK_EQ(cfg.http_port, 8080);
    CHECK_EQ(cfg.kafka_messages_partitions, 6);
    CHECK_STR(cfg.log_level, "info");
    CHECK_STR(cfg.auth_issuer, "chat-node");
    CHECK_STR(cfg.auth_audience, "chat-node");
    CHECK_EQ(cfg.auth_refresh_ttl_s, 30 * 86400);
    CHECK_EQ(cfg.auth_login_backoff_after, 5);
    CHECK_EQ(cfg.auth_login_backoff_base_s, 1);
    CHECK_EQ(cfg.auth_login_backoff_max_s, 900);
    cn_config_free(&cfg);
}

static void test_token_names_and_backoff_are_checked(void)
{
    char env[128];
    snprintf(env, sizeof env, "CHAT_AUTH_JWT_SECRET=%s", secret);
    struct {
        const char *var;
        const char *err; /* NULL: accepted */
    } cases[] = {
        {"CHAT_AUTH_ISSUER=", "auth.issuer"},
        {"CHAT_AUTH_AUDIENCE=", "auth.audience"},
        {"CHAT_AUTH_AUDIENCE=billing", NULL},
        {"CHAT_AUTH_LOGIN_BACKOFF_MAX_S=0", "auth.login_backoff_max_s"},
        {"CHAT_AUTH_REFRESH_TTL_S=10", "auth.refresh_ttl_s"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *envp[] = {env, (char *)cases[i].var, NULL};
        struct cn_config cfg;
        char err[256] = "";
        cn_config_defaults(&cfg);
        int rc = cn_config_load(&cfg, NULL, envp, err, sizeof err);
        if (cases[i].err) {
            CHECK_EQ(rc, -1);
            CHECK(strstr(err, cases[i].err) != NULL);
        } else {
            CHECK_EQ(rc, 0);
        }
        cn_config_free(&cfg);
    }
    /* The longest back-off must not be shorter than the first. */
    char *envp[] = {env, "CHAT_AUTH_LOGIN_BACKOFF_BASE_S=10", "CHAT_AUTH_LOGIN_BACKOFF_MAX_S=5",
                    NULL};
    struct cn_config cfg;
    char err[256] = "";
    cn_config_defaults(&cfg);
    CHECK_EQ(cn_config_load(&cfg, NULL, envp, err, sizeof err), -1);
    CHECK(strstr(err, "auth.login_backoff_max_s") != NULL);
    cn_config_free(&cfg);
}

static void test_empty_secret_is_refused(void)
{
    struct cn_config cfg;
    char err[256] = "";
    cn_config_defaults(&cfg);
    CHECK_EQ(cn_config_load(&cfg, NULL, NULL, err, sizeof err), -1);
    CHECK(strstr(err, "auth.jwt_secret") != NULL);
    cn_config_free(&cfg);
}

static void test_dev_secret_needs_dev_mode(void)
{
    struct cn_config cfg;
    char err[256] = "", env[128];
    snprintf(env, sizeof env, "CHAT_AUTH_JWT_SECRET=%s", cn_config_dev_jwt_secret);
    char *envp[] = {env, NULL};
    cn_config_defaults(&cfg);
    CHECK_EQ(cn_config_load(&cfg, NULL, envp, err, sizeof err), -1);
    CHECK(strstr(err, "dev_mode") != NULL);
    cn_config_free(&cfg);

    char *envp2[] = {env, "CHAT_NODE_DEV_MODE=true", NULL};
    cn_config_defaults(&cfg);
    CHECK_EQ(cn_config_load(&cfg, NULL, envp2, err, sizeof err), 0);
    CHECK(cfg.dev_mode);
    cn_config_free(&cfg);
}

static void test_ini_then_environment_wins(void)
{
    char text[256];
    snprintf(text, sizeof text,
             "[http]\nport = 9001\nio_threads = 2\n[auth]\njwt_secret = %s\n[redis]\nhost = "
             "redis.internal\n",
             secret);
    char *path = write_ini(text);
    char *envp[] = {"CHAT_HTTP_PORT=9002", "PATH=/bin", NULL};
    struct cn_config cfg;
    char err[256] = "";
    cn_config_defaults(&cfg);
    CHECK_EQ(cn_config_load(&cfg, path, envp, err, sizeof err), 0);
    CHECK_EQ(cfg.http_port, 9002);
    CHECK_EQ(cfg.http_io_threads, 2);
    CHECK_STR(cfg.redis_host, "redis.internal");
    cn_config_free(&cfg);
    unlink(path);
}

static void test_io_threads_zero_means_one_per_core(void)
{
    char s[160];
    snprintf(s, sizeof s, "CHAT_AUTH_JWT_SECRET=%s", secret);
    char *envp[] = {"CHAT_HTTP_IO_THREADS=0", s, NULL};
    struct cn_config cfg;
    char err[256] = "";
    cn_config_defaults(&cfg);
    CHECK_EQ(cn_config_load(&cfg, NULL, envp, err, sizeof err), 0);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    CHECK_EQ(cfg.http_io_threads, cpus < 1 ? 1 : cpus > 64 ? 64 : cpus);
    cn_config_free(&cfg);
}

static void test_unknown_ini_key_is_named(void)
{
    char *path = write_ini("[http]\nport = 9001\nprot = 3\n");
    struct cn_config cfg;
    char err[256] = "";
    cn_config_defaults(&cfg);
    CHECK_EQ(cn_config_load(&cfg, path, NULL, err, sizeof err), -1);
    CHECK(strstr(err, "unknown key http.prot") != NULL);
    CHECK(strstr(err, "line 3") != NULL);
    cn_config_free(&cfg);
    unlink(path);
}

static void test_bad_values_are_named(void)
{
    struct cn_config cfg;
    char err[256] = "";
    char *cases[][2] = {
        {"CHAT_HTTP_PORT=70000", "http.port"},         {"CHAT_HTTP_PORT=80x", "http.port"},
        {"CHAT_NODE_DEV_MODE=maybe", "node.dev_mode"}, {"CHAT_LOG_LEVEL=loud", "log.level"},
        {"CHAT_HTTP_PROT=1", "CHAT_HTTP_PROT"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char env[128];
        snprintf(env, sizeof env, "CHAT_AUTH_JWT_SECRET=%s", secret);
        char *envp[] = {env, cases[i][0], NULL};
        cn_config_defaults(&cfg);
        CHECK_EQ(cn_config_load(&cfg, NULL, envp, err, sizeof err), -1);
        if (!strstr(err, cases[i][1]))
            fprintf(stderr, "case %s: error '%s' does not name %s\n", cases[i][0], err,
                    cases[i][1]);
        CHECK(strstr(err, cases[i][1]) != NULL);
        cn_config_free(&cfg);
    }
}

static void test_missing_file_is_an_error(void)
{
    struct cn_config cfg;
    char err[256] = "";
    cn_config_defaults(&cfg);
    CHECK_EQ(cn_config_load(&cfg, "/nonexistent/chat.ini", NULL, err, sizeof err), -1);
    CHECK(strstr(err, "/nonexistent/chat.ini") != NULL);
    cn_config_free(&cfg);
}

static void test_help_lists_every_key_with_its_variable(void)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cn_config_print_help(f);
    fclose(f);
    CHECK(strstr(buf, "http.port") != NULL);
    CHECK(strstr(buf, "CHAT_HTTP_PORT") != NULL);
    CHECK(strstr(buf, "CHAT_STARTUP_CONNECT_ATTEMPTS") != NULL);
    CHECK(strstr(buf, "default: 8080") != NULL);
    free(buf);
}

static void test_presence_keys_and_their_relation(void)
{
    struct cn_config cfg;
    char err[256] = "";
    char env[128];
    snprintf(env, sizeof env, "CHAT_AUTH_JWT_SECRET=%s", secret);
    char *ok[] = {env, "CHAT_PRESENCE_TTL_MS=1500", "CHAT_PRESENCE_REFRESH_MS=300",
                  "CHAT_PRESENCE_SWEEP_MS=500", NULL};
    cn_config_defaults(&cfg);
    CHECK(cfg.presence_enabled && cfg.receipts_enabled);
    CHECK_EQ(cfg.presence_ttl_ms, 30000);
    CHECK_EQ(cfg.presence_refresh_ms, 10000);
    CHECK_EQ(cfg.presence_sweep_ms, 15000);
    CHECK_EQ(cn_config_load(&cfg, NULL, ok, err, sizeof err), 0);
    CHECK_EQ(cfg.presence_ttl_ms, 1500);
    CHECK_EQ(cfg.presence_refresh_ms, 300);
    CHECK_EQ(cfg.presence_sweep_ms, 500);
    cn_config_free(&cfg);

    /* A refresh no faster than the TTL would let users expire between two refreshes. */
    char *bad[] = {env, "CHAT_PRESENCE_TTL_MS=1000", "CHAT_PRESENCE_REFRESH_MS=1000", NULL};
    cn_config_defaults(&cfg);
    CHECK_EQ(cn_config_load(&cfg, NULL, bad, err, sizeof err), -1);
    CHECK(strstr(err, "presence.refresh_ms") != NULL);
    cn_config_free(&cfg);
}

/* "[auth]\njwt_secret = X" of a file in the repository: X (static buffer). */
static const char *repo_secret(const char *rel)
{
    static char value[256];
    char path[1024], line[512];
    snprintf(path, sizeof path, "%s/%s", CN_SOURCE_DIR, rel);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    value[0] = '\0';
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "jwt_secret = %255s", value) == 1)
            break;
    if (f)
        fclose(f);
    return value;
}

/* The secrets ops/config/dev.ini and test.ini ship are public: refused outside dev
 * mode, with a message that names the key and never quotes the secret. */
static void test_shipped_secrets_need_dev_mode(void)
{
    const char *files[] = {"ops/config/dev.ini", "ops/config/test.ini"};
    for (int i = 0; i < 2; i++) {
        const char *shipped = repo_secret(files[i]);
        CHECK(strlen(shipped) >= 32);
        CHECK(cn_config_secret_is_shipped(shipped));
        char env[300], err[512] = "";
        snprintf(env, sizeof env, "CHAT_AUTH_JWT_SECRET=%s", shipped);
        char *envp[] = {env, NULL};
        struct cn_config cfg;
        cn_config_defaults(&cfg);
        CHECK_EQ(cn_config_load(&cfg, NULL, envp, err, sizeof err), -1);
        CHECK(strstr(err, "auth.jwt_secret") != NULL);
        CHECK(strstr(err, "dev_mode") != NULL);
        CHECK(strstr(err, shipped) == NULL);
        cn_config_free(&cfg);
    }
    CHECK(cn_config_secret_is_shipped(cn_config_dev_jwt_secret));
    CHECK(!cn_config_secret_is_shipped(secret));
}

static void test_short_secret_is_refused_without_quoting_it(void)
{
    char *envp[] = {"CHAT_AUTH_JWT_SECRET=twenty-bytes-secret!", NULL};
    struct cn_config cfg;
    char err[512] = "";
    cn_config_defaults(&cfg);
    CHECK_EQ(cn_config_load(&cfg, NULL, envp, err, sizeof err), -1);
    CHECK(strstr(err, "auth.jwt_secret") != NULL && strstr(err, "32 bytes") != NULL);
    CHECK(strstr(err, "twenty-bytes") == NULL);
    cn_config_free(&cfg);
}

/* A key given twice in one file is an error naming both lines, also across two blocks of
 * one section; continuation lines and comments are not keys. */
static void test_duplicate_key_names_both_lines(void)
{
    char text[512];
    snprintf(text, sizeof text,
             "; comment = 1\n[auth]\njwt_secret = %s\n[http]\nport = 9001\n"
             "allowed_origins = https://a.example\n  https://b.example\n"
             "# port = 2\n[auth]\ntoken_ttl_s = 600\n jwt_secret = x\n"
             "[auth]\njwt_secret = %s\n",
             secret, secret);
    char *path = write_ini(text);
    struct cn_config cfg;
    char err[512] = "", want[256];
    cn_config_defaults(&cfg);
    CHECK_EQ(cn_config_load(&cfg, path, NULL, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s:13: auth.jwt_secret given again (first at line 3)", path);
    CHECK_STR(err, want);
    CHECK(strstr(err, secret) == NULL);
    cn_config_free(&cfg);
    unlink(path);

    snprintf(text, sizeof text,
             "[http]\nport = 9001\n[redis]\nport = 6380\n[auth]\n"
             "jwt_secret = %s\n",
             secret);
    path = write_ini(text);
    cn_config_defaults(&cfg);
    CHECK_EQ(cn_config_load(&cfg, path, NULL, err, sizeof err), 0);
    CHECK_EQ(cfg.http_port, 9001);
    CHECK_EQ(cfg.redis_port, 6380);
    cn_config_free(&cfg);
    unlink(path);
}

CN_TEST_MAIN(test_token_names_and_backoff_are_checked, test_presence_keys_and_their_relation,
             test_defaults_are_valid_once_a_secret_is_set, test_empty_secret_is_refused,
             test_dev_secret_needs_dev_mode, test_ini_then_environment_wins,
             test_io_threads_zero_means_one_per_core, test_unknown_ini_key_is_named,
             test_bad_values_are_named, test_missing_file_is_an_error,
             test_help_lists_every_key_with_its_variable, test_shipped_secrets_need_dev_mode,
             test_short_secret_is_refused_without_quoting_it, test_duplicate_key_names_both_lines)
