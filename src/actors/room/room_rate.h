/* How busy a room is: the messages its room actor delivered in each of the last 60
 * seconds, for the admin's `rooms --sort rate`. One writer (the room actor, on its
 * worker) and any number of readers (the admin thread): relaxed atomics, since a
 * reader racing the start of a new second may miss a message or two, which a
 * statistic can afford.
 *
 * Memory: plain data inside the room actor's state; nothing to free. */
#ifndef CN_ACTORS_ROOM_ROOM_RATE_H
#define CN_ACTORS_ROOM_ROOM_RATE_H

#include <stdatomic.h>
#include <stdint.h>

#define CN_ROOM_RATE_WINDOW_S 60

struct cn_room_rate {
    atomic_int_fast64_t second[CN_ROOM_RATE_WINDOW_S]; /* the second a slot counts */
    atomic_uint_fast64_t count[CN_ROOM_RATE_WINDOW_S];
};

/* Counts n messages at now_s (seconds). The room actor only. */
void cn_room_rate_add(struct cn_room_rate *r, int64_t now_s, uint64_t n);

/* Messages counted in the CN_ROOM_RATE_WINDOW_S seconds up to now_s. Any thread. */
uint64_t cn_room_rate_sum(const struct cn_room_rate *r, int64_t now_s);

#endif
