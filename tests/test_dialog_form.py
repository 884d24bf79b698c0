"""The provisioning form's Textual-free logic (``idp_tui.ui.dialogs.form``): fields from a
template's JSON Schema, the label's hint, what a typed value means, the errors by field."""

from __future__ import annotations

from pydantic import SecretStr

from idp_tui.actions import TemplateEntry
from idp_tui.api.actions import Template
from idp_tui.ui.dialogs.form import MISSING, FieldSpec, check, form_fields, hint_text, parse_text

from fakes_actions import EchoParams, FullParams


def entry(params: type) -> TemplateEntry:
    return TemplateEntry("acts", Template(name="t", title="T", kind="database", params=params))


def test_fields_of_every_type_in_order_with_bounds_defaults_and_choices() -> None:
    fields = {f.name: f for f in form_fields(entry(FullParams))}
    assert list(fields) == ["name", "replicas", "ratio", "size", "tier", "public", "note",
                            "password"]
    kinds = {name: f.kind for name, f in fields.items()}
    assert kinds == {"name": "string", "replicas": "integer", "ratio": "number", "size": "enum",
                     "tier": "enum", "public": "boolean", "note": "string", "password": "secret"}
    assert fields["name"].required and not fields["note"].required
    assert (fields["replicas"].minimum, fields["replicas"].maximum, fields["replicas"].default) \
        == (1, 5, 1)
    assert fields["size"].choices == ["small", "medium", "large"]
    assert fields["tier"].choices == ["dev", "prod"] and fields["tier"].default == "dev"
    assert fields["name"].default is MISSING
    assert fields["ratio"].description == "share of traffic, 0 to 1"


def test_the_label_hint_says_the_kind_and_the_bounds() -> None:
    def spec(kind: str, minimum: float | None = None, maximum: float | None = None) -> FieldSpec:
        return FieldSpec("x", "X", "", kind, True, minimum=minimum, maximum=maximum)

    assert hint_text(spec("integer", 1, 5)) == "whole number, 1–5"
    assert hint_text(spec("number", 0)) == "number, ≥ 0"
    assert hint_text(spec("number", None, 0.5)) == "number, ≤ 0.5"
    assert hint_text(spec("secret")) == "secret, hidden"
    assert hint_text(spec("string")) == "" and hint_text(spec("boolean")) == ""


def test_a_typed_value_as_the_model_gets_it() -> None:
    def spec(kind: str) -> FieldSpec:
        return FieldSpec("x", "X", "", kind, True)

    assert parse_text(spec("integer"), " 3 ") == 3
    assert parse_text(spec("integer"), "3.5") == "3.5"  # the model says what is wrong
    assert parse_text(spec("number"), "0.25") == 0.25
    assert parse_text(spec("string"), "  db-one ") == "db-one"
    assert parse_text(spec("secret"), " with spaces ") == " with spaces "
    assert parse_text(spec("string"), "   ") is MISSING
    assert parse_text(spec("secret"), "") is MISSING


def test_errors_by_field_and_the_rest_with_secrets_scrubbed() -> None:
    names = [f.name for f in form_fields(entry(FullParams))]
    errors, general = check(FullParams, {"name": "A!", "replicas": 9, "password": "short"}, names)
    assert set(errors) == {"name", "replicas", "password"} and general == []
    assert "less than or equal to 5" in errors["replicas"]
    assert check(FullParams, {"name": "db-one", "password": SecretStr("long-enough")}, names) \
        == ({}, [])
    # An error that names no field of the form is kept apart; a validator that echoes the secret
    # is scrubbed.
    errors, general = check(FullParams, {"password": "long-enough"}, ["password"])
    assert errors == {} and general == ["Field required"]
    errors, general = check(EchoParams, {"token": "s3cret-token"}, ["token"],
                            lambda m: m.replace("s3cret-token", "***"))
    assert errors == {"token": "token *** is revoked"}  # (without pydantic's "Value error, ")
