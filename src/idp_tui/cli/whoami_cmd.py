"""``idp-tui whoami``: who the audit records will say acted, as ``kubectl auth whoami`` or
``gh auth status`` say it: the claimed identity (``[policy] identity``, else the OS user) and where
it comes from, then each source that acts: the user it confirms, or "not confirmed" and why (the
token names no user, the cluster cannot say, the source is down…). The question is the one an
action asks (:class:`idp_tui.identity.IdentityCheck`), waited for here until every source answered.

Exit code 0 when a source confirms, or when none can (a sandbox: said so); 4 when a source failed
to answer (unreachable, a refused token, a timeout).
"""

from __future__ import annotations

from typing import Any

from ..hub import Hub
from ..identity import claimed
from ..safetext import sanitize
from .context import Context
from .output import EXIT_OK, EXIT_SOURCE, CliError, Styled

#: Said when no source that acts can confirm who the user is.
NONE_CAN = ("no configured source can confirm who you are: the audit records name you as "
            "claimed")


def whoami(ctx: Context) -> int:
    return ctx.run(_whoami, say_catalog=False)


async def _whoami(ctx: Context, hub: Hub) -> int:
    out, manager = ctx.out, ctx.actions
    me = claimed(manager.actor, manager.policy.identity)
    found = await manager.identity.settled()
    types = {runner.name: runner.type_name for runner in hub.runners}
    failed = [c for c in found if c.failed]
    confirmed = {c.source: c.user for c in found if c.user}
    if out.json:
        out.emit({"claimed": {"user": me.user, "from": me.origin},
                  "confirmed": confirmed,
                  "sources": [{**c.as_dict(), "type": types.get(c.source)} for c in found]})
    else:
        out.line(f"claimed: {sanitize(me.user, max_len=256)} ({me.where})")
        if found:
            out.table(["SOURCE", "TYPE", "CONFIRMED", "WHERE, OR WHY NOT"], [
                [c.source, types.get(c.source, ""), _state(c),
                 (f"{c.error_class}: {c.note}" if c.failed else c.note)] for c in found])
            for c in failed:
                if c.hint:
                    out.line(f"{sanitize(c.source, max_len=60)}: hint: "
                             f"{sanitize(c.hint, max_len=1000)}")
        if not confirmed and not failed:
            out.line(NONE_CAN)
    if failed:
        raise CliError(EXIT_SOURCE, "who you are: " + "; ".join(
            f"{c.source}: {c.error_class}: {c.note}" for c in failed),
            hint=next((c.hint for c in failed if c.hint), None),
            errors=[_error(c) for c in failed])
    return EXIT_OK


def _state(confirmation: Any) -> Styled:
    if confirmation.user:
        return Styled(confirmation.user, "green")
    return Styled("not confirmed", "red" if confirmation.failed else "yellow")


def _error(confirmation: Any) -> dict[str, Any]:
    return {"source": confirmation.source, "error_class": confirmation.error_class,
            "message": confirmation.note, "hint": confirmation.hint}
