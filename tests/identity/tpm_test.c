/* The TPM platform root against a real software TPM (swtpm), one fresh TPM
 * per test group (argv[1]):
 *
 *   evidence  evidence from an enclave on sim says root `tpm` and carries a
 *             quote that the C verifier and verify_evidence.py (written from
 *             docs/attestation.md) accept; tokens the TPM key signs around a
 *             wrong quote (another nonce, measurement or PCR, truncated,
 *             bit-flipped) are refused by both, the C verifier naming the
 *             check; no key file is written.
 *   seal      sealing round-trips across two loads, is refused for another
 *             image, and a blob sealed under one TPM does not unseal under a
 *             fresh TPM nor under the software root; an unreachable TPM is
 *             UNAVAILABLE naming the TCTI.
 *   remote    the same root behind asylo-remote-proxy: remote attestation
 *             with a pinned measurement passes, sealing round-trips.
 *
 * Exits 77 (skipped) with the reason when swtpm is not installed or asylo-c
 * was built without tpm2-tss. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "asylo/asylo.h"
#include "asylo/attestation.h"
#include "asylo/identity.h"
#include "asylo/seal.h"
#include "common/bytes_output.h"
#include "identity/evidence.h"
#include "identity/image_identity.h"
#include "identity/platform.h"
#include "identity/tpm_quote.h"
#include "identity_enclave.h"
#include "remote_util.h"

typedef struct swtpm {
    pid_t pid;
    int port;
    char dir[UTIL_PATH_SIZE];
} swtpm;

static char temp_dir[UTIL_PATH_SIZE];
static char state_dir[UTIL_PATH_SIZE];
static asylo_manager *manager;
static swtpm tpm_a;
static const char *backend = "sim";
static util_remote remote;

/* A free loopback TCP port, as the kernel picks it for port 0. */
static int free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t size = sizeof address;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&address, sizeof address) == 0 &&
        getsockname(fd, (struct sockaddr *)&address, &size) == 0) {
        port = ntohs(address.sin_port);
    }
    if (fd >= 0) {
        close(fd);
    }
    return port;
}

static bool port_answers(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in address = {.sin_family = AF_INET,
                                  .sin_port = htons((uint16_t)port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&address, sizeof address) == 0;
    if (fd >= 0) {
        close(fd);
    }
    return ok;
}

static void swtpm_stop(swtpm *tpm) {
    if (tpm->pid > 0) {
        kill(tpm->pid, SIGTERM);
        int wait_status;
        if (!util_wait_child(tpm->pid, 5000, &wait_status)) {
            kill(tpm->pid, SIGKILL);
            util_wait_child(tpm->pid, 5000, &wait_status);
        }
        tpm->pid = 0;
    }
}

/* Starts `swtpm socket` with a fresh state in dir on a free port P (its
 * control channel on P + 1, where the swtpm TCTI looks for it). A port taken
 * between our probe and swtpm's bind makes swtpm exit: try another. */
static bool swtpm_start(swtpm *tpm, const char *name) {
    util_join(tpm->dir, sizeof tpm->dir, temp_dir, name);
    char state_arg[UTIL_PATH_SIZE + 16], server[64], ctrl[64];
    snprintf(state_arg, sizeof state_arg, "dir=%s", tpm->dir);
    for (int attempt = 0; attempt < 20; attempt++) {
        if (mkdir(tpm->dir, 0700) != 0 && errno != EEXIST) {
            return false;
        }
        tpm->port = free_port();
        if (tpm->port <= 0 || tpm->port >= 65535 || port_answers(tpm->port + 1)) {
            continue;
        }
        snprintf(server, sizeof server, "type=tcp,port=%d,bindaddr=127.0.0.1", tpm->port);
        snprintf(ctrl, sizeof ctrl, "type=tcp,port=%d,bindaddr=127.0.0.1", tpm->port + 1);
        pid_t pid = fork();
        if (pid == 0) {
            int null = open("/dev/null", O_WRONLY);
            dup2(null, 1);
            execlp("swtpm", "swtpm", "socket", "--tpm2", "--tpmstate", state_arg, "--server",
                   server, "--ctrl", ctrl, "--flags", "not-need-init,startup-clear", (char *)NULL);
            _exit(127);
        }
        if (pid < 0) {
            return false;
        }
        tpm->pid = pid;
        int64_t deadline = util_now_ms() + 10000;
        while (util_now_ms() < deadline && util_process_exists(pid) &&
               !(port_answers(tpm->port) && port_answers(tpm->port + 1))) {
            int wait_status;
            if (waitpid(pid, &wait_status, WNOHANG) == pid) {
                tpm->pid = 0;
                break;
            }
            util_sleep_ms(20);
        }
        if (tpm->pid != 0 && port_answers(tpm->port) && port_answers(tpm->port + 1)) {
            char tcti[96];
            snprintf(tcti, sizeof tcti, "swtpm:host=127.0.0.1,port=%d", tpm->port);
            setenv("ASYLO_TPM_TCTI", tcti, 1);
            return true;
        }
        swtpm_stop(tpm);
        util_rmtree(tpm->dir);
    }
    return false;
}

static asylo_client *load(const char *path) {
    asylo_load_config config;
    asylo_load_config_init(&config);
    config.name = "tpm";
    config.backend = backend;
    config.enclave_path = path;
    if (strcmp(backend, "remote") == 0) {
        config.backend_config = &remote.config;
    }
    asylo_client *client = NULL;
    asylo_status status;
    if (asylo_manager_load(manager, &config, &client, &status) != ASYLO_OK) {
        fail_msg("loading %s: %s", path, util_status_text(&status));
    }
    return client;
}

static void unload(asylo_client *client) {
    asylo_status status;
    assert_int_equal(asylo_manager_destroy_client(manager, client, NULL, 0, &status), ASYLO_OK);
}

static void put_u32(uint8_t *bytes, uint32_t value) {
    for (int i = 0; i < 4; i++) {
        bytes[i] = (uint8_t)(value >> (8 * i));
    }
}

static asylo_code call_in(const char *path, uint32_t selector, const uint8_t *input, size_t size,
                          asylo_buffer *output, asylo_status *status) {
    asylo_client *client = load(path);
    asylo_code code = asylo_client_call(client, selector, input, size, output, status);
    unload(client);
    return code;
}

static void no_key_files(void) {
    char path[UTIL_PATH_SIZE];
    util_join(path, sizeof path, state_dir, ASYLO__SEAL_ROOT_FILE);
    assert_false(util_exists(path));
    util_join(path, sizeof path, state_dir, ASYLO__ATTESTATION_KEY_FILE);
    assert_false(util_exists(path));
}

/* ---- evidence ---- */

static uint8_t nonce[32];
static uint8_t platform_key[ASYLO_PLATFORM_KEY_SIZE];
static asylo_attestation_claims good_claims;
static uint8_t expected_measurement[32];

static void write_bytes(const char *name, const uint8_t *data, size_t size, char *path) {
    util_join(path, UTIL_PATH_SIZE, temp_dir, name);
    FILE *file = fopen(path, "wb");
    assert_non_null(file);
    assert_int_equal(fwrite(data, 1, size, file), size);
    assert_int_equal(fclose(file), 0);
}

/* Tokens for verify_evidence.py, checked in one interpreter start (each
 * start costs a second or more on a loaded machine). */
#define MAX_PYTHON_CASES 24
typedef struct python_case {
    char name[64];
    bool accept;
} python_case;
static python_case python_cases[MAX_PYTHON_CASES];
static int python_case_count;
static FILE *python_batch;

static void python_expect(const char *name, const uint8_t *token, size_t size,
                          const uint8_t *token_nonce, bool accept) {
    assert_true(python_case_count < MAX_PYTHON_CASES);
    char token_name[32], token_path[UTIL_PATH_SIZE], key_path[UTIL_PATH_SIZE];
    snprintf(token_name, sizeof token_name, "candidate-%d.cbor", python_case_count);
    write_bytes(token_name, token, size, token_path);
    write_bytes("platform.pub", platform_key, sizeof platform_key, key_path);
    if (python_batch == NULL) {
        char batch_path[UTIL_PATH_SIZE];
        util_join(batch_path, sizeof batch_path, temp_dir, "batch.txt");
        python_batch = fopen(batch_path, "w");
        assert_non_null(python_batch);
    }
    char nonce_hex[65], measurement_hex[65];
    asylo__hex(token_nonce, 32, nonce_hex);
    asylo__hex(expected_measurement, 32, measurement_hex);
    fprintf(python_batch, "%s %s %s %s\n", token_path, key_path, nonce_hex, measurement_hex);
    python_case *entry = &python_cases[python_case_count++];
    snprintf(entry->name, sizeof entry->name, "%s", name);
    entry->accept = accept;
}

/* Runs verify_evidence.py on every token queued and compares its verdicts. */
static void python_check_all(void) {
    assert_non_null(python_batch);
    assert_int_equal(fclose(python_batch), 0);
    python_batch = NULL;
    char batch_path[UTIL_PATH_SIZE], out_path[UTIL_PATH_SIZE];
    util_join(batch_path, sizeof batch_path, temp_dir, "batch.txt");
    util_join(out_path, sizeof out_path, temp_dir, "verdicts.txt");
    char command[3 * UTIL_PATH_SIZE];
    snprintf(command, sizeof command, "/usr/bin/python3 '%s' --batch '%s' > '%s'", VERIFY_PY,
             batch_path, out_path);
    int result = system(command);
    assert_true(WIFEXITED(result) && WEXITSTATUS(result) == 0);
    FILE *verdicts = fopen(out_path, "r");
    assert_non_null(verdicts);
    char line[512];
    for (int i = 0; i < python_case_count; i++) {
        assert_non_null(fgets(line, sizeof line, verdicts));
        bool accepted = strncmp(line, "OK", 2) == 0;
        fprintf(stderr, "%-28s py: %s", python_cases[i].name, line);
        if (accepted != python_cases[i].accept) {
            fail_msg("%s: verify_evidence.py said %s", python_cases[i].name, line);
        }
    }
    fclose(verdicts);
    python_case_count = 0;
}

static asylo_code c_verify(const uint8_t *token, size_t size, const uint8_t *token_nonce,
                           asylo_attestation_claims *claims, asylo_status *status) {
    asylo_attestation_policy policy = {
        .nonce = token_nonce,
        .nonce_size = 32,
        .trusted_keys = platform_key,
        .trusted_key_count = 1,
        .expected_measurement = expected_measurement,
        .allow_debug = 1,
    };
    return asylo_attestation_verify(token, size, &policy, claims, status);
}

static void test_evidence_is_tpm_rooted(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof nonce; i++) {
        nonce[i] = (uint8_t)(0xa0 + i);
    }
    uint8_t request[4 + sizeof nonce + 8];
    put_u32(request, sizeof nonce);
    memcpy(request + 4, nonce, sizeof nonce);
    memcpy(request + 4 + sizeof nonce, "userdata", 8);
    asylo_buffer token = {0};
    asylo_status status;
    if (call_in(IDENTITY_A_PATH, IDENTITY_SELECTOR_EVIDENCE, request, sizeof request, &token,
                &status) != ASYLO_OK) {
        fail_msg("evidence under the TPM root: %s", util_status_text(&status));
    }
    assert_int_equal(asylo_platform_attestation_key(platform_key, &status), ASYLO_OK);
    asylo__image image;
    asylo_enclave_identity expected;
    assert_int_equal(asylo__image_read(IDENTITY_A_PATH, &image, &status), ASYLO_OK);
    assert_int_equal(asylo__image_verify(&image, IDENTITY_A_PATH, &expected, &status), ASYLO_OK);
    asylo__image_fini(&image);
    memcpy(expected_measurement, expected.measurement, 32);
    if (c_verify(token.data, token.size, nonce, &good_claims, &status) != ASYLO_OK) {
        fail_msg("C verifier: %s", util_status_text(&status));
    }
    assert_string_equal(good_claims.root, "tpm");
    assert_memory_equal(good_claims.identity.measurement, expected.measurement, 32);
    python_expect("the enclave's token", token.data, token.size, nonce, true);
    /* The same TPM gives the same key: recreated from its template. */
    uint8_t again[ASYLO_PLATFORM_KEY_SIZE];
    assert_int_equal(asylo_platform_attestation_key(again, &status), ASYLO_OK);
    assert_memory_equal(again, platform_key, sizeof again);
    /* A replayed token: the verifier has moved on to another nonce. */
    uint8_t other_nonce[32];
    memcpy(other_nonce, nonce, sizeof nonce);
    other_nonce[0] ^= 1;
    assert_int_equal(c_verify(token.data, token.size, other_nonce, NULL, &status),
                     ASYLO_UNAUTHENTICATED);
    assert_non_null(strstr(status.message, "nonce"));
    python_expect("a replayed token", token.data, token.size, other_nonce, false);
    python_check_all();
    asylo_buffer_free(&token);
    no_key_files();
}

/* A token the TPM's attestation key signs for good_claims' identity and
 * nonce, carrying `quote` (NULL: none) and root claim `root`. */
static void forge(const char *root, const asylo__tpm_quote *quote, asylo_buffer *token) {
    asylo__bytes_output out;
    asylo__bytes_output_init(&out, ASYLO_EVIDENCE_MAX_SIZE);
    asylo_status status;
    asylo_code code =
        asylo__evidence_issue_quoted(&good_claims.identity, nonce, sizeof nonce,
                                     (const uint8_t *)"u", 1, root, quote, &out.output, &status);
    if (code != ASYLO_OK) {
        fail_msg("forging a token: %s", util_status_text(&status));
    }
    asylo__bytes_output_release(&out, token);
}

static void expect_refused(const char *name, const char *root, const asylo__tpm_quote *quote,
                           asylo_code expected, const char *needle) {
    asylo_buffer token = {0};
    forge(root, quote, &token);
    asylo_status status;
    asylo_code code = c_verify(token.data, token.size, nonce, NULL, &status);
    fprintf(stderr, "%-28s C: %s\n", name, util_status_text(&status));
    if (code != expected || strstr(status.message, needle) == NULL) {
        fail_msg("%s: expected %s with '%s', got %s", name, asylo_code_name(expected), needle,
                 util_status_text(&status));
    }
    python_expect(name, token.data, token.size, nonce, false);
    asylo_buffer_free(&token);
}

static void test_wrong_quotes_refused(void **state) {
    (void)state;
    const asylo_enclave_identity *identity = &good_claims.identity;
    asylo__tpm_quote *good = calloc(1, sizeof *good), *bad = calloc(1, sizeof *bad);
    assert_non_null(good);
    assert_non_null(bad);
    asylo_status status;
    assert_int_equal(asylo__tpm_root_quote_pcr(ASYLO__TPM_QUOTE_PCR, identity->measurement, nonce,
                                               sizeof nonce, good, &status),
                     ASYLO_OK);
    /* The forger itself is sound: with the good quote, the token verifies. */
    asylo_buffer token = {0};
    forge("tpm", good, &token);
    assert_int_equal(c_verify(token.data, token.size, nonce, NULL, &status), ASYLO_OK);
    python_expect("the forger's good token", token.data, token.size, nonce, true);
    asylo_buffer_free(&token);

    uint8_t other[32];
    memcpy(other, nonce, sizeof other);
    other[5] ^= 0x40;
    assert_int_equal(asylo__tpm_root_quote_pcr(ASYLO__TPM_QUOTE_PCR, identity->measurement, other,
                                               sizeof other, bad, &status),
                     ASYLO_OK);
    expect_refused("quote of another nonce", "tpm", bad, ASYLO_UNAUTHENTICATED, "qualifying data");
    assert_int_equal(
        asylo__tpm_root_quote_pcr(ASYLO__TPM_QUOTE_PCR, other, nonce, sizeof nonce, bad, &status),
        ASYLO_OK);
    expect_refused("quote of another measurement", "tpm", bad, ASYLO_UNAUTHENTICATED, "digest");
    assert_int_equal(
        asylo__tpm_root_quote_pcr(16, identity->measurement, nonce, sizeof nonce, bad, &status),
        ASYLO_OK);
    expect_refused("quote of PCR 16", "tpm", bad, ASYLO_UNAUTHENTICATED, "select exactly PCR 23");

    *bad = *good;
    bad->attest_size -= 1;
    expect_refused("truncated quote", "tpm", bad, ASYLO_DATA_LOSS, "TPM quote");
    *bad = *good;
    bad->attest[bad->attest_size - 1] ^= 0x01; /* the last byte of the PCR digest */
    expect_refused("bit-flipped quote", "tpm", bad, ASYLO_UNAUTHENTICATED,
                   "quote's signature does not verify");
    *bad = *good;
    bad->signature[10] ^= 0x80;
    expect_refused("bit-flipped quote signature", "tpm", bad, ASYLO_UNAUTHENTICATED,
                   "quote's signature does not verify");
    *bad = *good;
    bad->attest[0] ^= 0x01; /* TPM_GENERATED_VALUE */
    expect_refused("quote without TPM magic", "tpm", bad, ASYLO_DATA_LOSS, "TPM_GENERATED_VALUE");
    expect_refused("root tpm without a quote", "tpm", NULL, ASYLO_DATA_LOSS,
                   "without its TPM quote");
    expect_refused("software root with a quote", "software", good, ASYLO_DATA_LOSS,
                   "root other than 'tpm'");
    python_check_all();
    free(good);
    free(bad);
    no_key_files();
}

/* ---- sealing ---- */

static void seal_in(const char *path, const char *plaintext, asylo_buffer *blob) {
    size_t size = strlen(plaintext);
    uint8_t request[8 + 64];
    assert_true(size <= 64);
    put_u32(request, ASYLO_SEAL_MEASUREMENT);
    put_u32(request + 4, 0);
    memcpy(request + 8, plaintext, size);
    asylo_status status;
    if (call_in(path, IDENTITY_SELECTOR_SEAL, request, 8 + size, blob, &status) != ASYLO_OK) {
        fail_msg("sealing in %s: %s", path, util_status_text(&status));
    }
}

static asylo_code unseal_in(const char *path, const asylo_buffer *blob, asylo_buffer *plaintext,
                            asylo_status *status) {
    uint8_t *request = malloc(4 + blob->size);
    assert_non_null(request);
    put_u32(request, 0);
    memcpy(request + 4, blob->data, blob->size);
    asylo_code code =
        call_in(path, IDENTITY_SELECTOR_UNSEAL, request, 4 + blob->size, plaintext, status);
    free(request);
    return code;
}

static void expect_unseal(const char *path, const asylo_buffer *blob, asylo_code expected,
                          const char *needle) {
    asylo_buffer out = {0};
    asylo_status status;
    asylo_code code = unseal_in(path, blob, &out, &status);
    if (code != expected || strstr(status.message, needle) == NULL) {
        fail_msg("unseal in %s: expected %s with '%s', got %s", path, asylo_code_name(expected),
                 needle, util_status_text(&status));
    }
    if (code == ASYLO_OK) {
        assert_int_equal(out.size, strlen("tpm secret"));
        assert_memory_equal(out.data, "tpm secret", out.size);
    }
    asylo_buffer_free(&out);
}

static void test_seal_under_tpm(void **state) {
    (void)state;
    asylo_buffer blob = {0};
    seal_in(IDENTITY_A_PATH, "tpm secret", &blob);
    /* Across two loads of the same image (each its own TPM session). */
    expect_unseal(IDENTITY_A_PATH, &blob, ASYLO_OK, "");
    expect_unseal(IDENTITY_A_PATH, &blob, ASYLO_OK, "");
    expect_unseal(IDENTITY_A2_PATH, &blob, ASYLO_PERMISSION_DENIED, "measurement");
    no_key_files();
    /* The software root is another root: the blob is foreign there. */
    char *tcti = strdup(getenv("ASYLO_TPM_TCTI"));
    assert_non_null(tcti);
    unsetenv("ASYLO_TPM_TCTI");
    expect_unseal(IDENTITY_A_PATH, &blob, ASYLO_DATA_LOSS, "");
    /* ... and an explicit selection of the TPM root finds it again. */
    setenv("ASYLO_PLATFORM_ROOT", "tpm", 1);
    setenv("ASYLO_TPM_TCTI", tcti, 1);
    expect_unseal(IDENTITY_A_PATH, &blob, ASYLO_OK, "");
    unsetenv("ASYLO_PLATFORM_ROOT");
    free(tcti);
    /* A fresh TPM has another owner seed, so another sealing root. */
    swtpm tpm_b = {0};
    assert_true(swtpm_start(&tpm_b, "swtpm-b"));
    expect_unseal(IDENTITY_A_PATH, &blob, ASYLO_DATA_LOSS, "");
    swtpm_stop(&tpm_b);
    /* That TPM is gone: the unseal is refused naming the TCTI, and the
     * software root is not used in its place. */
    expect_unseal(IDENTITY_A_PATH, &blob, ASYLO_UNAVAILABLE, "TCTI 'swtpm:");
    asylo_buffer_free(&blob);
}

/* Under remote the proxy's root answers (it inherits ASYLO_TPM_TCTI): the
 * host attests the enclave before initialize with a pinned measurement,
 * trusting the platform key of the TPM both share here, so the proxy's
 * TPM-rooted token with its quote passes the host's verifier; sealing
 * round-trips across two remote loads and is refused for another image. */
static void test_remote_under_tpm(void **state) {
    (void)state;
    asylo__image image;
    asylo_enclave_identity expected;
    asylo_status status;
    assert_int_equal(asylo__image_read(IDENTITY_A_PATH, &image, &status), ASYLO_OK);
    assert_int_equal(asylo__image_verify(&image, IDENTITY_A_PATH, &expected, &status), ASYLO_OK);
    asylo__image_fini(&image);
    asylo_load_config config;
    asylo_load_config_init(&config);
    config.name = "pinned";
    config.backend = "remote";
    config.enclave_path = IDENTITY_A_PATH;
    config.backend_config = &remote.config;
    config.expected_measurement = expected.measurement;
    asylo_client *client = NULL;
    if (asylo_manager_load(manager, &config, &client, &status) != ASYLO_OK) {
        fail_msg("remote load attested under the TPM root: %s", util_status_text(&status));
    }
    unload(client);
    asylo_buffer blob = {0};
    seal_in(IDENTITY_A_PATH, "tpm secret", &blob);
    expect_unseal(IDENTITY_A_PATH, &blob, ASYLO_OK, "");
    expect_unseal(IDENTITY_A2_PATH, &blob, ASYLO_PERMISSION_DENIED, "measurement");
    asylo_buffer_free(&blob);
    no_key_files();
}

static void test_unknown_root_refused(void **state) {
    (void)state;
    setenv("ASYLO_PLATFORM_ROOT", "hsm", 1);
    asylo_buffer blob = {0};
    uint8_t request[8 + 4];
    put_u32(request, ASYLO_SEAL_MEASUREMENT);
    put_u32(request + 4, 0);
    memcpy(request + 8, "data", 4);
    asylo_status status;
    assert_int_equal(
        call_in(IDENTITY_A_PATH, IDENTITY_SELECTOR_SEAL, request, sizeof request, &blob, &status),
        ASYLO_INVALID_ARGUMENT);
    assert_non_null(strstr(status.message, "ASYLO_PLATFORM_ROOT='hsm'"));
    unsetenv("ASYLO_PLATFORM_ROOT");
    asylo_buffer_free(&blob);
}

static int setup(void **state) {
    (void)state;
    asylo_status status;
    if (!util_make_temp_dir("asylo-tpm", temp_dir, sizeof temp_dir)) {
        return -1;
    }
    util_join(state_dir, sizeof state_dir, temp_dir, "state");
    setenv("ASYLO_STATE_DIR", state_dir, 1);
    unsetenv("ASYLO_PLATFORM_ROOT");
    if (!swtpm_start(&tpm_a, "swtpm-a")) {
        fprintf(stderr, "cannot start swtpm\n");
        return -1;
    }
    if (strcmp(backend, "remote") == 0 &&
        !util_remote_setup(&remote, ASYLO_PROXY_PATH, "unix:", false, NULL, &status)) {
        fprintf(stderr, "remote setup: %s\n", util_status_text(&status));
        return -1;
    }
    return asylo_manager_create(&manager, &status) == ASYLO_OK ? 0 : -1;
}

static int teardown(void **state) {
    (void)state;
    asylo_manager_destroy(manager);
    if (strcmp(backend, "remote") == 0) {
        util_remote_teardown(&remote);
    }
    swtpm_stop(&tpm_a);
    unsetenv("ASYLO_TPM_TCTI");
    util_rmtree(temp_dir);
    return util_children_report("at the end") == 0 ? 0 : -1;
}

int main(int argc, char **argv) {
    if (argc != 2 || (strcmp(argv[1], "evidence") != 0 && strcmp(argv[1], "seal") != 0 &&
                      strcmp(argv[1], "remote") != 0)) {
        fprintf(stderr, "usage: tpm_test evidence|seal|remote\n");
        return 2;
    }
    if (!ASYLO_TEST_HAVE_TPM) {
        printf("skipped: asylo-c was built without tpm2-tss (install libtss2-dev)\n");
        return UTIL_SKIP_CODE;
    }
    if (system("command -v swtpm >/dev/null 2>&1") != 0) {
        printf("skipped: swtpm is not installed (Debian package swtpm)\n");
        return UTIL_SKIP_CODE;
    }
    if (strcmp(argv[1], "evidence") == 0) {
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_evidence_is_tpm_rooted),
            cmocka_unit_test(test_wrong_quotes_refused),
        };
        return cmocka_run_group_tests_name("tpm.evidence", tests, setup, teardown);
    }
    if (strcmp(argv[1], "remote") == 0) {
        backend = "remote";
        const struct CMUnitTest tests[] = {cmocka_unit_test(test_remote_under_tpm)};
        return cmocka_run_group_tests_name("tpm.remote", tests, setup, teardown);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seal_under_tpm),
        cmocka_unit_test(test_unknown_root_refused),
    };
    return cmocka_run_group_tests_name("tpm.seal", tests, setup, teardown);
}
