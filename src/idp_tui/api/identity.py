"""Who the user is, as a source can confirm it: ``Source.whoami`` answers an :class:`Identity`.

The audit records say who acted as configured (``[policy] identity``) or as the operating system
says (the claimed identity). A source whose credentials name a person (GitHub's token: its login;
a Kubernetes context: the user of a self-subject review) confirms it; the records then carry the
confirmed names beside the claimed one, by source: ``confirmed: {"github": "octocat"}``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Identity(BaseModel):
    """What a source's server says of the user its credentials belong to.

    ``user`` is None when the server cannot say (it does not offer the question, or its answer
    names nobody): ``note`` then says why, and nothing is confirmed by this source.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: The user's name as the server knows it (a GitHub login, a Kubernetes user name).
    user: str | None = Field(default=None, max_length=256)
    #: Where it was confirmed, or why it was not ("context eu-1", "the cluster has no
    #: SelfSubjectReview").
    note: str = Field(default="", max_length=1000)
    #: The source that said it (stamped by the hub).
    source: str = Field(default="", max_length=200)

    @property
    def confirmed(self) -> bool:
        return bool(self.user)


__all__ = ["Identity"]
