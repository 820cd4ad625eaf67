/* Starting the sandboxed runner (spawn.h).
 *
 * The child of clone3 runs in a copy of a possibly multi-threaded host (gRPC
 * starts threads), so until execve it makes only raw system calls: no
 * malloc, no stdio, and no glibc setuid (it would signal threads that do not
 * exist in the child). */
#include "backends/process/spawn.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "backends/process/shm_channel.h"
#include "backends/sim/image_check.h"

asylo_code asylo__process_image_memfd(const char *path, int *memfd, uint8_t measurement[32],
                                      asylo_status *status) {
    *memfd = -1;
    int image_fd = -1;
    asylo_code code = asylo__image_open(path, &image_fd, status);
    if (code != ASYLO_OK) {
        return code;
    }
    int copy = memfd_create("asylo-enclave-image", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    EVP_MD_CTX *digest = EVP_MD_CTX_new();
    if (copy < 0 || digest == NULL || EVP_DigestInit_ex(digest, EVP_sha256(), NULL) != 1) {
        code = asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_BACKEND,
                                "cannot make an in-memory copy of '%s': %s", path,
                                copy < 0 ? strerror(errno) : "no SHA-256 context");
        goto out;
    }
    static _Thread_local uint8_t chunk[65536];
    for (;;) {
        ssize_t got = read(image_fd, chunk, sizeof chunk);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got < 0) {
            code = asylo_status_set(status, ASYLO_DATA_LOSS, ASYLO_ORIGIN_BACKEND,
                                    "reading enclave image '%s': %s", path, strerror(errno));
            goto out;
        }
        if (got == 0) {
            break;
        }
        EVP_DigestUpdate(digest, chunk, (size_t)got);
        for (ssize_t done = 0; done < got;) {
            ssize_t put = write(copy, chunk + done, (size_t)(got - done));
            if (put < 0 && errno == EINTR) {
                continue;
            }
            if (put <= 0) {
                code = asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_BACKEND,
                                        "copying enclave image '%s' to memory: %s", path,
                                        strerror(errno));
                goto out;
            }
            done += put;
        }
    }
    unsigned int digest_size = 0;
    EVP_DigestFinal_ex(digest, measurement, &digest_size);
    /* Sealed: nobody, the runner included, can change the measured bytes. */
    if (fcntl(copy, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0) {
        code =
            asylo_status_set(status, ASYLO_INTERNAL, ASYLO_ORIGIN_BACKEND,
                             "cannot seal the in-memory copy of '%s': %s", path, strerror(errno));
        goto out;
    }
    *memfd = copy;
    copy = -1;
    code = asylo_status_ok(status);
out:
    EVP_MD_CTX_free(digest);
    if (copy >= 0) {
        close(copy);
    }
    close(image_fd);
    return code;
}

static int executable(const char *path) {
    return access(path, X_OK) == 0;
}

asylo_code asylo__process_find_runner(const char *configured, char *path, size_t size,
                                      asylo_status *status) {
    const char *chosen = configured != NULL ? configured : getenv("ASYLO_ENCLAVE_RUNNER");
    if (chosen != NULL) {
        if (!executable(chosen)) {
            return asylo_status_set(
                status, ASYLO_NOT_FOUND, ASYLO_ORIGIN_BACKEND,
                "enclave runner '%s' (from %s) is not an executable file", chosen,
                configured != NULL ? "the process config" : "$ASYLO_ENCLAVE_RUNNER");
        }
        snprintf(path, size, "%s", chosen);
        return asylo_status_ok(status);
    }
    Dl_info info;
    if (dladdr((void *)asylo__process_find_runner, &info) != 0 && info.dli_fname != NULL) {
        char directory[PATH_MAX];
        snprintf(directory, sizeof directory, "%s", info.dli_fname);
        char *slash = strrchr(directory, '/');
        if (slash != NULL) {
            *slash = '\0';
            static const char *const relative[] = {"../libexec/asylo/asylo-enclave-runner",
                                                   "asylo-enclave-runner",
                                                   "../tools/asylo-enclave-runner"};
            for (size_t i = 0; i < sizeof relative / sizeof relative[0]; i++) {
                snprintf(path, size, "%s/%s", directory, relative[i]);
                if (executable(path)) {
                    return asylo_status_ok(status);
                }
            }
        }
    }
    static const char *const built_in[] = {ASYLO_RUNNER_INSTALL_PATH, ASYLO_RUNNER_BUILD_PATH};
    for (size_t i = 0; i < sizeof built_in / sizeof built_in[0]; i++) {
        if (executable(built_in[i])) {
            snprintf(path, size, "%s", built_in[i]);
            return asylo_status_ok(status);
        }
    }
    return asylo_status_set(status, ASYLO_NOT_FOUND, ASYLO_ORIGIN_BACKEND,
                            "cannot find asylo-enclave-runner next to the library or at '%s': "
                            "set $ASYLO_ENCLAVE_RUNNER or the process config's runner_path",
                            ASYLO_RUNNER_INSTALL_PATH);
}

asylo_code asylo__process_sandbox_check(int allow_weaker, int *namespaces, asylo_status *status) {
    const char *missing = NULL;
    if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0 && errno == EINVAL) {
        missing = "seccomp filtering (CONFIG_SECCOMP_FILTER)";
    }
    *namespaces = 1;
    FILE *file = fopen("/proc/sys/user/max_user_namespaces", "re");
    long most = 0;
    if (file == NULL || fscanf(file, "%ld", &most) != 1 || most <= 0) {
        missing = missing != NULL ? missing : "user namespaces (user.max_user_namespaces is 0)";
        *namespaces = 0;
    }
    if (file != NULL) {
        fclose(file);
    }
    if (*namespaces && geteuid() != 0) {
        /* New pid, ipc and uts namespaces and the shared empty network
         * namespace are made from the host's user namespace. */
        missing = missing != NULL ? missing : "root (the sandbox's namespaces are made by root)";
        *namespaces = 0;
    }
    if (missing != NULL && !allow_weaker) {
        return asylo_status_set(status, ASYLO_FAILED_PRECONDITION, ASYLO_ORIGIN_BACKEND,
                                "the process sandbox needs %s, which this system lacks; set "
                                "allow_weaker_sandbox in the process config to load anyway",
                                missing);
    }
    return asylo_status_ok(status);
}

/* ---- the one empty network namespace of this process ---- */

static pthread_once_t netns_once = PTHREAD_ONCE_INIT;
static int netns_fd = -1;
static int netns_errno;

/* Network namespaces belong to a thread: unshare in a short-lived thread and
 * keep a handle, so no thread of the host changes namespace. */
static void *make_netns(void *unused) {
    (void)unused;
    if (unshare(CLONE_NEWNET) != 0) {
        netns_errno = errno;
        return NULL;
    }
    netns_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (netns_fd < 0) {
        netns_errno = errno;
    }
    return NULL;
}

static void netns_init(void) {
    pthread_t thread;
    if (pthread_create(&thread, NULL, make_netns, NULL) != 0) {
        netns_errno = EAGAIN;
        return;
    }
    pthread_join(thread, NULL);
}

/* ---- the child, until execve ----
 *
 * It runs on a borrowed stack in our address space: keep the sanitizers'
 * bookkeeping (shadow memory of that stack) out of it. */
#define CHILD_CODE __attribute__((no_sanitize("address", "undefined")))

CHILD_CODE static size_t text_length(const char *text) {
    size_t length = 0;
    while (text[length] != '\0') {
        length++;
    }
    return length;
}

/* Writes "step: errno N" into the region's start-up message and exits. */
CHILD_CODE static void child_fail(const asylo__spawn_plan *plan, const char *step) {
    asylo__shm_header *header = plan->header;
    char *out = header->ready_message;
    size_t used = 0;
    int error = errno;
    for (size_t i = 0; step[i] != '\0' && used < 400; i++) {
        out[used++] = step[i];
    }
    static const char middle[] = " failed in the sandbox set-up: errno ";
    for (size_t i = 0; middle[i] != '\0'; i++) {
        out[used++] = middle[i];
    }
    char digits[12];
    int count = 0;
    do {
        digits[count++] = (char)('0' + error % 10);
        error /= 10;
    } while (error > 0 && count < 11);
    while (count > 0) {
        out[used++] = digits[--count];
    }
    out[used] = '\0';
    atomic_store(&header->ready, ASYLO__SHM_FAILED);
    syscall(SYS_exit_group, 127);
}

CHILD_CODE static int write_file(const char *path, const char *text) {
    int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    size_t length = text_length(text);
    int ok = syscall(SYS_write, fd, text, length) == (long)length;
    syscall(SYS_close, fd);
    return ok ? 0 : -1;
}

CHILD_CODE static void format_map(char *out, unsigned outer) {
    /* "0 <outer> 1\n" */
    char digits[12];
    int count = 0;
    do {
        digits[count++] = (char)('0' + outer % 10);
        outer /= 10;
    } while (outer > 0);
    size_t used = 0;
    out[used++] = '0';
    out[used++] = ' ';
    while (count > 0) {
        out[used++] = digits[--count];
    }
    out[used++] = ' ';
    out[used++] = '1';
    out[used++] = '\n';
    out[used] = '\0';
}

#define NOBODY 65534u

CHILD_CODE static void child_main(const asylo__spawn_plan *plan, int runner_fd) {
    /* Fatal signals take their default action in the runner until it
     * installs its own reporters. */
    unsigned outer_uid = (unsigned)syscall(SYS_geteuid);
    unsigned outer_gid = (unsigned)syscall(SYS_getegid);
    if (plan->namespaces) {
        if (netns_fd >= 0 && syscall(SYS_setns, netns_fd, CLONE_NEWNET) != 0) {
            child_fail(plan, "joining the empty network namespace");
        }
        if (outer_uid == 0) {
            /* Outside its namespaces the enclave is nobody, not root. */
            if (syscall(SYS_setgroups, 0, NULL) != 0 ||
                syscall(SYS_setresgid, NOBODY, NOBODY, NOBODY) != 0 ||
                syscall(SYS_setresuid, NOBODY, NOBODY, NOBODY) != 0) {
                child_fail(plan, "becoming uid nobody");
            }
            /* Changing uid cleared "dumpable", which would make our own
             * /proc/self/uid_map root's; the runner clears it again. */
            syscall(SYS_prctl, PR_SET_DUMPABLE, 1, 0, 0, 0);
            outer_uid = NOBODY;
            outer_gid = NOBODY;
        }
        if (syscall(SYS_unshare, CLONE_NEWUSER | CLONE_NEWNS) != 0) {
            child_fail(plan, "new user and mount namespaces");
        }
        char map[32];
        format_map(map, outer_uid);
        if (write_file("/proc/self/uid_map", map) != 0) {
            child_fail(plan, "writing uid_map");
        }
        format_map(map, outer_gid);
        if (write_file("/proc/self/setgroups", "deny") != 0 ||
            write_file("/proc/self/gid_map", map) != 0) {
            child_fail(plan, "writing gid_map");
        }
    }
    /* The runner's fds at fixed numbers, everything else closed. Move them
     * high first so no dup2 clobbers another. */
    int high_region = (int)syscall(SYS_fcntl, plan->region_fd, F_DUPFD, 100);
    int high_image = (int)syscall(SYS_fcntl, plan->image_fd, F_DUPFD, 100);
    int high_liveness = (int)syscall(SYS_fcntl, plan->liveness_fd, F_DUPFD, 100);
    int high_runner = (int)syscall(SYS_fcntl, runner_fd, F_DUPFD_CLOEXEC, 100);
    if (high_region < 0 || high_image < 0 || high_liveness < 0 || high_runner < 0 ||
        syscall(SYS_dup2, high_region, ASYLO__RUNNER_REGION_FD) < 0 ||
        syscall(SYS_dup2, high_image, ASYLO__RUNNER_IMAGE_FD) < 0 ||
        syscall(SYS_dup2, high_liveness, ASYLO__RUNNER_LIVENESS_FD) < 0 ||
        syscall(SYS_dup2, high_runner, 6) < 0) {
        child_fail(plan, "arranging the runner's file descriptors");
    }
    syscall(SYS_fcntl, 6, F_SETFD, FD_CLOEXEC);
    syscall(SYS_close_range, 7, ~0u, 0);
    for (int fd = 0; fd < 3; fd++) {
        syscall(SYS_close, fd);
    }
    char *const argv[] = {"asylo-enclave-runner", NULL};
    char *const envp[] = {NULL};
    syscall(SYS_execveat, 6, "", argv, envp, AT_EMPTY_PATH);
    child_fail(plan, "starting the runner (execveat)");
}

typedef struct child_start {
    const asylo__spawn_plan *plan;
    int runner_fd;
} child_start;

CHILD_CODE static int child_entry(void *opaque) {
    const child_start *start = opaque;
    child_main(start->plan, start->runner_fd);
    return 127;
}

asylo_code asylo__process_spawn(const asylo__spawn_plan *plan, pid_t *pid, int *pidfd,
                                asylo_status *status) {
    *pid = -1;
    *pidfd = -1;
    if (plan->namespaces) {
        pthread_once(&netns_once, netns_init);
        if (netns_fd < 0) {
            return asylo_status_set(status, ASYLO_FAILED_PRECONDITION, ASYLO_ORIGIN_BACKEND,
                                    "cannot make the sandbox's empty network namespace: %s",
                                    strerror(netns_errno));
        }
    }
    int runner_fd = open(plan->runner_path, O_PATH | O_CLOEXEC);
    if (runner_fd < 0) {
        return asylo_status_set(status, ASYLO_NOT_FOUND, ASYLO_ORIGIN_BACKEND,
                                "cannot open enclave runner '%s': %s", plan->runner_path,
                                strerror(errno));
    }
    /* Like posix_spawn: the child shares our memory (CLONE_VM) on a stack of
     * its own and we wait (CLONE_VFORK) until it has exec'd or died, so no
     * copy of the host's page tables is made, however large the host. */
    int child_pidfd = -1;
    size_t stack_size = (size_t)64 << 10;
    void *stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) {
        close(runner_fd);
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_BACKEND,
                                "cannot map a stack to start the enclave runner: %s",
                                strerror(errno));
    }
    child_start start = {.plan = plan, .runner_fd = runner_fd};
    /* Exit signal 0, not SIGCHLD: the host's own waitpid(-1) and SIGCHLD
     * handler never see the runner; the backend reaps it through the pidfd
     * (__WALL). */
    int flags = CLONE_VM | CLONE_VFORK | CLONE_PIDFD |
                (plan->namespaces ? CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS : 0);
    long child = clone(child_entry, (uint8_t *)stack + stack_size, flags, &start, &child_pidfd);
    int error = errno;
    munmap(stack, stack_size);
    close(runner_fd);
    if (child < 0) {
        return asylo_status_set(
            status, error == EPERM ? ASYLO_FAILED_PRECONDITION : ASYLO_UNAVAILABLE,
            ASYLO_ORIGIN_BACKEND, "cannot start the enclave runner in new namespaces (clone3): %s",
            strerror(error));
    }
    *pid = (pid_t)child;
    *pidfd = child_pidfd;
    return asylo_status_ok(status);
}
