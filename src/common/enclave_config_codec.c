/* Wire form of an enclave config:
 *   u32 format version (1), u32 log level, u32 variable count,
 *   count x (blob name, blob value), blob user config. */
#include "common/enclave_config_codec.h"

#include <stdlib.h>
#include <string.h>

#define CONFIG_FORMAT_VERSION 1u

asylo_code asylo__enclave_config_validate(const asylo_enclave_config *config,
                                          asylo_status *status) {
    if (config->environment_count > ASYLO_ENCLAVE_CONFIG_MAX_VARIABLES) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "enclave config has %zu environment variables; the limit is %d",
                                config->environment_count, ASYLO_ENCLAVE_CONFIG_MAX_VARIABLES);
    }
    if (config->environment_count > 0 && config->environment == NULL) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "enclave config: environment_count is %zu but environment is NULL",
                                config->environment_count);
    }
    for (size_t i = 0; i < config->environment_count; i++) {
        const char *name = config->environment[i].name;
        const char *value = config->environment[i].value;
        if (name == NULL || name[0] == '\0' || strchr(name, '=') != NULL) {
            return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                    "enclave config: environment variable %zu has an empty name "
                                    "or a name containing '='",
                                    i);
        }
        if (strlen(name) >= ASYLO_ENCLAVE_CONFIG_MAX_NAME_SIZE) {
            return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                    "enclave config: environment variable name '%.40s...' is "
                                    "longer than %d bytes",
                                    name, ASYLO_ENCLAVE_CONFIG_MAX_NAME_SIZE - 1);
        }
        if (value != NULL && strlen(value) > ASYLO_ENCLAVE_CONFIG_MAX_VALUE_SIZE) {
            return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                    "enclave config: value of %s is longer than %d bytes", name,
                                    ASYLO_ENCLAVE_CONFIG_MAX_VALUE_SIZE);
        }
    }
    if (config->user_config_size > ASYLO_ENCLAVE_CONFIG_MAX_USER_SIZE) {
        return asylo_status_set(
            status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
            "enclave config: user config of %zu bytes is over the %u byte limit",
            config->user_config_size, ASYLO_ENCLAVE_CONFIG_MAX_USER_SIZE);
    }
    if (config->user_config_size > 0 && config->user_config == NULL) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "enclave config: user_config_size is %zu but user_config is NULL",
                                config->user_config_size);
    }
    if ((int)config->log_level < ASYLO_LOG_ERROR || (int)config->log_level > ASYLO_LOG_DEBUG) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "enclave config: log level %d is not an asylo_log_level",
                                (int)config->log_level);
    }
    return asylo_status_ok(status);
}

asylo_code asylo__enclave_config_encode(const asylo_enclave_config *config, asylo__bytes *out,
                                        asylo_status *status) {
    asylo_code code = asylo__enclave_config_validate(config, status);
    if (code != ASYLO_OK) {
        return code;
    }
    asylo__writer writer;
    asylo__writer_init(&writer, out);
    asylo__write_u32(&writer, CONFIG_FORMAT_VERSION);
    asylo__write_u32(&writer, (uint32_t)config->log_level);
    asylo__write_u32(&writer, (uint32_t)config->environment_count);
    for (size_t i = 0; i < config->environment_count; i++) {
        asylo__write_string(&writer, config->environment[i].name);
        asylo__write_string(&writer, config->environment[i].value);
    }
    asylo__write_blob(&writer, config->user_config, config->user_config_size);
    return asylo__writer_status(&writer, status);
}

void asylo__decoded_config_fini(asylo__decoded_config *decoded) {
    if (decoded == NULL) {
        return;
    }
    /* Names and values are the enclave's environment: wiped like the rest. */
    asylo__secure_free(decoded->variables,
                       decoded->config.environment_count * sizeof *decoded->variables);
    asylo__secure_free(decoded->strings, decoded->strings_size);
    asylo__secure_free(decoded->user_config, decoded->config.user_config_size);
    memset(decoded, 0, sizeof *decoded);
}

asylo_code asylo__enclave_config_decode(const uint8_t *data, size_t size,
                                        asylo__decoded_config *decoded, asylo_status *status) {
    memset(decoded, 0, sizeof *decoded);
    asylo__reader reader;
    asylo__reader_init(&reader, data, size, "enclave config");
    uint32_t version = asylo__read_u32(&reader);
    uint32_t level = asylo__read_u32(&reader);
    uint32_t count = asylo__read_u32(&reader);
    if (!reader.failed && version != CONFIG_FORMAT_VERSION) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "enclave config format %u is not the supported format %u", version,
                                CONFIG_FORMAT_VERSION);
    }
    if (!reader.failed && (level > ASYLO_LOG_DEBUG || count > ASYLO_ENCLAVE_CONFIG_MAX_VARIABLES)) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                "enclave config: log level %u or %u variables out of range", level,
                                count);
    }
    /* First pass: validate and measure; the second copies into one block, so a
     * decoded config is two allocations whatever its size. */
    const uint8_t *names[ASYLO_ENCLAVE_CONFIG_MAX_VARIABLES];
    const uint8_t *values[ASYLO_ENCLAVE_CONFIG_MAX_VARIABLES];
    size_t name_sizes[ASYLO_ENCLAVE_CONFIG_MAX_VARIABLES];
    size_t value_sizes[ASYLO_ENCLAVE_CONFIG_MAX_VARIABLES];
    size_t strings_size = 0;
    for (uint32_t i = 0; i < count && !reader.failed; i++) {
        asylo__read_blob(&reader, &names[i], &name_sizes[i],
                         ASYLO_ENCLAVE_CONFIG_MAX_NAME_SIZE - 1);
        asylo__read_blob(&reader, &values[i], &value_sizes[i], ASYLO_ENCLAVE_CONFIG_MAX_VALUE_SIZE);
        if (reader.failed) {
            break;
        }
        if (name_sizes[i] == 0 || memchr(names[i], '=', name_sizes[i]) != NULL ||
            memchr(names[i], '\0', name_sizes[i]) != NULL ||
            memchr(values[i], '\0', value_sizes[i]) != NULL) {
            return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                                    "enclave config: variable %u has an empty name, '=' in its "
                                    "name or a NUL byte",
                                    i);
        }
        strings_size += name_sizes[i] + value_sizes[i] + 2;
    }
    const uint8_t *user;
    size_t user_size;
    asylo__read_blob(&reader, &user, &user_size, ASYLO_ENCLAVE_CONFIG_MAX_USER_SIZE);
    asylo_code code = asylo__reader_finish(&reader, status);
    if (code != ASYLO_OK) {
        return code;
    }
    decoded->variables = calloc(count == 0 ? 1 : count, sizeof *decoded->variables);
    decoded->strings = malloc(strings_size == 0 ? 1 : strings_size);
    decoded->strings_size = decoded->strings != NULL ? strings_size : 0;
    decoded->user_config = user_size == 0 ? NULL : malloc(user_size);
    if (decoded->variables == NULL || decoded->strings == NULL ||
        (user_size > 0 && decoded->user_config == NULL)) {
        asylo__decoded_config_fini(decoded);
        return asylo_status_set(status, ASYLO_RESOURCE_EXHAUSTED, ASYLO_ORIGIN_API,
                                "out of memory decoding an enclave config");
    }
    char *cursor = decoded->strings;
    for (uint32_t i = 0; i < count; i++) {
        decoded->variables[i].name = cursor;
        memcpy(cursor, names[i], name_sizes[i]);
        cursor += name_sizes[i];
        *cursor++ = '\0';
        decoded->variables[i].value = cursor;
        if (value_sizes[i] > 0) {
            memcpy(cursor, values[i], value_sizes[i]);
        }
        cursor += value_sizes[i];
        *cursor++ = '\0';
    }
    if (user_size > 0) {
        memcpy(decoded->user_config, user, user_size);
    }
    decoded->config.environment = decoded->variables;
    decoded->config.environment_count = count;
    decoded->config.log_level = (asylo_log_level)level;
    decoded->config.user_config = decoded->user_config;
    decoded->config.user_config_size = user_size;
    return asylo_status_ok(status);
}
