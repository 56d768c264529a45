"""Backing up and restoring the whole database: ``handoff backup FILE``, ``handoff restore FILE``.

* SQLite: the online backup API (``sqlite3.Connection.backup``) copies page by page while the
  server keeps running; the copy is a consistent snapshot and itself an SQLite database.
* PostgreSQL: ``pg_dump -Fc`` and ``pg_restore`` (the custom format, compressed), found in
  ``HANDOFF_PG_BIN``, on ``PATH`` or under ``/usr/lib/postgresql/<version>/bin``. The password
  goes to them through ``PGPASSWORD``, never on their command line.

A backup is written to ``FILE.partial`` and renamed when complete, so a file named ``FILE`` is
always a whole backup; it is readable by its owner only (it holds password hashes).

A restore refuses a database that already has tables unless ``force`` is given, and then
replaces everything in it. It checks first that the file is a backup of the database's kind
and of a Handoff database. Stop the server before restoring: on PostgreSQL a forced restore
waits for the server's connections to let go of the tables; on SQLite the server would keep
reading its old pages. A backup of an older schema is brought up to date with
``handoff db upgrade`` afterwards.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy.engine import URL, make_url

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_MAGIC = b"PGDMP"
# Tables every Handoff database has since its first migration.
REQUIRED_TABLES = ("alembic_version", "custody_events", "ledger_head", "people", "sites")
PAGES_PER_STEP = 1024

Progress = Callable[[str], None]


class BackupError(Exception):
    """Something the person running the command can fix; the message says what."""


@dataclass(frozen=True, slots=True)
class Outcome:
    path: Path
    size: int
    revision: str | None


def _kind(url: str) -> str:
    backend = make_url(url).get_backend_name()
    if backend not in {"sqlite", "postgresql"}:
        raise BackupError(f"backups are for SQLite and PostgreSQL, not {backend}")
    return backend


def file_kind(path: Path) -> str:
    """``sqlite`` or ``postgresql`` by the file's first bytes; BackupError otherwise."""
    if not path.exists():
        raise BackupError(f"no such file: {path}")
    if not path.is_file():
        raise BackupError(f"{path} is not a file")
    try:
        with path.open("rb") as handle:
            head = handle.read(len(SQLITE_MAGIC))
    except OSError as error:
        raise BackupError(f"cannot read {path}: {error.strerror}") from None
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PG_MAGIC):
        return "postgresql"
    raise BackupError(f"{path} is not a Handoff backup (neither SQLite nor a pg_dump -Fc file)")


def _describe(kind: str) -> str:
    return {"sqlite": "an SQLite database", "postgresql": "a PostgreSQL dump (pg_dump -Fc)"}[kind]


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up or restored")
    return Path(database)


def _partial(path: Path) -> Path:
    return path.with_name(path.name + ".partial")


def _prepare_destination(path: Path, force: bool) -> Path:
    if path.exists() and not force:
        raise BackupError(f"{path} exists; choose another name or pass --force to replace it")
    if not path.parent.is_dir():
        raise BackupError(f"no such directory: {path.parent}")
    partial = _partial(path)
    partial.unlink(missing_ok=True)
    return partial


def _sqlite_copy(source: sqlite3.Connection, target: sqlite3.Connection, say: Progress) -> None:
    shown = -1

    def step(_status: int, remaining: int, total: int) -> None:
        nonlocal shown
        percent = 100 * (total - remaining) // total if total else 100
        if percent // 10 != shown // 10:
            shown = percent
            say(f"{percent:3d}%  {total - remaining} of {total} pages")

    source.backup(target, pages=PAGES_PER_STEP, progress=step)


def _sqlite_tables(connection: sqlite3.Connection) -> list[str]:
    rows = connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ).fetchall()
    return sorted(str(row[0]) for row in rows)


def _sqlite_revision(connection: sqlite3.Connection) -> str | None:
    try:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError:
        return None
    return str(row[0]) if row else None


def _open_sqlite_readonly(path: Path) -> sqlite3.Connection:
    # mode=ro: never create an empty database where the caller expected one.
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


# --- PostgreSQL tools -----------------------------------------------------------------


def find_pg_tool(name: str, pg_bin: Path | None) -> Path:
    """``pg_dump`` or ``pg_restore``: in ``pg_bin`` if given, else PATH, else Debian's
    ``/usr/lib/postgresql/<newest>/bin``."""
    if pg_bin is not None:
        candidate = pg_bin / name
        if os.access(candidate, os.X_OK):
            return candidate
        raise BackupError(f"no {name} in HANDOFF_PG_BIN={pg_bin}")
    found = shutil.which(name)
    if found:
        return Path(found)
    versions = sorted(
        Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
        key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0,
    )
    if versions:
        return versions[-1]
    raise BackupError(
        f"{name} not found (PostgreSQL client tools); on Debian/Ubuntu run: "
        "sudo apt-get install -y postgresql-client, or set HANDOFF_PG_BIN to their directory"
    )


def _pg_args(url: URL) -> tuple[list[str], dict[str, str]]:
    """Connection options for the libpq tools and the environment carrying the password."""
    args = []
    host = url.host or url.query.get("host")
    if isinstance(host, str) and host:
        args += ["--host", host]
    if url.port:
        args += ["--port", str(url.port)]
    if url.username:
        args += ["--username", url.username]
    if not url.database:
        raise BackupError("the PostgreSQL URL names no database")
    args += ["--dbname", url.database]
    env = {**os.environ, "PGCONNECT_TIMEOUT": "10"}
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return args, env


def _run_tool(command: list[str], env: dict[str, str], say: Progress, what: str) -> None:
    """Run a pg tool with ``--verbose``, passing its lines on as progress."""
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    assert process.stderr is not None
    problems: list[str] = []
    for line in process.stderr:
        line = line.rstrip()
        text = re.sub(r"^(pg_dump|pg_restore): ", "", line)
        if text.startswith(("error:", "fatal:", "FATAL:", "ERROR:", "DETAIL:")):
            problems.append(text)
        elif text:
            say(text)
    if process.wait() != 0:
        reason = "; ".join(problems[:3]) or f"exit status {process.returncode}"
        raise BackupError(f"{what} failed: {reason}")


def _pg_connect(url: URL) -> psycopg.Connection:
    try:
        return psycopg.connect(
            host=url.host or None,
            port=url.port or None,
            user=url.username or None,
            password=str(url.password) if url.password else None,
            dbname=url.database,
            connect_timeout=10,
            autocommit=True,
        )
    except psycopg.OperationalError as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else "unreachable"
        raise BackupError(f"cannot use the database: {first}") from None


def _pg_tables(connection: psycopg.Connection) -> list[str]:
    rows = connection.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
    ).fetchall()
    return [str(row[0]) for row in rows]


# --- backup ---------------------------------------------------------------------------


def backup(
    url: str, path: Path, *, say: Progress, force: bool = False, pg_bin: Path | None = None
) -> Outcome:
    """Write a backup of the database at ``url`` to ``path``."""
    kind = _kind(url)
    partial = _prepare_destination(path, force)
    try:
        if kind == "sqlite":
            revision = _backup_sqlite(_sqlite_path(url), partial, say)
        else:
            revision = _backup_postgresql(make_url(url), partial, say, pg_bin)
        partial.chmod(0o600)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return Outcome(path, path.stat().st_size, revision)


def _backup_sqlite(source_path: Path, partial: Path, say: Progress) -> str | None:
    if not source_path.is_file():
        raise BackupError(f"no SQLite database at {source_path}")
    source = _open_sqlite_readonly(source_path)
    target = sqlite3.connect(partial)
    try:
        revision = _sqlite_revision(source)
        say(f"copying {source_path} (schema {revision or 'none'})")
        _sqlite_copy(source, target, say)
        # A standalone file: no WAL beside it.
        target.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.DatabaseError as error:
        raise BackupError(f"cannot read {source_path}: {error}") from None
    finally:
        target.close()
        source.close()
    return revision


def _backup_postgresql(url: URL, partial: Path, say: Progress, pg_bin: Path | None) -> str | None:
    pg_dump = find_pg_tool("pg_dump", pg_bin)
    with _pg_connect(url) as connection:
        tables = _pg_tables(connection)
        revision = None
        if "alembic_version" in tables:
            row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
            revision = str(row[0]) if row else None
    say(f"dumping {url.database} with {pg_dump} (schema {revision or 'none'})")
    args, env = _pg_args(url)
    command = [str(pg_dump), "--format=custom", "--no-owner", "--no-privileges", "--verbose"]
    _run_tool([*command, "--file", str(partial), *args], env, say, "pg_dump")
    return revision


# --- restore --------------------------------------------------------------------------


def restore(
    url: str, path: Path, *, say: Progress, force: bool = False, pg_bin: Path | None = None
) -> Outcome:
    """Restore the backup at ``path`` into the database at ``url``."""
    kind = _kind(url)
    found = file_kind(path)
    if found != kind:
        names = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
        raise BackupError(
            f"{path} is {_describe(found)}, but HANDOFF_DATABASE_URL names a {names[kind]} "
            f"database; restore it into a {names[found]} database"
        )
    if kind == "sqlite":
        revision = _restore_sqlite(path, _sqlite_path(url), say, force)
    else:
        revision = _restore_postgresql(path, make_url(url), say, force, pg_bin)
    return Outcome(path, path.stat().st_size, revision)


def _refuse_non_empty(where: str, tables: list[str], force: bool, say: Progress) -> None:
    if not tables:
        return
    if not force:
        raise BackupError(
            f"the database {where} is not empty ({len(tables)} tables); restore into a new, "
            "empty database, or pass --force to replace everything in it"
        )
    say(f"--force: replacing the {len(tables)} tables of {where}")


def _restore_sqlite(path: Path, target_path: Path, say: Progress, force: bool) -> str | None:
    source = _open_sqlite_readonly(path)
    try:
        try:
            tables = _sqlite_tables(source)
            check = source.execute("PRAGMA quick_check").fetchone()
        except sqlite3.DatabaseError as error:
            raise BackupError(f"{path} is not a usable SQLite database: {error}") from None
        missing = [name for name in REQUIRED_TABLES if name not in tables]
        if missing:
            raise BackupError(f"{path} is not a Handoff backup (no {', '.join(missing)} table)")
        if not check or check[0] != "ok":
            raise BackupError(f"{path} is damaged: {check[0] if check else 'no answer'}")
        revision = _sqlite_revision(source)
        if target_path.exists():
            existing = _open_sqlite_readonly(target_path)
            try:
                present = _sqlite_tables(existing)
            except sqlite3.DatabaseError:
                raise BackupError(f"{target_path} exists and is not an SQLite database") from None
            finally:
                existing.close()
            _refuse_non_empty(str(target_path), present, force, say)
        target_path.parent.mkdir(parents=True, exist_ok=True)
        say(f"restoring {path} (schema {revision}) into {target_path}")
        target = sqlite3.connect(target_path)
        try:
            _sqlite_copy(source, target, say)
        except sqlite3.OperationalError as error:
            raise BackupError(f"cannot write {target_path}: {error}") from None
        finally:
            target.close()
    finally:
        source.close()
    return revision


def _pg_listing(pg_restore: Path, path: Path) -> str:
    result = subprocess.run(
        [str(pg_restore), "--list", str(path)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        first = (result.stderr.strip().splitlines() or ["unreadable"])[0]
        raise BackupError(f"{path} is not a usable PostgreSQL dump: {first}")
    return result.stdout


def _restore_postgresql(
    path: Path, url: URL, say: Progress, force: bool, pg_bin: Path | None
) -> str | None:
    pg_restore = find_pg_tool("pg_restore", pg_bin)
    listing = _pg_listing(pg_restore, path)
    missing = [
        name for name in REQUIRED_TABLES if not re.search(rf" TABLE public {name} ", listing)
    ]
    if missing:
        raise BackupError(f"{path} is not a Handoff backup (no {', '.join(missing)} table)")
    with _pg_connect(url) as connection:
        present = _pg_tables(connection)
        _refuse_non_empty(f"{url.database}", present, force, say)
        if present:
            # Everything goes, so nothing of the old database survives beside the restored one.
            connection.execute("DROP SCHEMA public CASCADE")
            connection.execute("CREATE SCHEMA public")
    say(f"restoring {path} into {url.database} with {pg_restore}")
    args, env = _pg_args(url)
    command = [
        str(pg_restore),
        "--no-owner",
        "--no-privileges",
        "--exit-on-error",
        "--single-transaction",
        "--verbose",
    ]
    _run_tool([*command, *args, str(path)], env, say, "pg_restore")
    with _pg_connect(url) as connection:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    return str(row[0]) if row else None
