/* The software platform root, the choice between it and the TPM root, and
 * the derivation of sealing keys from the chosen root. */
#include "identity/platform.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "asylo/crypto.h"

static asylo_code errno_status(asylo_status *status, int error, const char *what,
                               const char *path) {
    asylo_code code = error == ENOENT || error == ENOTDIR ? ASYLO_NOT_FOUND
                      : error == EACCES || error == EPERM || error == EROFS
                          ? ASYLO_PERMISSION_DENIED
                          : ASYLO_UNAVAILABLE;
    return asylo_status_set(status, code, ASYLO_ORIGIN_BACKEND,
                            "%s '%s' (set ASYLO_STATE_DIR to a private writable directory): %s",
                            what, path, strerror(error));
}

/* mkdir -p with mode 0700 for the components we create. */
static asylo_code make_directories(char *path, asylo_status *status) {
    for (char *slash = strchr(path + 1, '/');; slash = strchr(slash + 1, '/')) {
        if (slash != NULL) {
            *slash = '\0';
        }
        if (path[0] != '\0' && mkdir(path, 0700) != 0 && errno != EEXIST) {
            int error = errno;
            if (slash != NULL) {
                *slash = '/';
            }
            return errno_status(status, error, "cannot create the asylo state directory", path);
        }
        if (slash == NULL) {
            break;
        }
        *slash = '/';
    }
    return ASYLO_OK;
}

asylo_code asylo__platform_state_dir(char *path, size_t path_size, asylo_status *status) {
    const char *state = getenv("ASYLO_STATE_DIR");
    const char *xdg = getenv("XDG_STATE_HOME");
    const char *home = getenv("HOME");
    int length;
    if (state != NULL && state[0] != '\0') {
        length = snprintf(path, path_size, "%s", state);
    } else if (xdg != NULL && xdg[0] == '/') {
        length = snprintf(path, path_size, "%s/asylo", xdg);
    } else if (home != NULL && home[0] == '/') {
        length = snprintf(path, path_size, "%s/.local/state/asylo", home);
    } else {
        return asylo_status_set(status, ASYLO_FAILED_PRECONDITION, ASYLO_ORIGIN_BACKEND,
                                "no state directory for the platform root: set ASYLO_STATE_DIR "
                                "(or HOME)");
    }
    if (length < 0 || (size_t)length >= path_size) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_BACKEND,
                                "the asylo state directory path is too long");
    }
    asylo_code code = make_directories(path, status);
    return code != ASYLO_OK ? code : asylo_status_ok(status);
}

static asylo_code read_secret(int fd, const char *path, uint8_t root[ASYLO__ROOT_SIZE],
                              asylo_status *status) {
    struct stat info;
    if (fstat(fd, &info) != 0) {
        return errno_status(status, errno, "cannot stat the platform root", path);
    }
    if (!S_ISREG(info.st_mode) || info.st_size != ASYLO__ROOT_SIZE) {
        return asylo_status_set(status, ASYLO_DATA_LOSS, ASYLO_ORIGIN_BACKEND,
                                "platform secret '%s' is not a %d-byte regular file", path,
                                ASYLO__ROOT_SIZE);
    }
    if ((info.st_mode & 077) != 0 || info.st_uid != geteuid()) {
        return asylo_status_set(status, ASYLO_PERMISSION_DENIED, ASYLO_ORIGIN_BACKEND,
                                "platform secret '%s' has mode %04o or another owner: it must be "
                                "mode 0600 and owned by the user running enclaves",
                                path, (unsigned)(info.st_mode & 07777));
    }
    size_t filled = 0;
    while (filled < ASYLO__ROOT_SIZE) {
        ssize_t got = pread(fd, root + filled, ASYLO__ROOT_SIZE - filled, (off_t)filled);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            return asylo_status_set(status, ASYLO_DATA_LOSS, ASYLO_ORIGIN_BACKEND,
                                    "cannot read platform secret '%s'", path);
        }
        filled += (size_t)got;
    }
    return asylo_status_ok(status);
}

/* Writes a fresh root to a temporary file and links it into place, so two
 * processes starting at once agree on one root (link fails with EEXIST for
 * the loser, who then reads the winner's). */
typedef asylo_code (*secret_generator)(uint8_t secret[ASYLO__ROOT_SIZE], asylo_status *status);

static asylo_code random_secret(uint8_t secret[ASYLO__ROOT_SIZE], asylo_status *status) {
    return asylo_random_bytes(secret, ASYLO__ROOT_SIZE, status);
}

static asylo_code p256_secret(uint8_t secret[ASYLO__ROOT_SIZE], asylo_status *status) {
    uint8_t public_key[ASYLO_P256_PUBLIC_KEY_SIZE];
    return asylo_p256_generate(secret, public_key, status);
}

static asylo_code create_secret(const char *directory, const char *path, secret_generator generate,
                                asylo_status *status) {
    char temporary[PATH_MAX];
    int length = snprintf(temporary, sizeof temporary, "%s/.platform-secret-XXXXXX", directory);
    if (length < 0 || (size_t)length >= sizeof temporary) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_BACKEND,
                                "the asylo state directory path is too long");
    }
    int fd = mkostemp(temporary, O_CLOEXEC);
    if (fd < 0) {
        return errno_status(status, errno, "cannot create the platform root in", directory);
    }
    asylo_code code = ASYLO_OK;
    uint8_t root[ASYLO__ROOT_SIZE];
    if (fchmod(fd, 0600) != 0) {
        code = errno_status(status, errno, "cannot restrict", temporary);
        goto out;
    }
    code = generate(root, status);
    if (code != ASYLO_OK) {
        goto out;
    }
    if (write(fd, root, sizeof root) != (ssize_t)sizeof root || fsync(fd) != 0) {
        code = errno_status(status, errno, "cannot write the platform root", temporary);
        goto out;
    }
    if (link(temporary, path) != 0 && errno != EEXIST) {
        code = errno_status(status, errno, "cannot create the platform root", path);
        goto out;
    }
    code = asylo_status_ok(status);
out:
    asylo_crypto_wipe(root, sizeof root);
    close(fd);
    unlink(temporary);
    return code;
}

static asylo_code platform_secret(const char *name, secret_generator generate,
                                  uint8_t root[ASYLO__ROOT_SIZE], asylo_status *status) {
    char directory[PATH_MAX - 32];
    asylo_code code = asylo__platform_state_dir(directory, sizeof directory, status);
    if (code != ASYLO_OK) {
        return code;
    }
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", directory, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT) {
        code = create_secret(directory, path, generate, status);
        if (code != ASYLO_OK) {
            return code;
        }
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    }
    if (fd < 0) {
        return errno_status(status, errno, "cannot open the platform secret", path);
    }
    code = read_secret(fd, path, root, status);
    close(fd);
    return code;
}

static asylo_code software_sealing_root(uint8_t root[ASYLO__ROOT_SIZE], asylo_status *status) {
    return platform_secret(ASYLO__SEAL_ROOT_FILE, random_secret, root, status);
}

static asylo_code software_key(uint8_t private_key[32], uint8_t public_key[65],
                               asylo_status *status) {
    asylo_code code =
        platform_secret(ASYLO__ATTESTATION_KEY_FILE, p256_secret, private_key, status);
    if (code == ASYLO_OK) {
        code = asylo_p256_public_key(private_key, public_key, status);
    }
    if (code != ASYLO_OK) {
        asylo_crypto_wipe(private_key, 32);
    }
    return code;
}

static asylo_code software_public_key(uint8_t public_key[65], asylo_status *status) {
    uint8_t private_key[32];
    asylo_code code = software_key(private_key, public_key, status);
    asylo_crypto_wipe(private_key, sizeof private_key);
    return code;
}

static asylo_code software_attest(const uint8_t measurement[32], const uint8_t *nonce,
                                  size_t nonce_size, bool quote_wanted,
                                  asylo__attest_encoder encode, void *context,
                                  uint8_t signature[64], asylo_status *status) {
    (void)measurement;
    (void)nonce;
    (void)nonce_size;
    (void)quote_wanted; /* a software root cannot quote */
    uint8_t private_key[32], public_key[65];
    uint8_t *to_sign = NULL;
    size_t to_sign_size = 0;
    asylo_code code = software_key(private_key, public_key, status);
    if (code == ASYLO_OK) {
        code = encode(context, public_key, NULL, &to_sign, &to_sign_size, status);
    }
    if (code == ASYLO_OK) {
        code = asylo_p256_sign(private_key, to_sign, to_sign_size, signature, status);
    }
    asylo_crypto_wipe(private_key, sizeof private_key);
    free(to_sign);
    return code;
}

const asylo__platform_root_ops asylo__software_root = {
    .name = ASYLO__ROOT_NAME_SOFTWARE,
    .sealing_root = software_sealing_root,
    .attestation_public_key = software_public_key,
    .attest = software_attest,
};

asylo_code asylo__platform_root_get(const asylo__platform_root_ops **ops, asylo_status *status) {
    const char *root = getenv("ASYLO_PLATFORM_ROOT");
    const char *tcti = getenv("ASYLO_TPM_TCTI");
    if (root == NULL || root[0] == '\0') {
        root = tcti != NULL && tcti[0] != '\0' ? ASYLO__ROOT_NAME_TPM : ASYLO__ROOT_NAME_SOFTWARE;
    }
    if (strcmp(root, ASYLO__ROOT_NAME_SOFTWARE) == 0) {
        *ops = &asylo__software_root;
    } else if (strcmp(root, ASYLO__ROOT_NAME_TPM) == 0) {
        *ops = &asylo__tpm_root;
    } else {
        *ops = NULL;
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_BACKEND,
                                "ASYLO_PLATFORM_ROOT='%s' names no platform root: use 'software' "
                                "or 'tpm'",
                                root);
    }
    return ASYLO_OK;
}

asylo_code asylo__platform_root(uint8_t root[ASYLO__ROOT_SIZE], asylo_status *status) {
    const asylo__platform_root_ops *ops = NULL;
    asylo_code code = asylo__platform_root_get(&ops, status);
    return code != ASYLO_OK ? code : ops->sealing_root(root, status);
}

asylo_code asylo__platform_attestation_public_key(uint8_t public_key[65], asylo_status *status) {
    const asylo__platform_root_ops *ops = NULL;
    asylo_code code = asylo__platform_root_get(&ops, status);
    return code != ASYLO_OK ? code : ops->attestation_public_key(public_key, status);
}

static void put_u32(uint8_t *bytes, uint32_t value) {
    for (int i = 0; i < 4; i++) {
        bytes[i] = (uint8_t)(value >> (8 * i));
    }
}

asylo_code asylo__seal_key_derive(const asylo_enclave_identity *identity, uint32_t policy,
                                  const uint8_t key_id[ASYLO__SEAL_KEY_ID_SIZE], uint32_t svn,
                                  uint8_t key[32], asylo_status *status) {
    static const char label[] = "asylo-c seal key v1";
    uint8_t info[sizeof label - 1 + 1 + 32 + 4 + 4];
    memcpy(info, label, sizeof label - 1);
    uint8_t *field = info + sizeof label - 1;
    if (policy == 1) {
        field[0] = 1;
        memcpy(field + 1, identity->measurement, 32);
        put_u32(field + 33, 0);
        put_u32(field + 37, 0);
    } else if (policy == 2) {
        if (!identity->is_signed) {
            return asylo_status_set(status, ASYLO_FAILED_PRECONDITION, ASYLO_ORIGIN_BACKEND,
                                    "seal key: the signer policy needs a signed image; this one "
                                    "is unsigned (use the measurement policy or sign it)");
        }
        if (svn > identity->svn) {
            return asylo_status_set(status, ASYLO_PERMISSION_DENIED, ASYLO_ORIGIN_BACKEND,
                                    "seal key: signer policy for svn %u refused to an enclave at "
                                    "svn %u (keys of later versions are never given out)",
                                    svn, identity->svn);
        }
        field[0] = 2;
        memcpy(field + 1, identity->signer_id, 32);
        put_u32(field + 33, identity->product_id);
        put_u32(field + 37, svn);
    } else {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_BACKEND,
                                "seal key: unknown policy %u (1 measurement, 2 signer)", policy);
    }
    uint8_t root[ASYLO__ROOT_SIZE];
    asylo_code code = asylo__platform_root(root, status);
    if (code == ASYLO_OK) {
        code = asylo_hkdf_sha256(key_id, ASYLO__SEAL_KEY_ID_SIZE, root, sizeof root, info,
                                 sizeof info, key, 32, status);
    }
    asylo_crypto_wipe(root, sizeof root);
    return code;
}
