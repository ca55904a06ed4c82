"""Fetch or build every server the stack runs, caching each by version outside the work tree.

Each artifact is built into a temporary name and moved into place only when complete, so an
interrupted build never leaves a half-written binary that a later ``up`` would trust.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from freshpoc_tasks.stack.config import StackConfig


class BuildError(RuntimeError):
    """A build or install step failed; the message names the log to read."""


def run_logged(what: str, cmd: list[str], log: Path, *, cwd: Path | None = None,
               env: dict[str, str] | None = None) -> None:
    """Run a long step with its output in ``log`` and a progress line with elapsed time."""
    log.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    tty = sys.stdout.isatty()
    print(f"==> {what} (log: {log})", flush=True)
    with open(log, "ab") as fh:
        fh.write(f"\n$ {' '.join(cmd)}\n".encode())
        fh.flush()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        last_note = start
        while True:
            try:
                rc = proc.wait(timeout=1)
                break
            except subprocess.TimeoutExpired:
                now = time.monotonic()
                if tty:
                    print(f"\r    {what}: {now - start:4.0f}s", end="", flush=True)
                elif now - last_note >= 30:
                    print(f"    {what}: still running, {now - start:.0f}s", flush=True)
                    last_note = now
    if tty:
        print("\r", end="")
    elapsed = time.monotonic() - start
    if rc != 0:
        raise BuildError(f"{what} failed (exit {rc}) after {elapsed:.0f}s; see {log}")
    print(f"    done in {elapsed:.0f}s", flush=True)


def _go_env(cfg: StackConfig, gobin: Path | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("GOFLAGS", "-mod=mod")
    if gobin is not None:
        env["GOBIN"] = str(gobin)
    if shutil.which("go") is None:
        for candidate in ("/usr/local/go/bin", "/usr/lib/go/bin"):
            if Path(candidate, "go").exists():
                env["PATH"] = f"{candidate}:{env.get('PATH', '')}"
                break
    return env


def _require(tool: str, hint: str) -> None:
    if shutil.which(tool) is None and not (tool == "go" and Path("/usr/local/go/bin/go").exists()):
        raise BuildError(f"'{tool}' is needed to build the stack: {hint}")


def go_install(cfg: StackConfig, name: str, module: str, version: str, binary: str) -> Path:
    """``go install module@version`` into the cache as ``bin/<name>-<version>``."""
    target = cfg.bin_dir / f"{name}-{version}"
    if target.exists():
        return target
    _require("go", "install Go 1.24+ (Debian: golang, or the go.dev toolchain)")
    with tempfile.TemporaryDirectory(prefix=f"build-{name}-") as tmp:
        run_logged(
            f"building {name} {version} (go install, a few minutes the first time)",
            ["go", "install", f"{module}@{version}"],
            cfg.build_logs / f"{name}-{version}.log",
            env=_go_env(cfg, Path(tmp)),
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(Path(tmp) / binary), target)
    return target


DGRAPH_GO_MOD = """module freshpoc.local/dgraph-build

go 1.24

require github.com/dgraph-io/dgraph/v25 {version}

// dgraph's own pin of its gqlgen fork is not served by the module proxy; the released
// v0.13.2 of the fork builds, and only the GraphQL layer (unused here) depends on it.
replace github.com/dgraph-io/gqlgen v1.0.0 => github.com/dgraph-io/gqlgen v0.13.2
"""

DGRAPH_TOOLS_GO = """//go:build tools

package tools

import _ "github.com/dgraph-io/dgraph/v25/dgraph"
"""


def build_dgraph(cfg: StackConfig) -> Path:
    """Dgraph cannot be ``go install``-ed from the proxy; build it through a wrapper module."""
    version = cfg.versions["dgraph"]
    target = cfg.bin_dir / f"dgraph-{version}"
    if target.exists():
        return target
    _require("go", "install Go 1.24+")
    work = cfg.cache_dir / "src" / f"dgraph-{version}"
    work.mkdir(parents=True, exist_ok=True)
    (work / "go.mod").write_text(DGRAPH_GO_MOD.format(version=version))
    (work / "tools.go").write_text(DGRAPH_TOOLS_GO)
    log = cfg.build_logs / f"dgraph-{version}.log"
    env = _go_env(cfg)
    run_logged(f"resolving dgraph {version} modules", ["go", "mod", "tidy"], log, cwd=work, env=env)
    tmp_out = target.with_name(f"{target.name}.partial-{os.getpid()}")
    run_logged(
        f"building dgraph {version} (~3 min the first time)",
        ["go", "build", "-o", str(tmp_out), "github.com/dgraph-io/dgraph/v25/dgraph"],
        log, cwd=work, env=env,
    )
    tmp_out.rename(target)
    return target


KAFKA_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.freshpoc</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{kafka}</version></dependency>
    <!-- Without an explicit slf4j 2 API and a binding the broker logs nothing at all. -->
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId>
      <version>2.0.20</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId>
      <version>2.26.1</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId>
      <version>2.26.1</version></dependency>
  </dependencies>
</project>
"""


def fetch_kafka(cfg: StackConfig) -> Path:
    """Kafka's jars from Maven Central, copied with their dependencies into one folder."""
    version = cfg.versions["kafka"]
    home = cfg.cache_dir / f"kafka-{version}"
    libs = home / "libs"
    if (home / ".complete").exists():
        return libs
    _require("mvn", "install Maven (Debian: maven) and a Java 17+ runtime")
    home.mkdir(parents=True, exist_ok=True)
    (home / "pom.xml").write_text(KAFKA_POM.format(kafka=version))
    shutil.rmtree(libs, ignore_errors=True)
    run_logged(
        f"fetching kafka {version} jars from Maven Central",
        ["mvn", "-B", "-q", "dependency:copy-dependencies", "-DincludeScope=runtime",
         f"-DoutputDirectory={libs}"],
        cfg.build_logs / f"kafka-{version}.log", cwd=home,
    )
    (home / ".complete").touch()
    return libs


def fetch_maven_jar(cfg: StackConfig, group: str, artifact: str, version: str) -> Path:
    """One jar from Maven Central (no dependencies), cached by version in ``$FRESHPOC_HOME/jars``."""
    target = cfg.cache_dir / "jars" / f"{artifact}-{version}.jar"
    if target.exists():
        return target
    _require("mvn", "install Maven (Debian: maven) and a Java 17+ runtime")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        run_logged(
            f"fetching {artifact} {version} from Maven Central",
            # The goal's full name: it runs outside any project, with no pom to name the plugin.
            ["mvn", "-B", "-q", "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy",
             f"-Dartifact={group}:{artifact}:{version}", f"-DoutputDirectory={tmp}"],
            cfg.build_logs / f"{artifact}-{version}.log", cwd=Path(tmp),
        )
        Path(tmp, f"{artifact}-{version}.jar").replace(target)  # complete or absent
    return target


def apt_install(cfg: StackConfig, packages: list[str], why: str) -> None:
    """Install Debian packages; needs root (or passwordless sudo)."""
    if shutil.which("apt-get") is None:
        raise BuildError(f"{why}: install {' '.join(packages)} with your system's package manager")
    prefix: list[str] = []
    if os.geteuid() != 0:
        if shutil.which("sudo") is None:
            raise BuildError(f"{why}: run 'sudo apt-get install {' '.join(packages)}' first")
        prefix = ["sudo", "-n"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    log = cfg.build_logs / "apt.log"
    run_logged("apt-get update", [*prefix, "apt-get", "-o", "DPkg::Lock::Timeout=900", "update", "-q"],
               log, env=env)
    run_logged(
        f"installing {' '.join(packages)} from Debian's packages",
        # Wait for another apt/dpkg (unattended upgrades, a parallel install) instead of failing.
        [*prefix, "apt-get", "-o", "DPkg::Lock::Timeout=900", "install", "-y", "-q",
         "--no-install-recommends", *packages],
        log, env=env,
    )


def postgres_bin(cfg: StackConfig) -> Path:
    version = cfg.versions["postgres"]
    bindir = Path(f"/usr/lib/postgresql/{version}/bin")
    if not (bindir / "postgres").exists():
        apt_install(cfg, [f"postgresql-{version}", f"postgresql-client-{version}"], "PostgreSQL")
    return bindir


def prometheus_bin(cfg: StackConfig) -> Path:
    path = Path("/usr/bin/prometheus")
    if not path.exists():
        apt_install(cfg, ["prometheus"], "Prometheus")
    return path


def redis_bin(cfg: StackConfig) -> Path:
    """Debian's redis-server: the Celery broker of the cluster profile (stack/cluster.py)."""
    path = Path("/usr/bin/redis-server")
    if not path.exists():
        apt_install(cfg, ["redis-server"], "Redis (the cluster profile's Celery broker)")
    return path


COMPOSE_VERSION = "v2.40.3"


def postgres_exporter_bin(cfg: StackConfig) -> Path:
    """Debian's prometheus-postgres-exporter. The Go module proxy answers "not available" for
    github.com/prometheus-community/postgres_exporter, so it cannot be built from source here."""
    path = Path("/usr/bin/prometheus-postgres-exporter")
    if not path.exists():
        apt_install(cfg, ["prometheus-postgres-exporter"], "PostgreSQL's metrics exporter")
    return path


def build_compose(cfg: StackConfig, version: str = COMPOSE_VERSION) -> Path:
    """Docker Compose v2 as a validator of docker-compose.yaml (``config -q`` needs no engine).

    ``go install`` refuses the module (it has exclude directives), so it is downloaded with
    ``go mod download`` and built inside its own module folder.
    """
    target = cfg.bin_dir / f"docker-compose-{version}"
    if target.exists():
        return target
    _require("go", "install Go 1.24+")
    log = cfg.build_logs / f"docker-compose-{version}.log"
    env = _go_env(cfg)
    module = f"github.com/docker/compose/v2@{version}"
    out = subprocess.run(["go", "mod", "download", "-json", module], capture_output=True,
                         text=True, env=env, check=False)
    if out.returncode != 0:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(out.stdout + out.stderr)
        raise BuildError(f"downloading {module} failed; see {log}")
    import json

    src = Path(json.loads(out.stdout)["Dir"])
    tmp_out = target.with_name(f"{target.name}.partial-{os.getpid()}")
    target.parent.mkdir(parents=True, exist_ok=True)
    run_logged(f"building docker compose {version} (validator, ~2 min the first time)",
               ["go", "build", "-o", str(tmp_out), "./cmd"], log, cwd=src, env=env)
    tmp_out.rename(target)
    return target
