/* What each server of a fleet said when none took a provision, and the one
 * status that names them all (server_provision.c). */
#ifndef ASYLO_PROVISION_FLEET_REPORT_H
#define ASYLO_PROVISION_FLEET_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "asylo/status.h"
#include "provision/fleet_target.h"
#include "transport/security.h"

typedef struct asylo__fleet_report {
    size_t count;
    struct {
        char server[ASYLO__ADDRESS_MAX_HOST + 16];
        asylo_code code;
        char why[200];
    } tried[ASYLO__FLEET_MAX_SERVERS];
} asylo__fleet_report;

/* Records (or replaces) what server said. */
void asylo__fleet_report_add(asylo__fleet_report *report, const char *server,
                             const asylo_status *why);
bool asylo__fleet_report_has(const asylo__fleet_report *report, const char *server);
/* Asks every server of target that no call reached why, each on its own
 * channel, sharing the time left until deadline_ms (a dead server's
 * connection is refused at once). A dns: target is resolved first. */
void asylo__fleet_report_diagnose(asylo__fleet_report *report, asylo__fleet_target *target,
                                  const asylo__security_options *security, int64_t deadline_ms);
/* The status when no server took the enclave: RESOURCE_EXHAUSTED when one
 * was full (the fleet is out of room), else `last`; the message names
 * target_text and every server with its code and reason. */
asylo_code asylo__fleet_report_status(const asylo__fleet_report *report, const char *target_text,
                                      asylo_code last, asylo_status *status);

#endif
