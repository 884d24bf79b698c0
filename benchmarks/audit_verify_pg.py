"""Verifying the shared audit chain on PostgreSQL: 1,000,000 records, time and peak memory.

Run: python benchmarks/audit_verify_pg.py [--records 1000000] [--first 100000]

Starts a throw-away PostgreSQL (``tests/pg.py``), writes a chain of ``--first`` records by the fast
bulk path (each record chained and hashed exactly as :meth:`PostgresAudit.append` does, then
``COPY``), and runs ``idp_tui``'s verify of the whole store in a fresh process: its time and its
peak memory above what the process held before it began. Then the chain is extended to
``--records`` records and verified again the same way. Verify reads the store in batches by its
key and keeps only the head and the actions not yet finished, so the peak memory must not grow
with the number of records: the second peak over the first is the measure (goal ≤ 1.25×).

The records are an action's ``started`` and ``finished`` pair, as the action manager writes them
(about 600 bytes each).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Any

from _common import ROOT, child_env, emit, measure, postgres_database, postgres_missing

#: Verifies the store at argv[1] in a process of its own; prints its figures as JSON.
CHILD = """
import json, sys, time
sys.path.insert(0, sys.argv[2])
from _common import vm_hwm_mib, vm_rss_mib
from idp_tui.store.postgres import PostgresAudit, PostgresStore
audit = PostgresAudit(PostgresStore(sys.argv[1]))
audit.store.head()  # connected, schema checked: what the process holds before verifying
before = vm_rss_mib()
began = time.perf_counter()
result = audit.verify()
seconds = time.perf_counter() - began
print(json.dumps({"ok": result.ok, "records": result.records, "problem": result.problem,
                  "unfinished": len(result.unfinished), "seconds": seconds,
                  "before_mib": before, "peak_mib": vm_hwm_mib()}))
audit.close()
"""


def _record(n: int) -> dict[str, Any]:
    """The ``n``-th record: action ``n // 2``'s start, or its end."""
    action = n // 2
    out: dict[str, Any] = {
        "action_id": f"a{action:08d}", "time": f"2026-12-01T{action // 3600 % 24:02d}:"
                                             f"{action // 60 % 60:02d}:{action % 60:02d}+00:00",
        "phase": "started" if n % 2 == 0 else "finished", "actor": f"user{action % 50}",
        "action": "deploy", "source": "github", "service": f"service-{action % 400}",
        "environment": ("dev", "staging", "production")[action % 3], "version": f"1.{action % 97}.0",
        "replicas": None, "template": None, "run_id": None, "params": {},
        "reason": "benchmark", "confirmed": {"github": f"login{action % 50}"},
        "decision": {"allowed": True, "message": "allowed", "rule": "default"}}
    if n % 2:
        out.update(outcome="succeeded", error=None, previous_version="1.0.0",
                   target_version=out["version"])
    return out


def _extend(dsn: str, upto: int) -> float:
    """Chain records onto the store's head until it holds ``upto`` (bulk: COPY); seconds."""
    import psycopg

    from idp_tui.auditchain import Head, canonical, chained

    began = time.perf_counter()
    with psycopg.connect(dsn) as conn:
        seq, digest = conn.execute("SELECT seq, hash FROM idp_audit_head").fetchone()
        head = Head(int(seq), str(digest), 0)
        with conn.cursor() as cur, cur.copy(
                "COPY idp_audit (seq, prev, hash, action_id, phase, actor, time, record) "
                "FROM STDIN") as copy:
            for n in range(head.seq, upto):
                full = chained(_record(n), head)
                copy.write_row((full["seq"], full["prev"], full["hash"], full["action_id"],
                                full["phase"], full["actor"], full["time"],
                                canonical(full).decode()))
                head = Head(full["seq"], full["hash"], 0)
        conn.execute("UPDATE idp_audit_head SET seq = %s, hash = %s", (head.seq, head.hash))
        conn.commit()
    return time.perf_counter() - began


def _verify(dsn: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", CHILD, dsn, str(ROOT / "benchmarks")],
                          capture_output=True, text=True, env=child_env(), timeout=3600,
                          check=False)
    if done.returncode != 0:
        raise SystemExit(f"verify failed: {done.stderr.strip()}")
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if not out["ok"]:
        raise SystemExit(f"the chain did not verify: {out['problem']}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--first", type=int, default=100_000)
    args = parser.parse_args()
    if postgres_missing():
        return
    with postgres_database() as dsn:
        runs = []
        for size in (args.first, args.records):
            wrote = _extend(dsn, size)
            result = _verify(dsn)
            assert result["records"] == size and result["unfinished"] == 0, result
            result["grew"] = result["peak_mib"] - result["before_mib"]
            print(f"{size:>9,} records: written in {wrote:6.1f} s (bulk), verified in "
                  f"{result['seconds']:6.1f} s ({size / result['seconds']:,.0f} records/s), "
                  f"peak memory {result['peak_mib']:.1f} MiB "
                  f"({result['grew']:+.1f} MiB over the {result['before_mib']:.1f} MiB before)")
            runs.append(result)
    small, large = runs
    ratio = large["peak_mib"] / small["peak_mib"]
    print(f"peak memory at {args.records:,} over {args.first:,} records: {ratio:.2f}× "
          f"(goal ≤ 1.25×: it does not grow with the records)")
    emit([measure(f"audit on PostgreSQL: verify {args.records:,} records", large["seconds"], "s"),
          measure(f"audit on PostgreSQL: verify's peak memory, {args.records:,} records",
                  large["peak_mib"], "MiB", baseline=small["peak_mib"],
                  baseline_name=f"{args.first:,} records", ratio=ratio, goal="≤ 1.25×",
                  passed=ratio <= 1.25)])


if __name__ == "__main__":
    main()
