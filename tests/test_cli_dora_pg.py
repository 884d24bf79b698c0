"""``idp-tui dora`` on the organisation's store (issue 17's "idp-tui's own audit log is a history
source" with issue 18's ``[store] kind = "postgres"``): a deploy recorded by somebody else, on
another machine, in the shared trail counts here; this machine's data dir has no log at all. A real,
throw-away PostgreSQL (``tests/pg.py``; skipped with a sentence where it cannot run)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import pg
from pg_fixtures import server  # noqa: F401 - the fixture
from idp_tui.insights.audit_history import AUDIT_SOURCE
from idp_tui.store import StoreConfig
from test_cli_dora import CLOCK, TIMEOUT

WHY = pg.missing()
pytestmark = pytest.mark.skipif(WHY is not None, reason=WHY or "")


def test_dora_counts_the_deploys_in_the_organisations_trail(server: pg.Server,
                                                            tmp_path: Path) -> None:
    from idp_tui.store.postgres import PostgresAudit, PostgresStore

    dsn = server.create_database()
    # Somebody's deploy through idp-tui by a system no source here reads ("argo"), an hour ago.
    trail = PostgresAudit(PostgresStore(dsn, StoreConfig(kind="postgres", dsn=dsn)))
    try:
        for phase, at, more in (("started", "12:50", {}),
                                ("finished", "13:00", {"outcome": "succeeded",
                                                       "target_version": "9.9.9"})):
            trail.append({"action_id": "elsewhere-1", "phase": phase, "action": "deploy",
                          "service": "cart-service", "environment": "production",
                          "source": "argo", "actor": "ana",
                          "time": f"2026-11-25T{at}:00+00:00", **more})
    finally:
        trail.close()
    config = tmp_path / "config.toml"
    config.write_text(f'[sources.sandbox]\ntype = "sandbox"\n'
                      f'database = "{(tmp_path / "sandbox.sqlite3").as_posix()}"\n\n'
                      f'[store]\nkind = "postgres"\ndsn = "{dsn}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_TUI_")}
    env.update({"IDP_TUI_DATA_DIR": str(tmp_path / "data"), "IDP_TUI_CONFIG": str(config),
                "IDP_TUI_CLOCK": CLOCK, "NO_COLOR": "1"})
    result = subprocess.run([sys.executable, "-m", "idp_tui", "dora", "--service", "cart-service",
                             "--window", "7d", "--json"], capture_output=True, text=True,
                            env=env, timeout=TIMEOUT, check=False, stdin=subprocess.DEVNULL)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    (found,) = json.loads(result.stdout)["results"]
    evidence = found["keys"]["deployment_frequency"]["evidence"]
    assert f"{AUDIT_SOURCE}:elsewhere-1" in evidence
    assert not (tmp_path / "data" / "audit.jsonl").exists()
