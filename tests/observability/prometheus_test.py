#!/usr/bin/python3
"""observability.prometheus: a real Prometheus server (Debian package, 2.42)
on loopback scrapes asylo-remote-proxy and the host library's endpoint while
a host calls its remote enclave CALLS times over a few seconds, then holds
it; the test queries Prometheus' HTTP API until both jobs report the run
count (bounded poll: the first sample reaches the API only after ~6 s), then
lets the host finish.

usage: prometheus_test.py PROXY OBS_HOST ENCLAVE. Exits 77 without prometheus."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import obs_util
from obs_util import Failure

CALLS = 40
INTERVAL_MS = 100
DEADLINE_SECONDS = 60


def http_json(url):
    with urllib.request.urlopen(url, timeout=2) as reply:
        return json.loads(reply.read().decode("utf-8"))


def free_port():
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def query(base, expression):
    answer = http_json(base + "/api/v1/query?" + urllib.parse.urlencode({"query": expression}))
    return answer.get("data", {}).get("result", [])


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    proxy_path, host_path, enclave_path = sys.argv[1:]
    prometheus = shutil.which("prometheus") or (
        "/usr/bin/prometheus" if os.access("/usr/bin/prometheus", os.X_OK) else None)
    if prometheus is None:
        print("SKIP: prometheus not installed (Debian package prometheus)")
        return obs_util.SKIPPED
    start = time.monotonic()
    deadline = start + DEADLINE_SECONDS
    workdir = tempfile.mkdtemp(prefix="asylo-obs-prometheus-")
    proxy = host = server = None
    log_path = os.path.join(workdir, "prometheus.log")
    try:
        proxy = obs_util.Proxy(proxy_path, workdir)
        host = obs_util.Host(host_path, enclave_path, proxy, calls=CALLS, interval_ms=INTERVAL_MS,
                             hold=True, metrics_port="any")
        host_target = host.expect("metrics ", deadline)
        proxy_target = proxy.metrics_url.split("/")[2]
        web_port = free_port()
        config = os.path.join(workdir, "prometheus.yml")
        with open(config, "w") as out:
            out.write("global:\n"
                      "  scrape_interval: 1s\n"
                      "  evaluation_interval: 1s\n"
                      "scrape_configs:\n"
                      "  - job_name: asylo-remote-proxy\n"
                      "    static_configs:\n"
                      "      - targets: ['%s']\n"
                      "  - job_name: asylo-host\n"
                      "    static_configs:\n"
                      "      - targets: ['%s']\n" % (proxy_target, host_target))
        with open(log_path, "w") as log:
            server = subprocess.Popen(
                [prometheus, "--config.file=" + config,
                 "--storage.tsdb.path=" + os.path.join(workdir, "data"),
                 "--web.listen-address=127.0.0.1:%d" % web_port, "--log.level=warn"],
                cwd=workdir, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        base = "http://127.0.0.1:%d" % web_port
        host.expect("calls ", deadline)
        print("host made %d calls in %.1f s" % (CALLS, time.monotonic() - start))
        wanted = {
            "asylo-remote-proxy": 'asylo_calls_total{job="asylo-remote-proxy",direction="enter",'
                                  'selector="2",code="OK"}',
            "asylo-host": 'asylo_calls_total{job="asylo-host",direction="enter",selector="2",'
                          'code="OK"}',
        }
        seen = {}
        last = None
        while time.monotonic() < deadline and len(seen) < len(wanted):
            if server.poll() is not None:
                raise Failure("prometheus exited with %d" % server.returncode)
            for job, expression in wanted.items():
                if job in seen:
                    continue
                try:
                    result = query(base, expression)
                    last = result
                    if result and float(result[0]["value"][1]) == CALLS:
                        seen[job] = time.monotonic() - start
                except (urllib.error.URLError, ConnectionError, OSError, ValueError, KeyError):
                    pass
            time.sleep(0.25)
        if len(seen) < len(wanted):
            try:
                print("targets:", json.dumps(http_json(base + "/api/v1/targets"))[:3000])
            except Exception as error:  # diagnostics only
                print("targets: unavailable (%s)" % error)
            raise Failure("prometheus did not report %d runs for %s within %d s; last: %s" %
                          (CALLS, sorted(set(wanted) - set(seen)), DEADLINE_SECONDS, last))
        for job, seconds in sorted(seen.items()):
            print("prometheus: %s reports %d runs after %.1f s" % (job, CALLS, seconds))
        loaded = query(base, 'asylo_enclaves_loaded{job="asylo-remote-proxy"}')
        if not loaded or float(loaded[0]["value"][1]) != 1:
            raise Failure("asylo_enclaves_loaded of the proxy: %s" % loaded)
        p99 = query(base, 'histogram_quantile(0.99, sum by (le) (asylo_call_duration_seconds_bucket'
                          '{job="asylo-host",direction="enter",selector="2"}))')
        print("host-side p99 run latency (PromQL): %s s" % (p99[0]["value"][1] if p99 else "?"))
        up = query(base, "up")
        if sorted(float(sample["value"][1]) for sample in up) != [1.0, 1.0]:
            raise Failure("up: %s" % up)
        code = host.release()
        if code != 0:
            raise Failure("obs_host exited with %d: %s" % (code, host.stderr_tail()))
        code = proxy.wait(timeout=20)
        if code != 0:
            raise Failure("the proxy exited with %d" % code)
        print("PASS")
        return 0
    except (Failure, OSError, subprocess.TimeoutExpired) as error:
        print("FAIL:", error)
        if proxy is not None:
            print("--- proxy log (tail) ---\n" + proxy.log_text()[-3000:])
        return 1
    finally:
        obs_util.stop(server)
        if host is not None:
            host.stop()
        if proxy is not None:
            proxy.stop()
        if os.path.exists(log_path):
            with open(log_path) as log:
                tail = log.read()[-3000:]
            if tail.strip():
                print("--- prometheus log (tail) ---\n" + tail)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
