"""The PostgreSQL server fixture of the tests that need one (``from pg_fixtures import server``):
one throw-away server (``pg.start``) per test module, skipped with :func:`pg.missing`'s sentence
where it cannot run."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import pg


@pytest.fixture(scope="module")
def server() -> Iterator[pg.Server]:
    why = pg.missing()
    if why is not None:
        pytest.skip(why)
    srv = pg.start()
    try:
        yield srv
    finally:
        srv.close()
