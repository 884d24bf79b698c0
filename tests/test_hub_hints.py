"""Hints: a source's own hint is shown as it wrote it, never doubled; the hub's hint for a plugin's
unexpected error names the log file."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest

from idp_tui import ActionKind, ActionRequest, SourceError, SourceNotFound, VersionOption
from idp_tui.hub import classify, log_file


def test_a_sources_own_hint_is_kept_alone() -> None:
    failure = classify("gh", SourceError("deploy cart: no version given",
                                         hint="Pick one of the versions built by succeeded runs."))
    assert failure.hint == "Pick one of the versions built by succeeded runs."
    # Without one, the hub's hint for the class.
    assert "credentials" in classify("gh", type("Refused", (SourceError,), {
        "error_class": "auth"})("401")).hint


def test_a_plugin_error_hint_gives_the_log_files_path(tmp_path: Path) -> None:
    # (Another test in this process may have set up the command line's log file: put it aside.)
    loggers = [logging.getLogger(name) for name in ("", "idp_tui", "idp_tui.hub")]
    aside = [(lg, h) for lg in loggers for h in lg.handlers if isinstance(h, logging.FileHandler)]
    for lg, h in aside:
        lg.removeHandler(h)
    handler = logging.FileHandler(tmp_path / "idp-tui.log", encoding="utf-8")
    root = logging.getLogger()
    try:
        assert classify("s", RuntimeError("boom")).hint.endswith("idp-tui.log in the data dir")
        root.addHandler(handler)
        where = str(tmp_path / "idp-tui.log")
        assert log_file() == where
        hint = classify("s", RuntimeError("boom")).hint
        assert hint == f"The source plugin raised an unexpected error; see the log file for " \
                       f"details: {where}"
    finally:
        root.removeHandler(handler)
        handler.close()
        for lg, h in aside:
            lg.addHandler(h)


@pytest.mark.parametrize(("hint", "expected"), [
    # The example plugin lists the versions itself: said once.
    ("Versions built: 1.2.0, 1.1.0.", "Versions built: 1.2.0, 1.1.0."),
    # The sandbox says where versions come from: the offered ones are added once.
    ("Deployable versions are built by succeeded release runs.",
     "Deployable versions are built by succeeded release runs. Versions offered, newest first: "
     "1.2.0, 1.1.0 (`idp-tui versions`)."),
    (None, "Versions offered, newest first: 1.2.0, 1.1.0 (`idp-tui versions`)."),
])
def test_a_deploy_of_an_unknown_version_lists_the_versions_once(hint: str | None,
                                                                expected: str) -> None:
    from idp_tui.cli.act import _failure_cli_error, _with_versions

    async def versions(service: str, environment: str) -> list[VersionOption]:
        return [VersionOption(version="1.2.0"), VersionOption(version="1.1.0")]

    manager = SimpleNamespace(versions=versions)
    request = ActionRequest(id="a1", kind=ActionKind.DEPLOY, service="cart",
                            environment="staging", version="9.9.9")
    error = _failure_cli_error(classify("src", SourceNotFound("no build of cart 9.9.9",
                                                              hint=hint)))
    error = asyncio.run(_with_versions(manager, request, error))  # type: ignore[arg-type]
    assert error.hint == expected
