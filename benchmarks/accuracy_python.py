"""Python import-graph accuracy against grimp, on real packages checked out locally.

grimp (https://pypi.org/project/grimp/) is the reference import-graph builder (import-linter
uses it). For each ``--package`` directory this runs grimp and our analysis (the engine with its
default analyzers and the linker, as the pipeline does) on the same files and compares the
module-to-module ``imports`` edges: precision, recall and F1, then the misses and extras grouped
by failure class with a few examples each.

grimp, on purpose, leaves out folders without ``__init__.py`` inside a regular package
("orphans", e.g. flask's ``sansio/``), although Python imports them as namespace portions
(``from .sansio.app import App`` works). So two comparisons are printed:

- ``full``: against grimp run on a temporary copy of the package in which such folders are given
  an empty ``__init__.py``; import semantics are unchanged, grimp just sees every module.
- ``grimp-modules``: against plain grimp, both graphs cut down to the modules plain grimp knows.

Self-imports (``from . import x`` in a package's own ``__init__``, where x is a name) are left out
on both sides: grimp records them as ``pkg -> pkg``, a loop with no meaning for dependencies.
One difference is deliberate: for ``import pkg.missing`` (no such module) grimp draws an edge to
``pkg``; we record an ``unresolved_import`` diagnostic instead, as for every import that names
no module (the count is printed).

grimp is not a project dependency: it is installed in its own venv under
~/.cache/freshpoc/venvs (built on first use) and runs in a subprocess with the package's parent
folder on ``sys.path``; it only reads files. Nothing of the checked-out packages is committed.

    .venv/bin/python benchmarks/accuracy_python.py --package /work/refs/flask/src/flask \
        [--package /work/refs/requests/src/requests ...] [--examples N] [--json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "unit" / "analysis"))

from toolvenv import tool_venv  # noqa: E402

from freshpoc_tasks.analysis.engine import analyse_repository  # noqa: E402
from freshpoc_tasks.analysis.model import AnalysisConfig, SourceFile  # noqa: E402

GRIMP_REQUIREMENTS = ["grimp>=3.5,<4"]
GRIMP_VENV_NAME = "grimp"

GRIMP_SCRIPT = r"""
import json, sys
import grimp
parent, name = sys.argv[1], sys.argv[2]
sys.path.insert(0, parent)
g = grimp.build_graph(name, include_external_packages=False, cache_dir=None)
edges = sorted([m, i] for m in g.modules for i in g.find_modules_directly_imported_by(m))
json.dump({"modules": sorted(g.modules), "edges": edges}, sys.stdout)
"""


def run_grimp(package: Path) -> dict:
    venv = tool_venv(GRIMP_VENV_NAME, GRIMP_REQUIREMENTS)
    cmd = [str(venv / "bin" / "python"), "-c", GRIMP_SCRIPT, str(package.parent), package.name]
    proc = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=1800, cwd=package.parent)
    return json.loads(proc.stdout)


def python_files(package: Path) -> list[Path]:
    """The files grimp reads: ``*.py`` in identifier-named folders, not hidden, one dot only."""
    out = []
    for p in sorted(package.rglob("*.py")):
        rel = p.relative_to(package).parts
        if (all(part.isidentifier() for part in rel[:-1]) and not p.name.startswith(".")
                and p.name.count(".") == 1 and p.is_file()):
            out.append(p)
    return out


def with_namespace_inits(package: Path, dest: Path) -> tuple[Path, set[str]]:
    """Copy the package's .py files to ``dest``, giving every folder an ``__init__.py``.

    Returns the copy and the module names of the folders that got one (namespace packages:
    importable, but with no file, so no module node on our side)."""
    target = dest / package.name
    for p in python_files(package):
        out = target / p.relative_to(package)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(p, out)
    added = set()
    for folder in [target, *(d for d in target.rglob("*") if d.is_dir())]:
        init = folder / "__init__.py"
        if not init.exists():
            init.write_text("")
            added.add(".".join(folder.relative_to(dest).parts))
    return target, added


def repo_root(package: Path) -> Path:
    for parent in [package, *package.parents]:
        if (parent / ".git").exists():
            return parent
    return package.parent


def run_ours(package: Path) -> tuple[set[str], set[tuple[str, str]], list]:
    root = repo_root(package)
    files = [SourceFile.from_text(p.relative_to(root).as_posix(), p.read_bytes())
             for p in python_files(package)]
    delta = analyse_repository(files, "bench/accuracy", config=AnalysisConfig(time_budget_s=60))
    qual = {n.id: n.props.get("qualname", n.key) for n in delta.nodes if n.type == "py.module"}
    edges = {(qual[e.src], qual[e.dst]) for e in delta.edges
             if e.type == "imports" and e.src in qual and e.dst in qual}
    diags = [d for d in delta.diagnostics if d.analyzer in ("python", "linker")]
    return set(qual.values()), edges, diags


def prf(ours: set, truth: set) -> dict:
    tp = len(ours & truth)
    p = tp / len(ours) if ours else 1.0
    r = tp / len(truth) if truth else 1.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return {"ours": len(ours), "truth": len(truth), "tp": tp, "precision": p, "recall": r, "f1": f1}


def classify(ours_mods: set[str], ours: set, truth_mods: set[str], truth: set) -> dict[str, dict[str, list]]:
    """Name the failure class of every miss and extra, so a fix targets a class, not a case."""
    misses, extras = truth - ours, ours - truth
    out: dict[str, dict[str, list]] = {"missed": defaultdict(list), "extra": defaultdict(list)}
    for a, b in sorted(misses):
        if a not in ours_mods:
            cls = "importer module missing or misnamed in ours"
        elif b not in ours_mods:
            cls = "imported module missing or misnamed in ours"
        elif any(a == x and b.startswith(y + ".") for x, y in extras):
            cls = "resolved to a parent package instead"
        else:
            cls = "import statement not turned into an edge"
        out["missed"][cls].append(f"{a} -> {b}")
    for a, b in sorted(extras):
        if a not in truth_mods or b not in truth_mods:
            cls = "module the reference does not know"
        elif any(a == x and y.startswith(b + ".") for x, y in misses):
            cls = "parent-package fallback"
        else:
            cls = "edge the reference lacks"
        out["extra"][cls].append(f"{a} -> {b}")
    return out


def compare(package: Path, examples: int) -> dict:
    ours_mods, ours_edges, diags = run_ours(package)
    ours_edges = {(a, b) for a, b in ours_edges if a != b}
    plain = run_grimp(package)
    with tempfile.TemporaryDirectory() as tmp:
        copy, namespaces = with_namespace_inits(package, Path(tmp))
        full = run_grimp(copy)
    # The folders given an __init__.py are modules only in the copy: no file of ours.
    full_mods = set(full["modules"]) - namespaces
    full_edges = {(a, b) for a, b in full["edges"] if a != b}
    # `from pkg import ns` of a namespace folder: a module only in the copy, no node of ours.
    to_namespaces = {(a, b) for a, b in full_edges if b in namespaces}
    full_edges -= to_namespaces
    plain_mods = set(plain["modules"])
    plain_edges = {(a, b) for a, b in plain["edges"] if a != b}
    cut = {(a, b) for a, b in ours_edges if a in plain_mods and b in plain_mods}
    report = {
        "package": str(package),
        "modules": {"ours": len(ours_mods), "grimp_full": len(full_mods), "grimp_plain": len(plain_mods),
                    "namespace_folders": sorted(namespaces), "edges_to_namespace_folders": len(to_namespaces),
                    "ours_not_in_grimp_full": sorted(ours_mods - full_mods)[:examples],
                    "grimp_full_not_in_ours": sorted(full_mods - ours_mods)[:examples]},
        "full": prf(ours_edges, full_edges),
        "grimp-modules": prf(cut, plain_edges),
        "classes": {k: {c: {"count": len(v), "examples": v[:examples]} for c, v in d.items()}
                    for k, d in classify(ours_mods, ours_edges, full_mods, full_edges).items()},
        "diagnostics": defaultdict(int),
    }
    for d in diags:
        report["diagnostics"][d.code] += 1
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--package", action="append", required=True, type=Path,
                        help="a package folder (the one holding __init__.py), e.g. .../src/flask")
    parser.add_argument("--examples", type=int, default=5, help="examples printed per failure class")
    parser.add_argument("--json", action="store_true", help="print the full report as JSON")
    args = parser.parse_args(argv)
    reports = [compare(p.resolve(), args.examples) for p in args.package]
    if args.json:
        print(json.dumps(reports, indent=2))
        return 0
    for r in reports:
        m = r["modules"]
        print(f"== {r['package']}")
        print(f"   modules: ours {m['ours']}, grimp (namespace folders included) {m['grimp_full']}, "
              f"plain grimp {m['grimp_plain']}; namespace folders {m['namespace_folders'] or 'none'} "
              f"(imported directly {m['edges_to_namespace_folders']} times: not compared)")
        if m["ours_not_in_grimp_full"]:
            print(f"   ours only: {m['ours_not_in_grimp_full']}")
        if m["grimp_full_not_in_ours"]:
            print(f"   grimp only: {m['grimp_full_not_in_ours']}")
        for name in ("full", "grimp-modules"):
            s = r[name]
            print(f"   {name:14s} edges ours {s['ours']:4d} grimp {s['truth']:4d} agree {s['tp']:4d}  "
                  f"precision {s['precision']:.3f} recall {s['recall']:.3f} F1 {s['f1']:.3f}")
        for kind in ("missed", "extra"):
            for cls, v in sorted(r["classes"][kind].items()):
                print(f"   {kind} {v['count']:3d} x {cls}: {', '.join(v['examples'])}")
        if r["diagnostics"]:
            print(f"   our diagnostics: {dict(r['diagnostics'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
