"""Engine, sessions and the unit of work.

Services flush, they never commit: the request dependency and ``session_scope`` commit on
success and roll back on error, so a state change and the custody event that justifies it
are written together or not at all.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Engine, Select, any_, bindparam, create_engine, event
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import make_url
from sqlalchemy.orm import QueryableAttribute, Session, sessionmaker

T = TypeVar("T")


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def build_engine(url: str, *, echo: bool = False, pool_size: int = 10) -> Engine:
    """Create the engine for ``url`` with the settings each backend needs."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, echo=echo, connect_args={"check_same_thread": False, "timeout": 30}
        )
        _configure_sqlite(engine)
        return engine
    own = parsed.query.get("options", ())
    options = [own] if isinstance(own, str) else list(own)
    return create_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        # Instants come back in UTC whatever the server's default zone, so rows read past
        # SQLAlchemy's type processing (``plain_rows``) match the ORM's UTCDateTime.
        # Last, so it wins over a zone the URL's own ?options= might set.
        connect_args={"options": " ".join([*options, "-c TimeZone=UTC"])},
    )


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling defers BEGIN and never takes the write lock
    # up front; two writers can then deadlock on lock upgrade. We issue BEGIN IMMEDIATE
    # ourselves so writers queue on busy_timeout instead.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def one_of(
    session: Session, column: QueryableAttribute[T], values: Collection[T]
) -> ColumnElement[bool]:
    """``column IN (values)``; on PostgreSQL ``column = ANY(:array)``, one parameter.

    A batch looks up hundreds of codes at once: as one array the statement stays the same
    text, where an expanded IN makes the driver parse hundreds of placeholders each time.
    """
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(values)


def plain_rows(
    session: Session, statement: Select[Any], params: dict[str, Any]
) -> Sequence[Sequence[Any]]:
    """All rows of ``statement`` as plain tuples, for the hottest reads.

    On PostgreSQL the statement, compiled once, runs on the driver's own cursor: psycopg
    already gives back Python types, and SQLAlchemy's per-column processing of a 50-event
    custody chain costs more than the query. Elsewhere the usual execute. ``statement`` is
    meant to be built once (a module constant): its compiled text is kept for good.
    """
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        return connection.execute(statement, params).all()
    sql = _compiled.get(statement)
    if sql is None:
        sql = _compiled[statement] = str(statement.compile(dialect=connection.dialect))
    driver = connection.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor:
        cursor.execute(sql, params)
        rows: list[tuple[Any, ...]] = cursor.fetchall()
        return rows


_compiled: dict[Select[Any], str] = {}


def build_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False, autoflush=False)


@contextmanager
def read_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A unit of work that only reads, for the hottest lookups.

    On PostgreSQL it runs in autocommit: no BEGIN and COMMIT, two round trips fewer, but
    each statement sees its own snapshot, so a reader of two statements that must agree
    checks them against each other (``items.service.custody_chain_by_barcode``).
    """
    session = factory()
    try:
        if session.get_bind().dialect.name == "postgresql":
            session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        yield session
    finally:
        session.close()


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
