/* The built-in exits about the enclave itself (selectors IDENTITY and
 * SEAL_KEY in asylo/selectors.h), answered by the backend that loaded the
 * image from what it verified at load, never by the host application (whose
 * handlers cannot override them). Wire layout:
 *
 *   IDENTITY  in: nothing
 *             out: 112 bytes: u32 version (1), measurement[32], signer_id[32],
 *                  u32 product_id, u32 svn, u32 flags (bit 0 signed, bit 1
 *                  debug), backend name[32] (NUL-padded)
 *   SEAL_KEY  in: 24 bytes: u32 policy, key_id[16], u32 svn
 *             out: 32 bytes: the AES-256-GCM key
 *   EVIDENCE  in: u32 nonce size, nonce, u32 user data size, user data
 *             out: the evidence (docs/attestation.md), at most
 *                  ASYLO_EVIDENCE_MAX_SIZE bytes
 *   VERIFY_EVIDENCE (local attestation)
 *             in: u32 flags (bit 0 expect measurement, bit 1 expect signer,
 *                 bit 2 check product id, bit 3 allow debug; others 0),
 *                 measurement[32], signer_id[32], u32 product_id,
 *                 u32 min_svn, u32 nonce size, nonce, then the evidence
 *                 (the rest, at most ASYLO_EVIDENCE_MAX_SIZE bytes)
 *             out: identity (the IDENTITY layout, 112 bytes), root[32]
 *                  (NUL-padded), i64 issued_at, ueid[33], user data (the rest)
 *
 * Integers little-endian. */
#ifndef ASYLO_IDENTITY_IDENTITY_EXITS_H
#define ASYLO_IDENTITY_IDENTITY_EXITS_H

#include <stddef.h>
#include <stdint.h>

#include "asylo/buffer.h"
#include "asylo/identity.h"
#include "asylo/status.h"

#define ASYLO__IDENTITY_WIRE_VERSION 1u
#define ASYLO__IDENTITY_WIRE_SIZE 112u
#define ASYLO__SEAL_KEY_REQUEST_SIZE 24u
#define ASYLO__IDENTITY_FLAG_SIGNED 0x1u
#define ASYLO__IDENTITY_FLAG_DEBUG 0x2u
#define ASYLO__VERIFY_HEADER_SIZE 80u
#define ASYLO__VERIFY_EXPECT_MEASUREMENT 0x1u
#define ASYLO__VERIFY_EXPECT_SIGNER 0x2u
#define ASYLO__VERIFY_CHECK_PRODUCT 0x4u
#define ASYLO__VERIFY_ALLOW_DEBUG 0x8u
#define ASYLO__VERIFY_FLAGS 0xfu
#define ASYLO__VERIFY_ANSWER_HEADER_SIZE (ASYLO__IDENTITY_WIRE_SIZE + 32u + 8u + 33u)

/* The IDENTITY answer layout, decoded with its shape checked (both sides
 * build it; the enclave decodes it). 0 when malformed. */
int asylo__identity_wire_decode(const uint8_t *wire, size_t size, asylo_enclave_identity *identity);

/* 1 when `selector` is one of the exits answered here. */
int asylo__identity_exit_is_builtin(uint32_t selector);

#ifndef ASYLO_TRUSTED_BUILD
/* Answers one of them for the enclave whose identity is given. */
asylo_code asylo__identity_exit(const asylo_enclave_identity *identity, uint32_t selector,
                                const uint8_t *input, size_t input_size, asylo_output *output,
                                asylo_status *status);
#endif

#endif
