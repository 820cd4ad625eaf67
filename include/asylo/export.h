/* asylo/export.h: marks the symbols that libasylo exports. Everything else in
 * the library is built with hidden visibility, so only the documented API is
 * reachable. Inside an enclave image (the trusted runtime's own copy of these
 * functions) nothing is exported but the ABI table. */
#ifndef ASYLO_EXPORT_H
#define ASYLO_EXPORT_H

#ifdef ASYLO_TRUSTED_BUILD
#define ASYLO_API
#else
#define ASYLO_API __attribute__((visibility("default")))
#endif

#endif
