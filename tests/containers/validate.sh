#!/usr/bin/env bash
# tests/containers/validate.sh — offline checks of deploy/k8s/ and deploy/compose.yaml.
#
#   bash tests/containers/validate.sh     (run.sh runs it first; needs no container engine)
#
# - Core Kubernetes objects against the Kubernetes OpenAPI schemas, strict (unknown fields are
#   errors), for the oldest and newest versions kubernetes-validate ships that we support.
# - KEDA's ScaledObject and TriggerAuthentication against the schema of KEDA's CRDs, as packaged
#   on PyPI by cloudcoil-models-keda (models generated from KEDA's CRDs): JSON Schema, made strict
#   the same way (unknown fields are errors), then the models themselves.
# - deploy/compose.yaml against the Compose Specification schema (check-jsonschema's vendored copy).
# - What the issue asks of the manifests, read from them: replicas, probes and their endpoints,
#   http.listen on 0.0.0.0 in the pod, resources, grace period above shutdown.grace.ms, ConfigMap
#   mount, Secret references, PDB selector, Prometheus annotations, the ScaledObject's cap.
# - Each validator is also shown a broken copy, which it must reject (so a validator that accepts
#   everything cannot pass).
# The validators come from PyPI, pinned, in a venv kept in ~/.cache/evfleet (see common.sh).

# shellcheck disable=SC2034 # CT_COMPOSE_ENV is for run.sh
ct_validate() {
    ct_stage "validate manifests and compose file (offline)"
    if ! ct_require "python venv with kubernetes-validate, cloudcoil-models-keda, check-jsonschema" ct_venv; then
        return 0
    fi
    local status desc detail done=0
    while IFS=$'\t' read -r status desc detail; do
        case $status in
        PASS) ct_pass "$desc" ;;
        FAIL) ct_fail "$desc" "${detail//\\n/$'\n'}" ;;
        ENV) CT_COMPOSE_ENV=$desc ;; # read by run.sh's image checks
        DONE) done=1 ;;
        NOTE) printf '  note  %s\n' "$desc" ;;
        *) printf '        %s\n' "$status${desc:+ $desc}${detail:+ $detail}" ;;
        esac
    done < <(ct_python - "$EVF_CT_ROOT" 2>&1 <<'PY'
import copy, glob, json, os, re, subprocess, sys, tempfile
import yaml

root = sys.argv[1]
k8s = os.path.join(root, "deploy", "k8s")


def report(ok, desc, detail=""):
    detail = str(detail).replace("\t", " ").replace("\n", "\\n")[:3000]
    print(("PASS" if ok else "FAIL") + "\t" + desc + "\t" + detail, flush=True)


def check(desc, fn):
    try:
        r = fn()
        if r is None or r is True:
            report(True, desc)
        else:
            report(False, desc, r)
    except Exception as e:  # noqa: BLE001 - a check that raises has failed
        report(False, desc, f"{type(e).__name__}: {e}")


# ---------------------------------------------------------------- load what kustomize would
kust = yaml.safe_load(open(os.path.join(k8s, "kustomization.yaml")))
resources = kust.get("resources", [])
docs = {}  # (kind, name) -> (file, doc)
for f in resources:
    for d in yaml.safe_load_all(open(os.path.join(k8s, f))):
        if d:
            docs[(d["kind"], d["metadata"]["name"])] = (f, d)
examples = {}
for d in yaml.safe_load_all(open(os.path.join(k8s, "secret.example.yaml"))):
    examples[(d["kind"], d["metadata"]["name"])] = ("secret.example.yaml", d)


def one(kind):
    found = [d for (k, _), (_, d) in docs.items() if k == kind]
    assert len(found) == 1, f"expected one {kind} in kustomization resources, found {len(found)}"
    return found[0]


def every_file_listed():
    files = {os.path.basename(p) for p in glob.glob(os.path.join(k8s, "*.yaml"))}
    extra = files - set(resources) - {"kustomization.yaml", "secret.example.yaml"}
    missing = set(resources) - files
    if extra or missing:
        return f"not in kustomization.yaml: {sorted(extra)}; listed but missing: {sorted(missing)}"


check("kustomization.yaml lists every manifest (secret.example.yaml excepted)", every_file_listed)


def kustomize_builds():
    for tool in (["kubectl", "kustomize"], ["kustomize", "build"]):
        try:
            out = subprocess.run(tool + [k8s], capture_output=True, text=True, timeout=60)
        except FileNotFoundError:
            continue
        if out.returncode != 0:
            return out.stderr
        built = [d for d in yaml.safe_load_all(out.stdout) if d]
        if len(built) != len(docs):
            return f"kustomize made {len(built)} objects, the resources hold {len(docs)}"
        return None
    print("NOTE\tno kubectl or kustomize here: built the resource list by hand\t", flush=True)


check("kustomize builds deploy/k8s", kustomize_builds)

# ---------------------------------------------------------------- Kubernetes schemas
import kubernetes_validate  # noqa: E402

K8S_VERSIONS = ["1.28.0", kubernetes_validate.latest_version()]


def k8s_valid(doc, version):
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as e:
        return f"{e.message} at {'/'.join(str(p) for p in e.path)}"
    return None


core = {key: v for key, v in {**docs, **examples}.items() if v[1]["apiVersion"] != "keda.sh/v1alpha1"}
for (kind, name), (f, doc) in sorted(core.items()):
    for v in K8S_VERSIONS:
        check(f"{f}: {kind}/{name} valid against Kubernetes {v} schemas (strict)",
              lambda doc=doc, v=v: k8s_valid(doc, v))


def k8s_rejects_broken():
    d = copy.deepcopy(one("Deployment"))
    d["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = d["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]
    if k8s_valid(d, K8S_VERSIONS[-1]) is None:
        return "a Deployment with a misspelled field (livenesProbe) passed"
    d = copy.deepcopy(one("Deployment"))
    d["spec"]["replicas"] = "three"
    if k8s_valid(d, K8S_VERSIONS[-1]) is None:
        return "a Deployment with replicas: \"three\" passed"


check("the Kubernetes validator rejects a broken Deployment", k8s_rejects_broken)

# ---------------------------------------------------------------- KEDA's CRD schema
from cloudcoil.models.keda import v1alpha1 as keda  # noqa: E402
import jsonschema  # noqa: E402


def strict(schema):
    """Unknown fields become errors, as a server with strict field validation treats them."""
    if isinstance(schema, dict):
        if schema.get("type") == "object" and "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
        for v in schema.values():
            strict(v)
    elif isinstance(schema, list):
        for v in schema:
            strict(v)
    return schema


KEDA_MODELS = {"ScaledObject": keda.ScaledObject, "TriggerAuthentication": keda.TriggerAuthentication}
KEDA_SCHEMAS = {k: strict(m.model_json_schema(by_alias=True, mode="validation")) for k, m in KEDA_MODELS.items()}


def keda_valid(doc):
    kind = doc.get("kind")
    if doc.get("apiVersion") != "keda.sh/v1alpha1" or kind not in KEDA_MODELS:
        return f"not a keda.sh/v1alpha1 ScaledObject or TriggerAuthentication: {doc.get('apiVersion')} {kind}"
    errs = sorted(jsonschema.Draft202012Validator(KEDA_SCHEMAS[kind]).iter_errors(doc), key=str)
    if errs:
        return "; ".join(f"{e.message} at /{'/'.join(str(p) for p in e.absolute_path)}" for e in errs[:5])
    KEDA_MODELS[kind].model_validate(doc)  # raises on what the schema cannot say
    return None


for (kind, name), (f, doc) in sorted(docs.items()):
    if doc["apiVersion"] == "keda.sh/v1alpha1":
        check(f"{f}: {kind}/{name} valid against KEDA's CRD schema (cloudcoil-models-keda, strict)",
              lambda doc=doc: keda_valid(doc))


def keda_rejects_broken():
    so = one("ScaledObject")
    bad = copy.deepcopy(so)
    bad["spec"]["maxReplicaCounts"] = bad["spec"].pop("maxReplicaCount")
    if keda_valid(bad) is None:
        return "a ScaledObject with a misspelled field (maxReplicaCounts) passed"
    bad = copy.deepcopy(so)
    del bad["spec"]["triggers"][0]["metadata"]
    if keda_valid(bad) is None:
        return "a ScaledObject trigger without metadata passed"
    bad = copy.deepcopy(so)
    bad["spec"]["maxReplicaCount"] = "12"
    if keda_valid(bad) is None:
        return "a ScaledObject with maxReplicaCount: \"12\" passed"


check("the KEDA validator rejects a broken ScaledObject", keda_rejects_broken)

# ---------------------------------------------------------------- what the issue asks for
def conf_of(cm):
    conf = {}
    for line in cm["data"]["worker.conf"].splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            conf[k.strip()] = v.strip()
    return conf


dep = one("Deployment")
cm = one("ConfigMap")
conf = conf_of(cm)
pod = dep["spec"]["template"]
c = pod["spec"]["containers"][0]
env = {e["name"]: e for e in c.get("env", [])}
port_by_name = {p["name"]: p["containerPort"] for p in c.get("ports", [])}


def probe_port(p):
    port = p["httpGet"]["port"]
    return port_by_name.get(port) if isinstance(port, str) else port


def deployment_shape():
    assert dep["spec"]["replicas"] == 3, f"replicas {dep['spec']['replicas']}"
    lp, rp = c["livenessProbe"], c["readinessProbe"]
    assert lp["httpGet"]["path"] == "/healthz", lp
    assert rp["httpGet"]["path"] == "/readyz", rp
    listen = env["EVFLEET_HTTP_LISTEN"]["value"]
    host, port = listen.rsplit(":", 1)
    assert host == "0.0.0.0", f"http.listen {listen}: the kubelet probes the pod IP"
    assert probe_port(lp) == probe_port(rp) == int(port), f"probes on {probe_port(lp)}/{probe_port(rp)}, listen {listen}"
    assert "http.listen" not in conf, "http.listen also set in the ConfigMap (the env wins; keep one)"


check("Deployment: 3 replicas, liveness /healthz and readiness /readyz on http.listen 0.0.0.0:<port>", deployment_shape)


def deployment_says_why():
    text = open(os.path.join(k8s, "deployment.yaml")).read()
    m = re.search(r"((?:^\s*#.*\n)+)\s*- name: EVFLEET_HTTP_LISTEN", text, re.M)
    assert m and "0.0.0.0" in m.group(1) and re.search(r"probe|kubelet", m.group(1)), "no comment above EVFLEET_HTTP_LISTEN saying why 0.0.0.0"


check("deployment.yaml says why http.listen is 0.0.0.0 in the pod", deployment_says_why)


def resources():
    r = c["resources"]
    for part in ("requests", "limits"):
        for res in ("cpu", "memory"):
            assert res in r.get(part, {}), f"no {part}.{res}"


check("Deployment: cpu and memory requests and limits", resources)


def grace():
    tgps = pod["spec"]["terminationGracePeriodSeconds"]
    grace_ms = int(conf.get("shutdown.grace.ms", "10000"))
    # commit, leaving the group and the producer's flush come after the grace period
    assert tgps * 1000 >= grace_ms + 5000, f"terminationGracePeriodSeconds {tgps} vs shutdown.grace.ms {grace_ms}"


check("Deployment: terminationGracePeriodSeconds above shutdown.grace.ms (+5 s)", grace)


def config_mount():
    vols = {v["name"]: v for v in pod["spec"]["volumes"]}
    mounts = [m for m in c["volumeMounts"] if vols[m["name"]].get("configMap", {}).get("name") == cm["metadata"]["name"]]
    assert mounts, "the ConfigMap is not mounted"
    path = mounts[0]["mountPath"].rstrip("/") + "/worker.conf"
    args = c.get("args", [])
    assert "-c" in args and args[args.index("-c") + 1] == path, f"args {args} do not read {path}"
    assert path == "/etc/evfleet/worker.conf", path


check("ConfigMap worker.conf mounted at /etc/evfleet/worker.conf and read with -c", config_mount)


def secret_refs():
    want = {"EVFLEET_KAFKA_SASL_USERNAME", "EVFLEET_KAFKA_SASL_PASSWORD", "EVFLEET_REDIS_PASSWORD"}
    for name in want:
        ref = env.get(name, {}).get("valueFrom", {}).get("secretKeyRef")
        assert ref, f"{name} is not from a Secret"
        sec = examples.get(("Secret", ref["name"]))
        assert sec and ref["key"] in sec[1]["stringData"], f"{name}: {ref} not in secret.example.yaml"
    for v in cm["data"]["worker.conf"].splitlines():
        assert not re.match(r"\s*(kafka\.sasl\.password|redis\.password)\s*=", v), f"secret in the ConfigMap: {v}"


check("Secret references for Kafka SASL and the Redis password (none in the ConfigMap)", secret_refs)


def security():
    psc, csc = pod["spec"]["securityContext"], c["securityContext"]
    assert psc["runAsNonRoot"] and psc["runAsUser"] == 10001, psc
    assert csc["readOnlyRootFilesystem"] is True and csc["allowPrivilegeEscalation"] is False, csc
    containerfile = open(os.path.join(root, "deploy", "Containerfile")).read()
    assert re.search(r"^USER 10001", containerfile, re.M), "Containerfile does not run as 10001"


check("Deployment: non-root 10001 (as the image), read-only root filesystem", security)


def pdb():
    p = one("PodDisruptionBudget")
    sel = p["spec"]["selector"]["matchLabels"]
    labels = pod["metadata"]["labels"]
    assert all(labels.get(k) == v for k, v in sel.items()), f"PDB selector {sel} vs pod labels {labels}"
    assert dep["spec"]["selector"]["matchLabels"] == sel, "PDB and Deployment select differently"


check("PodDisruptionBudget selects the worker pods", pdb)


def prometheus():
    a = pod["metadata"]["annotations"]
    assert a["prometheus.io/scrape"] == "true", a
    assert a["prometheus.io/path"] == "/metrics", a
    assert int(a["prometheus.io/port"]) == int(env["EVFLEET_HTTP_LISTEN"]["value"].rsplit(":", 1)[1]), a


check("Prometheus scrape annotations name the metrics port and path", prometheus)


def scaledobject():
    so = one("ScaledObject")["spec"]
    assert so["scaleTargetRef"]["name"] == dep["metadata"]["name"], so["scaleTargetRef"]
    parts = int(conf["topics.partitions"])
    assert so["maxReplicaCount"] == parts, f"maxReplicaCount {so['maxReplicaCount']} != topics.partitions {parts}"
    assert so["minReplicaCount"] == dep["spec"]["replicas"], "minReplicaCount differs from replicas"
    topics = set(conf["topics"].split(","))
    seen = set()
    for t in so["triggers"]:
        m = t["metadata"]
        assert t["type"] == "kafka", t
        assert m["consumerGroup"] == conf["kafka.group.id"], m
        assert m["bootstrapServers"] == conf["kafka.bootstrap.servers"], m
        assert m.get("allowIdleConsumers", "false") == "false", "allowIdleConsumers lifts the partition cap"
        assert int(m["lagThreshold"]) > 0, m
        seen.add(m["topic"])
    assert seen == topics, f"triggers on {sorted(seen)}, sources {sorted(topics)}"
    auth = {t["authenticationRef"]["name"] for t in so["triggers"] if "authenticationRef" in t}
    for a in auth:
        assert ("TriggerAuthentication", a) in docs, f"no TriggerAuthentication {a}"


check("ScaledObject: Kafka lag triggers on every source topic, capped at topics.partitions", scaledobject)

# ---------------------------------------------------------------- compose
compose_path = os.path.join(root, "deploy", "compose.yaml")


def compose_schema(path):
    out = subprocess.run([os.path.join(os.path.dirname(sys.executable), "check-jsonschema"),
                          "--builtin-schema", "vendor.compose-spec", path], capture_output=True, text=True)
    return None if out.returncode == 0 else (out.stdout + out.stderr)


check("compose.yaml valid against the Compose Specification schema", lambda: compose_schema(compose_path))


def compose_rejects_broken():
    doc = yaml.safe_load(open(compose_path))
    doc["services"]["worker"]["stop_grace_periodd"] = "30s"
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        yaml.safe_dump(doc, f)
    try:
        if compose_schema(f.name) is None:
            return "a compose file with a misspelled key passed"
    finally:
        os.unlink(f.name)


check("the compose schema check rejects a broken compose file", compose_rejects_broken)


def compose_shape():
    doc = yaml.safe_load(open(compose_path))
    s = doc["services"]
    assert {"kafka", "redis", "worker", "producer"} <= set(s), sorted(s)
    w = s["worker"]
    assert w["deploy"]["replicas"] == 3, w.get("deploy")
    ctx = os.path.normpath(os.path.join(os.path.dirname(compose_path), w["build"]["context"]))
    assert os.path.isfile(os.path.join(ctx, w["build"]["dockerfile"])), w["build"]
    grace_ms = int(w["environment"].get("EVFLEET_SHUTDOWN_GRACE_MS", "10000"))
    m = re.fullmatch(r"(\d+)s", w["stop_grace_period"])
    assert m and int(m.group(1)) * 1000 >= grace_ms + 5000, f"stop_grace_period {w['stop_grace_period']}"
    assert s["producer"]["entrypoint"][0] == "evfleet-produce", s["producer"]
    assert s["producer"]["image"] == w["image"], "the producer does not use the worker's image"
    for name in ("kafka", "redis"):
        assert "healthcheck" in s[name], f"{name} has no healthcheck"
        assert w["depends_on"][name]["condition"] == "service_healthy", w["depends_on"]


check("compose.yaml: Kafka, Redis, worker x3 (built from deploy/Containerfile), producer", compose_shape)

# for run.sh: the environment of the compose worker, to try on the image
print("ENV\t" + json.dumps(yaml.safe_load(open(compose_path))["services"]["worker"]["environment"]) + "\t", flush=True)
print("DONE\t\t", flush=True)
PY
    )
    ((done)) || ct_fail "the validation script ran to its end"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    set -euo pipefail
    # shellcheck source=tests/containers/common.sh
    . "$(dirname "$0")/common.sh"
    ct_validate
    printf '\n%d passed, %d failed\n' "$CT_PASSED" "$CT_FAILED"
    ((CT_FAILED == 0))
fi
