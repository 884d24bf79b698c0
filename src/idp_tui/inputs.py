"""The inputs an action declares (``ActionPlan.inputs``, a JSON Schema such as a workflow's
``on.workflow_dispatch.inputs`` become): as a pydantic model, so the dashboard's form, the command
line's ``--param`` and the hub check them alike, before anything is sent.

Types understood: ``string``, ``number``, ``integer``, ``boolean``, and ``enum`` (a choice); a
property with ``"format": "environment"`` names an environment (:func:`environment_inputs`).
Unknown names are refused. No Textual here.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from .safetext import error_message

__all__ = ["InputError", "check_inputs", "environment_inputs", "model_for"]

_TYPES: dict[str, Any] = {"string": str, "number": float, "integer": int, "boolean": bool}


class InputError(ValueError):
    """Values that do not fit the declared inputs: one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class _Inputs(BaseModel):
    # Fields are named f0, f1…, each aliased by its input's name ("dry-run" is a fine input name).
    model_config = ConfigDict(extra="forbid", strict=False, populate_by_name=False)


def model_for(schema: dict[str, Any], name: str = "inputs") -> type[BaseModel]:
    """A model with one field per property of ``schema`` (required where the schema says so,
    else its default or None)."""
    properties = schema.get("properties") if isinstance(schema, dict) else None
    required = set(schema.get("required") or ()) if isinstance(schema, dict) else set()
    fields: dict[str, Any] = {}
    for index, (key, prop) in enumerate((properties or {}).items()):
        if not isinstance(prop, dict):
            continue
        options = prop.get("enum")
        if isinstance(options, list) and options:
            kind: Any = Literal[tuple(options)]  # type: ignore[valid-type]
        else:
            kind = _TYPES.get(str(prop.get("type")), str)
        extra = {k: prop[k] for k in ("format",) if k in prop}
        words: dict[str, Any] = {"description": str(prop.get("description") or ""),
                                 "title": str(prop.get("title") or key),
                                 "json_schema_extra": extra or None, "alias": str(key)}
        if key in required:
            fields[f"f{index}"] = (kind, Field(**words))
        else:
            fields[f"f{index}"] = (kind | None, Field(default=prop.get("default"), **words))
    safe = "".join(c if c.isalnum() else "_" for c in name)[:60] or "inputs"
    return create_model(f"Inputs_{safe}", __base__=_Inputs, **fields)


def check_inputs(schema: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """``values`` typed by ``schema`` (only those given: the declared defaults are the source's
    to apply), or :class:`InputError` saying what is wrong with each."""
    unknown = [k for k in values if k not in (schema.get("properties") or {})]
    if unknown:
        known = ", ".join(schema.get("properties") or ()) or "none"
        raise InputError([f"no input {', '.join(repr(u) for u in unknown)} (inputs: {known})"])
    try:
        validated = model_for(schema).model_validate(values)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False, include_input=False, include_context=False):
            where = ".".join(str(p) for p in error.get("loc", ())) or "inputs"
            problems.append(f"{where}: {error_message(error)}")
        raise InputError(problems) from None
    dumped = validated.model_dump(by_alias=True)
    return {k: dumped[k] for k in values}


def environment_inputs(schema: dict[str, Any]) -> list[str]:
    """The inputs of ``schema`` that name an environment (``"format": "environment"``)."""
    return [k for k, p in (schema.get("properties") or {}).items()
            if isinstance(p, dict) and p.get("format") == "environment"]
