"""Start-up: wall time from process start until the catalog table shows rows, vs a minimal Textual app.

Run: python benchmarks/startup.py [--repeat 9]

Each sample is a fresh process (``benchmarks/_startup_child.py``) started headless at 160×50:

* ``idp``: the real ``idp-tui`` entry point (``idp_tui.entry.main``) with a temporary
  ``IDP_TUI_DATA_DIR`` and no user config, until the first frame composed with rows in the catalog
  table. As on a user's machine after the first run, the data dir holds the catalog the last run
  kept (``catalog-view.json``, see ``idp_tui/ui/boot.py``): the first frame draws it, and the
  config, the plugin API, the hub and the sandbox come right after;
* ``idp, nothing kept``: the same without ``catalog-view.json`` (a first run, or another config):
  config, data dir, logging, the sandbox source on its own thread, then the panes, and the first
  frame once the sandbox's catalog is there;
* ``minimal``: an ``App`` with one ``DataTable`` of 40 rows × 6 columns, until the same moment.

The time runs from just before the process is spawned until its ``READY`` line is read, so it
includes the interpreter, every import and the first frames. Byte-code is cached as for an
installed app (``PYTHONPYCACHEPREFIX`` in a temporary folder). One warm-up run of each comes
first (it also compiles the byte-code and seeds the sandbox database, as the very first start of
``idp-tui`` does — reported as "first start"), then one run until the dashboard has kept its
catalog; the samples then alternate between the apps, and the medians are compared. The goal is
judged on ``idp`` (every start after the first); ``idp, nothing kept`` is reported beside it.
The child also reports which heavy modules (kubernetes, httpx, numpy, …) were imported by then.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, emit, measure, median

CHILD = Path(__file__).resolve().parent / "_startup_child.py"
GOAL = 1.5


def run_once(mode: str, env: dict[str, str]) -> tuple[float, dict]:
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(CHILD), mode], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, cwd=ROOT)
    assert proc.stdout is not None
    ready = None
    for raw in proc.stdout:
        line = raw.decode(errors="replace")
        if line.startswith("READY "):
            ready = time.perf_counter() - start
            info = json.loads(line[6:])
            break
    try:
        _out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        _out, err = proc.communicate()
    if ready is None:
        raise RuntimeError(f"{mode} never reported READY (exit {proc.returncode}):\n"
                           f"{err.decode(errors='replace')[-3000:]}")
    return ready, info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="idp-bench-startup-") as tmp:
        env = dict(os.environ)
        env.pop("IDP_TUI_CONFIG", None)
        env.pop("IDP_TUI_CLOCK", None)
        env["IDP_TUI_DATA_DIR"] = str(Path(tmp) / "data")
        env["XDG_CONFIG_HOME"] = str(Path(tmp) / "config")  # no user config: the sandbox
        env["TEXTUAL_ANIMATIONS"] = "none"
        # Byte-code as an installed app has it: cached (in a folder of our own, so nothing is
        # written to the checkout) even where PYTHONDONTWRITEBYTECODE is set.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")

        cold_idp, _ = run_once("idp", env)
        cold_min, _ = run_once("minimal", env)
        kept = Path(env["IDP_TUI_DATA_DIR"]) / "catalog-view.json"
        run_once("idp-session", env)
        if not kept.exists():
            raise RuntimeError("idp-tui kept no catalog for the next start")
        saved = kept.read_bytes()
        times: dict[str, list[float]] = {"idp": [], "minimal": [], "idp-nothing-kept": []}
        infos: dict[str, dict] = {}
        for _ in range(args.repeat):
            for mode in ("minimal", "idp", "idp-nothing-kept"):
                if mode == "idp-nothing-kept":
                    kept.unlink(missing_ok=True)
                elif mode == "idp":
                    kept.write_bytes(saved)  # (a run may rewrite it)
                elapsed, info = run_once("idp" if mode.startswith("idp") else mode, env)
                times[mode].append(elapsed)
                infos[mode] = info

    idp, base = median(times["idp"]), median(times["minimal"])
    ratio = idp / base
    heavy = infos["idp"]["heavy"]
    print(f"start-up to a table with rows, headless 160x50, median of {args.repeat} "
          f"(process spawn to first frame with rows)")
    print(f"  minimal Textual app (DataTable, 40 rows)  {base * 1000:7.0f} ms   "
          f"[{', '.join(f'{t * 1000:.0f}' for t in times['minimal'])}]")
    print(f"  idp-tui catalog ({infos['idp']['rows']} services)          {idp * 1000:7.0f} ms   "
          f"[{', '.join(f'{t * 1000:.0f}' for t in times['idp'])}]")
    print(f"  ratio idp-tui / minimal                   {ratio:7.2f}x   (goal <= {GOAL}x: "
          f"{'PASS' if ratio <= GOAL else 'FAIL'})")
    nothing = median(times["idp-nothing-kept"])
    print(f"  idp-tui with no catalog kept (first run)  {nothing * 1000:7.0f} ms   "
          f"[{', '.join(f'{t * 1000:.0f}' for t in times['idp-nothing-kept'])}]  "
          f"{nothing / base:.2f}x")
    print(f"  first start (compiles byte-code, seeds the sandbox): "
          f"idp-tui {cold_idp * 1000:.0f} ms, "
          f"minimal {cold_min * 1000:.0f} ms")
    print(f"  modules loaded at that moment: idp-tui {infos['idp']['modules']}, "
          f"minimal {infos['minimal']['modules']}")
    print(f"  heavy modules imported by idp-tui at start-up: {', '.join(heavy) or 'none'} "
          f"({'PASS' if not heavy else 'FAIL'})")
    emit([
        measure("start-up to catalog rows", idp * 1000, "ms", baseline=base * 1000,
                baseline_name="minimal App+DataTable", ratio=ratio, goal=f"<= {GOAL}x",
                passed=ratio <= GOAL),
        measure("start-up to catalog rows, no catalog kept", nothing * 1000, "ms",
                baseline=base * 1000, baseline_name="minimal App+DataTable",
                ratio=nothing / base),
        measure("heavy modules at start-up", len(heavy), "modules", goal="none",
                baseline_name=", ".join(heavy) or "-", passed=not heavy),
    ])


if __name__ == "__main__":
    main()
