"""``idp-tui feedback`` (a rating and a comment, stored always) and ``idp-tui usage report``
(the platform team's figures from the store: :mod:`idp_tui.usagestore`). Neither starts a source.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import Any

from ..safetext import sanitize
from ..usage import check_comment, check_rating
from ..usagestore import UsageStore
from .context import Context
from .cost import window_text
from .output import EXIT_OK, EXIT_USAGE, CliError


def _store(ctx: Context) -> UsageStore:
    return UsageStore(ctx.config.store, ctx.folder)


def _identity(ctx: Context) -> str:
    from ..actionrun import current_user

    return ctx.config.policy.identity or current_user()


def _ask(question: str) -> str:
    sys.stderr.write(question)
    sys.stderr.flush()
    line = sys.stdin.readline()
    if not line:
        raise CliError(EXIT_USAGE, "no answer (end of input)")
    return line.rstrip("\n")


def feedback(ctx: Context) -> int:
    args, out = ctx.args, ctx.out
    rating, comment = args.rating, args.comment
    interactive = sys.stdin.isatty() and not out.json
    if rating is None and not interactive:
        raise CliError(EXIT_USAGE, "--rating is needed (1 poor … 5 great) when not on a terminal",
                       hint="idp-tui feedback --rating 4 --comment \"what would help\"")
    try:
        if rating is None:
            rating = check_rating(_ask("How satisfied are you with idp-tui, 1 (poor) to 5 "
                                       "(great)? "))
            if comment is None:
                comment = _ask("A comment for the platform team (Enter: none): ")
        comment = check_comment(comment or "")
    except ValueError as exc:
        raise CliError(EXIT_USAGE, str(exc)) from None
    config = ctx.config  # (config errors first)
    store = _store(ctx)
    try:
        store.add_feedback(_identity(ctx), ctx.clock.now(), rating, comment)
    except Exception as exc:  # noqa: BLE001 - the store's errors, as a sentence
        raise _store_error(exc) from None
    finally:
        store.close()
    where = "the organisation's store" if config.store.kind == "postgres" else store.where
    if out.json:
        out.emit({"stored": True, "rating": rating, "comment": bool(comment)})
    else:
        out.line(f"Thank you: your rating ({rating}/5){' and comment' if comment else ''} "
                 f"are stored in {where}.")
    return EXIT_OK


def _store_error(exc: BaseException) -> CliError:
    code = int(getattr(exc, "exit_code", 1) or 1)
    return CliError(code, str(exc), hint=getattr(exc, "hint", None), type="store")


def missing(ctx: Context) -> int:
    raise CliError(EXIT_USAGE, "expected a subcommand: `idp-tui usage report`",
                   hint="see `idp-tui usage --help`")


def report(ctx: Context) -> int:
    args, out = ctx.args, ctx.out
    since: timedelta = args.since
    now = ctx.clock.now()
    telemetry = ctx.config.telemetry
    store = _store(ctx)
    try:
        figures = store.report(now - since, now)
    except Exception as exc:  # noqa: BLE001 - the store's errors, as a sentence
        raise _store_error(exc) from None
    finally:
        store.close()
    figures["window"] = window_text(since)
    figures["telemetry_enabled"] = telemetry.enabled
    if not telemetry.enabled:
        out.warn("[telemetry] enabled is false in this config: this machine records no usage "
                 "events (feedback is stored always)")
    if out.json:
        out.emit(figures)
        return EXIT_OK
    _print(out, figures)
    return EXIT_OK


def _people(count: int) -> str:
    return f"{count} {'person' if count == 1 else 'people'}"


def _share(value: float) -> str:
    return f"{value * 100:.0f}%"


def _print(out: Any, f: dict[str, Any]) -> None:
    out.line(f"Usage from {f['since']} to {f['until']} (the last {f['window']})")
    out.line(f"Active people: {f['active_people']} ({f['new_people']} new)")
    for title, key in (("Panes", "panes"), ("Commands", "commands")):
        out.line()
        out.line(f"{title}:")
        if f[key]:
            out.table(["NAME", "USES", "PEOPLE", "ADOPTION"],
                      [(r["name"], r["uses"], r["people"], _share(r["adoption"]))
                       for r in f[key]])
        else:
            out.line("  none recorded")
    out.line()
    out.line("Actions per environment:")
    if f["actions"]:
        out.table(["ACTION", "ENVIRONMENT", "STARTED", "ENDED", "OUTCOMES"],
                  [(a["action"], a["environment"] or "–", a["started"], a["total"],
                    ", ".join(f"{k} {v}" for k, v in sorted(a["outcomes"].items())) or "–")
                   for a in f["actions"]])
    else:
        out.line("  none recorded")
    out.line()
    out.line("Errors shown per source:")
    if f["errors"]:
        out.table(["SOURCE", "ERROR", "TIMES", "PEOPLE"],
                  [(e["source"], e["error_class"], e["count"], e["people"]) for e in f["errors"]])
    else:
        out.line("  none recorded")
    first = f["time_to_first_deploy"]
    out.line()
    if first["people"]:
        out.line(f"Time from first run to first deploy: median {first['median_hours']:g} h "
                 f"({_people(first['people'])} deployed for the first time)")
    else:
        out.line("Time from first run to first deploy: nobody deployed for the first time")
    score = f["satisfaction"]
    if score["count"]:
        spread = ", ".join(f"{n} × {r}★" for r, n in score["ratings"].items() if n)
        count = score["count"]
        out.line(f"Satisfaction: {score['mean']:g} / 5 from {count} rating"
                 f"{'s' if count != 1 else ''} ({spread})")
    else:
        out.line("Satisfaction: no ratings")
    if f["comments"]:
        out.line()
        out.line("Comments (newest first):")
        for item in f["comments"][:50]:
            text = sanitize(item["comment"], max_len=500).replace("\n", " ")
            out.line(f"  {item['time']}  {item['rating']}/5  {text}")
        if len(f["comments"]) > 50:
            out.line(f"  … {len(f['comments']) - 50} more (--json lists them)")
