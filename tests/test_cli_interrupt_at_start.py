"""Ctrl-C on the command line while an action's start is being recorded: the action ends as
cancelled before it started, and the command still prints how it ended (with ``--json``, its
result line) — not nothing."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import pytest

from idp_tui import ActionKind, ActionRequest, ActionState
from idp_tui.api.clock import ManualClock
from idp_tui.cli import act
from idp_tui.cli.output import Output
from idp_tui.runtime import AUDIT_FILE, build_runtime

from fakes_actions import acting_config


async def test_ctrl_c_while_the_start_is_written_prints_the_cancelled_result(
        tmp_path: Path, clock: ManualClock) -> None:
    rt = build_runtime(acting_config(), data_dir=tmp_path, clock=clock)
    manager = rt.actions
    written, never = asyncio.Event(), asyncio.Event()
    record_start = manager.writer.result

    async def start_then_wait(start: Any) -> Any:
        value = await record_start(start)
        written.set()
        await never.wait()  # Ctrl-C lands here
        return value

    manager.writer.result = start_then_wait  # type: ignore[method-assign]
    out = Output(json=True, stdout=io.StringIO(), stderr=io.StringIO())
    request = ActionRequest(id="ctrl-c", kind=ActionKind.DEPLOY, service="alpha",
                            environment="staging", version="1.3.0")
    printer = act._EventPrinter(out, request.id)
    task = asyncio.ensure_future(act._submit(manager, request, printer, out))
    try:
        await asyncio.wait_for(written.wait(), 30)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        result = json.loads(out.stdout.getvalue().splitlines()[-1])
        assert (result["type"], result["state"]) == ("result", "cancelled")
        assert manager.runs[request.id].state is ActionState.CANCELLED
        assert "stopped before it started" in (result["error"] or "")
    finally:
        await rt.close()
    records = [json.loads(line) for line in (tmp_path / AUDIT_FILE).read_text().splitlines()]
    assert [(r["phase"], r.get("outcome")) for r in records] == [
        ("started", None), ("finished", "cancelled")]
