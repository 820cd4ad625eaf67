#!/usr/bin/python3
"""observability.promtool: scrapes asylo-remote-proxy's /metrics (and the
host library's opt-in endpoint) while a host holds a remote enclave it has
called, checks both with `promtool check metrics`, then checks the values:
call counts by direction/selector/code, latency histograms, bytes, enclaves
loaded and streams.

usage: promtool_test.py PROXY OBS_HOST ENCLAVE
Exits 77 (skipped) without promtool."""
import os
import shutil
import subprocess
import sys
import tempfile
import time

import obs_util
from obs_util import Failure, value

CALLS = 20
MESSAGE = "promtool check message"


def promtool_check(promtool, text, what):
    result = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    if result.returncode != 0:
        raise Failure("promtool check metrics failed on %s: %s" %
                      (what, result.stdout.decode()[-3000:]))
    print("promtool: %s OK (%d lines)" % (what, text.count("\n")))


def check_common(samples, what, loaded):
    """What both the proxy and the host must show after CALLS runs."""
    run_ok = value(samples, "asylo_calls_total", direction="enter", selector=obs_util.SELECTOR_RUN,
                   code="OK")
    if run_ok != CALLS:
        raise Failure("%s: asylo_calls_total{enter,run,OK} = %s, expected %d" %
                      (what, run_ok, CALLS))
    count = value(samples, "asylo_call_duration_seconds_count", direction="enter",
                  selector=obs_util.SELECTOR_RUN)
    if count != CALLS:
        raise Failure("%s: run latency histogram counts %s, expected %d" % (what, count, CALLS))
    for selector in (obs_util.SELECTOR_REMOTE_LOAD, obs_util.SELECTOR_INITIALIZE):
        got = value(samples, "asylo_calls_total", direction="enter", selector=selector, code="OK")
        if got != 1:
            raise Failure("%s: asylo_calls_total{enter,%s,OK} = %s, expected 1" %
                          (what, selector, got))
    log_exits = value(samples, "asylo_calls_total", direction="exit",
                      selector=obs_util.SELECTOR_LOG, code="OK")
    if not log_exits or log_exits < 1:
        raise Failure("%s: no exit call (the enclave's log line) was counted" % what)
    if value(samples, "asylo_enclaves_loaded") != loaded:
        raise Failure("%s: asylo_enclaves_loaded = %s, expected %s" %
                      (what, value(samples, "asylo_enclaves_loaded"), loaded))
    streams = value(samples, "asylo_active_streams")
    if streams is None or streams < 1:
        raise Failure("%s: asylo_active_streams = %s, expected >= 1" % (what, streams))
    received = value(samples, "asylo_bytes_received_total") or 0
    sent = value(samples, "asylo_bytes_sent_total") or 0
    if received <= 0 or sent <= 0:
        raise Failure("%s: bytes sent %s / received %s" % (what, sent, received))
    if value(samples, "process_open_fds") is None:
        raise Failure("%s: process_open_fds missing" % what)
    for (name, labels), number in samples.items():
        if name == "asylo_calls_total" and dict(labels).get("selector") == "other":
            raise Failure("%s: label overflow series appeared: %s" % (what, labels))
    obs_util.check_histograms(samples)
    return received, sent


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    proxy_path, host_path, enclave_path = sys.argv[1:]
    promtool = shutil.which("promtool") or (
        "/usr/bin/promtool" if os.access("/usr/bin/promtool", os.X_OK) else None)
    if promtool is None:
        print("SKIP: promtool not installed (Debian package prometheus)")
        return obs_util.SKIPPED
    workdir = tempfile.mkdtemp(prefix="asylo-obs-promtool-")
    proxy = host = None
    try:
        deadline = time.monotonic() + 60
        proxy = obs_util.Proxy(proxy_path, workdir, extra=["--log_level=debug"])
        print("proxy at %s, metrics %s" % (proxy.address, proxy.metrics_url))
        # Before any host: valid, zero calls.
        promtool_check(promtool, obs_util.scrape(proxy.metrics_url), "idle proxy")
        host = obs_util.Host(host_path, enclave_path, proxy, calls=CALLS, hold=True,
                             metrics_port="any", extra=["--message=" + MESSAGE])
        host_metrics = "http://%s/metrics" % host.expect("metrics ", deadline)
        host.expect("calls ", deadline)

        text = obs_util.scrape(proxy.metrics_url)
        promtool_check(promtool, text, "proxy during a run")
        samples = obs_util.parse(text)
        received, sent = check_common(samples, "proxy", loaded=1)
        if received < CALLS * len(MESSAGE):
            raise Failure("proxy received %s bytes, less than the %d of the messages" %
                          (received, CALLS * len(MESSAGE)))
        print("proxy: %d runs, %d bytes in, %d bytes out" % (CALLS, received, sent))

        host_text = obs_util.scrape(host_metrics)
        promtool_check(promtool, host_text, "host library")
        host_samples = obs_util.parse(host_text)
        check_common(host_samples, "host", loaded=1)

        # The host's heartbeat calls fail on purpose: error codes are counted.
        refused = None
        end = time.monotonic() + 5
        while time.monotonic() < end and not refused:
            refused = value(obs_util.parse(obs_util.scrape(proxy.metrics_url)), "asylo_calls_total",
                            direction="enter", selector="4096", code="INVALID_ARGUMENT")
            time.sleep(0.1)
        if not refused:
            raise Failure("no asylo_calls_total{enter,4096,INVALID_ARGUMENT} on the proxy")
        print("proxy counted %d refused calls (code INVALID_ARGUMENT)" % refused)

        # Counters never go backwards: a second scrape is >= the first.
        again = obs_util.parse(obs_util.scrape(proxy.metrics_url))
        for key, number in samples.items():
            if key[0].endswith("_total") and again.get(key, 0) < number:
                raise Failure("counter %s went backwards: %s -> %s" % (key, number, again.get(key)))

        code = host.release()
        if code != 0:
            raise Failure("obs_host exited with %d: %s" % (code, host.stderr_tail()))
        code = proxy.wait(timeout=20)
        if code != 0:
            raise Failure("the proxy exited with %d" % code)
        log = proxy.log_text()
        obs_util.check_no_sanitizer_report("proxy log", log)
        for event in ("serving enclave image", "initialized", "enclave finalized", "stopped"):
            if event not in log:
                raise Failure("proxy log lacks %r" % event)
        print("PASS")
        return 0
    except (Failure, OSError, subprocess.TimeoutExpired) as error:
        print("FAIL:", error)
        if proxy is not None:
            print("--- proxy log (tail) ---\n" + proxy.log_text()[-4000:])
        return 1
    finally:
        if host is not None:
            host.stop()
        if proxy is not None:
            proxy.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
