/* The proxy's life: set up, wait for the control stream to end (or for no
 * LOAD to come in time), tear down. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "proxy/proxy.h"

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
    return asylo_manager_create(&proxy->manager, status);
}

void asylo__proxy_fini(asylo__proxy *proxy) {
    /* Destroying the manager finalizes a still-running enclave and unloads it. */
    asylo_manager_destroy(proxy->manager);
    proxy->manager = NULL;
    proxy->client = NULL;
    pthread_cond_destroy(&proxy->changed);
    pthread_mutex_destroy(&proxy->lock);
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
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += load_timeout_ms / 1000;
    deadline.tv_nsec += (load_timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&proxy->lock);
    while (!proxy->finished) {
        if (proxy->loaded) {
            pthread_cond_wait(&proxy->changed, &proxy->lock);
        } else if (pthread_cond_timedwait(&proxy->changed, &proxy->lock, &deadline) ==
                       ETIMEDOUT &&
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
