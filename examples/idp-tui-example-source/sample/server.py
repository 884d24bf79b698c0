"""A small platform API to try the example source against (standard library only).

    python examples/idp-tui-example-source/sample/server.py 8000

serves, on 127.0.0.1:

- ``GET /platform.json``: the document (``platform.json`` beside this file), with the versions
  that deploys made since;
- ``GET /runs?service=NAME&limit=N``: pipeline runs, newest first (``runs.json`` beside this file);
  ``GET /runs/ID``: one run with its jobs;
- ``GET /logs?service=NAME&environment=ENV&tail=N&follow=true``: log lines as NDJSON, the last
  ``tail`` first, then (with ``follow``) one more every ``log_every`` seconds until the client
  goes;
- ``POST /deploys`` with ``{"id", "service", "environment", "version"}``: starts a deploy (201), or
  answers the one already started with that id (200): the id makes a repeated request harmless;
  ``GET /deploys/ID``: where it is (each look moves it one instance further).

The tests of the example (``tests/test_example_plugin.py`` in idp-tui) run it in a thread.
"""

from __future__ import annotations

import copy
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

HERE = Path(__file__).resolve().parent


class Platform:
    """The state behind the API: the document, the runs, the deploys."""

    def __init__(self, document: dict[str, Any], runs: list[dict[str, Any]], *,
                 log_every: float = 1.0) -> None:
        self.document = document
        self.runs = runs
        self.log_every = log_every
        self.deploys: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        #: (method, path) of every request, for the tests.
        self.requests: list[tuple[str, str]] = []
        #: Answer the next N requests to this path prefix with 503 (a brief outage, for tests).
        self.fail_next: dict[str, int] = {}

    @classmethod
    def from_files(cls, folder: Path = HERE, **options: Any) -> Platform:
        return cls(json.loads((folder / "platform.json").read_text()),
                   json.loads((folder / "runs.json").read_text())["runs"], **options)

    def deploy(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        missing = [k for k in ("id", "service", "environment", "version") if not body.get(k)]
        if missing:
            return 422, {"message": f"missing: {', '.join(missing)}"}
        with self.lock:
            known = self.deploys.get(body["id"])
            if known is not None:
                return 200, known  # the same id again: the deploy already started
            target = self._deployment(body["service"], body["environment"])
            if target is None:
                return 404, {"message": f"{body['service']} does not run in "
                                        f"{body['environment']}"}
            self.deploys[body["id"]] = deploy = {
                "id": body["id"], "service": body["service"],
                "environment": body["environment"], "version": body["version"],
                "state": "running", "done": 0, "total": max(int(target.get("desired", 1)), 1),
                "message": f"rolling out {body['version']}"}
            return 201, deploy

    def look(self, deploy_id: str) -> dict[str, Any] | None:
        """A deploy as it is now; each look moves it one instance further."""
        with self.lock:
            deploy = self.deploys.get(deploy_id)
            if deploy is None or deploy["state"] != "running":
                return deploy
            deploy["done"] += 1
            deploy["message"] = f"{deploy['done']}/{deploy['total']} instances on " \
                                f"{deploy['version']}"
            if deploy["done"] >= deploy["total"]:
                deploy["state"] = "succeeded"
                target = self._deployment(deploy["service"], deploy["environment"])
                if target is not None:
                    target["version"] = deploy["version"]
            return dict(deploy)

    def _deployment(self, service: str, environment: str) -> dict[str, Any] | None:
        return next((d for d in self.document.get("deployments", [])
                     if d.get("service") == service and d.get("environment") == environment),
                    None)

    def log_line(self, service: str, environment: str, n: int) -> bytes:
        level = "error" if n % 7 == 6 else "info"
        line = {"ts": f"2026-11-25T13:{n // 60 % 60:02d}:{n % 60:02d}Z",
                "instance": f"{service}-{n % 2}", "level": level,
                "message": f"{environment}: request {n} handled" if level == "info"
                else f"{environment}: request {n} failed"}
        return (json.dumps(line) + "\n").encode()


def handler(platform: Platform) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - the http.server spelling
            url = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            if self._outage(url.path):
                return
            if url.path == "/platform.json":
                with platform.lock:
                    self._json(200, copy.deepcopy(platform.document))
            elif url.path == "/runs":
                runs = [r for r in platform.runs
                        if query.get("service") in (None, r.get("service"))]
                limit = int(query.get("limit", "20"))
                self._json(200, {"runs": [{k: v for k, v in r.items() if k != "jobs"}
                                          for r in runs[:limit]]})
            elif url.path.startswith("/runs/"):
                run = next((r for r in platform.runs if r["id"] == url.path[6:]), None)
                self._json(200, run) if run else self._json(404, {"message": "no such run"})
            elif url.path.startswith("/deploys/"):
                deploy = platform.look(url.path[9:])
                self._json(200, deploy) if deploy else self._json(404, {"message": "no deploy"})
            elif url.path == "/logs":
                self._logs(query)
            else:
                self._json(404, {"message": f"no {url.path} here"})

        def do_POST(self) -> None:  # noqa: N802
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(length)  # read even when refusing: the connection is reused
            if self._outage(url.path):
                return
            try:
                body = json.loads(data or b"{}")
            except ValueError:
                self._json(400, {"message": "the body is not JSON"})
                return
            if url.path != "/deploys" or not isinstance(body, dict):
                self._json(404, {"message": f"no {url.path} here"})
                return
            self._json(*platform.deploy(body))

        def _outage(self, path: str) -> bool:
            platform.requests.append((self.command, self.path))
            for prefix, count in platform.fail_next.items():
                if count > 0 and path.startswith(prefix):
                    platform.fail_next[prefix] = count - 1
                    self._json(503, {"message": "briefly unavailable"})
                    return True
            return False

        def _logs(self, query: dict[str, str]) -> None:
            service, environment = query.get("service", ""), query.get("environment", "")
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            tail = int(query.get("tail", "10"))
            try:
                for n in range(tail):
                    self._chunk(platform.log_line(service, environment, n))
                n = tail
                while query.get("follow") == "true":
                    time.sleep(platform.log_every)  # a quiet stream between lines
                    self._chunk(platform.log_line(service, environment, n))
                    n += 1
                self._chunk(b"")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client went away

        def _chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def _json(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    return Handler


def serve(platform: Platform, port: int = 0) -> ThreadingHTTPServer:
    """Start serving ``platform`` on 127.0.0.1:``port`` (0: any free port) in a thread."""
    server = ThreadingHTTPServer(("127.0.0.1", port), handler(platform))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    serve(Platform.from_files(), port)
    print(f"serving the sample platform on http://127.0.0.1:{port} (Ctrl-C to stop)")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
