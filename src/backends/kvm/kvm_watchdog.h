/* Interrupting a vCPU: a signal without SA_RESTART whose handler sets the
 * running vCPU's immediate_exit, so KVM_RUN returns EINTR whether the signal
 * arrives during the run or just before it. The timer sends it to the
 * calling thread at the call's deadline; abandon sends it at once. */
#ifndef ASYLO_BACKENDS_KVM_KVM_WATCHDOG_H
#define ASYLO_BACKENDS_KVM_KVM_WATCHDOG_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "asylo/status.h"

struct kvm_run;

typedef struct asylo__kvm_watchdog {
    timer_t timer;
} asylo__kvm_watchdog;

/* Installs the signal handler once per process. */
asylo_code asylo__kvm_watchdog_install(asylo_status *status);
/* The kvm_run the calling thread is about to run (NULL after the run). */
void asylo__kvm_watchdog_attach(struct kvm_run *run);
/* Signals the calling thread once, timeout_ms from now. */
asylo_code asylo__kvm_watchdog_arm(asylo__kvm_watchdog *watchdog, int64_t timeout_ms,
                                   asylo_status *status);
void asylo__kvm_watchdog_disarm(asylo__kvm_watchdog *watchdog);
/* Signals `thread` now. */
void asylo__kvm_watchdog_kick(pthread_t thread);

#endif
