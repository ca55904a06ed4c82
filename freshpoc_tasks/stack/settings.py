"""Apply an ``airflow_settings.yaml`` (the Astro CLI schema) to any running Airflow.

The Astro CLI only applies this file inside its own containers; here it goes through Airflow's
public REST API v2, so it works against the local stack, a compose deployment or a remote
Airflow alike. Applying is an upsert: running it twice changes nothing the second time.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CONN_FIELDS = {  # Astro key -> REST API v2 key
    "conn_type": "conn_type",
    "conn_host": "host",
    "conn_schema": "schema",
    "conn_login": "login",
    "conn_password": "password",
    "conn_port": "port",
    "conn_extra": "extra",
    "conn_description": "description",
}


class SettingsError(RuntimeError):
    pass


@dataclass
class Settings:
    connections: list[dict[str, Any]] = field(default_factory=list)
    pools: list[dict[str, Any]] = field(default_factory=list)
    variables: list[dict[str, Any]] = field(default_factory=list)


def load_settings(path: Path) -> Settings:
    """Parse and validate the file, with errors that name the entry at fault."""
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise SettingsError(f"cannot read {path}: {exc}") from exc
    section = doc.get("airflow") or {}
    out = Settings()
    for i, c in enumerate(section.get("connections") or []):
        if not c.get("conn_id") or not c.get("conn_type"):
            raise SettingsError(f"{path}: connection #{i + 1} needs conn_id and conn_type")
        body: dict[str, Any] = {"connection_id": c["conn_id"]}
        for astro_key, api_key in CONN_FIELDS.items():
            value = c.get(astro_key)
            if value is None or value == "":
                continue
            if api_key == "extra" and not isinstance(value, str):
                value = json.dumps(value, sort_keys=True)
            if api_key == "port":
                value = int(value)
            body[api_key] = value
        out.connections.append(body)
    for i, p in enumerate(section.get("pools") or []):
        if not p.get("pool_name") or p.get("pool_slot") is None:
            raise SettingsError(f"{path}: pool #{i + 1} needs pool_name and pool_slot")
        out.pools.append({"name": p["pool_name"], "slots": int(p["pool_slot"]),
                          "description": p.get("pool_description") or ""})
    for i, v in enumerate(section.get("variables") or []):
        if not v.get("variable_name"):
            raise SettingsError(f"{path}: variable #{i + 1} needs variable_name")
        value = v.get("variable_value")
        if not isinstance(value, str):
            value = json.dumps(value)
        out.variables.append({"key": v["variable_name"], "value": value,
                              "description": v.get("variable_description") or ""})
    return out


def get_token(client: Any, base_url: str, username: str, password: str) -> str:
    resp = client.post(f"{base_url}/auth/token", json={"username": username, "password": password})
    if resp.status_code not in (200, 201):
        raise SettingsError(f"Airflow refused the login for {username!r} ({resp.status_code})")
    return resp.json()["access_token"]


def _same(current: dict[str, Any], wanted: dict[str, Any], secret: set[str]) -> bool:
    for key, value in wanted.items():
        if key in secret:
            continue
        have = current.get(key)
        if key == "extra" and have is not None:
            with contextlib.suppress(TypeError, ValueError):
                have, value = json.loads(have), json.loads(value)
        if have != value:
            return False
    return True


def _upsert(client: Any, url: str, ident: str, body: dict[str, Any], secret: set[str]) -> str:
    resp = client.get(f"{url}/{ident}")
    if resp.status_code == 404:
        created = client.post(url, json=body)
        if created.status_code not in (200, 201):
            raise SettingsError(f"creating {ident}: {created.status_code} {created.text[:200]}")
        return "created"
    if resp.status_code != 200:
        raise SettingsError(f"reading {ident}: {resp.status_code} {resp.text[:200]}")
    unchanged = _same(resp.json(), body, secret)
    if unchanged and not (secret & body.keys()):
        return "unchanged"
    # Secrets are never returned by the API, so they are always written; the result is the same.
    patched = client.patch(f"{url}/{ident}", json=body)
    if patched.status_code != 200:
        raise SettingsError(f"updating {ident}: {patched.status_code} {patched.text[:200]}")
    return "unchanged" if unchanged else "updated"


def apply_settings(path: Path, base_url: str, username: str | None = None,
                   password: str | None = None) -> dict[str, int]:
    """Upsert every connection, pool and variable of ``path``; returns counts by outcome."""
    import httpx

    settings = load_settings(path)
    username = username or os.environ.get("FRESHPOC_AIRFLOW_USER", "admin")
    password = password or os.environ.get("FRESHPOC_AIRFLOW_PASSWORD", "admin")
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    with httpx.Client(timeout=30) as client:
        token = get_token(client, base_url, username, password)
        client.headers["Authorization"] = f"Bearer {token}"
        api = f"{base_url}/api/v2"
        for conn in settings.connections:
            counts[_upsert(client, f"{api}/connections", conn["connection_id"], conn, {"password"})] += 1
        for pool in settings.pools:
            counts[_upsert(client, f"{api}/pools", pool["name"], pool, set())] += 1
        for var in settings.variables:
            counts[_upsert(client, f"{api}/variables", var["key"], var, set())] += 1
    return counts


def connection_env(path: Path) -> dict[str, str]:
    """The file's connections as ``AIRFLOW_CONN_*`` variables (Airflow's JSON form).

    Lets code outside Airflow's processes (the CLI, tests) resolve the same ``freshpoc_*``
    connections through the same hooks, without a metadata database.
    """
    env = {}
    for conn in load_settings(path).connections:
        body = {k: v for k, v in conn.items() if k not in {"connection_id", "description"}}
        if "extra" in body:
            body["extra"] = json.loads(body["extra"])
        env[f"AIRFLOW_CONN_{conn['connection_id'].upper()}"] = json.dumps(body)
    return env
