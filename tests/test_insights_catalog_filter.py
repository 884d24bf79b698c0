"""The Catalog's `/` filter leaves values out with ``-field:value`` (as the Pipelines filter does):
parsed and matched without Textual, completed with its sign, and in the pane on the seeded
sandbox (``-owner:`` and ``-level:`` keep every other service)."""

from __future__ import annotations

from pathlib import Path

from idp_tui.api.models import Service
from idp_tui.demo import DEMO_SIZE, demo_app, wait_settled
from idp_tui.ui.panes import catalog_levels
from idp_tui.ui.panes.catalog import CatalogPane, matches_fields, parse_filter
from idp_tui.ui.vtable import VirtualTable

from fakes import wait_until, widget_lines


def _service(name: str, owner: str, tier: int, tags: tuple[str, ...] = ()) -> Service:
    return Service(name=name, owner=owner, tier=tier, tags=tags)


def test_a_negated_word_is_keyed_with_its_sign_and_leaves_its_values_out() -> None:
    fields, text = parse_filter("-owner:Team-A tier:1 -TAG:pci -tier:t2 pay -nofield:x")
    assert fields == {"-owner": {"team-a"}, "tier": {"1"}, "-tag": {"pci"}, "-tier": {"2"}}
    assert text == "pay -nofield:x"
    a = _service("a", "team-a", 1)
    b = _service("b", "team-b", 1)
    c = _service("c", "team-b", 1, ("pci",))
    d = _service("d", "team-b", 2)
    kept = [s.name for s in (a, b, c, d) if matches_fields(s, fields)]
    assert kept == ["b"]
    # A negated field alone keeps every service without the value (also those with no value).
    only, _ = parse_filter("-tag:pci")
    assert [s.name for s in (a, b, c, d) if matches_fields(s, only)] == ["a", "b", "d"]
    # Both signs of one field: the wanted values, less the unwanted ones.
    both, _ = parse_filter("owner:team-a owner:team-b -owner:team-a")
    assert [s.name for s in (a, b, c, d) if matches_fields(s, both)] == ["b", "c", "d"]


def test_negated_levels_and_completion() -> None:
    levels = {"a": None, "b": catalog_levels.sc.parse_level("gold"),
              "c": catalog_levels.sc.parse_level("bronze")}
    services = [_service(n, "t", 1) for n in ("a", "b", "c", "uncounted")]
    fields, _ = parse_filter("-level:none -level:gold")
    assert catalog_levels.wants_levels(fields)
    kept = catalog_levels.filter_levels(services, levels, fields)
    assert [s.name for s in kept] == ["c", "uncounted"]
    fields, _ = parse_filter("level:bronze,gold -level:gold")  # "bronze,gold" is no level word
    assert [s.name for s in catalog_levels.filter_levels(services, levels, fields)] == []
    note = catalog_levels.status_note(parse_filter("-level:platinum")[0], levels, "")
    assert "no level platinum" in note.plain
    assert catalog_levels.complete("pay -lev", []) == "pay -level:"
    assert catalog_levels.complete("-level:g", []) == "-level:gold"
    assert catalog_levels.complete("-ti", []) == "-tier:"


async def test_the_catalog_leaves_an_owner_and_a_level_out(tmp_path: Path) -> None:
    app = demo_app(tmp_path / "data")
    async with app.run_test(size=DEMO_SIZE) as pilot:
        await wait_settled(app)
        pane = app.query_one(CatalogPane)
        table = pane.query_one("#catalog-table", VirtualTable)
        await wait_until(pilot, lambda: pane.levels is not None and pane.is_settled(),
                         "the levels")
        everyone = {s.name: s.owner for s in app.services}
        owner = app.services[0].owner
        await pilot.press("slash", *f"-owner:{owner}", "enter")
        await pilot.pause()
        expected = sorted(n for n, o in everyone.items() if o != owner)
        assert expected and sorted(table.keys) == expected
        status = widget_lines(app, pane.query_one("#catalog-status"))[0]
        assert f"{len(expected)} of {len(everyone)} services" in status
        # -level:WORD: every service at another level (counted as the Level column says).
        levels = pane.levels
        assert levels is not None
        words = {n: catalog_levels.level_word(levels, n) for n in everyone}
        word = max(set(words.values()), key=list(words.values()).count)
        field = pane.query_one("#catalog-filter")
        field.value = f"-level:{word}"
        await pilot.pause()
        reached = sorted(n for n, w in words.items() if w != word)
        assert reached and len(reached) < len(everyone)
        assert sorted(table.keys) == reached
        # Both: an owner left out and the services at that level left out.
        field.value = f"-owner:{owner} -level:{word}"
        await pilot.pause()
        assert sorted(table.keys) == sorted(set(reached) & set(expected))
