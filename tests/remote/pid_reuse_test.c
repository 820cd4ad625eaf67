/* Local provisioning never signals a process that reused its proxy's pid
 * (issue 9, item 11). Runs as the first process of a fresh pid namespace
 * (ctest starts it under `unshare --pid --fork --mount-proc`), where
 * /proc/sys/kernel/ns_last_pid makes the reuse certain:
 *
 *   1. the provision spawns a proxy (pid P);
 *   2. the application reaps it behind the provision's back (kill -9 and
 *      waitpid, as a SIGCHLD handler would);
 *   3. a "victim" process is made with pid P;
 *   4. finalize must leave the victim alone. Without the pidfd held since
 *      the spawn, finalize waits for P (the victim), then SIGTERMs it. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "asylo/asylo.h"
#include "remote_util.h"

static bool make_next_pid(pid_t pid) {
    FILE *file = fopen("/proc/sys/kernel/ns_last_pid", "we");
    if (file == NULL) {
        return false;
    }
    bool written = fprintf(file, "%d", (int)pid - 1) > 0;
    return fclose(file) == 0 && written;
}

int main(void) {
    asylo_log_set_level(ASYLO_LOG_ERROR);
    asylo_local_provision_options local;
    asylo_local_provision_options_init(&local);
    local.proxy_path = ASYLO_PROXY_PATH;
    asylo_remote_provision *provision;
    asylo_status status;
    if (asylo_local_provision_create(&local, &provision, &status) != ASYLO_OK) {
        fprintf(stderr, "FAIL: %s\n", util_status_text(&status));
        return 1;
    }
    asylo_remote_endpoint endpoint;
    if (provision->provision(provision, TEST_ENCLAVE_PATH, "sim", 10000, &endpoint, &status) !=
        ASYLO_OK) {
        fprintf(stderr, "FAIL: provision: %s\n", util_status_text(&status));
        return 1;
    }
    pid_t proxy;
    if (util_children(&proxy, 1) != 1) {
        fprintf(stderr, "FAIL: no proxy child\n");
        return 1;
    }
    kill(proxy, SIGKILL);
    waitpid(proxy, NULL, 0);
    if (!make_next_pid(proxy)) {
        printf("SKIP: cannot write /proc/sys/kernel/ns_last_pid: %s\n", strerror(errno));
        asylo_remote_provision_destroy(provision);
        return UTIL_SKIP_CODE;
    }
    pid_t victim = fork();
    if (victim == 0) {
        for (;;) {
            pause();
        }
    }
    if (victim != proxy) {
        printf("SKIP: the victim got pid %d, not the proxy's %d\n", (int)victim, (int)proxy);
        kill(victim, SIGKILL);
        waitpid(victim, NULL, 0);
        asylo_remote_provision_destroy(provision);
        return UTIL_SKIP_CODE;
    }
    int64_t start = util_now_ms();
    asylo_code code = provision->finalize(provision, &status);
    printf("finalize after the proxy's pid %d was reused: %s (%lld ms)\n", (int)proxy,
           code == ASYLO_OK ? "OK" : util_status_text(&status), (long long)(util_now_ms() - start));
    int wait_status = 0;
    pid_t waited = waitpid(victim, &wait_status, WNOHANG);
    bool alive = waited == 0;
    if (waited < 0) {
        printf("FAIL: the process that reused pid %d was reaped by the provision\n", (int)victim);
    } else if (!alive) {
        printf("FAIL: the process that reused pid %d was ended (signal %d)\n", (int)victim,
               WIFSIGNALED(wait_status) ? WTERMSIG(wait_status) : 0);
    } else {
        kill(victim, SIGKILL);
        waitpid(victim, NULL, 0);
    }
    asylo_remote_provision_destroy(provision);
    return alive ? 0 : 1;
}
