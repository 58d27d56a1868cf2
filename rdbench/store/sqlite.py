"""The results database: SQLite, embedded, one row per record, safe under kill -9.

Why SQLite: it ships with Python, a crash mid-write leaves the previous committed state
(journaling), WAL mode lets a reader and a writer work at once, and ``busy_timeout`` makes two
``rdbench run`` processes on the same file wait for each other instead of failing. Each record
is committed as soon as it is measured, so a killed run loses only the images in flight.

Schema changes go through :data:`MIGRATIONS` (appended to, never edited); the database's
``PRAGMA user_version`` says how many have been applied. A database written by a newer
rdbench is refused rather than misread.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rdbench import metric_spec
from rdbench.errors import StoreError
from rdbench.store.record import (
    MEASURES,
    POINT_FIELDS,
    RECORD_FIELDS,
    STATUS_FAILED,
    STATUS_OK,
    ComplexityPoint,
    ImportedCurve,
    Record,
    parse_extra,
)

DEFAULT_DB = Path("results") / "rdbench.sqlite"
_SQLITE_HEADER = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite 3 database file

_RECORD_COLUMNS = """
    codec TEXT NOT NULL, config_hash TEXT NOT NULL, quality TEXT NOT NULL,
    dataset TEXT NOT NULL, image TEXT NOT NULL, image_hash TEXT NOT NULL,
    height INTEGER, width INTEGER, num_bytes INTEGER, bpp REAL, mse REAL, psnr REAL,
    ms_ssim REAL, ms_ssim_db REAL, encode_s REAL, decode_s REAL, peak_mem_bytes INTEGER,
    device TEXT, status TEXT NOT NULL, error TEXT,
    rdbench_version TEXT, codec_library TEXT, codec_version TEXT, git_commit TEXT,
    machine TEXT, gpu TEXT, created_at TEXT, extra TEXT
"""

#: Ordered schema migrations. Append new steps; never change a step that has shipped.
MIGRATIONS: list[str] = [
    f"""
    CREATE TABLE records (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        {_RECORD_COLUMNS},
        UNIQUE (codec, config_hash, quality, dataset, image, image_hash)
    );
    CREATE INDEX records_codec_dataset ON records (codec, dataset, quality);
    CREATE TABLE codec_configs (
        config_hash TEXT NOT NULL, codec TEXT NOT NULL, config TEXT NOT NULL,
        PRIMARY KEY (codec, config_hash)
    );
    """,
    # complexity points (rdbench.store.record.ComplexityPoint): one row per codec configuration, quality, device,
    # machine and image size; status 'ok', 'oom' (out of memory at that size) or 'failed'
    """
    CREATE TABLE complexity (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        codec TEXT NOT NULL, config_hash TEXT NOT NULL, quality TEXT NOT NULL,
        device TEXT NOT NULL, machine TEXT NOT NULL, height INTEGER NOT NULL, width INTEGER NOT NULL,
        pixels INTEGER NOT NULL, image TEXT NOT NULL, repeat INTEGER,
        encode_s REAL, decode_s REAL, forward_s REAL, peak_mem_bytes INTEGER, forward_peak_mem_bytes INTEGER,
        flops REAL, num_bytes INTEGER, bpp REAL, status TEXT NOT NULL, error TEXT,
        gpu TEXT, rdbench_version TEXT, created_at TEXT, extra TEXT,
        UNIQUE (codec, config_hash, quality, device, machine, height, width, image)
    );
    CREATE INDEX complexity_codec ON complexity (codec, device, pixels);
    """,
    # imported published curves (rdbench.store.record.ImportedCurve): one row per (name, dataset); points as
    # JSON lists, provenance = source file, its sha256, when it was imported, the file's description
    """
    CREATE TABLE imported_curves (
        name TEXT NOT NULL, dataset TEXT NOT NULL, bpp TEXT NOT NULL, psnr TEXT, ms_ssim_db TEXT,
        description TEXT, source_file TEXT NOT NULL, sha256 TEXT NOT NULL, imported_at TEXT NOT NULL,
        extra TEXT,
        PRIMARY KEY (name, dataset)
    );
    """,
    # A record's identity also names the weights a learned codec coded with and the device it ran
    # on (either changes the numbers): the records table is rebuilt with both in its unique key.
    # Existing rows keep their values; rows written before had no weights recorded ('').
    """
    ALTER TABLE records RENAME TO records_v3;
    DROP INDEX records_codec_dataset;
    CREATE TABLE records (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        codec TEXT NOT NULL, config_hash TEXT NOT NULL, quality TEXT NOT NULL,
        dataset TEXT NOT NULL, image TEXT NOT NULL, image_hash TEXT NOT NULL,
        weights TEXT NOT NULL DEFAULT '',
        height INTEGER, width INTEGER, num_bytes INTEGER, bpp REAL, mse REAL, psnr REAL,
        ms_ssim REAL, ms_ssim_db REAL, encode_s REAL, decode_s REAL, peak_mem_bytes INTEGER,
        device TEXT NOT NULL DEFAULT 'cpu', status TEXT NOT NULL, error TEXT,
        rdbench_version TEXT, codec_library TEXT, codec_version TEXT, git_commit TEXT,
        machine TEXT, gpu TEXT, created_at TEXT, extra TEXT,
        UNIQUE (codec, config_hash, quality, dataset, image, image_hash, weights, device)
    );
    INSERT INTO records (id, codec, config_hash, quality, dataset, image, image_hash, weights, height, width,
                         num_bytes, bpp, mse, psnr, ms_ssim, ms_ssim_db, encode_s, decode_s, peak_mem_bytes,
                         device, status, error, rdbench_version, codec_library, codec_version, git_commit,
                         machine, gpu, created_at, extra)
        SELECT id, codec, config_hash, quality, dataset, image, image_hash, '', height, width,
               num_bytes, bpp, mse, psnr, ms_ssim, ms_ssim_db, encode_s, decode_s, peak_mem_bytes,
               COALESCE(device, 'cpu'), status, error, rdbench_version, codec_library, codec_version, git_commit,
               machine, gpu, created_at, extra
        FROM records_v3;
    DROP TABLE records_v3;
    CREATE INDEX records_codec_dataset ON records (codec, dataset, quality)
    """,
    # Decoder MACs per pixel of a complexity point (C3's convention, rdbench.run.complexity.decoder).
    # Points stored before have none (NULL): they are not recounted, only a rerun fills them in.
    """
    ALTER TABLE complexity ADD COLUMN decoder_macs_per_px REAL
    """,
    # The content each image of a dataset has now (its SHA-256 as the last run saw it): records of an
    # image name measured on other content are stale, never part of a curve (docs/guarantees.md).
    # Filled from the newest record of each image name (SQLite returns the bare column of the MAX row).
    """
    CREATE TABLE current_images (
        dataset TEXT NOT NULL, image TEXT NOT NULL, image_hash TEXT NOT NULL, seen_at TEXT,
        PRIMARY KEY (dataset, image)
    );
    INSERT INTO current_images (dataset, image, image_hash, seen_at)
        SELECT dataset, image, image_hash, NULL FROM (
            SELECT dataset, image, image_hash, MAX(COALESCE(created_at, '') || printf('%012d', id))
            FROM records GROUP BY dataset, image)
    """,
    # Which code made a record (rdbench.codecs.code_identity) joins its identity: a changed codec gives
    # new records beside the old ones. The table is rebuilt with code in its unique key; rows stored
    # before keep code '' (made by code rdbench did not record; a run adopts them once, with a note).
    """
    ALTER TABLE records RENAME TO records_v6;
    DROP INDEX records_codec_dataset;
    CREATE TABLE records (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        codec TEXT NOT NULL, config_hash TEXT NOT NULL, quality TEXT NOT NULL,
        dataset TEXT NOT NULL, image TEXT NOT NULL, image_hash TEXT NOT NULL,
        weights TEXT NOT NULL DEFAULT '', code TEXT NOT NULL DEFAULT '',
        height INTEGER, width INTEGER, num_bytes INTEGER, bpp REAL, mse REAL, psnr REAL,
        ms_ssim REAL, ms_ssim_db REAL, encode_s REAL, decode_s REAL, peak_mem_bytes INTEGER,
        device TEXT NOT NULL DEFAULT 'cpu', status TEXT NOT NULL, error TEXT,
        rdbench_version TEXT, codec_library TEXT, codec_version TEXT, git_commit TEXT,
        machine TEXT, gpu TEXT, created_at TEXT, extra TEXT,
        UNIQUE (codec, config_hash, quality, dataset, image, image_hash, weights, device, code)
    );
    INSERT INTO records (id, codec, config_hash, quality, dataset, image, image_hash, weights, code, height, width,
                         num_bytes, bpp, mse, psnr, ms_ssim, ms_ssim_db, encode_s, decode_s, peak_mem_bytes,
                         device, status, error, rdbench_version, codec_library, codec_version, git_commit,
                         machine, gpu, created_at, extra)
        SELECT id, codec, config_hash, quality, dataset, image, image_hash, weights, '', height, width,
               num_bytes, bpp, mse, psnr, ms_ssim, ms_ssim_db, encode_s, decode_s, peak_mem_bytes,
               device, status, error, rdbench_version, codec_library, codec_version, git_commit,
               machine, gpu, created_at, extra
        FROM records_v6;
    DROP TABLE records_v6;
    CREATE INDEX records_codec_dataset ON records (codec, dataset, quality)
    """,
    # Per-image values of plug-in metrics (rdbench.metric_spec): one row per record and metric, with the
    # version of the implementation that computed it, so a new metric needs no new column. The store
    # deletes a record's values with it (delete_records; the foreign key states the relation).
    """
    CREATE TABLE metric_values (
        record_id INTEGER NOT NULL REFERENCES records (id) ON DELETE CASCADE,
        metric TEXT NOT NULL, value REAL, version TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (record_id, metric)
    );
    CREATE INDEX metric_values_metric ON metric_values (metric)
    """,
    # Rate matching (rdbench.run.rate_match): which stored record a search chose for each image and target
    # bpp, and the records on either side of the target. A table rather than a record's extra: a search
    # spans several records, one record may be chosen for several targets, and the points tried stay plain
    # records that sweeps reuse. One row per choice: codec configuration, code, weights, device, image
    # content, target and tolerance (what makes two searches differ), so a rerun at another tolerance or
    # with other checkpoints adds its choices beside the earlier ones. ``weights`` is the identity of the
    # weights the search coded with (:func:`rdbench.run.rate_match.weight_set`); ``models`` lists each
    # model's weights identity (JSON) where they differ, so NAME@WEIGHTS of one model selects the choice.
    """
    CREATE TABLE rate_targets (
        codec TEXT NOT NULL, config_hash TEXT NOT NULL, dataset TEXT NOT NULL, image TEXT NOT NULL,
        image_hash TEXT NOT NULL, device TEXT NOT NULL, code TEXT NOT NULL, weights TEXT NOT NULL,
        models TEXT, target_bpp REAL NOT NULL,
        tolerance REAL NOT NULL, control TEXT NOT NULL, status TEXT NOT NULL, reason TEXT,
        record_id INTEGER REFERENCES records (id) ON DELETE CASCADE,
        below_id INTEGER REFERENCES records (id) ON DELETE SET NULL,
        above_id INTEGER REFERENCES records (id) ON DELETE SET NULL,
        deviation REAL, tries INTEGER, created_at TEXT,
        PRIMARY KEY (codec, config_hash, code, weights, device, dataset, image, image_hash, target_bpp, tolerance)
    );
    CREATE INDEX rate_targets_record ON rate_targets (record_id)
    """,
]

#: The columns of a record's identity (the records table's unique key), in key order.
RECORD_KEY = ("codec", "config_hash", "quality", "dataset", "image", "image_hash", "weights", "device", "code")

#: Complexity columns a successful rerun fills in without erasing: a partial run (--forward-only)
#: adds its measures to the stored point and keeps the others; any other rerun replaces the point.
_POINT_MERGED = frozenset(MEASURES) | {"decoder_macs_per_px", "num_bytes", "bpp"}

#: A record is stale when its image name has another content now (table ``current_images``).
_STALE = ("EXISTS (SELECT 1 FROM current_images c WHERE c.dataset = records.dataset AND c.image = records.image "
          "AND c.image_hash != records.image_hash)")

_CURVE_COLUMNS = ("name", "dataset", "bpp", *(m.key for m in metric_spec.BUILTIN.values()), "description", "source_file", "sha256",
                  "imported_at", "extra")


def _in_list(column: str, values: Iterable[str] | None, clauses: list[str], params: list[Any]) -> None:
    """Add ``column IN (...)`` to a WHERE clause when ``values`` is given and not empty."""
    if values:
        values = list(values)
        clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
        params += values


def _enable_wal(conn: sqlite3.Connection, patience_s: float = 60.0) -> None:
    """Switch to WAL, waiting while another process holds the lock.

    Why a loop: while a second ``rdbench run`` is creating the same database, SQLite answers
    ``journal_mode`` changes with "database is locked" at once, without calling the busy
    handler, so ``busy_timeout`` alone does not make two simultaneous first runs wait.
    """
    deadline = time.monotonic() + patience_s
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class EmptyDatabaseError(StoreError):
    """A read-only open of a file that holds no results yet (empty, or being created by another run)."""


@contextmanager
def readable_or_none(path: str | Path) -> Iterator[Store | None]:
    """A read-only :class:`Store` of ``path`` when it holds results, else None: a file that does not
    exist yet, or an empty one that another ``rdbench run`` is creating at this very moment, has
    nothing to read, and the run that asked creates or fills it (two runs started together on a new
    file must both go on)."""
    if not Path(path).exists():
        yield None
        return
    try:
        store = Store(path, readonly=True)
    except EmptyDatabaseError:
        yield None
        return
    with store:
        yield store


#: What to do about a --db that is not a results database.
_DB_HINT = "pass --db with an rdbench results file, or a new file name"


def _refuse_if_not_sqlite(path: Path, exc: sqlite3.DatabaseError | None = None) -> None:
    """Raise "PATH is not an rdbench results database (not SQLite)" for a file that is not
    SQLite at all (a CSV, a text file, random bytes), checked by its 16-byte header before
    SQLite reads it, or when SQLite says so (``exc``). Without this check such a file was
    reported as a permission problem ("check that it and its folder are writable") or as a
    traceback. An empty file is a new database; an unreadable one is SQLite's to report.
    """
    if exc is not None:
        bad = getattr(exc, "sqlite_errorname", "") == "SQLITE_NOTADB" or "not a database" in str(exc)
    else:
        try:
            with open(path, "rb") as handle:
                header = handle.read(len(_SQLITE_HEADER))
        except OSError:
            return
        bad = bool(header) and header != _SQLITE_HEADER
    if bad:
        raise StoreError(f"{path} is not an rdbench results database (not SQLite); {_DB_HINT}")


def _wal_index_unavailable(exc: sqlite3.OperationalError) -> bool:
    """Whether a read-only open failed only because the WAL index (``-shm``) cannot be created
    beside the database: SQLITE_READONLY_DIRECTORY / _CANTINIT, or SQLITE_CANTOPEN (by message
    on Python 3.10, whose exceptions lack ``sqlite_errorname``)."""
    name = getattr(exc, "sqlite_errorname", "")
    return name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN")) or any(
        text in str(exc) for text in ("readonly database", "unable to open"))


class Store:
    """A connection to one results database. Use as a context manager or call :meth:`close`."""

    def __init__(self, path: str | Path = DEFAULT_DB, *, readonly: bool = False) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self._snapshot: tempfile.TemporaryDirectory | None = None  # see _open_snapshot
        _refuse_if_not_sqlite(self.path)
        if readonly:
            if not self.path.exists():
                raise StoreError(f"no results database at {self.path}; run `rdbench run ...` first or pass --db")
            self.conn = self._open_readonly()
        else:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create {self.path.parent}: {exc.strerror}; choose another --db") from exc
            self.conn = self._connect(str(self.path))
        try:
            self._refuse_if_not_rdbench()
            if not readonly:
                self._start_writing()  # only now: switching to WAL rewrites the file's header
            elif self.conn.execute("PRAGMA user_version").fetchone()[0] < len(MIGRATIONS):
                self._read_upgraded_copy()
            self._migrate()
        except BaseException:
            self.close()
            raise

    def _open_readonly(self) -> sqlite3.Connection:
        """A read-only connection that works wherever the file can be read, folder writable or not.

        WAL readers share a ``-shm`` index beside the database, which SQLite must create when
        it is absent: in a read-only folder (an archive, a shared drive) a plain read-only open
        fails with "attempt to write a readonly database" or "unable to open". No writer is
        active then (a writer keeps an index there, which a reader can use even when it may not
        write it), so the file is read as it is: directly
        (SQLite's ``immutable``) when no ``-wal`` file holds commits, else from a private copy
        of the database and its ``-wal`` (a run killed mid-way leaves its last records only in
        the ``-wal``, which ``immutable`` would silently ignore).
        """
        uri = self.path.resolve().as_uri() + "?mode=ro"
        conn = self._connect(uri, uri=True)
        try:
            conn.execute("PRAGMA user_version").fetchone()
            return conn
        except sqlite3.OperationalError as exc:
            if not _wal_index_unavailable(exc):
                return conn  # other errors ("locked") are reported by the first real query
        conn.close()
        wal = Path(f"{self.path}-wal")
        if not wal.exists() or wal.stat().st_size == 0:
            return self._connect(uri + "&immutable=1", uri=True)
        return self._open_snapshot(wal)

    def _open_snapshot(self, wal: Path) -> sqlite3.Connection:
        """A read-only connection to a copy of the database and its ``-wal`` in a private
        temporary folder (removed by :meth:`close`), where SQLite can build its index."""
        self._snapshot = tempfile.TemporaryDirectory(prefix="rdbench-read-")
        copy = Path(self._snapshot.name) / self.path.name
        try:
            shutil.copyfile(self.path, copy)
            shutil.copyfile(wal, Path(f"{copy}-wal"))
        except OSError as exc:
            self._snapshot.cleanup()
            raise StoreError(f"cannot read results database {self.path}: {exc.strerror} while copying it and its "
                             "-wal file to a temporary folder; copy them to a writable folder and pass --db") from exc
        return self._connect(copy.as_uri() + "?mode=ro", uri=True)

    def _read_upgraded_copy(self) -> None:
        """Read a database of an older schema through an upgraded copy in memory: a reading
        command must not write the file (it may lie in a read-only folder, or belong to a run
        of an older rdbench still going), yet must not refuse it either. SQLite's backup takes
        one consistent snapshot; the file is left exactly as it was."""
        copy = sqlite3.connect(":memory:", isolation_level=None)
        copy.row_factory = sqlite3.Row
        copy.execute(f"PRAGMA page_size = {int(self.conn.execute('PRAGMA page_size').fetchone()[0])}")
        try:
            self.conn.backup(copy)
        except sqlite3.DatabaseError as exc:
            copy.close()
            raise StoreError(f"cannot read results database {self.path}: {exc}") from exc
        self.conn.close()
        self.conn = copy
        self.readonly = False  # the migrations write the copy only
        try:
            self._migrate()
        finally:
            self.readonly = True

    def _connect(self, target: str, uri: bool = False) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(target, uri=uri, timeout=60.0, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout = 60000")
            return conn
        except sqlite3.DatabaseError as exc:
            raise self._open_error(exc) from exc

    def _start_writing(self) -> None:
        """WAL (a reader and a writer at once) and NORMAL sync (safe with WAL, much faster)."""
        try:
            _enable_wal(self.conn)
            self.conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.DatabaseError as exc:
            raise self._open_error(exc) from exc

    def _open_error(self, exc: sqlite3.DatabaseError) -> StoreError:
        _refuse_if_not_sqlite(self.path, exc)
        return StoreError(f"cannot open results database {self.path}: {exc}"
                          + ("" if self.readonly else "; check that it and its folder are writable "
                             "(records stored so far are intact)"))

    def _refuse_if_not_rdbench(self) -> None:
        """Refuse an SQLite file that is not a results database, instead of reading it as an old
        schema ("needs a schema upgrade") or, when writing, adding rdbench's tables to another
        program's database. Schema version 0 (no migration applied) with tables is another
        program's; with none, an empty file, which only a writing command may fill.

        Version and tables are read in one transaction: another ``rdbench run`` may be creating
        the tables of the same new file at this moment (they commit together with the version).
        """
        try:
            self.conn.execute("BEGIN")
            try:
                version = self.conn.execute("PRAGMA user_version").fetchone()[0]
                tables = [r[0] for r in self.conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
            finally:
                self.conn.execute("COMMIT")
        except sqlite3.DatabaseError:
            return  # an unreadable file: _migrate says what is wrong with it
        if version != 0:
            return
        if tables:
            raise StoreError(f"{self.path} is not an rdbench results database (an SQLite database of another "
                             f"program, with tables {', '.join(tables)}); {_DB_HINT}")
        if self.readonly:
            what = "an empty file" if self.path.stat().st_size == 0 else "an empty database"
            raise EmptyDatabaseError(f"{self.path} holds no rdbench results yet ({what}); "
                             f"`rdbench run ... --db {self.path}` fills it")

    def _migrate(self) -> None:
        try:
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            if "not a database" in str(exc) or "malformed" in str(exc):
                raise StoreError(f"{self.path} is not an rdbench results database ({exc})") from exc
            raise StoreError(f"cannot read results database {self.path}: {exc}") from exc
        if version > len(MIGRATIONS):
            raise StoreError(
                f"{self.path} has schema version {version}, newer than this rdbench understands "
                f"({len(MIGRATIONS)}); upgrade rdbench or use another --db"
            )
        if version == len(MIGRATIONS):
            return
        if self.readonly:
            raise StoreError(f"{self.path} needs a schema upgrade; open it once without read-only mode")
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]  # another process may have won
            for step in range(version, len(MIGRATIONS)):
                for statement in MIGRATIONS[step].split(";"):
                    if statement.strip():
                        self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version = {step + 1}")
            self.conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            self.conn.execute("ROLLBACK") if self.conn.in_transaction else None
            raise StoreError(f"cannot write results database {self.path}: {exc}") from exc

    # -- writing -------------------------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, committed on leaving; taken IMMEDIATE so that two processes
        writing one file wait for each other (``busy_timeout``) instead of failing mid-way."""
        try:
            with self.conn:  # BEGIN ... COMMIT, ROLLBACK on an exception
                self.conn.execute("BEGIN IMMEDIATE")
                yield self.conn
        except sqlite3.OperationalError as exc:
            raise StoreError(f"cannot write results database {self.path}: {exc} "
                             "(disk full or read-only? records stored so far are intact)") from exc

    def put(self, record: Record, config: dict[str, Any] | None = None) -> None:
        """Insert or replace one record, committed before returning."""
        row = record.to_row()
        columns = ", ".join(RECORD_FIELDS)
        placeholders = ", ".join(f":{c}" for c in RECORD_FIELDS)
        updates = ", ".join(f"{c} = excluded.{c}" for c in RECORD_FIELDS)
        with self._transaction() as conn:
            record_id = conn.execute(
                f"INSERT INTO records ({columns}) VALUES ({placeholders}) "
                f"ON CONFLICT ({', '.join(RECORD_KEY)}) "
                f"DO UPDATE SET {updates} RETURNING id",
                row,
            ).fetchone()[0]
            # the upsert keeps the row's id; its plug-in values are the new record's, none left over
            conn.execute("DELETE FROM metric_values WHERE record_id = ?", (record_id,))
            conn.executemany("INSERT INTO metric_values (record_id, metric, value, version) VALUES (?, ?, ?, ?)",
                             [(record_id, name, value, record.metric_versions.get(name, ""))
                              for name, value in sorted(record.metrics.items())])
            if config is not None:
                conn.execute(
                    "INSERT OR IGNORE INTO codec_configs (config_hash, codec, config) VALUES (?, ?, ?)",
                    (record.config_hash, record.codec, json.dumps(config, sort_keys=True, default=str)),
                )

    def add_metric_values(self, record: Record, values: dict[str, float], versions: dict[str, str]) -> int:
        """Add (or replace) plug-in values of the stored record with ``record``'s identity, keeping its
        other values and every column of its row: what ``rdbench rescore`` and a run reusing stored
        records store. Returns the number of rows written (0 when no such record is stored)."""
        key = dict(zip(RECORD_KEY, record.key))
        where = " AND ".join(f"{column} = :{column}" for column in RECORD_KEY)
        with self._transaction() as conn:
            return sum(conn.execute(
                f"INSERT INTO metric_values (record_id, metric, value, version) SELECT id, :metric, :value, :version "
                f"FROM records WHERE {where} ON CONFLICT (record_id, metric) DO UPDATE SET value = excluded.value, "
                "version = excluded.version",
                {**key, "metric": name, "value": value, "version": versions.get(name, "")}).rowcount
                for name, value in sorted(values.items()))

    def add_complexity_points(self, points: Iterable[ComplexityPoint]) -> None:
        """Insert or update complexity points in one transaction, committed before returning.

        A point with the identity of a stored one updates it: a successful rerun keeps the
        stored measures it did not take (see ``_POINT_MERGED``), an ``oom`` or ``failed`` one
        replaces them all.
        """
        columns = ", ".join(POINT_FIELDS)
        placeholders = ", ".join(f":{c}" for c in POINT_FIELDS)
        updates = ", ".join(
            f"{c} = CASE WHEN excluded.status = '{STATUS_OK}' THEN COALESCE(excluded.{c}, {c}) ELSE excluded.{c} END"
            if c in _POINT_MERGED else f"{c} = excluded.{c}" for c in POINT_FIELDS)
        with self._transaction() as conn:
            conn.executemany(
                f"INSERT INTO complexity ({columns}) VALUES ({placeholders}) ON CONFLICT "
                f"(codec, config_hash, quality, device, machine, height, width, image) DO UPDATE SET {updates}",
                [point.to_row() for point in points])

    def put_imported_curves(self, curves: Iterable[ImportedCurve]) -> None:
        """Insert or replace imported curves, all in one transaction: an import of several files
        stores all of them or none."""
        rows = [(curve.name, curve.dataset, json.dumps(curve.bpp),
                 None if curve.psnr is None else json.dumps(curve.psnr),
                 None if curve.ms_ssim_db is None else json.dumps(curve.ms_ssim_db),
                 curve.description, curve.source_file, curve.sha256, curve.imported_at, None)
                for curve in curves]
        with self._transaction() as conn:
            conn.executemany(f"INSERT OR REPLACE INTO imported_curves ({', '.join(_CURVE_COLUMNS)}) "
                             f"VALUES ({', '.join('?' * len(_CURVE_COLUMNS))})", rows)

    # -- reading -------------------------------------------------------------------------

    def statuses(self, codec: str, config_hash: str, dataset: str) -> dict[tuple[str, ...], str]:
        """(quality, image, image_hash, weights, device, code) -> status for one codec configuration on
        one dataset: the rest of a record's identity, which planning matches jobs against."""
        rows = self.conn.execute(
            "SELECT quality, image, image_hash, weights, device, code, status FROM records "
            "WHERE codec = ? AND config_hash = ? AND dataset = ?",
            (codec, config_hash, dataset),
        )
        return {(r["quality"], r["image"], r["image_hash"], r["weights"], r["device"], r["code"]): r["status"]
                for r in rows}

    def codes(self, codec: str, config_hash: str, dataset: str) -> dict[str, int]:
        """Code identity -> number of records of one codec configuration on one dataset."""
        rows = self.conn.execute("SELECT code, COUNT(*) AS n FROM records WHERE codec = ? AND config_hash = ? "
                                 "AND dataset = ? GROUP BY code", (codec, config_hash, dataset))
        return {r["code"]: r["n"] for r in rows}

    def adopt_legacy_code(self, codec: str, config_hash: str, dataset: str, code: str) -> int:
        """Give the records stored before code identities were recorded (code '') the identity
        ``code``, unless a record of that identity already exists; returns how many were adopted."""
        with self._transaction() as conn:
            return conn.execute(
                "UPDATE records SET code = ? WHERE codec = ? AND config_hash = ? AND dataset = ? AND code = '' "
                "AND NOT EXISTS (SELECT 1 FROM records o WHERE o.codec = records.codec AND "
                "o.config_hash = records.config_hash AND o.quality = records.quality AND o.dataset = records.dataset "
                "AND o.image = records.image AND o.image_hash = records.image_hash AND o.weights = records.weights "
                "AND o.device = records.device AND o.code = ?)",
                (code, codec, config_hash, dataset, code)).rowcount

    def set_current_images(self, dataset: str, hashes: dict[str, str]) -> dict[str, int]:
        """Record the content (SHA-256) each image of ``dataset`` has now, as a run found it; returns,
        per image whose content changed, how many stored records that makes stale. Records of an
        image's earlier content stay in the database (listed by ``rdbench results --stale``) but
        no curve uses them."""
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self._transaction() as conn:
            conn.executemany(
                "INSERT INTO current_images (dataset, image, image_hash, seen_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (dataset, image) DO UPDATE SET image_hash = excluded.image_hash, seen_at = excluded.seen_at",
                [(dataset, image, digest, now) for image, digest in hashes.items()])
            rows = conn.execute(
                f"SELECT image, COUNT(*) AS n FROM records WHERE dataset = ? AND {_STALE} GROUP BY image", (dataset,))
            return {r["image"]: r["n"] for r in rows}

    def current_images(self, dataset: str) -> dict[str, str]:
        """Image name -> the content (SHA-256) it had when a run last saw it, on ``dataset``."""
        rows = self.conn.execute("SELECT image, image_hash FROM current_images WHERE dataset = ?", (dataset,))
        return {r["image"]: r["image_hash"] for r in rows}

    def codec_versions(self, codec: str, config_hash: str, dataset: str) -> dict[tuple[str | None, str | None], int]:
        """(codec library, version) -> number of ``ok`` records of one configuration on one dataset."""
        rows = self.conn.execute(
            "SELECT codec_library, codec_version, COUNT(*) AS n FROM records WHERE codec = ? AND config_hash = ? "
            "AND dataset = ? AND status = ? GROUP BY codec_library, codec_version",
            (codec, config_hash, dataset, STATUS_OK),
        )
        return {(r["codec_library"], r["codec_version"]): r["n"] for r in rows}

    def records(
        self,
        *,
        codecs: Iterable[str] | None = None,
        datasets: Iterable[str] | None = None,
        status: str | None = None,
        config_hash: str | None = None,
    ) -> list[Record]:
        """Records of ``codecs`` (of one ``config_hash`` when given) on ``datasets`` with ``status``;
        all records without filters. The general form is :meth:`find_records`."""
        if config_hash and not codecs:
            raise ValueError("config_hash selects a configuration of named codecs: pass codecs too")
        selections = [{"codec": codec, "config_hash": config_hash} for codec in codecs] if codecs else None
        return self.find_records(selections=selections, datasets=datasets, status=status)

    def iter_codecs(self) -> Iterator[tuple[str, str, int]]:
        """(codec, dataset, number of ok records) for everything stored."""
        rows = self.conn.execute(
            "SELECT codec, dataset, COUNT(*) AS n FROM records WHERE status = ? GROUP BY codec, dataset ORDER BY codec, dataset",
            (STATUS_OK,),
        )
        for r in rows:
            yield r["codec"], r["dataset"], r["n"]

    def config(self, codec: str, config_hash: str) -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT config FROM codec_configs WHERE codec = ? AND config_hash = ?", (codec, config_hash)
        ).fetchone()
        return json.loads(row["config"]) if row else None

    def count(self, status: str | None = None) -> int:
        if status:
            return self.conn.execute("SELECT COUNT(*) FROM records WHERE status = ?", (status,)).fetchone()[0]
        return self.conn.execute("SELECT COUNT(*) FROM records").fetchone()[0]

    def complexity_points(self, codecs: Iterable[str] | None = None, device: str | None = None) -> list[ComplexityPoint]:
        """Stored complexity points (of ``codecs`` on ``device`` when given), ordered by codec,
        device and size."""
        clauses: list[str] = []
        params: list[Any] = []
        _in_list("codec", codecs, clauses, params)
        if device:
            clauses.append("device = ?")
            params.append(device)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.conn.execute(f"SELECT * FROM complexity {where} ORDER BY codec, device, pixels, id", params)
        return [ComplexityPoint.from_row(dict(r)) for r in rows]

    def imported_curve_names(self) -> dict[str, list[str]]:
        """Imported curve name -> datasets it has a curve for."""
        found: dict[str, list[str]] = {}
        for row in self.conn.execute("SELECT name, dataset FROM imported_curves ORDER BY name, dataset"):
            found.setdefault(row["name"], []).append(row["dataset"])
        return found

    def imported_curve(self, name: str, dataset: str) -> dict[str, Any] | None:
        """An imported curve, or None: a dict shaped like a shipped reference curve (``bpp`` and
        the ``psnr`` / ``ms_ssim_db`` lists it has, plus provenance), so that analysis handles
        shipped and imported published curves alike."""
        row = self.conn.execute("SELECT * FROM imported_curves WHERE name = ? AND dataset = ?",
                                (name, dataset)).fetchone()
        if row is None:
            return None
        curve = {"name": name, "dataset": dataset, "bpp": json.loads(row["bpp"]), "description": row["description"],
                 "source_file": row["source_file"], "sha256": row["sha256"], "imported_at": row["imported_at"]}
        for column in (m.key for m in metric_spec.BUILTIN.values()):
            if row[column] is not None:
                curve[column] = json.loads(row[column])
        return curve

    def close(self) -> None:
        self.conn.close()
        if self._snapshot is not None:
            self._snapshot.cleanup()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- rate matching: the record a search chose per image and target ----------------------------

    def record_id(self, key: Sequence[str]) -> int | None:
        """The row id of the record whose identity (:data:`RECORD_KEY` order) is ``key``, or None."""
        row = self.conn.execute(f"SELECT id FROM records WHERE {' AND '.join(f'{c} = ?' for c in RECORD_KEY)}",
                                tuple(key)).fetchone()
        return None if row is None else row[0]

    def put_rate_targets(self, rows: Iterable[dict[str, Any]]) -> None:
        """Insert or replace the marks of :mod:`rdbench.run.rate_match` (columns of table ``rate_targets``),
        in one transaction."""
        rows = list(rows)
        if not rows:
            return
        columns = list(rows[0])
        with self._transaction() as conn:
            conn.executemany(f"INSERT OR REPLACE INTO rate_targets ({', '.join(columns)}) "
                             f"VALUES ({', '.join(':' + c for c in columns)})", rows)

    def rate_targets(self, *, selections: Iterable[dict[str, str | None]] | None = None,
                     datasets: Iterable[str] | None = None,
                     tolerance: float | None = None) -> list[tuple[dict[str, Any], Record | None]]:
        """Each stored mark (a dict of its columns, with ``seq``: larger for a later write) of the current
        image contents, with the record it chose (None where the search chose none, e.g. a failed probe),
        ordered by codec, dataset, target, image. ``selections`` select as they select records
        (:meth:`_record_filter`); a ``weights`` value selects the marks of searches that coded with those
        weights: the mark's own weights, or one of its models' (``models``). ``tolerance``: only marks
        searched at that tolerance (a fraction)."""
        alternatives, params = [], []
        for selection in selections or []:
            parts = ["t.codec = ?"]
            params.append(selection["codec"])
            for column in ("config_hash", "device", "code"):
                if selection.get(column) is not None:
                    parts.append(f"t.{column} = ?")
                    params.append(selection[column])
            if selection.get("weights") is not None:
                parts.append("(t.weights = ? OR EXISTS (SELECT 1 FROM json_each(t.models) WHERE value = ?))")
                params += [selection["weights"]] * 2
            alternatives.append("(" + " AND ".join(parts) + ")")
        clauses = [f"({' OR '.join(alternatives)})"] if alternatives else []
        if datasets is not None:
            names = list(datasets)
            clauses.append(f"t.dataset IN ({', '.join('?' * len(names))})")
            params += names
        if tolerance is not None:
            clauses.append("abs(t.tolerance - ?) < 1e-12")
            params.append(tolerance)
        marks = [dict(r) for r in self.conn.execute(
            "SELECT t.rowid AS seq, t.* FROM rate_targets t WHERE NOT EXISTS (SELECT 1 FROM current_images c "
            "WHERE c.dataset = t.dataset AND c.image = t.image AND c.image_hash != t.image_hash) "
            + "".join(f"AND {clause} " for clause in clauses)
            + "ORDER BY codec, config_hash, dataset, device, target_bpp, image", params)]
        ids = sorted({m[k] for m in marks for k in ("record_id", "below_id", "above_id") if m[k] is not None})
        found: dict[int, Record] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            cursor = self.conn.cursor()
            cursor.row_factory = None
            rows = cursor.execute(f"SELECT {', '.join(RECORD_FIELDS)}, id FROM records WHERE id IN "
                                  f"({', '.join('?' * len(chunk))})", chunk).fetchall()
            parsed: dict[str, Any] = {}
            for row in rows:
                found[row[-1]] = Record.from_values(row[:-1], parsed)
            for record_id, metric, value, version in self.conn.execute(
                    f"SELECT record_id, metric, value, version FROM metric_values WHERE record_id IN "
                    f"({', '.join('?' * len(chunk))})", chunk):
                if record_id in found:
                    found[record_id].metrics[metric] = value
                    found[record_id].metric_versions[metric] = version
        for mark in marks:
            mark["below"], mark["above"] = found.get(mark["below_id"]), found.get(mark["above_id"])
        return [(mark, found.get(mark["record_id"])) for mark in marks]

    # -- records by filter: what analysis chooses among, what `rdbench results --delete` removes ---------

    @staticmethod
    def _record_filter(*, selections: Iterable[dict[str, str | None]] | None = None,
                       datasets: Iterable[str] | None = None, qualities: Iterable[str] | None = None,
                       status: str | None = None, weights: Iterable[str] | None = None,
                       devices: Iterable[str] | None = None, images: Iterable[str] | None = None,
                       mismatched: bool = False, stale: bool | None = None) -> tuple[str, list[Any]]:
        """WHERE clause (possibly empty) and its parameters. ``selections``: one dict per codec named,
        with ``codec`` and, optionally, an exact ``config_hash``, ``weights``, ``device`` and ``code``; a record
        matches when it matches any of them. Other filters: the column's value is one of those given;
        ``mismatched``: only records whose decoder did not rebuild the encoder's latent
        (``extra.decoder_matches_encoder`` false); ``stale``: True only records of an image measured on
        content it no longer has (:meth:`set_current_images`), False none of them, None both."""
        clauses: list[str] = []
        params: list[Any] = []
        alternatives = []
        for selection in selections or []:
            parts = ["codec = ?"]
            params.append(selection["codec"])
            for column in ("config_hash", "weights", "device", "code"):
                if selection.get(column) is not None:
                    parts.append(f"{column} = ?")
                    params.append(selection[column])
            alternatives.append("(" + " AND ".join(parts) + ")")
        if alternatives:
            clauses.append("(" + " OR ".join(alternatives) + ")")
        _in_list("dataset", datasets, clauses, params)
        _in_list("quality", qualities, clauses, params)
        _in_list("weights", weights, clauses, params)
        _in_list("device", devices, clauses, params)
        _in_list("image", images, clauses, params)
        if stale is not None:
            clauses.append(("" if stale else "NOT ") + _STALE)
        if mismatched:
            clauses.append("json_extract(extra, '$.decoder_matches_encoder') = 0")
        if status:
            clauses.append("status = ?")
            params.append(status)
        return (f"WHERE {' AND '.join(clauses)}" if clauses else ""), params

    def _record_values(self, filters: dict[str, Any], fields: Sequence[str] = RECORD_FIELDS) -> list[tuple[Any, ...]]:
        """The matching rows as plain tuples of the ``fields`` columns, ordered by codec, dataset, image and
        insertion: no ``sqlite3.Row`` nor dict per row (tens of thousands are read)."""
        unknown = [f for f in fields if f not in RECORD_FIELDS and f != "id"]
        if unknown:
            raise ValueError(f"not record fields: {', '.join(unknown)}")
        where, params = self._record_filter(**filters)
        cursor = self.conn.cursor()
        cursor.row_factory = None
        cursor.execute(f"SELECT {', '.join(fields)} FROM records {where} ORDER BY codec, dataset, image, id", params)
        return cursor.fetchall()

    def find_records(self, **filters: Any) -> list[Record]:
        """Records matching the filters of :meth:`_record_filter` (all records without any), with their
        plug-in metric values."""
        parsed: dict[str, Any] = {}
        rows = self._record_values(filters, [*RECORD_FIELDS, "id"])
        values = self._metric_values(filters)
        records = [Record.from_values(row[:-1], parsed) for row in rows]
        if values:
            for record, row in zip(records, rows):
                for name, (value, version) in values.get(row[-1], {}).items():
                    record.metrics[name], record.metric_versions[name] = value, version
        return records

    def _metric_values(self, filters: dict[str, Any]) -> dict[int, dict[str, tuple[float | None, str]]]:
        """Record id -> metric -> (value, version) of the plug-in values of the matching records."""
        if self.conn.execute("SELECT NOT EXISTS (SELECT 1 FROM metric_values)").fetchone()[0]:
            return {}  # no plug-in metric measured: no second pass over the records
        where, params = self._record_filter(**filters)
        found: dict[int, dict[str, tuple[float | None, str]]] = {}
        for record_id, metric, value, version in self.conn.execute(
                f"SELECT record_id, metric, value, version FROM metric_values WHERE record_id IN "
                f"(SELECT id FROM records {where}) ORDER BY record_id, metric", params):
            found.setdefault(record_id, {})[metric] = (value, version)
        return found

    def metric_columns(self, names: Sequence[str], **filters: Any) -> dict[str, list[float | None]]:
        """The plug-in values of ``names`` of the records :meth:`record_columns` gives, in its order (None
        where a record has none): the columns a table shows beside the records' own."""
        rows = self._record_values(filters, ["id"])
        values = self._metric_values(filters)
        return {name: [values.get(row[0], {}).get(name, (None, ""))[0] for row in rows] for name in names}

    def metric_names(self) -> list[str]:
        """The plug-in metrics any record has a value of, sorted."""
        return [row[0] for row in self.conn.execute("SELECT DISTINCT metric FROM metric_values ORDER BY metric")]

    def record_columns(self, fields: Sequence[str] = RECORD_FIELDS, **filters: Any) -> dict[str, list[Any]]:
        """The records :meth:`find_records` gives, in its order, as one list per field of ``fields`` (all of
        :data:`RECORD_FIELDS` by default; ``extra`` parsed): a DataFrame or a table is built from columns
        without a Record per row, and reads only the columns it shows."""
        rows = self._record_values(filters, fields)
        columns = {name: list(values) for name, values in zip(fields, zip(*rows))} if rows else \
            {name: [] for name in fields}
        if "extra" in columns:
            parsed: dict[str, Any] = {}
            columns["extra"] = [parse_extra(extra, parsed) for extra in columns["extra"]]
        return columns

    def stored_names(self, column: str) -> list[str]:
        """The distinct ``codec`` or ``dataset`` values of all records (ok or failed), sorted: what the
        analysis checks names against, without grouping every record (the codec index answers it)."""
        if column not in ("codec", "dataset"):
            raise ValueError(f"stored_names takes 'codec' or 'dataset', not {column!r}")
        return [row[0] for row in self.conn.execute(f"SELECT DISTINCT {column} FROM records ORDER BY {column}")]

    def record_groups(self, **filters: Any) -> list[dict[str, Any]]:
        """How many records of each (codec, dataset, config_hash, quality, weights, device, code, status)
        match the filters: what is stored, without reading every record."""
        where, params = self._record_filter(**filters)
        rows = self.conn.execute(
            "SELECT codec, dataset, config_hash, quality, weights, device, code, status, COUNT(*) AS records "
            f"FROM records {where} GROUP BY codec, dataset, config_hash, quality, weights, device, code, status "
            "ORDER BY codec, dataset, config_hash, quality, weights, device, code, status", params)
        return [dict(r) for r in rows]

    def delete_records(self, *, everything: bool = False, **filters: Any) -> int:
        """Delete the records matching the filters, in one transaction; returns how many went.

        Without any filter nothing is deleted unless ``everything`` is true (a missing filter must
        never empty a database)."""
        where, params = self._record_filter(**filters)
        if not where and not everything:
            raise StoreError("refusing to delete every record without everything=True")
        with self._transaction() as conn:
            conn.execute(f"DELETE FROM metric_values WHERE record_id IN (SELECT id FROM records {where})", params)
            conn.execute(f"DELETE FROM rate_targets WHERE record_id IN (SELECT id FROM records {where})", params)
            return conn.execute(f"DELETE FROM records {where}", params).rowcount


__all__ = ["DEFAULT_DB", "MIGRATIONS", "STATUS_FAILED", "STATUS_OK", "EmptyDatabaseError", "Store", "readable_or_none"]
