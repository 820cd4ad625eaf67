/* The file exit calls' flags and limits, shared by the enclave
 * (asylo_enclave_file_open in asylo/trusted.h) and the host that performs
 * them (asylo_load_config.file_root). */
#ifndef ASYLO_FILES_H
#define ASYLO_FILES_H

#define ASYLO_FILE_READ 0x01u
#define ASYLO_FILE_WRITE 0x02u
#define ASYLO_FILE_CREATE 0x04u
#define ASYLO_FILE_TRUNCATE 0x08u
#define ASYLO_FILE_APPEND 0x10u
#define ASYLO_FILE_EXCLUSIVE 0x20u
#define ASYLO_MAX_FILE_IO_SIZE (1u << 20)
#define ASYLO_MAX_PATH_SIZE 4096

#endif
