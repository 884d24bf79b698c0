"""A real, throw-away PostgreSQL for the tests (Debian's ``postgresql`` package; ``.ci/run``
installs it).

:func:`start` makes a temporary data directory owned by the unprivileged ``postgres`` user, runs
``initdb`` (trust authentication, superuser ``idp``) and starts the server on a free port of
127.0.0.1 as that user (``runuser``). :meth:`Server.stop` stops it by PID; :meth:`Server.restart`
stops and starts it on the same port and data. :func:`missing` says why it cannot run here (the tests
skip with that sentence).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

USER = "postgres"


def _bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def missing() -> str | None:
    """Why no test server can be started here, or None."""
    if _bin() is None:
        return "PostgreSQL is not installed (apt-get install postgresql; .ci/run does)"
    try:
        pwd.getpwnam(USER)
    except KeyError:
        return f"there is no {USER!r} user to run PostgreSQL as"
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        return "starting a PostgreSQL test server needs root and runuser (it runs as postgres)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    folder: Path
    port: int

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def dsn(self, dbname: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user=idp dbname={dbname}"

    @property
    def pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _pg(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        bin_dir = _bin()
        assert bin_dir is not None
        return subprocess.run(["runuser", "-u", USER, "--", str(bin_dir / args[0]), *args[1:]],
                              capture_output=True, text=True, check=check, timeout=120,
                              cwd=self.folder)

    def begin(self) -> None:
        self._pg("pg_ctl", "-D", str(self.data), "-o",
                 f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
                 "-c fsync=off -c max_connections=100",
                 "-l", str(self.folder / "log"), "-w", "-t", "60", "start")

    def stop(self) -> None:
        """Stop the server by its PID (fast shutdown), waiting until it is gone."""
        pid = self.pid
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGINT)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self.begin()

    def create_database(self) -> str:
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


def start() -> Server:
    folder = Path(tempfile.mkdtemp(prefix="idp-pg-"))
    os.chmod(folder, 0o755)
    shutil.chown(folder, USER)
    server = Server(folder, _free_port())
    try:
        server._pg("initdb", "-D", str(server.data), "-A", "trust", "-U", "idp", "-E", "UTF8",
                   "--no-sync")
        server.begin()
    except BaseException:
        server.close()
        raise
    return server
