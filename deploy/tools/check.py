"""`make deploy-check`: renders every overlay and validates it offline.

- core objects with kubernetes-validate --strict (an unknown field fails);
- SpinApp and SpinAppExecutor objects with check-jsonschema against the CRD schemas in
  deploy/k8s/crds, made strict (additionalProperties: false on every object that lists
  its properties), so an unknown field fails there too;
- the validation itself: an overlay with a wrong field must fail, in each kind;
- the variables: the SpinApp binds exactly the variables spin.toml declares, secrets from
  the Secret, the rest from the ConfigMap, whose values are spin.toml's defaults except the
  deployment's own;
- the guard (deploy/guard.sh): each refusal, with a stand-in kubectl.

Run from the repository root with the tools on PATH (deploy/check.sh sets them up).
"""

import copy
import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OUT = ROOT / "target" / "deploy"
OVERLAYS = ["local", "poc"]
CUSTOM_KINDS = {"SpinApp": "spinapps.yaml", "SpinAppExecutor": "spinappexecutors.yaml"}
# ConfigMap values that differ from spin.toml's defaults on purpose, and why.
DEPLOYMENT_VALUES = {
    "es_url": "the cluster's Elasticsearch service",
    "trusted_proxies": "behind the ingress controller",
    "mail_mode": "mail through the HTTP mail API",
    "search_backend": "the full register is in the cluster's Elasticsearch",
}
STORE_PVC = "deces-edge-redis-data"

failures = []


def fail(what):
    failures.append(what)
    print(f"FAIL {what}")


def ok(what):
    print(f"ok   {what}")


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def strict(schema):
    """The schema with additionalProperties: false wherever properties are listed."""
    schema = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if "properties" in node and "additionalProperties" not in node:
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return schema


def write_schemas():
    paths = {}
    for kind, file in CUSTOM_KINDS.items():
        crd = yaml.safe_load((K8S / "crds" / file).read_text())
        version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1")
        schema = strict(version["schema"]["openAPIV3Schema"])
        schema["$schema"] = "http://json-schema.org/draft-07/schema#"
        path = OUT / "schemas" / f"{kind}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(schema, indent=1))
        paths[kind] = path
    return paths


def render(overlay_dir):
    r = run(["kubectl", "kustomize", str(overlay_dir)])
    if r.returncode != 0:
        return None, r.stderr.strip()
    return [d for d in yaml.safe_load_all(r.stdout) if d], ""


def validate(name, docs, schemas):
    """Problems found in rendered objects (empty when valid)."""
    problems = []
    folder = OUT / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    core = []
    for i, doc in enumerate(docs):
        kind = doc.get("kind")
        if kind in CUSTOM_KINDS:
            if doc.get("apiVersion") != "core.spinkube.dev/v1alpha1":
                problems.append(f"{kind}: apiVersion {doc.get('apiVersion')}")
            path = folder / f"{i:02}-{kind}.json"
            path.write_text(json.dumps(doc))
            r = run(["check-jsonschema", "--schemafile", str(schemas[kind]), str(path)])
            if r.returncode != 0:
                problems.append(f"{kind}: {(r.stdout + r.stderr).strip()}")
        else:
            core.append(doc)
    path = folder / "core.yaml"
    path.write_text(yaml.safe_dump_all(core))
    r = run(["kubernetes-validate", "--strict", "--quiet", str(path)])
    if r.returncode != 0:
        problems.append(f"core objects: {(r.stdout + r.stderr).strip()}")
    return problems


def find(docs, kind, name=None):
    return [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


def secret_refs(node):
    """Every secretKeyRef below a rendered object."""
    if isinstance(node, dict):
        if "secretKeyRef" in node:
            yield node["secretKeyRef"]
        for value in node.values():
            yield from secret_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from secret_refs(value)


def check_variables(name, docs):
    manifest = tomllib.loads((ROOT / "spin.toml").read_text())
    declared = manifest["variables"]
    spinapp = find(docs, "SpinApp")[0]
    bound = [v["name"] for v in spinapp["spec"].get("variables", [])]
    if len(bound) != len(set(bound)):
        fail(f"{name}: a variable is bound twice")
    if set(bound) != set(declared):
        fail(f"{name}: SpinApp variables differ from spin.toml: "
             f"missing {sorted(set(declared) - set(bound))}, unknown {sorted(set(bound) - set(declared))}")
    config = find(docs, "ConfigMap", "deces-edge-config")[0]["data"]
    for v in spinapp["spec"]["variables"]:
        source = v.get("valueFrom", {})
        if declared.get(v["name"], {}).get("secret"):
            if "secretKeyRef" not in source:
                fail(f"{name}: secret variable {v['name']} not from a Secret")
        if "configMapKeyRef" in source and source["configMapKeyRef"]["key"] not in config:
            fail(f"{name}: {v['name']} names a ConfigMap key that does not exist")
    secret_vars = {v["name"] for v in spinapp["spec"]["variables"] if "secretKeyRef" in v.get("valueFrom", {})}
    if set(config) != set(declared) - secret_vars:
        fail(f"{name}: ConfigMap keys differ from spin.toml's non-secret variables: "
             f"{sorted(set(config) ^ (set(declared) - secret_vars))}")
    # Every Secret key anything reads is documented in secret.example.env (and generated
    # by the local overlay).
    example = {
        line.split("=", 1)[0]
        for line in (K8S / "base" / "secret.example.env").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    }
    wanted = {
        (ref["key"], ref.get("optional", False))
        for doc in docs
        for ref in secret_refs(doc)
        if ref.get("name") == "deces-edge-secrets"
    }
    missing = {k for k, _ in wanted} - example
    if missing:
        fail(f"{name}: secret keys not in secret.example.env: {sorted(missing)}")
    for secret in find(docs, "Secret", "deces-edge-secrets"):
        required = {k for k, optional in wanted if not optional}
        have = set(secret.get("data", {})) | set(secret.get("stringData", {}))
        if not required <= have:
            fail(f"{name}: generated Secret lacks {sorted(required - have)}")
    ok(f"{name}: {len(bound)} variables bound, as spin.toml declares")


def check_config_values():
    manifest = tomllib.loads((ROOT / "spin.toml").read_text())
    config = yaml.safe_load((K8S / "base" / "config.yaml").read_text())["data"]
    for key, value in config.items():
        default = manifest["variables"][key].get("default")
        if value != default and key not in DEPLOYMENT_VALUES:
            fail(f"base ConfigMap: {key}={value!r}, spin.toml's default is {default!r}")
    ok("base ConfigMap: spin.toml's defaults except " + ", ".join(DEPLOYMENT_VALUES))


def check_overlays(schemas):
    for overlay in OVERLAYS:
        docs, error = render(K8S / "overlays" / overlay)
        if docs is None:
            fail(f"{overlay}: kustomize: {error}")
            continue
        problems = validate(overlay, docs, schemas)
        for p in problems:
            fail(f"{overlay}: {p}")
        if not problems:
            kinds = sorted({d["kind"] for d in docs})
            ok(f"{overlay}: {len(docs)} objects valid ({', '.join(kinds)})")
        check_variables(overlay, docs)
        if not find(docs, "PersistentVolumeClaim", STORE_PVC):
            fail(f"{overlay}: no store volume claim")
        if not find(docs, "CronJob"):
            fail(f"{overlay}: no sweep CronJob")
        if overlay == "poc":
            if find(docs, "Namespace"):
                fail("poc: holds a Namespace object; the cluster owns it")
            if find(docs, "SpinApp")[0]["spec"]["replicas"] != 0:
                fail("poc: replicas must be 0 at rest")
            if not find(docs, "Ingress")[0]["spec"].get("tls"):
                fail("poc: the ingress has no TLS")
    cluster = K8S / "cluster" / "runtimeclass-burst.yaml"
    r = run(["kubernetes-validate", "--strict", "--quiet", str(cluster)])
    if r.returncode != 0:
        fail(f"cluster RuntimeClass: {r.stdout}{r.stderr}")
    else:
        ok("cluster RuntimeClass valid")


def broken_overlay(name, target, patch):
    """A throw-away overlay over local with one JSON patch."""
    folder = OUT / "broken" / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    base = os.path.relpath(K8S / "overlays" / "local", folder)
    folder.joinpath("kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [base],
        "patches": [{"target": target, "patch": yaml.safe_dump(patch)}],
    }))
    return folder


def check_validation_fails(schemas):
    """The validation must catch a wrong field in every kind of object we ship."""
    cases = [
        ("spinapp-unknown-field", {"kind": "SpinApp"},
         [{"op": "add", "path": "/spec/replica", "value": 2}]),
        ("spinapp-wrong-type", {"kind": "SpinApp"},
         [{"op": "replace", "path": "/spec/replicas", "value": "two"}]),
        ("spinapp-variable-field", {"kind": "SpinApp"},
         [{"op": "add", "path": "/spec/variables/0/valueFrom/configMapKeyRef/keyy", "value": "x"}]),
        ("executor-unknown-field", {"kind": "SpinAppExecutor"},
         [{"op": "add", "path": "/spec/deploymentConfig/runtimeClass", "value": "x"}]),
        ("deployment-unknown-field", {"kind": "Deployment"},
         [{"op": "add", "path": "/spec/template/spec/containers/0/imagePullPolcy", "value": "Always"}]),
        ("cronjob-wrong-type", {"kind": "CronJob"},
         [{"op": "replace", "path": "/spec/jobTemplate/spec/backoffLimit", "value": "two"}]),
    ]
    for name, target, patch in cases:
        docs, error = render(broken_overlay(name, target, patch))
        if docs is None:
            fail(f"{name}: did not render: {error}")
            continue
        if validate(f"broken-{name}", docs, schemas):
            ok(f"a wrong field is caught: {name}")
        else:
            fail(f"a wrong field passed validation: {name}")


def check_guard():
    fake = OUT / "fake-kubectl"
    log = OUT / "fake-kubectl.log"
    fake.write_text(
        "#!/usr/bin/env bash\n"
        'case "$1" in\n'
        '  config) echo "$FAKE_CONTEXT" ;;\n'
        '  kustomize) exec kubectl "$@" ;;\n'
        '  *) echo "$*" >> "$FAKE_LOG" ;;\n'
        "esac\n"
    )
    fake.chmod(0o755)
    # An overlay without the store's claim (as with a managed Redis).
    no_pvc = OUT / "broken" / "no-store"
    shutil.rmtree(no_pvc, ignore_errors=True)
    no_pvc.mkdir(parents=True)
    (no_pvc / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(K8S / "overlays" / "local", no_pvc)],
        "patches": [{"patch": yaml.safe_dump({
            "$patch": "delete", "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": STORE_PVC, "namespace": "deces-edge"}})}],
    }))
    local, poc = str(K8S / "overlays" / "local"), str(K8S / "overlays" / "poc")
    cases = [
        # (what, env, args, applied, words in the refusal)
        ("apply to a development context", {"FAKE_CONTEXT": "k3d-deces"}, ["apply", local], True, []),
        ("apply to a prod context", {"FAKE_CONTEXT": "gke-prod-eu"}, ["apply", poc], False,
         ["CONFIRM_PROD=yes", "gke-prod-eu"]),
        ("apply to a prod context, confirmed", {"FAKE_CONTEXT": "gke-prod-eu", "CONFIRM_PROD": "yes"},
         ["apply", poc], True, []),
        ("confirmation must be exactly yes", {"FAKE_CONTEXT": "gke-prod-eu", "CONFIRM_PROD": "y"},
         ["apply", poc], False, ["CONFIRM_PROD=yes"]),
        ("--context names a prod context", {"FAKE_CONTEXT": "k3d-deces"},
         ["apply", poc, "--context=prod-1"], False, ["prod-1"]),
        ("another pattern", {"FAKE_CONTEXT": "matchid-live", "PROD_CONTEXT_PATTERN": "live$"},
         ["apply", poc], False, ["live$"]),
        ("delete an overlay holding the store", {"FAKE_CONTEXT": "k3d-deces"}, ["delete", local], False,
         [STORE_PVC, "delete spinapp"]),
        ("delete, even confirmed in prod", {"FAKE_CONTEXT": "prod", "CONFIRM_PROD": "yes"},
         ["delete", poc], False, [STORE_PVC]),
        ("apply --prune without the store", {"FAKE_CONTEXT": "k3d-deces"},
         ["apply", str(no_pvc), "--prune", "-l", "app.kubernetes.io/part-of=matchid"], False,
         ["--prune", STORE_PVC]),
        ("apply --prune with the store", {"FAKE_CONTEXT": "k3d-deces"},
         ["apply", local, "--prune", "-l", "app.kubernetes.io/part-of=matchid"], True, []),
    ]
    for what, env, args, applied, words in cases:
        log.unlink(missing_ok=True)
        full_env = {k: v for k, v in os.environ.items() if k not in ("CONFIRM_PROD", "PROD_CONTEXT_PATTERN")}
        full_env.update({"KUBECTL": str(fake), "FAKE_LOG": str(log)}, **env)
        r = run([str(ROOT / "deploy" / "guard.sh"), *args], env=full_env)
        did = log.exists() and log.read_text().startswith(args[0])
        if applied:
            good = r.returncode == 0 and did
        else:
            good = r.returncode == 3 and not did and all(w in r.stderr for w in words)
        (ok if good else fail)(f"guard: {what}" + ("" if good else f" (exit {r.returncode}: {r.stderr.strip()})"))


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    schemas = write_schemas()
    check_config_values()
    check_overlays(schemas)
    check_validation_fails(schemas)
    check_guard()
    if failures:
        print(f"deploy-check: {len(failures)} failure(s)")
        sys.exit(1)
    print("deploy-check: all good")


if __name__ == "__main__":
    main()
