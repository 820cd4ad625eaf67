/* Bounded buffers, the field writer and the field reader: every limit, every
 * truncation, and errors that stick. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/bytes.h"
#include "common/bytes_output.h"
#include "common/enclave_config_codec.h"

/* --- asylo__bytes ------------------------------------------------------ */

static void test_bytes_limit(void **state) {
    (void)state;
    asylo__bytes bytes;
    asylo_status status;
    asylo__bytes_init(&bytes, 10);
    assert_int_equal(asylo__bytes_append(&bytes, "0123456789", 10, &status), ASYLO_OK);
    assert_int_equal(bytes.size, 10);
    assert_memory_equal(bytes.data, "0123456789", 10);
    assert_int_equal(asylo__bytes_append(&bytes, "x", 1, &status), ASYLO_RESOURCE_EXHAUSTED);
    assert_non_null(strstr(status.message, "limit of 10 bytes"));
    assert_int_equal(bytes.size, 10);
    /* Zero bytes always fit. */
    assert_int_equal(asylo__bytes_append(&bytes, NULL, 0, &status), ASYLO_OK);
    asylo__bytes_fini(&bytes);
    assert_null(bytes.data);
    assert_int_equal(bytes.size, 0);
    assert_int_equal(bytes.capacity, 0);
    asylo__bytes_fini(&bytes); /* twice is harmless */
    asylo__bytes_fini(NULL);
}

static void test_bytes_zero_limit_allows_none(void **state) {
    (void)state;
    asylo__bytes bytes;
    asylo_status status;
    asylo__bytes_init(&bytes, 0);
    assert_null(asylo__bytes_append_space(&bytes, 1, &status));
    assert_int_equal(status.code, ASYLO_RESOURCE_EXHAUSTED);
    assert_int_equal(asylo__bytes_append(&bytes, "x", 1, NULL), ASYLO_RESOURCE_EXHAUSTED);
    assert_int_equal(bytes.size, 0);
    asylo__bytes_fini(&bytes);
}

static void test_bytes_size_overflow(void **state) {
    (void)state;
    asylo__bytes bytes;
    asylo_status status;
    asylo__bytes_init(&bytes, SIZE_MAX);
    assert_int_equal(asylo__bytes_append(&bytes, "abc", 3, &status), ASYLO_OK);
    /* size + SIZE_MAX would wrap: refused, not allocated. */
    assert_null(asylo__bytes_append_space(&bytes, SIZE_MAX, &status));
    assert_int_equal(status.code, ASYLO_RESOURCE_EXHAUSTED);
    assert_null(asylo__bytes_append_space(&bytes, SIZE_MAX - 1, &status));
    assert_int_equal(status.code, ASYLO_RESOURCE_EXHAUSTED);
    assert_int_equal(bytes.size, 3);
    asylo__bytes_fini(&bytes);
}

static void test_bytes_growth_and_release(void **state) {
    (void)state;
    asylo__bytes bytes;
    asylo__bytes_init(&bytes, ASYLO__BYTES_DEFAULT_LIMIT);
    for (int i = 0; i < 1000; i++) {
        uint8_t value = (uint8_t)i;
        assert_int_equal(asylo__bytes_append(&bytes, &value, 1, NULL), ASYLO_OK);
    }
    assert_int_equal(bytes.size, 1000);
    assert_true(bytes.capacity >= 1000);
    size_t size = 0;
    uint8_t *data = asylo__bytes_release(&bytes, &size);
    assert_int_equal(size, 1000);
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(data[i], (uint8_t)i);
    }
    assert_null(bytes.data);
    assert_int_equal(bytes.size, 0);
    free(data);

    /* A limit that is not a power of two is reached exactly. */
    asylo__bytes_init(&bytes, 1000);
    assert_non_null(asylo__bytes_append_space(&bytes, 999, NULL));
    assert_non_null(asylo__bytes_append_space(&bytes, 1, NULL));
    assert_null(asylo__bytes_append_space(&bytes, 1, NULL));
    asylo__bytes_fini(&bytes);
}

static void test_secure_zero(void **state) {
    (void)state;
    uint8_t data[32];
    memset(data, 0x5a, sizeof data);
    asylo__secure_zero(data, sizeof data);
    for (size_t i = 0; i < sizeof data; i++) {
        assert_int_equal(data[i], 0);
    }
    asylo__secure_zero(NULL, 10);
    asylo__secure_zero(data, 0);
}

/* --- asylo_output over asylo__bytes ------------------------------------ */

/* The free hook sees every block bytes.c releases, after its wipe. */
static size_t freed_count;
static size_t freed_sizes[8];
static size_t freed_nonzero; /* bytes not wiped, over all blocks */

static void record_free(const void *data, size_t size) {
    const uint8_t *bytes = data;
    if (freed_count < sizeof freed_sizes / sizeof freed_sizes[0]) {
        freed_sizes[freed_count] = size;
    }
    freed_count++;
    for (size_t i = 0; i < size; i++) {
        freed_nonzero += bytes[i] != 0;
    }
}

/* Growing must not leave the old block's bytes in freed memory (realloc
 * would): issue 9 item 8. */
static void test_growth_wipes_old_block(void **state) {
    (void)state;
    freed_count = freed_nonzero = 0;
    asylo__set_free_hook(record_free);
    asylo__bytes bytes;
    asylo__bytes_init(&bytes, 1 << 20);
    uint8_t secret[64];
    memset(secret, 0x5a, sizeof secret);
    assert_int_equal(asylo__bytes_append(&bytes, secret, sizeof secret, NULL), ASYLO_OK);
    assert_int_equal(bytes.capacity, 64);
    assert_int_equal(freed_count, 0);
    /* One more byte: the 64-byte block is replaced, wiped first. */
    assert_int_equal(asylo__bytes_append(&bytes, secret, 1, NULL), ASYLO_OK);
    assert_int_equal(freed_count, 1);
    assert_int_equal(freed_sizes[0], 64);
    assert_int_equal(freed_nonzero, 0);
    assert_memory_equal(bytes.data, secret, sizeof secret);
    assert_int_equal(bytes.data[64], 0x5a);
    /* Several doublings at once, then the final block at fini. */
    uint8_t *space = asylo__bytes_append_space(&bytes, 4000, NULL);
    assert_non_null(space);
    memset(space, 0x77, 4000);
    assert_int_equal(freed_count, 2);
    asylo__bytes_fini(&bytes);
    assert_int_equal(freed_count, 3);
    assert_int_equal(freed_nonzero, 0);
    /* A buffer handed to a host caller is wiped by asylo_buffer_wipe_free;
     * the host's asylo_buffer_free frees it as it is (output the enclave
     * handed over; the trusted runtime's asylo_buffer_free still wipes). */
    asylo_buffer buffer = {malloc(32), 32};
    assert_non_null(buffer.data);
    memset(buffer.data, 0x33, 32);
    asylo_buffer_wipe_free(&buffer);
    assert_int_equal(freed_count, 4);
    assert_int_equal(freed_sizes[3], 32);
    assert_int_equal(freed_nonzero, 0);
    assert_null(buffer.data);
    buffer = (asylo_buffer){malloc(32), 32};
    assert_non_null(buffer.data);
    asylo_buffer_free(&buffer);
    assert_int_equal(freed_count, 4);
    assert_null(buffer.data);
    asylo__set_free_hook(NULL);
}

/* One reserve into an empty collector allocates exactly the output's size
 * and hands that very block to the caller: no growth, no second copy. */
static void test_output_single_reserve_is_the_callers_block(void **state) {
    (void)state;
    asylo__bytes_output collector;
    asylo__bytes_output_init(&collector, 1 << 20);
    uint8_t *space = asylo_output_reserve(&collector.output, 4097, NULL);
    assert_non_null(space);
    memset(space, 0x42, 4097);
    assert_int_equal(collector.bytes.capacity, 4097);
    assert_int_equal(asylo__bytes_output_verdict(&collector, ASYLO_OK, "test", NULL, NULL),
                     ASYLO_OK);
    asylo_buffer buffer = {0};
    asylo__bytes_output_release(&collector, &buffer);
    asylo__bytes_output_fini(&collector);
    assert_ptr_equal(buffer.data, space);
    assert_int_equal(buffer.size, 4097);
    asylo_buffer_free(&buffer);
    /* Over the limit: refused, and an OK from the writer is turned into it. */
    asylo__bytes_output_init(&collector, 16);
    asylo_status status;
    assert_null(asylo_output_reserve(&collector.output, 17, &status));
    assert_int_equal(status.code, ASYLO_RESOURCE_EXHAUSTED);
    assert_int_equal(asylo__bytes_output_verdict(&collector, ASYLO_OK, "test", NULL, &status),
                     ASYLO_RESOURCE_EXHAUSTED);
    assert_non_null(strstr(status.message, "limit of 16 bytes"));
    asylo__bytes_output_fini(&collector);
}

/* Decoded environment strings are the enclave's data: wiped at fini. */
static void test_decoded_config_wiped(void **state) {
    (void)state;
    asylo_environment_variable variables[] = {{"KEY", "secret-value"}};
    asylo_enclave_config config = {.log_level = ASYLO_LOG_INFO,
                                   .environment = variables,
                                   .environment_count = 1,
                                   .user_config = "user-secret",
                                   .user_config_size = 11};
    asylo__bytes encoded;
    asylo__bytes_init(&encoded, 4096);
    assert_int_equal(asylo__enclave_config_encode(&config, &encoded, NULL), ASYLO_OK);
    asylo__decoded_config decoded;
    assert_int_equal(asylo__enclave_config_decode(encoded.data, encoded.size, &decoded, NULL),
                     ASYLO_OK);
    assert_string_equal(decoded.config.environment[0].value, "secret-value");
    freed_count = freed_nonzero = 0;
    asylo__set_free_hook(record_free);
    asylo__decoded_config_fini(&decoded);
    asylo__bytes_fini(&encoded);
    asylo__set_free_hook(NULL);
    /* variables, strings ("KEY\0secret-value\0": 17 bytes), user config,
     * the encoding. */
    assert_int_equal(freed_count, 4);
    assert_int_equal(freed_sizes[1], 17);
    assert_int_equal(freed_sizes[2], 11);
    assert_int_equal(freed_nonzero, 0);
}

static void test_bytes_adopt(void **state) {
    (void)state;
    asylo__bytes bytes;
    asylo__bytes_init(&bytes, 16);
    asylo_status status;
    uint8_t *big = malloc(17);
    assert_non_null(big);
    assert_int_equal(asylo__bytes_adopt(&bytes, big, 17, &status), ASYLO_RESOURCE_EXHAUSTED);
    assert_non_null(strstr(status.message, "limit of 16 bytes"));
    assert_null(bytes.data);
    assert_int_equal(asylo__bytes_adopt(&bytes, big, 16, &status), ASYLO_OK);
    assert_ptr_equal(bytes.data, big);
    assert_int_equal(bytes.size, 16);
    asylo__bytes_fini(&bytes);
}

/* A writer that ignores the sink's refusal cannot pass a cut output as whole. */
static void test_output_verdict(void **state) {
    (void)state;
    asylo__bytes_output collector;
    asylo__bytes_output_init(&collector, 8);
    asylo_status status;
    assert_int_equal(asylo_output_write(&collector.output, "12345", 5, &status), ASYLO_OK);
    assert_int_equal(asylo__bytes_output_verdict(&collector, ASYLO_OK, "enclave", "e", &status),
                     ASYLO_OK);
    assert_int_equal(asylo_output_write(&collector.output, "12345", 5, &status),
                     ASYLO_RESOURCE_EXHAUSTED);
    /* The writer's own failure wins; its OK does not. */
    assert_int_equal(
        asylo__bytes_output_verdict(&collector, ASYLO_ABORTED, "enclave", "e", &status),
        ASYLO_ABORTED);
    assert_int_equal(asylo__bytes_output_verdict(&collector, ASYLO_OK, "enclave", "e", &status),
                     ASYLO_RESOURCE_EXHAUSTED);
    assert_non_null(strstr(status.message, "enclave 'e' returned OK but its output was refused"));
    assert_non_null(strstr(status.message, "limit of 8 bytes"));
    asylo__bytes_output_fini(&collector);
}

static void test_output_bound(void **state) {
    (void)state;
    asylo__bytes_output collector;
    asylo_status status;
    asylo__bytes_output_init(&collector, 8);
    asylo_output *output = &collector.output;
    assert_int_equal(asylo_output_write(output, "abcd", 4, &status), ASYLO_OK);
    assert_int_equal(asylo_output_write(output, "efghi", 5, &status), ASYLO_RESOURCE_EXHAUSTED);
    assert_non_null(strstr(status.message, "output would exceed its limit of 8 bytes"));
    assert_int_equal(asylo_output_write(output, "efgh", 4, &status), ASYLO_OK);
    assert_int_equal(asylo_output_write(output, NULL, 1, &status), ASYLO_INVALID_ARGUMENT);
    asylo_buffer buffer = {0};
    asylo__bytes_output_release(&collector, &buffer);
    assert_int_equal(buffer.size, 8);
    assert_memory_equal(buffer.data, "abcdefgh", 8);
    asylo_buffer_free(&buffer);
    assert_null(buffer.data);
    assert_int_equal(buffer.size, 0);
    asylo_buffer_free(&buffer);
    asylo_buffer_free(NULL);
    asylo__bytes_output_fini(&collector);

    assert_null(asylo_output_reserve(NULL, 1, &status));
    assert_int_equal(status.code, ASYLO_INVALID_ARGUMENT);
}

/* Reserving nothing is not a failure: a handler that writes `n` bytes with
 * `p = asylo_output_reserve(out, n, st); if (p == NULL) return st->code;`
 * must work for n == 0 too. */
static void test_output_reserve_zero_is_not_an_error(void **state) {
    (void)state;
    asylo__bytes_output collector;
    asylo_status status;
    asylo__bytes_output_init(&collector, 8);
    asylo_status_ok(&status);
    uint8_t *space = asylo_output_reserve(&collector.output, 0, &status);
    assert_non_null(space);
    assert_int_equal(status.code, ASYLO_OK);
    /* Also with a zero bound, and after some bytes. */
    asylo__bytes_output_fini(&collector);
    asylo__bytes_output_init(&collector, 0);
    assert_non_null(asylo_output_reserve(&collector.output, 0, &status));
    assert_int_equal(status.code, ASYLO_OK);
    asylo__bytes_output_fini(&collector);
    asylo__bytes_output_init(&collector, 8);
    assert_int_equal(asylo_output_write(&collector.output, "ab", 2, &status), ASYLO_OK);
    assert_non_null(asylo_output_reserve(&collector.output, 0, &status));
    assert_int_equal(status.code, ASYLO_OK);
    assert_int_equal(collector.bytes.size, 2);
    asylo__bytes_output_fini(&collector);
}

/* --- writer ------------------------------------------------------------ */

static void test_writer_encodings(void **state) {
    (void)state;
    asylo__bytes bytes;
    asylo__bytes_init(&bytes, 1024);
    asylo__writer writer;
    asylo__writer_init(&writer, &bytes);
    asylo__write_u32(&writer, 0x04030201u);
    asylo__write_u64(&writer, 0x0807060504030201ull);
    asylo__write_i64(&writer, -2);
    asylo__write_blob(&writer, "xy", 2);
    asylo__write_string(&writer, "hi");
    asylo__write_string(&writer, NULL);
    asylo__write_blob(&writer, NULL, 0);
    asylo_status status;
    assert_int_equal(asylo__writer_status(&writer, &status), ASYLO_OK);
    assert_int_equal(asylo__writer_status(&writer, NULL), ASYLO_OK);
    static const uint8_t expected[] = {
        1, 2, 3, 4, 1,   2,   3, 4, 5, 6, 7,   8,   0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        2, 0, 0, 0, 'x', 'y', 2, 0, 0, 0, 'h', 'i', 0,    0,    0,    0,    0,    0,    0,    0,
    };
    assert_int_equal(bytes.size, sizeof expected);
    assert_memory_equal(bytes.data, expected, sizeof expected);
    asylo__bytes_fini(&bytes);
}

static void test_writer_errors_stick(void **state) {
    (void)state;
    asylo__bytes bytes;
    asylo__bytes_init(&bytes, 10);
    asylo__writer writer;
    asylo__writer_init(&writer, &bytes);
    asylo__write_u32(&writer, 1); /* 4 bytes */
    asylo__write_u64(&writer, 2); /* 12 > 10: fails */
    asylo__write_u32(&writer, 3); /* would fit (8), but the error sticks */
    asylo__write_blob(&writer, "", 0);
    asylo_status status;
    assert_int_equal(asylo__writer_status(&writer, &status), ASYLO_RESOURCE_EXHAUSTED);
    assert_non_null(strstr(status.message, "limit of 10 bytes"));
    assert_int_equal(bytes.size, 4);
    asylo__bytes_fini(&bytes);
}

static void test_writer_blob_over_u32(void **state) {
    (void)state;
    asylo__bytes bytes;
    asylo__bytes_init(&bytes, ASYLO__BYTES_DEFAULT_LIMIT);
    asylo__writer writer;
    asylo__writer_init(&writer, &bytes);
    /* The data is never read: the size alone is refused. */
    static const uint8_t one = 1;
    asylo__write_blob(&writer, &one, (size_t)UINT32_MAX + 1);
    asylo_status status;
    assert_int_equal(asylo__writer_status(&writer, &status), ASYLO_RESOURCE_EXHAUSTED);
    assert_non_null(strstr(status.message, "4 GiB"));
    assert_int_equal(bytes.size, 0);
    /* A later oversized blob keeps the first error. */
    asylo__write_u32(&writer, 5);
    asylo__write_blob(&writer, &one, SIZE_MAX);
    assert_int_equal(asylo__writer_status(&writer, &status), ASYLO_RESOURCE_EXHAUSTED);
    assert_int_equal(bytes.size, 0);
    asylo__bytes_fini(&bytes);
}

/* --- reader ------------------------------------------------------------ */

static void test_reader_values(void **state) {
    (void)state;
    static const uint8_t input[] = {1, 2, 3,    4,    1,    2,    3,    4,    5,    6,
                                    7, 8, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    asylo__reader reader;
    asylo__reader_init(&reader, input, sizeof input, "numbers");
    assert_int_equal(asylo__read_u32(&reader), 0x04030201u);
    assert_true(asylo__read_u64(&reader) == 0x0807060504030201ull);
    assert_true(asylo__read_i64(&reader) == -2);
    assert_int_equal(asylo__reader_finish(&reader, NULL), ASYLO_OK);
    asylo_status status;
    assert_int_equal(asylo__reader_finish(&reader, &status), ASYLO_OK);
}

static void test_reader_truncated_integers(void **state) {
    (void)state;
    static const uint8_t input[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    asylo_status status;
    for (size_t size = 0; size < 4; size++) {
        asylo__reader reader;
        asylo__reader_init(&reader, input, size, "u32 test");
        assert_int_equal(asylo__read_u32(&reader), 0);
        assert_true(reader.failed);
        assert_string_equal(reader.error, "truncated integer at byte 0");
        assert_int_equal(asylo__reader_finish(&reader, &status), ASYLO_INVALID_ARGUMENT);
        assert_int_equal(status.origin, ASYLO_ORIGIN_API);
        assert_string_equal(status.message, "malformed u32 test: truncated integer at byte 0");
    }
    for (size_t size = 0; size < 8; size++) {
        asylo__reader reader;
        asylo__reader_init(&reader, input, size, NULL);
        assert_true(asylo__read_u64(&reader) == 0);
        assert_true(reader.failed);
        assert_int_equal(asylo__reader_finish(&reader, &status), ASYLO_INVALID_ARGUMENT);
        assert_non_null(strstr(status.message, "malformed message: truncated integer"));
        asylo__reader_init(&reader, input, size, "i64");
        assert_true(asylo__read_i64(&reader) == 0);
        assert_true(reader.failed);
    }
    /* The offset in the message is where the failing field starts. */
    asylo__reader reader;
    asylo__reader_init(&reader, input, 6, "pair");
    asylo__read_u32(&reader);
    asylo__read_u32(&reader);
    assert_string_equal(reader.error, "truncated integer at byte 4");
}

static void test_reader_errors_stick(void **state) {
    (void)state;
    static const uint8_t input[] = {1, 0, 0, 0, 2, 0, 0, 0};
    asylo__reader reader;
    asylo__reader_init(&reader, input, 4, "sticky");
    assert_true(asylo__read_u64(&reader) == 0);    /* fails: only 4 bytes */
    assert_int_equal(asylo__read_u32(&reader), 0); /* would succeed, but sticks */
    assert_int_equal(reader.offset, 0);
    const uint8_t *data = input;
    size_t size = 99;
    asylo__read_blob(&reader, &data, &size, 100);
    assert_null(data);
    assert_int_equal(size, 0);
    assert_null(asylo__read_string(&reader, 100));
    /* The first error is the one reported. */
    assert_string_equal(reader.error, "truncated integer at byte 0");

    /* NULL data reads as empty whatever the size says. */
    asylo__reader_init(&reader, NULL, 100, "null");
    assert_int_equal(reader.size, 0);
    asylo__read_u32(&reader);
    assert_true(reader.failed);
}

static void test_reader_blobs(void **state) {
    (void)state;
    asylo_status status;
    asylo__reader reader;
    const uint8_t *data;
    size_t size;

    static const uint8_t ok[] = {3, 0, 0, 0, 'a', 'b', 'c', 0, 0, 0, 0};
    asylo__reader_init(&reader, ok, sizeof ok, "blob");
    asylo__read_blob(&reader, &data, &size, 3); /* exactly at the limit */
    assert_int_equal(size, 3);
    assert_ptr_equal(data, ok + 4);
    asylo__read_blob(&reader, &data, &size, 0); /* empty blob, limit 0 */
    assert_int_equal(size, 0);
    assert_non_null(data);
    assert_int_equal(asylo__reader_finish(&reader, &status), ASYLO_OK);

    /* Over its limit. */
    asylo__reader_init(&reader, ok, sizeof ok, "blob");
    asylo__read_blob(&reader, &data, &size, 2);
    assert_null(data);
    assert_int_equal(size, 0);
    assert_string_equal(reader.error, "field longer than its limit at byte 4");

    /* Declared longer than what is there, by one and by a lot. */
    static const uint8_t short_by_one[] = {4, 0, 0, 0, 'a', 'b', 'c'};
    asylo__reader_init(&reader, short_by_one, sizeof short_by_one, "blob");
    asylo__read_blob(&reader, &data, &size, 100);
    assert_null(data);
    assert_string_equal(reader.error, "field runs past the end of the input at byte 4");
    static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 'a'};
    asylo__reader_init(&reader, huge, sizeof huge, "blob");
    asylo__read_blob(&reader, &data, &size, SIZE_MAX);
    assert_true(reader.failed);
    assert_non_null(strstr(reader.error, "runs past the end"));
    asylo__reader_init(&reader, huge, sizeof huge, "blob");
    asylo__read_blob(&reader, &data, &size, 1u << 20);
    assert_non_null(strstr(reader.error, "longer than its limit"));

    /* Truncated length prefix. */
    asylo__reader_init(&reader, ok, 3, "blob");
    asylo__read_blob(&reader, &data, &size, 100);
    assert_string_equal(reader.error, "truncated integer at byte 0");
}

static void test_reader_strings(void **state) {
    (void)state;
    asylo__reader reader;
    static const uint8_t ok[] = {2, 0, 0, 0, 'h', 'i', 0, 0, 0, 0};
    asylo__reader_init(&reader, ok, sizeof ok, "strings");
    char *first = asylo__read_string(&reader, 2);
    char *second = asylo__read_string(&reader, 0);
    assert_string_equal(first, "hi");
    assert_string_equal(second, "");
    assert_int_equal(asylo__reader_finish(&reader, NULL), ASYLO_OK);
    free(first);
    free(second);

    static const uint8_t with_nul[] = {3, 0, 0, 0, 'a', 0, 'b'};
    asylo__reader_init(&reader, with_nul, sizeof with_nul, "strings");
    assert_null(asylo__read_string(&reader, 10));
    assert_string_equal(reader.error, "string with an embedded NUL at byte 7");

    static const uint8_t trailing_nul[] = {2, 0, 0, 0, 'a', 0};
    asylo__reader_init(&reader, trailing_nul, sizeof trailing_nul, "strings");
    assert_null(asylo__read_string(&reader, 10));

    asylo__reader_init(&reader, ok, sizeof ok, "strings");
    assert_null(asylo__read_string(&reader, 1));
    assert_non_null(strstr(reader.error, "longer than its limit"));
}

static void test_reader_trailing_bytes(void **state) {
    (void)state;
    static const uint8_t input[] = {1, 0, 0, 0, 9};
    asylo__reader reader;
    asylo__reader_init(&reader, input, sizeof input, "frame");
    assert_int_equal(asylo__read_u32(&reader), 1);
    asylo_status status;
    assert_int_equal(asylo__reader_finish(&reader, &status), ASYLO_INVALID_ARGUMENT);
    assert_string_equal(status.message, "malformed frame: unexpected trailing bytes at byte 4");
    /* Finishing again reports the same. */
    assert_int_equal(asylo__reader_finish(&reader, &status), ASYLO_INVALID_ARGUMENT);
    assert_int_equal(asylo__reader_finish(&reader, NULL), ASYLO_INVALID_ARGUMENT);
}

/* Writer output reads back through the reader, field by field. */
static void test_round_trip(void **state) {
    (void)state;
    asylo__bytes bytes;
    asylo__bytes_init(&bytes, ASYLO__BYTES_DEFAULT_LIMIT);
    asylo__writer writer;
    asylo__writer_init(&writer, &bytes);
    uint8_t blob[300];
    for (size_t i = 0; i < sizeof blob; i++) {
        blob[i] = (uint8_t)(i * 7);
    }
    asylo__write_u32(&writer, UINT32_MAX);
    asylo__write_u64(&writer, UINT64_MAX);
    asylo__write_i64(&writer, INT64_MIN);
    asylo__write_blob(&writer, blob, sizeof blob);
    asylo__write_string(&writer, "text");
    assert_int_equal(asylo__writer_status(&writer, NULL), ASYLO_OK);

    asylo__reader reader;
    asylo__reader_init(&reader, bytes.data, bytes.size, "round trip");
    assert_int_equal(asylo__read_u32(&reader), UINT32_MAX);
    assert_true(asylo__read_u64(&reader) == UINT64_MAX);
    assert_true(asylo__read_i64(&reader) == INT64_MIN);
    const uint8_t *data;
    size_t size;
    asylo__read_blob(&reader, &data, &size, sizeof blob);
    assert_int_equal(size, sizeof blob);
    assert_memory_equal(data, blob, sizeof blob);
    char *text = asylo__read_string(&reader, 4);
    assert_string_equal(text, "text");
    free(text);
    assert_int_equal(asylo__reader_finish(&reader, NULL), ASYLO_OK);
    asylo__bytes_fini(&bytes);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bytes_limit),
        cmocka_unit_test(test_bytes_zero_limit_allows_none),
        cmocka_unit_test(test_bytes_size_overflow),
        cmocka_unit_test(test_bytes_growth_and_release),
        cmocka_unit_test(test_secure_zero),
        cmocka_unit_test(test_growth_wipes_old_block),
        cmocka_unit_test(test_output_single_reserve_is_the_callers_block),
        cmocka_unit_test(test_decoded_config_wiped),
        cmocka_unit_test(test_bytes_adopt),
        cmocka_unit_test(test_output_verdict),
        cmocka_unit_test(test_output_bound),
        cmocka_unit_test(test_output_reserve_zero_is_not_an_error),
        cmocka_unit_test(test_writer_encodings),
        cmocka_unit_test(test_writer_errors_stick),
        cmocka_unit_test(test_writer_blob_over_u32),
        cmocka_unit_test(test_reader_values),
        cmocka_unit_test(test_reader_truncated_integers),
        cmocka_unit_test(test_reader_errors_stick),
        cmocka_unit_test(test_reader_blobs),
        cmocka_unit_test(test_reader_strings),
        cmocka_unit_test(test_reader_trailing_bytes),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
