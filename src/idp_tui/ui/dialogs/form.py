"""A provisioning template's form, worked out from its JSON Schema: which fields, of which type,
with which bounds and defaults, and what a typed value means. No Textual here."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from ...actions import TemplateEntry
from ...safetext import error_message

MISSING = object()


@dataclass
class FieldSpec:
    """One parameter of a template, as the form renders it."""

    name: str
    title: str
    description: str
    #: "string", "integer", "number", "enum", "boolean" or "secret".
    kind: str
    required: bool
    default: Any = MISSING
    choices: list[Any] = field(default_factory=list)
    minimum: float | None = None
    maximum: float | None = None


def _resolve(prop: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """``prop`` with ``$ref``/``allOf``/nullable ``anyOf`` folded in (what pydantic emits)."""
    out = dict(prop)
    for _ in range(5):
        ref = out.pop("$ref", None)
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            out = {**defs.get(ref.removeprefix("#/$defs/"), {}), **out}
            continue
        all_of = out.pop("allOf", None)
        if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], dict):
            out = {**all_of[0], **out}
            continue
        any_of = out.get("anyOf")
        if isinstance(any_of, list):
            options = [o for o in any_of if isinstance(o, dict) and o.get("type") != "null"]
            if len(options) == 1:
                del out["anyOf"]
                out = {**options[0], **out}
                continue
        break
    return out


def form_fields(entry: TemplateEntry) -> list[FieldSpec]:
    """The fields of a template's JSON Schema, in order."""
    schema = entry.template.json_schema()
    defs = schema.get("$defs", {}) if isinstance(schema.get("$defs"), dict) else {}
    required = set(schema.get("required", []) or [])
    secrets = entry.secret_fields
    out: list[FieldSpec] = []
    for name, raw in (schema.get("properties") or {}).items():
        if not isinstance(raw, dict):
            continue
        prop = _resolve(raw, defs)
        kind = "string"
        if name in secrets or prop.get("format") == "password" or prop.get("writeOnly"):
            kind = "secret"
        elif isinstance(prop.get("enum"), list):
            kind = "enum"
        elif "const" in prop:
            kind, prop = "enum", {**prop, "enum": [prop["const"]]}
        elif prop.get("type") == "boolean":
            kind = "boolean"
        elif prop.get("type") == "integer":
            kind = "integer"
        elif prop.get("type") == "number":
            kind = "number"
        minimum = prop.get("minimum", prop.get("exclusiveMinimum"))
        maximum = prop.get("maximum", prop.get("exclusiveMaximum"))
        out.append(FieldSpec(
            name=str(name), title=str(prop.get("title") or name),
            description=str(prop.get("description") or ""), kind=kind,
            required=name in required, default=prop.get("default", MISSING),
            choices=list(prop.get("enum") or []),
            minimum=minimum if isinstance(minimum, int | float) else None,
            maximum=maximum if isinstance(maximum, int | float) else None))
    return out


def shorten(value: str, width: int) -> str:
    """``value`` cut to ``width`` characters with an ellipsis (for a narrow table column)."""
    value = " ".join(value.split())
    return value if len(value) <= width else value[: width - 1] + "…"


def bounds_text(spec: FieldSpec) -> str:
    """A number field's bounds, as a reader says them ("1–5", "≥ 0")."""
    def number(value: float) -> str:
        return f"{value:g}"

    if spec.minimum is not None and spec.maximum is not None:
        return f"{number(spec.minimum)}–{number(spec.maximum)}"
    if spec.minimum is not None:
        return f"≥ {number(spec.minimum)}"
    if spec.maximum is not None:
        return f"≤ {number(spec.maximum)}"
    return ""


_KIND_HINTS = {"integer": "whole number", "number": "number", "secret": "secret, hidden"}


def hint_text(spec: FieldSpec) -> str:
    """What the label adds in brackets: the kind of value and its bounds ("whole number, 1–5")."""
    return ", ".join(x for x in (_KIND_HINTS.get(spec.kind, ""), bounds_text(spec)) if x)


def parse_text(spec: FieldSpec, text: str) -> Any:
    """A typed value as the template's model gets it: a number for a number field (the text if it
    is not one: the model says what is wrong), ``MISSING`` for nothing typed (the default applies).
    A secret is taken as typed; anything else without the spaces around it."""
    raw = text if spec.kind == "secret" else text.strip()
    if raw == "":
        return MISSING
    convert = {"integer": int, "number": float}.get(spec.kind)
    if convert is None:
        return raw
    try:
        return convert(raw)
    except ValueError:
        return raw


def check(model: type[BaseModel], values: dict[str, Any], names: Collection[str],
          scrub: Callable[[str], str] = lambda message: message) -> tuple[dict[str, str], list[str]]:
    """Validate ``values`` with a template's model: the first error of each field in ``names``,
    and the errors that belong to no field (each message through ``scrub``, which hides secrets
    a validator may echo). Both empty: valid."""
    errors: dict[str, str] = {}
    general: list[str] = []
    try:
        model.model_validate(values)
    except ValidationError as exc:
        for error in exc.errors(include_url=False, include_input=False, include_context=False):
            loc = error.get("loc") or ()
            message = scrub(error_message(error))
            if loc and str(loc[0]) in names:
                errors.setdefault(str(loc[0]), message)
            else:
                general.append(message)
    except Exception as exc:  # noqa: BLE001 - a template's own validator raised
        general.append(scrub(f"{type(exc).__name__}: {exc}"))
    return errors, general
