/* Exit calls from the enclave to the host: the generic one and the built-ins.
 * Whatever the host answers is untrusted: sizes and codes are checked before
 * anything is handed to enclave code. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/builtins.h"
#include "common/bytes_output.h"
#include "enclave/runtime_internal.h"

asylo_code asylo__enclave_exit(uint32_t selector, const uint8_t *input, size_t input_size,
                               size_t max_output_size, asylo_buffer *output, asylo_status *status) {
    const asylo__host_interface *host = asylo__enclave_host();
    if (host == NULL) {
        return asylo_status_set(status, ASYLO_FAILED_PRECONDITION, ASYLO_ORIGIN_ENCLAVE,
                                "exit call %u before the host attached", selector);
    }
    if (input == NULL && input_size != 0) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_ENCLAVE,
                                "exit call %u with NULL input of %zu bytes", selector, input_size);
    }
    asylo__bytes_output collector;
    asylo__bytes_output_init(&collector, max_output_size);
    asylo_status host_status;
    asylo_status_ok(&host_status);
    asylo_code code = host->exit_call(host->context, selector, input, input_size, &collector.output,
                                      &host_status);
    /* The host's status is untrusted: force a valid code and a terminated message. */
    host_status.message[sizeof host_status.message - 1] = '\0';
    if (!asylo_code_is_valid((int)code)) {
        code = ASYLO_UNKNOWN;
    }
    code = asylo__bytes_output_verdict(&collector, code, "the host's exit handler", NULL,
                                       &host_status);
    if (code != ASYLO_OK) {
        asylo__bytes_output_fini(&collector);
        asylo_origin origin = host_status.origin;
        if ((int)origin < ASYLO_ORIGIN_NONE || (int)origin > ASYLO_ORIGIN_HOST ||
            origin == ASYLO_ORIGIN_NONE) {
            origin = ASYLO_ORIGIN_HOST;
        }
        return asylo_status_set(status, code, origin, "%s", host_status.message);
    }
    if (output != NULL) {
        asylo__bytes_output_release(&collector, output);
    } else {
        asylo__bytes_output_fini(&collector);
    }
    return asylo_status_ok(status);
}

asylo_code asylo_enclave_exit_call(uint32_t selector, const void *input, size_t input_size,
                                   asylo_buffer *output, asylo_status *status) {
    if (output != NULL) {
        output->data = NULL;
        output->size = 0;
    }
    if (selector < ASYLO_SELECTOR_USER_FIRST) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_ENCLAVE,
                                "exit selector 0x%x is reserved; user selectors start at 0x%x "
                                "(use the asylo_enclave_* functions for built-ins)",
                                selector, ASYLO_SELECTOR_USER_FIRST);
    }
    return asylo__enclave_exit(selector, input, input_size, ASYLO_MAX_EXIT_OUTPUT_SIZE, output,
                               status);
}

/* Runs a built-in whose input the caller encoded with `writer` (NULL: no
 * input). An encoding that failed (out of memory) is reported, never sent
 * cut short. */
static asylo_code builtin_call(uint32_t selector, asylo__bytes *input, const asylo__writer *writer,
                               size_t max_output_size, asylo_buffer *output, asylo_status *status) {
    asylo_code code;
    asylo_status encoding;
    if (writer != NULL && asylo__writer_status(writer, &encoding) != ASYLO_OK) {
        code = asylo_status_prefix(&encoding, "encoding the input of built-in exit call 0x%x",
                                   selector);
        if (status != NULL) {
            *status = encoding;
        }
    } else {
        code = asylo__enclave_exit(selector, input->data, input->size, max_output_size, output,
                                   status);
    }
    asylo__bytes_fini(input);
    return code;
}

void asylo_enclave_log(asylo_log_level level, const char *format, ...) {
    if ((int)level > (int)asylo__enclave_log_level() || format == NULL) {
        return;
    }
    char text[ASYLO__MAX_LOG_LINE_SIZE];
    va_list args;
    va_start(args, format);
    int written = vsnprintf(text, sizeof text, format, args);
    va_end(args);
    if (written < 0) {
        return;
    }
    asylo__bytes input;
    asylo__bytes_init(&input, ASYLO__BYTES_DEFAULT_LIMIT);
    asylo__writer writer;
    asylo__writer_init(&writer, &input);
    asylo__write_u32(&writer, (uint32_t)level);
    asylo__write_string(&writer, text);
    /* Logging has nobody to report failure to: a lost line is the cost. */
    builtin_call(ASYLO_SELECTOR_LOG, &input, &writer, 0, NULL, NULL);
}

static asylo_code read_time(uint32_t selector, int64_t *nanoseconds, asylo_status *status) {
    if (nanoseconds == NULL) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_ENCLAVE,
                                "time requested into a NULL pointer");
    }
    asylo__bytes input;
    asylo__bytes_init(&input, ASYLO__BYTES_DEFAULT_LIMIT);
    asylo_buffer output = {0};
    asylo_code code = builtin_call(selector, &input, NULL, 8, &output, status);
    if (code != ASYLO_OK) {
        return code;
    }
    asylo__reader reader;
    asylo__reader_init(&reader, output.data, output.size, "time reply from the host");
    *nanoseconds = asylo__read_i64(&reader);
    code = asylo__reader_finish(&reader, status);
    asylo_buffer_free(&output);
    return code;
}

asylo_code asylo_enclave_time_wall(int64_t *nanoseconds, asylo_status *status) {
    return read_time(ASYLO_SELECTOR_TIME_WALL, nanoseconds, status);
}

asylo_code asylo_enclave_time_monotonic(int64_t *nanoseconds, asylo_status *status) {
    return read_time(ASYLO_SELECTOR_TIME_MONOTONIC, nanoseconds, status);
}

asylo_code asylo_enclave_random(void *data, size_t size, asylo_status *status) {
    if ((data == NULL && size != 0) || size > ASYLO_MAX_FILE_IO_SIZE) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_ENCLAVE,
                                "random: asked for %zu bytes (NULL buffer or over the %u limit)",
                                size, ASYLO_MAX_FILE_IO_SIZE);
    }
    asylo__bytes input;
    asylo__bytes_init(&input, ASYLO__BYTES_DEFAULT_LIMIT);
    asylo__writer writer;
    asylo__writer_init(&writer, &input);
    asylo__write_u32(&writer, (uint32_t)size);
    asylo_buffer output = {0};
    asylo_code code = builtin_call(ASYLO_SELECTOR_RANDOM, &input, &writer, size, &output, status);
    if (code != ASYLO_OK) {
        return code;
    }
    if (output.size != size) {
        code = asylo_status_set(status, ASYLO_DATA_LOSS, ASYLO_ORIGIN_HOST,
                                "random: host returned %zu bytes for %zu asked", output.size, size);
    } else if (size > 0) {
        memcpy(data, output.data, size);
    }
    asylo_buffer_free(&output);
    return code;
}

static asylo_code check_path(const char *path, asylo_status *status) {
    if (path == NULL || path[0] == '\0' ||
        strnlen(path, ASYLO_MAX_PATH_SIZE) >= ASYLO_MAX_PATH_SIZE) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_ENCLAVE,
                                "file path is NULL, empty or longer than %d bytes",
                                ASYLO_MAX_PATH_SIZE - 1);
    }
    return ASYLO_OK;
}

/* Decodes a reply that is exactly one u32. */
static asylo_code read_u32_reply(asylo_buffer *output, const char *what, uint32_t *value,
                                 asylo_status *status) {
    asylo__reader reader;
    asylo__reader_init(&reader, output->data, output->size, what);
    *value = asylo__read_u32(&reader);
    asylo_code code = asylo__reader_finish(&reader, status);
    asylo_buffer_free(output);
    return code;
}

asylo_code asylo_enclave_file_open(const char *path, uint32_t flags, uint32_t mode, int *handle,
                                   asylo_status *status) {
    if (handle == NULL) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_ENCLAVE,
                                "file_open: NULL handle pointer");
    }
    *handle = -1;
    asylo_code code = check_path(path, status);
    if (code != ASYLO_OK) {
        return code;
    }
    asylo__bytes input;
    asylo__bytes_init(&input, ASYLO__BYTES_DEFAULT_LIMIT);
    asylo__writer writer;
    asylo__writer_init(&writer, &input);
    asylo__write_string(&writer, path);
    asylo__write_u32(&writer, flags);
    asylo__write_u32(&writer, mode);
    asylo_buffer output = {0};
    code = builtin_call(ASYLO_SELECTOR_FILE_OPEN, &input, &writer, 4, &output, status);
    if (code != ASYLO_OK) {
        return code;
    }
    uint32_t value;
    code = read_u32_reply(&output, "file_open reply from the host", &value, status);
    if (code == ASYLO_OK) {
        *handle = (int)(value & 0x7fffffffu);
    }
    return code;
}

asylo_code asylo_enclave_file_read(int handle, void *data, size_t size, size_t *read_size,
                                   asylo_status *status) {
    if (read_size == NULL || (data == NULL && size != 0) || handle < 0 ||
        size > ASYLO_MAX_FILE_IO_SIZE) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_ENCLAVE,
                                "file_read: bad handle %d, NULL buffer, or %zu bytes over the %u "
                                "limit",
                                handle, size, ASYLO_MAX_FILE_IO_SIZE);
    }
    *read_size = 0;
    asylo__bytes input;
    asylo__bytes_init(&input, ASYLO__BYTES_DEFAULT_LIMIT);
    asylo__writer writer;
    asylo__writer_init(&writer, &input);
    asylo__write_u32(&writer, (uint32_t)handle);
    asylo__write_u32(&writer, (uint32_t)size);
    asylo_buffer output = {0};
    /* The output bound is the size asked for: a host that answers more is
     * refused before a byte lands in the caller's buffer. */
    asylo_code code =
        builtin_call(ASYLO_SELECTOR_FILE_READ, &input, &writer, size, &output, status);
    if (code != ASYLO_OK) {
        return code;
    }
    if (output.size > 0) {
        memcpy(data, output.data, output.size);
    }
    *read_size = output.size;
    asylo_buffer_free(&output);
    return ASYLO_OK;
}

asylo_code asylo_enclave_file_write(int handle, const void *data, size_t size, size_t *written_size,
                                    asylo_status *status) {
    if (written_size == NULL || (data == NULL && size != 0) || handle < 0 ||
        size > ASYLO_MAX_FILE_IO_SIZE) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_ENCLAVE,
                                "file_write: bad handle %d, NULL data, or %zu bytes over the %u "
                                "limit",
                                handle, size, ASYLO_MAX_FILE_IO_SIZE);
    }
    *written_size = 0;
    asylo__bytes input;
    asylo__bytes_init(&input, ASYLO__BYTES_DEFAULT_LIMIT);
    asylo__writer writer;
    asylo__writer_init(&writer, &input);
    asylo__write_u32(&writer, (uint32_t)handle);
    asylo__write_blob(&writer, data, size);
    asylo_buffer output = {0};
    asylo_code code = builtin_call(ASYLO_SELECTOR_FILE_WRITE, &input, &writer, 4, &output, status);
    if (code != ASYLO_OK) {
        return code;
    }
    uint32_t written;
    code = read_u32_reply(&output, "file_write reply from the host", &written, status);
    if (code == ASYLO_OK && written > size) {
        return asylo_status_set(status, ASYLO_DATA_LOSS, ASYLO_ORIGIN_HOST,
                                "file_write: host claims %u bytes written of %zu", written, size);
    }
    if (code == ASYLO_OK) {
        *written_size = written;
    }
    return code;
}

asylo_code asylo_enclave_file_close(int handle, asylo_status *status) {
    if (handle < 0) {
        return asylo_status_set(status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_ENCLAVE,
                                "file_close: bad handle %d", handle);
    }
    asylo__bytes input;
    asylo__bytes_init(&input, ASYLO__BYTES_DEFAULT_LIMIT);
    asylo__writer writer;
    asylo__writer_init(&writer, &input);
    asylo__write_u32(&writer, (uint32_t)handle);
    return builtin_call(ASYLO_SELECTOR_FILE_CLOSE, &input, &writer, 0, NULL, status);
}

asylo_code asylo_enclave_file_unlink(const char *path, asylo_status *status) {
    asylo_code code = check_path(path, status);
    if (code != ASYLO_OK) {
        return code;
    }
    asylo__bytes input;
    asylo__bytes_init(&input, ASYLO__BYTES_DEFAULT_LIMIT);
    asylo__writer writer;
    asylo__writer_init(&writer, &input);
    asylo__write_string(&writer, path);
    return builtin_call(ASYLO_SELECTOR_FILE_UNLINK, &input, &writer, 0, NULL, status);
}
