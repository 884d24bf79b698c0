"""Checking what a source hands over: records of the expected model, times made aware.

A source may return dicts instead of records, or anything at all; what does not fit the model is a
:class:`SourceDataError` (shown as "malformed data"), never an exception further in.
"""

from __future__ import annotations

import inspect
import types
import typing
from datetime import UTC, datetime
from functools import cache
from typing import Any, Literal, TypeVar

from pydantic import BaseModel

from ..api.errors import SourceDataError

M = TypeVar("M", bound=BaseModel)


async def checked(validate: Any, value: Any) -> Any:
    """``value`` as ``validate`` (None: as it is) answers it, awaited where that is awaitable
    (an answer checked in a thread: ``TopicSpec.off_loop``)."""
    if validate is None:
        return value
    result = validate(value)
    return await result if inspect.isawaitable(result) else result


def validate_list(value: Any, model: type[M], what: str) -> list[M]:
    """``value`` as a list of ``model`` records (dicts are validated), or SourceDataError."""
    if not isinstance(value, list | tuple):
        raise SourceDataError(f"{what}: expected a list of {model.__name__}, got {type(value).__name__}")
    return [validate_one(item, model, what) for item in value]


def validate_one(value: Any, model: type[M], what: str) -> M:
    """``value`` as one ``model`` record (a dict is validated), or SourceDataError."""
    if isinstance(value, model):
        return aware(value)
    if isinstance(value, dict):
        return aware(model.model_validate(value))
    raise SourceDataError(f"{what}: expected {model.__name__}, got {type(value).__name__}")


def aware(record: M) -> M:
    """``record`` with every naive datetime in it (nested records too) taken as UTC.

    Sources may hand over naive datetimes, which cannot be compared with or subtracted from the
    aware ones of other sources and of the clock: one such source would break sorting the merged
    pipeline runs of every source, and durations in the panes.
    """
    return _fixer(type(record))(record)


def _same(record: M) -> M:
    return record


@cache
def _fixer(model: type[BaseModel]) -> Any:
    """:func:`aware` for records of ``model``: looks only at its :func:`dated_fields` (made once
    per model; a year of delivery history is many records of one model, each looked at once)."""
    fields = dated_fields(model)
    if not fields:
        return _same

    def fix(record: M) -> M:
        update: dict[str, Any] | None = None
        for name in fields:
            value = getattr(record, name)
            if isinstance(value, datetime):
                if value.tzinfo is None or value.utcoffset() is None:
                    if update is None:
                        update = {}
                    update[name] = value.replace(tzinfo=UTC)
            elif isinstance(value, tuple) and value and isinstance(value[0], BaseModel):
                items = _aware_items(value)
                if items is not value:
                    if update is None:
                        update = {}
                    update[name] = items
        return record.model_copy(update=update) if update else record

    return fix


def _aware_items(items: tuple[Any, ...]) -> tuple[Any, ...]:
    """:func:`aware` of each record of ``items``; ``items`` itself when none changed."""
    changed: list[Any] | None = None
    kind: type | None = None
    fix = _same
    for index, item in enumerate(items):
        if type(item) is not kind:  # (records of one model, mostly: its fixer looked up once)
            kind = type(item)
            fix = _fixer(kind) if isinstance(item, BaseModel) else _same
        new = fix(item)
        if new is not item and changed is None:
            changed = list(items[:index])
        if changed is not None:
            changed.append(new)
    return items if changed is None else tuple(changed)


@cache
def dated_fields(model: type[BaseModel]) -> tuple[str, ...]:
    """The fields of ``model`` that can hold a datetime, directly or in the records they hold
    (a deployment's ``updated_at``; a run's jobs): the only ones :func:`aware` looks at."""
    return tuple(name for name, field in model.model_fields.items()
                 if _may_hold_time(field.annotation, (model,)))


def _may_hold_time(annotation: Any, seen: tuple[type, ...]) -> bool:
    if annotation is None or annotation is type(None) or annotation is Ellipsis:
        return False
    if isinstance(annotation, type) and not isinstance(annotation, types.GenericAlias):
        if issubclass(annotation, datetime):
            return True
        if issubclass(annotation, BaseModel):
            return annotation not in seen and any(
                _may_hold_time(f.annotation, (*seen, annotation))
                for f in annotation.model_fields.values())
        if annotation in (object,):
            return True
        # str, int, an enum, a dict or list of them: a tuple of records is a generic alias.
        return annotation in (tuple, list, dict, set, frozenset)
    if typing.get_origin(annotation) is Literal:
        return False
    args = typing.get_args(annotation)
    if not args:
        return True  # Any, a forward reference, a type variable: looked at
    return any(_may_hold_time(arg, seen) for arg in args)


# The names the hub's tests and older code use.
_validate_list = validate_list
_validate_one = validate_one
_aware = aware
_dated_fields = dated_fields
