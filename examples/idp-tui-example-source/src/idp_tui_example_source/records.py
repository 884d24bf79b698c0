"""Records built from the platform's JSON: every shape problem becomes a ``SourceDataError``
that says where it is (``services[3].tier: Input should be less than or equal to 3``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

from idp_tui import Record, SourceDataError

R = TypeVar("R", bound=Record)


def items(doc: dict[str, Any], key: str) -> list[tuple[int, dict[str, Any]]]:
    """The objects of the list ``doc[key]`` with their index (missing key: none)."""
    value = doc.get(key, [])
    if not isinstance(value, list):
        raise SourceDataError(f"`{key}` must be a list, got {json_type(value)}")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise SourceDataError(f"{key}[{i}]: expected an object, got {json_type(item)}")
        out.append((i, item))
    return out


def pick(item: dict[str, Any], fields: frozenset[str]) -> dict[str, Any]:
    """The keys of ``item`` that a record has (a new key on the server breaks nothing)."""
    return {k: v for k, v in item.items() if k in fields}


def build(model: type[R], data: dict[str, Any], where: str) -> R:
    """Validate one record; a bad field becomes a SourceDataError saying where it is."""
    try:
        return model.model_validate(data)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        errors = exc.errors() if hasattr(exc, "errors") else []
        if errors:
            field = ".".join(str(part) for part in errors[0].get("loc", ()))
            problem = f"{where}{'.' if field else ''}{field}: {errors[0]['msg']}"
        else:
            problem = f"{where}: {exc}"
        raise SourceDataError(problem, hint="The platform's answer does not have the shape this "
                                            "source reads; see the idp_tui_example_source "
                                            "docstring.") from exc


def utc(value: Any, where: str) -> Any:
    """An ISO 8601 string as an aware datetime (UTC when it has no offset); other values as is."""
    if not isinstance(value, str):
        return value
    try:
        when = datetime.fromisoformat(value)
    except ValueError as exc:
        raise SourceDataError(f"{where}: not an ISO 8601 time: {value!r}") from exc
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def an_object(value: Any, where: str) -> dict[str, Any]:
    """``value`` if it is a JSON object; else a SourceDataError."""
    if not isinstance(value, dict):
        raise SourceDataError(f"{where}: expected a JSON object, got {json_type(value)}")
    return value


def json_type(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(value), "a number")
