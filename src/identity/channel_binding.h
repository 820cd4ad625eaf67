/* The channel binding of remote attestation (docs/attestation.md, "Remote
 * binding"): 32 bytes the proxy puts in the user data of the evidence it
 * returns for the host's nonce, and the host recomputes from what it sees of
 * the connection, so a token taken from another proxy or channel fails.
 *
 *   binding = SHA-256("asylo-c remote binding v1" || 0x00 || kind || SHA-256(value))
 *
 * kind 0x01 (TLS): value = the DER SubjectPublicKeyInfo of the proxy's TLS
 *   certificate (the leaf: the first certificate of the PEM).
 * kind 0x02 (local security): value = the proxy's one-time token (its bytes,
 *   no terminator; empty when the proxy has none). */
#ifndef ASYLO_IDENTITY_CHANNEL_BINDING_H
#define ASYLO_IDENTITY_CHANNEL_BINDING_H

#include <stddef.h>
#include <stdint.h>

#include "asylo/status.h"

#define ASYLO__BINDING_SIZE 32
#define ASYLO__BINDING_LABEL "asylo-c remote binding v1"
#define ASYLO__BINDING_KIND_TLS 0x01
#define ASYLO__BINDING_KIND_TOKEN 0x02

/* From a certificate in PEM (the first one is the proxy's own). DATA_LOSS when
 * no certificate or public key can be read from it; `what` names it in the
 * message. */
asylo_code asylo__binding_from_cert_pem(const char *pem, size_t pem_size, const char *what,
                                        uint8_t binding[ASYLO__BINDING_SIZE], asylo_status *status);
/* Same, reading the PEM file at path. */
asylo_code asylo__binding_from_cert_file(const char *path, uint8_t binding[ASYLO__BINDING_SIZE],
                                         asylo_status *status);
/* From a one-time token (NULL or "" for none). */
asylo_code asylo__binding_from_token(const char *token, uint8_t binding[ASYLO__BINDING_SIZE],
                                     asylo_status *status);

#endif
