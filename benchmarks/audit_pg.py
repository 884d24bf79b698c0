"""The shared audit chain on PostgreSQL: appends per second with concurrent writers.

Run: python benchmarks/audit_pg.py [--writers 20] [--records 200]

Starts a throw-away PostgreSQL (``tests/pg.py``: Debian's package, run as the ``postgres`` user) and,
in the same run, measures two things with ``--writers`` processes each writing ``--records`` rows:

* ``chained``: :meth:`PostgresAudit.append` — one transaction per record that locks the chain's head
  row, checks the action id, chains the record (SHA-256) and moves the head;
* ``plain``: the same rows as plain ``INSERT``s, one committed transaction each, into a table with the
  same columns and no chain (what the database does with no ordering at all).

The ratio chained/plain is the cost of one unforked chain; the goal is ≥ 0.3×. Then ``verify`` of
the whole chain (time). The server runs with ``synchronous_commit`` on and ``fsync`` off for both
(the machine's disk is not what is compared).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from _common import child_env, emit, measure, postgres_database, postgres_missing

CHILD = """
import json, sys, time
import psycopg
from idp_tui.store.postgres import PostgresAudit, PostgresStore
mode, dsn, name, count, start = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
def row(i):
    return {"action_id": f"{name}-{i}", "phase": "started", "actor": name, "action": "deploy",
            "service": "cart", "environment": "production", "version": "1.2.3",
            "time": "2026-12-01T00:00:00+00:00", "params": {}, "reason": "benchmark"}
if mode == "chained":
    audit = PostgresAudit(PostgresStore(dsn))
    audit.store.connection()
else:
    conn = psycopg.connect(dsn)
while time.time() < start:
    time.sleep(0.001)
for i in range(count):
    r = row(i)
    if mode == "chained":
        audit.append(r)
    else:
        conn.execute("INSERT INTO plain (action_id, phase, actor, time, record) "
                     "VALUES (%s, %s, %s, %s, %s)",
                     (r["action_id"], r["phase"], r["actor"], r["time"], json.dumps(r)))
        conn.commit()
"""


def _run(mode: str, dsn: str, writers: int, records: int) -> float:
    """Seconds for ``writers`` processes to write ``records`` rows each (all start together)."""
    start = time.time() + 2.0 + writers * 0.1
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, mode, dsn, f"w{n}", str(records),
                               str(start)], env=child_env()) for n in range(writers)]
    for proc in procs:
        if proc.wait(timeout=1800) != 0:
            raise SystemExit(f"a {mode} writer failed")
    return time.time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=20)
    parser.add_argument("--records", type=int, default=200)
    args = parser.parse_args()
    if postgres_missing():
        return
    import psycopg

    from idp_tui.store.postgres import PostgresAudit, PostgresStore

    with postgres_database() as dsn:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE TABLE plain (id BIGSERIAL PRIMARY KEY, action_id TEXT, "
                         "phase TEXT, actor TEXT, time TEXT, record TEXT NOT NULL)")
        total = args.writers * args.records
        plain = _run("plain", dsn, args.writers, args.records)
        chained = _run("chained", dsn, args.writers, args.records)
        audit = PostgresAudit(PostgresStore(dsn))
        began = time.perf_counter()
        result = audit.verify()
        verified = time.perf_counter() - began
        assert result.ok and result.records == total, result
    plain_rate, chained_rate = total / plain, total / chained
    ratio = chained_rate / plain_rate
    print(f"{args.writers} writers × {args.records} records = {total}")
    print(f"plain INSERTs:  {plain_rate:8.0f} rows/s ({plain:.2f} s)")
    print(f"chained appends:{chained_rate:8.0f} records/s ({chained:.2f} s)")
    print(f"ratio chained/plain: {ratio:.2f}× (goal ≥ 0.3×)")
    print(f"verify {total} records: {verified:.2f} s")
    emit([measure(f"audit on PostgreSQL: appends/s, {args.writers} writers", chained_rate,
                  "records/s", baseline=plain_rate, baseline_name="plain INSERTs", ratio=ratio,
                  goal="≥ 0.3×", passed=ratio >= 0.3),
          measure(f"audit on PostgreSQL: verify {total} records", verified, "s")])


if __name__ == "__main__":
    main()
