#!/usr/bin/python3
"""observability.no_secrets_in_logs: runs the quickstart at --log_level=debug
over sim, over remote with local provisioning (the proxy inherits the
quickstart's stderr), and over remote against a proxy this test starts with
a known token (the proxy's own stderr is checked too), each with a
distinctive message; then checks that no output - stdout or stderr of any
process - contains the message (the plaintext the enclave's key encrypts),
its hex or base64 forms, or the token; and that no log line (stderr) holds
the ciphertext. Also checks the debug logs do have the events they should
(load, initialize, finalize, per-call lines with call ids), so an empty log
cannot pass.

usage: no_secrets_test.py PROXY QUICKSTART ENCLAVE"""
import base64
import re
import secrets
import shutil
import subprocess
import sys
import tempfile

import obs_util
from obs_util import Failure

LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (error|warning|info|debug) [a-z_]+"
                  r"( enclave=\S+)?( call=\d+)?: ")


def forms(secret):
    """The secret as text and the encodings a careless log line might use."""
    raw = secret.encode()
    return {secret, raw.hex(), raw.hex().upper(), base64.b64encode(raw).decode().rstrip("="),
            " ".join("%02x" % byte for byte in raw)}


def run_quickstart(quickstart, enclave, message, extra):
    result = subprocess.run([quickstart, "--message=" + message, "--enclave_path=" + enclave,
                             "--log_level=debug"] + extra,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60,
                            stdin=subprocess.DEVNULL)
    stdout = result.stdout.decode("utf-8", "replace")
    stderr = result.stderr.decode("utf-8", "replace")
    if result.returncode != 0 or "Round trip OK" not in stdout:
        raise Failure("quickstart %s failed (%d): %s %s" % (extra, result.returncode, stdout,
                                                             stderr[-3000:]))
    ciphertext = re.search(r"Encrypted message: ([0-9a-f]+)", stdout).group(1)
    return stdout, stderr, ciphertext


def check_clean(what, text, secrets_to_hide):
    for secret in secrets_to_hide:
        for form in forms(secret):
            if form and form in text:
                line = next(l for l in text.splitlines() if form in l)
                raise Failure("%s contains a secret (%r) in: %r" % (what, secret[:12] + "...",
                                                                     line[:300]))


def check_log_lines(what, stderr):
    """Every line of our logs has the documented shape."""
    obs_util.check_no_sanitizer_report(what, stderr)
    for line in stderr.splitlines():
        if line.startswith("20") and not LINE.match(line):
            raise Failure("%s: malformed log line %r" % (what, line))


def expect_events(what, text, events):
    for event in events:
        if re.search(event, text) is None:
            raise Failure("%s: no log line matches %r" % (what, event))


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    proxy_path, quickstart, enclave = sys.argv[1:]
    workdir = tempfile.mkdtemp(prefix="asylo-obs-secrets-")
    proxy = None
    try:
        # 1. sim
        message = "SIM-PLAINTEXT-" + secrets.token_hex(12)
        out, err, cipher = run_quickstart(quickstart, enclave, message, ["--backend=sim"])
        check_clean("sim quickstart output", out + err, [message])
        check_clean("sim quickstart log", err, [cipher])
        check_log_lines("sim", err)
        expect_events("sim", err, [r"debug host enclave=quickstart: loaded with backend sim",
                                   r"made a fresh AES-256-GCM key"])
        print("sim: clean (%d log lines)" % len(err.splitlines()))

        # 2. remote, local provisioning: the proxy's stderr is ours.
        message = "REMOTE-LOCAL-PLAINTEXT-" + secrets.token_hex(12)
        out, err, cipher = run_quickstart(quickstart, enclave, message, [
            "--backend=remote", "--remote_proxy=" + proxy_path])
        check_clean("remote (local provisioning) output", out + err, [message])
        check_clean("remote (local provisioning) log", err, [cipher])
        check_log_lines("remote (local provisioning)", err)
        expect_events("remote (local provisioning)", err, [
            r"info proxy enclave=quickstart call=\d+: serving enclave image",
            r"info proxy enclave=quickstart call=\d+: enclave loaded .* initialized",
            r"info proxy enclave=quickstart call=\d+: enclave finalized",
            r"debug proxy enclave=quickstart call=\d+: enter selector 2 \(run\): OK",
            r"debug remote enclave=quickstart call=\d+: enter selector 2: OK",
            r"debug proxy enclave=quickstart call=\d+: exit \d+, selector 256",
            r"info remote enclave=quickstart: loaded on the proxy",
            r"info proxy enclave=quickstart: finishing",
        ])
        print("remote (local provisioning): clean (%d log lines)" % len(err.splitlines()))

        # 3. remote against our own proxy with a known token.
        token = "TOKEN-" + secrets.token_hex(20)
        proxy = obs_util.Proxy(proxy_path, workdir, token=token, extra=["--log_level=debug"])
        message = "REMOTE-DIRECT-PLAINTEXT-" + secrets.token_hex(12)
        out, err, cipher = run_quickstart(quickstart, enclave, message, [
            "--backend=remote", "--remote_address=" + proxy.address, "--remote_token=" + token])
        code = proxy.wait(timeout=20)
        if code != 0:
            raise Failure("the proxy exited with %d" % code)
        proxy_log = proxy.log_text()
        check_clean("remote (direct) quickstart output", out + err, [message, token])
        check_clean("proxy log", proxy_log, [message, token, cipher])
        check_clean("remote (direct) quickstart log", err, [cipher])
        check_log_lines("proxy", proxy_log)
        expect_events("proxy", proxy_log, [r"enter selector 2 \(run\): OK",
                                          r"enter selector 4096 \(user\): OK", r"stopped"])
        # A wrong token is refused and logged without echoing what was sent.
        proxy.stop()
        proxy = obs_util.Proxy(proxy_path, workdir, token=token,
                               extra=["--log_level=debug", "--load_timeout_ms=3000"])
        wrong = "WRONG-" + secrets.token_hex(20)
        result = subprocess.run([quickstart, "--message=x", "--enclave_path=" + enclave,
                                 "--backend=remote", "--remote_address=" + proxy.address,
                                 "--remote_token=" + wrong, "--log_level=debug"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60,
                                stdin=subprocess.DEVNULL)
        if result.returncode == 0:
            raise Failure("a wrong token was accepted")
        proxy.wait(timeout=20)
        refused_log = proxy.log_text()
        expect_events("proxy (wrong token)", refused_log,
                      [r"refused a stream from .*: missing or wrong token"])
        check_clean("proxy log (wrong token)", refused_log, [token, wrong])
        check_clean("quickstart (wrong token)", result.stderr.decode("utf-8", "replace"),
                    [token, wrong])
        print("remote (direct, token): clean; proxy log %d lines" % len(proxy_log.splitlines()))
        print("PASS")
        return 0
    except (Failure, OSError, subprocess.TimeoutExpired) as error:
        print("FAIL:", error)
        return 1
    finally:
        if proxy is not None:
            proxy.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
