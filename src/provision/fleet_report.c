/* Per-server reasons for a fleet provision that failed (see fleet_report.h). */
#include "provision/fleet_report.h"

#include <stdio.h>
#include <string.h>

#include "common/clock.h"
#include "transport/client_stream.h"

void asylo__fleet_report_add(asylo__fleet_report *attempts, const char *server,
                             const asylo_status *why) {
    size_t at = 0;
    while (at < attempts->count && strcmp(attempts->tried[at].server, server) != 0) {
        at++;
    }
    if (at == ASYLO__FLEET_MAX_SERVERS) {
        return;
    }
    if (at == attempts->count) {
        attempts->count++;
    }
    snprintf(attempts->tried[at].server, sizeof attempts->tried[at].server, "%s", server);
    attempts->tried[at].code = why->code;
    /* Transport messages start with the address: it is named already. */
    const char *message = why->message;
    size_t length = strlen(server);
    if (strncmp(message, server, length) == 0 && strncmp(message + length, ": ", 2) == 0) {
        message += length + 2;
    }
    snprintf(attempts->tried[at].why, sizeof attempts->tried[at].why, "%.199s", message);
}

bool asylo__fleet_report_has(const asylo__fleet_report *attempts, const char *server) {
    for (size_t i = 0; i < attempts->count; i++) {
        if (strcmp(attempts->tried[i].server, server) == 0) {
            return true;
        }
    }
    return false;
}

/* Asks every server of the fleet no call reached why, each on its own
 * channel within the time left (a dead server's connection is refused at
 * once; an unreachable one costs its share of the deadline). */
void asylo__fleet_report_diagnose(asylo__fleet_report *attempts, asylo__fleet_target *target,
                                  const asylo__security_options *security, int64_t deadline_ms) {
    asylo_status status;
    if (asylo__fleet_target_resolve(target, &status) != ASYLO_OK) {
        asylo__fleet_report_add(attempts, asylo__address_target(&target->dns_name), &status);
        return;
    }
    size_t left = 0;
    for (size_t i = 0; i < target->count; i++) {
        left += !asylo__fleet_report_has(attempts, asylo__address_target(&target->addresses[i]));
    }
    for (size_t i = 0; i < target->count; i++) {
        const char *name = asylo__address_target(&target->addresses[i]);
        if (asylo__fleet_report_has(attempts, name)) {
            continue;
        }
        int64_t share = (deadline_ms - asylo__monotonic_ms()) / (int64_t)(left > 0 ? left : 1);
        left--;
        asylo__channel_options options = {
            .address = name,
            .security = security,
            .connect_timeout_ms = share > 10 ? share : 10,
        };
        asylo__channel *channel = NULL;
        if (asylo__channel_open(&options, &channel, &status) == ASYLO_OK) {
            asylo__channel_close(channel);
            asylo_status_set(&status, ASYLO_UNAVAILABLE, ASYLO_ORIGIN_TRANSPORT,
                             "reachable now, but no provision reached it in time");
        }
        asylo__fleet_report_add(attempts, name, &status);
    }
}

/* The error of a fleet where no server took the enclave: RESOURCE_EXHAUSTED
 * when some server was full (the fleet is out of room), else the last
 * failure's code; the message names every server and what it said. */
asylo_code asylo__fleet_report_status(const asylo__fleet_report *attempts, const char *target_text,
                                      asylo_code last, asylo_status *status) {
    char text[ASYLO_STATUS_MESSAGE_SIZE];
    size_t used = 0;
    asylo_code code = last;
    for (size_t i = 0; i < attempts->count; i++) {
        if (attempts->tried[i].code == ASYLO_RESOURCE_EXHAUSTED) {
            code = ASYLO_RESOURCE_EXHAUSTED;
        }
    }
    /* Each server's reason is cut to share the message fairly. */
    size_t share = attempts->count > 0 ? (sizeof text - 160) / attempts->count : 0;
    for (size_t i = 0; i < attempts->count && used < sizeof text; i++) {
        int room = (int)(share > strlen(attempts->tried[i].server) + 24
                             ? share - strlen(attempts->tried[i].server) - 24
                             : 16);
        used +=
            (size_t)snprintf(text + used, sizeof text - used, "%s%s: %s: %.*s", i == 0 ? "" : "; ",
                             attempts->tried[i].server, asylo_code_name(attempts->tried[i].code),
                             room, attempts->tried[i].why);
    }
    return asylo_status_set(status, code, ASYLO_ORIGIN_BACKEND,
                            "no provision server of '%.120s' took the enclave (%zu tried): %s",
                            target_text, attempts->count, text);
}
