#!/usr/bin/python3
"""An independent verifier of asylo-c evidence, written from
docs/attestation.md ("Attestation evidence", "TPM quote") alone, with Debian's
python3-cbor2 and python3-cryptography.

    verify_evidence.py TOKEN PLATFORM_KEY NONCE_HEX [MEASUREMENT_HEX]
    verify_evidence.py --batch FILE   (lines: TOKEN PLATFORM_KEY NONCE_HEX MEASUREMENT_HEX)

PLATFORM_KEY holds the 65-byte SEC1 uncompressed platform public key. Prints
"OK <measurement hex>" and exits 0 when the token verifies, else prints
"REFUSED: <reason>" and exits 1.
"""
import hashlib
import io
import struct
import sys

import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

PROFILE = "tag:asylo-c.invalid,2026:eat-v1"
MEASUREMENT_KEYS = {"measurement", "signer-id", "product-id", "svn", "signed", "debug", "backend"}


QUOTE_PCR = 23


class Refused(Exception):
    pass


def verify_es256(platform_key, signature, message, what):
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), platform_key)
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"),
                               int.from_bytes(signature[32:], "big"))
    try:
        public.verify(der, message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise Refused("%s does not verify with the platform key" % what)


def check_tpm_quote(quote, platform_key, nonce, measurement):
    """Claim -70002 of a `tpm` root: [pcr, TPMS_ATTEST bytes, r || s]."""
    if not isinstance(quote, list) or len(quote) != 3 or \
            not isinstance(quote[0], int) or isinstance(quote[0], bool) or \
            not isinstance(quote[1], bytes) or not isinstance(quote[2], bytes):
        raise Refused("TPM quote claim is not [uint, bstr, bstr]")
    pcr, attest, signature = quote
    if pcr != QUOTE_PCR:
        raise Refused("TPM quote names PCR %d" % pcr)
    if len(signature) != 64:
        raise Refused("TPM quote signature is not 64 bytes")
    verify_es256(platform_key, signature, attest, "TPM quote signature")
    # TPMS_ATTEST, big-endian (TPM 2.0 part 2): magic, type, qualifiedSigner,
    # extraData, clockInfo (17 bytes), firmwareVersion (8), TPMS_QUOTE_INFO.
    at = 0

    def take(size):
        nonlocal at
        if at + size > len(attest):
            raise Refused("TPM quote is truncated")
        field = attest[at:at + size]
        at += size
        return field

    def tpm2b():
        return take(struct.unpack(">H", take(2))[0])

    magic, kind = struct.unpack(">IH", take(6))
    if magic != 0xFF544347 or kind != 0x8018:
        raise Refused("TPM quote is not TPM_GENERATED_VALUE / TPM_ST_ATTEST_QUOTE")
    tpm2b()  # qualifiedSigner
    extra = tpm2b()
    take(17 + 8)
    (count,) = struct.unpack(">I", take(4))
    if count != 1:
        raise Refused("TPM quote selects %d banks" % count)
    bank, size = struct.unpack(">HB", take(3))
    select = take(size)
    digest = tpm2b()
    if at != len(attest):
        raise Refused("bytes after the TPM quote")
    if extra != hashlib.sha256(nonce).digest():
        raise Refused("TPM quote's qualifying data is not SHA-256 of our nonce")
    if bank != 0x000B or select != b"\x00\x00\x80":
        raise Refused("TPM quote does not select exactly PCR 23 of SHA-256")
    pcr_value = hashlib.sha256(b"\x00" * 32 + measurement).digest()
    if digest != hashlib.sha256(pcr_value).digest():
        raise Refused("TPM quote's PCR digest is not that of the measurement")


def decode_strict(data):
    """One CBOR item using all of data. Repeated map keys are caught by
    comparing decoded sizes with map_size_from_head."""
    try:
        item = cbor2.loads(data)
    except Exception as error:  # cbor2 raises several types
        raise Refused("not CBOR: %s" % error)
    # cbor2.loads ignores trailing bytes: decode from a stream to see them.
    stream = io.BytesIO(data)
    try:
        cbor2.CBORDecoder(stream).decode()
    except Exception as error:
        raise Refused("not CBOR: %s" % error)
    if stream.tell() != len(data):
        raise Refused("trailing bytes after the CBOR item")
    return item


def map_size_from_head(data):
    """Number of pairs the head of a definite CBOR map declares."""
    first = data[0]
    if first >> 5 != 5:
        raise Refused("not a map")
    info = first & 0x1f
    if info < 24:
        return info
    widths = {24: 1, 25: 2, 26: 4, 27: 8}
    if info not in widths:
        raise Refused("indefinite map")
    return int.from_bytes(data[1:1 + widths[info]], "big")


def verify(token, platform_key, nonce, expected_measurement=None):
    # 1. tag 18 (head 0xd2), [bstr, map, bstr, bstr]
    if not token or token[0] != 0xD2:
        raise Refused("does not start with the tag-18 head 0xd2")
    item = decode_strict(token)
    if not isinstance(item, cbor2.CBORTag) or item.tag != 18:
        raise Refused("not tagged 18 (COSE_Sign1)")
    value = item.value
    if not isinstance(value, list) or len(value) != 4:
        raise Refused("COSE_Sign1 is not a 4-element array")
    protected, unprotected, payload, signature = value
    if not (isinstance(protected, bytes) and isinstance(unprotected, dict)
            and isinstance(payload, bytes) and isinstance(signature, bytes)):
        raise Refused("COSE_Sign1 is not [bstr, map, bstr, bstr]")
    # 2. no algorithm unprotected; protected is exactly {1: -7}
    if 1 in unprotected:
        raise Refused("algorithm in the unprotected header")
    header = decode_strict(protected)
    if header != {1: -7} or map_size_from_head(protected) != 1:
        raise Refused("protected header is not {1: -7} (ES256)")
    # 3. ES256 signature over Sig_structure with the platform key
    if len(signature) != 64:
        raise Refused("signature is not 64 bytes")
    sig_structure = cbor2.dumps(["Signature1", protected, b"", payload])
    if len(platform_key) != 65 or platform_key[0] != 4:
        raise Refused("platform key is not an uncompressed P-256 point")
    verify_es256(platform_key, signature, sig_structure, "signature")
    # The unprotected header is exactly {4: kid}, kid = SHA-256(platform key).
    if unprotected != {4: hashlib.sha256(platform_key).digest()} or \
            map_size_from_head(cbor2.dumps(unprotected)) != 1:
        raise Refused("unprotected header is not exactly {4: kid of the platform key}")
    # 4. claims and their types
    claims = decode_strict(payload)
    if not isinstance(claims, dict) or map_size_from_head(payload) != len(claims):
        raise Refused("claims are not a map without repeated keys")
    def need(key, kind):
        if key not in claims or not isinstance(claims[key], kind) or \
                isinstance(claims[key], bool) != (kind is bool):
            raise Refused("claim %d missing or of the wrong type" % key)
        return claims[key]
    eat_nonce = need(10, bytes)
    ueid = need(256, bytes)
    dbgstat = need(263, int)
    profile = need(265, str)
    need(6, int)
    need(271, str)
    swversion = need(272, list)
    measurements = need(273, list)
    root = need(-70000, str)
    user_data = need(-70001, bytes)
    if not 8 <= len(eat_nonce) <= 64 or len(user_data) > 1024 or dbgstat not in range(5):
        raise Refused("nonce, user data or dbgstat out of range")
    if len(swversion) != 1 or not isinstance(swversion[0], str):
        raise Refused("swversion is not [tstr]")
    if len(measurements) != 1 or not isinstance(measurements[0], list) or \
            len(measurements[0]) != 2 or measurements[0][0] != 60 or \
            not isinstance(measurements[0][1], bytes):
        raise Refused("measurements is not [[60, bstr]]")
    inner_bytes = measurements[0][1]
    inner = decode_strict(inner_bytes)
    if not isinstance(inner, dict) or set(inner) != MEASUREMENT_KEYS or \
            map_size_from_head(inner_bytes) != 7:
        raise Refused("measurements map does not have exactly the seven keys")
    for key, kind, size in (("measurement", bytes, 32), ("signer-id", bytes, 32)):
        if not isinstance(inner[key], kind) or len(inner[key]) != size:
            raise Refused("%s is not a %d-byte bstr" % (key, size))
    for key in ("product-id", "svn"):
        if not isinstance(inner[key], int) or isinstance(inner[key], bool) or inner[key] < 0:
            raise Refused("%s is not a uint" % key)
    if not isinstance(inner["signed"], bool) or not isinstance(inner["debug"], bool) or \
            not isinstance(inner["backend"], str):
        raise Refused("signed/debug/backend of the wrong type")
    if (dbgstat == 0) != inner["debug"]:
        raise Refused("dbgstat and debug disagree")
    # 5. nonce, profile, ueid, root
    if eat_nonce != nonce:
        raise Refused("nonce differs from ours (replayed?)")
    if profile != PROFILE:
        raise Refused("unknown profile %r" % profile)
    if ueid != b"\x01" + hashlib.sha256(platform_key).digest():
        raise Refused("ueid is not the platform key's")
    if root == "tpm":
        if -70002 not in claims:
            raise Refused("root tpm without the TPM quote claim")
        check_tpm_quote(claims[-70002], platform_key, nonce, inner["measurement"])
    elif root != "software" or -70002 in claims:
        raise Refused("unexpected root %r or a quote under it" % root)
    # 6. identity
    if expected_measurement is not None and inner["measurement"] != expected_measurement:
        raise Refused("measurement %s, expected %s" % (inner["measurement"].hex(),
                                                       expected_measurement.hex()))
    return inner


def batch(path):
    """One verdict line per line of path: TOKEN PLATFORM_KEY NONCE_HEX
    MEASUREMENT_HEX (one interpreter start for many tokens)."""
    for line in open(path):
        token_path, key_path, nonce_hex, measurement_hex = line.split()
        try:
            verify(open(token_path, "rb").read(), open(key_path, "rb").read(),
                   bytes.fromhex(nonce_hex), bytes.fromhex(measurement_hex))
            print("OK", flush=True)
        except Refused as reason:
            print("REFUSED: %s" % reason, flush=True)
    return 0


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--batch":
        return batch(sys.argv[2])
    if len(sys.argv) not in (4, 5):
        print(__doc__, file=sys.stderr)
        return 2
    token = open(sys.argv[1], "rb").read()
    key = open(sys.argv[2], "rb").read()
    nonce = bytes.fromhex(sys.argv[3])
    expected = bytes.fromhex(sys.argv[4]) if len(sys.argv) == 5 else None
    try:
        inner = verify(token, key, nonce, expected)
    except Refused as reason:
        print("REFUSED: %s" % reason)
        return 1
    print("OK %s" % inner["measurement"].hex())
    return 0


if __name__ == "__main__":
    sys.exit(main())
