"""Regenerate every screenshot in this folder: ``python screenshots/make.py``.

Each pane is shown on the seeded sandbox at the demo time (``idp_tui.demo``), 160×50, so the
pictures change only when the product does.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from idp_tui.demo import DEMO_SIZE, PANE_KEYS, demo_app, wait_settled

HERE = Path(__file__).resolve().parent

#: name → keys pressed after start-up.
SHOTS: dict[str, list[str]] = {
    **{pane: [key] for pane, key in PANE_KEYS.items()},
    "health": ["H"],
    "keys": ["?"],
    # The deploy modal on the selected service in production: versions, what changes, the policy.
    "deploy": ["d"],
    # The PostgreSQL template's form, filled in (the password shows as dots) and dry-run.
    "provision": ["n", "down", "down", "enter", *["tab"] * 6, *"s3cret-Passw0rd", "ctrl+t"],
}


async def shoot(name: str, keys: list[str], folder: Path) -> Path:
    app = demo_app(folder / name)
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await wait_settled(app)
        await pilot.press(*keys)
        await wait_settled(app)
        return Path(app.save_screenshot(filename=f"{name}.svg", path=str(HERE)))


async def main(names: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for name in names or SHOTS:
            path = await shoot(name, SHOTS[name], Path(tmp))
            print(path.relative_to(HERE.parent))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
