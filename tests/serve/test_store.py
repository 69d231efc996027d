"""GalleryStore: SQLite galleries that persist, refuse other models and keep every write."""

from __future__ import annotations

import sqlite3
import threading
import time

import numpy as np
import pytest

from siamface.serve.store import (
    DamagedStoreError,
    GalleryExistsError,
    GalleryNotFoundError,
    GalleryStore,
    OtherModelError,
    PersonNotFoundError,
)

SETTINGS = {"model": "a" * 64, "preprocessing": {"size": 32}, "detect": False, "flip_tta": True}
OTHER = {**SETTINGS, "model": "b" * 64}
DIM = 8


def rows(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)


def test_photos_round_trip_as_float32_and_persist(tmp_path):
    path = tmp_path / "g.sqlite3"
    store = GalleryStore(path)
    store.create_gallery("staff", SETTINGS)
    ann, bo = rows(2, 1), rows(1, 2)
    store.add_photos("staff", "Ann", ["a1.jpg", "a2.jpg"], ann, SETTINGS)
    store.add_photos("staff", "Bo", ["b.jpg"], bo, SETTINGS)
    store.close()
    reopened = GalleryStore(path)
    people, sources, embeddings = reopened.embeddings("staff", SETTINGS, DIM)
    assert people == ["Ann", "Ann", "Bo"] and sources == ["a1.jpg", "a2.jpg", "b.jpg"]
    np.testing.assert_array_equal(embeddings, np.concatenate([ann, bo]))
    assert embeddings.dtype == np.float32
    [info] = reopened.galleries()
    assert (info.name, info.people, info.photos) == ("staff", 2, 3)


def test_other_settings_are_refused_and_write_nothing(tmp_path):
    store = GalleryStore(tmp_path / "g.sqlite3")
    store.create_gallery("staff", SETTINGS)
    with pytest.raises(OtherModelError, match="another model"):
        store.add_photos("staff", "Ann", ["a.jpg"], rows(1), OTHER)
    with pytest.raises(OtherModelError):
        store.embeddings("staff", {**SETTINGS, "flip_tta": False}, DIM)
    assert store.people("staff") == []


def test_missing_and_duplicate_names(tmp_path):
    store = GalleryStore(tmp_path / "g.sqlite3")
    store.create_gallery("staff", SETTINGS)
    with pytest.raises(GalleryExistsError):
        store.create_gallery("staff", SETTINGS)
    with pytest.raises(GalleryNotFoundError):
        store.delete_gallery("nobody")
    with pytest.raises(PersonNotFoundError):
        store.delete_person("staff", "Ann")
    store.add_photos("staff", "Ann", ["a.jpg"], rows(1), SETTINGS)
    store.delete_gallery("staff")  # its photos go with it
    store.create_gallery("staff", SETTINGS)
    assert store.people("staff") == []


def test_concurrent_writers_on_two_connections_lose_nothing(tmp_path):
    path = tmp_path / "g.sqlite3"
    stores = [GalleryStore(path), GalleryStore(path)]  # as two server processes would
    stores[0].create_gallery("crowd", SETTINGS)

    def enroll_many(worker: int) -> None:
        store = stores[worker % 2]
        for k in range(20):
            store.add_photos("crowd", f"p{worker}-{k}", ["x.jpg", "y.jpg"], rows(2, k), SETTINGS)

    threads = [threading.Thread(target=enroll_many, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    info = stores[1].gallery("crowd")
    assert (info.people, info.photos) == (160, 320)


def test_reads_do_not_wait_for_a_writer_waiting_on_another_process(tmp_path, monkeypatch):
    monkeypatch.setattr("siamface.serve.store.BUSY_TIMEOUT_S", 5.0)
    path = tmp_path / "g.sqlite3"
    store = GalleryStore(path)
    store.create_gallery("staff", SETTINGS)
    store.add_photos("staff", "Ann", ["a.jpg"], rows(1), SETTINGS)
    other = GalleryStore(path)
    held = threading.Event()
    release = threading.Event()

    def hold_the_write_lock() -> None:
        with other._write():
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold_the_write_lock)
    holder.start()
    held.wait(10)
    writer = threading.Thread(target=store.add_photos,  # waits on the other's lock
                              args=("staff", "Bo", ["b.jpg"], rows(1), SETTINGS))
    writer.start()
    while not store._lock.locked():  # the writer holds the store's lock, waiting on the other's
        time.sleep(0.01)
    try:
        ask = threading.Thread(target=lambda: seen.extend(store.people("staff")))
        seen: list = []
        ask.start()
        ask.join(2)  # the writer waits up to 5 s for the lock; a read must not wait behind it
        assert not ask.is_alive() and [p.name for p in seen] == ["Ann"]
    finally:
        release.set()
        holder.join()
        writer.join()
    assert [p.name for p in store.people("staff")] == ["Ann", "Bo"]


def test_a_file_that_is_not_a_gallery_database_is_refused(tmp_path):
    path = tmp_path / "g.sqlite3"
    path.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(DamagedStoreError, match="not a gallery database"):
        GalleryStore(path)



def test_a_sqlite_file_of_something_else_is_refused_and_left_unchanged(tmp_path):
    path = tmp_path / "notes.sqlite3"
    other = sqlite3.connect(path)
    other.execute("CREATE TABLE notes (text TEXT)")
    other.execute("INSERT INTO notes VALUES ('keep me')")
    other.commit()
    other.close()
    before = path.read_bytes()
    with pytest.raises(DamagedStoreError) as info:
        GalleryStore(path)
    assert str(info.value) == f"{path} is a SQLite file of something else"
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["notes.sqlite3"]  # no -wal or -shm beside
    other = sqlite3.connect(path)
    try:
        assert other.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        assert other.execute("SELECT name FROM sqlite_master").fetchall() == [("notes",)]
        assert other.execute("SELECT text FROM notes").fetchall() == [("keep me",)]
    finally:
        other.close()

def test_pages_overwritten_inside_a_sound_header_are_found_when_opening(tmp_path):
    path = tmp_path / "g.sqlite3"
    store = GalleryStore(path)
    store.create_gallery("staff", SETTINGS)
    store.add_photos("staff", "Ann", [f"{i}.jpg" for i in range(2000)], rows(2000), SETTINGS)
    store.close()
    pages = path.stat().st_size // 4096
    assert pages > 20
    with path.open("r+b") as fh:  # the last five pages, inside a sound header
        fh.seek((pages - 5) * 4096)
        fh.write(np.random.default_rng(0).bytes(5 * 4096))
    with pytest.raises(DamagedStoreError, match=r"g\.sqlite3: not a gallery database: "):
        GalleryStore(path)


def test_a_folder_given_as_the_database_is_named(tmp_path):
    with pytest.raises(DamagedStoreError, match=f"{tmp_path}: cannot open it as a gallery "
                                                "database"):
        GalleryStore(tmp_path)


def test_a_database_another_process_keeps_locked_at_start_is_busy_not_damaged(tmp_path,
                                                                              monkeypatch):
    from siamface.serve.store import StoreBusyError

    path = tmp_path / "g.sqlite3"
    GalleryStore(path).close()
    monkeypatch.setattr("siamface.serve.store.BUSY_TIMEOUT_S", 0.2)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # a second server, mid-write
    try:
        with pytest.raises(StoreBusyError, match=r"kept the gallery database locked for 0\.2 s"):
            GalleryStore(path)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert GalleryStore(path).galleries() == []  # nothing was damaged
