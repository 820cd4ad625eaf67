/* The vCPU watchdog signal (see kvm_watchdog.h). */
#include "backends/kvm/kvm_watchdog.h"

#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Initial-exec so the handler's access is a plain %fs load, safe in a
 * signal handler even in a shared library. */
static __thread struct kvm_run *current_run __attribute__((tls_model("initial-exec")));
static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static int install_error;

static int watchdog_signal(void) {
    return SIGRTMIN + 3;
}

static void on_signal(int signo) {
    (void)signo;
    struct kvm_run *run = current_run;
    if (run != NULL) {
        run->immediate_exit = 1;
    }
}

static void install(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0; /* no SA_RESTART: KVM_RUN must return EINTR */
    if (sigaction(watchdog_signal(), &action, NULL) != 0) {
        install_error = errno;
    }
}

asylo_code asylo__kvm_watchdog_install(asylo_status *status) {
    pthread_once(&install_once, install);
    if (install_error != 0) {
        return asylo_status_set(status, ASYLO_INTERNAL, ASYLO_ORIGIN_BACKEND,
                                "installing the kvm watchdog signal handler (SIGRTMIN+3): %s",
                                strerror(install_error));
    }
    return ASYLO_OK;
}

void asylo__kvm_watchdog_attach(struct kvm_run *run) {
    __atomic_store_n(&current_run, run, __ATOMIC_SEQ_CST);
}

asylo_code asylo__kvm_watchdog_arm(asylo__kvm_watchdog *watchdog, int64_t timeout_ms,
                                   asylo_status *status) {
    struct sigevent event;
    memset(&event, 0, sizeof event);
    event.sigev_notify = SIGEV_THREAD_ID;
    event.sigev_signo = watchdog_signal();
    event._sigev_un._tid = (pid_t)syscall(SYS_gettid);
    if (timer_create(CLOCK_MONOTONIC, &event, &watchdog->timer) != 0) {
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_BACKEND,
                                "creating the kvm watchdog timer: %s", strerror(errno));
    }
    struct itimerspec when;
    memset(&when, 0, sizeof when);
    when.it_value.tv_sec = timeout_ms / 1000;
    when.it_value.tv_nsec = (timeout_ms % 1000) * 1000000;
    if (timer_settime(watchdog->timer, 0, &when, NULL) != 0) {
        int error = errno;
        timer_delete(watchdog->timer);
        return asylo_status_set(status, ASYLO_INTERNAL, ASYLO_ORIGIN_BACKEND,
                                "arming the kvm watchdog timer: %s", strerror(error));
    }
    return ASYLO_OK;
}

void asylo__kvm_watchdog_disarm(asylo__kvm_watchdog *watchdog) {
    timer_delete(watchdog->timer);
}

void asylo__kvm_watchdog_kick(pthread_t thread) {
    pthread_kill(thread, watchdog_signal());
}
