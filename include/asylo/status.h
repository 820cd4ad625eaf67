/* asylo/status.h: the one status shape of asylo-c.
 *
 * Every call that can fail returns an asylo_code and, when the caller passes a
 * non-NULL asylo_status, fills it with the code, the origin of the failure and a
 * message a person can act on. Codes are the gRPC canonical set with the same
 * numbers, so they cross the enclave boundary and the network unchanged.
 *
 * An asylo_status is a plain value (no allocation): it can live on the stack,
 * be copied, and never needs freeing. On success functions set code ASYLO_OK,
 * origin ASYLO_ORIGIN_NONE and an empty message.
 */
#ifndef ASYLO_STATUS_H
#define ASYLO_STATUS_H

#include <stdarg.h>
#include <stddef.h>

#include "asylo/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One list maps each code to its number and name so they never drift apart. */
#define ASYLO_STATUS_CODES(X)                                                                      \
    X(OK, 0)                                                                                       \
    X(CANCELLED, 1)                                                                                \
    X(UNKNOWN, 2)                                                                                  \
    X(INVALID_ARGUMENT, 3)                                                                         \
    X(DEADLINE_EXCEEDED, 4)                                                                        \
    X(NOT_FOUND, 5)                                                                                \
    X(ALREADY_EXISTS, 6)                                                                           \
    X(PERMISSION_DENIED, 7)                                                                        \
    X(RESOURCE_EXHAUSTED, 8)                                                                       \
    X(FAILED_PRECONDITION, 9)                                                                      \
    X(ABORTED, 10)                                                                                 \
    X(OUT_OF_RANGE, 11)                                                                            \
    X(UNIMPLEMENTED, 12)                                                                           \
    X(INTERNAL, 13)                                                                                \
    X(UNAVAILABLE, 14)                                                                             \
    X(DATA_LOSS, 15)                                                                               \
    X(UNAUTHENTICATED, 16)

typedef enum asylo_code {
#define ASYLO__CODE_ENUM(name, value) ASYLO_##name = value,
    ASYLO_STATUS_CODES(ASYLO__CODE_ENUM)
#undef ASYLO__CODE_ENUM
} asylo_code;

/* Where a failure came from, so "the enclave said no" and "the wire broke"
 * never look alike. */
#define ASYLO_STATUS_ORIGINS(X)                                                                    \
    X(NONE, 0, "none")                                                                             \
    X(API, 1, "api")             /* the caller misused the API (bad argument, wrong state) */      \
    X(BACKEND, 2, "backend")     /* the backend could not load or reach the enclave */             \
    X(TRANSPORT, 3, "transport") /* the network or the remote peer failed */                       \
    X(ENCLAVE, 4, "enclave")     /* the trusted code returned this status */                       \
    X(HOST, 5, "host")           /* a host (exit call) handler returned this status */

typedef enum asylo_origin {
#define ASYLO__ORIGIN_ENUM(name, value, text) ASYLO_ORIGIN_##name = value,
    ASYLO_STATUS_ORIGINS(ASYLO__ORIGIN_ENUM)
#undef ASYLO__ORIGIN_ENUM
} asylo_origin;

/* Longest message kept, including the terminating NUL; longer ones are cut
 * with a trailing "..." so a cut is visible. */
#define ASYLO_STATUS_MESSAGE_SIZE 512

typedef struct asylo_status {
    asylo_code code;
    asylo_origin origin;
    char message[ASYLO_STATUS_MESSAGE_SIZE];
} asylo_status;

/* "INVALID_ARGUMENT", or "UNKNOWN_CODE" for a number outside the set. */
ASYLO_API const char *asylo_code_name(asylo_code code);
/* "enclave", "transport", ...; "unknown" outside the set. */
ASYLO_API const char *asylo_origin_name(asylo_origin origin);
/* True for the 17 canonical codes. */
ASYLO_API int asylo_code_is_valid(int code);

/* Sets *status (when non-NULL) and returns code, so a failure path reads
 * `return asylo_status_set(status, ASYLO_NOT_FOUND, ASYLO_ORIGIN_API, "...", ...);`. */
ASYLO_API asylo_code asylo_status_set(asylo_status *status, asylo_code code, asylo_origin origin,
                                      const char *format, ...)
    __attribute__((format(printf, 4, 5)));
ASYLO_API asylo_code asylo_status_setv(asylo_status *status, asylo_code code, asylo_origin origin,
                                       const char *format, va_list args);
/* Sets OK. Returns ASYLO_OK. */
ASYLO_API asylo_code asylo_status_ok(asylo_status *status);
/* Prefixes the existing message with context ("loading 'x': <old message>"),
 * keeping code and origin. Returns the code. */
ASYLO_API asylo_code asylo_status_prefix(asylo_status *status, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
/* Writes "CODE (origin): message" into buffer; returns buffer. */
ASYLO_API const char *asylo_status_format(const asylo_status *status, char *buffer,
                                          size_t buffer_size);

#ifdef __cplusplus
}
#endif

#endif
