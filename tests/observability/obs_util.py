"""Shared helpers of the observability tests: start a proxy and a host,
read their announcement lines with deadlines, scrape and parse /metrics, and
stop every process this test started (never leaves one behind)."""
import os
import re
import secrets
import select
import signal
import subprocess
import tempfile
import time
import urllib.request

SKIPPED = 77

# Selectors (include/asylo/selectors.h), as metric label values.
SELECTOR_INITIALIZE = "1"
SELECTOR_RUN = "2"
SELECTOR_FINALIZE = "3"
SELECTOR_LOG = "256"
SELECTOR_REMOTE_LOAD = "512"


class Failure(Exception):
    pass


def read_line(process, deadline, what):
    """One stdout line of process before deadline (monotonic seconds)."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise Failure("%s printed no line in time" % what)
        ready, _, _ = select.select([process.stdout], [], [], left)
        if ready:
            line = process.stdout.readline()
            if not line:
                raise Failure("%s closed stdout (exit code %s)" % (what, process.poll()))
            return line.decode("utf-8", "replace").rstrip("\n")


def stop(process, wait=10):
    """SIGTERM, then SIGKILL; always reaps."""
    if process is None:
        return None
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    return process.returncode


class Proxy:
    """asylo-remote-proxy on 127.0.0.1:0 with a token file and a metrics
    endpoint on a free port; stderr goes to a file (the log)."""

    def __init__(self, proxy_path, workdir, extra=(), token=None, metrics=True, deadline=20):
        self.token = token if token is not None else "tok-" + secrets.token_hex(16)
        self.token_path = os.path.join(workdir, "token")
        with open(self.token_path, "w") as out:
            out.write(self.token + "\n")
        self.log_path = os.path.join(workdir, "proxy-%s.log" % secrets.token_hex(4))
        arguments = [proxy_path, "--address=127.0.0.1:0", "--token_file=" + self.token_path]
        if metrics:
            arguments += ["--metrics_port=0", "--metrics_address=127.0.0.1"]
        arguments += list(extra)
        self.log = open(self.log_path, "wb")
        # Unbuffered: select() must see every line still unread.
        self.process = subprocess.Popen(arguments, stdout=subprocess.PIPE, stderr=self.log,
                                        stdin=subprocess.DEVNULL, bufsize=0)
        self.metrics_url = None
        end = time.monotonic() + deadline
        while True:
            line = read_line(self.process, end, "asylo-remote-proxy")
            if line.startswith("asylo-remote-proxy: metrics on "):
                self.metrics_url = line.split()[-1]
            elif line.startswith("asylo-remote-proxy: listening on "):
                self.address = line.split()[-1]
                break
            else:
                raise Failure("unexpected proxy line %r" % line)
        if metrics and self.metrics_url is None:
            raise Failure("the proxy did not announce its metrics URL")

    def metrics_port(self):
        return int(self.metrics_url.rsplit(":", 1)[1].split("/")[0])

    def wait(self, timeout):
        return self.process.wait(timeout=timeout)

    def stop(self):
        code = stop(self.process)
        self.log.close()
        return code

    def log_text(self):
        self.log.flush()
        with open(self.log_path, "rb") as log:
            return log.read().decode("utf-8", "replace")


class Host:
    """obs_host: loads the quickstart enclave on a proxy and calls run."""

    def __init__(self, host_path, enclave_path, proxy=None, calls=10, interval_ms=0,
                 hold=True, metrics_port=None, extra=(), remote_proxy=None):
        arguments = [host_path, "--enclave_path=" + enclave_path, "--calls=%d" % calls,
                     "--interval_ms=%d" % interval_ms]
        if remote_proxy is not None:
            arguments.append("--remote_proxy=" + remote_proxy)
        else:
            arguments += ["--remote_address=" + proxy.address, "--token=" + proxy.token]
        if hold:
            arguments.append("--hold")
        if metrics_port is not None:
            arguments.append("--metrics_port=%s" % metrics_port)
        arguments += list(extra)
        # stderr to a file: a pipe nobody reads could fill and block the host.
        self.stderr_file = tempfile.TemporaryFile()
        self.process = subprocess.Popen(arguments, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=self.stderr_file, bufsize=0)
        self.metrics_address = None

    def expect(self, prefix, deadline):
        line = read_line(self.process, deadline, "obs_host")
        if not line.startswith(prefix):
            raise Failure("obs_host said %r, expected %r...; stderr: %s" %
                          (line, prefix, self.stderr_tail()))
        return line[len(prefix):].strip()

    def release(self, timeout=30):
        """Closes stdin (the host destroys its enclave) and waits."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            stop(self.process)
            raise Failure("obs_host did not finish within %d s" % timeout)

    def stderr_text(self):
        self.stderr_file.seek(0)
        return self.stderr_file.read().decode("utf-8", "replace")

    def stderr_tail(self):
        return self.stderr_text()[-3000:]

    def stop(self):
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()
        return stop(self.process)


def scrape(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as reply:
        if reply.status != 200:
            raise Failure("GET %s: HTTP %d" % (url, reply.status))
        return reply.read().decode("utf-8")


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text):
    """{(name, ((label, value), ...sorted)): float}; refuses duplicates."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        if match is None:
            raise Failure("unparseable sample line %r" % line)
        labels = tuple(sorted(LABEL.findall(match.group(3) or "")))
        key = (match.group(1), labels)
        if key in samples:
            raise Failure("duplicate sample %r" % line)
        samples[key] = float(match.group(4))
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))))


def check_histograms(samples):
    """Every _bucket series ends with +Inf equal to _count; buckets cumulative."""
    series = {}
    for (name, labels), number in samples.items():
        if name.endswith("_bucket"):
            rest = tuple(item for item in labels if item[0] != "le")
            le = dict(labels)["le"]
            series.setdefault((name[:-len("_bucket")], rest), []).append(
                (float("inf") if le == "+Inf" else float(le), number))
    for (base, rest), buckets in series.items():
        buckets.sort()
        if buckets[-1][0] != float("inf"):
            raise Failure("%s%s has no +Inf bucket" % (base, rest))
        counts = [count for _, count in buckets]
        if counts != sorted(counts):
            raise Failure("%s%s buckets are not cumulative" % (base, rest))
        count = samples.get((base + "_count", rest))
        if count != buckets[-1][1]:
            raise Failure("%s%s: +Inf bucket %s != _count %s" % (base, rest, buckets[-1][1], count))


SANITIZER_REPORT = re.compile(r"ERROR: (Address|Leak)Sanitizer|runtime error: |"
                              r"SUMMARY: (Address|Undefined)")


def check_no_sanitizer_report(what, text):
    """ASan/UBSan reports of a child process (a locally provisioned proxy)
    would otherwise only show as a warning in its host's log."""
    match = SANITIZER_REPORT.search(text)
    if match is not None:
        start = max(0, match.start() - 200)
        raise Failure("%s has a sanitizer report: %s" % (what, text[start:start + 2000]))
