#!/bin/sh
# make_certs.sh DIR [EXTRA_SANS]: the one test PKI every test uses, made at run
# time with the openssl CLI.
#   ca.pem/ca.key            the CA both sides trust
#   server.pem/server.key    server cert, SANs IP:127.0.0.1, IP:::1, DNS:localhost
#                            plus EXTRA_SANS (e.g. "IP:10.200.7.1,IP:fd00:200:7::1"
#                            for addresses inside a test's network namespace)
#   client.pem/client.key    client cert from ca ("good client")
#   client2.pem, client3.pem second and third identities from ca (quotas)
#   other_ca.pem             a second CA
#   rogue.pem/rogue.key      client cert from other_ca (must be refused)
set -eu
dir=$1
extra=${2:-}
cd "$dir"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out "$1" 2>/dev/null; }
ca() {
    key "$1.key"
    openssl req -x509 -new -key "$1.key" -out "$1.pem" -days 2 -subj "/CN=$2" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
}
leaf() { # name ca subject extensions
    key "$1.key"
    openssl req -new -key "$1.key" -out "$1.csr" -subj "$3"
    printf '%s\n' "$4" > "$1.ext"
    openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial \
        -out "$1.pem" -days 2 -extfile "$1.ext" 2>/dev/null
}
sans="IP:127.0.0.1,IP:::1,DNS:localhost"
[ -n "$extra" ] && sans="$sans,$extra"
ca ca "asylo test CA"
ca other_ca "asylo other CA"
leaf server ca "/CN=localhost" \
    "subjectAltName=$sans
extendedKeyUsage=serverAuth"
leaf client ca "/O=asylo tests/CN=good client" "extendedKeyUsage=clientAuth"
leaf client2 ca "/O=asylo tests/CN=second client" "extendedKeyUsage=clientAuth"
leaf client3 ca "/O=asylo tests/CN=third client" "extendedKeyUsage=clientAuth"
leaf rogue other_ca "/CN=rogue client" "extendedKeyUsage=clientAuth"
chmod 600 ./*.key
