"""10,000 catalog entities from catalog-info.yaml files: load time and the Catalog pane's filter.

Run: python benchmarks/catalog_files_scale.py [--entities 10000] [--per-file 10] [--query pay-04]

The entities are Components (owner, system, lifecycle, tags, annotations, links, dependencies and
APIs, as real catalog files have them) spread over ``entities / per-file`` files in a checkout-like
tree (``repo-NNNN/catalog-info.yaml``, several documents per file), plus one Group per team.

* ``source load``: a fresh ``catalog-files`` source reading every file and answering
  ``services()``, best of 3. Baseline: PyYAML parsing the same files into plain dicts with the
  fastest loader it has (``yaml.load_all`` with libyaml's ``CSafeLoader``), best of 3: the floor
  of reading them.
* ``pane load``: the real dashboard (headless, 160×50) configured with only that source, from
  starting the app until the first frame with every entity a row of the Catalog table. Baseline:
  a minimal ``App`` whose ``DataTable`` (the same 6 columns) is filled from the same files parsed
  with ``CSafeLoader`` in a thread, timed the same way.
* ``filter``: typing ``--query`` into the Catalog's `/` filter one character at a time, ms per
  keystroke until the first frame showing the filtered rows (median and p95). Baseline: a
  minimal ``App`` with an ``Input`` and a ``DataTable`` refilled with a substring filter (see
  fuzzy_filter.py, whose measuring code is shared).

No pass/fail goal: the figures are reported against their baselines (the < 50 ms goal of
fuzzy_filter.py is for the filter function; key → frame in the pane is reported there too).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import PaintProbe, emit, measure, median, percentile, running
from fuzzy_filter import time_baseline_pane, type_and_time

TEAMS = 60
LIFECYCLES = ("production", "production", "production", "experimental", "deprecated")
LANGUAGES = ("go", "java", "python", "typescript", "kotlin", "rust")


def entity(i: int, count: int) -> str:
    team = f"team-{i % TEAMS:02d}"
    deps = ", ".join(f"component:default/pay-{(i * 7 + k) % count:05d}" for k in (1, 2))
    return f"""apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: pay-{i:05d}
  description: Service number {i} of the benchmark organisation, owned by {team}.
  tags: [{LANGUAGES[i % len(LANGUAGES)]}, domain-{i % 17}]
  annotations:
    backstage.io/kubernetes-id: pay-{i:05d}
    github.com/project-slug: org/pay-{i:05d}
    idp-tui.dev/language: {LANGUAGES[i % len(LANGUAGES)]}
    idp-tui.dev/tier: "{1 + i % 3}"
  links:
    - url: https://git.example.com/org/pay-{i:05d}
      title: Repository
      type: repo
spec:
  type: service
  lifecycle: {LIFECYCLES[i % len(LIFECYCLES)]}
  owner: group:default/{team}
  system: system-{i % 40}
  dependsOn: [{deps}]
  providesApis: [pay-{i:05d}-api]
  consumesApis: [api:default/pay-{(i + 1) % count:05d}-api]
"""


def generate(root: Path, count: int, per_file: int) -> list[Path]:
    files = []
    for start in range(0, count, per_file):
        folder = root / f"repo-{start // per_file:04d}"
        folder.mkdir(parents=True)
        path = folder / "catalog-info.yaml"
        docs = [entity(i, count) for i in range(start, min(start + per_file, count))]
        path.write_text("---\n".join(docs))
        files.append(path)
    groups = "---\n".join(f"apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata:\n"
                          f"  name: team-{t:02d}\nspec:\n  type: team\n  children: []\n"
                          for t in range(TEAMS))
    (root / "org").mkdir()
    (root / "org" / "catalog-info.yaml").write_text(groups)
    files.append(root / "org" / "catalog-info.yaml")
    return files


def parse_plain(files: list[Path]) -> list[dict[str, Any]]:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    out: list[dict[str, Any]] = []
    for path in files:
        out.extend(d for d in yaml.load_all(path.read_text(encoding="utf-8"), Loader=loader)
                   if isinstance(d, dict) and d.get("kind") == "Component")
    return out


async def source_load(root: Path) -> tuple[float, list[Any]]:
    from idp_tui import SourceContext
    from idp_tui_catalog_files import CatalogFilesConfig, CatalogFilesSource

    source = CatalogFilesSource(CatalogFilesConfig(paths=[str(root)], watch_interval=0),
                                SourceContext(name="files", data_dir=root.parent))
    gc.collect()
    start = time.perf_counter()
    await source.start()
    services = await source.services()
    elapsed = time.perf_counter() - start
    await source.close()
    return elapsed * 1000, services


def config_for(root: Path, data: Path) -> Any:
    from idp_tui.config import load_config

    path = data / "config.toml"
    path.write_text(f'[sources.files]\ntype = "catalog-files"\npaths = ["{root}"]\n'
                    "watch_interval = 0\n\n[hub.refresh]\ncatalog = 3600\n")
    return load_config(path, required=True)


async def pane_load_and_filter(root: Path, data: Path, count: int,
                               query: str) -> tuple[float, list[float]]:
    from idp_tui.api.clock import ManualClock
    from idp_tui.demo import DEMO_TIME
    from idp_tui.ui.app import IdpApp
    from idp_tui.ui.panes.catalog import CatalogPane
    from idp_tui.ui.vtable import VirtualTable

    app = IdpApp(config_for(root, data), data_dir=data, clock=ManualClock(DEMO_TIME))
    probe = PaintProbe(app)

    def rows() -> int:
        try:
            return app.query_one(CatalogPane).query_one(VirtualTable).row_count
        except Exception:  # noqa: BLE001 - not composed yet
            return 0

    gc.collect()
    start = time.perf_counter()
    waiter = asyncio.ensure_future(probe.wait(lambda: rows() >= count, timeout=120))
    async with running(app) as pilot:
        end = await waiter
        pane = app.query_one(CatalogPane)
        table = pane.query_one(VirtualTable)
        await pilot.press("slash")
        await pilot.pause()

        def applied(prefix: str) -> bool:
            return pane.query_text == prefix and \
                not getattr(table, "_require_update_dimensions", False)

        times = await type_and_time(app, probe, query, applied)
    return (end - start) * 1000, times


async def baseline_pane_load(files: list[Path], count: int) -> float:
    from textual.app import App, ComposeResult
    from textual.widgets import DataTable

    class LoadApp(App[None]):
        def compose(self) -> ComposeResult:
            yield DataTable(id="table", cursor_type="row")

        async def on_mount(self) -> None:
            table = self.query_one(DataTable)
            table.add_columns("Name", "Owner", "Tier", "Lifecycle", "Language", "Health")
            entities = await asyncio.to_thread(parse_plain, files)
            table.add_rows([
                (e["metadata"]["name"], e["spec"].get("owner", ""),
                 e["metadata"]["annotations"].get("idp-tui.dev/tier", ""),
                 e["spec"].get("lifecycle", ""),
                 e["metadata"]["annotations"].get("idp-tui.dev/language", ""), "unknown")
                for e in entities])

    app = LoadApp()
    probe = PaintProbe(app)

    def rows() -> int:
        try:
            return app.query_one(DataTable).row_count
        except Exception:  # noqa: BLE001
            return 0

    gc.collect()
    start = time.perf_counter()
    waiter = asyncio.ensure_future(probe.wait(lambda: rows() >= count, timeout=120))
    async with running(app):
        end = await waiter
    return (end - start) * 1000


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=10_000)
    parser.add_argument("--per-file", type=int, default=10)
    parser.add_argument("--query", default="pay-04")
    args = parser.parse_args()
    count = args.entities

    with tempfile.TemporaryDirectory(prefix="idp-bench-catalog-files-") as tmp:
        root = Path(tmp) / "checkout"
        files = generate(root, count, args.per_file)
        plain_ms = []
        for _ in range(3):
            gc.collect()
            start = time.perf_counter()
            parsed = parse_plain(files)
            plain_ms.append((time.perf_counter() - start) * 1000)
        assert len(parsed) == count
        load_ms = []
        for _ in range(3):
            elapsed, services = await source_load(root)
            load_ms.append(elapsed)
        assert len(services) == count, len(services)
        data = Path(tmp) / "data"
        data.mkdir()
        base_load = await baseline_pane_load(files, count)
        pane_load, pane_ms = await pane_load_and_filter(root, data, count, args.query)
        base_ms = await time_baseline_pane(sorted(services, key=lambda s: s.name), args.query)

    src, plain = min(load_ms), min(plain_ms)
    p_med, p_p95 = median(pane_ms), percentile(pane_ms, 95)
    b_med, b_p95 = median(base_ms), percentile(base_ms, 95)
    print(f"catalog-files: {count:,} entities in {len(files):,} files "
          f"({args.per_file} per file, and the Groups)")
    print(f"  {'PyYAML CSafeLoader, plain dicts (baseline)':46}  {plain:8.0f} ms")
    print(f"  {'catalog-files source: read, map, validate':46}  {src:8.0f} ms   "
          f"({src / plain:.2f}x)")
    print(f"  {'minimal App: parse + DataTable (baseline)':46}  {base_load:8.0f} ms")
    print(f"  {'dashboard: start until every row is drawn':46}  {pane_load:8.0f} ms   "
          f"({pane_load / base_load:.2f}x)")
    print(f"  filter {args.query!r}, key → frame: pane median {p_med:.1f} ms, p95 {p_p95:.1f} ms;"
          f" minimal Input+DataTable refill median {b_med:.1f}, p95 {b_p95:.1f} ms")
    print(f"  pane per keystroke: {', '.join(f'{t:.0f}' for t in pane_ms)}")
    emit([
        measure("catalog-files load (10k entities)", src, "ms", baseline=plain,
                baseline_name="CSafeLoader plain dicts", ratio=src / plain),
        measure("catalog-files pane load", pane_load, "ms", baseline=base_load,
                baseline_name="parse + DataTable", ratio=pane_load / base_load),
        measure("catalog-files filter keystroke p95", p_p95, "ms", baseline=b_p95,
                baseline_name="Input+DataTable refill", ratio=p_p95 / b_p95),
    ])


if __name__ == "__main__":
    asyncio.run(main())
