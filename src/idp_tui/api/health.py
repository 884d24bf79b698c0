"""The parts of a source, each with its own health: a source that reads several systems (the
clusters of a ``kubernetes`` source, the namespaces of its environments, a GitHub source's
repositories) says how each is, so the health view and ``idp-tui sources`` show the cluster that
is down beside the one that is fine, instead of one "error" for the whole source.

A source reports a part with :meth:`idp_tui.SourceContext.set_part_health` (from any thread, as
often as it likes: only changes reach the health view)::

    self.context.set_part_health("eu-1", ok=True, latency=0.012, kind="context")
    self.context.set_part_health("staging", ok=False, error=exc, kind="namespace", parent="eu-1")
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: Longest text kept of a part's name, error class, message or hint.
PART_TEXT_MAX = 300


class PartHealth(BaseModel):
    """How one part of a source is: its state, the latency of its last answer and its error."""

    model_config = ConfigDict(frozen=True)

    #: The part's name as the user knows it (a kubeconfig context, an environment, owner/repo).
    name: str = Field(min_length=1)
    #: What kind of part it is, one word ("context", "namespace", "repository"); may be empty.
    kind: str = ""
    #: The name of the part it belongs to (an environment's namespace in its context), or None.
    parent: str | None = None
    #: "ok" (it answers), "error" (it does not), "waiting" (not answered yet).
    state: Literal["ok", "error", "waiting"]
    #: Seconds its last answer took (None: not known).
    latency: float | None = Field(default=None, ge=0)
    #: For an error: its class (a short word: "unreachable", "auth"…), message and hint.
    error_class: str | None = None
    message: str | None = None
    hint: str | None = None

    @classmethod
    def of(cls, name: str, ok: bool | None, latency: float | None = None, *,
           error: BaseException | str | None = None, kind: str = "",
           parent: str | None = None) -> PartHealth:
        """A part's health from what a source knows: ``ok`` True, False (``error`` says why)
        or None (not answered yet); an error given makes it "error" whatever ``ok`` says."""
        error_class = message = hint = None
        if error is not None:
            ok = False
            error_class = str(getattr(error, "error_class", None) or "error")
            message = str(getattr(error, "message", None) or error) or type(error).__name__
            hint = getattr(error, "hint", None)
        elif ok is False:
            error_class, message = "error", "failing"
        state: Literal["ok", "error", "waiting"] = \
            "waiting" if ok is None else "ok" if ok else "error"
        return cls(name=_cut(name) or "?", kind=_cut(kind) or "",
                   parent=_cut(parent), state=state,
                   latency=None if latency is None else max(0.0, float(latency)),
                   error_class=_cut(error_class), message=_cut(message),
                   hint=_cut(hint if isinstance(hint, str) else None))


def _cut(text: str | None) -> str | None:
    if text is None:
        return None
    text = str(text)
    return text if len(text) <= PART_TEXT_MAX else text[:PART_TEXT_MAX] + "…"
