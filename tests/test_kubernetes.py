"""deploy/kubernetes: the manifests validate against the Kubernetes schemas (kubernetes-validate,
a validator no one here wrote), agree with docker/Dockerfile (image version, ports, user,
volume, health), and the Deployment's container runs: its ``args`` after the image's
ENTRYPOINT, its ``env`` over the image's ENV (the Secret's token given as the cluster would),
the ConfigMap's profiles in the /profiles volume, the probes answered, SIGTERM obeyed within
the grace period. No cluster runs here; what is run is run as tests/test_container_contract.py
runs the image."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from fakeorigin.core.loader import load_profile_file
from tests.test_container_contract import (
    ROOT,
    Installed,
    container,
    http_get,
    installed,  # noqa: F401 (the session's wheel, installed as the image installs it)
    read_dockerfile,
    wait_healthy,
)

pytestmark = pytest.mark.realsocket

DEPLOY = ROOT / "deploy" / "kubernetes"
#: The oldest Kubernetes release still maintained when these were written, and the newest the
#: validator knows.
VERSIONS = ("1.32.0", kubernetes_validate.latest_version())
TOKEN = "a-token-from-the-secret"


def documents() -> list[tuple[str, dict[str, Any]]]:
    """Every resource in the kustomization's ``resources``, with its file name."""
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    found = []
    for name in kustomization["resources"]:
        for document in yaml.safe_load_all((DEPLOY / name).read_text()):
            found.append((name, document))
    return found


def resource(kind: str, name: str) -> dict[str, Any]:
    [found] = [d for _, d in documents() if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


def the_container() -> dict[str, Any]:
    [only] = resource("Deployment", "fakeorigin")["spec"]["template"]["spec"]["containers"]
    spec: dict[str, Any] = only
    return spec


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    ("file", "index"),
    [(name, i) for i, (name, _) in enumerate(documents())],
)
def test_every_manifest_validates(file: str, index: int, version: str) -> None:
    document = documents()[index][1]
    kubernetes_validate.validate(document, version, strict=True)


def test_an_invalid_manifest_is_refused() -> None:
    """The validator is strict: a misspelt field fails (so the test above can fail)."""
    broken = json.loads(json.dumps(resource("Deployment", "fakeorigin")))
    broken["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSIONS[-1], strict=True)


def test_the_kustomization_names_what_exists() -> None:
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    for name in kustomization["resources"]:
        assert (DEPLOY / name).is_file(), name
    [profiles] = kustomization["configMapGenerator"]
    assert profiles["name"] == "fakeorigin-profiles"
    assert sorted(profiles["files"]) == sorted(
        f"profiles/{p.name}" for p in (DEPLOY / "profiles").iterdir()
    )
    for file in profiles["files"]:
        assert load_profile_file(DEPLOY / file).name == Path(file).stem
    [secret] = kustomization["secretGenerator"]
    assert secret["name"] == "fakeorigin-control"
    [source] = secret["files"]
    key, _, path = source.partition("=")
    assert key == "token"
    assert f"deploy/kubernetes/{path}" in (ROOT / ".gitignore").read_text().splitlines()
    [image] = kustomization["images"]
    assert image["name"] == the_container()["image"].partition(":")[0]


def test_the_deployment_agrees_with_the_dockerfile() -> None:
    image = read_dockerfile()
    deployment = resource("Deployment", "fakeorigin")
    pod = deployment["spec"]["template"]["spec"]
    spec = the_container()
    assert spec["image"].endswith(":" + image.labels["org.opencontainers.image.version"])
    ports = {p["name"]: p["containerPort"] for p in spec["ports"]}
    assert sorted(ports.values()) == sorted(image.exposed_ports)
    assert image.env["FAKEORIGIN_LISTEN"].startswith(f"tcp:{ports['origin']}:")
    assert image.env["FAKEORIGIN_CONTROL"].startswith(f"tcp:{ports['control']}:")
    user = image.user
    assert user is not None
    assert pod["securityContext"]["runAsUser"] == int(user.split(":")[0])
    assert pod["securityContext"]["runAsNonRoot"] is True
    hardening = spec["securityContext"]
    assert hardening["readOnlyRootFilesystem"] is True
    assert hardening["allowPrivilegeEscalation"] is False
    assert hardening["capabilities"]["drop"] == ["ALL"]
    mounts = {m["name"]: m["mountPath"] for m in spec["volumeMounts"]}
    assert mounts["profiles"] in image.volumes
    assert mounts["tmp"] == "/tmp"  # the only place a read-only root leaves to write
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert spec[probe]["httpGet"] == {"path": "/health", "port": "control"}
    assert set(spec["resources"]["requests"]) == {"cpu", "memory"}
    assert set(spec["resources"]["limits"]) == {"cpu", "memory"}
    token = next(e for e in spec["env"] if e["name"] == "FAKEORIGIN_CONTROL_TOKEN")
    assert token["valueFrom"]["secretKeyRef"] == {"name": "fakeorigin-control", "key": "token"}
    # every Service selects the pods and points at a named container port
    for _, document in documents():
        if document["kind"] == "Service":
            assert document["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
            for port in document["spec"]["ports"]:
                assert port["targetPort"] in ports
    headless = resource("Service", "fakeorigin-replicas")
    assert headless["spec"]["clusterIP"] == "None"


def _grace(spec: dict[str, Any]) -> float:
    args = spec["args"]
    return float(args[args.index("--shutdown-grace") + 1])


def test_the_deployments_container_runs(installed: Installed, tmp_path: Path) -> None:  # noqa: F811
    spec = the_container()
    pod = resource("Deployment", "fakeorigin")["spec"]["template"]["spec"]
    # env: plain values as given, a secretKeyRef as the kubelet resolves it (our test token)
    run_env = {e["name"]: e.get("value", TOKEN) for e in spec["env"]}
    profiles = {p.name: p.read_text() for p in (DEPLOY / "profiles").iterdir()}
    startup = spec["startupProbe"]
    budget = startup["periodSeconds"] * startup["failureThreshold"]
    with container(installed, tmp_path, run_env, profiles, args=spec["args"]) as running:
        health = installed.image.healthcheck
        assert health is not None
        wait_healthy(running, budget, health.timeout_seconds)
        control = running.port("FAKEORIGIN_CONTROL")
        origin = running.port("FAKEORIGIN_LISTEN")
        probe = http_get(f"http://127.0.0.1:{control}/health")  # no token, as a kubelet asks
        with_token = {"Authorization": f"Bearer {TOKEN}"}
        mine = http_get(f"http://127.0.0.1:{control}/profiles/slow-api", with_token)
        refused = http_get(f"http://127.0.0.1:{control}/profiles")
        served = http_get(f"http://127.0.0.1:{origin}/k8s")
        code, took, err = running.stop(signal.SIGTERM)
    assert probe[0] == 200
    assert json.loads(probe[1])["status"] == "ok"
    assert mine[0] == 200
    assert json.loads(mine[1])["name"] == "slow-api"
    assert refused[0] == 401
    assert served[0] == 200
    assert code == 0, err
    assert took < min(_grace(spec), pod["terminationGracePeriodSeconds"])
