"""A state-machine fuzzer for asylo-remote-proxy: random sequences of frames
on live streams of a real proxy, written against the wire protocol alone
(proto/asylo/remote.proto; Frame encoded by hand here, so malformed frames
can be sent too), not against the C code behind it.

    /usr/bin/python3 proxy_state_fuzz.py PROXY TEST_ENCLAVE [--seed S] [--seconds T]

One proxy is loaded by a well-behaved "host" (LOAD, INITIALIZE on the control
stream, kept open). Then, until the time is up, each episode opens one to
three more streams and sends a random program on them: ENTERs with good,
reused, zero and unknown call ids and parents, nested exit calls answered
wrongly (wrong id, ERROR, twice, never, by a nested ENTER), RETURN and
ERROR frames nobody asked for, unknown kinds, bytes that are no protobuf,
oversized payloads, a second LOAD, ATTEST and INITIALIZE, early half-close
and cancel. After every episode the well-behaved host must still get a
right echo from a fresh stream within a bound. At the end the proxy's
descriptors and threads must come back to what they were before the first
episode, FINALIZE must work, and the proxy must exit 0 with no sanitizer
report in its log (under ASan, LeakSanitizer runs at its exit).

A second, shorter phase fuzzes fresh proxies before and around LOAD (a
garbage LOAD, ENTER before LOAD, the control stream half-closed or
cancelled, a duplicated LOAD): each proxy must exit on its own, with 0, 1
or 3 (nothing loaded) and no sanitizer report, or go on to serve a good load.

FINALIZE (3) is left out of the random selectors: a host may finalize its
own enclave, and the checks afterwards need it alive.

Deterministic for a seed, apart from thread timing. Exits 1 with the seed
and the failing episode's program printed; 77 (skipped) when grpc cannot
be imported.
"""
import argparse
import os
import queue
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time

SKIP = 77
try:
    import grpc
except ImportError as error:
    print(f"SKIP: {sys.executable} cannot import grpc ({error}); "
          "install python3-grpcio and run Debian's /usr/bin/python3")
    sys.exit(SKIP)

# Frames the proxy sent, by kind, and how fuzzed streams ended: printed at the
# end, to show what a run reached.
SEEN = {"EXIT": 0, "RETURN": 0, "ERROR": 0, "other": 0}
ENDINGS = {}
METHOD = "/asylo.remote.RemoteEnclaveProxy/Communicate"
ENTER, EXIT, RETURN, ERROR = 1, 2, 3, 4
INITIALIZE, RUN, FINALIZE = 1, 2, 3
LOG = 0x100
REMOTE_LOAD, REMOTE_ATTEST = 0x200, 0x201
USER_FIRST = 0x1000
TEST_COUNTER = USER_FIRST
TEST_EXIT_CALL = USER_FIRST + 1
TEST_TIME = USER_FIRST + 4
TEST_LOG = USER_FIRST + 5
TEST_FAIL = USER_FIRST + 6
TEST_BIG_OUTPUT = USER_FIRST + 7
TEST_SLEEP = USER_FIRST + 8
TEST_RUN_NESTED = USER_FIRST + 12
TEST_HOST_ECHO = USER_FIRST + 0x100
TEST_HOST_REENTER = USER_FIRST + 0x101
WIRE_PROTOCOL_VERSION = 1

# Bounds: a well-behaved call after an episode, an episode, and the end.
CALL_BOUND_S = 10
EPISODE_DEADLINE_S = 1.0
SETTLE_BOUND_S = 15


# ---- protobuf by hand (proto3 wire format) ----------------------------------

def varint(value):
    value &= (1 << 64) - 1
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
    return varint(number << 3) + varint(value) if value else b""


def field_bytes(number, data):
    return varint(number << 3 | 2) + varint(len(data)) + data if data else b""


def encode_status(code, origin, message):
    return field_varint(1, code) + field_varint(2, origin) + field_bytes(3, message.encode())


def encode_frame(call_id=0, parent=0, kind=0, selector=0, payload=b"", status=None):
    out = (field_varint(1, call_id) + field_varint(2, parent) + field_varint(3, kind) +
           field_varint(4, selector) + field_bytes(5, payload))
    if status is not None:
        out += varint(6 << 3 | 2) + varint(len(status)) + status
    return out


def read_varint(data, at):
    value, shift = 0, 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, at


def decode_fields(data):
    fields, at = {}, 0
    while at < len(data):
        key, at = read_varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = read_varint(data, at)
        elif wire == 2:
            size, at = read_varint(data, at)
            value, at = data[at:at + size], at + size
        else:
            raise ValueError(f"wire type {wire}")
        fields[number] = value
    return fields


def decode_frame(data):
    f = decode_fields(data)
    status = decode_fields(f.get(6, b""))
    return {"call_id": f.get(1, 0), "parent": f.get(2, 0), "kind": f.get(3, 0),
            "selector": f.get(4, 0), "payload": f.get(5, b""),
            "code": status.get(1, 0), "message": status.get(3, b"").decode(errors="replace")}


def load_request(enclave_path, name="fuzzed", version=WIRE_PROTOCOL_VERSION):
    return (field_bytes(1, name.encode()) + field_bytes(2, b"sim") +
            field_bytes(3, enclave_path.encode()) + field_varint(5, 1 << 20) +
            field_varint(6, version))


def encode_config():
    """src/common/enclave_config_codec.c: version 1, log level, no variables,
    an empty user config."""
    return struct.pack("<IIII", 1, 2, 0, 0)


# ---- streams --------------------------------------------------------------

class Stream:
    """One Communicate stream of raw frames: a queue out, a reader thread in."""

    def __init__(self, channel, token, timeout):
        self.outgoing = queue.Queue()
        self.incoming = queue.Queue()
        self.ended = False
        call = channel.stream_stream(METHOD, request_serializer=lambda b: b,
                                     response_deserializer=lambda b: b)
        self.call = call(iter(self.outgoing.get, None), timeout=timeout,
                         metadata=[("asylo-token", token)])
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        try:
            for raw in self.call:
                kind = decode_frame(raw)["kind"]
                name = {EXIT: "EXIT", RETURN: "RETURN", ERROR: "ERROR"}.get(kind, "other")
                SEEN[name] += 1
                self.incoming.put(raw)
        except grpc.RpcError:
            pass
        ending = self.call.code().name if self.call.code() is not None else "?"
        ENDINGS[ending] = ENDINGS.get(ending, 0) + 1
        self.incoming.put(None)

    def send(self, raw):
        self.outgoing.put(raw)

    def half_close(self):
        self.outgoing.put(None)

    def cancel(self):
        self.call.cancel()

    def next(self, timeout):
        """The next frame, None once the stream ended, or "timeout"."""
        if self.ended:
            return None
        try:
            raw = self.incoming.get(timeout=timeout)
        except queue.Empty:
            return "timeout"
        if raw is None:
            self.ended = True
            return None
        return decode_frame(raw)

    def finish(self, timeout):
        """Half-closes, then waits for the end (cancels past timeout)."""
        self.half_close()
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.next(max(0.01, end - time.monotonic())) is None:
                break
        self.cancel()
        self.reader.join(timeout)
        return not self.reader.is_alive()

    def call_enclave(self, call_id, selector, payload, bound, answer_exit=None):
        """A well-behaved call: ENTER, answers EXITs, waits for its end."""
        self.send(encode_frame(call_id=call_id, kind=ENTER, selector=selector, payload=payload))
        end = time.monotonic() + bound
        while True:
            frame = self.next(max(0.01, end - time.monotonic()))
            if frame == "timeout" or frame is None:
                return frame
            if frame["kind"] == EXIT:
                reply = answer_exit(frame) if answer_exit else encode_frame(kind=RETURN)
                self.send(reply)
                continue
            if frame["call_id"] == call_id:
                return frame


# ---- the proxy -------------------------------------------------------------

class Proxy:
    def __init__(self, path, work, index, enclave_path):
        self.token = f"fuzz-token-{index}"
        token_file = os.path.join(work, f"token{index}")
        with open(token_file, "w") as out:
            out.write(self.token + "\n")
        self.log_path = os.path.join(work, f"proxy{index}.log")
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(
                [path, "--address=127.0.0.1:0", f"--token_file={token_file}",
                 "--allow_any_enclave", "--load_timeout_ms=20000", "--log_level=error",
                 # The fuzzer's LOAD names sim (the proxy's own state machine
                 # is under test, not the sandbox).
                 "--backend=sim"],
                stdout=subprocess.PIPE, stderr=log, text=True)
        line = self.process.stdout.readline()
        if "listening on " not in line:
            raise AssertionError(f"proxy said {line!r}: {self.log()}")
        self.address = line.strip().split("listening on ")[1]
        self.enclave_path = enclave_path

    def log(self):
        with open(self.log_path, errors="replace") as log:
            return log.read()

    def fds(self):
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))

    def threads(self):
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
        return -1

    def channel(self):
        # A connection of its own per channel: streams of a channel that a
        # fuzzed stream broke must not take the checks down with them.
        return grpc.insecure_channel(self.address, options=[
            ("grpc.use_local_subchannel_pool", 1),
            ("grpc.max_receive_message_length", 64 << 20),
            ("grpc.max_send_message_length", 64 << 20)])

    def check_clean_exit(self, bound, allowed=(0,)):
        try:
            code = self.process.wait(timeout=bound)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"the proxy did not exit within {bound} s:\n{self.log()}")
        text = self.log()
        if code not in allowed or "Sanitizer" in text or "runtime error" in text:
            raise AssertionError(f"the proxy exited {code} (allowed {allowed}):\n{text}")
        return code

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def load(stream, enclave_path, bound):
    reply = stream.call_enclave(1, REMOTE_LOAD, load_request(enclave_path), bound)
    if not isinstance(reply, dict) or reply["kind"] != RETURN:
        raise AssertionError(f"LOAD: {reply}")
    reply = stream.call_enclave(2, INITIALIZE, encode_config(), bound)
    if not isinstance(reply, dict) or reply["kind"] != RETURN:
        raise AssertionError(f"INITIALIZE: {reply}")


def echo_check(proxy, channel, rng):
    """A well-behaved host call on a fresh stream: the echo comes back right."""
    stream = Stream(channel, proxy.token, CALL_BOUND_S + 5)
    message = rng.randbytes(rng.choice((1, 100, 5000)))
    started = time.monotonic()
    reply = stream.call_enclave(1, RUN, message, CALL_BOUND_S)
    took = time.monotonic() - started
    ok = isinstance(reply, dict) and reply["kind"] == RETURN and reply["payload"] == message
    # And a nested exit call, answered correctly.
    if ok:
        def answer(frame):
            return encode_frame(call_id=frame["call_id"], parent=frame["parent"], kind=RETURN,
                                selector=frame["selector"], payload=frame["payload"][::-1])
        reply = stream.call_enclave(2, TEST_EXIT_CALL,
                                    struct.pack("<I", TEST_HOST_ECHO) + b"abc", CALL_BOUND_S,
                                    answer)
        ok = isinstance(reply, dict) and reply["kind"] == RETURN and reply["payload"] == b"cba"
    stream.finish(5)
    if not ok:
        raise AssertionError(f"a well-behaved call failed after the episode ({took:.1f} s): "
                             f"{reply}")


# ---- random programs ----------------------------------------------------------

SELECTORS = [RUN, TEST_COUNTER, TEST_EXIT_CALL, TEST_EXIT_CALL, TEST_RUN_NESTED, TEST_FAIL,
             TEST_TIME, TEST_LOG, TEST_BIG_OUTPUT, TEST_SLEEP, REMOTE_LOAD, REMOTE_ATTEST,
             INITIALIZE, 0, 4, 0x1fff, 0xffffffff]


def random_payload(rng, selector, enclave_path):
    choice = rng.random()
    if selector == TEST_EXIT_CALL:
        return struct.pack("<I", rng.choice((TEST_HOST_ECHO, TEST_HOST_REENTER, LOG, 0x1234,
                                             TEST_EXIT_CALL))) + rng.randbytes(rng.randrange(8))
    if selector == TEST_RUN_NESTED:
        return struct.pack("<I", rng.choice((0, 1, 3, 1000)))
    if selector == TEST_BIG_OUTPUT:
        return struct.pack("<I", rng.choice((0, 1000, 1 << 20, 1 << 21)))
    if selector == TEST_SLEEP:
        return struct.pack("<I", rng.choice((0, 10, 300)))
    if selector == TEST_FAIL:
        return struct.pack("<I", rng.randrange(20))
    if selector == REMOTE_LOAD:
        return load_request(enclave_path, name=rng.choice(("again", "")),
                            version=rng.choice((0, 1, 2)))
    if selector == REMOTE_ATTEST:
        return field_bytes(1, rng.randbytes(rng.choice((0, 8, 16, 200))))
    if choice < 0.05:
        return rng.randbytes(rng.choice((1 << 20, 3 << 20)))
    return rng.randbytes(rng.randrange(64))


def random_id(rng, ids):
    r = rng.random()
    if r < 0.6 or not ids:
        return rng.choice((0, 1 << 63, (1 << 64) - 1, rng.randrange(1, 100)))
    return rng.choice(ids)


def random_action(rng, ids, exits, enclave_path):
    r = rng.random()
    if r < 0.35:
        selector = rng.choice(SELECTORS)
        call_id = rng.randrange(1, 60) if rng.random() < 0.8 else random_id(rng, ids)
        parent = 0 if rng.random() < 0.7 else random_id(rng, ids + exits)
        return ("enter", call_id, parent, selector, random_payload(rng, selector, enclave_path))
    if r < 0.55:
        # An answer to an exit: right, wrong id, wrong parent, an ERROR.
        exit_id = rng.choice(exits) if exits and rng.random() < 0.7 else random_id(rng, ids)
        kind = rng.choice((RETURN, RETURN, ERROR, 0, 9))
        return ("answer", exit_id, random_id(rng, ids), kind, rng.randbytes(rng.randrange(16)))
    if r < 0.65:
        # A nested ENTER inside an exit the proxy is waiting on.
        parent = rng.choice(exits) if exits else random_id(rng, ids)
        selector = rng.choice((RUN, TEST_EXIT_CALL, TEST_RUN_NESTED, TEST_COUNTER))
        return ("enter", rng.randrange(60, 120), parent, selector,
                random_payload(rng, selector, enclave_path))
    if r < 0.72:
        return ("garbage", rng.randbytes(rng.randrange(1, 40)))
    if r < 0.77:
        return ("empty",)
    if r < 0.85:
        return ("wait", rng.choice((0.0, 0.01, 0.05, 0.2)))
    if r < 0.92:
        return ("half_close",)
    return ("cancel",)


def run_episode(proxy, channel, rng, program_out):
    """One to three fuzzed streams with a random program each, interleaved."""
    streams = [Stream(channel, proxy.token, EPISODE_DEADLINE_S)
               for _ in range(rng.choice((1, 1, 2, 3)))]
    state = [{"ids": [], "exits": [], "closed": False} for _ in streams]
    for _ in range(rng.randrange(1, 25)):
        index = rng.randrange(len(streams))
        stream, mine = streams[index], state[index]
        # Take whatever arrived, remembering exit ids to answer.
        while True:
            frame = stream.next(0)
            if frame is None or frame == "timeout":
                break
            if frame["kind"] == EXIT:
                mine["exits"].append(frame["call_id"])
        action = random_action(rng, mine["ids"], mine["exits"], proxy.enclave_path)
        program_out.append((index,) + tuple(a if not isinstance(a, bytes) else f"<{len(a)} bytes>"
                                            for a in action))
        if mine["closed"]:
            continue
        kind = action[0]
        if kind == "enter":
            _, call_id, parent, selector, payload = action
            mine["ids"].append(call_id)
            stream.send(encode_frame(call_id=call_id, parent=parent, kind=ENTER,
                                     selector=selector, payload=payload))
        elif kind == "answer":
            _, call_id, parent, frame_kind, payload = action
            status = encode_status(rng.randrange(1, 17), 5, "fuzz") if frame_kind == ERROR else None
            stream.send(encode_frame(call_id=call_id, parent=parent, kind=frame_kind,
                                     selector=TEST_HOST_ECHO, payload=payload, status=status))
        elif kind == "garbage":
            stream.send(action[1])
        elif kind == "empty":
            stream.send(b"")
        elif kind == "wait":
            time.sleep(action[1])
        elif kind == "half_close":
            stream.half_close()
            mine["closed"] = True
        elif kind == "cancel":
            stream.cancel()
            mine["closed"] = True
    # The episode ends: some streams half-close and wait for the proxy to end
    # them (within the stream deadline), the others are cancelled.
    for stream, mine in zip(streams, state):
        if mine["closed"] or rng.random() < 0.5:
            stream.finish(EPISODE_DEADLINE_S + 3)
        else:
            stream.cancel()
            stream.finish(EPISODE_DEADLINE_S + 3)


def settle(proxy, baseline_fds, baseline_threads):
    """Descriptors and threads come back (a stream's end is asynchronous)."""
    end = time.monotonic() + SETTLE_BOUND_S
    while True:
        fds, threads = proxy.fds(), proxy.threads()
        if fds <= baseline_fds and threads <= baseline_threads:
            return fds, threads
        if time.monotonic() > end:
            raise AssertionError(f"proxy descriptors {fds} (were {baseline_fds}), threads "
                                 f"{threads} (were {baseline_threads}) after {SETTLE_BOUND_S} s")
        time.sleep(0.1)


def phase_loaded(args, work, rng, deadline):
    proxy = Proxy(args.proxy, work, 0, args.enclave)
    episodes = 0
    program = []
    try:
        control_channel = proxy.channel()
        control = Stream(control_channel, proxy.token, 3600)
        load(control, args.enclave, CALL_BOUND_S)
        channel = proxy.channel()
        # Warm up the serving threads, then take the baseline.
        for _ in range(3):
            echo_check(proxy, channel, rng)
        time.sleep(0.3)
        baseline_fds, baseline_threads = proxy.fds(), proxy.threads()
        while time.monotonic() < deadline:
            program = []
            run_episode(proxy, channel, rng, program)
            if proxy.process.poll() is not None:
                raise AssertionError(f"the proxy ended ({proxy.process.returncode}):\n"
                                     f"{proxy.log()}")
            echo_check(proxy, channel, rng)
            episodes += 1
        channel.close()
        fds, threads = settle(proxy, baseline_fds + 2, baseline_threads + 2)
        print(f"loaded proxy: {episodes} episodes; descriptors {baseline_fds} -> {fds}, "
              f"threads {baseline_threads} -> {threads}")
        reply = control.call_enclave(100, FINALIZE, b"", CALL_BOUND_S)
        if not isinstance(reply, dict) or reply["kind"] != RETURN:
            raise AssertionError(f"FINALIZE after the episodes: {reply}")
        control.finish(5)
        control_channel.close()
        proxy.check_clean_exit(15)
    except AssertionError:
        print(f"episode {episodes}, program (stream, action...):")
        for line in program:
            print(f"  {line}")
        raise
    finally:
        proxy.kill()
    return episodes


def phase_fresh(args, work, rng, count):
    """Fresh proxies fuzzed before and around LOAD."""
    for index in range(1, count + 1):
        proxy = Proxy(args.proxy, work, index, args.enclave)
        program = []
        try:
            channel = proxy.channel()
            control = Stream(channel, proxy.token, 10)
            for _ in range(rng.randrange(1, 6)):
                r = rng.random()
                if r < 0.3:
                    raw = encode_frame(call_id=rng.randrange(3), kind=ENTER, selector=REMOTE_LOAD,
                                       payload=rng.choice((rng.randbytes(20),
                                                           load_request(args.enclave),
                                                           load_request("/nonexistent"),
                                                           load_request(args.enclave,
                                                                        version=7))))
                elif r < 0.5:
                    raw = encode_frame(call_id=rng.randrange(3), kind=ENTER,
                                       selector=rng.choice((RUN, INITIALIZE, FINALIZE,
                                                            REMOTE_ATTEST)),
                                       payload=rng.randbytes(rng.randrange(20)))
                elif r < 0.65:
                    raw = encode_frame(call_id=1, kind=rng.choice((RETURN, ERROR, 0)))
                elif r < 0.8:
                    raw = rng.randbytes(rng.randrange(1, 30))
                else:
                    raw = None
                program.append(raw if raw is None else raw[:40].hex())
                if raw is None:
                    break
                control.send(raw)
                time.sleep(rng.choice((0, 0.02)))
            if rng.random() < 0.5:
                control.finish(3)
            else:
                control.cancel()
                control.finish(3)
            # Either the proxy ends by itself, or it serves a good host now.
            try:
                code = proxy.process.wait(timeout=1)
            except subprocess.TimeoutExpired:
                code = None
            if code is None:
                second = Stream(channel, proxy.token, 10)
                reply = second.call_enclave(1, REMOTE_LOAD, load_request(args.enclave),
                                            CALL_BOUND_S)
                if isinstance(reply, dict) and reply["kind"] == RETURN:
                    reply = second.call_enclave(2, INITIALIZE, encode_config(), CALL_BOUND_S)
                    reply = second.call_enclave(3, RUN, b"hi", CALL_BOUND_S)
                    if not isinstance(reply, dict) or reply["payload"] != b"hi":
                        raise AssertionError(f"a good host after the fuzzed LOAD: {reply}")
                    second.call_enclave(4, FINALIZE, b"", CALL_BOUND_S)
                second.finish(5)
            channel.close()
            proxy.check_clean_exit(15, allowed=(0, 1, 3))
        except AssertionError:
            print(f"fresh proxy {index}, program: {program}")
            raise
        finally:
            proxy.kill()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("proxy")
    parser.add_argument("enclave")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=12)
    parser.add_argument("--fresh", type=int, default=6)
    args = parser.parse_args()
    print(f"seed {args.seed}, {args.seconds} s, {args.fresh} fresh proxies "
          f"(rerun: --seed {args.seed})")
    rng = random.Random(args.seed)
    work = tempfile.mkdtemp(prefix="asylo-proxy-fuzz-")
    try:
        started = time.monotonic()
        episodes = phase_loaded(args, work, rng, started + args.seconds)
        phase_fresh(args, work, rng, args.fresh)
        print(f"ok: {episodes} episodes on a loaded proxy and {args.fresh} fresh proxies in "
              f"{time.monotonic() - started:.1f} s")
        print(f"frames from the proxy: {SEEN}; streams ended: {ENDINGS}")
        return 0
    except AssertionError as failure:
        print(f"FAIL (seed {args.seed}): {failure}")
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
