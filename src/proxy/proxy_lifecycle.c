/* The proxy's life: set up, wait for the control stream to end (or for no
 * LOAD to come in time), tear down, and never outlive its host by more than
 * a bound (the exit watchdog). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "asylo/selectors.h"
#include "common/clock.h"
#include "common/log.h"
#include "identity/channel_binding.h"
#include "proxy/proxy.h"

const char *asylo__proxy_enclave_name(asylo__proxy *proxy) {
    pthread_mutex_lock(&proxy->lock);
    bool loaded = proxy->loaded;
    pthread_mutex_unlock(&proxy->lock);
    /* name is written once, before loaded is set, and never again. */
    return loaded ? proxy->name : NULL;
}

const char *asylo__proxy_selector_name(uint32_t selector) {
    switch (selector) {
    case ASYLO_SELECTOR_INITIALIZE:
        return "initialize";
    case ASYLO_SELECTOR_RUN:
        return "run";
    case ASYLO_SELECTOR_FINALIZE:
        return "finalize";
    case ASYLO_SELECTOR_REMOTE_LOAD:
        return "load";
    case ASYLO_SELECTOR_LOG:
        return "log";
    case ASYLO_SELECTOR_TIME_WALL:
    case ASYLO_SELECTOR_TIME_MONOTONIC:
        return "time";
    case ASYLO_SELECTOR_RANDOM:
        return "random";
    case ASYLO_SELECTOR_FILE_OPEN:
    case ASYLO_SELECTOR_FILE_READ:
    case ASYLO_SELECTOR_FILE_WRITE:
    case ASYLO_SELECTOR_FILE_CLOSE:
    case ASYLO_SELECTOR_FILE_UNLINK:
    case ASYLO_SELECTOR_FILE_SEEK:
    case ASYLO_SELECTOR_FILE_STAT:
    case ASYLO_SELECTOR_FILE_FSTAT:
        return "file";
    case ASYLO_SELECTOR_REMOTE_ATTEST:
        return "attest";
    default:
        return selector >= ASYLO_SELECTOR_USER_FIRST ? "user" : "unknown";
    }
}

asylo_code asylo__proxy_init(asylo__proxy *proxy, const asylo__proxy_options *options,
                             asylo_status *status) {
    memset(proxy, 0, sizeof *proxy);
    proxy->options = *options;
    pthread_mutex_init(&proxy->lock, NULL);
    pthread_condattr_t attributes;
    pthread_condattr_init(&attributes);
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
    pthread_cond_init(&proxy->changed, &attributes);
    pthread_condattr_destroy(&attributes);
    atomic_init(&proxy->next_call_id, 1);
    asylo__call_cache_init(&proxy->calls, options->metrics);
    asylo_code code =
        options->server_cert != NULL
            ? asylo__binding_from_cert_file(options->server_cert, proxy->channel_binding, status)
            : asylo__binding_from_token(options->token, proxy->channel_binding, status);
    if (code != ASYLO_OK) {
        return code;
    }
    return asylo_manager_create(&proxy->manager, status);
}

void asylo__proxy_fini(asylo__proxy *proxy) {
    /* Destroying the manager finalizes a still-running enclave and unloads it. */
    if (proxy->client != NULL) {
        asylo__log(ASYLO_LOG_INFO, "proxy", proxy->name, 0, "unloading the enclave");
    }
    asylo_manager_destroy(proxy->manager);
    proxy->manager = NULL;
    proxy->client = NULL;
    if (proxy->enclave_counted) {
        proxy->enclave_counted = false;
        asylo__metrics_enclaves_loaded_add(proxy->options.metrics, -1);
    }
    asylo__call_cache_fini(&proxy->calls);
    pthread_cond_destroy(&proxy->changed);
    pthread_mutex_destroy(&proxy->lock);
}

bool asylo__proxy_finishing(asylo__proxy *proxy) {
    pthread_mutex_lock(&proxy->lock);
    bool finished = proxy->finished;
    pthread_mutex_unlock(&proxy->lock);
    return finished;
}

void asylo__proxy_finish(asylo__proxy *proxy, const char *reason) {
    pthread_mutex_lock(&proxy->lock);
    if (!proxy->finished) {
        proxy->finished = true;
        snprintf(proxy->finish_reason, sizeof proxy->finish_reason, "%s", reason);
        pthread_cond_broadcast(&proxy->changed);
    }
    pthread_mutex_unlock(&proxy->lock);
}

bool asylo__proxy_wait(asylo__proxy *proxy, int64_t load_timeout_ms) {
    struct timespec deadline;
    asylo__timespec_after_ms(&deadline, load_timeout_ms);
    pthread_mutex_lock(&proxy->lock);
    while (!proxy->finished) {
        if (proxy->loaded) {
            pthread_cond_wait(&proxy->changed, &proxy->lock);
        } else if (pthread_cond_timedwait(&proxy->changed, &proxy->lock, &deadline) == ETIMEDOUT &&
                   !proxy->loaded) {
            proxy->finished = true;
            snprintf(proxy->finish_reason, sizeof proxy->finish_reason,
                     "no host loaded an enclave within %lld ms", (long long)load_timeout_ms);
        }
    }
    bool loaded = proxy->loaded;
    asylo__log(ASYLO_LOG_INFO, "proxy", loaded ? proxy->name : NULL, 0, "finishing: %s",
               proxy->finish_reason);
    pthread_mutex_unlock(&proxy->lock);
    return loaded;
}

/* What the watchdog needs, copied: it must not touch the proxy, which the
 * main thread tears down meanwhile. */
static char watchdog_name[ASYLO_MAX_ENCLAVE_NAME_SIZE];
static int64_t watchdog_bound_ms;

static void *exit_watchdog(void *context) {
    (void)context;
    struct timespec delay = {(time_t)(watchdog_bound_ms / 1000),
                             (long)(watchdog_bound_ms % 1000) * 1000000L};
    while (nanosleep(&delay, &delay) != 0) {
    }
    asylo__log(ASYLO_LOG_ERROR, "proxy", watchdog_name[0] ? watchdog_name : NULL, 0,
               "shutdown did not finish within %lld ms of the host going away (the enclave "
               "does not return from a call): exiting now without finalizing it",
               (long long)watchdog_bound_ms);
    /* _exit: no atexit handlers or library destructors that could wait on
     * the stuck thread too. */
    _exit(ASYLO__PROXY_WATCHDOG_EXIT_CODE);
    return NULL;
}

void asylo__proxy_start_exit_watchdog(asylo__proxy *proxy, int64_t bound_ms) {
    const char *name = asylo__proxy_enclave_name(proxy);
    snprintf(watchdog_name, sizeof watchdog_name, "%s", name != NULL ? name : "");
    watchdog_bound_ms = bound_ms > 0 ? bound_ms : 1;
    pthread_attr_t attributes;
    pthread_attr_init(&attributes);
    pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
    pthread_t thread;
    if (pthread_create(&thread, &attributes, exit_watchdog, NULL) != 0) {
        asylo__log(ASYLO_LOG_WARNING, "proxy", watchdog_name[0] ? watchdog_name : NULL, 0,
                   "cannot start the exit watchdog: shutdown is unbounded");
    }
    pthread_attr_destroy(&attributes);
}
