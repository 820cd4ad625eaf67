/* Shared helpers of the sim integration tests: loading the test enclave,
 * checking a status (code, origin and a piece of the message) and small
 * encodings. Each helper fails the current cmocka test on a mismatch. */
#ifndef ASYLO_TESTS_SIM_TEST_SUPPORT_H
#define ASYLO_TESTS_SIM_TEST_SUPPORT_H

/* cmocka needs these before its header. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "asylo/asylo.h"
#include "test_enclave_selectors.h"

/* Any origin is fine. */
#define ANY_ORIGIN ((asylo_origin)-1)

/* A load config for the test enclave on sim (optionally another image). */
void sim_config(asylo_load_config *config, const char *name);
/* Loads the test enclave; fails the test unless that works. */
asylo_client *sim_load(asylo_manager *manager, const char *name);
/* Same, with an enclave environment of `count` NAME=VALUE pairs. */
asylo_client *sim_load_env(asylo_manager *manager, const char *name,
                           const asylo_environment_variable *environment, size_t count);
asylo_manager *sim_manager(void);

/* Checks got == code, status->code == code, the origin (unless ANY_ORIGIN)
 * and that the message holds `needle`; prints one table row
 * "| what | CODE | origin | message |" so the behaviour is visible in logs. */
void expect_status(const char *what, asylo_code got, const asylo_status *status, asylo_code code,
                   asylo_origin origin, const char *needle);
void expect_ok(const char *what, asylo_code got, const asylo_status *status);

/* Calls `selector` with a u32 input. */
asylo_code call_u32(asylo_client *client, uint32_t selector, uint32_t value, asylo_buffer *output,
                    asylo_status *status);
uint32_t buffer_u32(const asylo_buffer *buffer);
uint64_t buffer_u64(const asylo_buffer *buffer);

/* Open descriptors of this process (from /proc/self/fd). */
int count_open_fds(void);

/* A fresh directory under $TMPDIR or /tmp, removed (with its files) by
 * remove_temp_dir. */
void make_temp_dir(char *path, size_t size);
void remove_temp_dir(const char *path);

#endif
