"""supervisord for the local stack: its configuration file and a thin wrapper over supervisorctl.

Programs are declared with ``autostart=false``: the stack manager starts them in dependency
order (PostgreSQL before Airflow's migration, the migration before Airflow), which supervisord's
priorities alone cannot express because they do not wait for health.
"""

from __future__ import annotations

import configparser
import io
import os
import subprocess
import time
from pathlib import Path

from freshpoc_tasks.stack.config import StackConfig
from freshpoc_tasks.stack.services import Program, Service


class Supervisor:
    def __init__(self, cfg: StackConfig) -> None:
        self.cfg = cfg
        self.dir = cfg.supervisor_dir
        self.conf = self.dir / "supervisord.conf"
        self.sock = self.dir / "supervisor.sock"
        self.pidfile = self.dir / "supervisord.pid"

    # Configuration ---------------------------------------------------------------------------
    def render(self, services: list[Service]) -> str:
        cp = configparser.RawConfigParser()
        cp.optionxform = str  # type: ignore[assignment,method-assign]
        cp["unix_http_server"] = {"file": str(self.sock), "chmod": "0700"}
        cp["supervisord"] = {
            "logfile": str(self.cfg.log_dir / "supervisord.log"),
            "logfile_maxbytes": "10MB",
            "pidfile": str(self.pidfile),
            "childlogdir": str(self.cfg.log_dir),
            "nodaemon": "false",
            "silent": "true",
        }
        cp["rpcinterface:supervisor"] = {
            "supervisor.rpcinterface_factory": "supervisor.rpcinterface:make_main_rpcinterface"
        }
        cp["supervisorctl"] = {"serverurl": f"unix://{self.sock}"}
        for svc in services:
            for prog in svc.programs:
                cp[f"program:{prog.name}"] = self._program(prog)
        buf = io.StringIO()
        cp.write(buf)
        return buf.getvalue()

    def _program(self, prog: Program) -> dict[str, str]:
        section = {
            "command": " ".join(_quote(a) for a in prog.command),
            "autostart": "false",
            "autorestart": "unexpected",
            "startsecs": str(prog.startsecs),
            "startretries": "3",
            "stopsignal": prog.stopsignal,
            "stopwaitsecs": str(prog.stopwaitsecs),
            "stopasgroup": "true",
            "killasgroup": "true",
            "redirect_stderr": "true",
            "stdout_logfile": str(self.cfg.log_dir / f"{prog.name}.log"),
            "stdout_logfile_maxbytes": "20MB",
            "stdout_logfile_backups": "2",
        }
        if prog.directory:
            section["directory"] = str(prog.directory)
        if prog.user:
            section["user"] = prog.user
        if prog.environment:
            section["environment"] = ",".join(
                f"{k}={_escape_env(v)}" for k, v in sorted(prog.environment.items())
            )
        return section

    def write(self, services: list[Service]) -> bool:
        """Write the configuration; True when it changed."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self.cfg.log_dir.mkdir(parents=True, exist_ok=True)
        text = self.render(services)
        if self.conf.exists() and self.conf.read_text() == text:
            return False
        self.conf.write_text(text)
        self.conf.chmod(0o600)  # holds the stack's secrets in program environments
        return True

    # Process control -------------------------------------------------------------------------
    def pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except OSError:
            return None
        return pid

    def running(self) -> bool:
        return self.pid() is not None and self.sock.exists()

    def start_daemon(self) -> None:
        supervisord = self.cfg.venv_bin("supervisord")
        subprocess.run([str(supervisord), "-c", str(self.conf)], check=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.running() and self.ctl("pid").returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError(f"supervisord did not start; see {self.cfg.log_dir / 'supervisord.log'}")

    def ctl(self, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.cfg.venv_bin("supervisorctl")), "-c", str(self.conf), *args],
            capture_output=True, text=True, check=check,
        )

    def update(self) -> None:
        """Load a changed configuration: changed programs restart, removed ones stop."""
        self.ctl("reread")
        self.ctl("update")

    def states(self) -> dict[str, str]:
        if not self.running():
            return {}
        out = self.ctl("status").stdout
        states: dict[str, str] = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) >= 2:
                states[parts[0]] = parts[1]
        return states

    def start(self, *names: str) -> subprocess.CompletedProcess[str]:
        return self.ctl("start", *names)

    def shutdown(self, timeout: float = 120) -> bool:
        pid = self.pid()
        if pid is None:
            return True
        self.ctl("shutdown")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except OSError:
                return True
            time.sleep(0.3)
        return False


def _quote(arg: str) -> str:
    # supervisord splits commands shlex-style; it expands %(...)s, so literal % is doubled.
    arg = arg.replace("%", "%%")
    if not arg or any(c in arg for c in " \t\"';"):
        return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return arg


def _escape_env(value: str) -> str:
    """One quoted environment value. supervisord reads them with a non-POSIX shlex, which knows
    no backslash escapes: a value holding double quotes (an ``AIRFLOW_CONN_*`` JSON) is put in
    single quotes instead. It strips quote characters from both ends of a value, so a value may
    not end in one (JSON objects end in a brace)."""
    value = value.replace("%", "%%")
    if '"' in value:
        if "'" in value or value.endswith('"'):
            raise ValueError(f"cannot pass {value[:40]!r}... to supervisord: mixed quotes")
        return f"'{value}'"
    return f'"{value}"'


def log_files(cfg: StackConfig, service: Service) -> list[Path]:
    return [cfg.log_dir / f"{p.name}.log" for p in service.programs]
