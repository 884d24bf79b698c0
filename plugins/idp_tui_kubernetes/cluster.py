"""One connection to one cluster (a kubeconfig context), and the errors it can meet in words.

The official ``kubernetes`` client is imported here, and only when a cluster is first used: it takes
a few hundred milliseconds to import, which the dashboard's start-up does not pay for.
The client is synchronous; callers run it on worker threads (``asyncio.to_thread``) or on the
threads of the watches.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from idp_tui import SourceAuthError, SourceError, SourceNotFound, SourceUnavailable

if TYPE_CHECKING:
    from . import objects as o
    from .informer import Informer

log = logging.getLogger("idp_tui.kubernetes")

#: Connections kept per cluster: every watch and every followed log holds one.
POOL_SIZE = 64


class KubeconfigError(SourceError):
    """The kubeconfig is missing, unreadable, or lacks the context asked for."""

    error_class = "config"


class Gone(Exception):
    """The server no longer has the resourceVersion a watch asked for (410): list again."""


def default_kubeconfig() -> str:
    env = os.environ.get("KUBECONFIG", "")
    first = next((p for p in env.split(os.pathsep) if p), "")
    return first or str(Path.home() / ".kube" / "config")


class Cluster:
    """The API of one kubeconfig context (or of the in-cluster service account)."""

    def __init__(self, context: str | None, *, kubeconfig: str | None = None,
                 in_cluster: bool = False, request_timeout: float = 15.0) -> None:
        self.context = context
        self.kubeconfig = kubeconfig
        self.in_cluster = in_cluster
        self.request_timeout = request_timeout
        self.server = ""
        #: Seconds the last answered request took (a watch: until its answer began), or None.
        self.latency: float | None = None
        self._api_client: Any = None
        self._apis: dict[str, Any] = {}
        self._lock = threading.Lock()

    @property
    def part(self) -> str:
        """This cluster's name in the health of the source's parts (its context)."""
        if self.in_cluster:
            return "in-cluster"
        return self.context or "current context"

    @property
    def label(self) -> str:
        if self.in_cluster:
            return "in-cluster"
        return f"context {self.context}" if self.context else "the current context"

    # Connection ----------------------------------------------------------------------------------

    def connect(self) -> None:
        """Load the credentials (once). Raises KubeconfigError in words."""
        with self._lock:
            if self._api_client is not None:
                return
            from kubernetes import client, config  # noqa: PLC0415 - slow import, on first use

            configuration = client.Configuration()
            try:
                if self.in_cluster:
                    config.load_incluster_config(client_configuration=configuration)
                else:
                    path = os.path.expanduser(self.kubeconfig or default_kubeconfig())
                    if not os.path.exists(path):
                        raise KubeconfigError(
                            f"no kubeconfig at {path}",
                            hint="Set kubeconfig in the source's settings, or KUBECONFIG.")
                    if self.context:
                        self._check_context(config, path)
                    config.load_kube_config(config_file=path, context=self.context,
                                            client_configuration=configuration,
                                            persist_config=False)
            except KubeconfigError:
                raise
            except Exception as exc:  # noqa: BLE001 - ConfigException, YAML errors, missing files
                raise KubeconfigError(f"cannot load the credentials of {self.label}: {exc}",
                                      hint="Check the kubeconfig with: kubectl config view") from exc
            configuration.connection_pool_maxsize = POOL_SIZE
            self.server = str(configuration.host or "")
            self._api_client = client.ApiClient(configuration)

    def _check_context(self, config: Any, path: str) -> None:
        try:
            contexts, _current = config.list_kube_config_contexts(config_file=path)
        except Exception as exc:  # noqa: BLE001
            raise KubeconfigError(f"cannot read the kubeconfig {path}: {exc}",
                                  hint="Check the kubeconfig with: kubectl config view") from exc
        names = [c.get("name") for c in contexts or () if isinstance(c, dict)]
        if self.context not in names:
            known = ", ".join(str(n) for n in names) or "none"
            raise KubeconfigError(f"no context {self.context!r} in {path} (contexts: {known})",
                                  hint="Fix the context of this environment in the config, or "
                                       "add it: kubectl config get-contexts")

    def api(self, group: str) -> Any:
        """``core`` (CoreV1Api), ``apps`` (AppsV1Api) or ``authentication``
        (AuthenticationV1Api)."""
        self.connect()
        api = self._apis.get(group)
        if api is None:
            from kubernetes import client  # noqa: PLC0415

            kind = {"core": client.CoreV1Api, "authentication": client.AuthenticationV1Api
                    }.get(group, client.AppsV1Api)
            api = kind(self._api_client)
            self._apis[group] = api
        return api

    def close(self) -> None:
        with self._lock:
            if self._api_client is not None:
                try:
                    self._api_client.close()
                except Exception:  # noqa: BLE001
                    log.debug("closing the client of %s failed", self.label, exc_info=True)
                self._api_client = None
                self._apis = {}

    # Requests ------------------------------------------------------------------------------------

    def request(self, verb: str, resource: str, namespace: str | None,
                call: Callable[[Any], Any], *, name: str | None = None) -> Any:
        """``call(api)`` with the errors in words: ``verb``/``resource`` say what was asked."""
        started = time.perf_counter()
        try:
            answer = call(self)
            self.latency = time.perf_counter() - started
            return answer
        except SourceError:
            raise
        except Exception as exc:  # noqa: BLE001 - translated below
            raise self.translate(exc, verb=verb, resource=resource, namespace=namespace,
                                 name=name) from exc

    def read_json(self, verb: str, resource: str, namespace: str | None,
                  call: Callable[[Any], Any], *, name: str | None = None) -> dict[str, Any]:
        """Like ``request`` for a call made with ``_preload_content=False``: the JSON answer."""
        response = self.request(verb, resource, namespace, call, name=name)
        try:
            data = json.loads(response.data)
        except (ValueError, TypeError) as exc:
            raise SourceError(f"{self.server} sent something that is not JSON for {verb} "
                              f"{resource}") from exc
        finally:
            try:
                response.release_conn()
            except Exception:  # noqa: BLE001
                pass
        if not isinstance(data, dict):
            raise SourceError(f"{self.server} sent an unexpected answer for {verb} {resource}")
        return data

    def translate(self, exc: BaseException, *, verb: str, resource: str,
                  namespace: str | None, name: str | None = None) -> SourceError:
        """Any error of the client as a SourceError naming what was asked, where, and what to do."""
        where = f" in namespace {namespace}" if namespace else ""
        what = f"{resource} {name}" if name else resource
        status = getattr(exc, "status", None)
        if isinstance(status, int) and status > 0:
            message = _status_message(exc)
            if status == 401:
                return SourceAuthError(
                    f"{self.server} refused the credentials of {self.label} (401 Unauthorized)",
                    hint="Log in again or renew the token; kubectl --context "
                         f"{self.context or '…'} get pods shows the same.")
            if status == 403:
                return SourceAuthError(
                    f"RBAC denied: cannot {verb} {resource}{where} ({self.label})"
                    + (f": {message}" if message else ""),
                    hint=f"Ask for a Role that grants '{verb}' on {resource}; the README lists "
                         "the RBAC the dashboard needs.")
            if status == 404:
                return SourceNotFound(f"{what} not found{where} ({self.label})",
                                      hint="Check the namespace and names in the config.")
            if status == 410:
                return SourceError(f"the watch of {resource}{where} expired (410 Gone)")
            if status == 409:
                return SourceError(f"conflict on {what}{where}: {message or 'already exists'}")
            if status == 422 or status == 400:
                return SourceError(f"{self.server} refused {verb} {what}{where}: "
                                   f"{message or status}")
            if status >= 500:
                return SourceUnavailable(f"{self.server} answered {status} to {verb} "
                                         f"{resource}{where}: {message}",
                                         hint="The API server is in trouble; try again later.")
            return SourceError(f"{verb} {what}{where} failed with {status}: {message}")
        return SourceUnavailable(
            f"cannot reach {self.server or 'the cluster'} ({self.label}): {_network_reason(exc)}",
            hint="Is the cluster up, and the VPN or tunnel to it connected?")


def _status_message(exc: BaseException) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str) and body:
        try:
            status = json.loads(body)
        except ValueError:
            return body[:300]
        if isinstance(status, dict):
            return str(status.get("message") or status.get("reason") or "")[:300]
    return str(getattr(exc, "reason", "") or "")


def _network_reason(exc: BaseException) -> str:
    """The root cause of a urllib3 error, in a few words ("connection refused", "timed out")."""
    seen = exc
    for _ in range(5):
        reason = getattr(seen, "reason", None)
        if isinstance(reason, BaseException):
            seen = reason
            continue
        break
    text = str(seen)
    lowered = text.lower()
    if "refused" in lowered:
        return "connection refused"
    if "timed out" in lowered or "timeout" in lowered:
        return "timed out"
    if "name or service not known" in lowered or "nodename nor servname" in lowered \
            or "failed to resolve" in lowered:
        return "unknown host"
    if "certificate" in lowered or "ssl" in lowered:
        return f"TLS error: {text[:200]}"
    return f"{type(seen).__name__}: {text[:200]}" if text else type(seen).__name__


class Where:
    """One namespace of one cluster that the source watches."""

    def __init__(self, environment: str, cluster: Cluster, namespace: str, *,
                 preview: bool = False) -> None:
        self.environment = environment
        self.cluster = cluster
        self.namespace = namespace
        self.preview = preview
        self.workloads: list[Informer[o.Workload]] = []
        self.pods: Informer[o.Pod] | None = None
        #: The Deployments' ReplicaSets (which revision has the ready pods); None for a
        #: ReplicaSet that no Deployment owns.
        self.replicasets: Informer[o.Revision | None] | None = None
        #: StatefulSets' ControllerRevisions by name, read when a rollout needs the old one (they
        #: never change); None for one that could not be read.
        self.controller_revisions: dict[str, o.Revision | None] = {}

    def revisions(self) -> list[o.Revision]:
        """The ReplicaSets watched here that a Deployment owns (none if they are not watched)."""
        if self.replicasets is None or self.replicasets.error is not None \
                and not self.replicasets.synced.is_set():
            return []
        return [r for r in self.replicasets.items() if r is not None]

    def revisions_by_owner(self) -> dict[str, list[o.Revision]]:
        """The watched ReplicaSets by the name of the Deployment that owns them."""
        out: dict[str, list[o.Revision]] = {}
        for revision in self.revisions():
            out.setdefault(revision.owner_name, []).append(revision)
        return out

    def informers(self) -> list[Informer[Any]]:
        """Every watch of this place."""
        return [*self.workloads, *([self.pods] if self.pods is not None else []),
                *([self.replicasets] if self.replicasets is not None else [])]
