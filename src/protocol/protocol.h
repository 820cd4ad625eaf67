/* The call protocol of every isolating backend, written once over an abstract
 * channel: ENTER (host -> enclave), EXIT (enclave -> host), RETURN and ERROR
 * (either way), with nested re-entry on the calling thread.
 *
 * A conversation runs on one thread of each side over one channel. The host
 * sends ENTER and then serves EXITs until the RETURN or ERROR of its call; an
 * exit handler may enter again (nested), which sends a new ENTER whose parent
 * is the exit call being served. The enclave side mirrors it: it serves an
 * ENTER, and an exit call sends EXIT and then serves nested ENTERs until its
 * own RETURN or ERROR.
 *
 * Every received frame is validated before use: a known kind, ids that match
 * the call being waited for, a payload inside the channel's bound, a canonical
 * status code, a NUL-terminated message. A frame that breaks the protocol
 * ends the conversation: the session is marked broken and every later call on
 * it fails (the backend then ends the peer). No gRPC, no host or backend code:
 * this module depends only on src/common. */
#ifndef ASYLO_PROTOCOL_PROTOCOL_H
#define ASYLO_PROTOCOL_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "asylo/buffer.h"
#include "asylo/status.h"

#define ASYLO__PROTOCOL_VERSION 1u

typedef enum asylo__protocol_kind {
    ASYLO__PROTOCOL_ENTER = 1,
    ASYLO__PROTOCOL_EXIT = 2,
    ASYLO__PROTOCOL_RETURN = 3,
    ASYLO__PROTOCOL_ERROR = 4,
} asylo__protocol_kind;

/* Deepest nesting of ENTER inside EXIT inside ENTER ... one session accepts. */
#define ASYLO__PROTOCOL_MAX_DEPTH 64

typedef struct asylo__protocol_frame {
    uint64_t call_id;        /* never 0 */
    uint64_t parent_call_id; /* the call this one nests in; 0 for an outermost ENTER */
    uint32_t kind;           /* asylo__protocol_kind; anything else is refused */
    uint32_t selector;       /* ENTER and EXIT only */
    /* To send: borrowed for the send call. Received: owned by the frame until
     * asylo__protocol_frame_release; NULL when payload_size is 0. */
    const uint8_t *payload;
    size_t payload_size;
    asylo_status status; /* ERROR only; OK otherwise */
    /* Set by a channel's receive: what holds the payload. Either owned_
     * (malloc'd; wiped and freed) or, when release_ is set, the channel's own
     * storage, which release_(release_context_) wipes and frees (no copy). */
    uint8_t *owned_;
    void (*release_)(void *context);
    void *release_context_;
} asylo__protocol_frame;

/* One end of a bidirectional frame channel used by one thread at a time.
 * send copies the frame out before it returns. receive blocks until a frame
 * arrives and gives it owned payload; it may return a frame that breaks the
 * protocol (the protocol checks), but never one whose payload is larger than
 * max_payload_size. A non-OK return means the channel is gone (peer died,
 * terminated): the status says why. */
typedef struct asylo__protocol_channel {
    void *context;
    asylo_code (*send)(void *context, const asylo__protocol_frame *frame, asylo_status *status);
    asylo_code (*receive)(void *context, asylo__protocol_frame *frame, asylo_status *status);
    size_t max_payload_size;
} asylo__protocol_channel;

/* Frees a received frame's payload (wiping it) and zeroes the frame. */
void asylo__protocol_frame_release(asylo__protocol_frame *frame);
/* "ENTER", "EXIT", "RETURN", "ERROR" or "INVALID". */
const char *asylo__protocol_kind_name(uint32_t kind);
/* Checks a received frame on its own (kind, ids, sizes, status). On failure
 * INTERNAL with origin `origin` and a message naming what is wrong. */
asylo_code asylo__protocol_frame_check(const asylo__protocol_frame *frame, size_t max_payload_size,
                                       asylo_origin origin, asylo_status *status);

/* Handles an exit call on the host, or an entry call in the enclave. Same
 * shape as the enclave ABI's enter and the host's exit dispatcher. */
/* Its output is bounded by the channel's max_payload_size; a handler that
 * returns OK after a write was refused gets the refusal (RESOURCE_EXHAUSTED)
 * sent instead of a truncated output. */
typedef asylo_code (*asylo__protocol_handler_fn)(void *context, uint32_t selector,
                                                 const uint8_t *input, size_t input_size,
                                                 asylo_output *output, asylo_status *status);

/* One end of a conversation: a channel, the handler of calls from the other
 * side, and where it is inside the current call stack. Zero it, then fill the
 * public fields. */
typedef struct asylo__protocol_session {
    const asylo__protocol_channel *channel;
    asylo__protocol_handler_fn handler;
    void *handler_context;
    /* Origin given to failures of the peer (frames that break the protocol). */
    asylo_origin peer_origin;
    /* True on the host end (sends ENTER, serves EXIT); false in the enclave. */
    bool is_host;
    /* Optional: numbers the calls this end starts (never 0, unique among the
     * calls open on this channel), e.g. from a counter shared by every channel
     * of one enclave so that log lines of both ends name one call alike.
     * NULL: host ids are odd and enclave ids even, counted per session. */
    uint64_t (*new_call_id)(void *context);
    void *new_call_id_context;
    /* Private. */
    uint64_t next_call_id;
    uint64_t serving_call_id; /* innermost call of the peer being handled here */
    uint32_t depth;
    bool broken;
    asylo_status broken_status;
} asylo__protocol_session;

/* Host side: enters the peer at `selector` and serves its exit calls until the
 * call ends. The peer's output goes to `output`. May be called again from
 * inside the handler (nested). */
asylo_code asylo__protocol_call(asylo__protocol_session *session, uint32_t selector,
                                const uint8_t *input, size_t input_size, asylo_output *output,
                                asylo_status *status);

/* Enclave side: waits for one ENTER, handles it and replies. Non-OK only when
 * the channel or the protocol broke (then the session is over). */
asylo_code asylo__protocol_serve_one(asylo__protocol_session *session, asylo_status *status);

/* Enclave side: an exit call from inside the entry call being served (same
 * as asylo__protocol_call; FAILED_PRECONDITION outside an entry call). */
#define asylo__protocol_exit asylo__protocol_call

/* The id of the peer's call being handled on this thread (the handler's
 * call), 0 outside one: for log lines. */
uint64_t asylo__protocol_serving_call(const asylo__protocol_session *session);

/* True once the session saw a frame that breaks the protocol or lost its
 * channel; *status (optional) then says why. */
bool asylo__protocol_session_broken(const asylo__protocol_session *session, asylo_status *status);

#endif
