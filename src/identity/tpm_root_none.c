/* The TPM platform root in a build without tpm2-tss (libtss2-dev): selecting
 * it fails with a status saying so, never with a silent software root. */
#include "identity/platform.h"
#include "identity/tpm_quote.h"

static asylo_code unavailable(asylo_status *status) {
    return asylo_status_set(status, ASYLO_UNIMPLEMENTED, ASYLO_ORIGIN_BACKEND,
                            "the TPM platform root (ASYLO_PLATFORM_ROOT=tpm or ASYLO_TPM_TCTI) "
                            "needs asylo-c built with tpm2-tss (Debian libtss2-dev); this build "
                            "has only the software root");
}

static asylo_code no_sealing_root(uint8_t root[ASYLO__ROOT_SIZE], asylo_status *status) {
    (void)root;
    return unavailable(status);
}

static asylo_code no_public_key(uint8_t public_key[65], asylo_status *status) {
    (void)public_key;
    return unavailable(status);
}

static asylo_code no_attest(const uint8_t measurement[32], const uint8_t *nonce, size_t nonce_size,
                            bool quote_wanted, asylo__attest_encoder encode, void *context,
                            uint8_t signature[64], asylo_status *status) {
    (void)measurement;
    (void)nonce;
    (void)nonce_size;
    (void)quote_wanted;
    (void)encode;
    (void)context;
    (void)signature;
    return unavailable(status);
}

asylo_code asylo__tpm_root_quote_pcr(unsigned pcr, const uint8_t measurement[32],
                                     const uint8_t *nonce, size_t nonce_size,
                                     asylo__tpm_quote *quote, asylo_status *status) {
    (void)pcr;
    (void)measurement;
    (void)nonce;
    (void)nonce_size;
    (void)quote;
    return unavailable(status);
}

const asylo__platform_root_ops asylo__tpm_root = {
    .name = ASYLO__ROOT_NAME_TPM,
    .sealing_root = no_sealing_root,
    .attestation_public_key = no_public_key,
    .attest = no_attest,
};
