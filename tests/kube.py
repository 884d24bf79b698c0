"""A Kubernetes API for the tests: the ``kmock`` emulator (PyPI, pinned 0.8) over real HTTP.

The official ``kubernetes`` client talks to it unchanged, through a kubeconfig file. The emulator
runs on an event loop of its own, in a thread of its own. What it does not do, and how the tests
live with it (see also shared notes on kmock):

- ``/api/v1/namespaces[/NAME]`` is misparsed by its path parser: ``_parse_path`` below fixes it;
- pod logs are not emulated: :meth:`Cluster.logs` registers a pod's past lines and a stream that
  the test pushes lines into;
- no controller runs: a test plays the Deployment controller by patching the status over HTTP
  (:meth:`Cluster.patch`), which reaches the watches like any change;
- no metadata is filled (uid, resourceVersion, generation): the seeded objects carry their own;
- label selectors are ignored, strategic-merge patches replace lists: the tests use
  single-container workloads and check the request bodies sent;
- no RBAC: a 401 or 403 is a registered answer for one path (:meth:`Cluster.refuse`).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import httpx
import kmock
from kmock._internal import parsing

_original_parse_path = parsing.parse_path


def _parse_path(path: str) -> Any:
    parts = path.strip("/").split("/")
    if parts[:3] == ["api", "v1", "namespaces"] and len(parts) <= 5:
        name = parts[3] if len(parts) > 3 else None
        sub = parts[4] if len(parts) > 4 else None
        if sub in (None, "status", "finalize"):
            return parsing.ParsedPath("", "v1", "namespaces", None, name, sub)
    return _original_parse_path(path)


parsing.parse_path = _parse_path


class Emulator(kmock.KubernetesEmulator):
    """The emulator, plus what the API server itself (not a controller) does on a change of
    ``spec``: ``metadata.generation`` goes up by one (controllers report the generation they have
    seen as ``status.observedGeneration``)."""

    async def _handle(self, request: Any) -> Any:
        data = request.data
        if request.action == kmock.action.UPDATE and request.name is not None \
                and isinstance(data, dict) and "spec" in data:
            key = (request.resource, request.namespace, request.name)
            if key in self._objects and not self._objects[key].deleted:
                current = self._objects[key].get("metadata", {}).get("generation") or 0
                self._objects[key].patch({"metadata": {"generation": current + 1}})
        return await super()._handle(request)

RESOURCES = {"deployments": "apps/v1/deployments", "statefulsets": "apps/v1/statefulsets",
             "replicasets": "apps/v1/replicasets", "pods": "v1/pods",
             "controllerrevisions": "apps/v1/controllerrevisions",
             "namespaces": "v1/namespaces"}
_PATHS = {"deployments": "/apis/apps/v1/namespaces/{ns}/deployments",
          "statefulsets": "/apis/apps/v1/namespaces/{ns}/statefulsets",
          "replicasets": "/apis/apps/v1/namespaces/{ns}/replicasets",
          "controllerrevisions": "/apis/apps/v1/namespaces/{ns}/controllerrevisions",
          "pods": "/api/v1/namespaces/{ns}/pods",
          "namespaces": "/api/v1/namespaces"}


class LogPipe:
    """The followed log of one pod container: past lines, then lines pushed by the test."""

    def __init__(self, cluster: Cluster) -> None:
        self._cluster = cluster
        self._queues: list[asyncio.Queue[bytes | None]] = []

    async def _stream(self) -> AsyncIterator[bytes]:
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._queues.append(queue)
        try:
            while True:
                item = await queue.get()
                if item is None:
                    return
                yield item
        finally:
            self._queues.remove(queue)

    @property
    def readers(self) -> int:
        return len(self._queues)

    def push(self, *lines: str) -> None:
        """Send lines (each ``TIMESTAMP message``) to every open follow of this log."""
        data = "".join(line + "\n" for line in lines).encode()
        self._cluster.call(lambda: [q.put_nowait(data) for q in self._queues])

    def end(self) -> None:
        """End the open follows (as a container restart or a dropped connection does)."""
        self._cluster.call(lambda: [q.put_nowait(None) for q in self._queues])


#: Seconds the emulator may take to stop (it waits for the requests still open).
STOP_TIMEOUT = 5.0


class Cluster:
    """The emulator on a port of 127.0.0.1, with helpers to seed and drive it."""

    def __init__(self) -> None:
        self._ready = threading.Event()
        self._done: asyncio.Event | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.handler: Any = None
        self.server: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="kmock")
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error
        self.url = str(self.server.url).rstrip("/")
        self.http = httpx.Client(base_url=self.url, timeout=10)

    def _run(self) -> None:
        async def main() -> None:
            try:
                async with Emulator() as handler, kmock.Server(handler) as server:
                    handler.resources.load_bundled()
                    self.handler, self.server = handler, server
                    self.loop = asyncio.get_running_loop()
                    self._done = asyncio.Event()
                    self._ready.set()
                    await self._done.wait()
            except BaseException as exc:  # noqa: BLE001 - reported to the test's thread
                self._error = exc
                self._ready.set()

        asyncio.run(main())

    def close(self) -> None:
        """Stop the emulator. It stops at once unless a client left a request open (a watch or
        a log stream its source did not close): that is an error, named here."""
        self.http.close()
        if self.loop is None or self._done is None:
            return
        self.loop.call_soon_threadsafe(self._done.set)
        self._thread.join(STOP_TIMEOUT)
        if self._thread.is_alive():
            try:
                left: Any = self._open_requests()
            except Exception as exc:  # noqa: BLE001 - only for the message
                left = f"(not known: {exc!r})"
            raise AssertionError(f"the emulator did not stop in {STOP_TIMEOUT} s: requests "
                                 f"still open: {left}")

    def open_connections(self) -> list[str]:
        """The connections the server holds open, each as its request under way (``"GET
        /apis/…?watch=true"``) or ``"idle"``. A connection the client closed leaves the list as
        soon as the server has seen it close."""
        return list(self.call(self._open_requests))

    def _open_requests(self) -> list[str]:
        """(On the emulator's loop, or while it is stopping.)"""
        out = []
        for handler in self.server.server.runner.server.connections:
            transport = handler.transport
            if transport is None or transport.is_closing():
                continue
            request = handler._current_request  # aiohttp's: no public accessor
            out.append("idle" if request is None else f"{request.method} {request.path_qs}")
        return out

    def call(self, fn: Any) -> Any:
        """Run ``fn()`` on the emulator's loop and return its result."""
        assert self.loop is not None

        async def run() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)

    # Kubeconfig ----------------------------------------------------------------------------------

    def kubeconfig(self, path: Path, contexts: Iterable[str] = ("eu-1",), *,
                   server: str | None = None, current: str | None = None) -> Path:
        names = list(contexts)
        config = {
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "kmock", "cluster": {"server": server or self.url}}],
            "users": [{"name": "tester", "user": {"token": "test-token"}}],
            "contexts": [{"name": n, "context": {"cluster": "kmock", "user": "tester"}}
                         for n in names],
            "current-context": current or names[0],
        }
        path.write_text(json.dumps(config))
        return path

    # State ---------------------------------------------------------------------------------------

    def put(self, kind: str, namespace: str | None, name: str, obj: dict[str, Any]) -> None:
        """Store an object as it is (no watch event: for the state before the app starts).

        Its namespace is created too if need be, as it must exist on a real cluster."""
        if namespace is not None and not self.exists("namespaces", None, namespace):
            self.handler.objects[RESOURCES["namespaces"], None, namespace] = \
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace},
                 "status": {"phase": "Active"}}
        self.handler.objects[RESOURCES[kind], namespace, name] = obj

    def namespaces(self, *names: str) -> None:
        """Create empty namespaces (stored, like ``put``)."""
        for name in names:
            if not self.exists("namespaces", None, name):
                self.handler.objects[RESOURCES["namespaces"], None, name] = \
                    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name},
                     "status": {"phase": "Active"}}

    def _stored(self, kind: str, namespace: str | None, name: str) -> Any:
        # Looked up one by one: in the emulator's own lookups a None namespace matches any.
        group, _, rest = RESOURCES[kind].rpartition("/")
        version, plural = (group.split("/")[-1], rest) if "/" in group else (group, rest)
        for (resource, ns, obj_name), obj in self.handler.objects.items():
            if resource.plural == plural and resource.version == version and ns == namespace \
                    and obj_name == name:
                return obj
        return None

    def get(self, kind: str, namespace: str | None, name: str) -> dict[str, Any]:
        obj = self._stored(kind, namespace, name)
        if obj is None or obj.deleted:
            raise KeyError((kind, namespace, name))
        return dict(obj.raw)

    def exists(self, kind: str, namespace: str | None, name: str) -> bool:
        obj = self._stored(kind, namespace, name)
        return obj is not None and not obj.deleted

    def _path(self, kind: str, namespace: str | None, name: str | None = None) -> str:
        path = _PATHS[kind].format(ns=namespace)
        return f"{path}/{name}" if name else path

    def create(self, kind: str, namespace: str | None, obj: dict[str, Any]) -> None:
        """Create over HTTP: the watches see it."""
        response = self.http.post(self._path(kind, namespace), json=obj)
        response.raise_for_status()

    def patch(self, kind: str, namespace: str | None, name: str, patch: dict[str, Any]) -> None:
        """Merge ``patch`` into an object over HTTP: the watches see it."""
        response = self.http.patch(self._path(kind, namespace, name), json=patch,
                                   headers={"Content-Type": "application/merge-patch+json"})
        response.raise_for_status()

    def delete(self, kind: str, namespace: str | None, name: str) -> None:
        response = self.http.delete(self._path(kind, namespace, name))
        response.raise_for_status()

    def requests(self, method: str, path: str | None = None) -> list[Any]:
        """The requests received (``method`` as "get", "patch"…; ``path`` without the query)."""
        view = self.handler[f"{method} {path}"] if path else self.handler[method]
        return list(view)

    # Fixed answers ---------------------------------------------------------------------------

    def refuse(self, path: str, status: int, message: str, *, method: str = "get") -> None:
        """Answer ``method path`` with a Status error (RBAC and credentials are not emulated)."""
        reason = {401: "Unauthorized", 403: "Forbidden"}.get(status, "Error")
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": message, "reason": reason, "code": status}
        self.handler[f"{method} {path}"] << kmock.Response(status=status, payload=body)

    def logs(self, namespace: str, pod: str, past: Iterable[str] = ()) -> LogPipe:
        """Serve a pod's log: ``past`` lines for reads, then a stream for ``follow=true``."""
        pipe = LogPipe(self)
        path = f"/api/v1/namespaces/{namespace}/pods/{pod}/log"
        text = "".join(line + "\n" for line in past).encode()
        self.handler[f"get {path}", kmock.params(follow="true")] << (text, pipe._stream)
        self.handler[f"get {path}"] << kmock.Response(
            headers={"Content-Type": "text/plain"}, payload=text)
        return pipe


# Objects -----------------------------------------------------------------------------------------

def deployment(name: str, namespace: str, *, service: str | None = None, image: str = "",
               replicas: int = 2, ready: int | None = None, version: str | None = None,
               label: str = "app.kubernetes.io/name", uid: str | None = None,
               generation: int = 1, container: str | None = None,
               kind: str = "Deployment") -> dict[str, Any]:
    """A complete Deployment (or StatefulSet) as a cluster would hold it, rolled out."""
    ready = replicas if ready is None else ready
    selector = {"app": name}
    template_labels = {"app": name, label: service or name}
    labels = {label: service or name}
    if version is not None:
        template_labels["app.kubernetes.io/version"] = version
        labels["app.kubernetes.io/version"] = version
    status: dict[str, Any] = {"observedGeneration": generation, "replicas": replicas,
                              "readyReplicas": ready, "updatedReplicas": replicas,
                              "availableReplicas": ready}
    if kind == "Deployment":
        status["conditions"] = [
            {"type": "Available", "status": "True" if ready else "False",
             "reason": "MinimumReplicasAvailable", "lastUpdateTime": "2026-11-25T13:00:00Z"},
            {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
             "lastUpdateTime": "2026-11-25T13:00:00Z"}]
    return {
        "apiVersion": "apps/v1", "kind": kind,
        "metadata": {"name": name, "namespace": namespace, "uid": uid or f"uid-{namespace}-{name}",
                     "labels": labels, "generation": generation, "resourceVersion": "100",
                     "creationTimestamp": "2026-11-20T10:00:00Z"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": selector},
                 **({"serviceName": name} if kind == "StatefulSet" else {}),
                 "template": {"metadata": {"labels": template_labels},
                              "spec": {"containers": [{"name": container or name,
                                                       "image": image or f"registry.example/{name}:1.0.0"}]}}},
        "status": status,
    }


def pod(name: str, namespace: str, app: str, *, containers: Iterable[str] = ("main",),
        phase: str = "Running") -> dict[str, Any]:
    names = list(containers)
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{namespace}-{name}",
                     "labels": {"app": app}, "creationTimestamp": "2026-11-25T13:00:00Z"},
        "spec": {"containers": [{"name": n, "image": "registry.example/x:1"} for n in names]},
        "status": {"phase": phase, "containerStatuses": [
            {"name": n, "ready": True, "restartCount": 0, "image": "registry.example/x:1",
             "imageID": "", "state": {"running": {"startedAt": "2026-11-25T13:00:00Z"}}}
            for n in names]},
    }


def replicaset(deploy: dict[str, Any], revision: int, image: str,
               created: str = "2026-11-20T10:00:00Z") -> dict[str, Any]:
    meta = deploy["metadata"]
    name = f"{meta['name']}-rev{revision}"
    container = deploy["spec"]["template"]["spec"]["containers"][0]["name"]
    return {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": meta["namespace"], "uid": f"uid-rs-{name}",
                     "labels": dict(deploy["spec"]["selector"]["matchLabels"]),
                     "annotations": {"deployment.kubernetes.io/revision": str(revision)},
                     "creationTimestamp": created,
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                          "name": meta["name"], "uid": meta["uid"],
                                          "controller": True}]},
        "spec": {"replicas": 0, "selector": deploy["spec"]["selector"],
                 "template": {"metadata": {"labels": dict(deploy["spec"]["template"]["metadata"]["labels"])},
                              "spec": {"containers": [{"name": container, "image": image}]}}},
        "status": {"replicas": 0},
    }


def controller_revision(statefulset: dict[str, Any], revision: int, image: str, *,
                        cause: str = "",
                        created: str = "2026-11-20T10:00:00Z") -> dict[str, Any]:
    """A StatefulSet's ControllerRevision: ``data`` is the patch that sets its template back."""
    meta = statefulset["metadata"]
    container = statefulset["spec"]["template"]["spec"]["containers"][0]["name"]
    return {
        "apiVersion": "apps/v1", "kind": "ControllerRevision",
        "metadata": {"name": f"{meta['name']}-{revision:08x}", "namespace": meta["namespace"],
                     "uid": f"uid-cr-{meta['name']}-{revision}",
                     "labels": dict(statefulset["spec"]["selector"]["matchLabels"]),
                     "annotations": {"kubernetes.io/change-cause": cause} if cause else {},
                     "creationTimestamp": created,
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet",
                                          "name": meta["name"], "uid": meta["uid"],
                                          "controller": True}]},
        "revision": revision,
        "data": {"spec": {"template": {
            "metadata": {"labels": dict(statefulset["spec"]["template"]["metadata"]["labels"])},
            "spec": {"containers": [{"name": container, "image": image}]},
            "$patch": "replace"}}},
    }


def namespace(name: str, *, labels: dict[str, str] | None = None,
              annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": labels or {}, "annotations": annotations or {},
                         "creationTimestamp": "2026-11-25T12:00:00Z"},
            "status": {"phase": "Active"}}
