/* Process-wide side effects of the library (issue 9, item 10):
 *
 *   env      GRPC_CLIENT_CHANNEL_BACKUP_POLL_INTERVAL_MS is already set when
 *            main starts (the library's constructor, before any thread), and
 *            the first remote load does not write the environment while a
 *            thread reads it.
 *   sigpipe  with SIGPIPE at its default disposition, a proxy that dies
 *            before taking its token, and a log line to a stderr pipe nobody
 *            reads, fail or are dropped: the program is not killed.
 *
 * The token case needs the proxy gone before the host writes: posix_spawn is
 * wrapped here (the library's call resolves to this definition) to wait for
 * the stand-in's exit before returning, as a host thread descheduled right
 * after the spawn would. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "asylo/asylo.h"
#include "remote_util.h"
#include "test_enclave_selectors.h"

#define BACKUP_POLL_VARIABLE "GRPC_CLIENT_CHANNEL_BACKUP_POLL_INTERVAL_MS"

extern char **environ;

static char dir[UTIL_PATH_SIZE];
static char poll_at_main[32];
static atomic_bool spawn_waits_for_exit;

typedef int (*spawn_function)(pid_t *, const char *, const posix_spawn_file_actions_t *,
                              const posix_spawnattr_t *, char *const[], char *const[]);

__attribute__((visibility("default"))) int posix_spawn(pid_t *pid, const char *path,
                                                       const posix_spawn_file_actions_t *actions,
                                                       const posix_spawnattr_t *attributes,
                                                       char *const argv[], char *const envp[]) {
    spawn_function real = (spawn_function)dlsym(RTLD_NEXT, "posix_spawn");
    if (real == NULL) {
        return ENOSYS;
    }
    int result = real(pid, path, actions, attributes, argv, envp);
    if (result == 0 && atomic_load(&spawn_waits_for_exit)) {
        /* Until the child has exited (its sockets are closed), at most 5 s;
         * WNOWAIT leaves the reaping to the library. */
        int64_t start = util_now_ms();
        siginfo_t info;
        do {
            memset(&info, 0, sizeof info);
            if (waitid(P_PID, (id_t)*pid, &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
                break;
            }
            if (info.si_pid == 0) {
                util_sleep_ms(5);
            }
        } while (info.si_pid == 0 && util_now_ms() - start < 5000);
    }
    return result;
}

static void test_env_set_before_main(void **state) {
    (void)state;
    printf("%s at main: '%s'\n", BACKUP_POLL_VARIABLE, poll_at_main);
    assert_string_equal(poll_at_main, "200");
}

static atomic_bool reading;
static atomic_long reads;

static void *read_environment(void *context) {
    (void)context;
    while (atomic_load(&reading)) {
        if (getenv("PATH") != NULL) {
            atomic_fetch_add(&reads, 1);
        }
    }
    return NULL;
}

/* The first remote load leaves environ as it was (setenv would have added a
 * variable or replaced a pointer), with a thread reading it meanwhile. */
static void test_first_load_leaves_environment(void **state) {
    (void)state;
    char **environ_before = environ;
    size_t count_before = 0;
    while (environ[count_before] != NULL) {
        count_before++;
    }
    char *entries_before[512];
    assert_true(count_before < 512);
    memcpy(entries_before, environ, count_before * sizeof *environ);
    atomic_store(&reading, true);
    pthread_t reader;
    assert_int_equal(pthread_create(&reader, NULL, read_environment, NULL), 0);

    util_remote remote;
    asylo_status status;
    assert_true(util_remote_setup(&remote, ASYLO_PROXY_PATH, "127.0.0.1:0", false, NULL, &status));
    asylo_manager *manager;
    assert_int_equal(asylo_manager_create(&manager, &status), ASYLO_OK);
    asylo_load_config config;
    asylo_load_config_init(&config);
    config.name = "environment";
    config.backend = "remote";
    config.enclave_path = TEST_ENCLAVE_PATH;
    config.backend_config = &remote.config;
    asylo_client *client = NULL;
    assert_int_equal(asylo_manager_load(manager, &config, &client, &status), ASYLO_OK);
    assert_int_equal(asylo_manager_destroy_client(manager, client, NULL, 0, &status), ASYLO_OK);
    asylo_manager_destroy(manager);
    util_remote_teardown(&remote);
    atomic_store(&reading, false);
    pthread_join(reader, NULL);
    printf("environment reads during the load: %ld\n", atomic_load(&reads));
    assert_ptr_equal(environ, environ_before);
    for (size_t i = 0; i <= count_before; i++) {
        assert_ptr_equal(environ[i], i < count_before ? entries_before[i] : NULL);
    }
}

static void test_dead_proxy_no_sigpipe(void **state) {
    (void)state;
    char script[UTIL_PATH_SIZE + 32];
    snprintf(script, sizeof script, "%s/dies-at-once.sh", dir);
    assert_true(util_write_file(script, "#!/bin/sh\nexit 0\n"));
    assert_int_equal(chmod(script, 0700), 0);
    asylo_local_provision_options local;
    asylo_local_provision_options_init(&local);
    local.proxy_path = script;
    asylo_remote_provision *provision;
    asylo_status status;
    assert_int_equal(asylo_local_provision_create(&local, &provision, &status), ASYLO_OK);
    asylo_remote_config remote;
    asylo_remote_config_init(&remote);
    remote.provision = provision;
    asylo_manager *manager;
    assert_int_equal(asylo_manager_create(&manager, &status), ASYLO_OK);
    asylo_load_config config;
    asylo_load_config_init(&config);
    config.name = "orphaned_token";
    config.backend = "remote";
    config.enclave_path = TEST_ENCLAVE_PATH;
    config.backend_config = &remote;
    atomic_store(&spawn_waits_for_exit, true);
    asylo_code code = asylo_manager_load(manager, &config, NULL, &status);
    atomic_store(&spawn_waits_for_exit, false);
    printf("proxy gone before its token: %s\n", util_status_text(&status));
    assert_int_equal(code, ASYLO_UNAVAILABLE);
    assert_non_null(strstr(status.message, "before taking its token"));
    asylo_manager_destroy(manager);
    asylo_remote_provision_destroy(provision);
    assert_int_equal(util_children_report("after the dead proxy"), 0);
}

/* An enclave log line (sim) goes to stderr; stderr is a pipe nobody reads. */
static void test_log_to_closed_pipe(void **state) {
    (void)state;
    int pipe_fds[2];
    assert_int_equal(pipe(pipe_fds), 0);
    close(pipe_fds[0]);
    int saved_stderr = dup(STDERR_FILENO);
    assert_true(saved_stderr >= 0);
    asylo_log_level level = asylo_log_get_level();
    asylo_log_set_level(ASYLO_LOG_INFO);
    asylo_manager *manager;
    asylo_status status;
    assert_int_equal(asylo_manager_create(&manager, &status), ASYLO_OK);
    asylo_load_config config;
    asylo_load_config_init(&config);
    config.name = "logger";
    config.backend = "sim";
    config.enclave_path = TEST_ENCLAVE_PATH;
    asylo_client *client = NULL;
    assert_int_equal(asylo_manager_load(manager, &config, &client, &status), ASYLO_OK);
    dup2(pipe_fds[1], STDERR_FILENO);
    asylo_buffer output = {0};
    asylo_code code =
        asylo_client_call(client, TEST_LOG, "nobody reads this", 17, &output, &status);
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    close(pipe_fds[1]);
    asylo_log_set_level(level);
    printf("log line to a pipe without reader: call %s, still alive\n", asylo_code_name(code));
    assert_int_equal(code, ASYLO_OK);
    assert_int_equal(asylo_manager_destroy_client(manager, client, NULL, 0, &status), ASYLO_OK);
    asylo_manager_destroy(manager);
    /* No SIGPIPE is left pending for the program either. */
    sigset_t pending;
    sigpending(&pending);
    assert_int_equal(sigismember(&pending, SIGPIPE), 0);
}

int main(int argc, char **argv) {
    const char *value = getenv(BACKUP_POLL_VARIABLE);
    snprintf(poll_at_main, sizeof poll_at_main, "%s", value != NULL ? value : "(unset)");
    if (argc != 2) {
        fprintf(stderr, "usage: %s env|sigpipe\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_DFL); /* as a program that never thought about it */
    asylo_log_set_level(ASYLO_LOG_ERROR);
    if (!util_make_temp_dir("asylo-side-effects", dir, sizeof dir)) {
        return 1;
    }
    const struct CMUnitTest env[] = {cmocka_unit_test(test_env_set_before_main),
                                     cmocka_unit_test(test_first_load_leaves_environment)};
    const struct CMUnitTest sigpipe[] = {cmocka_unit_test(test_dead_proxy_no_sigpipe),
                                         cmocka_unit_test(test_log_to_closed_pipe)};
    int failed;
    if (strcmp(argv[1], "env") == 0) {
        failed = cmocka_run_group_tests_name("env", env, NULL, NULL);
    } else if (strcmp(argv[1], "sigpipe") == 0) {
        failed = cmocka_run_group_tests_name("sigpipe", sigpipe, NULL, NULL);
    } else {
        fprintf(stderr, "unknown group '%s'\n", argv[1]);
        return 2;
    }
    int left = util_children_report("at exit");
    util_kill_children();
    util_rmtree(dir);
    return failed == 0 && left == 0 ? 0 : 1;
}
