/* Tests the pure part of src/actors/pipeline/read_receipts.c: the JSON body of a room's read event.
 */
#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "actors/pipeline/read_receipts.h"

static void test_body_is_the_documented_json(void)
{
    char buf[CN_READ_EVENT_BODY_MAX];
    int n = cn_read_event_body(buf, sizeof buf, 42, 7, 501);
    CHECK_STR(buf, "{\"type\":\"READ\",\"roomId\":42,\"userId\":7,\"messageId\":501}");
    CHECK_EQ(n, (int)strlen(buf));
}

static void test_largest_ids_fit_and_a_small_buffer_is_refused(void)
{
    char buf[CN_READ_EVENT_BODY_MAX];
    int n = cn_read_event_body(buf, sizeof buf, INT64_MAX, INT64_MAX, INT64_MAX);
    CHECK(n > 0);
    json_error_t e;
    json_t *v = json_loads(buf, 0, &e);
    CHECK(v != NULL);
    CHECK(json_integer_value(json_object_get(v, "messageId")) == INT64_MAX);
    json_decref(v);
    char small[16];
    CHECK_EQ(cn_read_event_body(small, sizeof small, 1, 2, 3), -1);
}

CN_TEST_MAIN(test_body_is_the_documented_json, test_largest_ids_fit_and_a_small_buffer_is_refused)
