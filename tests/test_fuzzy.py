"""The `/` filter's matching and ranking."""

from __future__ import annotations

from idp_tui.fuzzy import FIELD_SEP, fuzzy_filter

NAMES = ["payments-api", "order-service", "api-gateway", "search-api", "ledger-service",
         "pricing-engine"]


def by_name(query: str, names: list[str] = NAMES) -> list[str]:
    return fuzzy_filter(query, names, lambda n: n)


def test_empty_query_keeps_everything_in_order() -> None:
    assert by_name("") == NAMES
    assert by_name("   ") == NAMES


def test_substring_of_the_name_ranks_first_then_earliest_then_shortest() -> None:
    assert by_name("api") == ["api-gateway", "search-api", "payments-api"]


def test_scattered_characters_in_order_match() -> None:
    assert by_name("pyapi") == ["payments-api"]
    assert by_name("ldsv") == ["ledger-service"]
    assert by_name("zzz") == []


def test_case_and_spaces_in_the_query_are_ignored() -> None:
    assert by_name("Order Serv") == ["order-service"]


def test_a_scattered_match_stays_inside_one_field() -> None:
    items = [("billing", "team-payments", "production"), ("order-service", "team-checkout")]
    # o(team-checkOut) r(pRoduction) ... would match across fields of the first item if joined.
    found = fuzzy_filter("order", items, lambda fields: fields, lambda fields: fields[0])
    assert found == [("order-service", "team-checkout")]
    # Within one field it still matches scattered characters.
    assert fuzzy_filter("tmchk", items, lambda f: f) == [("order-service", "team-checkout")]


def test_other_fields_match_after_the_name() -> None:
    items = [("search-api", "team-search"), ("searcher", "team-x"), ("payments", "team-search")]
    found = fuzzy_filter("search", items, lambda f: f, lambda f: f[0])
    # Name matches first (same position: the shorter name first), then other fields.
    assert found == [("searcher", "team-x"), ("search-api", "team-search"),
                     ("payments", "team-search")]


def test_a_field_holding_the_separator_cannot_join_fields() -> None:
    items = [(f"ab{FIELD_SEP}", "cd")]
    assert fuzzy_filter("abcd", items, lambda f: f) == []


def test_regex_characters_in_the_query_are_literal() -> None:
    names = ["a.b", "axb", "c(d", "[x]"]
    assert by_name("a.b", names) == ["a.b"]
    assert by_name("c(d", names) == ["c(d"]
    assert by_name("[x]", names) == ["[x]"]


def test_ten_thousand_items_filter() -> None:
    names = [f"service-{i:05d}-{'abcdefghij'[i % 10]}" for i in range(10_000)]
    found = by_name("99j", names)
    assert found[0] == "service-00099-j"
    assert all("9" in n and n.endswith("j") for n in found)


def test_an_index_answers_as_fuzzy_filter_while_a_query_is_typed_and_erased() -> None:
    import random

    from idp_tui.fuzzy import FuzzyIndex

    rnd = random.Random(7)
    words = ["pay", "payments", "api", "order", "service", "search", "settle", "team-a", "go",
             "rust", "Ω", "x\x1fy", "s e"]
    items = [(f"{rnd.choice(words)}-{rnd.choice(words)}-{i}", rnd.choice(words), rnd.choice(words))
             for i in range(400)]

    def key(item: tuple[str, str, str]) -> tuple[str, ...]:
        return item

    index = FuzzyIndex(items, key, lambda item: item[0])
    for target in ["settlements-api", "pay api", "ORDER", "sea", "xyz", "Ω-1", "s e"]:
        typed = ""
        for char in target + "\b\b" + target[-2:]:
            typed = typed[:-1] if char == "\b" else typed + char
            assert index.filter(typed) == fuzzy_filter(typed, items, key, lambda item: item[0]), \
                typed
    assert index.filter("") == items
