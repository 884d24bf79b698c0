"""A workflow file's ``on.workflow_dispatch.inputs`` as the JSON Schema the dashboard's form and
the hub's check read (:mod:`idp_tui.inputs`), and values as the dispatch sends them.

GitHub's input types: ``string``, ``choice`` (with ``options``), ``boolean``, ``number`` and
``environment`` (an environment of the repository); each may be ``required`` and have a
``default`` and a ``description``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import yaml

from idp_tui import SourceDataError, SourceError

#: Characters of a workflow file read at most (GitHub's contents API serves files up to 1 MB).
MAX_FILE = 1_000_000
#: Inputs GitHub accepts in one dispatch.
MAX_INPUTS = 25
_TYPES = {"string": "string", "choice": "string", "environment": "string",
          "boolean": "boolean", "number": "number"}


def file_text(body: Any, what: str) -> str:
    """The text of a contents-API answer (``{"encoding": "base64", "content": …}``)."""
    if not isinstance(body, dict) or body.get("type", "file") != "file":
        raise SourceDataError(f"{what}: not a file")
    content = body.get("content")
    if not isinstance(content, str) or body.get("encoding", "base64") != "base64":
        raise SourceDataError(f"{what}: the file's content is not given (too large?)")
    try:
        data = base64.b64decode(content.encode("ascii"), validate=False)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise SourceDataError(f"{what}: the file's content is not base64") from None
    if len(data) > MAX_FILE:
        raise SourceDataError(f"{what}: the file has more than {MAX_FILE:,} bytes")
    return data.decode("utf-8", errors="replace").lstrip("\ufeff")


def dispatch_schema(text: str, what: str) -> dict[str, Any] | None:
    """The JSON Schema of the workflow's dispatch inputs; None when it has no
    ``workflow_dispatch`` trigger."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise SourceDataError(f"{what}: not valid YAML{where}") from None
    if not isinstance(doc, dict):
        raise SourceDataError(f"{what}: not a workflow (no mapping at the top)")
    # YAML 1.1 reads a bare `on` key as the boolean true.
    triggers = doc.get("on", doc.get(True))
    if isinstance(triggers, str):
        triggers = [triggers]
    if isinstance(triggers, list):
        return _schema({}) if "workflow_dispatch" in triggers else None
    if not isinstance(triggers, dict) or "workflow_dispatch" not in triggers:
        return None
    dispatch = triggers.get("workflow_dispatch") or {}
    inputs = dispatch.get("inputs") if isinstance(dispatch, dict) else None
    if inputs is not None and not isinstance(inputs, dict):
        raise SourceDataError(f"{what}: workflow_dispatch.inputs is not a mapping")
    return _schema(inputs or {}, what)


def _schema(inputs: dict[Any, Any], what: str = "") -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, raw in inputs.items():
        spec = raw if isinstance(raw, dict) else {}
        kind = str(spec.get("type") or "string")
        if kind not in _TYPES:
            raise SourceDataError(f"{what}: input {name} has an unknown type {kind!r}")
        prop: dict[str, Any] = {"type": _TYPES[kind], "title": str(name),
                                "description": str(spec.get("description") or "")}
        if kind == "choice":
            options = spec.get("options")
            if not isinstance(options, list) or not options:
                raise SourceDataError(f"{what}: choice input {name} has no options")
            prop["enum"] = [str(o) for o in options]
        if kind == "environment":
            prop["format"] = "environment"
        default = spec.get("default")
        if default is not None:
            prop["default"] = _default(kind, default)
        properties[str(name)] = prop
        if spec.get("required") is True and default is None:
            required.append(str(name))
    return {"type": "object", "properties": properties, "required": required}


def _default(kind: str, value: Any) -> Any:
    if kind == "boolean":
        return value if isinstance(value, bool) else str(value).strip().lower() == "true"
    if kind == "number" and not isinstance(value, bool):
        try:
            return float(value)
        except (TypeError, ValueError):
            return str(value)
    return str(value)


def as_sent(schema: dict[str, Any], values: dict[str, Any]) -> dict[str, str]:
    """Checked ``values`` as the dispatch sends them: strings (``true``/``false``, ``3`` for
    3.0), each refused unless the workflow declares it and it fits its type."""
    properties = schema.get("properties") or {}
    unknown = sorted(set(values) - set(properties))
    if unknown:
        raise SourceError(f"the workflow has no input {', '.join(unknown)} (its inputs: "
                          f"{', '.join(properties) or 'none'})")
    if len(values) > MAX_INPUTS:
        raise SourceError(f"{len(values)} inputs: GitHub takes at most {MAX_INPUTS}")
    missing = [n for n in schema.get("required") or () if values.get(n) in (None, "")]
    if missing:
        raise SourceError(f"required input {', '.join(missing)} not given")
    out: dict[str, str] = {}
    for name, value in values.items():
        prop = properties[name]
        if value is None:
            continue
        if prop["type"] == "boolean":
            text = str(value).strip().lower()
            if text not in ("true", "false"):
                raise SourceError(f"input {name}: expected true or false")
            out[name] = text
        elif prop["type"] == "number":
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise SourceError(f"input {name}: expected a number") from None
            out[name] = str(int(number)) if number.is_integer() else repr(number)
        else:
            text = str(value)
            if "enum" in prop and text not in prop["enum"]:
                raise SourceError(f"input {name}: {text!r} is not one of "
                                  f"{', '.join(prop['enum'])}")
            out[name] = text
    return out
