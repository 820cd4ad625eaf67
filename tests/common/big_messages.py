#!/usr/bin/env python3
"""big_messages.py TARGET METHOD COUNT SIZE_MIB: COUNT concurrent garbage messages.

Sends COUNT concurrent unary calls of SIZE_MIB MiB of 0xff bytes (not a valid
protobuf) to METHOD on TARGET (insecure) and prints each status code. The
server must refuse them without holding them in memory (the test reads its
VmHWM). Needs Debian's python3-grpcio: run it with /usr/bin/python3.
"""
import sys
import threading

import grpc


def main():
    target, method, count, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    payload = b"\xff" * (size << 20)
    options = [("grpc.max_send_message_length", -1), ("grpc.use_local_subchannel_pool", 1)]
    codes = []

    def one():
        channel = grpc.insecure_channel(target, options=options)
        try:
            channel.unary_unary(method)(payload, timeout=30)
            codes.append("OK")
        except grpc.RpcError as error:
            codes.append(str(error.code()))
        finally:
            channel.close()

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(" ".join(sorted(codes)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
