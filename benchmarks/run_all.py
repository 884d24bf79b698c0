"""Run every benchmark, each in a process of its own, and print a summary table.

Run: python benchmarks/run_all.py [--quiet] [--only startup,memory]

Each script prints its own report (shown unless ``--quiet``) and a last ``RESULT [...]`` line that
this script reads. The table gives, per measure: the value, the baseline measured in the same run,
their ratio, the goal and whether it is met. The exit status is 1 when a goal is missed or a script
fails, so the script can be used in CI as an advisory job (timings depend on the machine).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ["startup", "log_pipeline", "memory", "fuzzy_filter", "k8s_scale", "prometheus_catalog",
           "catalog_files_scale", "github_polling", "advisor"]
TIMEOUT = 170  # seconds per script; each is meant to finish well under two minutes


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if unit == "lines/s":
        return f"{value:,.0f} {unit}"
    if unit in ("ms", "MiB"):
        return f"{value:,.1f} {unit}"
    if unit:
        return f"{value:g} {unit}"
    return f"{value:.2f}x"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quiet", action="store_true", help="only the summary table")
    parser.add_argument("--only", default="", help="comma-separated script names")
    args = parser.parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()] or SCRIPTS

    rows: list[dict] = []
    failed: list[str] = []
    for name in names:
        started = time.perf_counter()
        try:
            proc = subprocess.run([sys.executable, str(HERE / f"{name}.py")], capture_output=True,
                                  text=True, timeout=TIMEOUT, cwd=HERE.parent)
        except subprocess.TimeoutExpired:
            failed.append(f"{name}: no result within {TIMEOUT} s")
            continue
        elapsed = time.perf_counter() - started
        lines = proc.stdout.splitlines()
        result = next((line for line in reversed(lines) if line.startswith("RESULT ")), None)
        if not args.quiet:
            print(f"=== {name} ({elapsed:.0f} s)")
            print("\n".join(line for line in lines if not line.startswith("RESULT ")))
            if proc.stderr.strip():
                tail = proc.stderr.strip().splitlines()[-5:]
                print("\n".join("  stderr: " + line for line in tail))
            print()
        if proc.returncode != 0 or result is None:
            failed.append(f"{name}: exit {proc.returncode}: {proc.stderr.strip()[-500:]}")
            continue
        for measure in json.loads(result[len("RESULT "):]):
            rows.append({**measure, "script": name, "seconds": elapsed})

    header = ("measure", "value", "baseline (same run)", "ratio", "goal", "result")
    table = [header]
    for row in rows:
        baseline = fmt(row["baseline"], row["unit"]) if row["baseline"] is not None else "-"
        if row["baseline_name"]:
            baseline = f"{baseline} ({row['baseline_name']})" if baseline != "-" \
                else row["baseline_name"]
        passed = row["passed"]
        table.append((row["name"], fmt(row["value"], row["unit"]), baseline, fmt(row["ratio"]),
                      row["goal"], "-" if passed is None else "PASS" if passed else "FAIL"))
    widths = [max(len(str(r[i])) for r in table) for i in range(len(header))]
    for i, r in enumerate(table):
        print("  ".join(str(cell).ljust(width) for cell, width in zip(r, widths, strict=True)))
        if i == 0:
            print("  ".join("-" * width for width in widths))
    for failure in failed:
        print(f"FAILED {failure}")
    missed = [row["name"] for row in rows if row["passed"] is False]
    return 1 if failed or missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
