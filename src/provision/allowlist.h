/* The image allowlist of asylo-provision-server: a text file with one SHA-256
 * (64 hex digits) per line; blank lines and lines starting with '#' are
 * ignored. Anything else is an error naming the line. */
#ifndef ASYLO_PROVISION_ALLOWLIST_H
#define ASYLO_PROVISION_ALLOWLIST_H

#include <stddef.h>
#include <stdint.h>

#include "asylo/status.h"
#include "provision/image_store.h"

asylo_code asylo__allowlist_load(const char *path, uint8_t (**entries)[ASYLO__SHA256_SIZE],
                                 size_t *count, asylo_status *status);
/* Parses one 64-digit hex SHA-256; false when it is not one. */
int asylo__sha256_parse(const char *text, size_t length, uint8_t digest[ASYLO__SHA256_SIZE]);

#endif
