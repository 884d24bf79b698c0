"""``idp-tui scorecards``: every service's level and the rules it fails, the teams' roll-up, and
``--fail-under LEVEL`` for a CI job to gate on (exit code 6, as ``idp-tui dora``'s gate, when a
service is below it)."""

from __future__ import annotations

from ..configerror import ConfigError
from ..hub import Hub
from ..insights import scorecards as sc
from ..insights.rules import Level, Rule, configured_rules
from .context import Context
from .insights import EXIT_BELOW
from .output import CliError, Styled, cell, paint
from .read import _errors_json, finish

_STYLE = {"none": "red", "bronze": "yellow", "silver": "cyan", "gold": "green"}
_STYLE_OF_STATUS = {"fail": "red", "error": "yellow", "pass": "green"}


def scorecards(ctx: Context) -> int:
    rules = configured_rules(ctx.config, getattr(ctx.args, "rules", None) or [])
    if not rules:
        raise ConfigError("no scorecard rules: the built-in ones are off ([scorecards] "
                          "defaults = false) and no rule file has any")

    async def run(ctx: Context, hub: Hub) -> int:
        return await _scorecards(ctx, hub, rules)

    return ctx.run(run, say_catalog=False)


async def _scorecards(ctx: Context, hub: Hub, rules: list[Rule]) -> int:
    args, out = ctx.args, ctx.out
    # The configured store's trail: the deploys made through idp-tui count as in `idp-tui dora`.
    trail = ctx.trail
    world, failures = await sc.collect(hub, ctx.clock.now(), trail=trail)
    fail_under = Level(args.fail_under) if args.fail_under else None
    cards = sc.score(rules, world)
    if args.team:
        cards = [c for c in cards if c.owner == args.team]
    teams = sc.rollup(cards)
    gate = sc.below(cards, fail_under) if fail_under is not None else []
    shown = cards
    if args.level is not None:
        shown = [c for c in shown if c.level_name == args.level]
    if args.failing:
        shown = [c for c in shown if c.failing]
    if out.json:
        out.emit({"services": [sc.card_jsonable(c, only_failing=args.failing) for c in shown],
                  "teams": [sc.rollup_jsonable(t) for t in teams],
                  "rules": [sc.rule_jsonable(r) for r in rules],
                  "fail_under": args.fail_under,
                  "below": [c.service for c in gate],
                  "errors": _errors_json(failures)})
    else:
        _print(ctx, shown, teams)
    if args.team and not cards and not failures:
        out.warn(f"no service is owned by {args.team!r}",
                 hint="`idp-tui services` lists the owners")
    finish(ctx, failures, "scorecards", answered=bool(cards))
    if gate:
        names = ", ".join(c.service for c in gate[:5]) + (" …" if len(gate) > 5 else "")
        raise CliError(EXIT_BELOW, f"{len(gate)} service{'s are' if len(gate) > 1 else ' is'} "
                                    f"below {args.fail_under}: {names}",
                       type="below level",
                       hint="`idp-tui scorecards --failing` shows the rules to fix")
    return 0


def _print(ctx: Context, cards: list[sc.Card], teams: list[sc.TeamRollup]) -> None:
    out, args = ctx.out, ctx.args
    if cards:
        rows = []
        for c in cards:
            failing = [r.rule.id for r in c.failing]
            rows.append([c.service, c.owner or "–", Styled(c.level_name, _STYLE[c.level_name]),
                         f"{len(c.results) - len(failing)}/{len(c.results)}",
                         ", ".join(failing) or "–"])
        out.table(["SERVICE", "OWNER", "LEVEL", "PASSED", "NOT PASSING"], rows)
    else:
        out.line("no service matches" if (args.failing or args.level) else "no service")
    if args.failing and cards:
        colour = out.colour_out
        for c in cards:
            out.line()
            out.line(f"{cell(c.service, 200)} ({c.level_name})")
            for r in c.failing:
                why = f" — {r.outcome.message}" if r.outcome.message else ""
                mark = paint(f"{r.status:<5}", _STYLE_OF_STATUS[r.status], colour)
                out.line(f"  {mark} {r.rule.level.value:<6} {cell(r.rule.id, 100)}: "
                         f"{cell(r.rule.title + why, 400)}")
                out.line(f"               fix: {cell(r.rule.fix, 400)}")
    if teams and not args.failing:
        out.line()
        names = sc.level_names()
        out.table(["TEAM", "SERVICES", *(n.upper() for n in names)],
                  [[t.team or "(no owner)", t.services,
                    *(f"{t.counts[n]} ({t.shares[n]:.0%})" for n in names)] for t in teams])

