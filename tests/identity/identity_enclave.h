/* Entry selectors of the identity test enclave and their wire layouts
 * (integers little-endian). */
#ifndef ASYLO_TESTS_IDENTITY_IDENTITY_ENCLAVE_H
#define ASYLO_TESTS_IDENTITY_IDENTITY_ENCLAVE_H

#include "asylo/selectors.h"

/* Runs every known-answer and negative crypto test inside the enclave.
 * out: u32 count of checks passed; a failure names the vector. */
#define IDENTITY_SELECTOR_KAT (ASYLO_SELECTOR_USER_FIRST + 0)
/* out: the asylo_enclave_identity struct as asylo_enclave_identity_get gave it. */
#define IDENTITY_SELECTOR_IDENTITY (ASYLO_SELECTOR_USER_FIRST + 1)
/* in: u32 policy, u32 aad size, aad, plaintext. out: the sealed blob. */
#define IDENTITY_SELECTOR_SEAL (ASYLO_SELECTOR_USER_FIRST + 2)
/* in: u32 aad size, aad, blob. out: the plaintext. */
#define IDENTITY_SELECTOR_UNSEAL (ASYLO_SELECTOR_USER_FIRST + 3)
/* in: u32 nonce size, nonce, user data. out: the evidence. */
#define IDENTITY_SELECTOR_EVIDENCE (ASYLO_SELECTOR_USER_FIRST + 4)

/* Local attestation, the verifying side. PEER_NONCE out: a fresh 32-byte
 * nonce this enclave remembers (the last one). PEER_VERIFY in: u32 flags
 * (bit 0: pin measurement), measurement[32], then another enclave's
 * evidence for that nonce; out: the verified measurement[32] || user data. */
#define IDENTITY_SELECTOR_PEER_NONCE (ASYLO_SELECTOR_USER_FIRST + 5)
#define IDENTITY_SELECTOR_PEER_VERIFY (ASYLO_SELECTOR_USER_FIRST + 6)

#endif
