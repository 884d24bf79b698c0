"""Who the kubeconfig's user is, as the cluster says: a SelfSubjectReview
(``authentication.k8s.io/v1``, Kubernetes 1.28 and later) answers the user name the API server
authenticated the request as. A server that does not offer it (older, or one that answers
without a user) cannot confirm anyone: said so, never guessed from the kubeconfig.
"""

from __future__ import annotations

from typing import Any

from idp_tui import Identity, SourceAuthError, SourceNotFound

from .cluster import Cluster

REVIEW = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}


def review(cluster: Cluster) -> tuple[str | None, str]:
    """(the user name, or None; why not) from one cluster (synchronous: run it on a thread)."""
    try:
        answer = cluster.read_json(
            "create", "selfsubjectreviews", None,
            lambda c: c.api("authentication").create_self_subject_review(
                body=dict(REVIEW), _preload_content=False))
    except SourceNotFound:
        return None, (f"{cluster.label} does not offer SelfSubjectReview "
                      "(authentication.k8s.io/v1, Kubernetes 1.28+)")
    except SourceAuthError as exc:
        return None, f"{cluster.label} refused the SelfSubjectReview: {exc.message}"
    status: Any = answer.get("status")
    info = status.get("userInfo") if isinstance(status, dict) else None
    name = info.get("username") if isinstance(info, dict) else None
    if not isinstance(name, str) or not name:
        return None, f"{cluster.label}'s SelfSubjectReview names no user"
    return name, cluster.label


def identity(answers: list[tuple[str | None, str]]) -> Identity:
    """One source's identity from its clusters' answers: the user each confirms (one name when
    they agree), or why none does."""
    users = {user: note for user, note in answers if user}
    if not users:
        return Identity(note="; ".join(note for _user, note in answers) or "no cluster to ask")
    if len(users) == 1:
        user, note = next(iter(users.items()))
        return Identity(user=user, note=note)
    return Identity(user=", ".join(f"{user} ({note})" for user, note in users.items()),
                    note="the clusters name different users")
