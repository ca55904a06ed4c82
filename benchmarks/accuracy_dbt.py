"""dbt analysis accuracy against ``dbt parse``: model edges, rendering and column lineage.

dbt itself is the oracle. For each ``--project`` (a local checkout of a public dbt project, its
packages placed in ``dbt_packages/`` or its ``packages-install-path`` by hand), the benchmark

1. runs ``dbt parse`` (dbt-core <1.11 with dbt-duckdb, in a cached tool venv) with a throwaway
   duckdb profile written to a temporary folder, target and log paths in that folder too, so
   the checkout is left as it was, and reads ``manifest.json``;
2. runs FreshPoC's dbt analyzer on the same files (the project folder taken as the repository
   root, ``target/``, ``logs/`` and ``.git`` left out);
3. prints, per project and in total:
   - model-edge precision / recall / F1: (model or snapshot) -> (model, seed, snapshot or source)
     pairs, dbt's ``depends_on.nodes`` against our ``depends_on`` edges, split into ref and
     source edges; package models count too (dbt puts them in the manifest);
   - models rendered, rendered only from the Jinja syntax tree (fallback), and lost;
   - per-model column-lineage coverage: models whose output columns come from their own SQL,
     models with at least one ``derives_from`` edge to an upstream column, and models whose
     lineage is partial (ephemeral models are inlined into their consumers and have no relation
     of their own: counted apart). A model whose SQL only exists after asking the warehouse for
     data or for relations (``get_column_values``, ``get_relations_by_pattern``) has none;
     ``adapter.get_columns_in_relation`` is answered from upstream lineage at link time.

References used (fetched public checkouts; packages cloned by hand into ``dbt_packages/`` at the
versions their ``packages.yml`` names, since dbt's package hub is not reachable here):

- ``dbt-labs/jaffle-shop`` with dbt_utils 1.3.3, dbt_date 0.17.1, audit_helper (main);
- ``mattermost/mattermost-data-warehouse``, project ``transform/mattermost-analytics`` (254
  models + 48 of the dbt_project_evaluator package) with dbt_utils 1.3.0, codegen 0.13.1,
  dbt_project_evaluator 0.14.3, dbt_snowflake_query_tags 2.6.0; its profile lives in
  ``profile/``, where dbt looks only when told (``--profiles-dir profile``);
- ``cal-itp/data-infra``, project ``warehouse`` (610 models, BigQuery profile in the project
  folder) with dbt_utils 1.3.3, dbt_expectations (metaplane, main), dbt_date 0.17.2.

Run::

    .venv/bin/python benchmarks/accuracy_dbt.py --project /work/refs/jaffle-shop \\
        --project /work/refs/mattermost-data-warehouse/transform/mattermost-analytics \\
        --project /work/refs/cal-itp-data-infra/warehouse --profiles-dir profile

``--profiles-dir DIR`` is passed to our analyzer as ``dbt --profiles-dir`` is to dbt: relative to
each project folder (taken as the repository root here); where it holds no profiles.yml the
analyzer goes on looking where dbt does (``$DBT_PROFILES_DIR``, the project folder, ``~/.dbt``),
and the profile's adapter picks the SQL dialect. dbt parse always gets a generated duckdb profile.
``--show N`` lists up to N differing edges per project, ``--json`` prints the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "unit" / "analysis"))

import yaml  # noqa: E402
from toolvenv import DBT_REQUIREMENTS, DBT_VENV_NAME, tool_venv  # noqa: E402

from freshpoc_tasks.analysis.dbt import DbtAnalyzer  # noqa: E402
from freshpoc_tasks.analysis.engine import analyse_repository  # noqa: E402
from freshpoc_tasks.analysis.model import AnalysisConfig, SourceFile  # noqa: E402

SKIP_DIRS = {".git", "target", "logs", "node_modules", ".venv", "venv", "__pycache__"}
DEP_TYPES = ("model", "seed", "snapshot", "source")
RENDER_FAILURES = ("jinja_syntax_error", "timeout", "internal_error")  # the file yields nothing


def dbt_manifest(project: Path, work: Path) -> dict:
    """``dbt parse`` with a generated duckdb profile named as the project's ``profile:``."""
    venv = tool_venv(DBT_VENV_NAME, DBT_REQUIREMENTS)
    doc = yaml.safe_load((project / "dbt_project.yml").read_text()) or {}
    profile = str(doc.get("profile") or doc.get("name") or "default")
    (work / "profiles.yml").write_text(yaml.safe_dump({profile: {
        "target": "dev", "outputs": {"dev": {"type": "duckdb", "path": str(work / "parse.duckdb")}}}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("DBT_")}
    proc = subprocess.run(
        [str(venv / "bin" / "dbt"), "parse", "--profiles-dir", str(work), "--project-dir", str(project),
         "--target-path", str(work / "target"), "--log-path", str(work / "logs"), "--no-partial-parse",
         "--no-send-anonymous-usage-stats", "--quiet"],
        cwd=work, env=env, capture_output=True, text=True, timeout=1800)
    manifest = work / "target" / "manifest.json"
    if proc.returncode != 0 or not manifest.exists():
        raise SystemExit(f"dbt parse failed for {project}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return json.loads(manifest.read_text())


def oracle_edges(manifest: dict) -> tuple[set[tuple[str, str]], set[str]]:
    edges: set[tuple[str, str]] = set()
    models: set[str] = set()
    for uid, node in manifest["nodes"].items():
        if node["resource_type"] not in ("model", "snapshot"):
            continue
        if node["resource_type"] == "model":
            models.add(uid)
        for dep in node["depends_on"]["nodes"]:
            if dep.split(".", 1)[0] in DEP_TYPES:
                edges.add((uid, dep))
    return edges, models


def project_files(project: Path) -> list[SourceFile]:
    files = []
    for dirpath, dirnames, filenames in os.walk(project):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for name in filenames:
            path = Path(dirpath) / name
            if path.is_symlink() or not path.is_file():
                continue
            rel = path.relative_to(project).as_posix()
            data = path.read_bytes()
            files.append(SourceFile.from_text(rel, data))
    return files


def _uid(node_id: str, repo_id: str) -> str:
    """``dbt.model:<repo>:pkg.name`` -> dbt's unique id ``model.pkg.name``."""
    kind, _, rest = node_id.partition(":")
    return f"{kind.removeprefix('dbt.')}.{rest.removeprefix(repo_id + ':')}"


def our_graph(project: Path, profiles_dir: str | None) -> dict:
    files = project_files(project)
    repo_id = f"local/{project.name}"
    start = time.perf_counter()
    analyzer = DbtAnalyzer(profiles_dir=profiles_dir)
    # Generous budgets: this measures accuracy, and the machine may be shared (a link step that
    # overran the default budget would show up as time_budget diagnostics and lost edges).
    config = AnalysisConfig(time_budget_s=60, link_time_per_input_s=0.5)
    delta = analyse_repository(files, repo_id, config=config, analyzers=[analyzer])
    seconds = time.perf_counter() - start
    edges = {(_uid(e.src, repo_id), _uid(e.dst, repo_id)) for e in delta.edges
             if e.type == "depends_on" and e.src.startswith(("dbt.model:", "dbt.snapshot:"))}
    models = {n.id: n for n in delta.nodes if n.type == "dbt.model"}
    relation_of = {e.src: e.dst for e in delta.edges if e.type == "materializes_as" and e.src in models}
    columns_of: Counter[str] = Counter()
    for n in delta.nodes:
        if n.type == "sql.column":
            columns_of[n.id.rpartition(".")[0].replace("sql.column:", "sql.table:", 1)] += 1
    upstream_of: Counter[str] = Counter()
    for e in delta.edges:
        if e.type == "derives_from":
            upstream_of[e.src.rpartition(".")[0].replace("sql.column:", "sql.table:", 1)] += 1
    failed_paths = {d.path for d in delta.diagnostics if d.code in RENDER_FAILURES}
    unparsed = {d.path for d in delta.diagnostics if d.code == "sql_parse_error"}
    incomplete = {d.path for d in delta.diagnostics if d.code == "lineage_incomplete"}
    fallback_paths = {n.path for n in models.values() if n.props.get("rendered") is False}
    stats = Counter()
    per_model = {}
    for nid, node in models.items():
        uid = _uid(nid, repo_id)
        if node.props.get("materialized") == "ephemeral":
            stats["ephemeral"] += 1
            per_model[uid] = "ephemeral"
            continue
        table = relation_of.get(nid)
        # Columns of a model's own SQL: a relation can also be declared as a source with
        # columns, so a model whose SQL did not parse does not count even if its table has some.
        has_cols = bool(table and columns_of[table]) and node.path not in unparsed \
            and node.props.get("rendered") is not False
        has_up = has_cols and bool(upstream_of[table])
        stats["materialized"] += 1
        stats["with_columns"] += has_cols
        stats["with_upstream"] += has_up
        stats["incomplete"] += node.path in incomplete
        per_model[uid] = "upstream" if has_up else "columns" if has_cols else "none"
    return {"edges": edges, "models": {_uid(n, repo_id) for n in models}, "seconds": seconds,
            "files": len(files), "failed_paths": failed_paths, "fallback_paths": fallback_paths,
            "lineage": stats, "per_model": per_model,
            "diagnostics": Counter(d.code for d in delta.diagnostics)}


def prf(expected: set, got: set) -> tuple[float, float, float]:
    tp = len(expected & got)
    p = tp / len(got) if got else 1.0
    r = tp / len(expected) if expected else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def evaluate(project: Path, profiles_dir: str | None, show: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="freshpoc-dbt-") as tmp:
        start = time.perf_counter()
        manifest = dbt_manifest(project, Path(tmp))
        dbt_seconds = time.perf_counter() - start
    expected, dbt_models = oracle_edges(manifest)
    ours = our_graph(project, profiles_dir)
    got = ours["edges"]
    out: dict = {"project": str(project), "dbt_models": len(dbt_models), "our_models": len(ours["models"]),
                 "dbt_parse_s": round(dbt_seconds, 1), "ours_s": round(ours["seconds"], 1),
                 "files": ours["files"]}
    for label, kinds in (("all", DEP_TYPES), ("ref", ("model", "seed", "snapshot")), ("source", ("source",))):
        e = {x for x in expected if x[1].split(".", 1)[0] in kinds}
        g = {x for x in got if x[1].split(".", 1)[0] in kinds}
        p, r, f = prf(e, g)
        out[label] = {"expected": len(e), "got": len(g), "precision": round(p, 4), "recall": round(r, 4),
                      "f1": round(f, 4)}
    out["models_missing"] = sorted(dbt_models - ours["models"])
    out["models_extra"] = sorted(ours["models"] - dbt_models)
    out["render"] = {"failed_files": len(ours["failed_paths"]),
                     "fallback_files": len(ours["fallback_paths"])}
    out["lineage"] = dict(ours["lineage"])
    out["no_columns"] = sorted(m for m, v in ours["per_model"].items() if v == "none")
    out["diagnostics"] = dict(ours["diagnostics"])
    out["missing_edges"] = sorted(expected - got)[:show]
    out["extra_edges"] = sorted(got - expected)[:show]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", action="append", required=True, type=Path,
                        help="a dbt project folder (repeatable)")
    parser.add_argument("--profiles-dir", default=None,
                        help="folder of profiles.yml for our analyzer, as dbt --profiles-dir")
    parser.add_argument("--show", type=int, default=10, help="differing edges listed per project")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = [evaluate(p.resolve(), args.profiles_dir, args.show) for p in args.project]
    if args.json:
        print(json.dumps(results, indent=2, default=str))
        return
    for r in results:
        lin = r["lineage"]
        print(f"\n== {r['project']}  ({r['files']} files; dbt parse {r['dbt_parse_s']} s, "
              f"ours {r['ours_s']} s)")
        print(f"models: dbt {r['dbt_models']}, ours {r['our_models']}; missing {len(r['models_missing'])}, "
              f"extra {len(r['models_extra'])}")
        for label in ("all", "ref", "source"):
            m = r[label]
            print(f"  {label:6} edges: expected {m['expected']:4}  got {m['got']:4}  P {m['precision']:.4f}  "
                  f"R {m['recall']:.4f}  F1 {m['f1']:.4f}")
        rendered = r["our_models"] - r["render"]["fallback_files"]
        print(f"  rendered {rendered}, from the Jinja syntax tree only {r['render']['fallback_files']}, "
              f"failed files {r['render']['failed_files']}")
        mat = lin.get("materialized", 0)
        print(f"  column lineage: {lin.get('with_columns', 0)}/{mat} materialized models have their columns "
              f"from their SQL, {lin.get('with_upstream', 0)}/{mat} have upstream column edges, "
              f"{lin.get('incomplete', 0)} partly ({lin.get('ephemeral', 0)} ephemeral, inlined)")
        for key in ("models_missing", "models_extra", "no_columns", "missing_edges", "extra_edges"):
            if r[key]:
                print(f"  {key}: {r[key][:args.show]}")
        print(f"  diagnostics: {r['diagnostics']}")
    total_e = sum(r["all"]["expected"] for r in results)
    print(f"\nprojects {len(results)}, expected edges {total_e}, "
          f"min F1 {min(r['all']['f1'] for r in results):.4f}")


if __name__ == "__main__":
    main()
