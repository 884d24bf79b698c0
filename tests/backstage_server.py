"""The real Backstage catalog backend for the tests (tests/backstage: package.json, lockfile and
entry file; ``.ci/run`` runs ``npm ci`` there), started on a free port of 127.0.0.1 with an
in-memory SQLite database, a static token, rules allowing every kind, a file location with the
test's entities, and a two-second processing interval. Stopped by PID."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent / "backstage"
TOKEN = "idp-tui-test-token-0123456789"


def available() -> str | None:
    """Why the backend cannot be started here, or None."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not (HERE / "node_modules" / "@backstage" / "plugin-catalog-backend").is_dir():
        return "the Backstage backend is not installed (cd tests/backstage && npm ci)"
    return None


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Backend:
    def __init__(self, folder: Path, entities: str) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.entities = folder / "catalog-info.yaml"
        self.entities.write_text(entities)
        # The backend looks for a package.json from the folder it starts in.
        (folder / "package.json").write_text('{"name": "idp-tui-backstage-run", "private": true}')
        (folder / "app-config.yaml").write_text(f"""backend:
  baseUrl: {self.url}
  listen: {{host: 127.0.0.1, port: {self.port}}}
  database: {{client: better-sqlite3, connection: ':memory:'}}
  auth:
    externalAccess:
      - type: static
        options: {{token: {TOKEN}, subject: idp-tui-tests}}
catalog:
  rules: [{{allow: [Component, System, API, Resource, Location, Group, User, Domain]}}]
  locations: [{{type: file, target: ./catalog-info.yaml}}]
  processingInterval: {{seconds: 2}}
""")
        self.log = (folder / "backend.log").open("w")
        self.process = subprocess.Popen(
            ["node", str(HERE / "index.js"), "--config", "app-config.yaml"], cwd=folder,
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{self.url}/.backstage/health/v1/readiness",
                             timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the Backstage backend did not start: "
                                   + (folder / "backend.log").read_text()[-3000:])
            time.sleep(0.1)

    def count(self, kind: str = "component") -> int:
        response = httpx.get(f"{self.url}/api/catalog/entities/by-query",
                             params={"filter": f"kind={kind}", "limit": "1"},
                             headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
        return int(response.json().get("totalItems") or 0)

    def wait_for(self, count: int, kind: str = "component", timeout: float = 60) -> None:
        """Entities are ingested a few seconds after readiness (and after each file change)."""
        deadline = time.monotonic() + timeout
        while self.count(kind) < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the backend has {self.count(kind)} of {count} {kind}s")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.log.close()
