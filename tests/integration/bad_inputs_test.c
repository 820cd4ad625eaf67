/* Every bad input of the manager and the client: the code, the origin and
 * the words of the message. After each failed load nothing stays loaded:
 * the name is free again. Run with -V to see the table of answers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sim_test_support.h"

static asylo_manager *manager;
static char temp_dir[512];

static int setup(void **state) {
    (void)state;
    manager = sim_manager();
    make_temp_dir(temp_dir, sizeof temp_dir);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    asylo_manager_destroy(manager);
    remove_temp_dir(temp_dir);
    return 0;
}

/* Nothing of the name stayed: get_client says NOT_FOUND and a good load of
 * the same name works. */
static void expect_nothing_loaded(const char *name) {
    asylo_client *client = (asylo_client *)1;
    asylo_status status;
    assert_int_equal(asylo_manager_get_client(manager, name, &client, &status), ASYLO_NOT_FOUND);
    assert_null(client);
    client = sim_load(manager, name);
    expect_ok("destroy", asylo_manager_destroy_client(manager, client, NULL, 0, &status), &status);
}

/* Loads `config` expecting failure, then checks the name is free. */
static void expect_load_fails(const char *what, const asylo_load_config *config, asylo_code code,
                              asylo_origin origin, const char *needle) {
    asylo_client *client = (asylo_client *)1;
    asylo_status status;
    asylo_code got = asylo_manager_load(manager, config, &client, &status);
    expect_status(what, got, &status, code, origin, needle);
    assert_null(client);
}

static void test_null_manager_or_config(void **state) {
    (void)state;
    asylo_load_config config;
    sim_config(&config, "n");
    asylo_status status;
    expect_status("load: NULL manager", asylo_manager_load(NULL, &config, NULL, &status), &status,
                  ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API, "manager or config is NULL");
    expect_status("load: NULL config", asylo_manager_load(manager, NULL, NULL, &status), &status,
                  ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API, "manager or config is NULL");
    /* A NULL status is allowed everywhere. */
    assert_int_equal(asylo_manager_load(manager, NULL, NULL, NULL), ASYLO_INVALID_ARGUMENT);
    expect_status("manager_create(NULL)", asylo_manager_create(NULL, &status), &status,
                  ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API, "manager pointer is NULL");
    asylo_manager_destroy(NULL); /* a no-op */
}

static void test_bad_names(void **state) {
    (void)state;
    asylo_load_config config;
    sim_config(&config, NULL);
    expect_load_fails("name NULL", &config, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                      "load config has no enclave name");
    config.name = "";
    expect_load_fails("name empty", &config, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                      "load config has no enclave name");

    char name[ASYLO_MAX_ENCLAVE_NAME_SIZE + 1];
    memset(name, 'n', ASYLO_MAX_ENCLAVE_NAME_SIZE);
    name[ASYLO_MAX_ENCLAVE_NAME_SIZE] = '\0';
    config.name = name; /* 128 bytes */
    expect_load_fails("name 128 bytes", &config, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                      "enclave name is longer than 127 bytes");
    name[ASYLO_MAX_ENCLAVE_NAME_SIZE - 1] = '\0'; /* 127 bytes: fine */
    expect_nothing_loaded(name);

    config.name = "bad name";
    expect_load_fails("name with a space", &config, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                      "enclave name 'bad name' has character 0x20 at 3: use letters, digits, "
                      "'.', '_' and '-'");
    config.name = "a/b";
    expect_load_fails("name with '/'", &config, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                      "character 0x2f at 1");
    config.name = "caf\xc3\xa9";
    expect_load_fails("name with UTF-8", &config, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                      "character 0xc3 at 3");
    config.name = "tab\tname";
    expect_load_fails("name with a tab", &config, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                      "character 0x09 at 3");
    expect_nothing_loaded("Valid.name_1-2");
}

static void test_bad_backends(void **state) {
    (void)state;
    asylo_load_config config;
    sim_config(&config, "backend");
    config.backend = NULL;
    expect_load_fails("backend NULL", &config, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                      "load config names no backend; choose one of: sim");
    config.backend = "";
    expect_load_fails("backend empty", &config, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                      "choose one of: sim");
    config.backend = "sgx";
    expect_load_fails("backend unknown", &config, ASYLO_NOT_FOUND, ASYLO_ORIGIN_API,
                      "no backend named 'sgx' in this build; available: sim");
    config.backend = "SIM";
    expect_load_fails("backend wrong case", &config, ASYLO_NOT_FOUND, ASYLO_ORIGIN_API,
                      "no backend named 'SIM'");
    expect_nothing_loaded("backend");
    assert_string_equal(asylo_backend_name_at(0), "sim");
    size_t count = 0;
    while (asylo_backend_name_at(count) != NULL) {
        count++;
    }
    assert_null(asylo_backend_name_at(count + 1000));
}

static void write_file(const char *path, const char *text, mode_t mode) {
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    fputs(text, file);
    assert_int_equal(fclose(file), 0);
    assert_int_equal(chmod(path, mode), 0);
}

static void test_bad_images(void **state) {
    (void)state;
    asylo_load_config config;
    sim_config(&config, "image");
    char path[1024];

    config.enclave_path = NULL;
    expect_load_fails("enclave_path NULL", &config, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                      "no enclave image path given (load config enclave_path)");
    config.enclave_path = "";
    expect_load_fails("enclave_path empty", &config, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                      "no enclave image path given");

    snprintf(path, sizeof path, "%s/missing.so", temp_dir);
    config.enclave_path = path;
    char needle[1200];
    snprintf(needle, sizeof needle, "cannot open enclave image '%s': No such file or directory",
             path);
    expect_load_fails("missing file", &config, ASYLO_NOT_FOUND, ASYLO_ORIGIN_BACKEND, needle);
    config.enclave_path = "/nonexistent-dir/enclave.so";
    expect_load_fails("missing directory", &config, ASYLO_NOT_FOUND, ASYLO_ORIGIN_BACKEND,
                      "'/nonexistent-dir/enclave.so'");
    snprintf(path, sizeof path, "%s/file/below-a-file.so", TEST_ENCLAVE_PATH);
    config.enclave_path = path;
    expect_load_fails("path through a file (ENOTDIR)", &config, ASYLO_NOT_FOUND,
                      ASYLO_ORIGIN_BACKEND, "Not a directory");

    config.enclave_path = temp_dir;
    snprintf(needle, sizeof needle, "enclave image '%s' is not a regular file", temp_dir);
    expect_load_fails("a directory", &config, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_BACKEND, needle);
    config.enclave_path = "/dev/null";
    expect_load_fails("/dev/null", &config, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_BACKEND,
                      "is not a regular file");

    snprintf(path, sizeof path, "%s/passwd", temp_dir);
    write_file(path,
               "root:x:0:0:root:/root:/bin/bash\n"
               "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
               "bin:x:2:2:bin:/bin:/usr/sbin/nologin\n",
               0644);
    config.enclave_path = path;
    snprintf(needle, sizeof needle, "'%s' is not an enclave image: not an ELF file", path);
    expect_load_fails("passwd-like text file", &config, ASYLO_INVALID_ARGUMENT,
                      ASYLO_ORIGIN_BACKEND, needle);
    snprintf(path, sizeof path, "%s/empty.so", temp_dir);
    write_file(path, "", 0644);
    expect_load_fails("empty file", &config, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_BACKEND,
                      "not an ELF file");

    config.enclave_path = PIE_EXECUTABLE_PATH;
    expect_load_fails("PIE executable", &config, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_BACKEND,
                      "is not an enclave image: it is a (position-independent) executable, not "
                      "a shared object built with asylo_add_enclave");
    config.enclave_path = NON_PIE_EXECUTABLE_PATH;
    expect_load_fails("non-PIE executable", &config, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_BACKEND,
                      "it is an ELF executable, not a shared object");

    config.enclave_path = NOT_AN_ENCLAVE_PATH;
    expect_load_fails("shared object without the ABI symbol", &config, ASYLO_INVALID_ARGUMENT,
                      ASYLO_ORIGIN_BACKEND,
                      "is a shared object but not an asylo enclave: it has no .asylo_sig section "
                      "(build it with asylo_add_enclave)");
    expect_nothing_loaded("image");
}

static void test_unreadable_image(void **state) {
    (void)state;
    if (geteuid() == 0) {
        printf("| unreadable file | (skipped: running as root, which reads any file) | | |\n");
        skip();
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/unreadable.so", temp_dir);
    write_file(path, "not even read", 0000);
    asylo_load_config config;
    sim_config(&config, "unreadable");
    config.enclave_path = path;
    expect_load_fails("unreadable file", &config, ASYLO_PERMISSION_DENIED, ASYLO_ORIGIN_BACKEND,
                      "Permission denied");
    expect_nothing_loaded("unreadable");
}

static void test_name_in_use(void **state) {
    (void)state;
    asylo_client *first = sim_load(manager, "twice");
    asylo_load_config config;
    sim_config(&config, "twice");
    asylo_client *second = (asylo_client *)1;
    asylo_status status;
    expect_status("same name twice", asylo_manager_load(manager, &config, &second, &status),
                  &status, ASYLO_ALREADY_EXISTS, ASYLO_ORIGIN_API,
                  "an enclave named 'twice' is already loaded");
    assert_null(second);
    /* The first is untouched. */
    asylo_client *found = NULL;
    expect_ok("get_client", asylo_manager_get_client(manager, "twice", &found, &status), &status);
    assert_ptr_equal(found, first);
    asylo_buffer output = {0};
    expect_ok("run", asylo_client_run(first, "x", 1, &output, &status), &status);
    asylo_buffer_free(&output);
    /* The same name in another manager is another enclave. */
    asylo_manager *other = sim_manager();
    asylo_client *elsewhere = sim_load(other, "twice");
    assert_ptr_not_equal(elsewhere, first);
    asylo_manager_destroy(other);
    expect_ok("destroy", asylo_manager_destroy_client(manager, first, NULL, 0, &status), &status);
}

static void test_get_client(void **state) {
    (void)state;
    asylo_client *client = (asylo_client *)1;
    asylo_status status;
    expect_status("get_client unknown name",
                  asylo_manager_get_client(manager, "nobody", &client, &status), &status,
                  ASYLO_NOT_FOUND, ASYLO_ORIGIN_API, "no enclave named 'nobody' is loaded");
    assert_null(client);
    expect_status("get_client NULL name", asylo_manager_get_client(manager, NULL, &client, &status),
                  &status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                  "manager, name or client is NULL");
    expect_status("get_client NULL manager", asylo_manager_get_client(NULL, "x", &client, &status),
                  &status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                  "manager, name or client is NULL");
}

static void test_bad_calls(void **state) {
    (void)state;
    asylo_client *client = sim_load(manager, "calls");
    asylo_status status;
    asylo_buffer output = {(uint8_t *)1, 99};

    expect_status("run: NULL input, size 5", asylo_client_run(client, NULL, 5, &output, &status),
                  &status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                  "input is NULL but input_size is 5");
    assert_null(output.data); /* output is emptied on failure */
    assert_int_equal(output.size, 0);
    expect_status("run: NULL client", asylo_client_run(NULL, "x", 1, &output, &status), &status,
                  ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API, "client is NULL");
    expect_status("call: NULL input, size 1",
                  asylo_client_call(client, TEST_COUNTER, NULL, 1, &output, &status), &status,
                  ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API, "input is NULL but input_size is 1");
    /* NULL input of size 0 is an empty input. */
    expect_ok("run: NULL input, size 0", asylo_client_run(client, NULL, 0, &output, &status),
              &status);
    assert_int_equal(output.size, 0);
    asylo_buffer_free(&output);

    static const uint32_t reserved[] = {0,
                                        ASYLO_SELECTOR_INITIALIZE,
                                        ASYLO_SELECTOR_RUN,
                                        ASYLO_SELECTOR_FINALIZE,
                                        ASYLO_SELECTOR_LOG,
                                        ASYLO_SELECTOR_REMOTE_FIRST,
                                        ASYLO_SELECTOR_USER_FIRST - 1};
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++) {
        char needle[64];
        snprintf(needle, sizeof needle, "entry selector 0x%x is reserved", reserved[i]);
        char what[64];
        snprintf(what, sizeof what, "call: reserved selector 0x%x", reserved[i]);
        expect_status(what, asylo_client_call(client, reserved[i], "x", 1, &output, &status),
                      &status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API, needle);
    }
    expect_status("call: unregistered user selector 0x1fff",
                  asylo_client_call(client, 0x1fff, NULL, 0, &output, &status), &status,
                  ASYLO_NOT_FOUND, ASYLO_ORIGIN_ENCLAVE,
                  "no entry handler is registered for selector 8191");
    expect_status("call: NULL client",
                  asylo_client_call(NULL, TEST_COUNTER, NULL, 0, &output, &status), &status,
                  ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API, "client is NULL");
    expect_status("finalize: NULL client", asylo_client_finalize(NULL, NULL, 0, &status), &status,
                  ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API, "client is NULL");
    expect_status("finalize: NULL input, size 3", asylo_client_finalize(client, NULL, 3, &status),
                  &status, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                  "input is NULL but input_size is 3");
    /* A NULL status or output is allowed. */
    assert_int_equal(asylo_client_call(client, 0x1fff, NULL, 0, NULL, NULL), ASYLO_NOT_FOUND);
    assert_int_equal(asylo_client_run(client, "ab", 2, NULL, NULL), ASYLO_OK);
    /* Still running after all that. */
    assert_int_equal(asylo_client_get_state(client), ASYLO_CLIENT_RUNNING);
    expect_ok("destroy", asylo_manager_destroy_client(manager, client, NULL, 0, &status), &status);
}

static asylo_code unused_handler(void *context, asylo_client *client, uint32_t selector,
                                 const uint8_t *input, size_t input_size, asylo_output *output,
                                 asylo_status *status) {
    (void)context, (void)client, (void)selector, (void)input, (void)input_size, (void)output;
    return asylo_status_ok(status);
}

static void test_bad_exit_handlers(void **state) {
    (void)state;
    asylo_load_config config;
    sim_config(&config, "exits");
    asylo_exit_handler handlers[2] = {{TEST_HOST_ECHO, unused_handler, NULL},
                                      {ASYLO_SELECTOR_REMOTE_FIRST, unused_handler, NULL}};
    config.exit_handlers = handlers;
    config.exit_handler_count = 2;
    expect_load_fails("exit handler for reserved selector 0x200", &config, ASYLO_INVALID_ARGUMENT,
                      ASYLO_ORIGIN_API,
                      "exit selector 0x200 is reserved: use the user range (from 0x1000) or "
                      "override a built-in (0x100-0x1ff)");
    handlers[1].selector = ASYLO_SELECTOR_RUN;
    expect_load_fails("exit handler for reserved selector 0x2", &config, ASYLO_INVALID_ARGUMENT,
                      ASYLO_ORIGIN_API, "exit selector 0x2 is reserved");
    handlers[1].selector = ASYLO_SELECTOR_USER_FIRST - 1;
    expect_load_fails("exit handler for reserved selector 0xfff", &config, ASYLO_INVALID_ARGUMENT,
                      ASYLO_ORIGIN_API, "exit selector 0xfff is reserved");

    handlers[1].selector = TEST_HOST_ECHO;
    expect_load_fails("duplicate exit handlers", &config, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                      "two exit handlers for selector 4352");
    handlers[1].selector = TEST_HOST_REENTER;
    handlers[1].handler = NULL;
    expect_load_fails("exit handler function NULL", &config, ASYLO_INVALID_ARGUMENT,
                      ASYLO_ORIGIN_API, "exit handler for selector 4353 is NULL");

    config.exit_handlers = NULL;
    config.exit_handler_count = 1;
    expect_load_fails("exit_handlers NULL, count 1", &config, ASYLO_INVALID_ARGUMENT,
                      ASYLO_ORIGIN_API, "exit_handler_count is 1 but exit_handlers is NULL");
    asylo_exit_handler *many = calloc(ASYLO_MAX_EXIT_HANDLERS + 1, sizeof *many);
    assert_non_null(many);
    for (size_t i = 0; i <= ASYLO_MAX_EXIT_HANDLERS; i++) {
        many[i] =
            (asylo_exit_handler){ASYLO_SELECTOR_USER_FIRST + (uint32_t)i, unused_handler, NULL};
    }
    config.exit_handlers = many;
    config.exit_handler_count = ASYLO_MAX_EXIT_HANDLERS + 1;
    expect_load_fails("257 exit handlers", &config, ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                      "the count is over 256");
    /* Exactly the limit, and overriding a built-in, are fine. */
    many[0].selector = ASYLO_SELECTOR_TIME_WALL;
    config.exit_handler_count = ASYLO_MAX_EXIT_HANDLERS;
    asylo_client *client = NULL;
    asylo_status status;
    expect_ok("256 exit handlers", asylo_manager_load(manager, &config, &client, &status), &status);
    expect_ok("destroy", asylo_manager_destroy_client(manager, client, NULL, 0, &status), &status);
    free(many);
    expect_nothing_loaded("exits");
}

static void test_backend_config_given_to_sim(void **state) {
    (void)state;
    asylo_load_config config;
    sim_config(&config, "configured");
    static const int some_config = 1;
    config.backend_config = &some_config;
    expect_load_fails("backend_config given to sim", &config, ASYLO_INVALID_ARGUMENT,
                      ASYLO_ORIGIN_API,
                      "the sim backend takes no backend_config (got one for 'configured')");
    expect_nothing_loaded("configured");
}

static void test_bad_enclave_config(void **state) {
    (void)state;
    asylo_load_config config;
    sim_config(&config, "env");
    static const asylo_environment_variable equals[] = {{"GOOD", "1"}, {"A=B", "v"}};
    config.enclave_config.environment = equals;
    config.enclave_config.environment_count = 2;
    expect_load_fails("enclave config: env name with '='", &config, ASYLO_INVALID_ARGUMENT,
                      ASYLO_ORIGIN_API,
                      "enclave config: environment variable 1 has an empty name or a name "
                      "containing '='");
    config.enclave_config.environment = NULL;
    expect_load_fails("enclave config: environment NULL, count 2", &config, ASYLO_INVALID_ARGUMENT,
                      ASYLO_ORIGIN_API, "environment_count is 2 but environment is NULL");
    config.enclave_config.environment_count = 0;
    config.enclave_config.log_level = (asylo_log_level)7;
    expect_load_fails("enclave config: log level 7", &config, ASYLO_INVALID_ARGUMENT,
                      ASYLO_ORIGIN_API, "log level 7 is not an asylo_log_level");
    config.enclave_config.log_level = ASYLO_LOG_INFO;
    config.enclave_config.user_config_size = 10;
    expect_load_fails("enclave config: user_config NULL, size 10", &config, ASYLO_INVALID_ARGUMENT,
                      ASYLO_ORIGIN_API, "user_config_size is 10 but user_config is NULL");
    expect_nothing_loaded("env");
}

static void test_destroy_misuse(void **state) {
    (void)state;
    asylo_client *client = sim_load(manager, "destroyed");
    asylo_status status;
    expect_status("destroy: NULL final input, size 2",
                  asylo_manager_destroy_client(manager, client, NULL, 2, &status), &status,
                  ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API,
                  "final input is NULL but its size is 2");
    /* That refusal left the client loaded. */
    asylo_client *found = NULL;
    expect_ok("get_client", asylo_manager_get_client(manager, "destroyed", &found, &status),
              &status);
    /* Destroying NULL is harmless, like every destroy of the API. */
    expect_ok("destroy: NULL client", asylo_manager_destroy_client(manager, NULL, NULL, 0, &status),
              &status);
    expect_ok("destroy: NULL client, NULL manager",
              asylo_manager_destroy_client(NULL, NULL, NULL, 0, &status), &status);
    expect_status("destroy: NULL manager",
                  asylo_manager_destroy_client(NULL, client, NULL, 0, &status), &status,
                  ASYLO_INVALID_ARGUMENT, ASYLO_ORIGIN_API, "manager is NULL (client 'destroyed')");
    asylo_manager *other = sim_manager();
    expect_status("destroy: client of another manager",
                  asylo_manager_destroy_client(other, client, NULL, 0, &status), &status,
                  ASYLO_NOT_FOUND, ASYLO_ORIGIN_API, "not loaded in this manager");
    asylo_manager_destroy(other);

    expect_ok("destroy", asylo_manager_destroy_client(manager, client, NULL, 0, &status), &status);
    /* The pointer is only compared, never used, so a second destroy is safe. */
    expect_status("destroy twice", asylo_manager_destroy_client(manager, client, NULL, 0, &status),
                  &status, ASYLO_NOT_FOUND, ASYLO_ORIGIN_API,
                  "that client is not loaded in this manager (already destroyed?)");
    expect_nothing_loaded("destroyed");
}

int main(void) {
    printf("| input | code | origin | message |\n|---|---|---|---|\n");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_null_manager_or_config),
        cmocka_unit_test(test_bad_names),
        cmocka_unit_test(test_bad_backends),
        cmocka_unit_test(test_bad_images),
        cmocka_unit_test(test_unreadable_image),
        cmocka_unit_test(test_name_in_use),
        cmocka_unit_test(test_get_client),
        cmocka_unit_test(test_bad_calls),
        cmocka_unit_test(test_bad_exit_handlers),
        cmocka_unit_test(test_backend_config_given_to_sim),
        cmocka_unit_test(test_bad_enclave_config),
        cmocka_unit_test(test_destroy_misuse),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
