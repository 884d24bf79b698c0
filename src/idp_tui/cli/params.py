"""Template parameters on the command line: described from the template's model, typed, validated.

Values given as ``--param name=value`` are strings; they are typed by the template's JSON Schema
(numbers, booleans, lists and objects are read as JSON) and then validated by its pydantic model,
so the source gets the same values a form in the dashboard would send. Secret parameters (``SecretStr``
or ``format: password``) come from ``--param-file NAME=PATH``, ``$IDP_TUI_PARAM_<NAME>``, a hidden
prompt on a terminal, or (with a warning) ``--param``; their values are registered with
:mod:`idp_tui.cli.output` so they are never printed nor logged.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from .. import limits
from ..actions import secret_fields
from ..safetext import error_message
from .output import EXIT_USAGE, CliError, Output, add_secret

ENV_PREFIX = "IDP_TUI_PARAM_"
_JSON_TYPES = {"integer", "number", "boolean", "array", "object", "null"}


@dataclass(frozen=True)
class ParamSpec:
    name: str
    type: str
    required: bool
    default: Any = None
    has_default: bool = False
    choices: tuple[Any, ...] = ()
    secret: bool = False
    description: str = ""
    title: str = ""

    @property
    def env_var(self) -> str:
        return ENV_PREFIX + re.sub(r"[^A-Za-z0-9]", "_", self.name).upper()

    def summary(self) -> str:
        """``name=TYPE`` with what matters: required, default, choices, secret."""
        from ..safetext import sanitize

        kind = "|".join(sanitize(c, max_len=40) for c in self.choices) if self.choices \
            else self.type.upper()
        notes = []
        if self.secret:
            notes.append(f"secret: --param-file {self.name}=PATH or ${self.env_var}")
        if self.required:
            notes.append("required")
        elif self.has_default and self.default is not None and not self.secret:
            notes.append(f"default {sanitize(json.dumps(self.default), max_len=60)}")
        text = f"{sanitize(self.name, max_len=60)}={kind}"
        if notes:
            text += f"  ({'; '.join(notes)})"
        if self.description:
            text += f"  {sanitize(self.description, max_len=300)}"
        return text

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type, "required": self.required,
                               "secret": self.secret, "description": self.description}
        if self.choices:
            out["choices"] = list(self.choices)
        if self.has_default and not self.secret:
            out["default"] = self.default
        return out


def _resolve(schema: dict[str, Any], prop: dict[str, Any]) -> dict[str, Any]:
    """``prop`` with ``$ref`` followed and ``Optional[...]`` unwrapped."""
    defs = schema.get("$defs", {})
    seen = 0
    while seen < 8:
        seen += 1
        if "$ref" in prop:
            name = str(prop["$ref"]).rsplit("/", 1)[-1]
            prop = {**defs.get(name, {}), **{k: v for k, v in prop.items() if k != "$ref"}}
            continue
        for key in ("anyOf", "oneOf", "allOf"):
            options = prop.get(key)
            if isinstance(options, list) and options:
                real = [o for o in options if o.get("type") != "null"]
                if real:
                    merged = {k: v for k, v in prop.items() if k != key}
                    prop = {**real[0], **merged}
                    break
        else:
            return prop
    return prop


def describe_params(model: type[BaseModel]) -> list[ParamSpec]:
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    secrets = secret_fields(model)
    specs = []
    for name, raw in schema.get("properties", {}).items():
        prop = _resolve(schema, raw)
        choices = tuple(prop.get("enum", ()))
        kind = "enum" if choices else str(prop.get("type", "string"))
        if name in secrets:
            kind = "secret"
        specs.append(ParamSpec(
            name=name, type=kind, required=name in required, default=prop.get("default"),
            has_default="default" in prop, choices=choices, secret=name in secrets,
            description=str(prop.get("description", "") or ""), title=str(prop.get("title", ""))))
    return specs


def _typed(spec: ParamSpec, raw: str) -> Any:
    """A command-line string as the JSON value the schema expects (left as is when unsure)."""
    if spec.secret or spec.type == "string":
        return raw
    wants_json = spec.type in _JSON_TYPES or (
        spec.choices and not all(isinstance(c, str) for c in spec.choices))
    if wants_json:
        try:
            return json.loads(raw)
        except (ValueError, RecursionError):  # not JSON, or nested too deep: the model says why
            return raw
    return raw


def _split(item: str, option: str) -> tuple[str, str]:
    name, sep, value = item.partition("=")
    if not sep or not name.strip():
        what = "NAME=PATH" if option == "--param-file" else "NAME=VALUE"
        raise CliError(EXIT_USAGE, f"{option} {limits.shown(name)}: expected {what}")
    if len(name.strip()) > limits.NAME.size:
        raise CliError(EXIT_USAGE, f"{option} {limits.shown(name.strip())}: a parameter name has "
                                   f"at most {limits.NAME.size} characters")
    return name.strip(), value


def _read_file(name: str, path: str) -> str:
    """A ``--param-file``: a regular file (or ``-``, stdin) read in chunks, never past
    :data:`~idp_tui.limits.PARAM_FILE`; a folder, FIFO or device is refused without reading it."""
    if not path:
        raise CliError(EXIT_USAGE, f"--param-file {name}: expected NAME=PATH, got an empty path")
    shown = "stdin" if path == "-" else limits.shown(path, 200)
    try:
        if path == "-":
            data = limits.read_stream(sys.stdin.buffer.fileno(), limits.PARAM_FILE)
        else:
            data = limits.read_bounded(Path(path).expanduser(), limits.PARAM_FILE)
        text = data.decode("utf-8")
    except limits.NotAFile as exc:
        raise CliError(EXIT_USAGE, f"--param-file {name}: {shown} {exc}",
                       hint=f"give a regular file, or `-` to read the value from stdin "
                            f"(e.g. `… | idp-tui provision … --param-file {name}=-`)") from None
    except limits.TooLarge as exc:
        raise CliError(EXIT_USAGE, f"--param-file {name}: {shown} is {exc}",
                       hint="nothing past the limit was read") from None
    except UnicodeDecodeError:
        raise CliError(EXIT_USAGE, f"--param-file {name}: {shown} is not "
                                   "UTF-8 text") from None
    except (OSError, ValueError, AttributeError) as exc:
        why = getattr(exc, "strerror", None) or "cannot be read"
        raise CliError(EXIT_USAGE, f"--param-file {name}: cannot read {shown}: "
                                   f"{why}") from None
    return text[:-1] if text.endswith("\n") else text


def _check_value(where: str, raw: str) -> str:
    """``raw`` if within :data:`~idp_tui.limits.PARAM_VALUE` (never echoed: it may be a secret)."""
    limit = limits.PARAM_VALUE
    if len(raw) > limit.size:
        raise CliError(EXIT_USAGE, f"{where}: the value has {len(raw):,} characters; at most "
                                   f"{limit.size:,} are allowed")
    return raw


def gather_params(template: str, model: type[BaseModel], given: list[str], files: list[str],
                  out: Output, *, interactive: bool | None = None, what: str = "template",
                  listing: str = "`idp-tui templates`"
                  ) -> tuple[dict[str, Any], BaseModel]:
    """The typed parameters for ``template`` from every place they can come from, and the
    template's model validated from them (defaults filled in). ``what`` names what has the
    parameters (a "template", a "workflow") and ``listing`` where they are listed (none: the
    hint lists them)."""
    specs = {p.name: p for p in describe_params(model)}
    where = listing or "; ".join(p.summary() for p in specs.values()) or "none"
    values: dict[str, Any] = {}
    unknown = []
    for item in given:
        name, raw = _split(item, "--param")
        _check_value(f"--param {limits.shown(name)}", raw)
        spec = specs.get(name)
        if spec is None:
            unknown.append(name)
            continue
        if spec.secret:
            add_secret(raw)
            out.warn(f"secret parameter {name!r} given on the command line, where other users "
                     f"can see it; prefer --param-file {name}=PATH or ${spec.env_var}")
        values[name] = _typed(spec, raw)
    for item in files:
        name, path = _split(item, "--param-file")
        spec = specs.get(name)
        if spec is None:
            unknown.append(name)
            continue
        raw = _read_file(name, path)
        if spec.secret:
            add_secret(raw)
        values[name] = _typed(spec, raw)
    if unknown:
        known = ", ".join(specs) or "none"
        raise CliError(EXIT_USAGE, f"{what} {template!r} has no parameter "
                                   f"{', '.join(repr(u) for u in unknown)}",
                       hint=f"its parameters: {known}" + (f" (see {listing})" if listing
                                                          else f": {where}"))
    for spec in specs.values():
        if spec.name in values:
            continue
        raw = os.environ.get(spec.env_var)
        if raw is not None:
            _check_value(f"${spec.env_var}", raw)
            if spec.secret:
                add_secret(raw)
            values[spec.name] = _typed(spec, raw)
    if interactive is None:
        try:
            interactive = sys.stdin.isatty()
        except (AttributeError, ValueError):
            interactive = False
    for spec in specs.values():
        if spec.secret and spec.required and spec.name not in values and interactive:
            try:
                raw = getpass.getpass(f"{spec.name} for {template} (hidden): ")
            except EOFError:
                raw = ""
            _check_value(f"the prompt for {limits.shown(spec.name)}", raw)
            add_secret(raw)
            values[spec.name] = raw
    try:
        validated = model.model_validate(values)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error.get("loc", ())) or "params"
            spec = specs.get(str(error.get("loc", ("",))[0]))
            message = error_message(error)
            if error.get("type") == "missing" and spec is not None and spec.secret:
                message += f" (give it with --param-file {spec.name}=PATH or ${spec.env_var})"
            problems.append(f"{where}: {message}")  # never the input: it may be a secret
        raise CliError(EXIT_USAGE, f"invalid parameters for {template!r}: " + "; ".join(problems),
                       hint=f"{listing} lists each {what}'s parameters" if listing
                       else f"its parameters: {where}", problems=problems) from None
    return values, validated
