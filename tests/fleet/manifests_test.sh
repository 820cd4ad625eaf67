#!/usr/bin/env bash
# fleet.manifests: validates deploy/kubernetes as far as this machine allows
# (no cluster is reachable, so nothing is applied):
#   1. yamllint (strict) on every file, with deploy/kubernetes/.yamllint;
#   2. `kubectl kustomize` renders the set offline, and yamllint reads the
#      result (skipped with the reason when kubectl is not installed: it is
#      not a Debian package);
#   3. the documents say what docs/deploying.md promises (checked in Python
#      on the rendered set, or on the raw files without kubectl): a
#      StatefulSet with a headless Service, mutual-TLS secret, gRPC
#      readiness/liveness probes on the health port, Prometheus annotations
#      on the metrics port, resource limits, non-root, read-only root file
#      system with the store on an emptyDir;
#   4. every flag the container is given is one asylo-provision-server
#      knows (its --help), so the manifests cannot drift from the binary.
# Usage: manifests_test.sh SOURCE_DIR PROVISION_SERVER
# Exit 77 (skip) only when neither yamllint nor python3-yaml is present.
set -uo pipefail
source_dir=${1:?usage: manifests_test.sh SOURCE_DIR PROVISION_SERVER}
server=${2:?usage: manifests_test.sh SOURCE_DIR PROVISION_SERVER}
manifests=$source_dir/deploy/kubernetes
python=/usr/bin/python3
tmp=$(mktemp -d /tmp/asylo-fleet-manifests.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
checked=0

if command -v yamllint >/dev/null; then
    yamllint -s -c "$manifests/.yamllint" "$manifests" || { echo "FAIL: yamllint"; exit 1; }
    echo "yamllint: $(ls "$manifests"/*.yaml | wc -l) files clean"
    checked=1
else
    echo "SKIP part: yamllint is not installed (scripts/bootstrap installs it)"
fi

rendered=
if command -v kubectl >/dev/null; then
    kubectl kustomize "$manifests" >"$tmp/rendered.yaml" 2>"$tmp/kustomize.err" ||
        { echo "FAIL: kubectl kustomize:"; cat "$tmp/kustomize.err"; exit 1; }
    echo "kubectl kustomize: $(grep -c '^kind:' "$tmp/rendered.yaml") objects"
    rendered=$tmp/rendered.yaml
    if command -v yamllint >/dev/null; then
        # kubectl writes lists unindented: only the indentation rule differs.
        yamllint -s -d '{extends: default, rules: {indentation: {indent-sequences: whatever},
                         line-length: {max: 120}, document-start: disable}}' \
            "$rendered" || { echo "FAIL: yamllint on the rendered set"; exit 1; }
    fi
else
    echo "SKIP part: kubectl is not installed here, so the kustomization is not rendered" \
        "(the documents are checked one by one instead)"
fi

if ! "$python" -c 'import yaml' 2>/dev/null; then
    echo "SKIP part: python3-yaml is missing, the manifests' content is not checked"
    [ $checked = 1 ] && exit 0
    echo "SKIP: neither yamllint nor python3-yaml is installed"
    exit 77
fi
"$server" --help >"$tmp/help.txt" || { echo "FAIL: $server --help"; exit 1; }

"$python" - "$manifests" "$rendered" "$tmp/help.txt" <<'PY' || exit 1
import glob, re, sys, yaml

manifests, rendered, help_path = sys.argv[1], sys.argv[2], sys.argv[3]
if rendered:
    docs = [d for d in yaml.safe_load_all(open(rendered)) if d]
else:
    docs = []
    for path in sorted(glob.glob(manifests + "/*.yaml")):
        if not path.endswith("kustomization.yaml"):
            docs += [d for d in yaml.safe_load_all(open(path)) if d]
problems = []

def need(condition, what):
    if not condition:
        problems.append(what)

kinds = {}
for doc in docs:
    kinds.setdefault(doc["kind"], []).append(doc)
sets = kinds.get("StatefulSet", []) + kinds.get("DaemonSet", [])
need(len(sets) == 1, "one StatefulSet or DaemonSet")
services = kinds.get("Service", [])
need(any(s["spec"].get("clusterIP") == "None" for s in services), "a headless Service")
if sets:
    workload = sets[0]
    pod = workload["spec"]["template"]
    spec = pod["spec"]
    if workload["kind"] == "StatefulSet":
        need(workload["spec"].get("serviceName") in [s["metadata"]["name"] for s in services],
             "the StatefulSet's serviceName names the headless Service")
    annotations = pod["metadata"].get("annotations", {})
    container = spec["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    need(annotations.get("prometheus.io/scrape") == "true", "prometheus.io/scrape annotation")
    need(annotations.get("prometheus.io/port") == str(ports.get("metrics")),
         "prometheus.io/port names the metrics port")
    pod_security = spec.get("securityContext", {})
    security = container.get("securityContext", {})
    need(pod_security.get("runAsNonRoot") is True, "runAsNonRoot")
    need(int(pod_security.get("runAsUser", 0)) > 0, "a non-root runAsUser")
    need(security.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem")
    need(security.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation: false")
    need("ALL" in security.get("capabilities", {}).get("drop", []), "capabilities dropped")
    limits = container.get("resources", {}).get("limits", {})
    need("cpu" in limits and "memory" in limits, "cpu and memory limits")
    args = container.get("args", [])
    # YAML reads "--flag=::" as a mapping: every argument must be a string.
    need(all(isinstance(a, str) for a in args), "only strings in args (quote ':' values)")
    args = [a for a in args if isinstance(a, str)]
    flags = dict(a[2:].split("=", 1) for a in args if a.startswith("--") and "=" in a)
    for probe in ("readinessProbe", "livenessProbe"):
        grpc = container.get(probe, {}).get("grpc")
        need(grpc is not None, probe + " is a gRPC probe")
        if grpc:
            port = grpc["port"]
            need(flags.get("health_address", "").endswith(":%d" % port),
                 probe + " goes to --health_address (kubelet gRPC probes are plaintext)")
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
    store = flags.get("storage_dir", "")
    store_volume = [name for path, name in mounts.items() if store.startswith(path + "/")]
    need(store_volume and "emptyDir" in volumes.get(store_volume[0], {}),
         "--storage_dir on an emptyDir")
    secrets = [v for v in volumes.values() if "secret" in v]
    need(secrets, "a TLS secret volume")
    need(flags.get("security_type") == "ssl", "--security_type=ssl")
    for flag in ("ssl_server_cert", "ssl_server_cred", "ssl_root_certs"):
        path = flags.get(flag, "")
        need(any(path.startswith(p + "/") and mounts[p] in [s["name"] for s in secrets]
                 for p in mounts), "--%s comes from the secret (mutual TLS)" % flag)
    need(str(ports.get("metrics")) == flags.get("metrics_port"), "--metrics_port is the metrics port")
    help_text = open(help_path).read()
    for arg in args:
        name = re.match(r"--[a-z_]+", arg)
        need(name and re.search(re.escape(name.group(0)) + r"\b", help_text),
             "asylo-provision-server --help knows %s" % arg)
if problems:
    print("FAIL: the manifests lack: " + "; ".join(problems))
    sys.exit(1)
print("manifests: %d documents (%s) have what docs/deploying.md says" %
      (len(docs), ", ".join(sorted(kinds))))
PY
echo "fleet.manifests: OK"
