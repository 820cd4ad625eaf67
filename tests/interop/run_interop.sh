#!/bin/sh
# Runs an interop script with Debian's /usr/bin/python3 (the only interpreter
# here that sees python3-grpcio: MACHINE-NOTES 17); exits 77 (skipped) with
# the reason when it is absent.
if [ ! -x /usr/bin/python3 ]; then
    echo "SKIP: /usr/bin/python3 is missing (apt-get install python3 python3-grpcio)"
    exit 77
fi
exec /usr/bin/python3 "$@"
