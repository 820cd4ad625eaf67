#!/usr/bin/env python3
"""fd_burst.py HOST PORT COUNT HOLD_S BOUND_S: a connection burst, then a client.

Opens COUNT bare TCP connections to HOST:PORT (more than the server's fd
limit), holds them HOLD_S seconds, closes them all, then calls the gRPC health
service (grpc.health.v1.Health/Check, an empty request) until it answers, for
at most BOUND_S seconds. Prints "recovered in N ms" and exits 0, or exits 1.
Needs Debian's python3-grpcio: run it with /usr/bin/python3.
"""
import socket
import sys
import time

import grpc


def main():
    host, port, count, hold, bound = (sys.argv[1], int(sys.argv[2]), int(sys.argv[3]),
                                      float(sys.argv[4]), float(sys.argv[5]))
    sockets = []
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(0.5)
        try:
            s.connect((host, port))
        except OSError:
            pass  # the backlog is full: the burst still did its harm
        sockets.append(s)
    time.sleep(hold)
    for s in sockets:
        s.close()
    start = time.monotonic()
    last_error = "no attempt"
    while time.monotonic() - start < bound:
        # A fresh channel each time: no reconnect backoff carried over.
        channel = grpc.insecure_channel(
            "%s:%d" % (host, port), options=[("grpc.use_local_subchannel_pool", 1)])
        try:
            check = channel.unary_unary("/grpc.health.v1.Health/Check")
            check(b"", timeout=0.5)
            print("recovered in %d ms" % ((time.monotonic() - start) * 1000))
            return 0
        except grpc.RpcError as error:
            last_error = "%s: %s" % (error.code(), error.details())
        finally:
            channel.close()
        time.sleep(0.05)
    print("no answer within %.1f s after the burst: %s" % (bound, last_error))
    return 1


if __name__ == "__main__":
    sys.exit(main())
