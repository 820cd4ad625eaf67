/* The signature block of an enclave image and where it lives.
 *
 * Every image built with asylo_add_enclave reserves a zero-filled ELF section
 * `.asylo_sig` of exactly ASYLO__SIG_BLOCK_SIZE bytes (the trusted runtime
 * defines it). asylo-sign fills it; the measurement counts its bytes as zeros.
 * Layout (integers little-endian), also in docs/attestation.md:
 *
 *   offset size
 *      0     8  magic "ASYLOSIG"
 *      8     4  format version (1)
 *     12     4  algorithm (1: ECDSA P-256 with SHA-256)
 *     16     4  flags (bit 0: debug; other bits must be 0)
 *     20     4  product id
 *     24     4  security version (svn)
 *     28     4  reserved, 0
 *     32    32  measurement of the image
 *     64    65  signer public key, SEC1 uncompressed (0x04 || X || Y)
 *    129    64  ECDSA signature, raw r || s, over bytes [0, 129)
 *    193   319  zeros
 *
 * An all-zero block means "unsigned". Everything here parses untrusted bytes
 * and never trusts a size or offset it read. Shared by the host library, the
 * asylo-sign tool and (constants only) the trusted runtime. */
#ifndef ASYLO_IDENTITY_SIGBLOCK_H
#define ASYLO_IDENTITY_SIGBLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "asylo/status.h"

#define ASYLO__SIG_SECTION_NAME ".asylo_sig"
#define ASYLO__SIG_BLOCK_SIZE 512u
#define ASYLO__SIG_MAGIC "ASYLOSIG"
#define ASYLO__SIG_FORMAT_VERSION 1u
#define ASYLO__SIG_ALGORITHM_ECDSA_P256_SHA256 1u
#define ASYLO__SIG_FLAG_DEBUG 0x1u
#define ASYLO__SIG_SIGNED_SIZE 129u
#define ASYLO__SIG_USED_SIZE 193u

typedef struct asylo__sig_block {
    uint32_t format_version;
    uint32_t algorithm;
    uint32_t flags;
    uint32_t product_id;
    uint32_t svn;
    uint8_t measurement[32];
    uint8_t public_key[65];
    uint8_t signature[64];
} asylo__sig_block;

/* Where the block sits in an image file. */
typedef struct asylo__sig_location {
    size_t offset;
    size_t size;
} asylo__sig_location;

#ifndef ASYLO_TRUSTED_BUILD
/* Finds the `.asylo_sig` section in an ELF64 little-endian image held in
 * memory. NOT_FOUND when the image has none; DATA_LOSS when the ELF headers
 * are malformed or the section is duplicated, of the wrong size or type, or
 * outside the file. `path` only names the image in messages. */
asylo_code asylo__sig_locate(const uint8_t *image, size_t image_size, const char *path,
                             asylo__sig_location *location, asylo_status *status);

/* Decodes a block. NOT_FOUND when it is all zeros (unsigned); DATA_LOSS when
 * malformed; FAILED_PRECONDITION for a newer format version or an unknown
 * algorithm. Checks no signature. */
asylo_code asylo__sig_decode(const uint8_t *bytes, size_t size, asylo__sig_block *block,
                             asylo_status *status);

/* Encodes the fields of block except the signature into
 * bytes[0, ASYLO__SIG_BLOCK_SIZE) (the rest zero); the signature goes at
 * offset ASYLO__SIG_SIGNED_SIZE. */
void asylo__sig_encode(const asylo__sig_block *block, uint8_t bytes[ASYLO__SIG_BLOCK_SIZE]);
#endif

#endif
