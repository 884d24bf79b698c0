"""The store: where idp-tui keeps what is shared beyond one process, chosen by ``[store]``.

``kind = "sqlite"`` (the default) keeps everything in the data dir, for one person: the audit trail
is the JSON-lines log of :mod:`idp_tui.audit`. ``kind = "postgres"`` keeps it in an organisation's
PostgreSQL database: one hash chain for everybody (:mod:`idp_tui.store.postgres`). Both schemas are
created and migrated by idp-tui (:mod:`idp_tui.store.migrations`). Nothing here imports psycopg:
the PostgreSQL driver is loaded only when that store is used.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..audit import AuditError, AuditLog, VerifyResult

AUDIT_FILE = "audit.jsonl"


class StoreError(AuditError):
    """The store cannot be used (unreachable, refused, misconfigured)."""


class SchemaTooNew(StoreError):
    """The store's schema was written by a newer idp-tui than this one."""

    exit_code = 2


class StoreConfig(BaseModel):
    """``[store]``: ``kind = "sqlite"`` (the data dir) or ``"postgres"`` with a ``dsn``; the
    password comes from ``password_env`` (an environment variable) or ``password_file``, never
    from the config text."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["sqlite", "postgres"] = "sqlite"
    #: ``postgresql://user@host:5432/db`` or ``host=… user=… dbname=…``, without a password.
    dsn: str | None = Field(default=None, max_length=2000)
    password_env: str | None = Field(default=None, max_length=200)
    password_file: str | None = Field(default=None, max_length=4000)
    #: The PostgreSQL store's connection pool: connections kept open, and the most at once.
    pool_min: int = Field(default=1, ge=0, le=100)
    pool_max: int = Field(default=4, ge=1, le=100)

    @field_validator("dsn")
    @classmethod
    def _no_password(cls, value: str | None) -> str | None:
        if value and dsn_has_password(value):
            raise ValueError("a password never goes in the config text: set password_env (an "
                             "environment variable's name) or password_file instead, got a dsn "
                             "with a password (not shown)")
        return value

    @model_validator(mode="after")
    def _check(self) -> StoreConfig:
        if self.kind == "postgres" and not self.dsn:
            raise ValueError('kind = "postgres" needs a dsn, e.g. '
                             '"postgresql://idp@db.example.org:5432/idp"')
        if self.kind == "sqlite" and (self.dsn or self.password_env or self.password_file):
            raise ValueError('dsn, password_env and password_file are for kind = "postgres"')
        if self.password_env and self.password_file:
            raise ValueError("set password_env or password_file, not both")
        if self.pool_min > self.pool_max:
            raise ValueError(f"pool_min ({self.pool_min}) is more than pool_max "
                             f"({self.pool_max})")
        return self

    def password(self) -> str | None:
        """The password, read now from the environment or the file (None: none configured)."""
        if self.password_env:
            value = os.environ.get(self.password_env)
            if value is None:
                raise StoreError(f"the store's password variable {self.password_env} is not set",
                                 hint=f"export {self.password_env}=… before starting idp-tui")
            return value
        if self.password_file:
            path = Path(self.password_file).expanduser()
            try:
                return path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise StoreError(f"cannot read the store's password file {path}: "
                                 f"{(exc.strerror or str(exc)).lower()}") from None
        return None


_URL_PASSWORD = re.compile(r"^[a-z][a-z0-9+.-]*://[^/@?#]*:[^/@?#]*@", re.IGNORECASE)
_KV_PASSWORD = re.compile(r"(^|\s)password\s*=", re.IGNORECASE)
_QUERY_PASSWORD = re.compile(r"[?&]password=", re.IGNORECASE)


def dsn_has_password(dsn: str) -> bool:
    """The DSN (URL or ``key=value`` form) names a password."""
    return bool(_URL_PASSWORD.search(dsn) or _QUERY_PASSWORD.search(dsn)
                or ("://" not in dsn and _KV_PASSWORD.search(dsn)))


class AuditTrail(Protocol):
    """What the action manager and ``idp-tui audit`` use: the JSON-lines :class:`AuditLog` or the
    store's chain."""

    #: Where the records are: the log's file, or the store's DSN (for messages).
    path: Any

    def append(self, record: dict[str, Any]) -> dict[str, Any]: ...

    def records(self) -> Iterator[dict[str, Any]]: ...

    def verify(self) -> VerifyResult: ...

    def follow_batches(self, poll: float = 0.25, stop: Callable[[], bool] | None = None
                       ) -> Iterator[list[dict[str, Any]]]: ...


def first_line(exc: BaseException) -> str:
    """The first line of ``exc``'s message (its type's name when it has none): a driver's error
    in a sentence."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def open_audit(config: StoreConfig | None, data_dir: Path) -> AuditTrail:
    """The audit trail of the configured store. Connects lazily: the first append or read does."""
    if config is None or config.kind == "sqlite":
        return AuditLog(data_dir / AUDIT_FILE)
    from .anchor import ANCHOR_FILE, StoreAnchor
    from .postgres import PostgresAudit, PostgresStore

    store = PostgresStore(config.dsn or "", config)
    return PostgresAudit(store, spool=data_dir / "audit.pending",
                         anchor=StoreAnchor(data_dir / ANCHOR_FILE, store.where))


__all__ = ["AUDIT_FILE", "AuditTrail", "SchemaTooNew", "StoreConfig", "StoreError",
           "dsn_has_password", "first_line", "open_audit"]
