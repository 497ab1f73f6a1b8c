/* Tests src/proto/stomp_negotiate.c: heart-beat parsing and the spec's rule, version
 * choice. */
#include "check.h"
#include "proto/stomp_error.h"
#include "proto/stomp_negotiate.h"

static void test_heartbeat_parse(void)
{
    uint32_t x = 9, y = 9;
    CHECK_EQ(cn_stomp_heartbeat_parse(NULL, &x, &y), 0);
    CHECK(x == 0 && y == 0);
    CHECK_EQ(cn_stomp_heartbeat_parse("10000,5000", &x, &y), 0);
    CHECK(x == 10000 && y == 5000);
    CHECK_EQ(cn_stomp_heartbeat_parse("4294967295,0", &x, &y), 0);
    CHECK_EQ(x, 4294967295u);
    static const char *bad[] = {"",    "1",    "1,",    ",1",           "1, 2",
                                "a,b", "-1,0", "1,2,3", "4294967296,0", "99999999999,1",
                                " 1,2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        x = y = 7;
        CHECK_EQ(cn_stomp_heartbeat_parse(bad[i], &x, &y), CN_STOMP_E_BAD_HEARTBEAT);
        CHECK(x == 7 && y == 7);
    }
}

static void test_heartbeat_negotiate(void)
{
    uint32_t cs, sc;
    /* client can send every 1000, wants every 5000; server can send 10000, wants 2000 */
    cn_stomp_heartbeat_negotiate(1000, 5000, 10000, 2000, &cs, &sc);
    CHECK_EQ(cs, 2000);
    CHECK_EQ(sc, 10000);
    cn_stomp_heartbeat_negotiate(0, 5000, 10000, 2000, &cs, &sc);
    CHECK_EQ(cs, 0);
    CHECK_EQ(sc, 10000);
    cn_stomp_heartbeat_negotiate(1000, 0, 10000, 2000, &cs, &sc);
    CHECK_EQ(sc, 0);
    cn_stomp_heartbeat_negotiate(1000, 1000, 0, 0, &cs, &sc);
    CHECK(cs == 0 && sc == 0);
}

static void test_version_pick(void)
{
    CHECK_STR(cn_stomp_version_pick("1.2", 12), "1.2");
    CHECK_STR(cn_stomp_version_pick("1.0,1.1,1.2", 12), "1.2");
    CHECK_STR(cn_stomp_version_pick("1.2,1.1,1.0", 12), "1.2");
    CHECK_STR(cn_stomp_version_pick("1.0,1.1,2.0", 12), "1.1");
    CHECK_STR(cn_stomp_version_pick("1.1", 12), "1.1");
    CHECK_STR(cn_stomp_version_pick("1.0", 12), "1.0");
    /* the subprotocol caps the version */
    CHECK_STR(cn_stomp_version_pick("1.0,1.1,1.2", 11), "1.1");
    CHECK_STR(cn_stomp_version_pick("1.0,1.1,1.2", 10), "1.0");
    CHECK(cn_stomp_version_pick("1.2", 11) == NULL);
    /* no accept-version: a 1.0 client */
    CHECK_STR(cn_stomp_version_pick(NULL, 12), "1.0");
    CHECK(cn_stomp_version_pick("2.1,1.21", 12) == NULL);
    CHECK(cn_stomp_version_pick("", 12) == NULL);
}

static void test_subprotocol_pick(void)
{
    const char *webstomp = "v10.stomp, v11.stomp, v12.stomp";
    CHECK_EQ(cn_stomp_subprotocol_pick(webstomp, strlen(webstomp)), 12);
    CHECK_EQ(cn_stomp_subprotocol_pick("v12.stomp,v10.stomp", 19), 12);
    CHECK_EQ(cn_stomp_subprotocol_pick("v11.stomp, v10.stomp", 20), 11);
    CHECK_EQ(cn_stomp_subprotocol_pick("mqtt, v10.stomp", 15), 10);
    CHECK_EQ(cn_stomp_subprotocol_pick("mqtt, V12.STOMP", 15), 0);
    CHECK_EQ(cn_stomp_subprotocol_pick("v12.stompx", 10), 0);
    CHECK_EQ(cn_stomp_subprotocol_pick("", 0), 0);
    /* len bounds the scan */
    CHECK_EQ(cn_stomp_subprotocol_pick("v11.stomp,v12.stomp", 9), 11);
    CHECK_STR(cn_stomp_subprotocol_name(10), "v10.stomp");
    CHECK(cn_stomp_subprotocol_name(13) == NULL);
}

CN_TEST_MAIN(test_heartbeat_parse, test_heartbeat_negotiate, test_version_pick,
             test_subprotocol_pick)
