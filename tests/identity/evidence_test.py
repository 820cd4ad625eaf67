#!/usr/bin/python3
"""Evidence interoperability: real tokens from an enclave on sim verify with
both the C verifier (evidence_tool verify) and verify_evidence.py (written
from docs/attestation.md); forged and damaged tokens are refused by both,
the C verifier with the documented code.

Remote binding: tokens the proxy's ATTEST returns (run in evidence_tool)
carry, as user data, the channel binding recomputed here from the doc alone:
from the proxy's certificate (its SubjectPublicKeyInfo) and from a token.

    evidence_test.py EVIDENCE_TOOL IMAGE MAKE_CERTS
"""
import hashlib
import os
import subprocess
import sys
import tempfile

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import verify_evidence  # noqa: E402

tool, image, make_certs = sys.argv[1], sys.argv[2], sys.argv[3]
work = tempfile.mkdtemp(prefix="asylo-evidence-")
os.environ["ASYLO_STATE_DIR"] = os.path.join(work, "state")
failures = []


def c_verify(token, nonce, measurement=None):
    path = os.path.join(work, "candidate.cbor")
    with open(path, "wb") as out:
        out.write(token)
    args = [tool, "verify", path, os.path.join(work, "platform.pub"), nonce.hex()]
    if measurement is not None:
        args.append(measurement.hex())
    result = subprocess.run(args, capture_output=True, text=True, timeout=30)
    return result.stdout.strip()


def py_verify(token, nonce, measurement=None):
    try:
        verify_evidence.verify(token, platform_key, nonce, measurement)
        return "OK"
    except verify_evidence.Refused as reason:
        return "REFUSED: %s" % reason


def expect_refused(name, token, code, nonce=None, measurement=None):
    nonce = nonce if nonce is not None else good_nonce
    c_answer = c_verify(token, nonce, measurement)
    py_answer = py_verify(token, nonce, measurement)
    if not c_answer.startswith(code + ":"):
        failures.append("%s: C verifier said %r, expected %s" % (name, c_answer, code))
    if not py_answer.startswith("REFUSED"):
        failures.append("%s: Python verifier accepted it" % name)
    print("%-44s C: %-60.60s py: %.50s" % (name, c_answer, py_answer))


def sign_with(private_key, protected, payload):
    to_sign = cbor2.dumps(["Signature1", protected, b"", payload])
    r, s = decode_dss_signature(private_key.sign(to_sign, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def cose(protected, unprotected, payload, signature, tag=18):
    return cbor2.dumps(cbor2.CBORTag(tag, [protected, unprotected, payload, signature]))


good_nonce = os.urandom(32)
subprocess.run([tool, "issue", image, work, good_nonce.hex()], check=True, timeout=60)
token = open(os.path.join(work, "token.cbor"), "rb").read()
platform_key = open(os.path.join(work, "platform.pub"), "rb").read()
measurement = bytes.fromhex(open(os.path.join(work, "measurement.hex")).read())

# Real tokens verify with both, pinned to the image's measurement.
answer = c_verify(token, good_nonce, measurement)
if not answer.startswith("OK " + measurement.hex()) or "root=software" not in answer:
    failures.append("C verifier refused a real token: %r" % answer)
if py_verify(token, good_nonce, measurement) != "OK":
    failures.append("Python verifier refused a real token: %r"
                    % py_verify(token, good_nonce, measurement))
print("real token (%d bytes): C %s; Python %s" % (len(token), answer,
                                                 py_verify(token, good_nonce, measurement)))

tag = cbor2.loads(token)
protected, unprotected, payload, signature = tag.value

# Damage.
expect_refused("truncated by one byte", token[:-1], "DATA_LOSS")
expect_refused("truncated to half", token[: len(token) // 2], "DATA_LOSS")
expect_refused("untagged COSE_Sign1", cbor2.dumps(tag.value), "DATA_LOSS")
flipped = 0
for position in range(0, len(token), 9):
    damaged = bytearray(token)
    damaged[position] ^= 0x04
    c_answer = c_verify(bytes(damaged), good_nonce)
    if c_answer.startswith("OK") or py_verify(bytes(damaged), good_nonce) == "OK":
        failures.append("bit flip at byte %d accepted (C: %s)" % (position, c_answer))
    flipped += 1
print("%d bit-flipped tokens refused by both" % flipped)

# Algorithms other than ES256, and algorithm confusion.
expect_refused("alg missing (protected {})", cose(cbor2.dumps({}), unprotected, payload,
                                                  signature), "UNAUTHENTICATED")
hs256 = cbor2.dumps({1: 5})
mac = hmac.HMAC(platform_key, hashes.SHA256())
mac.update(cbor2.dumps(["Signature1", hs256, b"", payload]))
expect_refused("alg HS256 keyed with the public key",
               cose(hs256, unprotected, payload, mac.finalize() * 2), "UNAUTHENTICATED")
expect_refused("alg EdDSA", cose(cbor2.dumps({1: -8}), unprotected, payload, signature),
               "UNAUTHENTICATED")
expect_refused("alg none-like (text 'none')", cose(cbor2.dumps({1: "none"}), unprotected,
                                                   payload, signature), "UNAUTHENTICATED")
expect_refused("alg in the unprotected header", cose(protected, {1: -7, 4: unprotected[4]},
                                                     payload, signature), "UNAUTHENTICATED")
expect_refused("protected header with an extra entry",
               cose(cbor2.dumps({1: -7, 3: 60}), unprotected, payload, signature),
               "UNAUTHENTICATED")

# Signed by a key nobody trusts.
rogue = ec.generate_private_key(ec.SECP256R1())
expect_refused("signed by an unknown key",
               cose(protected, unprotected, payload, sign_with(rogue, protected, payload)),
               "UNAUTHENTICATED")

# A genuine token presented to a verifier that sent another nonce.
expect_refused("replayed nonce", token, "UNAUTHENTICATED", nonce=os.urandom(32))

# Another measurement, validly signed by the platform key (read from its
# 0600 file: whoever can read it can do this; the doc says so).
scalar = open(os.path.join(work, "state", "attestation.key"), "rb").read()
platform_private = ec.derive_private_key(int.from_bytes(scalar, "big"), ec.SECP256R1())
claims = cbor2.loads(payload)
inner = cbor2.loads(claims[273][0][1])
inner["measurement"] = hashlib.sha256(b"another enclave").digest()
claims[273] = [[60, cbor2.dumps(inner)]]
other_payload = cbor2.dumps(claims)
other = cose(protected, unprotected, other_payload,
             sign_with(platform_private, protected, other_payload))
expect_refused("another measurement (policy pins ours)", other, "PERMISSION_DENIED",
               measurement=measurement)
if not c_verify(other, good_nonce).startswith("OK"):
    failures.append("a validly signed token without a pin was refused")
# A missing claim, validly signed.
claims = cbor2.loads(payload)
del claims[-70000]
stripped = cbor2.dumps(claims)
expect_refused("root claim missing (validly signed)",
               cose(protected, unprotected, stripped,
                    sign_with(platform_private, protected, stripped)), "DATA_LOSS")



# Remote binding (docs/attestation.md, "The channel binding, byte for byte").
def doc_binding(kind, value):
    inner = hashlib.sha256(value).digest()
    return hashlib.sha256(b"asylo-c remote binding v1" + b"\x00" + bytes([kind]) + inner).digest()


certs = os.path.join(work, "certs")
os.mkdir(certs)
subprocess.run(["sh", make_certs, certs], check=True, timeout=60, capture_output=True)
server_pem = os.path.join(certs, "server.pem")
certificate = x509.load_pem_x509_certificate(open(server_pem, "rb").read())
spki = certificate.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
bindings = {}
for kind, value, expected in (("cert", server_pem, doc_binding(1, spki)),
                              ("token", "one-time-token-42", doc_binding(2, b"one-time-token-42"))):
    result = subprocess.run([tool, "attest", image, work, good_nonce.hex(), kind, value],
                            capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        failures.append("attest (%s): %s" % (kind, result.stderr.strip()))
        continue
    bound = open(os.path.join(work, "bound.cbor"), "rb").read()
    for verifier, verdict in (("python", py_verify(bound, good_nonce, measurement)),
                              ("C", c_verify(bound, good_nonce, measurement))):
        if not verdict.startswith("OK"):
            failures.append("bound token (%s) refused by the %s verifier: %s"
                            % (kind, verifier, verdict))
    user_data = cbor2.loads(cbor2.loads(bound).value[2])[-70001]
    if user_data != expected:
        failures.append("binding (%s): token has %s, the doc gives %s"
                        % (kind, user_data.hex(), expected.hex()))
    else:
        print("ok   remote binding (%s) matches the doc: %s" % (kind, expected.hex()))
    bindings[kind] = user_data
if len(set(bindings.values())) != 2:
    failures.append("certificate and token bindings should differ: %s" % bindings)

subprocess.run(["rm", "-rf", work], check=False)
if failures:
    print("\n".join("FAIL: " + failure for failure in failures))
    sys.exit(1)
print("evidence: C and Python verifiers agree on every case")
