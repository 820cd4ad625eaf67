/* asylo-enclave-runner: the sandboxed process of the `process` backend.
 *
 * Started by the backend (src/backends/process/spawn.c) already inside new
 * pid, ipc, uts, user and mount namespaces and an empty network namespace,
 * as uid nobody outside, with only three file descriptors: the shared region
 * (3), the sealed in-memory image (4) and a pipe whose end tells it the host
 * is gone (5). It then, before any enclave code runs: maps the region,
 * installs the crash reporters, starts one thread per call slot, mounts an
 * empty tmpfs, sets rlimits, no-new-privs and not-dumpable, and loads the
 * first seccomp filter (loader calls allowed). It loads the image (its
 * constructors run here), closes the image and region fds, chroots into the
 * empty tmpfs, drops its capabilities, loads the strict filter and reports
 * ready. From then on each slot thread serves calls with the protocol of
 * src/protocol; the enclave's exit calls go back over the same slot.
 *
 * It takes no arguments and no environment: everything comes through the
 * region's header, which the host wrote. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <linux/capability.h>
#include <poll.h>
#include <pthread.h>
#include <seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <ucontext.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backends/process/shm_channel.h"
#include "backends/process/syscall_allowlist.h"
#include "common/abi.h"
#include "protocol/protocol.h"
#include "runner_posix.h"

#define ALT_STACK_SIZE ((size_t)64 << 10)
#define EMPTY_ROOT "/tmp"

#ifdef ASYLO_SANITIZE
/* Sanitizer builds: the runner's own crash reporters must see the enclave's
 * faults (AddressSanitizer's report would need files the sandbox refuses),
 * and no leak check runs at an enclave's exit() (it traces the process). */
const char *__asan_default_options(void);
__attribute__((visibility("default"))) const char *__asan_default_options(void) {
    return "handle_segv=0:handle_sigbus=0:handle_sigill=0:handle_sigfpe=0:handle_abort=0:"
           "allow_user_segv_handler=1:detect_leaks=0";
}
#endif

static asylo__shm_header *header;
static void *region;
static const asylo__enclave_abi *abi;
static _Atomic uint32_t released; /* futex: slot threads wait for the sandbox */
static _Atomic uint32_t started;  /* futex: slot threads past their start-up */
static _Thread_local asylo__protocol_session *current_session;

static void fail_start(const char *format, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail_start(const char *format, ...) {
    if (header != NULL) {
        va_list args;
        va_start(args, format);
        vsnprintf(header->ready_message, sizeof header->ready_message, format, args);
        va_end(args);
        atomic_store(&header->ready, ASYLO__SHM_FAILED);
        asylo__shm_futex_wake(&header->ready);
    }
    _exit(1);
}

/* Reports a fatal signal (or a refused system call) through the region, then
 * ends the process: the host reads the report when its pidfd fires. Only
 * async-signal-safe work here. */
static void on_fatal(int signal_number, siginfo_t *info, void *context) {
    (void)context;
    if (header != NULL && atomic_load(&header->report_kind) == ASYLO__SHM_REPORT_NONE) {
        if (signal_number == SIGSYS && info->si_code == 1 /* SYS_SECCOMP */) {
            header->report_syscall = info->si_syscall;
            header->report_arch = info->si_arch;
            header->report_address = (uint64_t)(uintptr_t)info->si_call_addr;
            atomic_store(&header->report_kind, ASYLO__SHM_REPORT_SYSCALL);
        } else {
            header->report_signal = signal_number;
            header->report_address =
                signal_number == SIGABRT ? 0 : (uint64_t)(uintptr_t)info->si_addr;
            atomic_store(&header->report_kind, ASYLO__SHM_REPORT_SIGNAL);
        }
    }
    syscall(SYS_exit_group, 128 + signal_number);
}

/* A trapped system call: forwarded to the host when the load asked for it
 * and it is one of the POSIX calls enclave code may make (runner_posix.c)
 * from inside an entry call;
 * otherwise reported and fatal. Runs on the thread's own stack with no
 * signal blocked, since forwarding may run nested enclave code. */
static void on_sigsys(int signal_number, siginfo_t *info, void *opaque) {
    ucontext_t *context = opaque;
    asylo__protocol_session *session = current_session;
    if (info->si_code == 1 /* SYS_SECCOMP */ && session != NULL && session->serving_call_id != 0 &&
        (header->flags & ASYLO__SHM_FORWARD_POSIX) != 0) {
        greg_t *registers = context->uc_mcontext.gregs;
        const long args[6] = {registers[REG_RDI], registers[REG_RSI], registers[REG_RDX],
                              registers[REG_R10], registers[REG_R8],  registers[REG_R9]};
        long result;
        if (asylo__runner_forward(session, info->si_syscall, args, &result)) {
            registers[REG_RAX] = result;
            return;
        }
    }
    if (info->si_code == 1 /* SYS_SECCOMP */) {
        greg_t *registers = context->uc_mcontext.gregs;
        const long args[6] = {registers[REG_RDI], registers[REG_RSI], registers[REG_RDX],
                              registers[REG_R10], registers[REG_R8],  registers[REG_R9]};
        long result;
        if (asylo__runner_unforwarded(info->si_syscall, args, &result)) {
            registers[REG_RAX] = result;
            return;
        }
    }
    on_fatal(signal_number, info, opaque);
}

static void install_reporters(void) {
    static const int fatal[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP};
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_fatal;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigfillset(&action.sa_mask);
    for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++) {
        sigaction(fatal[i], &action, NULL);
    }
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_sigsys;
    action.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&action.sa_mask);
    sigaction(SIGSYS, &action, NULL);
}

/* Each thread reports a stack overflow on a stack of its own. */
static void alternate_stack(void) {
    stack_t stack = {.ss_sp = malloc(ALT_STACK_SIZE), .ss_size = ALT_STACK_SIZE};
    if (stack.ss_sp != NULL) {
        sigaltstack(&stack, NULL);
    }
}

static asylo_code enclave_exit_call(void *context, uint32_t selector, const uint8_t *input,
                                    size_t input_size, asylo_output *output, asylo_status *status) {
    (void)context;
    if (current_session == NULL) {
        return asylo_status_set(status, ASYLO_FAILED_PRECONDITION, ASYLO_ORIGIN_ENCLAVE,
                                "exit call 0x%x from a thread the runner did not start", selector);
    }
    return asylo__protocol_call(current_session, selector, input, input_size, output, status);
}

static asylo_code enter_enclave(void *context, uint32_t selector, const uint8_t *input,
                                size_t input_size, asylo_output *output, asylo_status *status) {
    (void)context;
    /* The enclave's status is checked as sim checks it, so the host sees the
     * same code, origin and message from every local backend. */
    asylo_code code = abi->enter(selector, input, input_size, output, status);
    status->message[sizeof status->message - 1] = '\0';
    if (!asylo_code_is_valid((int)code)) {
        return asylo_status_set(status, ASYLO_UNKNOWN, ASYLO_ORIGIN_ENCLAVE,
                                "enclave returned code %d, which is not a canonical code",
                                (int)code);
    }
    status->code = code;
    if (code == ASYLO_OK) {
        status->origin = ASYLO_ORIGIN_NONE;
    } else if (status->origin <= ASYLO_ORIGIN_NONE || status->origin > ASYLO_ORIGIN_HOST) {
        status->origin = ASYLO_ORIGIN_ENCLAVE;
    }
    return code;
}

static void *slot_main(void *argument) {
    uint32_t slot = (uint32_t)(uintptr_t)argument;
    alternate_stack();
    atomic_fetch_add(&started, 1);
    asylo__shm_futex_wake(&started);
    while (atomic_load(&released) == 0) {
        asylo__shm_futex_wait(&released, 0, 0);
    }
    asylo__shm_endpoint endpoint;
    asylo__shm_endpoint_init(&endpoint, region, header->slot_payload_size, slot, 0, NULL, NULL);
    asylo__protocol_session session = {.channel = &endpoint.channel,
                                       .handler = enter_enclave,
                                       .peer_origin = ASYLO_ORIGIN_HOST,
                                       .is_host = false};
    current_session = &session;
    for (;;) {
        asylo_status status;
        if (asylo__protocol_serve_one(&session, &status) != ASYLO_OK) {
            /* The host broke the protocol: nothing sane is left to do. */
            syscall(SYS_exit_group, 70);
        }
    }
    return NULL;
}

static void map_region(void) {
    struct stat info;
    if (fstat(ASYLO__RUNNER_REGION_FD, &info) != 0 ||
        info.st_size < (off_t)ASYLO__SHM_HEADER_SIZE) {
        _exit(2);
    }
    header = mmap(NULL, ASYLO__SHM_HEADER_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
                  ASYLO__RUNNER_REGION_FD, 0);
    if (header == MAP_FAILED) {
        header = NULL;
        _exit(2);
    }
    /* The host is trusted here, but its numbers are still checked before
     * they size anything. */
    if (header->magic != ASYLO__SHM_MAGIC || header->version != ASYLO__SHM_VERSION) {
        fail_start("shared region has magic 0x%x version %u; this runner speaks version %u",
                   header->magic, header->version, ASYLO__SHM_VERSION);
    }
    if (header->slot_count == 0 || header->slot_count > 256 || header->slot_payload_size == 0 ||
        header->slot_payload_size > ((uint64_t)64 << 20) ||
        header->region_size !=
            asylo__shm_region_size(header->slot_count, (size_t)header->slot_payload_size) ||
        (uint64_t)info.st_size != header->region_size) {
        fail_start("shared region sizes do not add up (%u slots of %llu bytes, %llu-byte region)",
                   header->slot_count, (unsigned long long)header->slot_payload_size,
                   (unsigned long long)header->region_size);
    }
    region = mmap(NULL, header->region_size, PROT_READ | PROT_WRITE, MAP_SHARED,
                  ASYLO__RUNNER_REGION_FD, 0);
    if (region == MAP_FAILED) {
        fail_start("cannot map the %llu-byte shared region: %s",
                   (unsigned long long)header->region_size, strerror(errno));
    }
}

static void start_threads(void) {
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    if (header->stack_size != 0 &&
        pthread_attr_setstacksize(&attributes, (size_t)header->stack_size) != 0) {
        fail_start("stack size %llu is not usable", (unsigned long long)header->stack_size);
    }
    for (uint32_t slot = 0; slot < header->slot_count; slot++) {
        pthread_t thread;
        int error = pthread_create(&thread, &attributes, slot_main, (void *)(uintptr_t)slot);
        if (error != 0) {
            fail_start("cannot start enclave thread %u of %u: %s", slot, header->slot_count,
                       strerror(error));
        }
        pthread_detach(thread);
    }
    pthread_attr_destroy(&attributes);
    /* A thread still starting makes calls (rseq, set_robust_list) with its
     * signals blocked: a filter arriving then would kill it unreported. */
    for (uint32_t seen; (seen = atomic_load(&started)) < header->slot_count;) {
        asylo__shm_futex_wait(&started, seen, 1000000L);
    }
}

static void set_limit(int resource, uint64_t value, const char *name) {
    struct rlimit limit = {.rlim_cur = value, .rlim_max = value};
    if (setrlimit(resource, &limit) != 0) {
        fail_start("cannot set %s to %llu: %s", name, (unsigned long long)value, strerror(errno));
    }
}

/* Asked once, before any filter: prctl is not on the allow-list. */
static int seccomp_usable(void) {
    static int usable = -1;
    if (usable < 0) {
        usable = prctl(PR_GET_SECCOMP, 0, 0, 0, 0) >= 0;
    }
    return usable;
}

static void load_filter(asylo__syscall_stage widest) {
    if (!seccomp_usable()) {
        if (header->flags & ASYLO__SHM_ALLOW_WEAKER) {
            return;
        }
        fail_start("seccomp is not available and the load config does not accept a weaker "
                   "sandbox");
    }
    scmp_filter_ctx filter = seccomp_init(SCMP_ACT_TRAP);
    if (filter == NULL) {
        fail_start("seccomp_init failed");
    }
    /* No-new-privs is already set (by us, with prctl, before any filter). */
    int error = seccomp_attr_set(filter, SCMP_FLTATR_CTL_TSYNC, 1);
    if (error == 0) {
        error = seccomp_attr_set(filter, SCMP_FLTATR_CTL_NNP, 0);
    }
    for (size_t i = 0; error == 0 && i < asylo__syscall_allowlist_count; i++) {
        if (asylo__syscall_allowlist[i].stage <= widest) {
            error = seccomp_rule_add(filter, SCMP_ACT_ALLOW, asylo__syscall_allowlist[i].number, 0);
        }
    }
    if (error == 0) {
        error = seccomp_load(filter);
    }
    seccomp_release(filter);
    if (error != 0) {
        fail_start("cannot load the seccomp filter: %s", strerror(-error));
    }
}

/* Everything that needs the outside world, done before the image loads. */
static void close_the_doors(void) {
    /* A private empty root: tmpfs mounted in our own mount namespace (never
     * without namespaces: that would mount over the host's /tmp). */
    if (!(header->flags & ASYLO__SHM_NAMESPACES)) {
        /* A weaker sandbox was accepted: no private root. */
    } else if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
               mount("asylo-empty", EMPTY_ROOT, "tmpfs",
                     MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, "size=4k,mode=0555") != 0) {
        if (!(header->flags & ASYLO__SHM_ALLOW_WEAKER)) {
            fail_start("cannot mount the sandbox's empty root: %s", strerror(errno));
        }
    }
    set_limit(RLIMIT_CORE, 0, "RLIMIT_CORE");
    set_limit(RLIMIT_FSIZE, 0, "RLIMIT_FSIZE");
    set_limit(RLIMIT_NOFILE, header->open_files, "RLIMIT_NOFILE");
    set_limit(RLIMIT_NPROC, 0, "RLIMIT_NPROC");
    if (header->memory_limit != 0) {
#ifdef ASYLO_SANITIZE
        fail_start("memory_limit_size cannot be enforced in a sanitizer build (AddressSanitizer "
                   "reserves terabytes of address space); load without it");
#endif
        set_limit(RLIMIT_AS, header->memory_limit, "RLIMIT_AS (memory_limit_size)");
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
        fail_start("cannot set no-new-privs and not-dumpable: %s", strerror(errno));
    }
    load_filter(ASYLO__SYSCALL_LOADING);
}

/* Libraries the image links that read files on first use are started now,
 * while the loader's calls are still allowed, so enclave code using them
 * runs unchanged behind the strict filter. Today: OpenSSL's libcrypto reads
 * its configuration file (found through the image's own dependencies; the
 * runner does not link it). */
static void warm_up_libraries(void *handle) {
    typedef int (*openssl_init_fn)(uint64_t options, const void *settings);
    openssl_init_fn openssl_init = (openssl_init_fn)dlsym(handle, "OPENSSL_init_crypto");
    if (openssl_init != NULL) {
        /* OPENSSL_INIT_LOAD_CRYPTO_STRINGS | ADD_ALL_CIPHERS | ADD_ALL_DIGESTS
         * | LOAD_CONFIG, by value: no OpenSSL header here. */
        openssl_init(0x02 | 0x04 | 0x08 | 0x40, NULL);
    }
}

static void load_image(void) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", ASYLO__RUNNER_IMAGE_FD);
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        const char *why = dlerror();
        fail_start("cannot load the enclave image: %s", why != NULL ? why : "dlopen failed");
    }
    abi = dlsym(handle, ASYLO__ABI_SYMBOL);
    if (abi == NULL) {
        fail_start("the image is not an asylo enclave: it has no %s symbol", ASYLO__ABI_SYMBOL);
    }
    if (abi->magic != ASYLO__ABI_MAGIC || abi->struct_size < sizeof(asylo__enclave_abi) ||
        abi->attach == NULL || abi->enter == NULL) {
        fail_start("the image exports %s but it is not a valid enclave ABI table",
                   ASYLO__ABI_SYMBOL);
    }
    if (abi->abi_version != ASYLO__ABI_VERSION) {
        fail_start("the image was built for enclave ABI version %u but this runner speaks %u",
                   abi->abi_version, ASYLO__ABI_VERSION);
    }
    warm_up_libraries(handle);
    static const asylo__host_interface host = {
        .abi_version = ASYLO__ABI_VERSION, .context = NULL, .exit_call = enclave_exit_call};
    asylo_status status;
    if (abi->attach(&host, &status) != ASYLO_OK) {
        fail_start("attaching the enclave failed: %s", status.message);
    }
}

static void lock_down(void) {
    close(ASYLO__RUNNER_IMAGE_FD);
    close(ASYLO__RUNNER_REGION_FD);
    if ((header->flags & ASYLO__SHM_NAMESPACES) && (chroot(EMPTY_ROOT) != 0 || chdir("/") != 0)) {
        if (!(header->flags & ASYLO__SHM_ALLOW_WEAKER)) {
            fail_start("cannot enter the sandbox's empty root: %s", strerror(errno));
        }
    }
    struct __user_cap_header_struct cap_header = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct no_caps[2];
    memset(no_caps, 0, sizeof no_caps);
    if (syscall(SYS_capset, &cap_header, no_caps) != 0) {
        fail_start("cannot drop capabilities: %s", strerror(errno));
    }
    load_filter(ASYLO__SYSCALL_ALWAYS);
}

/* The first process of a new pid namespace is its init, and the kernel
 * drops every signal an init sends itself while that signal's action is the
 * default: an enclave doing signal(SIGSEGV, SIG_DFL) then raise(SIGSEGV)
 * would carry on running. So in its own pid namespace the runner forks once,
 * before anything else happens: the parent stays behind as a minimal init
 * (not dumpable, no new privileges, a seccomp filter allowing only waiting
 * and exiting) that waits for its one child and ends as it ended; the child
 * goes on as the runner. The host's pidfd is the init's: killing it ends the
 * whole namespace, and it is reaped only once the namespace is empty. */
static void stay_behind_as_init(void) {
    if (getpid() != 1) {
        return; /* no pid namespace (a weaker sandbox was accepted) */
    }
    pid_t child = fork();
    if (child < 0) {
        fail_start("cannot fork the runner from its namespace's init: %s", strerror(errno));
    }
    if (child == 0) {
        return;
    }
    close(ASYLO__RUNNER_IMAGE_FD);
    close(ASYLO__RUNNER_REGION_FD);
    close(ASYLO__RUNNER_LIVENESS_FD);
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    if (seccomp_usable()) {
        static const int allowed[] = {SCMP_SYS(wait4), SCMP_SYS(exit_group), SCMP_SYS(exit),
                                      SCMP_SYS(rt_sigreturn), SCMP_SYS(restart_syscall)};
        scmp_filter_ctx filter = seccomp_init(SCMP_ACT_KILL_PROCESS);
        for (size_t i = 0; filter != NULL && i < sizeof allowed / sizeof allowed[0]; i++) {
            seccomp_rule_add(filter, SCMP_ACT_ALLOW, allowed[i], 0);
        }
        if (filter == NULL || seccomp_load(filter) != 0) {
            syscall(SYS_exit_group, 71);
        }
        seccomp_release(filter);
    }
    int wait_status = 0;
    for (;;) {
        pid_t ended = (pid_t)syscall(SYS_wait4, -1, &wait_status, __WALL, NULL);
        if (ended == child) {
            break;
        }
        if (ended < 0 && errno != EINTR) {
            syscall(SYS_exit_group, 72);
        }
    }
    if (WIFSIGNALED(wait_status)) {
        if (atomic_load(&header->report_kind) == ASYLO__SHM_REPORT_NONE) {
            header->report_signal = WTERMSIG(wait_status);
            header->report_address = 0;
            atomic_store(&header->report_kind, ASYLO__SHM_REPORT_ENDED);
        }
        syscall(SYS_exit_group, 128 + WTERMSIG(wait_status));
    }
    syscall(SYS_exit_group, WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 73);
}

int main(void) {
    map_region();
    stay_behind_as_init();
    if (header->memory_limit != 0) {
        /* Each extra malloc arena reserves 64 MiB of address space: under an
         * address-space limit one shared arena (chosen before any thread
         * mallocs) keeps the limit about memory the enclave uses, not what
         * the allocator reserves. */
        mallopt(M_ARENA_MAX, 1);
    }
    install_reporters();
    alternate_stack();
    start_threads();
    close_the_doors();
    load_image();
    lock_down();
    atomic_store(&released, 1);
    asylo__shm_futex_wake(&released);
    atomic_store(&header->ready, ASYLO__SHM_READY);
    asylo__shm_futex_wake(&header->ready);
    /* The host's end of the pipe closes when the host process ends, however
     * it ends: then so do we. */
    struct pollfd watch = {.fd = ASYLO__RUNNER_LIVENESS_FD, .events = POLLIN};
    for (;;) {
        int ready = poll(&watch, 1, -1);
        if (ready == 1 && (watch.revents & (POLLHUP | POLLERR | POLLIN)) != 0) {
            syscall(SYS_exit_group, 0);
        }
    }
}
