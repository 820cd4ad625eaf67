"""Drives asylo-remote-proxy with an independent gRPC stack (Debian's
python3-grpcio) straight from proto/asylo/remote.proto: proof that the remote
backend's wire is real gRPC, not a private dialect.

    /usr/bin/python3 remote_proxy_interop.py PROXY TEST_ENCLAVE PROTO_DIR

Message classes are generated at test time with `protoc --python_out` (Debian
protobuf-compiler 3.21 matches python3-protobuf); the call is a generic
stream-stream call on /asylo.remote.RemoteEnclaveProxy/Communicate with the
generated Frame serializers. The conversation:

    ENTER LOAD (0x200, LoadRequest{name, backend "sim", enclave_path})
    ENTER INITIALIZE (1, the encoded enclave config of
        src/common/enclave_config_codec.c)
    ENTER RUN (2) with bytes: the echo comes back
    ENTER TEST_EXIT_CALL -> an EXIT to a host selector, answered here with a
        RETURN (and once with an ERROR): the enclave hands our answer back
    ENTER TEST_LOG -> an EXIT with selector 0x100 (LOG) arrives here
    ENTER TEST_TIME -> no EXIT at all: time is answered on the target
    ENTER FINALIZE (3), half-close: the stream ends OK and the proxy exits 0.

Exits 77 (skipped) with a printed reason when grpc cannot be imported or
protoc is missing.
"""
import os
import queue
import shutil
import struct
import subprocess
import sys
import tempfile
import time

SKIP = 77

try:
    import grpc
except ImportError as error:
    print(f"SKIP: {sys.executable} cannot import grpc ({error}); "
          "install python3-grpcio and run Debian's /usr/bin/python3")
    sys.exit(SKIP)
if shutil.which("protoc") is None:
    print("SKIP: protoc not found (Debian package protobuf-compiler)")
    sys.exit(SKIP)

# Selectors: include/asylo/selectors.h, tests/enclaves/test_enclave_selectors.h
INITIALIZE, RUN, FINALIZE = 1, 2, 3
LOG = 0x100
REMOTE_LOAD = 0x200
USER_FIRST = 0x1000
TEST_EXIT_CALL = USER_FIRST + 1
TEST_TIME = USER_FIRST + 4
TEST_LOG = USER_FIRST + 5
TEST_FAIL = USER_FIRST + 6
TEST_HOST_ECHO = USER_FIRST + 0x100
PERMISSION_DENIED, UNAUTHENTICATED = 7, 16
ORIGIN_ENCLAVE = 4

METHOD = "/asylo.remote.RemoteEnclaveProxy/Communicate"


def check(condition, what):
    if not condition:
        raise AssertionError(what)


def generate_messages(proto_dir, out_dir):
    subprocess.run(["protoc", f"-I{proto_dir}", f"--python_out={out_dir}",
                    os.path.join(proto_dir, "asylo", "remote.proto")], check=True)
    sys.path.insert(0, out_dir)
    from asylo import remote_pb2  # noqa: E402  (generated just now)
    return remote_pb2


def encode_config(log_level=2, environment=(), user_config=b""):
    """enclave_config_codec.c: u32 version 1, u32 log level, u32 count,
    count x (blob name, blob value), blob user config; blobs are u32 length +
    bytes; little-endian."""
    def blob(data):
        return struct.pack("<I", len(data)) + data
    out = struct.pack("<III", 1, log_level, len(environment))
    for name, value in environment:
        out += blob(name.encode()) + blob(value.encode())
    return out + blob(user_config)


class Stream:
    """One Communicate stream: frames in through a queue, out through the
    response iterator."""

    def __init__(self, channel, pb, token):
        self.pb = pb
        self.outgoing = queue.Queue()
        self.next_id = 1
        self.exits = []
        call = channel.stream_stream(METHOD,
                                     request_serializer=pb.Frame.SerializeToString,
                                     response_deserializer=pb.Frame.FromString)
        metadata = [("asylo-token", token)] if token is not None else None
        self.responses = call(iter(self.outgoing.get, None), timeout=60, metadata=metadata)

    def enter(self, selector, payload=b"", on_exit=None):
        """Sends ENTER and serves EXIT frames with on_exit(frame) -> reply
        Frame until this call's RETURN or ERROR, which it returns."""
        pb = self.pb
        call_id = self.next_id
        self.next_id += 1
        self.outgoing.put(pb.Frame(call_id=call_id, kind=pb.Frame.ENTER, selector=selector,
                                   payload=payload))
        for frame in self.responses:
            if frame.kind == pb.Frame.EXIT:
                check(frame.parent_call_id == call_id,
                      f"exit nested in {frame.parent_call_id}, expected {call_id}")
                self.exits.append(frame)
                if on_exit is not None:
                    reply = on_exit(frame)
                else:
                    reply = pb.Frame(kind=pb.Frame.RETURN)
                reply.call_id = frame.call_id
                reply.parent_call_id = frame.parent_call_id
                reply.selector = frame.selector
                self.outgoing.put(reply)
                continue
            check(frame.call_id == call_id and
                  frame.kind in (pb.Frame.RETURN, pb.Frame.ERROR),
                  f"unexpected frame {frame}")
            return frame
        raise AssertionError("the stream ended during a call")

    def close(self):
        """Half-closes; the server must end the stream with OK."""
        self.outgoing.put(None)
        rest = list(self.responses)
        check(not rest, f"frames after half-close: {rest}")
        check(self.responses.code() == grpc.StatusCode.OK,
              f"stream ended with {self.responses.code()}: {self.responses.details()}")


def main():
    proxy_path, enclave_path, proto_dir = sys.argv[1:4]
    work = tempfile.mkdtemp(prefix="asylo-interop-")
    proxy = None
    try:
        pb = generate_messages(proto_dir, work)
        token = "python-interop-token"
        token_file = os.path.join(work, "token")
        with open(token_file, "w") as out:
            out.write(token + "\n")
        log_path = os.path.join(work, "proxy.log")
        with open(log_path, "w") as log:
            proxy = subprocess.Popen(
                [proxy_path, "--address=127.0.0.1:0", f"--token_file={token_file}",
                 f"--enclave_path={enclave_path}", "--load_timeout_ms=30000",
                 "--log_level=info",
                 # The LOAD below names "sim", as a host of any version may.
                 "--backend=sim"],
                stdout=subprocess.PIPE, stderr=log, text=True)
        line = proxy.stdout.readline()
        check("listening on " in line, f"proxy said {line!r}")
        address = line.strip().split("listening on ")[1]
        print(f"proxy {proxy.pid} listening on {address}")

        credentials = grpc.local_channel_credentials(grpc.LocalConnectionType.LOCAL_TCP)
        with grpc.secure_channel(address, credentials) as channel:
            # A stream without the token is refused before anything runs.
            bad = Stream(channel, pb, "not-the-token")
            try:
                bad.enter(REMOTE_LOAD, pb.LoadRequest(name="intruder", backend="sim", protocol_version=1).
                          SerializeToString())
                raise AssertionError("a stream with a wrong token was served")
            except grpc.RpcError as error:
                check(error.code() == grpc.StatusCode.UNAUTHENTICATED, f"got {error.code()}")
                print(f"wrong token -> {error.code().name}: {error.details()}")

            stream = Stream(channel, pb, token)
            load = pb.LoadRequest(name="interop", backend="sim", protocol_version=1, enclave_path=enclave_path,
                                  max_output_size=1 << 20)
            reply = stream.enter(REMOTE_LOAD, load.SerializeToString())
            check(reply.kind == pb.Frame.RETURN, f"LOAD: {reply}")
            reply = stream.enter(INITIALIZE, encode_config(log_level=2))
            check(reply.kind == pb.Frame.RETURN, f"INITIALIZE: {reply}")

            message = b"hello from an independent gRPC stack"
            reply = stream.enter(RUN, message)
            check(reply.kind == pb.Frame.RETURN and reply.payload == message,
                  f"RUN echo: {reply}")
            print(f"RUN echoed {len(reply.payload)} bytes")

            # An exit call to a host selector, answered by Python.
            def answer(frame):
                check(frame.selector == TEST_HOST_ECHO and frame.payload == b"question",
                      f"exit frame {frame}")
                return pb.Frame(kind=pb.Frame.RETURN, payload=b"answer from python")
            reply = stream.enter(TEST_EXIT_CALL,
                                 struct.pack("<I", TEST_HOST_ECHO) + b"question", answer)
            check(reply.kind == pb.Frame.RETURN and reply.payload == b"answer from python",
                  f"exit call reply: {reply}")
            print("exit call answered by Python came back through the enclave")

            # The host side fails the exit: the code crosses back unchanged.
            def refuse(frame):
                return pb.Frame(kind=pb.Frame.ERROR,
                                status=pb.Status(code=PERMISSION_DENIED, origin=5,
                                                 message="python says no"))
            reply = stream.enter(TEST_EXIT_CALL, struct.pack("<I", TEST_HOST_ECHO) + b"q",
                                 refuse)
            check(reply.kind == pb.Frame.ERROR and reply.status.code == PERMISSION_DENIED and
                  "python says no" in reply.status.message, f"refused exit: {reply}")
            print(f"refused exit -> ERROR {reply.status.code}: {reply.status.message}")

            # An enclave failure: code and origin on the wire.
            reply = stream.enter(TEST_FAIL, struct.pack("<I", UNAUTHENTICATED))
            check(reply.kind == pb.Frame.ERROR and reply.status.code == UNAUTHENTICATED and
                  reply.status.origin == ORIGIN_ENCLAVE, f"TEST_FAIL: {reply}")

            # Logging is forwarded to the host as a LOG exit.
            before = len(stream.exits)
            reply = stream.enter(TEST_LOG, b"a line from inside")
            check(reply.kind == pb.Frame.RETURN, f"TEST_LOG: {reply}")
            logs = [f for f in stream.exits[before:] if f.selector == LOG]
            check(len(logs) == 1, f"LOG exits: {stream.exits[before:]}")
            level, length = struct.unpack("<II", logs[0].payload[:8])
            text = logs[0].payload[8:8 + length]
            check(text == b"a line from inside" and level == 2, f"LOG payload {logs[0].payload}")
            print(f"LOG exit arrived: level {level}, {text!r}")

            # Time is answered on the target: no exit reaches us.
            before = len(stream.exits)
            reply = stream.enter(TEST_TIME)
            check(reply.kind == pb.Frame.RETURN and len(reply.payload) == 16, f"TIME: {reply}")
            check(len(stream.exits) == before, "TEST_TIME sent an exit to the host")
            wall = struct.unpack("<q", reply.payload[:8])[0]
            check(abs(wall / 1e9 - time.time()) < 60, f"enclave wall clock {wall}")

            reply = stream.enter(FINALIZE, b"")
            check(reply.kind == pb.Frame.RETURN, f"FINALIZE: {reply}")
            stream.close()
            print("FINALIZE ok, stream closed with OK")

        code = proxy.wait(timeout=10)
        with open(log_path) as log:
            text = log.read()
        check(code == 0, f"proxy exited {code}; log:\n{text}")
        check("serving enclave" in text and "finishing" in text, f"proxy log:\n{text}")
        print("proxy exited 0")
        return 0
    finally:
        if proxy is not None and proxy.poll() is None:
            proxy.kill()
            proxy.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
