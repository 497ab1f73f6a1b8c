/* Tests src/io/config.c's secrets from files (*_file keys), the Redis credentials and
 * the [kafka.client] pass-through section. */
#include "check.h"
#include "io/config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *secret = "0123456789abcdef0123456789abcdef-test";

static char *write_file(const char *suffix, const char *text)
{
    char *path = malloc(96);
    snprintf(path, 96, "/tmp/cn-config-secrets-%d%s", (int)getpid(), suffix);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static int load(struct cn_config *cfg, const char *ini, char **envp, char *err, size_t errlen)
{
    cn_config_defaults(cfg);
    return cn_config_load(cfg, ini, envp, err, errlen);
}

static void test_secret_files_are_read_without_their_newline(void)
{
    char text[128];
    snprintf(text, sizeof text, "%s\n", secret);
    char *jwt = write_file(".jwt", text);
    char *pw = write_file(".pw", "s3cret-redis\r\n");
    char *url = write_file(".url", "postgresql://chat:pw@db:5432/chat?sslmode=verify-full\n");
    char e1[160], e2[160], e3[160];
    snprintf(e1, sizeof e1, "CHAT_AUTH_JWT_SECRET_FILE=%s", jwt);
    snprintf(e2, sizeof e2, "CHAT_REDIS_PASSWORD_FILE=%s", pw);
    snprintf(e3, sizeof e3, "CHAT_POSTGRES_URL_FILE=%s", url);
    char *envp[] = {e1, e2, e3, "CHAT_REDIS_USERNAME=chat", NULL};
    struct cn_config cfg;
    char err[256] = "";
    CHECK_EQ(load(&cfg, NULL, envp, err, sizeof err), 0);
    CHECK_STR(cfg.auth_jwt_secret, secret);
    CHECK_STR(cfg.redis_password, "s3cret-redis");
    CHECK_STR(cfg.redis_username, "chat");
    CHECK_STR(cfg.postgres_url, "postgresql://chat:pw@db:5432/chat?sslmode=verify-full");
    cn_config_free(&cfg);
    unlink(jwt), unlink(pw), unlink(url);
    free(jwt), free(pw), free(url);
}

static void test_value_and_its_file_together_are_refused(void)
{
    char *pw = write_file(".pw", "from-file\n");
    char s[128], f[160];
    snprintf(s, sizeof s, "CHAT_AUTH_JWT_SECRET=%s", secret);
    snprintf(f, sizeof f, "CHAT_REDIS_PASSWORD_FILE=%s", pw);
    char *envp[] = {s, f, "CHAT_REDIS_PASSWORD=from-env", NULL};
    struct cn_config cfg;
    char err[256] = "";
    CHECK_EQ(load(&cfg, NULL, envp, err, sizeof err), -1);
    CHECK(strstr(err, "redis.password_file") != NULL);
    CHECK(strstr(err, "redis.password") != NULL);
    CHECK(strstr(err, "from-env") == NULL && strstr(err, "from-file") == NULL);
    cn_config_free(&cfg);

    /* postgres.url has a default: only a url given by the operator collides. */
    char u[160];
    char *url = write_file(".url", "postgresql://a:b@c/d\n");
    snprintf(u, sizeof u, "CHAT_POSTGRES_URL_FILE=%s", url);
    char *one[] = {s, u, NULL};
    CHECK_EQ(load(&cfg, NULL, one, err, sizeof err), 0);
    CHECK_STR(cfg.postgres_url, "postgresql://a:b@c/d");
    cn_config_free(&cfg);
    char *both[] = {s, u, "CHAT_POSTGRES_URL=postgresql://x@y/z", NULL};
    CHECK_EQ(load(&cfg, NULL, both, err, sizeof err), -1);
    CHECK(strstr(err, "postgres.url_file") != NULL);
    cn_config_free(&cfg);
    unlink(pw), unlink(url);
    free(pw), free(url);
}

static void test_unreadable_secret_file_is_named(void)
{
    char s[128];
    snprintf(s, sizeof s, "CHAT_AUTH_JWT_SECRET=%s", secret);
    char *envp[] = {s, "CHAT_REDIS_PASSWORD_FILE=/nonexistent/cn-redis-password", NULL};
    struct cn_config cfg;
    char err[256] = "";
    CHECK_EQ(load(&cfg, NULL, envp, err, sizeof err), -1);
    CHECK(strstr(err, "redis.password_file") != NULL);
    CHECK(strstr(err, "/nonexistent/cn-redis-password") != NULL);
    cn_config_free(&cfg);
}

static void test_kafka_client_section_keeps_every_property_in_order(void)
{
    char text[512];
    snprintf(text, sizeof text,
             "[auth]\njwt_secret = %s\n[kafka.client]\nsecurity.protocol = SASL_SSL\n"
             "sasl.mechanisms = SCRAM-SHA-512\nsasl.username = chat\n[redis]\nport = 6380\n",
             secret);
    char *ini = write_file(".ini", text);
    struct cn_config cfg;
    char err[256] = "";
    CHECK_EQ(load(&cfg, ini, NULL, err, sizeof err), 0);
    CHECK_EQ(cfg.kafka_client_count, 3u);
    CHECK_STR(cfg.kafka_client[0], "security.protocol");
    CHECK_STR(cfg.kafka_client[1], "SASL_SSL");
    CHECK_STR(cfg.kafka_client[4], "sasl.username");
    CHECK_STR(cfg.kafka_client[5], "chat");
    CHECK_EQ(cfg.redis_port, 6380);
    cn_config_free(&cfg);
    CHECK(cfg.kafka_client == NULL && cfg.kafka_client_count == 0);
    unlink(ini);
    free(ini);
}

CN_TEST_MAIN(test_secret_files_are_read_without_their_newline,
             test_value_and_its_file_together_are_refused, test_unreadable_secret_file_is_named,
             test_kafka_client_section_keeps_every_property_in_order)
