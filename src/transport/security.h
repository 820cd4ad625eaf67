/* Channel security: the flags, their validation, and gRPC credentials.
 *
 * Two types, after Asylo's GrpcChannelBuilder flags:
 *   local  gRPC local credentials (UDS / LOCAL_TCP): plaintext that gRPC itself
 *          refuses on anything but loopback and unix sockets. On any other
 *          address it is refused here too, unless --allow_insecure_non_local
 *          forces plaintext (insecure credentials) for a trusted network.
 *   ssl    TLS with PEM files read from disk. Root certificates are what a
 *          client trusts servers by; a server ignores them unless
 *          require_client_certificate is set, and then requires client
 *          certificates that chain to them (mutual TLS): a client with a
 *          wrong or missing certificate is answered UNAUTHENTICATED per call
 *          and never reaches a handler. One options value parsed from the
 *          plain-TLS flags thus serves both sides.
 *
 * Flags (both --flag=value and --flag value; one leading dash works too):
 *   --security_type=local|ssl
 *   --ssl_server_cert=PEM   (alias --ssl_cert)    server certificate (chain)
 *   --ssl_server_cred=PEM   (alias --ssl_key)     server private key
 *   --ssl_root_certs=PEM    CAs: the client trusts servers chaining to them.
 *                           The server programs (asylo-remote-proxy,
 *                           asylo-provision-server) also set
 *                           require_client_certificate from it; the parser
 *                           itself never does.
 *   --ssl_client_cert=PEM   --ssl_client_key=PEM  client identity (mutual TLS)
 *   --allow_insecure_non_local
 */
#ifndef ASYLO_TRANSPORT_SECURITY_H
#define ASYLO_TRANSPORT_SECURITY_H

#include <stdbool.h>
#include <stddef.h>

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>

#include "asylo/remote.h"
#include "asylo/status.h"
#include "transport/address.h"

/* One struct for channel security: the public asylo_security_options
 * (asylo/remote.h), under its internal name too. The path strings are
 * borrowed (from argv or the caller) and must outlive every use of the
 * options; NULL means "not given". Zero initialisation gives type local with
 * nothing forced (struct_size matters only where the public API takes the
 * struct from a caller). */
typedef asylo_security_type asylo__security_type;
#define ASYLO__SECURITY_LOCAL ASYLO_SECURITY_LOCAL
#define ASYLO__SECURITY_SSL ASYLO_SECURITY_SSL
typedef asylo_security_options asylo__security_options;

/* Largest PEM file read (certificates and keys are a few KiB). */
#define ASYLO__SECURITY_MAX_PEM_SIZE ((size_t)1 << 20)

/* Parses one command-line argument. `next` is the argument after it (or NULL),
 * used for the "--flag value" form. Sets *consumed to the number of arguments
 * used: 0 when the argument is not a security flag (returns OK, options
 * untouched), 1 or 2 otherwise. INVALID_ARGUMENT for a security flag with a
 * bad or missing value. */
asylo_code asylo__security_parse_flag(asylo__security_options *options, const char *argument,
                                      const char *next, int *consumed, asylo_status *status);

/* The flags' --help text: lines indented by two spaces, ending in '\n'. */
const char *asylo__security_usage(void);

/* Checks the options for use on address, before anything is opened:
 *   local on a non-loopback, non-unix address without --allow_insecure_non_local
 *     -> FAILED_PRECONDITION naming the address and the flags that fix it;
 *   ssl server without --ssl_server_cert/--ssl_server_cred, a server requiring
 *     client certificates without --ssl_root_certs, or a client with only
 *     one of --ssl_client_cert/--ssl_client_key -> INVALID_ARGUMENT naming the flag;
 *   a named file that does not exist or cannot be read -> NOT_FOUND /
 *     PERMISSION_DENIED naming the flag and the file.
 * Origin api. */
asylo_code asylo__security_check(const asylo__security_options *options,
                                 const asylo__address *address, bool is_server,
                                 asylo_status *status);

/* Creates credentials for dialing address (runs asylo__security_check first and
 * reads/parses the files). The caller releases *out with
 * grpc_channel_credentials_release. Requires the gRPC runtime. */
asylo_code asylo__security_channel_credentials(const asylo__security_options *options,
                                               const asylo__address *address,
                                               grpc_channel_credentials **out,
                                               asylo_status *status);

/* Same for a server bound to address; release with
 * grpc_server_credentials_release. */
asylo_code asylo__security_server_credentials(const asylo__security_options *options,
                                              const asylo__address *address,
                                              grpc_server_credentials **out, asylo_status *status);

/* Server-side check of a call's client certificate (mutual TLS). Created from
 * the server's options: when they are ssl with require_client_certificate,
 * every call must present a certificate chaining to root_certs. Thread-safe: one verifier
 * serves all calls. */
typedef struct asylo__client_verifier asylo__client_verifier;

/* *out is NULL (no verification needed) unless the options ask for mutual TLS
 * (ssl and require_client_certificate). */
asylo_code asylo__client_verifier_create(const asylo__security_options *options,
                                         asylo__client_verifier **out, asylo_status *status);
/* OK and the certificate subject (RFC 2253, "CN=client,O=Example") in
 * identity when the call's peer presented a certificate that chains to the
 * roots; UNAUTHENTICATED with the reason otherwise. identity may be NULL. */
asylo_code asylo__client_verifier_check(asylo__client_verifier *verifier, grpc_call *call,
                                        char *identity, size_t identity_size, asylo_status *status);
void asylo__client_verifier_destroy(asylo__client_verifier *verifier);

/* Reads a whole file of at most max_size bytes into a NUL-terminated malloc'd
 * buffer. `flag` names the flag the path came from, for the message. */
asylo_code asylo__security_read_file(const char *flag, const char *path, size_t max_size,
                                     char **out, size_t *size, asylo_status *status);

#endif
