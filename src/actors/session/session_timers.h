/* A session's clocks: the CONNECT deadline, heart-beats both ways (STOMP 1.2 with
 * the node's floor) and the token's expiry. Each timer is a message the
 * runtime delivers to the session (CN__SESSION_TIMER_*); its id is kept in the
 * state so that cn__session_end can cancel it. Uses session_output.c only.
 *
 * Every function runs on the session's worker and cannot fail. */
#ifndef CN_ACTORS_SESSION_SESSION_TIMERS_H
#define CN_ACTORS_SESSION_SESSION_TIMERS_H

#include <stdint.h>

#include "actors/session/session_state.h"

/* Arms a timer that sends the session a bare message of `type` in `ms`, its id
 * into *id. */
void cn__session_arm(struct cn__session *s, uint64_t *id, uint32_t type, uint64_t ms);

/* CN__SESSION_TIMER_CONNECT: no CONNECT in time is ERROR then close. */
void cn__session_on_connect_timeout(struct cn__session *s);

/* Starts the heart-beats of a session that just answered CONNECTED, from the
 * client's heart-beat header (cx, cy) against the node's interval. */
void cn__session_heartbeat_start(struct cn__session *s, uint32_t cx, uint32_t cy);

/* CN__SESSION_TIMER_HB_IN: a client silent for twice its interval is closed.
 * CN__SESSION_TIMER_HB_OUT: a heart-beat when nothing else went out meanwhile. */
void cn__session_on_hb_in(struct cn__session *s);
void cn__session_on_hb_out(struct cn__session *s);

/* (Re)arms the expiry timer at s->exp_s (wall time). */
void cn__session_arm_expiry(struct cn__session *s);

/* CN__SESSION_TIMER_EXPIRY: ERROR token-expired then close, once exp has passed. */
void cn__session_on_expiry(struct cn__session *s);

#endif
