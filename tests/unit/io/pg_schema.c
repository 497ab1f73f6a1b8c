/* Tests the pure part of src/io/pg_schema.c: which migration of this build a database
 * lacks, given the versions its schema_migrations records. */
#include "check.h"
#include "io/pg_schema.h"
#include "schema_version.h"

static void test_all_applied_in_any_order(void)
{
    int applied[CN_SCHEMA_MIGRATION_COUNT + 1];
    for (int i = 0; i < CN_SCHEMA_MIGRATION_COUNT; i++)
        applied[i] = cn_schema_migrations[CN_SCHEMA_MIGRATION_COUNT - 1 - i].version;
    CHECK_EQ(cn_schema_first_missing(applied, CN_SCHEMA_MIGRATION_COUNT), -1);
    /* One more than this build knows (a newer node migrated): still fine. */
    applied[CN_SCHEMA_MIGRATION_COUNT] = 9999;
    CHECK_EQ(cn_schema_first_missing(applied, CN_SCHEMA_MIGRATION_COUNT + 1), -1);
}

static void test_the_first_missing_one_is_named(void)
{
    int applied[CN_SCHEMA_MIGRATION_COUNT];
    for (int i = 0; i < CN_SCHEMA_MIGRATION_COUNT; i++)
        applied[i] = cn_schema_migrations[i].version;
    CHECK_EQ(cn_schema_first_missing(applied, CN_SCHEMA_MIGRATION_COUNT - 1),
             CN_SCHEMA_MIGRATION_COUNT - 1);
    CHECK_EQ(cn_schema_first_missing(applied + 1, CN_SCHEMA_MIGRATION_COUNT - 1), 0);
    CHECK_EQ(cn_schema_first_missing(NULL, 0), 0);
}

static void test_versions_ascend(void)
{
    CHECK(CN_SCHEMA_MIGRATION_COUNT >= 6);
    for (int i = 1; i < CN_SCHEMA_MIGRATION_COUNT; i++)
        CHECK(cn_schema_migrations[i].version > cn_schema_migrations[i - 1].version);
    CHECK_EQ(cn_schema_migrations[0].version, 1);
}

CN_TEST_MAIN(test_all_applied_in_any_order, test_the_first_missing_one_is_named,
             test_versions_ascend)
