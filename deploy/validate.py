#!/usr/bin/env python3
"""Validate FreshPoC's deployment files with their own tools, where those can run.

    python deploy/validate.py --dgraph-chart PATH --airflow-chart PATH [--strimzi-crds DIR]

* docker-compose.yaml, default and ``cluster`` profiles: ``docker compose config -q``;
* deploy/helm/dgraph.yaml: ``helm template`` of Dgraph's chart (a checkout of dgraph-io/charts,
  ``charts/dgraph``), then the rendered alphas and zeros are checked (3 alphas, replicas 3);
* deploy/helm/airflow-{celery,kubernetes}.yaml: ``helm template`` of the official Airflow chart
  (the ``chart/`` folder of apache/airflow, with its dependencies built), then the executor and
  the Celery worker sets per queue are checked;
* deploy/strimzi/kafka.yaml: against the openAPIV3Schema of Strimzi's CRDs when a folder of them
  is given (``packaging/install/cluster-operator`` of strimzi/strimzi-kafka-operator), and its
  Kafka version against the checkout's ``kafka-versions.yaml`` when the folder is in one.

Each check prints one line, ``OK``, ``FAIL`` or ``SKIP`` with the reason (a chart path not given
or missing, no helm binary). Exit status 1 when a check failed, or with ``--strict`` when one was
skipped. Tools: ``--helm`` (default ``$FRESHPOC_HELM``, then the build of
``helm.sh/helm/v4/cmd/helm@v4.3.2`` under ``~/.cache/freshpoc/tools``, then ``helm`` on PATH) and
``--compose`` (default the validator the stack builds, ``~/.cache/freshpoc/bin/docker-compose-*``,
then ``docker compose``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CACHE = Path(os.environ.get("FRESHPOC_HOME", Path.home() / ".cache" / "freshpoc"))
QUEUES = ("git", "analysis", "graph")
NAMESPACE = "freshpoc"


class Report:
    """Collects one line per check; the exit status follows from them."""

    def __init__(self, strict: bool = False) -> None:
        self.strict = strict
        self.failed = self.skipped = 0

    def ok(self, name: str, detail: str) -> None:
        print(f"OK    {name}: {detail}", flush=True)

    def fail(self, name: str, detail: str) -> None:
        self.failed += 1
        print(f"FAIL  {name}: {detail}", flush=True)

    def skip(self, name: str, detail: str) -> None:
        self.skipped += 1
        print(f"SKIP  {name}: {detail}", flush=True)

    @property
    def status(self) -> int:
        return 1 if self.failed or (self.strict and self.skipped) else 0


def find_helm(explicit: str | None) -> Path | None:
    for candidate in (explicit, os.environ.get("FRESHPOC_HELM"),
                      CACHE / "tools" / "helm-v4.3.2" / "helm", shutil.which("helm")):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def find_compose(explicit: str | None) -> list[str] | None:
    if explicit:
        return [explicit] if Path(explicit).is_file() else None
    built = sorted((CACHE / "bin").glob("docker-compose-v*"))
    if built:
        return [str(built[-1])]
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"],
                                                  capture_output=True).returncode == 0:
        return ["docker", "compose"]
    return None


def check_compose(report: Report, compose: list[str] | None) -> None:
    for profiles in ([], ["cluster"]):
        name = f"compose ({'+'.join(profiles) or 'default'} profile)"
        if compose is None:
            report.skip(name, "no Docker Compose: build it with freshpoc_tasks.stack.build."
                        "build_compose or pass --compose")
            continue
        flags = [a for p in profiles for a in ("--profile", p)]
        res = subprocess.run([*compose, "-f", str(ROOT / "docker-compose.yaml"), *flags,
                              "config", "-q"], capture_output=True, text=True, cwd=ROOT)
        if res.returncode == 0:
            report.ok(name, "docker compose config -q exited 0")
        else:
            report.fail(name, res.stderr.strip() or f"exit {res.returncode}")


def helm_template(helm: Path, release: str, chart: Path, values: Path) -> list[dict[str, Any]]:
    """Rendered manifests of ``helm template`` (raises CalledProcessError with helm's message)."""
    res = subprocess.run([str(helm), "template", release, str(chart), "--namespace", NAMESPACE,
                          "-f", str(values)], capture_output=True, text=True, check=True)
    return [d for d in yaml.safe_load_all(res.stdout) if isinstance(d, dict)]


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = doc.get("spec", {}).get("template", {}).get("spec", {})
    return spec.get("containers", [])


def _command_line(container: dict[str, Any]) -> str:
    return " ".join(str(part) for part in [*container.get("command", []), *container.get("args", [])])


def dgraph_problems(docs: Iterable[dict[str, Any]]) -> tuple[list[str], str]:
    """What is wrong with a rendered Dgraph chart for FreshPoC, and a summary of what is right."""
    sets = {d["metadata"]["name"]: d for d in docs if d.get("kind") == "StatefulSet"}
    alpha = next((d for n, d in sets.items() if n.endswith("-alpha")), None)
    zero = next((d for n, d in sets.items() if n.endswith("-zero")), None)
    if alpha is None or zero is None:
        return [f"no alpha/zero StatefulSet among {sorted(sets)}"], ""
    problems = []
    if alpha["spec"].get("replicas") != 3:
        problems.append(f"alpha replicas {alpha['spec'].get('replicas')}, want 3")
    zero_cmd = " ".join(_command_line(c) for c in _containers(zero))
    if "--replicas 3" not in zero_cmd:
        problems.append("zero does not run with --replicas 3")
    summary = (f"{alpha['metadata']['name']} x{alpha['spec'].get('replicas')}, "
               f"{zero['metadata']['name']} x{zero['spec'].get('replicas')} with --replicas 3")
    return problems, summary


def airflow_problems(docs: Iterable[dict[str, Any]], executor: str) -> tuple[list[str], str]:
    """What is wrong with a rendered Airflow chart for FreshPoC: executor and worker queues."""
    docs = list(docs)
    config = "\n".join(str(v) for d in docs if d.get("kind") == "ConfigMap"
                       for k, v in (d.get("data") or {}).items() if k == "airflow.cfg")
    problems = []
    if f"executor = {executor}" not in config:
        problems.append(f"airflow.cfg does not set executor = {executor}")
    if "[freshpoc]" not in config:
        problems.append("airflow.cfg has no [freshpoc] section (the queue names)")
    workers = [d for d in docs if d.get("kind") in ("Deployment", "StatefulSet")
               and any("celery worker" in _command_line(c) for c in _containers(d))]
    served: dict[str, int] = {}
    for w in workers:
        line = " ".join(_command_line(c) for c in _containers(w))
        for queue in QUEUES:
            if queue in line.replace(",", " ").split():
                served[queue] = served.get(queue, 0) + int(w["spec"].get("replicas") or 1)
    if executor == "CeleryExecutor":
        for queue in QUEUES:
            if served.get(queue, 0) < 2:
                problems.append(f"queue {queue!r} served by {served.get(queue, 0)} worker(s), want >= 2")
    elif workers:
        problems.append(f"{executor} but Celery workers rendered: {[w['metadata']['name'] for w in workers]}")
    summary = f"executor {executor}, workers per queue {served or 'none (one pod per task)'}"
    return problems, summary


def check_chart(report: Report, name: str, helm: Path | None, chart: str | None, hint: str,
                render: Callable[[Path, Path], None]) -> None:
    if not chart:
        report.skip(name, f"no chart path given ({hint})")
        return
    path = Path(chart)
    if not (path / "Chart.yaml").is_file():
        report.skip(name, f"chart path missing or not a chart: {path} ({hint})")
        return
    if helm is None:
        report.skip(name, "no helm binary: GOFLAGS=-mod=mod go install helm.sh/helm/v4/cmd/helm@v4.3.2, "
                    "or pass --helm")
        return
    try:
        render(helm, path)
    except subprocess.CalledProcessError as exc:
        report.fail(name, f"helm template failed: {exc.stderr.strip()}")


def check_dgraph(report: Report, helm: Path | None, chart: str | None) -> None:
    def render(helm: Path, path: Path) -> None:
        problems, summary = dgraph_problems(helm_template(helm, "freshpoc", path,
                                                          HERE / "helm" / "dgraph.yaml"))
        (report.fail if problems else report.ok)("helm dgraph", "; ".join(problems) or summary)

    check_chart(report, "helm dgraph", helm, chart,
                "a checkout of dgraph-io/charts: pass its charts/dgraph folder", render)


def check_airflow(report: Report, helm: Path | None, chart: str | None) -> None:
    for variant, executor in (("celery", "CeleryExecutor"), ("kubernetes", "KubernetesExecutor")):
        name = f"helm airflow-{variant}"

        def render(helm: Path, path: Path, variant: str = variant, executor: str = executor,
                   name: str = name) -> None:
            docs = helm_template(helm, "freshpoc", path, HERE / "helm" / f"airflow-{variant}.yaml")
            problems, summary = airflow_problems(docs, executor)
            (report.fail if problems else report.ok)(name, "; ".join(problems) or summary)

        check_chart(report, name, helm, chart, "the chart/ folder of apache/airflow, after "
                    "`helm dependency build` there", render)


def check_strimzi(report: Report, crds: str | None) -> None:
    name = "strimzi kafka.yaml"
    if not crds or not Path(crds).is_dir():
        report.skip(name, f"no Strimzi CRD folder ({crds or 'not given'}): pass --strimzi-crds "
                    "packaging/install/cluster-operator of strimzi/strimzi-kafka-operator")
        return
    import jsonschema

    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    for path in Path(crds).glob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                spec = doc["spec"]
                for version in spec["versions"]:
                    key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                    schemas[key] = version["schema"]["openAPIV3Schema"]
    problems, kinds = [], []
    supported = strimzi_kafka_versions(Path(crds))
    for doc in yaml.safe_load_all((HERE / "strimzi" / "kafka.yaml").read_text()):
        version = doc.get("spec", {}).get("kafka", {}).get("version") if doc["kind"] == "Kafka" else None
        if version and supported is not None and version not in supported:
            problems.append(f"Kafka {version} is not supported by this Strimzi (supported: "
                            f"{', '.join(supported)})")
        schema = schemas.get((doc["apiVersion"], doc["kind"]))
        if schema is None:
            problems.append(f"no CRD for {doc['apiVersion']} {doc['kind']}")
            continue
        try:
            jsonschema.validate(doc, schema)
            kinds.append(doc["kind"])
        except jsonschema.ValidationError as exc:
            problems.append(f"{doc['kind']} {doc['metadata']['name']}: {exc.message}")
    if problems:
        report.fail(name, "; ".join(problems))
    else:
        versions = ("Kafka version supported" if supported is not None
                    else "Kafka version not checked: no kafka-versions.yaml above the CRD folder")
        report.ok(name, f"{len(kinds)} resources valid against the CRDs "
                        f"({', '.join(sorted(set(kinds)))}); {versions}")


def strimzi_kafka_versions(crds: Path) -> list[str] | None:
    """The Kafka versions a Strimzi checkout supports (its ``kafka-versions.yaml``, found above
    the CRD folder), or None without one: a CRD schema accepts any version string, the operator
    does not."""
    for folder in [crds, *crds.resolve().parents][:4]:
        path = folder / "kafka-versions.yaml"
        if path.is_file():
            return [str(v["version"]) for v in yaml.safe_load(path.read_text()) or []
                    if isinstance(v, dict) and v.get("supported")]
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--airflow-chart", help="the chart/ folder of an apache/airflow checkout")
    parser.add_argument("--dgraph-chart", help="charts/dgraph of a dgraph-io/charts checkout")
    parser.add_argument("--strimzi-crds", help="a folder of Strimzi's CRD YAML files")
    parser.add_argument("--helm", help="helm binary")
    parser.add_argument("--compose", help="docker-compose binary")
    parser.add_argument("--strict", action="store_true", help="a skipped check fails too")
    args = parser.parse_args(argv)
    report = Report(strict=args.strict)
    check_compose(report, find_compose(args.compose))
    helm = find_helm(args.helm)
    check_dgraph(report, helm, args.dgraph_chart)
    check_airflow(report, helm, args.airflow_chart)
    check_strimzi(report, args.strimzi_crds)
    print(f"{report.failed} failed, {report.skipped} skipped", flush=True)
    return report.status


if __name__ == "__main__":
    sys.exit(main())
