#!/usr/bin/python3
"""observability.provision_server: asylo-provision-server's /metrics and
gRPC health service.

- Check("") and Check("asylo.remote.RemoteProxyProvisionServer") answer
  SERVING (Python grpcio, local and insecure channel credentials);
- after two quickstart runs through the server and one refused provision (an
  image over --max_image_size), /metrics passes `promtool check metrics`
  (when promtool is installed) and counts asylo_provisions_total{result="OK"}
  2 and {result="RESOURCE_EXHAUSTED"} 1, a provisioning-duration histogram
  with 3 observations, and the image bytes of the two accepted images;
- SIGTERM: the server drains and exits 0.

usage: provision_server_test.py SERVER PROXY QUICKSTART ENCLAVE. Exits 77
without grpcio."""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import obs_util
from obs_util import Failure

try:
    import grpc
except ImportError as error:  # pragma: no cover
    print("SKIP: python3-grpcio not importable by %s (%s)" % (sys.executable, error))
    sys.exit(obs_util.SKIPPED)

import health_test  # noqa: E402  (the health message classes and checks)

SERVICE = "asylo.remote.RemoteProxyProvisionServer"


def quickstart(quickstart_path, enclave, server_address, message):
    result = subprocess.run([quickstart_path, "--backend=remote",
                             "--provision_server=" + server_address,
                             "--enclave_path=" + enclave, "--message=" + message],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    return result.returncode, result.stdout.decode(), result.stderr.decode()


def main():
    server_path, proxy_path, quickstart_path, enclave = sys.argv[1:5]
    work = tempfile.mkdtemp(prefix="asylo-obs-provision-")
    server = None
    try:
        os.chmod(work, 0o700)
        image_size = os.path.getsize(enclave)
        server = subprocess.Popen(
            [server_path, "--address=127.0.0.1:0", "--remote_proxy=" + proxy_path,
             "--storage_dir=" + os.path.join(work, "store"), "--metrics_port=0",
             "--proxy_ports=20000-60000", "--max_image_size=%d" % image_size],
            stdout=subprocess.PIPE, stderr=open(os.path.join(work, "server.log"), "wb"))
        line = obs_util.read_line(server, time.monotonic() + 10, "asylo-provision-server")
        match = re.search(r"listening on (\S+)", line)
        if not match:
            raise Failure("unexpected first line: %r" % line)
        address = match.group(1)
        channels = health_test.channels(address)
        for kind, channel in channels.items():
            for service in ("", SERVICE):
                got = health_test.check(channel, service)
                if got != "SERVING":
                    raise Failure("%s channel, Check(%r) = %s" % (kind, service, got))
        print("health: SERVING over local and insecure channels")

        for run in range(2):
            code, out, err = quickstart(quickstart_path, enclave, address, "metrics %d" % run)
            if code != 0 or "Round trip OK" not in out:
                raise Failure("quickstart %d through the server failed: %s" % (run, err[-2000:]))
        # One image over the limit: refused before a byte is stored.
        big = os.path.join(work, "big_enclave.so")
        with open(enclave, "rb") as source, open(big, "wb") as target:
            target.write(source.read() + b"\0" * 4096)
        code, out, err = quickstart(quickstart_path, big, address, "too big")
        if code == 0 or "RESOURCE_EXHAUSTED" not in err:
            raise Failure("an image over --max_image_size was not refused: %s" % err[-2000:])
        print("quickstart: 2 provisions OK, 1 refused with RESOURCE_EXHAUSTED")

        url = None
        with open(os.path.join(work, "server.log"), "rb") as log:
            found = re.search(rb"(http://\S+/metrics)", log.read())
            if found:
                url = found.group(1).decode()
        if url is None:
            raise Failure("the server did not log its metrics URL")
        text = obs_util.scrape(url)
        promtool = shutil.which("promtool")
        if promtool:
            result = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
            if result.returncode != 0:
                raise Failure("promtool check metrics: %s" % result.stdout.decode()[-2000:])
            print("promtool: provision server metrics OK")
        else:
            print("promtool not installed: format check skipped")
        samples = obs_util.parse(text)
        obs_util.check_histograms(samples)
        expectations = [
            (obs_util.value(samples, "asylo_provisions_total", result="OK"), 2),
            (obs_util.value(samples, "asylo_provisions_total", result="RESOURCE_EXHAUSTED"), 1),
            (obs_util.value(samples, "asylo_provision_duration_seconds_count"), 3),
            (obs_util.value(samples, "asylo_image_bytes_received_total"), 2 * image_size),
        ]
        for got, expected in expectations:
            if got != expected:
                raise Failure("metrics: got %s, expected %s\n%s" % (got, expected, text[-3000:]))
        print("metrics: provisions by result, duration and image bytes as expected")

        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=20)
        if code != 0:
            raise Failure("the server exited %s after SIGTERM" % code)
        server = None
        with open(os.path.join(work, "server.log"), "r", errors="replace") as log:
            obs_util.check_no_sanitizer_report("asylo-provision-server", log.read())
        print("SIGTERM: drained and exited 0")
        return 0
    finally:
        obs_util.stop(server)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failure as failure:
        print("FAIL: %s" % failure)
        sys.exit(1)
