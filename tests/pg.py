"""A throwaway PostgreSQL server for the tests: Debian's binaries, a temporary data folder,
127.0.0.1 only, a free port, an unprivileged user, removed at the end.

``with throwaway_postgres() as url:`` yields a SQLAlchemy URL
(``postgresql+psycopg2://grader:<password>@127.0.0.1:<port>/gradebook``). PostgreSQL
refuses to run as root, so as root the server runs as the ``postgres`` user the Debian
package creates (through ``runuser``), its folder handed over to that user. A missing
PostgreSQL is an error that says how to install it, never a skip.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

INSTALL = "apt-get install -y postgresql (the tests need a real PostgreSQL server)"
SERVER_USER = "postgres"  # created by Debian's postgresql package


class PostgresMissing(RuntimeError):
    pass


def binaries() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` that has initdb and pg_ctl."""
    found = [p for p in Path("/usr/lib/postgresql").glob("*/bin")
             if (p / "initdb").is_file() and (p / "pg_ctl").is_file()]
    if not found:
        raise PostgresMissing(f"PostgreSQL is not installed: {INSTALL}")
    return max(found, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_server_user(argv: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return argv
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise PostgresMissing(f"there is no {SERVER_USER!r} user to run PostgreSQL as "
                              f"(root may not): {INSTALL}") from None
    return ["runuser", "-u", SERVER_USER, "--", *argv]


def _run(argv: list[str], **kw) -> subprocess.CompletedProcess:
    out = subprocess.run(_as_server_user(argv), capture_output=True, text=True, timeout=120,
                         **kw)
    if out.returncode != 0:
        raise RuntimeError(f"{Path(argv[0]).name} failed ({out.returncode}): "
                           f"{(out.stderr or out.stdout).strip()}")
    return out


@contextlib.contextmanager
def throwaway_postgres(database: str = "gradebook", user: str = "grader"):
    bin_dir = binaries()
    folder = Path(tempfile.mkdtemp(prefix="course-pg-"))
    data, sockets = folder / "data", folder / "sockets"
    password = secrets.token_hex(12)
    pwfile = folder / "password"
    pwfile.write_text(password + "\n")
    sockets.mkdir()
    if os.geteuid() == 0:
        server = pwd.getpwnam(SERVER_USER)
        for path in (folder, sockets, pwfile):
            os.chown(path, server.pw_uid, server.pw_gid)
    os.chmod(folder, 0o700)
    port = free_port()
    started = False
    try:
        _run([str(bin_dir / "initdb"), "-D", str(data), "-U", user, "--pwfile", str(pwfile),
              "--auth", "scram-sha-256", "-E", "UTF8", "--no-sync", "--locale", "C"])
        options = (f"-c listen_addresses=127.0.0.1 -p {port} -k {sockets} -c fsync=off "
                   "-c full_page_writes=off -c synchronous_commit=off")
        _run([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"),
              "-o", options, "-w", "-t", "60", "start"])
        started = True
        _run([str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", user,
              database], env={**os.environ, "PGPASSWORD": password})
        yield f"postgresql+psycopg2://{user}:{password}@127.0.0.1:{port}/{database}"
    finally:
        if started:
            subprocess.run(_as_server_user([str(bin_dir / "pg_ctl"), "-D", str(data), "-m",
                                            "fast", "-w", "stop"]),
                           capture_output=True, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)
