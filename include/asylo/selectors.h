/* asylo/selectors.h: the selector ranges of entry calls (host -> enclave) and
 * exit calls (enclave -> host).
 *
 *   0x0000 - 0x00ff  runtime entry calls: initialize, run, finalize
 *   0x0100 - 0x01ff  built-in exit calls: logging, time, randomness, files
 *   0x0200 - 0x02ff  remote control messages of the remote backend's wire
 *   0x0300 - 0x0fff  reserved for future runtime use
 *   0x1000 - ...     user selectors, for entry handlers registered inside the
 *                    enclave and exit handlers registered by the host
 *
 * Registering a handler for a selector outside the user range fails with
 * INVALID_ARGUMENT, except that host code may override a built-in exit call
 * (the remote proxy does this to forward logging and files to the host). */
#ifndef ASYLO_SELECTORS_H
#define ASYLO_SELECTORS_H

#include <stdint.h>

#define ASYLO_SELECTOR_INITIALIZE UINT32_C(0x0001)
#define ASYLO_SELECTOR_RUN UINT32_C(0x0002)
#define ASYLO_SELECTOR_FINALIZE UINT32_C(0x0003)

#define ASYLO_SELECTOR_BUILTIN_FIRST UINT32_C(0x0100)
#define ASYLO_SELECTOR_LOG UINT32_C(0x0100)
#define ASYLO_SELECTOR_TIME_WALL UINT32_C(0x0101)
#define ASYLO_SELECTOR_TIME_MONOTONIC UINT32_C(0x0102)
#define ASYLO_SELECTOR_RANDOM UINT32_C(0x0103)
#define ASYLO_SELECTOR_FILE_OPEN UINT32_C(0x0110)
#define ASYLO_SELECTOR_FILE_READ UINT32_C(0x0111)
#define ASYLO_SELECTOR_FILE_WRITE UINT32_C(0x0112)
#define ASYLO_SELECTOR_FILE_CLOSE UINT32_C(0x0113)
#define ASYLO_SELECTOR_FILE_UNLINK UINT32_C(0x0114)
#define ASYLO_SELECTOR_FILE_SEEK UINT32_C(0x0115)
#define ASYLO_SELECTOR_FILE_STAT UINT32_C(0x0116)
#define ASYLO_SELECTOR_FILE_FSTAT UINT32_C(0x0117)
/* Answered by the backend that loaded the enclave (on the target machine
 * under remote), never by host handlers: src/identity/identity_exits.h. */
#define ASYLO_SELECTOR_IDENTITY UINT32_C(0x0120)
#define ASYLO_SELECTOR_SEAL_KEY UINT32_C(0x0121)
#define ASYLO_SELECTOR_EVIDENCE UINT32_C(0x0122)
#define ASYLO_SELECTOR_VERIFY_EVIDENCE UINT32_C(0x0123)
#define ASYLO_SELECTOR_BUILTIN_LAST UINT32_C(0x01ff)

#define ASYLO_SELECTOR_REMOTE_FIRST UINT32_C(0x0200)
/* Remote control: load an enclave in the proxy (payload: LoadRequest). */
#define ASYLO_SELECTOR_REMOTE_LOAD UINT32_C(0x0200)
/* Remote control: evidence for the host's nonce, bound to the channel, before
 * INITIALIZE (payload: AttestRequest; reply: AttestResponse). */
#define ASYLO_SELECTOR_REMOTE_ATTEST UINT32_C(0x0201)
#define ASYLO_SELECTOR_REMOTE_LAST UINT32_C(0x02ff)

#define ASYLO_SELECTOR_USER_FIRST UINT32_C(0x1000)

#endif
