/* asylo/export.h: marks the symbols that libasylo exports. Everything else in
 * the library is built with hidden visibility, so only the documented API is
 * reachable and an enclave image never sees the host's internals. */
#ifndef ASYLO_EXPORT_H
#define ASYLO_EXPORT_H

#define ASYLO_API __attribute__((visibility("default")))

#endif
