#!/usr/bin/env python3
"""Writes the hand-made seed corpora of tests/fuzz (run from anywhere; it
rewrites only the seed_* files it owns). Seeds the fuzzer found itself, crash
inputs and the seeds the targets write (ASYLO_FUZZ_WRITE_SEEDS) are kept."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field_varint(number, value):
    return varint(number << 3) + varint(value)


def field_bytes(number, data):
    if isinstance(data, str):
        data = data.encode()
    return varint(number << 3 | 2) + varint(len(data)) + data


def u32(value):
    return struct.pack("<I", value)


def blob(data):
    if isinstance(data, str):
        data = data.encode()
    return u32(len(data)) + data


def write(target, name, data):
    directory = os.path.join(HERE, target + "_corpus")
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "seed_" + name), "wb") as f:
        f.write(data)


def frame(call_id, parent, kind, selector, payload=b"", status=None):
    out = field_varint(1, call_id) + field_varint(2, parent) + field_varint(3, kind)
    out += field_varint(4, selector)
    if payload:
        out += field_bytes(5, payload)
    if status is not None:
        code, origin, message = status
        out += field_bytes(6, field_varint(1, code) + field_varint(2, origin) +
                           field_bytes(3, message))
    return out


def load_request():
    return (field_bytes(1, "fuzz") + field_bytes(2, "sim") + field_bytes(3, "/tmp/e.so") +
            field_varint(4, 1) + field_varint(5, 1 << 20))


def main():
    # frame: one of each kind, nested, an error with a status, a LOAD.
    write("frame", "enter", frame(1, 0, 1, 0x1000, b"input"))
    write("frame", "exit_nested", frame(2, 1, 2, 0x1001, b"x" * 40))
    write("frame", "return", frame(1, 0, 3, 0, b"output"))
    write("frame", "error", frame(1, 0, 4, 0, status=(5, 3, "no such thing")))
    write("frame", "load", frame(1, 0, 1, 0x200, load_request()))
    write("frame", "empty", b"")

    # messages: first byte picks load, provision request, provision reply,
    # release request, release reply.
    header = (field_varint(1, 4096) + field_bytes(2, bytes(range(32))) + field_bytes(3, "sim") +
              field_bytes(4, "fuzz"))
    write("messages", "load", b"\x00" + load_request())
    write("messages", "provision_header", b"\x01" + field_bytes(1, header))
    write("messages", "provision_chunk", b"\x01" + field_bytes(2, b"\x7fELF" * 8) +
          field_varint(3, 1))
    write("messages", "provision_reply", b"\x02" + field_bytes(1, "p1") +
          field_bytes(2, "127.0.0.1") + field_varint(3, 4000) + field_bytes(4, "t" * 32) +
          field_bytes(5, "/var/e.so"))
    write("messages", "release_request", b"\x03" + field_bytes(1, "p1") +
          field_bytes(2, "t" * 32))
    write("messages", "release_reply", b"\x04")

    # enclave_config: u32 version, level, count, pairs, user config.
    write("enclave_config", "empty", u32(1) + u32(2) + u32(0) + blob(b""))
    write("enclave_config", "two_vars", u32(1) + u32(3) + u32(2) + blob("A") + blob("1") +
          blob("PATH") + blob("/bin") + blob(b"\x00user\xff"))

    # host_exits: records [selector index][u16 size][input]; indexes follow
    # the table in host_exits_fuzz.c.
    def call(index, data):
        return bytes([index]) + struct.pack("<H", len(data)) + data
    write("host_exits", "log", call(0, u32(2) + blob("hello")))
    write("host_exits", "time_random", call(1, b"") + call(2, b"") + call(3, u32(16)))
    write("host_exits", "files", call(4, blob("f") + u32(0x07) + u32(0o600)) +
          call(6, u32(0) + blob("data")) + call(7, u32(0)) +
          call(4, blob("f") + u32(0x01) + u32(0)) + call(5, u32(0) + u32(16)) +
          call(7, u32(0)) + call(8, blob("f")))
    write("host_exits", "escape", call(4, blob("../escaped") + u32(0x06) + u32(0o600)) +
          call(4, blob("/tmp/abs") + u32(0x06) + u32(0o600)))

    # enclave_exits: [operation][host's code][answer].
    write("enclave_exits", "time", b"\x00\x00" + struct.pack("<q", 10**18))
    write("enclave_exits", "random", b"\x02\x00" + b"r" * 64)
    write("enclave_exits", "open", b"\x03\x00" + u32(3))
    write("enclave_exits", "read", b"\x04\x00" + b"d" * 64)
    write("enclave_exits", "write", b"\x05\x00" + u32(64))
    write("enclave_exits", "error", b"\x06\x05")
    identity = (u32(1) + b"\xab" * 32 + b"\xcd" * 32 + u32(3) + u32(9) + u32(1) +
                b"sim".ljust(32, b"\x00"))
    write("enclave_exits", "identity", b"\x08\x00" + identity)
    write("enclave_exits", "user", b"\x0a\x00" + b"user answer")

    # sigblock: an unsigned (all zero) block and a well-formed signed one.
    write("sigblock", "unsigned", bytes(512))
    block = (b"ASYLOSIG" + u32(1) + u32(1) + u32(0) + u32(7) + u32(2) + u32(0) +
             b"\x11" * 32 + b"\x04" + b"\x22" * 64 + b"\x33" * 64)
    write("sigblock", "signed", block.ljust(512, b"\x00"))

    # allowlist
    digest = "0123456789abcdef" * 4
    write("allowlist", "two", ("# comment\n%s\n\n  %s  \r\n" % (digest, digest.upper())).encode())
    write("allowlist", "digest_only", digest.encode())
    write("allowlist", "bad_line", b"# x\nnot a digest\n")


if __name__ == "__main__":
    main()
