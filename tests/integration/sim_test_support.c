#include "sim_test_support.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void sim_config(asylo_load_config *config, const char *name) {
    asylo_load_config_init(config);
    config->name = name;
    config->backend = "sim";
    config->enclave_path = TEST_ENCLAVE_PATH;
}

asylo_manager *sim_manager(void) {
    asylo_manager *manager = NULL;
    asylo_status status;
    expect_ok("create manager", asylo_manager_create(&manager, &status), &status);
    assert_non_null(manager);
    return manager;
}

asylo_client *sim_load_env(asylo_manager *manager, const char *name,
                           const asylo_environment_variable *environment, size_t count) {
    asylo_load_config config;
    sim_config(&config, name);
    config.enclave_config.environment = environment;
    config.enclave_config.environment_count = count;
    asylo_client *client = NULL;
    asylo_status status;
    expect_ok("load", asylo_manager_load(manager, &config, &client, &status), &status);
    assert_non_null(client);
    return client;
}

asylo_client *sim_load(asylo_manager *manager, const char *name) {
    return sim_load_env(manager, name, NULL, 0);
}

void expect_status(const char *what, asylo_code got, const asylo_status *status, asylo_code code,
                   asylo_origin origin, const char *needle) {
    printf("| %s | %s | %s | %s |\n", what, asylo_code_name(status->code),
           asylo_origin_name(status->origin), status->message);
    if (got != code || status->code != code) {
        fail_msg("%s: expected %s, got %s (status %s: %s)", what, asylo_code_name(code),
                 asylo_code_name(got), asylo_code_name(status->code), status->message);
    }
    if (origin != ANY_ORIGIN && status->origin != origin) {
        fail_msg("%s: expected origin %s, got %s (%s)", what, asylo_origin_name(origin),
                 asylo_origin_name(status->origin), status->message);
    }
    if (needle != NULL && strstr(status->message, needle) == NULL) {
        fail_msg("%s: expected '%s' in the message '%s'", what, needle, status->message);
    }
}

void expect_ok(const char *what, asylo_code got, const asylo_status *status) {
    if (got != ASYLO_OK || status->code != ASYLO_OK) {
        fail_msg("%s: expected OK, got %s (%s): %s", what, asylo_code_name(got),
                 asylo_origin_name(status->origin), status->message);
    }
}

asylo_code call_u32(asylo_client *client, uint32_t selector, uint32_t value, asylo_buffer *output,
                    asylo_status *status) {
    uint8_t encoded[4] = {(uint8_t)value, (uint8_t)(value >> 8), (uint8_t)(value >> 16),
                          (uint8_t)(value >> 24)};
    return asylo_client_call(client, selector, encoded, sizeof encoded, output, status);
}

uint32_t buffer_u32(const asylo_buffer *buffer) {
    assert_int_equal(buffer->size, 4);
    return (uint32_t)buffer->data[0] | (uint32_t)buffer->data[1] << 8 |
           (uint32_t)buffer->data[2] << 16 | (uint32_t)buffer->data[3] << 24;
}

uint64_t buffer_u64(const asylo_buffer *buffer) {
    assert_int_equal(buffer->size, 8);
    uint64_t value = 0;
    for (int i = 7; i >= 0; i--) {
        value = value << 8 | buffer->data[i];
    }
    return value;
}

int count_open_fds(void) {
    DIR *directory = opendir("/proc/self/fd");
    assert_non_null(directory);
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir(directory)) != NULL) {
        if (entry->d_name[0] != '.') {
            count++;
        }
    }
    closedir(directory);
    return count - 1; /* the directory's own descriptor */
}

void make_temp_dir(char *path, size_t size) {
    const char *base = getenv("TMPDIR");
    if (base == NULL || base[0] == '\0') {
        base = "/tmp";
    }
    snprintf(path, size, "%s/asylo-sim-test-XXXXXX", base);
    assert_non_null(mkdtemp(path));
}

void remove_temp_dir(const char *path) {
    DIR *directory = opendir(path);
    if (directory == NULL) {
        return;
    }
    struct dirent *entry;
    char file[4096];
    while ((entry = readdir(directory)) != NULL) {
        if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, "..") != 0) {
            snprintf(file, sizeof file, "%s/%s", path, entry->d_name);
            unlink(file);
        }
    }
    closedir(directory);
    rmdir(path);
}
