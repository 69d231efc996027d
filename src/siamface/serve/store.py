"""The server's galleries in one SQLite file: people, their photos' embeddings, the model's mark.

    store = GalleryStore("galleries.sqlite3")
    store.create_gallery("staff", verifier.settings())
    store.add_photos("staff", "Ann", ["ann.jpg"], embeddings, verifier.settings())
    names, sources, embeddings = store.embeddings("staff", verifier.settings(),
                                                  verifier.model.out_dim)

Each gallery records the settings its embeddings were made with (the model's fingerprint, its
preprocessing, detection and flip TTA: ``Verifier.settings()``); embeddings from other settings
would not compare, so a gallery is refused to any other model. Embeddings are little-endian
float32 blobs. Every write is one transaction (``BEGIN IMMEDIATE``) on the writing connection,
shared behind a lock, so concurrent enrolls from the server's threads are each kept whole. Reads
have a connection and a lock of their own, and the file is in WAL mode, so a read never waits for
a writer, not even for one waiting on another process's write lock; each read is one
transaction, so it sees one state of the file. Names are data in the database, never file names.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from siamface.errors import SiamfaceError

SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 30.0  # another process (a second server) holding the write lock


def is_busy(err: sqlite3.Error) -> bool:
    """Whether SQLite gave up waiting for another process's lock (nothing is damaged)."""
    return isinstance(err, sqlite3.OperationalError) and re.search(
        r"database is (locked|busy)", str(err)) is not None

SCHEMA = """
CREATE TABLE galleries (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    fingerprint TEXT NOT NULL,
    settings TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE photos (
    id INTEGER PRIMARY KEY,
    gallery_id INTEGER NOT NULL REFERENCES galleries(id) ON DELETE CASCADE,
    person TEXT NOT NULL,
    source TEXT NOT NULL,
    embedding BLOB NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX photos_by_person ON photos(gallery_id, person);
"""


class StoreError(SiamfaceError, ValueError):
    """A gallery request that cannot be done; ``status`` is its HTTP status."""

    status = 400
    field = "gallery"


class GalleryNotFoundError(StoreError):
    status = 404


class PersonNotFoundError(StoreError):
    status = 404
    field = "person"


class GalleryExistsError(StoreError):
    status = 409
    field = "name"


class OtherModelError(StoreError):
    """The gallery's embeddings were made with another model or other settings."""

    status = 409


class StoreBusyError(StoreError):
    """Another process kept the database locked for all of BUSY_TIMEOUT_S."""

    status = 503
    field = "database"


class DamagedStoreError(StoreError):
    """The database file is not one this siamface wrote, or holds unusable rows."""

    status = 500


@dataclass(frozen=True)
class GalleryInfo:
    """One gallery: its name, the fingerprint of its model, its people and photos."""

    name: str
    fingerprint: str
    people: int
    photos: int


@dataclass(frozen=True)
class PersonInfo:
    """One enrolled person and how many photos of them the gallery holds."""

    name: str
    photos: int


class GalleryStore:
    """Galleries in a SQLite file (made if missing).

    Args:
        path: The database file; its folder is created.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._connection: sqlite3.Connection | None = self._open()
        self._reader: sqlite3.Connection | None = None

    def close(self) -> None:
        """Close the connections (the next call opens them again, as a restarted server does)."""
        with self._lock, self._read_lock:
            for conn in (self._connection, self._reader):
                if conn is not None:
                    conn.close()
            self._connection = self._reader = None

    @property
    def _conn(self) -> sqlite3.Connection:
        """The writing connection (callers hold the lock); reopened after ``close``."""
        if self._connection is None:
            self._connection = self._open()
        return self._connection

    def _connect(self) -> sqlite3.Connection:
        try:
            return sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                                   check_same_thread=False)
        except sqlite3.Error as err:  # e.g. a folder, or a folder it may not write in
            raise DamagedStoreError(f"{self.path}: cannot open it as a gallery database: "
                                    f"{err}") from None

    def _open(self) -> sqlite3.Connection:
        conn = self._connect()
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            # pages overwritten inside a sound header pass every other check until a query
            # reads them: look at every page now, before the server takes requests
            problems = [row[0] for row in conn.execute("PRAGMA quick_check")]
            if problems != ["ok"]:
                raise sqlite3.DatabaseError(f"damaged ({problems[0]})")
            with _transaction(conn):
                _create_schema(conn, self.path)
            # only now that the file is known to be ours: the journal mode is kept in the file
            conn.execute("PRAGMA journal_mode = WAL")
        except DamagedStoreError:
            conn.close()
            raise
        except sqlite3.DatabaseError as err:
            conn.close()
            if is_busy(err):  # a second server or a CLI writing at this moment
                raise StoreBusyError(f"{self.path}: another process kept the gallery database "
                                     f"locked for {BUSY_TIMEOUT_S:g} s; try again") from None
            raise DamagedStoreError(f"{self.path}: not a gallery database: {err}") from None
        return conn

    def create_gallery(self, name: str, settings: Mapping[str, Any]) -> GalleryInfo:
        """A new empty gallery for the model of ``settings`` (``Verifier.settings()``).

        Raises:
            GalleryExistsError: a gallery of that name exists.
        """
        with self._write() as conn:
            try:
                conn.execute(
                    "INSERT INTO galleries (name, fingerprint, settings, created) "
                    "VALUES (?, ?, ?, ?)",
                    (name, settings["model"], _settings_text(settings), time.time()),
                )
            except sqlite3.IntegrityError:
                raise GalleryExistsError(f"a gallery named {name!r} already exists") from None
        return GalleryInfo(name, settings["model"], 0, 0)

    def galleries(self) -> list[GalleryInfo]:
        """Every gallery, by name."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT g.name, g.fingerprint, COUNT(DISTINCT p.person), COUNT(p.id) "
                "FROM galleries g LEFT JOIN photos p ON p.gallery_id = g.id "
                "GROUP BY g.id ORDER BY g.name"
            ).fetchall()
        return [GalleryInfo(*row) for row in rows]

    def gallery(self, name: str) -> GalleryInfo:
        """One gallery.

        Raises:
            GalleryNotFoundError: no gallery of that name.
        """
        found = [g for g in self.galleries() if g.name == name]
        if not found:
            raise GalleryNotFoundError(f"no gallery named {name!r}")
        return found[0]

    def delete_gallery(self, name: str) -> None:
        """Delete a gallery and all its photos.

        Raises:
            GalleryNotFoundError: no gallery of that name.
        """
        with self._write() as conn:
            if conn.execute("DELETE FROM galleries WHERE name = ?", (name,)).rowcount == 0:
                raise GalleryNotFoundError(f"no gallery named {name!r}")

    def add_photos(self, gallery: str, person: str, sources: Sequence[str],
                   embeddings: np.ndarray, settings: Mapping[str, Any]) -> PersonInfo:
        """Enroll photos of ``person`` (new or already enrolled) in one transaction.

        Args:
            gallery: The gallery's name.
            person: Who the photos show.
            sources: A label for each photo (its upload's file name), shown in matches.
            embeddings: (N, D) embeddings, one row per source.
            settings: The ``Verifier.settings()`` they were made with.

        Raises:
            GalleryNotFoundError, OtherModelError.
        """
        rows = np.ascontiguousarray(embeddings, dtype="<f4")
        if rows.ndim != 2 or rows.shape[0] != len(sources):
            raise ValueError(f"expected ({len(sources)}, D) embeddings, got {rows.shape}")
        now = time.time()
        with self._write() as conn:
            gallery_id = self._gallery_id(conn, gallery, settings)
            conn.executemany(
                "INSERT INTO photos (gallery_id, person, source, embedding, created) "
                "VALUES (?, ?, ?, ?, ?)",
                [(gallery_id, person, source, row.tobytes(), now)
                 for source, row in zip(sources, rows, strict=True)],
            )
            (count,) = conn.execute(
                "SELECT COUNT(*) FROM photos WHERE gallery_id = ? AND person = ?",
                (gallery_id, person),
            ).fetchone()
        return PersonInfo(person, count)

    def people(self, gallery: str) -> list[PersonInfo]:
        """The people of a gallery, by name.

        Raises:
            GalleryNotFoundError: no gallery of that name.
        """
        with self._read() as conn:
            gallery_id = self._gallery_id(conn, gallery)
            rows = conn.execute(
                "SELECT person, COUNT(*) FROM photos WHERE gallery_id = ? "
                "GROUP BY person ORDER BY person", (gallery_id,),
            ).fetchall()
        return [PersonInfo(*row) for row in rows]

    def delete_person(self, gallery: str, person: str) -> None:
        """Delete every photo of ``person`` from a gallery.

        Raises:
            GalleryNotFoundError, PersonNotFoundError.
        """
        with self._write() as conn:
            gallery_id = self._gallery_id(conn, gallery)
            deleted = conn.execute("DELETE FROM photos WHERE gallery_id = ? AND person = ?",
                                   (gallery_id, person)).rowcount
            if deleted == 0:
                raise PersonNotFoundError(f"no person named {person!r} in gallery {gallery!r}")

    def embeddings(self, gallery: str, settings: Mapping[str, Any],
                   dim: int) -> tuple[list[str], list[str], np.ndarray]:
        """A gallery's photos: ``(people, sources, (N, dim) float32 embeddings)``.

        Args:
            gallery: The gallery's name.
            settings: The ``Verifier.settings()`` of the model that will compare them.
            dim: The model's embedding size.

        Raises:
            GalleryNotFoundError, OtherModelError; DamagedStoreError for a blob of another size,
            values that are not finite or an embedding of no length float32 can compare.
        """
        with self._read() as conn:
            gallery_id = self._gallery_id(conn, gallery, settings)
            rows = conn.execute(
                "SELECT person, source, embedding FROM photos WHERE gallery_id = ? ORDER BY id",
                (gallery_id,),
            ).fetchall()
        if any(len(blob) != 4 * dim for _, _, blob in rows):
            raise DamagedStoreError(f"{self.path}: gallery {gallery!r} holds embeddings that "
                                    f"are not {dim} float32 values")
        matrix = np.frombuffer(b"".join(blob for _, _, blob in rows), dtype="<f4")
        if not np.isfinite(matrix).all():  # never written so: the file was changed
            raise DamagedStoreError(f"{self.path}: gallery {gallery!r} holds embeddings that "
                                    "are not finite numbers")
        matrix = matrix.reshape(len(rows), dim).astype(np.float32)
        with np.errstate(over="ignore"):  # an overflow is what is looked for
            length = np.linalg.norm(matrix, axis=1)  # (N,) in float32, as the heads compute it
        if not ((length > 0) & np.isfinite(length)).all():  # (the rule of check_embeddings)
            raise DamagedStoreError(f"{self.path}: gallery {gallery!r} holds an embedding that "
                                    "is all zeros or too large to compare; no model makes one")
        return [r[0] for r in rows], [r[1] for r in rows], matrix

    def _gallery_id(self, conn: sqlite3.Connection, name: str,
                    settings: Mapping[str, Any] | None = None) -> int:
        row = conn.execute("SELECT id, fingerprint, settings FROM galleries WHERE name = ?",
                           (name,)).fetchone()
        if row is None:
            raise GalleryNotFoundError(f"no gallery named {name!r}")
        gallery_id, fingerprint, stored = row
        if settings is not None and json.loads(stored) != json.loads(_settings_text(settings)):
            raise OtherModelError(
                f"gallery {name!r} was embedded by another model or with other settings "
                f"(model {fingerprint[:12]}, this server runs {settings['model'][:12]}); "
                "create a new gallery and enroll its people again with this model"
            )
        return gallery_id

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, under the lock: committed whole or rolled back."""
        with self._lock, _transaction(self._conn) as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """One read transaction on the reading connection (opened on first use)."""
        with self._read_lock:
            if self._reader is None:
                self._reader = self._connect()
            with _transaction(self._reader, "BEGIN") as conn:
                yield conn


@contextmanager
def _transaction(conn: sqlite3.Connection,
                 begin: str = "BEGIN IMMEDIATE") -> Iterator[sqlite3.Connection]:
    """``begin`` (by default the write lock at once) ... ``COMMIT``, or ``ROLLBACK`` on an
    error."""
    conn.execute(begin)
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _create_schema(conn: sqlite3.Connection, path: Path) -> None:
    """Make the tables in a new file; check the version of an existing one.

    (executescript() would commit the caller's transaction: one statement at a time instead.)
    """
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    if version == 0:
        if conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]:
            raise DamagedStoreError(f"{path} is a SQLite file of something else")
        for statement in filter(str.strip, SCHEMA.split(";")):
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    elif version != SCHEMA_VERSION:
        raise DamagedStoreError(f"{path}: gallery database version {version}, this siamface "
                                f"reads version {SCHEMA_VERSION}")


def _settings_text(settings: Mapping[str, Any]) -> str:
    return json.dumps(settings, sort_keys=True)
