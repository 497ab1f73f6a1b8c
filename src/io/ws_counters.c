/* Label texts of the WebSocket counters; see ws_counters.h. */
#include "io/ws_counters.h"

static const char *const close_names[CN_WS_CLOSE__COUNT] = {
    [CN_WS_CLOSE_PEER] = "peer_closed",
    [CN_WS_CLOSE_DISCONNECT] = "disconnect",
    [CN_WS_CLOSE_PROTOCOL] = "protocol_error",
    [CN_WS_CLOSE_AUTH] = "auth_failed",
    [CN_WS_CLOSE_APP_ERROR] = "app_error",
    [CN_WS_CLOSE_CONNECT_TIMEOUT] = "connect_timeout",
    [CN_WS_CLOSE_HEARTBEAT] = "heartbeat_timeout",
    [CN_WS_CLOSE_SLOW_CONSUMER] = "slow_consumer",
    [CN_WS_CLOSE_SHUTDOWN] = "shutdown",
    [CN_WS_CLOSE_KICKED] = "kicked",
    [CN_WS_CLOSE_DRAIN] = "drain",
    [CN_WS_CLOSE_TOKEN_EXPIRED] = "token_expired",
    [CN_WS_CLOSE_USER_LIMIT] = "user_limit",
    [CN_WS_CLOSE_TOO_LARGE] = "frame_too_large",
    [CN_WS_CLOSE_FLOOD] = "flooding",
    [CN_WS_CLOSE_INTERNAL] = "internal_error",
};

struct close_wire {
    int code;
    const char *text;
};

static const struct close_wire close_wire[CN_WS_CLOSE__COUNT] = {
    [CN_WS_CLOSE_PEER] = {1000, "bye"},
    [CN_WS_CLOSE_DISCONNECT] = {1000, "disconnected"},
    [CN_WS_CLOSE_PROTOCOL] = {1002, "STOMP protocol error"},
    [CN_WS_CLOSE_AUTH] = {1008, "authentication failed"},
    [CN_WS_CLOSE_APP_ERROR] = {1008, "request refused"},
    [CN_WS_CLOSE_CONNECT_TIMEOUT] = {1002, "no CONNECT in time"},
    [CN_WS_CLOSE_HEARTBEAT] = {1002, "heart-beat timeout"},
    [CN_WS_CLOSE_SLOW_CONSUMER] = {1013, "slow consumer"},
    [CN_WS_CLOSE_SHUTDOWN] = {1001, "server shutting down"},
    [CN_WS_CLOSE_KICKED] = {1008, "closed by the operator"},
    [CN_WS_CLOSE_DRAIN] = {1012, "node draining; reconnect"},
    [CN_WS_CLOSE_TOKEN_EXPIRED] = {1008, "token expired"},
    [CN_WS_CLOSE_USER_LIMIT] = {1013, "try again later"},
    [CN_WS_CLOSE_TOO_LARGE] = {1009, "frame too large"},
    [CN_WS_CLOSE_FLOOD] = {1013, "flooding; try again later"},
    [CN_WS_CLOSE_INTERNAL] = {1011, "internal error"},
};

int cn_ws_close_code(int reason)
{
    return reason >= 0 && reason < CN_WS_CLOSE__COUNT ? close_wire[reason].code : 1011;
}

const char *cn_ws_close_text(int reason)
{
    return reason >= 0 && reason < CN_WS_CLOSE__COUNT ? close_wire[reason].text : "internal error";
}

static const char *const connect_names[CN_WS_CONNECT__COUNT] = {
    [CN_WS_CONNECT_OK] = "ok",
    [CN_WS_CONNECT_NO_TOKEN] = "no_token",
    [CN_WS_CONNECT_BAD_TOKEN] = "bad_token",
    [CN_WS_CONNECT_EXPIRED] = "expired_token",
    [CN_WS_CONNECT_BAD_VERSION] = "bad_version",
    [CN_WS_CONNECT_BAD_HEADER] = "bad_header",
};

static const char *const refresh_names[CN_WS_REFRESH__COUNT] = {
    [CN_WS_REFRESH_OK] = "ok",
    [CN_WS_REFRESH_INVALID] = "invalid",
    [CN_WS_REFRESH_WRONG_USER] = "wrong_user",
};

static const char *const refusal_names[CN_WS_REFUSED__COUNT] = {
    [CN_WS_REFUSED_NODE_LIMIT] = "node_limit",
    [CN_WS_REFUSED_ACCEPT_RATE] = "accept_rate",
    [CN_WS_REFUSED_USER_LIMIT] = "user_limit",
};

const char *cn_ws_close_reason_name(int reason)
{
    return reason >= 0 && reason < CN_WS_CLOSE__COUNT ? close_names[reason] : "?";
}

const char *cn_ws_connect_result_name(int result)
{
    return result >= 0 && result < CN_WS_CONNECT__COUNT ? connect_names[result] : "?";
}

const char *cn_ws_refresh_result_name(int result)
{
    return result >= 0 && result < CN_WS_REFRESH__COUNT ? refresh_names[result] : "?";
}

const char *cn_ws_refusal_name(int refusal)
{
    return refusal >= 0 && refusal < CN_WS_REFUSED__COUNT ? refusal_names[refusal] : "?";
}
