"""Child process of startup.py: start an app headless and say when its table shows rows.

    python benchmarks/_startup_child.py idp       # the real `idp-tui` entry point (cli.main)
    python benchmarks/_startup_child.py minimal   # an App with one DataTable of 40 rows

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
        if table.row_count > 0 and not table._require_update_dimensions:
            done = True
            heavy = sorted(name for name in HEAVY if name in sys.modules)
            info = {"rows": table.row_count, "modules": len(sys.modules), "heavy": heavy,
                    "textual": "textual" in sys.modules}
            os.write(1, ("READY " + json.dumps(info) + "\n").encode())
            app.exit()

    app._display = display


def main(mode):
    if mode == "idp":
        from idp_tui import cli
        from idp_tui.ui import app as ui_app

        run = ui_app.IdpApp.run

        def headless_run(self, *args, **kwargs):
            install_probe(self, "#catalog-table")
            return run(self, headless=True, size=SIZE)

        ui_app.IdpApp.run = headless_run
        return cli.main([])

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
