/* What local provisioning does to keep the proxy (and the enclave in it) away
 * from its host (issue 9, item 33): the proxy is not dumpable (no ptrace
 * attach, no /proc/PID/mem for processes of the same user; the kernel then
 * hands the files in its /proc/PID to root) and runs in its own session and process
 * group. Run as root, the test drops to an unprivileged user first: root may
 * read any process, so only a plain user shows the difference. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "asylo/asylo.h"
#include "remote_util.h"

#define UNPRIVILEGED_ID 65534 /* nobody */

/* Fields 5 and 6 of /proc/PID/stat: process group and session. */
static bool group_and_session(pid_t pid, long *group, long *session) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    char *text = util_read_file(path);
    const char *after_name = text != NULL ? strrchr(text, ')') : NULL;
    bool parsed =
        after_name != NULL && sscanf(after_name + 1, " %*c %*d %ld %ld", group, session) == 2;
    free(text);
    return parsed;
}

static int check_proxy(void) {
    asylo_log_set_level(ASYLO_LOG_ERROR);
    util_remote remote;
    asylo_status status;
    asylo_manager *manager = NULL;
    asylo_client *client = NULL;
    int failures = 0;
    /* The proxy needs a state directory of its own user for its platform
     * key (remote attestation); nobody's home is not writable. */
    char state_dir[UTIL_PATH_SIZE] = "";
    if (getenv("ASYLO_STATE_DIR") == NULL) {
        if (!util_make_temp_dir("asylo-isolation-state", state_dir, sizeof state_dir)) {
            fprintf(stderr, "FAIL: cannot make a state directory\n");
            return 1;
        }
        setenv("ASYLO_STATE_DIR", state_dir, 1);
    }
    if (!util_remote_setup(&remote, ASYLO_PROXY_PATH, "127.0.0.1:0", false, NULL, &status) ||
        asylo_manager_create(&manager, &status) != ASYLO_OK) {
        fprintf(stderr, "FAIL: setup: %s\n", util_status_text(&status));
        return 1;
    }
    asylo_load_config config;
    asylo_load_config_init(&config);
    config.name = "isolated";
    config.backend = "remote";
    config.enclave_path = TEST_ENCLAVE_PATH;
    config.backend_config = &remote.config;
    if (asylo_manager_load(manager, &config, &client, &status) != ASYLO_OK) {
        fprintf(stderr, "FAIL: load: %s\n", util_status_text(&status));
        return 1;
    }
    pid_t proxy;
    if (util_children(&proxy, 1) != 1) {
        fprintf(stderr, "FAIL: no proxy child\n");
        return 1;
    }
    char path[64];
    struct stat info;
    snprintf(path, sizeof path, "/proc/%d/environ", (int)proxy);
    if (stat(path, &info) != 0 || info.st_uid != 0) {
        printf("FAIL: %s belongs to uid %d, not root: the proxy is dumpable\n", path,
               (int)info.st_uid);
        failures++;
    }
    snprintf(path, sizeof path, "/proc/%d/mem", (int)proxy);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        printf("FAIL: the host (uid %d) can open %s\n", (int)getuid(), path);
        close(fd);
        failures++;
    } else {
        printf("the host (uid %d) cannot open %s: %s\n", (int)getuid(), path, strerror(errno));
    }
    long group = 0, session = 0;
    if (!group_and_session(proxy, &group, &session) || group != proxy || session != proxy ||
        session == getsid(0) || group == getpgrp()) {
        printf("FAIL: proxy %d is in process group %ld, session %ld (host: %d, %d)\n", (int)proxy,
               group, session, (int)getpgrp(), (int)getsid(0));
        failures++;
    } else {
        printf("proxy %d leads its own session and process group\n", (int)proxy);
    }
    if (asylo_manager_destroy_client(manager, client, NULL, 0, &status) != ASYLO_OK) {
        fprintf(stderr, "FAIL: destroy: %s\n", util_status_text(&status));
        failures++;
    }
    asylo_manager_destroy(manager);
    util_remote_teardown(&remote);
    if (state_dir[0] != '\0') {
        util_rmtree(state_dir);
    }
    return failures == 0 ? 0 : 1;
}

int main(void) {
    if (geteuid() != 0) {
        return check_proxy();
    }
    /* Root: the check runs in a child that became an unprivileged user. */
    pid_t child = fork();
    if (child == 0) {
        if (setgroups(0, NULL) != 0 || setgid(UNPRIVILEGED_ID) != 0 ||
            setuid(UNPRIVILEGED_ID) != 0) {
            printf("SKIP: cannot become uid %d: %s\n", UNPRIVILEGED_ID, strerror(errno));
            fflush(NULL);
            _exit(UTIL_SKIP_CODE);
        }
        int result = check_proxy();
        fflush(NULL);
        _exit(result);
    }
    int wait_status = 0;
    if (child < 0 || !util_wait_child(child, 50000, &wait_status)) {
        fprintf(stderr, "FAIL: the unprivileged check did not finish\n");
        if (child > 0) {
            kill(child, SIGKILL);
            waitpid(child, NULL, 0);
        }
        return 1;
    }
    return WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 1;
}
