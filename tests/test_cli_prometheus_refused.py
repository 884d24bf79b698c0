"""``idp-tui metrics`` with two queries Prometheus refuses: both are said (not only the first), the
other signals are printed with their numbers, and the command exits with the code of a partial
answer. Against the real Prometheus of tests/prom.py, through the real command."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import prom
import pytest

from idp_tui.cli.output import EXIT_SOURCE
from idp_tui.ui.charts import format_value

WHY = prom.available()
pytestmark = pytest.mark.skipif(WHY is not None, reason=WHY or "")
CART = prom.SHOP["cart", "staging"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[prom.Server]:
    srv = prom.Server(tmp_path_factory.mktemp("prometheus"))
    yield srv
    srv.stop()


def test_two_refused_queries_are_both_said_and_the_others_printed(tmp_path: Path,
                                                                  server: prom.Server) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[sources.prom]\ntype = "prometheus"\nurl = "{server.url}"\n'
                      '[sources.prom.queries]\ncpu = "sum(rate(nope{$selector}"\n'
                      'memory = "max((x)"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_TUI_")}
    env.update({"IDP_TUI_CLOCK": prom.END.isoformat(), "IDP_TUI_DATA_DIR": str(tmp_path / "d"),
                "IDP_TUI_CONFIG": str(config), "NO_COLOR": "1", "COLUMNS": "200"})
    result = subprocess.run([sys.executable, "-m", "idp_tui", "metrics", "cart", "--env",
                             "staging", "--window", "1h"], capture_output=True, text=True,
                            env=env, timeout=120, stdin=subprocess.DEVNULL, check=False)
    said = result.stdout + result.stderr
    assert "Traceback" not in said
    assert result.returncode == EXIT_SOURCE, said
    assert "2 queries failed" in said
    assert "CPU: Prometheus refused the query (bad_data)" in said
    assert "memory: Prometheus refused the query (bad_data)" in said
    # The hints are a sentence each.
    assert ("Fix the cpu query in [sources.prom.queries]. Fix the memory query in "
            "[sources.prom.queries].") in said
    # Each signal's line says why it is empty, without its name twice.
    assert "cpu: Prometheus refused the query (bad_data)" in result.stdout
    assert "cpu: CPU:" not in result.stdout and "memory: memory:" not in result.stdout
    rate = next(line for line in result.stdout.splitlines() if line.startswith("request_rate"))
    assert format_value(CART.rate, "req/s").split()[0] in rate
