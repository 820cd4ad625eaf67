#!/usr/bin/python3
"""Scrapes metrics_demo with a real Prometheus server and queries a value.

usage: prometheus_scrape_test.py PATH/TO/metrics_demo

Starts the demo on 127.0.0.1:0, starts /usr/bin/prometheus on a free loopback
port with a generated config (scrape_interval 1s), then polls the query API
until asylo_calls_total{direction="enter",selector="4096",code="OK"} is 42.
The first sample takes ~6 s to reach the API (Prometheus' 5 s target-update
tick), so this polls with a 30 s bound. Exits 77 (skipped) without prometheus.
"""
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

SKIPPED = 77
DEADLINE_SECONDS = 30
QUERY = 'asylo_calls_total{direction="enter",selector="4096",code="OK"}'


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def http_json(url):
    with urllib.request.urlopen(url, timeout=2) as reply:
        return json.loads(reply.read().decode("utf-8"))


def stop(process):
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def read_port(demo, deadline):
    ready, _, _ = select.select([demo.stdout], [], [], max(0.1, deadline - time.monotonic()))
    if not ready:
        raise RuntimeError("metrics_demo printed nothing")
    line = demo.stdout.readline().decode().split()
    if len(line) != 3 or line[0] != "serving":
        raise RuntimeError("unexpected first line from metrics_demo: %r" % line)
    return int(line[2])


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    demo_path = sys.argv[1]
    prometheus = shutil.which("prometheus") or (
        "/usr/bin/prometheus" if os.access("/usr/bin/prometheus", os.X_OK) else None)
    if prometheus is None:
        print("SKIP: prometheus not installed (Debian package prometheus)")
        return SKIPPED

    start = time.monotonic()
    deadline = start + DEADLINE_SECONDS
    workdir = tempfile.mkdtemp(prefix="asylo-prometheus-test-")
    demo = server = None
    log_path = os.path.join(workdir, "prometheus.log")
    try:
        demo = subprocess.Popen([demo_path, "--metrics_address", "127.0.0.1", "--metrics_port",
                                 "0", "--seconds", str(DEADLINE_SECONDS + 10)],
                                stdout=subprocess.PIPE)
        demo_port = read_port(demo, deadline)
        web_port = free_port()
        config = os.path.join(workdir, "prometheus.yml")
        with open(config, "w") as out:
            out.write("global:\n"
                      "  scrape_interval: 1s\n"
                      "  evaluation_interval: 1s\n"
                      "scrape_configs:\n"
                      "  - job_name: asylo-demo\n"
                      "    static_configs:\n"
                      "      - targets: ['127.0.0.1:%d']\n" % demo_port)
        with open(log_path, "w") as log:
            server = subprocess.Popen(
                [prometheus, "--config.file=" + config,
                 "--storage.tsdb.path=" + os.path.join(workdir, "data"),
                 "--web.listen-address=127.0.0.1:%d" % web_port, "--log.level=warn"],
                cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
        base = "http://127.0.0.1:%d" % web_port
        url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": QUERY})
        last = None
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise RuntimeError("prometheus exited with %d" % server.returncode)
            try:
                answer = http_json(url)
                last = answer
                result = answer.get("data", {}).get("result", [])
                if result and float(result[0]["value"][1]) == 42.0:
                    up = http_json(base + "/api/v1/query?" +
                                   urllib.parse.urlencode({"query": 'up{job="asylo-demo"}'}))
                    print("PASS: prometheus read %s = 42 after %.1f s (up: %s)" %
                          (QUERY, time.monotonic() - start,
                           up["data"]["result"][0]["value"][1]))
                    return 0
            except (urllib.error.URLError, ConnectionError, OSError, ValueError, KeyError):
                pass
            time.sleep(0.25)
        print("FAIL: no value 42 for %s within %d s; last answer: %s" %
              (QUERY, DEADLINE_SECONDS, last))
        try:
            print("targets:", json.dumps(http_json(base + "/api/v1/targets"))[:2000])
        except Exception as error:  # diagnostics only
            print("targets: unavailable (%s)" % error)
        return 1
    except RuntimeError as error:
        print("FAIL:", error)
        return 1
    finally:
        stop(server)
        stop(demo)
        if os.path.exists(log_path):
            with open(log_path) as log:
                tail = log.read()[-3000:]
            if tail.strip():
                print("--- prometheus log (tail) ---\n" + tail)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
