/* Helpers shared by the remote backend's tests: temporary directories, a
 * test PKI, spawning asylo-remote-proxy directly, waiting for processes and
 * checking that none is left behind. Public API and libc only. */
#ifndef ASYLO_TESTS_REMOTE_REMOTE_UTIL_H
#define ASYLO_TESTS_REMOTE_REMOTE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "asylo/asylo.h"

#define UTIL_PATH_SIZE 4096
#define UTIL_MAX_CHILDREN 64

/* Exit code ctest reports as "skipped" (SKIP_RETURN_CODE). */
#define UTIL_SKIP_CODE 77

int64_t util_now_ms(void);
void util_sleep_ms(int64_t milliseconds);

/* A fresh private directory under $TMPDIR (or /tmp); util_rmtree removes it. */
bool util_make_temp_dir(const char *prefix, char *path, size_t size);
void util_rmtree(const char *path);
/* dir/name into out. */
void util_join(char *out, size_t size, const char *dir, const char *name);
bool util_write_file(const char *path, const char *content);
/* Whole file as a malloc'd NUL-terminated string (NULL on error). */
char *util_read_file(const char *path);
bool util_file_contains(const char *path, const char *needle);
bool util_exists(const char *path);

/* Runs MAKE_CERTS_SCRIPT in dir (ca, server with IP SANs 127.0.0.1 and ::1 and
 * DNS localhost, client, other_ca, rogue). */
bool util_make_certs(const char *script, const char *dir);

/* True when a socket can be bound to [::1]; otherwise *reason says why. */
bool util_ipv6_loopback_available(char *reason, size_t size);

/* Waits up to timeout_ms for our child pid; true when it was reaped. */
bool util_wait_child(pid_t pid, int64_t timeout_ms, int *wait_status);
/* True while /proc/PID exists (a zombie counts: it has not been reaped). */
bool util_process_exists(pid_t pid);
/* Polls until /proc/PID is gone; true when it went within timeout_ms. */
bool util_wait_gone(pid_t pid, int64_t timeout_ms);
/* Our children (zombies included), at most max; returns the count. */
int util_children(pid_t *pids, int max);
/* Same, logging any child found to stderr with its state. */
int util_children_report(const char *when);

/* Safety net after a failed test: SIGKILLs and reaps every child of ours
 * (by pid); returns how many there were. */
int util_kill_children(void);

/* A proxy spawned directly: stdout parsed for "listening on ADDR", stderr
 * (its log) kept in a file. */
typedef struct util_proxy {
    pid_t pid;
    char address[256];
    char log_path[UTIL_PATH_SIZE];
    int stdout_fd;
    bool reaped;
    int wait_status;
} util_proxy;

/* Spawns `path` with the NULL-terminated argv tail `arguments` in cwd (NULL:
 * ours), stderr to log_path. When expect_listening, waits up to timeout_ms for
 * the "listening on" line. */
/* The backend the proxies of this test run enclaves with: NULL (the default)
 * leaves the choice to the proxy (process where its sandbox works). Tests of
 * what an enclave does to the proxy's own process (crash, freeze, trace it)
 * set "sim": util_remote_setup and util_proxy_spawn of asylo-remote-proxy
 * then ask for it. */
extern const char *util_target_backend;

bool util_proxy_spawn(util_proxy *proxy, const char *path, const char *const *arguments,
                      const char *cwd, const char *log_path, bool expect_listening,
                      int64_t timeout_ms);
/* Waits for its exit (true when it exited within timeout_ms); the exit code
 * is in proxy->wait_status. */
bool util_proxy_wait(util_proxy *proxy, int64_t timeout_ms);
/* SIGKILLs and reaps it unless already reaped. */
void util_proxy_kill(util_proxy *proxy);

/* Local provisioning plus the matching client config, for the listen
 * address ("127.0.0.1:0", "[::1]:0", "unix:") and security: with ssl, mutual
 * TLS with the certificates util_make_certs made in certs_dir. */
typedef struct util_remote {
    char paths[5][UTIL_PATH_SIZE]; /* ca, server, server key, client, client key */
    asylo_remote_provision *provision;
    asylo_remote_config config;
} util_remote;

bool util_remote_setup(util_remote *remote, const char *proxy_path, const char *listen_address,
                       bool ssl, const char *certs_dir, asylo_status *status);
void util_remote_teardown(util_remote *remote);

/* "CODE (origin): message" of a status into a static per-thread buffer. */
const char *util_status_text(const asylo_status *status);

#endif
