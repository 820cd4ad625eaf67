#!/usr/bin/python3
"""observability.health: asylo-remote-proxy answers the standard gRPC health
service, checked with Python grpcio (an independent gRPC stack) and the
messages built by python3-protobuf from the grpc.health.v1 schema (the
grpc_health package is not in Debian; if it is installed it is used too):

- Check("") and Check("asylo.remote.RemoteEnclaveProxy"): SERVING while the
  proxy runs, idle and with a loaded enclave; over local and insecure
  channel credentials (what stock probes use);
- Check("no.such.Service"): NOT_FOUND; Watch and unknown methods:
  UNIMPLEMENTED;
- after SIGTERM, during --drain_ms: NOT_SERVING, new enclave streams are
  refused with UNAVAILABLE, /metrics still answers; then the proxy exits.

usage: health_test.py PROXY OBS_HOST ENCLAVE. Exits 77 without grpcio."""
import shutil
import signal
import sys
import tempfile
import time

import obs_util
from obs_util import Failure

try:
    import grpc
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
except ImportError as error:  # pragma: no cover
    print("SKIP: python3-grpcio / python3-protobuf not importable by %s (%s)" %
          (sys.executable, error))
    sys.exit(obs_util.SKIPPED)

DRAIN_MS = 4000
SERVICE = "asylo.remote.RemoteEnclaveProxy"
CHECK = "/grpc.health.v1.Health/Check"
WATCH = "/grpc.health.v1.Health/Watch"
COMMUNICATE = "/asylo.remote.RemoteEnclaveProxy/Communicate"


def health_messages():
    """HealthCheckRequest / HealthCheckResponse classes from the schema of
    grpc/src/proto/grpc/health/v1/health.proto."""
    file_proto = descriptor_pb2.FileDescriptorProto(name="asylo_test_health.proto",
                                                    package="grpc.health.v1", syntax="proto3")
    request = file_proto.message_type.add(name="HealthCheckRequest")
    request.field.add(name="service", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
                      label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
    response = file_proto.message_type.add(name="HealthCheckResponse")
    status_enum = response.enum_type.add(name="ServingStatus")
    for name, number in (("UNKNOWN", 0), ("SERVING", 1), ("NOT_SERVING", 2),
                         ("SERVICE_UNKNOWN", 3)):
        status_enum.value.add(name=name, number=number)
    response.field.add(name="status", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_ENUM,
                       type_name=".grpc.health.v1.HealthCheckResponse.ServingStatus",
                       label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file_proto)
    classes = []
    for name in ("grpc.health.v1.HealthCheckRequest", "grpc.health.v1.HealthCheckResponse"):
        descriptor = pool.FindMessageTypeByName(name)
        if hasattr(message_factory, "GetMessageClass"):
            classes.append(message_factory.GetMessageClass(descriptor))
        else:
            classes.append(message_factory.MessageFactory(pool).GetPrototype(descriptor))
    return classes


Request, Response = health_messages()
STATUS_NAMES = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}


def channels(address):
    return {
        "local": grpc.secure_channel(address, grpc.local_channel_credentials(
            grpc.LocalConnectionType.LOCAL_TCP)),
        "insecure": grpc.insecure_channel(address),
    }


def check(channel, service=""):
    call = channel.unary_unary(CHECK, request_serializer=lambda m: m.SerializeToString(),
                               response_deserializer=Response.FromString)
    return STATUS_NAMES[call(Request(service=service), timeout=5).status]


def expect_code(what, code, function):
    try:
        function()
    except grpc.RpcError as error:
        if error.code() != code:
            raise Failure("%s: got %s (%s), expected %s" % (what, error.code(), error.details(),
                                                            code))
        print("%s -> %s" % (what, code))
        return error
    raise Failure("%s succeeded, expected %s" % (what, code))


def check_serving(all_channels, when):
    for kind, channel in all_channels.items():
        for service in ("", SERVICE):
            got = check(channel, service)
            if got != "SERVING":
                raise Failure("%s, %s channel, Check(%r) = %s" % (when, kind, service, got))
    print("%s: SERVING over local and insecure channels" % when)


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    proxy_path, host_path, enclave_path = sys.argv[1:]
    workdir = tempfile.mkdtemp(prefix="asylo-obs-health-")
    proxy = host = None
    open_channels = {}
    try:
        proxy = obs_util.Proxy(proxy_path, workdir, extra=[
            "--drain_ms=%d" % DRAIN_MS, "--load_timeout_ms=60000", "--log_level=debug"])
        open_channels = channels(proxy.address)
        channel = open_channels["local"]
        check_serving(open_channels, "idle")
        expect_code("Check('no.such.Service')", grpc.StatusCode.NOT_FOUND,
                    lambda: check(channel, "no.such.Service"))
        expect_code("unknown method /grpc.health.v1.Health/Nope", grpc.StatusCode.UNIMPLEMENTED,
                    lambda: channel.unary_unary("/grpc.health.v1.Health/Nope")(b"", timeout=5))
        expect_code("unknown service /no.such.Service/Method", grpc.StatusCode.UNIMPLEMENTED,
                    lambda: channel.unary_unary("/no.such.Service/Method")(b"", timeout=5))
        expect_code("Watch", grpc.StatusCode.UNIMPLEMENTED,
                    lambda: list(channel.unary_stream(WATCH)(b"", timeout=5)))
        try:
            import grpc_health.v1.health_pb2 as health_pb2
            import grpc_health.v1.health_pb2_grpc as health_pb2_grpc
            stub = health_pb2_grpc.HealthStub(channel)
            answer = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
            if answer.status != health_pb2.HealthCheckResponse.SERVING:
                raise Failure("grpc_health client: %s" % answer)
            print("grpc_health's own client agrees: SERVING")
        except ImportError:
            print("(grpc_health not installed: schema-built messages only)")

        deadline = time.monotonic() + 60
        host = obs_util.Host(host_path, enclave_path, proxy, calls=3, hold=True)
        host.expect("calls ", deadline)
        check_serving(open_channels, "with a loaded enclave")

        proxy.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        status = None
        while time.monotonic() - signalled < 3:
            status = check(channel)
            if status == "NOT_SERVING":
                break
            time.sleep(0.05)
        if status != "NOT_SERVING":
            raise Failure("still %s 3 s after SIGTERM" % status)
        print("NOT_SERVING %.0f ms after SIGTERM" % ((time.monotonic() - signalled) * 1e3))
        if check(open_channels["insecure"], SERVICE) != "NOT_SERVING":
            raise Failure("the named service did not turn NOT_SERVING too")
        error = expect_code("a new enclave stream while draining", grpc.StatusCode.UNAVAILABLE,
                            lambda: list(channel.stream_stream(COMMUNICATE)(iter(()), timeout=5)))
        if "shutting down" not in (error.details() or ""):
            raise Failure("refusal does not say why: %r" % error.details())
        obs_util.scrape(proxy.metrics_url)
        if time.monotonic() - signalled > DRAIN_MS / 1000.0:
            raise Failure("the checks took longer than the drain; cannot tell what was seen")
        print("still answering (health, /metrics) while draining")

        code = proxy.wait(timeout=DRAIN_MS / 1000.0 + 15)
        took = time.monotonic() - signalled
        if code != 0:
            raise Failure("the proxy exited with %d after SIGTERM" % code)
        if took < DRAIN_MS / 1000.0 - 0.2:
            raise Failure("the proxy exited after %.2f s, before its %d ms drain" % (took, DRAIN_MS))
        print("proxy exited 0, %.2f s after SIGTERM" % took)
        # The host loses its proxy: it must notice and end, whatever its status.
        host_code = host.release(timeout=30)
        if host_code < 0:
            raise Failure("obs_host died from signal %d" % -host_code)
        log = proxy.log_text()
        obs_util.check_no_sanitizer_report("proxy log", log)
        for event in ("finishing: SIGTERM", "draining for %d ms" % DRAIN_MS,
                      "refused a stream from", "stopped"):
            if event not in log:
                raise Failure("proxy log lacks %r" % event)
        print("PASS")
        return 0
    except (Failure, OSError, grpc.RpcError) as error:
        print("FAIL:", error)
        if proxy is not None:
            print("--- proxy log (tail) ---\n" + proxy.log_text()[-4000:])
        return 1
    finally:
        for channel in open_channels.values():
            channel.close()
        if host is not None:
            host.stop()
        if proxy is not None:
            proxy.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
