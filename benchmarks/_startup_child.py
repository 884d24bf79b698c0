"""Child process of startup.py: start an app headless and say when its table shows rows.

    python benchmarks/_startup_child.py idp       # the real `idp-tui` entry point (entry.main)
    python benchmarks/_startup_child.py minimal   # an App with one DataTable of 40 rows
    python benchmarks/_startup_child.py idp-session  # idp-tui until it has kept its catalog

Prints ``READY {json}`` on stdout at the first frame composed with rows in the table (and the table's
dimensions computed), then exits. Keep the imports here to the bare minimum: they count.
"""

import json
import os
import sys

SIZE = (160, 50)
#: Modules that must not be loaded by the time the catalog is on screen.
HEAVY = ("kubernetes", "httpx", "httpcore", "requests", "urllib3", "aiohttp", "grpc", "boto3",
         "botocore", "google.auth", "numpy", "pandas", "yaml", "jinja2", "cryptography",
         "idp_tui_example_source")


def install_probe(app, table_id):
    original = app._display
    done = False

    def display(screen, renderable):
        nonlocal done
        original(screen, renderable)
        if done or renderable is None:
            return
        try:
            table = app.query_one(table_id)
        except Exception:  # noqa: BLE001 - not composed yet
            return
        # (a DataTable lays its rows out when idle; the Catalog's table as it is given them)
        if table.row_count > 0 and not getattr(table, "_require_update_dimensions", False):
            done = True
            heavy = sorted(name for name in HEAVY if name in sys.modules)
            info = {"rows": table.row_count, "modules": len(sys.modules), "heavy": heavy,
                    "textual": "textual" in sys.modules}
            os.write(1, ("READY " + json.dumps(info) + "\n").encode())
            app.exit()

    app._display = display


class _AfterImport:
    """A meta-path finder that calls ``hook(module)`` once ``name`` has been imported."""

    def __init__(self, name, hook):
        self.name, self.hook = name, hook

    def find_spec(self, fullname, path, target=None):
        if fullname != self.name:
            return None
        from importlib.machinery import PathFinder

        spec = PathFinder.find_spec(fullname, path, target)
        if spec is None or spec.loader is None:
            return spec
        loader, hook = spec.loader, self.hook

        class Loader:
            def create_module(self, spec):
                return loader.create_module(spec)

            def exec_module(self, module):
                loader.exec_module(module)
                hook(module)

        spec.loader = Loader()
        return spec


def install_session_probe(app, path):
    """Quit once the dashboard has kept its catalog for the next start (``path`` exists)."""
    import time

    original = app._display
    deadline = time.monotonic() + 60

    def display(screen, renderable):
        original(screen, renderable)
        if time.monotonic() > deadline:
            app.exit()  # no READY: the parent says so
        elif os.path.exists(path) and not app._exit:
            os.write(1, b"READY {}\n")
            app.exit()

    app._display = display


def main(mode):
    if mode in ("idp", "idp-session"):
        # Patch IdpApp.run as soon as the entry point imports it (importing it here, before the
        # entry point, would take those imports out of the conditions the entry point sets up).
        def patch(module):
            run = module.IdpApp.run

            def headless_run(self, *args, **kwargs):
                if mode == "idp":
                    install_probe(self, "#catalog-table")
                else:
                    install_session_probe(self, os.path.join(os.environ["IDP_TUI_DATA_DIR"],
                                                             "catalog-view.json"))
                return run(self, headless=True, size=SIZE)

            module.IdpApp.run = headless_run

        sys.meta_path.insert(0, _AfterImport("idp_tui.ui.app", patch))
        from idp_tui import entry

        return entry.main([])

    from textual.app import App
    from textual.widgets import DataTable

    class Minimal(App):
        def compose(self):
            yield DataTable(id="table")

        def on_mount(self):
            table = self.query_one(DataTable)
            table.add_columns("Name", "Owner", "Tier", "Lifecycle", "Language", "Health")
            table.add_rows([(f"service-{i}", "team-x", "T2", "production", "go", "healthy")
                            for i in range(40)])

    app = Minimal()
    install_probe(app, "#table")
    app.run(headless=True, size=SIZE)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
