"""Scorecard rules as code: reading rule files (TOML or YAML) and checking one rule.

A rule file holds a list of rules::

    [[rules]]
    id = "runbook"
    title = "Has a runbook"
    level = "silver"                      # bronze, silver or gold
    applies_to = { lifecycle = ["production"], tier = [1, 2] }   # type, lifecycle, tier, owner
    check = { fact = "has_runbook", equals = true }
    fix = "Add a link of type runbook to the catalog entry."

    [[rules]]
    id = "replicas"
    title = "Tier 1 runs at least 3 replicas in production"
    level = "gold"
    applies_to = { tier = [1] }
    expr = "production_replicas >= 3"     # CEL, the facts as variables
    fix = "Scale the production deployment to 3 replicas or more."

A check is a table ``{fact = NAME, OP = VALUE}`` (or a list of them, all of which must hold) with
OP one of :data:`OPERATORS`, or ``expr``, a CEL expression (Common Expression Language, through
the ``common-expression-language`` package; never Python's ``eval``). ``enabled = false`` turns
off a rule of the same id from an earlier file (the built-in defaults come first).

Every problem of a file is a :class:`~idp_tui.configerror.ConfigError` naming the file, the rule
and what is wrong (``idp-tui scorecards`` exits with code 2).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from .. import limits
from ..configerror import ConfigError
from .facts import FACTS, Unknown, World, fact_value
from .levels import OrderedLevel

#: The rules shipped with idp-tui (a data file of this package).
DEFAULT_RULES = "scorecard_rules.toml"
#: Rule files idp-tui reads from the config dir, when present (after the defaults).
CONFIG_DIR_FILES = ("scorecards.toml", "scorecards.yaml", "scorecards.yml")

RULE_KEYS = {"id", "title", "level", "applies_to", "check", "expr", "fix", "enabled",
             "description"}
APPLIES_TO_KEYS = ("type", "lifecycle", "tier", "owner")
#: The declarative operators: name → (the fact types it takes, what it tests).
OPERATORS: dict[str, tuple[tuple[str, ...], str]] = {
    "equals": (("bool", "number", "string"), "the value equals it"),
    "not_equals": (("bool", "number", "string"), "the value differs from it"),
    "at_least": (("number",), "the value is ≥ it"),
    "at_most": (("number",), "the value is ≤ it"),
    "above": (("number",), "the value is > it"),
    "below": (("number",), "the value is < it"),
    "one_of": (("number", "string"), "the value is one of the list"),
    "not_empty": (("string",), "the value is not empty (give true)"),
}
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


class Level(OrderedLevel):
    """Scorecard levels, lowest first."""

    BRONZE = "bronze"
    SILVER = "silver"
    GOLD = "gold"




@dataclass(frozen=True, slots=True)
class Condition:
    """One declarative test: ``fact`` ``op`` ``value``."""

    fact: str
    op: str
    value: Any

    def holds(self, actual: Any) -> bool:
        op, value = self.op, self.value
        if op == "equals":
            return bool(actual == value)
        if op == "not_equals":
            return bool(actual != value)
        if op == "at_least":
            return bool(actual >= value)
        if op == "at_most":
            return bool(actual <= value)
        if op == "above":
            return bool(actual > value)
        if op == "below":
            return bool(actual < value)
        if op == "one_of":
            return actual in value
        return bool(actual) == bool(value)  # not_empty

    def describe(self) -> str:
        if self.op == "not_empty":
            return f"{self.fact} is {'not ' if self.value else ''}empty"
        return f"{self.fact} {self.op.replace('_', ' ')} {self.value!r}"


@dataclass(frozen=True, slots=True)
class Outcome:
    """A rule's verdict for one service: ``pass``, ``fail`` or ``error`` (a needed fact is
    unknown, or the expression could not be evaluated), with the facts it read."""

    status: str
    facts: dict[str, Any] = field(default_factory=dict)
    message: str = ""


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    title: str
    level: Level
    fix: str
    #: applies_to: field → the values it must have (empty: every service).
    applies_to: dict[str, frozenset[Any]] = field(default_factory=dict)
    conditions: tuple[Condition, ...] = ()
    expr: str = ""
    description: str = ""
    #: Where the rule was read (a file path, or ``built-in``).
    origin: str = ""
    _program: Any = field(default=None, compare=False, repr=False)

    @property
    def facts(self) -> tuple[str, ...]:
        """The facts the check reads."""
        if self.expr:
            return tuple(self._program.variables())
        return tuple(dict.fromkeys(c.fact for c in self.conditions))

    @property
    def check_text(self) -> str:
        return self.expr or " and ".join(c.describe() for c in self.conditions)

    def applies(self, service: Any) -> bool:
        for key, values in self.applies_to.items():
            if getattr(service, key) not in values:
                return False
        return True

    def evaluate(self, service: Any, world: World) -> Outcome:
        values: dict[str, Any] = {}
        for name in self.facts:
            try:
                values[name] = fact_value(name, service, world)
            except Unknown as exc:
                return Outcome("error", values, f"fact {name} is unknown: {exc}")
        if not self.expr:
            ok = all(c.holds(values[c.fact]) for c in self.conditions)
            return Outcome("pass" if ok else "fail", values)
        try:
            result = self._program.execute(values)
        except Exception as exc:  # noqa: BLE001 - the binding raises several kinds; said, not raised
            return Outcome("error", values, f"the expression failed: {_first_line(exc)}")
        if not isinstance(result, bool):
            return Outcome("error", values, f"the expression gave {result!r}, not true or false")
        return Outcome("pass" if result else "fail", values)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


# Reading ------------------------------------------------------------------------------------------

def default_rules_text() -> str:
    return resources.files(__package__).joinpath(DEFAULT_RULES).read_text(encoding="utf-8")


def load_rules(paths: Sequence[Path] = (), *, defaults: bool = True) -> list[Rule]:
    """The built-in rules (unless ``defaults`` is false), then each file of ``paths`` in order:
    a rule replaces an earlier one of the same id, ``enabled = false`` removes it. Every problem
    of every file is reported at once as one :class:`ConfigError`."""
    by_id: dict[str, Rule] = {}
    errors: list[ConfigError] = []
    sources: list[tuple[Path | None, str]] = []
    if defaults:
        sources.append((None, default_rules_text()))
    for path in paths:
        try:
            sources.append((path, _read(path)))
        except ConfigError as exc:
            errors.append(exc)
    for path, text in sources:
        try:
            for rule_id, rule in parse_rules(text, path=path):
                if rule is None:
                    by_id.pop(rule_id, None)
                else:
                    by_id[rule_id] = rule
        except ConfigError as exc:
            errors.append(exc)
    if errors:
        raise ConfigError.combine(errors)
    return sorted(by_id.values(), key=lambda r: (r.level.rank, r.id))


def configured_rules(config: Any, more: Sequence[Path] = ()) -> list[Rule]:
    """The rules a configuration asks for (``config``: an ``AppConfig``): the built-in ones
    unless ``[scorecards] defaults = false``, the config dir's file, ``[scorecards] paths``, then
    ``more``. A bad file raises :class:`ConfigError` naming it."""
    return load_rules([*rule_files(config.path, config.scorecards.paths), *more],
                      defaults=config.scorecards.defaults)


def rule_files(config_path: Path | None, paths: Sequence[str] = ()) -> list[Path]:
    """The rule files of a configuration: ``scorecards.toml`` (or ``.yaml``) beside the config
    file (in the user config dir when there is none) when present, then ``[scorecards] paths``
    (relative ones from the config file's folder)."""
    if config_path is not None:
        folder = config_path.parent
    else:
        from ..paths import config_file

        folder = config_file().parent
    found = [folder / name for name in CONFIG_DIR_FILES if (folder / name).is_file()]
    for text in paths:
        path = Path(text).expanduser()
        found.append(path if path.is_absolute() else folder / path)
    return found


def _read(path: Path) -> str:
    try:
        raw = limits.read_bounded(path, limits.CONFIG_FILE)
    except FileNotFoundError:
        raise ConfigError("rule file not found", path=path) from None
    except limits.NotAFile as exc:
        raise ConfigError(f"{exc}; expected a TOML or YAML rule file", path=path) from None
    except limits.TooLarge as exc:
        raise ConfigError(f"the rule file is {exc}", path=path) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {(exc.strerror or str(exc)).lower()}",
                          path=path) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError("not valid UTF-8 text", path=path) from None


def parse_rules(text: str, *, path: Path | None = None
                ) -> list[tuple[str, Rule | None]]:
    """The rules of one file's ``text`` (TOML, or YAML for a ``.yaml``/``.yml`` path), as
    (id, rule) pairs, ``None`` for a rule turned off."""
    data = _parse(text, path)
    where = str(path) if path is not None else "built-in"
    if not isinstance(data, Mapping) or set(data) - {"rules"}:
        extra = sorted(set(data) - {"rules"}) if isinstance(data, Mapping) else []
        raise ConfigError("expected a list of rules under the key `rules`" +
                          (f" (unknown keys: {', '.join(map(str, extra))})" if extra else ""),
                          path=path)
    items = data.get("rules") or []
    if not isinstance(items, list):
        raise ConfigError("`rules` must be a list of tables", path=path)
    errors: list[ConfigError] = []
    out: list[tuple[str, Rule | None]] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        try:
            rule_id, rule = _rule(item, index, where)
        except _Problem as exc:
            errors.append(ConfigError(exc.message, path=path, field=exc.field))
            continue
        if rule_id in seen:
            errors.append(ConfigError("the id is used by an earlier rule of this file",
                                      path=path, field=f"rule {rule_id!r}"))
            continue
        seen.add(rule_id)
        out.append((rule_id, rule))
    if errors:
        raise ConfigError.combine(errors)
    return out


def _parse(text: str, path: Path | None) -> Any:
    if path is not None and path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            return yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            problem = getattr(exc, "problem", None) or "not valid YAML"
            raise ConfigError(f"YAML syntax error: {problem}", path=path,
                              line=mark.line + 1 if mark is not None else None) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = re.search(r"\(at line (\d+), column \d+\)", message)
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", message)
        raise ConfigError(f"TOML syntax error: {message}", path=path,
                          line=int(match.group(1)) if match else None) from None


class _Problem(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


def _rule(item: Any, index: int, where: str) -> tuple[str, Rule | None]:
    name = f"rule {index + 1}"
    if not isinstance(item, Mapping):
        raise _Problem(name, "a rule is a table (id, title, level, check or expr, fix)")
    rule_id = item.get("id")
    if not isinstance(rule_id, str) or not _ID.match(rule_id):
        raise _Problem(name, "`id` must be letters, digits, '-', '_' or '.' (at most 100), got "
                             f"{limits.shown(str(rule_id)) if rule_id is not None else 'none'}")
    name = f"rule {rule_id!r}"
    unknown = sorted(set(map(str, item)) - RULE_KEYS)
    if unknown:
        raise _Problem(name, f"unknown key{'s' if len(unknown) > 1 else ''} "
                             f"{', '.join(unknown)} (known: {', '.join(sorted(RULE_KEYS))})")
    enabled = item.get("enabled", True)
    if not isinstance(enabled, bool):
        raise _Problem(name, "`enabled` must be true or false")
    if not enabled:
        return rule_id, None
    title, fix, description = (item.get(k, "") for k in ("title", "fix", "description"))
    for key, value in (("title", title), ("fix", fix), ("description", description)):
        if not isinstance(value, str):
            raise _Problem(name, f"`{key}` must be a text")
    if not title.strip() or not fix.strip():
        raise _Problem(name, "a rule needs a `title` and a `fix` (how to make it pass)")
    try:
        level = Level.parse(str(item.get("level", "")))
    except ValueError as exc:
        raise _Problem(name, f"`level`: {exc}") from None
    applies = _applies_to(item.get("applies_to", {}), name)
    has_check, has_expr = "check" in item, "expr" in item
    if has_check == has_expr:
        raise _Problem(name, "give exactly one of `check` (declarative) and `expr` (CEL)")
    conditions: tuple[Condition, ...] = ()
    expr, program = "", None
    if has_check:
        conditions = _conditions(item["check"], name)
    else:
        expr, program = _compile(item["expr"], name)
    return rule_id, Rule(id=rule_id, title=title.strip(), level=level, fix=fix.strip(),
                         applies_to=applies, conditions=conditions, expr=expr,
                         description=description.strip(), origin=where, _program=program)


def _applies_to(value: Any, name: str) -> dict[str, frozenset[Any]]:
    if not isinstance(value, Mapping):
        raise _Problem(name, "`applies_to` is a table: " + ", ".join(APPLIES_TO_KEYS))
    out: dict[str, frozenset[Any]] = {}
    for key, wanted in value.items():
        if key not in APPLIES_TO_KEYS:
            raise _Problem(name, f"`applies_to` has no key {key!r} (known: "
                                 f"{', '.join(APPLIES_TO_KEYS)})")
        values = wanted if isinstance(wanted, list) else [wanted]
        kind = int if key == "tier" else str
        if not values or any(not isinstance(v, kind) or isinstance(v, bool) for v in values):
            raise _Problem(name, f"`applies_to.{key}` must be "
                                 f"{'tier numbers (1 to 3)' if kind is int else 'texts'} "
                                 "or a list of them")
        out[key] = frozenset(values)
    return out


def _conditions(value: Any, name: str) -> tuple[Condition, ...]:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise _Problem(name, "`check` is empty")
    out = []
    for item in items:
        if not isinstance(item, Mapping) or "fact" not in item:
            raise _Problem(name, "`check` is a table {fact = NAME, OPERATOR = VALUE} (or a list "
                                 f"of them); operators: {', '.join(OPERATORS)}")
        fact = item["fact"]
        spec = FACTS.get(fact) if isinstance(fact, str) else None
        if spec is None:
            raise _Problem(name, f"unknown fact {limits.shown(str(fact))} (known: "
                                 f"{', '.join(FACTS)})")
        ops = [k for k in item if k != "fact"]
        if len(ops) != 1 or ops[0] not in OPERATORS:
            raise _Problem(name, f"`check` on {fact} needs exactly one operator of: "
                                 f"{', '.join(OPERATORS)}; got {', '.join(map(str, ops)) or 'none'}")
        op = ops[0]
        operand = item[op]
        types, _ = OPERATORS[op]
        if spec.type not in types:
            raise _Problem(name, f"`{op}` does not apply to {fact}, a {spec.type}")
        if op == "one_of":
            if not isinstance(operand, list) or not all(_is(v, spec.type) for v in operand):
                raise _Problem(name, f"`one_of` on {fact} takes a list of {spec.type}s")
            operand = tuple(operand)
        elif op == "not_empty":
            if not isinstance(operand, bool):
                raise _Problem(name, "`not_empty` takes true or false")
        elif not _is(operand, spec.type):
            raise _Problem(name, f"`{op}` on {fact} takes a {spec.type}, got "
                                 f"{limits.shown(repr(operand))}")
        out.append(Condition(fact, op, operand))
    return tuple(out)


def _is(value: Any, kind: str) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, str)


def _compile(text: Any, name: str) -> tuple[str, Any]:
    if not isinstance(text, str) or not text.strip():
        raise _Problem(name, "`expr` must be a CEL expression (a text)")
    if len(text) > 4000:
        raise _Problem(name, "`expr` has at most 4,000 characters")
    import cel  # the CEL binding: imported only when a rule has an expression

    try:
        program = cel.compile(text)
    except Exception as exc:  # noqa: BLE001 - the binding's syntax errors: said, not raised
        raise _Problem(name, f"`expr` is not valid CEL: {_cel_message(exc)}") from None
    unknown = [v for v in program.variables() if v not in FACTS]
    if unknown:
        raise _Problem(name, f"`expr` names unknown fact{'s' if len(unknown) > 1 else ''} "
                             f"{', '.join(unknown)} (known: {', '.join(FACTS)})")
    return text.strip(), program


def _cel_message(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    found = next((line for line in lines if "Syntax error" in line or "ERROR" in line), None)
    text = found or (lines[0] if lines else type(exc).__name__)
    return re.sub(r"^.*?ERROR: <input>:", "at ", text)[:300]


def describe_facts() -> Iterable[tuple[str, str, str, str]]:
    """(name, type, origin, description) of every fact, for help and docs."""
    return ((s.name, s.type, s.origin, s.description) for s in FACTS.values())
