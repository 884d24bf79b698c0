"""Child process of k8s_scale.py: the kmock emulator (see tests/kube.py) seeded with a cluster.

    python benchmarks/_kube_server.py DEPLOYMENTS PODS NAMESPACES FLOOD_PODS [MESSAGES_FILE]

Seeds DEPLOYMENTS Deployments and PODS Pods spread over NAMESPACES namespaces (``bench-0``…), the
pods owned by the Deployments in turn. The first FLOOD_PODS pods of ``svc-0`` in ``bench-0``
(all of them that deployment's: its replicas are set to FLOOD_PODS) serve a log that, once
followed, streams lines as fast as the reader takes them: the lines of MESSAGES_FILE in turn (one
message a line), or a fixed access-log line. Prints ``READY PORT`` and serves until
its standard input closes.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from kube import Cluster, deployment, pod  # noqa: E402

#: Lines per chunk written to a flooding log stream.
CHUNK_LINES = 200


def flood_line(messages: list[str], i: int) -> bytes:
    """Line ``i`` of a pod's flood: the messages in turn, after a kubelet timestamp."""
    second, micro = divmod(i, 1_000_000)
    stamp = f"2026-11-25T14:{second // 60 % 60:02d}:{second % 60:02d}.{micro:06d}000Z"
    return f"{stamp} {messages[i % len(messages)]}\n".encode()


def main() -> None:
    deployments, pods, namespaces, flood_pods = (int(a) for a in sys.argv[1:5])
    messages = (Path(sys.argv[5]).read_text().splitlines() if len(sys.argv) > 5
                else ["10.0.0.1 - - GET /api/orders 200 12 ms"])
    cluster = Cluster()
    per_ns = [deployments // namespaces + (1 if i < deployments % namespaces else 0)
              for i in range(namespaces)]
    names: list[tuple[str, str]] = []
    for n, count in enumerate(per_ns):
        ns = f"bench-{n}"
        for d in range(count):
            name = f"svc-{d}"
            replicas = flood_pods if (n, d) == (0, 0) else 3
            cluster.put("deployments", ns, name, deployment(
                name, ns, image=f"registry.example/{name}:1.{n}.{d % 7}", replicas=replicas))
            names.append((ns, name))
    # Pods: the flooding ones first, then the rest spread over the deployments.
    made = 0
    for i in range(flood_pods):
        pod_name = f"svc-0-{i}"
        cluster.put("pods", "bench-0", pod_name, pod(pod_name, "bench-0", "svc-0",
                                                     containers=["svc-0"]))
        _flood(cluster, "bench-0", pod_name, messages)
        made += 1
    i = 0
    while made < pods:
        ns, name = names[1 + i % (len(names) - 1)]
        pod_name = f"{name}-{i}"
        cluster.put("pods", ns, pod_name, pod(pod_name, ns, name, containers=[name]))
        made += 1
        i += 1
    print(f"READY {cluster.url.rsplit(':', 1)[1]}", flush=True)
    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    done.wait()
    cluster.close()


def _flood(cluster: Cluster, namespace: str, pod_name: str, messages: list[str]) -> None:
    import kmock

    async def stream():  # type: ignore[no-untyped-def]
        i = 0
        while True:
            chunk = b"".join(flood_line(messages, i + k) for k in range(CHUNK_LINES))
            i += CHUNK_LINES
            yield chunk
            await asyncio.sleep(0)

    path = f"/api/v1/namespaces/{namespace}/pods/{pod_name}/log"
    cluster.handler[f"get {path}", kmock.params(follow="true")] << (b"", stream)
    cluster.handler[f"get {path}"] << kmock.Response(headers={"Content-Type": "text/plain"},
                                                     payload=b"")


if __name__ == "__main__":
    main()
