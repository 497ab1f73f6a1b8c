/* The node's room registry: room id -> room actor, plus the session hooks
 * (cn_session_room_hooks) that feed it.
 *
 * The hooks run on the workers of many sessions at once, so the map is guarded
 * by a mutex rather than owned by an actor. The critical section is a hash
 * lookup, maybe a spawn, and one lock-free mailbox push, so the lock is held
 * for well under a microsecond and never across I/O. A registry actor would add
 * a hop to every SUBSCRIBE and leave the "last subscriber left while a new one
 * arrives" race to a protocol between two actors; under the lock it is simple:
 * the entry counts its subscriptions, every JOIN/LEAVE/STOP is pushed under the
 * lock (so the room's mailbox sees them in that order), and the LEAVE that
 * brings the count to zero is followed by STOP and removes the entry. A later
 * SUBSCRIBE spawns a fresh actor; the old one may still be unsubscribing from
 * Redis for a moment, which is harmless (channels are per actor). */
#ifndef CN_ACTORS_ROOM_ROOM_REGISTRY_H
#define CN_ACTORS_ROOM_ROOM_REGISTRY_H

#include "actors/runtime/runtime.h"
#include "actors/room/room_actor.h"
#include "actors/session/session_seams.h"

struct cn_room_registry;

/* Creates an empty registry. `deps` is copied. Cannot fail. */
struct cn_room_registry *cn_room_registry_new(cn_runtime *rt, const struct cn_room_deps *deps);

/* The hooks to put into struct cn_session_deps; valid while the registry
 * lives. Cannot fail. */
const struct cn_session_room_hooks *cn_room_registry_hooks(struct cn_room_registry *r);

/* Rooms with an actor right now. Any thread; cannot fail. */
size_t cn_room_registry_count(struct cn_room_registry *r);

/* The messages each room with an actor delivered in the last CN_ROOM_RATE_WINDOW_S
 * seconds up to now_s. Caller frees *out with free(). Any thread. */
struct cn_room_rate_info {
    int64_t room_id;
    uint64_t messages; /* in the window */
};
size_t cn_room_registry_rates(struct cn_room_registry *r, int64_t now_s,
                              struct cn_room_rate_info **out);

/* Frees the registry and drops its actor references. Call after the sessions
 * are closed (no hook may run any more); the actors themselves are stopped by
 * their last LEAVE or by the runtime's shutdown. NULL is a no-op. */
void cn_room_registry_free(struct cn_room_registry *r);

#endif
