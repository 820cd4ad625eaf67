/* What the quickstart's host and enclave agree on. */
#ifndef ASYLO_EXAMPLES_QUICKSTART_H
#define ASYLO_EXAMPLES_QUICKSTART_H

#include "asylo/selectors.h"

/* run: message in, nonce || ciphertext || tag out. */
/* Entry selector that decrypts nonce || ciphertext || tag back to the message. */
#define QUICKSTART_SELECTOR_DECRYPT (ASYLO_SELECTOR_USER_FIRST + 0)

#define QUICKSTART_NONCE_SIZE 12
#define QUICKSTART_TAG_SIZE 16
#define QUICKSTART_MAX_MESSAGE_SIZE (1u << 20)

#endif
