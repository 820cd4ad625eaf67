/* The `process` backend, host side: the enclave image runs in a sandboxed
 * child (tools/asylo_enclave_runner.c) and is called over one shared-memory
 * region per enclave with the call protocol of src/protocol.
 *
 * Threads: each calling host thread claims a slot of the region for its
 * outermost call and keeps it for the calls nested inside (the enclave has
 * one thread per slot). A monitor thread per enclave waits on the child's
 * pidfd: when the child dies it records why, wakes every waiting caller and
 * tells the core the instance is lost. */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <seccomp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "asylo/manager.h"
#include "asylo/process.h"
#include "backends/backend.h"
#include "backends/process/shm_channel.h"
#include "backends/process/spawn.h"
#include "backends/local_exits.h"
#include "identity/image_identity.h"
#include "protocol/protocol.h"

#define DEFAULT_SLOTS 8u
#define MAX_SLOTS 256u
#define DEFAULT_PAYLOAD_SIZE ((size_t)1 << 20)
#define MAX_PAYLOAD_SIZE ((size_t)64 << 20)
#define DEFAULT_STACK_SIZE ((uint64_t)8 << 20)
#define START_TIMEOUT_MS 10000

typedef struct process_slot {
    _Atomic int busy;
    asylo__shm_endpoint endpoint;
    asylo__protocol_session session;
} process_slot;

typedef struct process_state {
    char name[ASYLO_MAX_ENCLAVE_NAME_SIZE];
    void *lost_context;
    void (*on_lost)(void *context, const asylo_status *cause);
    void *region;
    size_t region_size;
    uint32_t slot_count;
    size_t payload_size;
    process_slot *slots;
    pid_t pid;
    int pidfd;
    int liveness_fd; /* our end of the pipe the runner watches */
    pthread_t monitor;
    int monitor_started;
    uint8_t measurement[32];
    /* Verified at load from the memfd the runner maps; answers the identity
     * and seal-key exits here, never the host application's handlers. */
    asylo_enclave_identity identity;
    asylo__exit_dispatcher exits;
    /* Why we killed it, when we did (set before the kill). */
    _Atomic int kill_reason_set;
    asylo_status kill_reason;
    _Atomic int unloading;
    /* 1 once lost_status is final. */
    _Atomic int lost;
    asylo_status lost_status;
} process_state;

void asylo_process_config_init(asylo_process_config *config) {
    if (config != NULL) {
        memset(config, 0, sizeof *config);
        config->magic = ASYLO_PROCESS_CONFIG_MAGIC;
        config->struct_size = sizeof *config;
    }
}

asylo_code asylo_process_sandbox_available(asylo_status *status) {
    int namespaces = 0;
    asylo_code code = asylo__process_sandbox_check(0, &namespaces, status);
    if (code == ASYLO_OK) {
        char runner[4096];
        code = asylo__process_find_runner(NULL, runner, sizeof runner, status);
    }
    return code;
}

/* Always OK: what the kernel lacks is judged at load, where the config may
 * accept a weaker sandbox (asylo__process_sandbox_check). */
static asylo_code process_probe(asylo_status *status) {
    return asylo_status_ok(status);
}

static asylo_code lost_check(void *context, asylo_status *status) {
    process_state *state = context;
    if (atomic_load(&state->lost) == 0) {
        return ASYLO_OK;
    }
    if (status != NULL) {
        *status = state->lost_status;
    }
    return state->lost_status.code;
}

static const char *signal_text(int signal_number) {
    const char *text = signal_number > 0 && signal_number < 65 ? sigabbrev_np(signal_number) : NULL;
    return text != NULL ? text : "?";
}

/* Says why the child ended: our kill, the runner's report (written by the
 * enclave's process, so phrased as its report), or the exit status. */
static void describe_death(process_state *state, const siginfo_t *info, asylo_status *out) {
    asylo__shm_header *header = state->region;
    uint32_t kind = atomic_load(&header->report_kind);
    int32_t signal_number = header->report_signal;
    int32_t syscall_number = header->report_syscall;
    unsigned long long address = (unsigned long long)header->report_address;
    if (atomic_load(&state->kill_reason_set) == 2) {
        *out = state->kill_reason;
    } else if (kind == ASYLO__SHM_REPORT_SYSCALL && syscall_number >= 0 && syscall_number < 4096) {
        char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, syscall_number);
        asylo_status_set(out, ASYLO_PERMISSION_DENIED, ASYLO_ORIGIN_BACKEND,
                         "enclave '%s' made system call %s (number %d) at 0x%llx, which the "
                         "process sandbox forbids; the enclave was ended",
                         state->name, name != NULL ? name : "unknown", syscall_number, address);
        free(name);
    } else if (kind == ASYLO__SHM_REPORT_SIGNAL && signal_number == SIGABRT) {
        asylo_status_set(out, ASYLO_ABORTED, ASYLO_ORIGIN_BACKEND,
                         "enclave '%s' crashed: ended by signal %d (SIGABRT): abort called "
                         "inside the enclave",
                         state->name, signal_number);
    } else if (kind == ASYLO__SHM_REPORT_SIGNAL && signal_number > 0 && signal_number < 65) {
        asylo_status_set(out, ASYLO_ABORTED, ASYLO_ORIGIN_BACKEND,
                         "enclave '%s' crashed: ended by signal %d (SIG%s) at address 0x%llx",
                         state->name, signal_number, signal_text(signal_number), address);
    } else if (kind == ASYLO__SHM_REPORT_ENDED && signal_number > 0 && signal_number < 65) {
        asylo_status_set(out, ASYLO_ABORTED, ASYLO_ORIGIN_BACKEND,
                         "enclave '%s' crashed: ended by signal %d (SIG%s)", state->name,
                         signal_number, signal_text(signal_number));
    } else if (info->si_code == CLD_EXITED) {
        asylo_status_set(out, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_BACKEND,
                         "enclave '%s' exited with status %d (exit called inside the enclave)",
                         state->name, info->si_status);
    } else {
        asylo_status_set(out, ASYLO_ABORTED, ASYLO_ORIGIN_BACKEND,
                         "enclave '%s' ended by signal %d (SIG%s)", state->name, info->si_status,
                         signal_text(info->si_status));
    }
}

static void *monitor_main(void *opaque) {
    process_state *state = opaque;
    struct pollfd watch = {.fd = state->pidfd, .events = POLLIN};
    while (poll(&watch, 1, -1) < 0 && errno == EINTR) {
    }
    siginfo_t info;
    memset(&info, 0, sizeof info);
    while (waitid((idtype_t)P_PIDFD, (id_t)state->pidfd, &info, WEXITED | __WALL) != 0 &&
           errno == EINTR) {
    }
    describe_death(state, &info, &state->lost_status);
    /* The core hears first, so a caller woken below already finds the
     * client lost. */
    if (!atomic_load(&state->unloading) && state->on_lost != NULL) {
        state->on_lost(state->lost_context, &state->lost_status);
    }
    atomic_store(&state->lost, 1);
    asylo__shm_wake_all(state->region, state->slot_count, state->payload_size);
    return NULL;
}

/* Kills the child, remembering why (the first reason wins). */
static void kill_child(process_state *state, const asylo_status *reason) {
    int expected = 0;
    if (reason != NULL && atomic_compare_exchange_strong(&state->kill_reason_set, &expected, 1)) {
        state->kill_reason = *reason;
        atomic_store(&state->kill_reason_set, 2);
    }
    if (state->pidfd >= 0) {
        syscall(SYS_pidfd_send_signal, state->pidfd, SIGKILL, NULL, 0);
    }
}

static asylo_code check_config(const asylo__load_request *request,
                               const asylo_process_config **config, asylo_status *status) {
    *config = request->backend_config;
    if (*config != NULL && ((*config)->magic != ASYLO_PROCESS_CONFIG_MAGIC ||
                            (*config)->struct_size != sizeof(asylo_process_config))) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "backend_config of '%s' is not an asylo_process_config set up "
                                "with asylo_process_config_init",
                                request->name);
    }
    if (*config != NULL && (*config)->frame_payload_size > MAX_PAYLOAD_SIZE) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "frame_payload_size %zu of '%s' is over the most, %zu",
                                (*config)->frame_payload_size, request->name, MAX_PAYLOAD_SIZE);
    }
    if (request->max_concurrent_calls > MAX_SLOTS) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "max_concurrent_calls %u of '%s' is over the most, %u",
                                request->max_concurrent_calls, request->name, MAX_SLOTS);
    }
    return ASYLO_OK;
}

static asylo_code make_region(process_state *state, const asylo__load_request *request,
                              int allow_weaker, int namespaces, int forward_posix, int *region_fd,
                              asylo_status *status) {
    state->region_size = asylo__shm_region_size(state->slot_count, state->payload_size);
    *region_fd = memfd_create("asylo-enclave-channel", MFD_CLOEXEC);
    if (*region_fd < 0 || ftruncate(*region_fd, (off_t)state->region_size) != 0) {
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_BACKEND,
                                "cannot make the %zu-byte shared region of '%s': %s",
                                state->region_size, request->name, strerror(errno));
    }
    state->region =
        mmap(NULL, state->region_size, PROT_READ | PROT_WRITE, MAP_SHARED, *region_fd, 0);
    if (state->region == MAP_FAILED) {
        state->region = NULL;
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_BACKEND,
                                "cannot map the shared region of '%s': %s", request->name,
                                strerror(errno));
    }
    asylo__shm_header *header = state->region;
    header->magic = ASYLO__SHM_MAGIC;
    header->version = ASYLO__SHM_VERSION;
    header->slot_count = state->slot_count;
    header->flags = (allow_weaker ? ASYLO__SHM_ALLOW_WEAKER : 0) |
                    (namespaces ? ASYLO__SHM_NAMESPACES : 0) |
                    (forward_posix ? ASYLO__SHM_FORWARD_POSIX : 0);
    header->slot_payload_size = state->payload_size;
    header->region_size = state->region_size;
    header->memory_limit = request->memory_size;
    header->stack_size = request->stack_size == 0 ? DEFAULT_STACK_SIZE : request->stack_size;
    header->open_files = 16;
    return ASYLO_OK;
}

/* Waits for the runner's start-up verdict (or its death). */
static asylo_code wait_ready(process_state *state, asylo_status *status) {
    asylo__shm_header *header = state->region;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        uint32_t ready = atomic_load(&header->ready);
        if (ready == ASYLO__SHM_READY) {
            return asylo_status_ok(status);
        }
        if (ready == ASYLO__SHM_FAILED) {
            char message[sizeof header->ready_message];
            memcpy(message, header->ready_message, sizeof message);
            message[sizeof message - 1] = '\0';
            return asylo_status_set(status, ASYLO_FAILED_PRECONDITION, ASYLO_ORIGIN_BACKEND,
                                    "the enclave runner of '%s' could not start: %s", state->name,
                                    message);
        }
        struct pollfd watch = {.fd = state->pidfd, .events = POLLIN};
        if (poll(&watch, 1, 0) == 1) {
            siginfo_t info;
            memset(&info, 0, sizeof info);
            waitid((idtype_t)P_PIDFD, (id_t)state->pidfd, &info, WEXITED | WNOHANG | __WALL);
            describe_death(state, &info, status);
            return asylo_status_prefix(status, "during start-up");
        }
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long waited_ms =
            (now.tv_sec - start.tv_sec) * 1000L + (now.tv_nsec - start.tv_nsec) / 1000000L;
        if (waited_ms > START_TIMEOUT_MS) {
            return asylo_status_set(status, ASYLO_DEADLINE_EXCEEDED, ASYLO_ORIGIN_BACKEND,
                                    "the enclave runner of '%s' did not start within %d ms",
                                    state->name, START_TIMEOUT_MS);
        }
        asylo__shm_futex_wait(&header->ready, ASYLO__SHM_STARTING, 2000000L);
    }
}

static void release_all(process_state *state) {
    if (state->pidfd >= 0) {
        atomic_store(&state->unloading, 1);
        kill_child(state, NULL);
        if (state->monitor_started) {
            pthread_join(state->monitor, NULL);
            state->monitor_started = 0;
        } else {
            siginfo_t info;
            waitid((idtype_t)P_PIDFD, (id_t)state->pidfd, &info, WEXITED | __WALL);
        }
        close(state->pidfd);
        state->pidfd = -1;
    }
    if (state->liveness_fd >= 0) {
        close(state->liveness_fd);
        state->liveness_fd = -1;
    }
    if (state->region != NULL) {
        munmap(state->region, state->region_size);
        state->region = NULL;
    }
    free(state->slots);
    state->slots = NULL;
}

static asylo_code process_exit_call(void *context, uint32_t selector, const uint8_t *input,
                                    size_t input_size, asylo_output *output, asylo_status *status) {
    process_state *state = context;
    return asylo__local_exit_call(&state->identity, &state->exits, selector, input, input_size,
                                  output, status);
}

static asylo_code process_load(void *opaque, const asylo__load_request *request,
                               asylo_status *status) {
    process_state *state = opaque;
    state->pidfd = -1;
    state->liveness_fd = -1;
    snprintf(state->name, sizeof state->name, "%s", request->name);
    state->lost_context = request->lost_context;
    state->on_lost = request->on_lost;
    state->exits = request->exits;
    const asylo_process_config *config;
    asylo_code code = check_config(request, &config, status);
    if (code != ASYLO_OK) {
        return code;
    }
    int allow_weaker = config != NULL && config->allow_weaker_sandbox;
    int namespaces = 0;
    code = asylo__process_sandbox_check(allow_weaker, &namespaces, status);
    if (code != ASYLO_OK) {
        return code;
    }
    char runner[4096];
    code = asylo__process_find_runner(config != NULL ? config->runner_path : NULL, runner,
                                      sizeof runner, status);
    if (code != ASYLO_OK) {
        return code;
    }
    state->slot_count =
        request->max_concurrent_calls == 0 ? DEFAULT_SLOTS : request->max_concurrent_calls;
    state->payload_size = config != NULL && config->frame_payload_size != 0
                              ? config->frame_payload_size
                              : DEFAULT_PAYLOAD_SIZE;
    int image_fd = -1;
    int region_fd = -1;
    int liveness[2] = {-1, -1};
    code = asylo__process_image_memfd(request->enclave_path, &image_fd, state->measurement, status);
    if (code == ASYLO_OK) {
        /* The memfd is what the runner maps, so the memfd is what is verified. */
        char image_path[64];
        snprintf(image_path, sizeof image_path, "/proc/self/fd/%d", image_fd);
        asylo__identity_policy policy = {.debug_load = request->debug,
                                         .expected_measurement = request->expected_measurement,
                                         .expected_signer_id = request->expected_signer_id};
        code = asylo__identity_check(image_path, request->enclave_path, &policy, "process",
                                     &state->identity, status);
        if (code != ASYLO_OK) {
            asylo_status_prefix(status, "loading '%s'", request->name);
        }
    }
    if (code == ASYLO_OK) {
        code = make_region(state, request, allow_weaker, namespaces,
                           config != NULL && config->forward_posix_calls, &region_fd, status);
    }
    if (code == ASYLO_OK && pipe2(liveness, O_CLOEXEC) != 0) {
        code = asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_BACKEND,
                                "cannot make a pipe for '%s': %s", request->name, strerror(errno));
    }
    if (code == ASYLO_OK) {
        state->liveness_fd = liveness[1];
        asylo__spawn_plan plan = {.runner_path = runner,
                                  .region_fd = region_fd,
                                  .image_fd = image_fd,
                                  .liveness_fd = liveness[0],
                                  .namespaces = namespaces,
                                  .header = state->region};
        code = asylo__process_spawn(&plan, &state->pid, &state->pidfd, status);
    }
    if (liveness[0] >= 0) {
        close(liveness[0]);
    }
    if (image_fd >= 0) {
        close(image_fd);
    }
    if (region_fd >= 0) {
        close(region_fd);
    }
    if (code == ASYLO_OK) {
        code = wait_ready(state, status);
    }
    if (code == ASYLO_OK) {
        state->slots = calloc(state->slot_count, sizeof *state->slots);
        if (state->slots == NULL) {
            code = asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_BACKEND,
                                    "out of memory for %u call slots", state->slot_count);
        }
    }
    for (uint32_t i = 0; code == ASYLO_OK && i < state->slot_count; i++) {
        process_slot *slot = &state->slots[i];
        asylo__shm_endpoint_init(&slot->endpoint, state->region, state->payload_size, i, 1,
                                 lost_check, state);
        slot->session = (asylo__protocol_session){.channel = &slot->endpoint.channel,
                                                  .handler = process_exit_call,
                                                  .handler_context = state,
                                                  .peer_origin = ASYLO_ORIGIN_ENCLAVE,
                                                  .is_host = true};
    }
    if (code == ASYLO_OK) {
        if (pthread_create(&state->monitor, NULL, monitor_main, state) != 0) {
            code = asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_BACKEND,
                                    "cannot start the monitor thread of '%s'", request->name);
        } else {
            state->monitor_started = 1;
        }
    }
    if (code != ASYLO_OK) {
        release_all(state);
        return code;
    }
    return asylo_status_ok(status);
}

/* The slot this thread holds for `state`, nested calls reusing it. */
typedef struct thread_slot {
    process_state *state;
    uint32_t slot;
    uint32_t depth;
} thread_slot;

static _Thread_local thread_slot held[ASYLO_MAX_CALL_DEPTH];
static _Thread_local int held_count;

static asylo_code process_enter(void *opaque, uint32_t selector, const uint8_t *input,
                                size_t input_size, asylo_output *output, asylo_status *status) {
    process_state *state = opaque;
    if (lost_check(state, status) != ASYLO_OK) {
        return status->code;
    }
    thread_slot *mine = NULL;
    for (int i = 0; i < held_count; i++) {
        if (held[i].state == state) {
            mine = &held[i];
        }
    }
    if (mine == NULL) {
        if (held_count >= ASYLO_MAX_CALL_DEPTH) {
            return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_BACKEND,
                                    "this thread is inside %d enclaves already", held_count);
        }
        uint32_t found = state->slot_count;
        for (uint32_t i = 0; i < state->slot_count; i++) {
            int expected = 0;
            if (atomic_compare_exchange_strong(&state->slots[i].busy, &expected, 1)) {
                found = i;
                break;
            }
        }
        if (found == state->slot_count) {
            return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_BACKEND,
                                    "enclave '%s' has all %u of its call slots in use "
                                    "(max_concurrent_calls in the load config)",
                                    state->name, state->slot_count);
        }
        mine = &held[held_count++];
        *mine = (thread_slot){.state = state, .slot = found, .depth = 0};
    }
    process_slot *slot = &state->slots[mine->slot];
    mine->depth++;
    asylo_code code =
        asylo__protocol_call(&slot->session, selector, input, input_size, output, status);
    mine->depth--;
    if (code != ASYLO_OK && asylo__protocol_session_broken(&slot->session, NULL)) {
        if (atomic_load(&state->lost) == 0) {
            /* The enclave broke the protocol: end it, naming the breach. */
            asylo_status reason = *status;
            asylo_status_prefix(&reason, "enclave '%s' was ended", state->name);
            kill_child(state, &reason);
        }
    }
    if (mine->depth == 0) {
        atomic_store(&slot->busy, 0);
        held_count--;
        /* Keep the array dense: the entry freed is always the last one taken
         * by this thread, since nesting is last-in first-out. */
    }
    return code;
}

static asylo_code process_terminate(void *opaque, asylo_status *status) {
    process_state *state = opaque;
    asylo_status reason;
    asylo_status_set(&reason, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_BACKEND,
                     "enclave '%s' was terminated: its calls did not return within the destroy "
                     "bound",
                     state->name);
    kill_child(state, &reason);
    return asylo_status_ok(status);
}

static asylo_code process_measurement(void *opaque, uint8_t digest[32], asylo_status *status) {
    process_state *state = opaque;
    memcpy(digest, state->measurement, 32);
    return asylo_status_ok(status);
}

static void process_unload(void *opaque) {
    release_all(opaque);
}

const asylo__backend asylo__process_backend = {
    .interface_version = ASYLO__BACKEND_INTERFACE_VERSION,
    .name = "process",
    .isolation = "address space and system calls: a sandboxed child process (namespaces, "
                 "seccomp allow-list, no new privileges)",
    .state_size = sizeof(process_state),
    .probe = process_probe,
    .load = process_load,
    .enter = process_enter,
    .unload = process_unload,
    .terminate = process_terminate,
    .measurement = process_measurement,
};
