/* The raw baseline of the process backend: a shared-memory ping-pong between
 * this process and a peer process (asylo_bench --pingpong-peer), one pair of
 * mailboxes per concurrent caller. A round trip copies the bytes in, the peer
 * copies them out and back, and the caller copies the reply out: the copies
 * a call with input and output of that size cannot avoid. Waiting spins like
 * the process backend's channel (src/backends/process/shm_channel.c, 5 us)
 * and then sleeps on a shared futex, or (spin = false) sleeps at once. */
#ifndef ASYLO_BENCH_PINGPONG_H
#define ASYLO_BENCH_PINGPONG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench_util.h"

typedef struct pingpong {
    int fd;
    uint8_t *region;
    size_t region_size;
    size_t stride; /* bytes per mailbox */
    int pairs;
    size_t capacity;
    bool spin;
    child peer;
} pingpong;

/* Starts the peer with `pairs` serving threads and mailboxes of `capacity`
 * payload bytes; false (with a message on stderr) on failure. */
bool pingpong_start(pingpong *pp, const char *self, int pairs, size_t capacity, bool spin);
/* One round trip of `size` bytes on pair `pair`; the reply lands in `reply`. */
void pingpong_round_trip(pingpong *pp, int pair, const uint8_t *input, size_t size, uint8_t *reply);
void pingpong_stop(pingpong *pp);

/* The peer's main: argv = {self, "--pingpong-peer", fd, pairs, capacity, spin}. */
int pingpong_peer_main(int argc, char **argv);

#endif
