"""``idp-tui extend ENV --by DURATION`` and ``idp-tui delete-env ENV``, run as the real command
in a child process on a sandbox with a preview environment made by ``idp-tui provision``."""

from __future__ import annotations

import json

from idp_tui.cli.output import EXIT_DENIED, EXIT_NOT_FOUND, EXIT_OK, EXIT_USAGE

from test_cli_dora import Run, run  # noqa: F401 - the sandbox CLI fixture (actions at speed)


def _expiry(run: Run, name: str) -> str | None:
    result = run("envs", "--json")
    assert result.returncode == EXIT_OK, result.stderr
    data = json.loads(result.stdout)
    envs = data["environments"] if isinstance(data, dict) else data
    for env in envs:
        if env["name"] == name:
            return env["expires_at"]
    return None


def test_extend_and_delete_a_preview_from_the_command_line(run: Run) -> None:
    made = run("provision", "preview-environment", "--param", "name=pr-42",
               "--param", "services=cart-service", "--param", "ttl_hours=4")
    assert made.returncode == EXIT_OK, made.stderr
    assert _expiry(run, "pr-42", ).startswith("2026-11-25T18:00")
    extended = run("extend", "pr-42", "--by", "2d")
    assert extended.returncode == EXIT_OK, extended.stderr
    assert "extend pr-42 by 2d" in extended.stdout
    assert _expiry(run, "pr-42").startswith("2026-11-27T18:00")
    # bad durations and environments are said clearly, before anything is audited
    for bad in ("0h", "forever", "90d"):
        result = run("extend", "pr-42", "--by", bad)
        assert result.returncode == EXIT_USAGE and "duration" in result.stderr, result.stderr
    assert run("extend", "staging", "--by", "1d").returncode == EXIT_USAGE
    assert run("extend", "nowhere", "--by", "1d").returncode == EXIT_NOT_FOUND
    # deleting cannot be undone: the name confirmed (--yes) and a reason
    refused = run("delete-env", "pr-42")
    assert refused.returncode == EXIT_DENIED and "cannot be undone" in refused.stderr
    assert _expiry(run, "pr-42") is not None
    deleted = run("delete-env", "pr-42", "--yes", "--reason", "merged")
    assert deleted.returncode == EXIT_OK, deleted.stderr
    assert _expiry(run, "pr-42") is None
    audit = run("audit", "--json")
    assert audit.returncode == EXIT_OK
    assert '"delete_environment"' in audit.stdout and '"extend"' in audit.stdout
