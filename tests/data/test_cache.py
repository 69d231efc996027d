"""The preprocessed-image cache: round trip, keys, invalidation, damage and crash safety."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import make_lfw_tree
from siamface.data import cache as cache_mod
from siamface.data.cache import (
    CACHE_VERSION,
    CacheError,
    MissingImageError,
    all_image_refs,
    build_cache,
    cache_key,
    cache_root,
    load_or_build_cache,
    open_cache,
    remove_caches,
)
from siamface.data.lfw import LFWDataset
from siamface.data.people import person_ids
from siamface.data.preprocess import Preprocessing, load_image
from siamface.data.protocol import ImageRef

PREP = Preprocessing(crop=(50, 50, 200, 200), size=16, channels=3)
CHECKSUMS = {"lfw-deepfunneled.tgz": "ab" * 32, "pairsDevTrain.txt": "cd" * 32}


@pytest.fixture
def lfw(tmp_path: Path, tiny_counts: dict[str, int]) -> LFWDataset:
    """A data home laid out as the importer leaves it: <home>/lfw/images/<Name>/..."""
    make_lfw_tree(tmp_path / "home" / "lfw" / "images", tiny_counts)
    return LFWDataset(
        home=tmp_path / "home",
        variant="lfw-deepfunneled",
        image_counts=tiny_counts,
        checksums=dict(CHECKSUMS),
    )


def sorted_refs(counts: dict[str, int]) -> list[ImageRef]:
    return [ImageRef(n, k) for n in sorted(counts) for k in range(1, counts[n] + 1)]


def folder_of(lfw: LFWDataset, prep: Preprocessing = PREP) -> Path:
    return lfw.home / "cache" / cache_key(prep, lfw.checksums)


def expected_images(lfw: LFWDataset, prep: Preprocessing = PREP) -> np.ndarray:
    refs = sorted_refs(lfw.image_counts)
    return np.stack([load_image(lfw.image_path(ref), prep) for ref in refs])  # (N, C, H, W)


# --- round trip ----------------------------------------------------------------------------


def test_build_then_load_round_trip(lfw):
    cache = load_or_build_cache(lfw, PREP, workers=1, progress=False)

    assert len(cache) == 12
    assert cache.refs == sorted_refs(lfw.image_counts)
    assert cache.refs[:4] == [
        ImageRef("Alice_Able", 1),
        ImageRef("Alice_Able", 2),
        ImageRef("Alice_Able", 3),
        ImageRef("Bob_Baker", 1),
    ]
    assert cache.prep == PREP and cache.key == folder_of(lfw).name
    assert isinstance(cache.images, np.memmap) and not cache.images.flags.writeable
    assert cache.images.shape == (12, 3, 16, 16) and cache.images.dtype == np.uint8
    np.testing.assert_array_equal(cache.images, expected_images(lfw))

    index = json.loads((folder_of(lfw) / "index.json").read_text())
    assert index["format_version"] == CACHE_VERSION
    assert index["preprocessing"] == {"crop": [50, 50, 200, 200], "size": 16, "channels": 3}
    assert index["checksums"] == CHECKSUMS
    assert index["shape"] == [12, 3, 16, 16]
    assert index["refs"][0] == ["Alice_Able", 1] and index["refs"][-1] == ["Eve_Evans", 2]
    assert sorted(p.name for p in folder_of(lfw).iterdir()) == ["images.npy", "index.json"]


def test_second_call_loads_without_rebuilding(lfw, monkeypatch):
    first = load_or_build_cache(lfw, PREP, workers=1, progress=False)

    def no_build(*args, **kwargs):
        raise AssertionError("the complete cache should have been loaded, not rebuilt")

    monkeypatch.setattr(cache_mod, "build_cache", no_build)
    second = load_or_build_cache(lfw, PREP, workers=1, progress=False)
    assert second.key == first.key
    np.testing.assert_array_equal(second.images, first.images)


def test_a_build_hashes_its_pixels_once_and_an_open_hashes_them_again(lfw, monkeypatch):
    hashed: list[str] = []
    real = cache_mod.sha256_file

    def counting(path):
        hashed.append(Path(path).name)
        return real(path)

    monkeypatch.setattr(cache_mod, "sha256_file", counting)
    load_or_build_cache(lfw, PREP, workers=1, progress=False)
    assert hashed == ["images.npy"]  # written into index.json; the build's open trusts it
    load_or_build_cache(lfw, PREP, workers=1, progress=False)
    assert hashed == ["images.npy", "images.npy"]  # every later open checks it


def test_two_worker_processes_give_the_same_array(lfw, monkeypatch):
    monkeypatch.setattr(cache_mod, "CHUNK", 5)  # 12 images -> 3 chunks shared by 2 processes
    refs = sorted_refs(lfw.image_counts)
    cache = build_cache(
        lfw.images_dir, refs, PREP, lfw.home / "cache", CHECKSUMS, workers=2, progress=False
    )
    np.testing.assert_array_equal(cache.images, expected_images(lfw))


def test_grey_full_frame_setting(lfw):
    prep = Preprocessing(crop=None, size=105, channels=1)
    cache = load_or_build_cache(lfw, prep, workers=1, progress=False)
    assert cache.images.shape == (12, 1, 105, 105)
    np.testing.assert_array_equal(cache.images, expected_images(lfw, prep))


# --- lookups -------------------------------------------------------------------------------


def test_indices_follow_the_order_asked(lfw):
    cache = load_or_build_cache(lfw, PREP, workers=1, progress=False)
    rows = cache.indices(
        [ImageRef("Eve_Evans", 2), ImageRef("Alice_Able", 1), ImageRef("Dan_Dunn", 3)]
    )
    # Rows: Alice 0-2, Bob 3-4, Carol 5, Dan 6-9, Eve 10-11.
    assert rows.dtype == np.int64 and rows.tolist() == [11, 0, 8]
    assert cache.indices([]).tolist() == []


def test_indices_of_an_unknown_image_name_it(lfw):
    cache = load_or_build_cache(lfw, PREP, workers=1, progress=False)
    with pytest.raises(MissingImageError) as info:
        cache.indices([ImageRef("Alice_Able", 1), ImageRef("Bob_Baker", 3)])
    assert isinstance(info.value, KeyError)
    assert str(info.value).startswith("Bob_Baker image 3 (Bob_Baker_0003.jpg) is not in cache")


def test_all_image_refs_sorts_by_name_then_number():
    refs = all_image_refs({"Bo": 2, "Al": 1, "Cy": 10})
    assert refs[:3] == [ImageRef("Al", 1), ImageRef("Bo", 1), ImageRef("Bo", 2)]
    assert refs[3:] == [ImageRef("Cy", k) for k in range(1, 11)]  # 10 after 9, not after 1


def test_person_ids_of_the_cached_rows(lfw):
    cache = load_or_build_cache(lfw, PREP, workers=1, progress=False)
    assert person_ids(cache.refs).tolist() == [0, 0, 0, 1, 1, 2, 3, 3, 3, 3, 4, 4]


# --- keys and invalidation -----------------------------------------------------------------


def test_key_ignores_checksum_order_but_not_content_or_version(monkeypatch):
    swapped = dict(reversed(list(CHECKSUMS.items())))
    assert cache_key(PREP, swapped) == cache_key(PREP, CHECKSUMS)
    assert cache_key(PREP, {**CHECKSUMS, "pairsDevTrain.txt": "ef" * 32}) != cache_key(
        PREP, CHECKSUMS
    )
    assert cache_key(Preprocessing(PREP.crop, 17, 3), CHECKSUMS) != cache_key(PREP, CHECKSUMS)
    before = cache_key(PREP, CHECKSUMS)
    monkeypatch.setattr(cache_mod, "CACHE_VERSION", CACHE_VERSION + 1)
    assert cache_key(PREP, CHECKSUMS) != before


def test_other_settings_build_beside_the_first_cache(lfw):
    first = load_or_build_cache(lfw, PREP, workers=1, progress=False)
    grey = Preprocessing(crop=PREP.crop, size=PREP.size, channels=1)
    second = load_or_build_cache(lfw, grey, workers=1, progress=False)
    assert second.key != first.key
    assert second.images.shape == (12, 1, 16, 16)
    np.testing.assert_array_equal(second.images, expected_images(lfw, grey))
    assert {p.name for p in (lfw.home / "cache").iterdir()} == {first.key, second.key}


def test_new_source_checksums_give_a_rebuilt_cache(lfw):
    first = load_or_build_cache(lfw, PREP, workers=1, progress=False)
    # Re-import different files: same names, new pixels, new checksums.
    make_lfw_tree(lfw.images_dir, lfw.image_counts, seed=1)
    reimported = LFWDataset(lfw.home, lfw.variant, lfw.image_counts, {"new.tgz": "ef" * 32})
    second = load_or_build_cache(reimported, PREP, workers=1, progress=False)
    assert second.key != first.key
    np.testing.assert_array_equal(second.images, expected_images(reimported))
    assert not np.array_equal(second.images, first.images)


def test_open_cache_refuses_other_settings_checksums_or_images(lfw):
    cache = load_or_build_cache(lfw, PREP, workers=1, progress=False)
    folder, refs = folder_of(lfw), cache.refs
    with pytest.raises(CacheError, match="preprocessing is"):
        open_cache(folder, Preprocessing(PREP.crop, PREP.size, 1), CHECKSUMS, refs)
    with pytest.raises(CacheError, match="checksums is"):
        open_cache(folder, PREP, {"other": "00"}, refs)
    with pytest.raises(CacheError, match="shape is"):
        open_cache(folder, PREP, CHECKSUMS, refs[:-1])
    with pytest.raises(CacheError, match="list of images differs"):
        open_cache(folder, PREP, CHECKSUMS, [refs[1], refs[0], *refs[2:]])


# --- damage --------------------------------------------------------------------------------


def truncate_images(folder: Path) -> None:
    path = folder / "images.npy"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def extend_images(folder: Path) -> None:
    with open(folder / "images.npy", "ab") as fh:
        fh.write(b"\0" * 100)


def overwrite_pixels(folder: Path) -> None:  # the same size: only the checksum can tell
    path = folder / "images.npy"
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.seek(size - 16)
        inverted = bytes(255 - b for b in fh.read(16))
        fh.seek(size - 16)
        fh.write(inverted)


def delete_images(folder: Path) -> None:
    (folder / "images.npy").unlink()


def garble_index(folder: Path) -> None:
    (folder / "index.json").write_text('{"format_version": 1, "key": ')


def old_format(folder: Path) -> None:
    index = json.loads((folder / "index.json").read_text())
    (folder / "index.json").write_text(json.dumps({**index, "format_version": 0}))


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (truncate_images, "images.npy: unreadable"),
        (extend_images, "images.npy: .* bytes; expected"),
        (delete_images, "images.npy: unreadable"),
        (garble_index, "index.json: unreadable"),
        (old_format, f"format_version is 0; expected {CACHE_VERSION}"),
        (overwrite_pixels, r"images.npy: its sha256 is not the one in index.json: damaged"),
    ],
)
def test_damaged_cache_is_rebuilt_with_a_warning(lfw, damage, reason):
    load_or_build_cache(lfw, PREP, workers=1, progress=False)
    damage(folder_of(lfw))
    with pytest.raises(CacheError, match=reason):
        open_cache(folder_of(lfw), PREP, CHECKSUMS, sorted_refs(lfw.image_counts))
    with pytest.warns(UserWarning, match="rebuilding the image cache"):
        cache = load_or_build_cache(lfw, PREP, workers=1, progress=False)
    np.testing.assert_array_equal(cache.images, expected_images(lfw))


# --- crash safety --------------------------------------------------------------------------


def crash_after(n: int):
    """A stand-in for load_image that works n times, then fails as a crash would."""
    calls = {"n": 0}

    def flaky(path, prep):
        calls["n"] += 1
        if calls["n"] > n:
            raise RuntimeError("simulated crash")
        return load_image(path, prep)

    return flaky


def assert_looks_incomplete(lfw: LFWDataset) -> None:
    folder = folder_of(lfw)
    assert not folder.exists()  # a build that failed leaves no folder, half-written or empty
    with pytest.raises(CacheError, match=r"no index\.json"):
        open_cache(folder, PREP, CHECKSUMS, sorted_refs(lfw.image_counts))


def test_crash_midway_leaves_nothing_complete_and_the_next_call_builds(lfw, monkeypatch):
    monkeypatch.setattr(cache_mod, "load_image", crash_after(6))
    with pytest.raises(RuntimeError, match="simulated crash"):
        load_or_build_cache(lfw, PREP, workers=1, progress=False)
    assert_looks_incomplete(lfw)

    monkeypatch.undo()
    cache = load_or_build_cache(lfw, PREP, workers=1, progress=False)
    np.testing.assert_array_equal(cache.images, expected_images(lfw))


def test_crash_while_rebuilding_unmarks_the_old_cache(lfw, monkeypatch):
    load_or_build_cache(lfw, PREP, workers=1, progress=False)
    monkeypatch.setattr(cache_mod, "load_image", crash_after(6))
    refs = sorted_refs(lfw.image_counts)
    with pytest.raises(RuntimeError, match="simulated crash"):
        build_cache(
            lfw.images_dir, refs, PREP, lfw.home / "cache", CHECKSUMS, workers=1, progress=False
        )
    assert_looks_incomplete(lfw)


def test_crash_in_a_worker_process_propagates_and_cleans_up(lfw):
    (lfw.images_dir / "Dan_Dunn" / "Dan_Dunn_0002.jpg").write_bytes(b"broken")
    with pytest.raises(ValueError, match=r"Dan_Dunn_0002\.jpg: cannot decode image"):
        load_or_build_cache(lfw, PREP, workers=2, progress=False)
    assert_looks_incomplete(lfw)


def test_a_build_that_fails_writing_its_index_leaves_no_folder(lfw, monkeypatch):
    def full(path, obj):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache_mod, "write_json_atomic", full)
    with pytest.raises(OSError, match="No space left"):
        load_or_build_cache(lfw, PREP, workers=1, progress=False)
    assert_looks_incomplete(lfw)


def test_remove_caches_empties_a_cache_folder_linked_to_another_disk(lfw, tmp_path):
    elsewhere = tmp_path / "big-disk"
    elsewhere.mkdir()
    cache_root(lfw.home).symlink_to(elsewhere)
    load_or_build_cache(lfw, PREP, workers=1, progress=False)
    assert list(elsewhere.iterdir())
    remove_caches(lfw.home)
    assert cache_root(lfw.home).is_symlink() and list(elsewhere.iterdir()) == []


def test_missing_image_fails_the_build(lfw):
    (lfw.images_dir / "Carol_Cole" / "Carol_Cole_0001.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"Carol_Cole_0001\.jpg"):
        load_or_build_cache(lfw, PREP, workers=1, progress=False)
    assert_looks_incomplete(lfw)


@pytest.mark.parametrize(
    ("refs", "message"),
    [
        ([], "no images to cache"),
        (
            [ImageRef("Bob_Baker", 1), ImageRef("Bob_Baker", 1)],
            "Bob_Baker_0001.jpg is listed twice",
        ),
    ],
)
def test_build_cache_rejects_empty_or_repeated_refs(lfw, refs, message):
    with pytest.raises(ValueError, match=message):
        build_cache(
            lfw.images_dir, refs, PREP, lfw.home / "cache", CHECKSUMS, workers=1, progress=False
        )


def test_a_cache_the_disk_cannot_hold_is_refused_before_it_is_allocated(lfw, monkeypatch):
    images = len(sorted_refs(lfw.image_counts)) * int(np.prod(PREP.shape))
    monkeypatch.setattr(cache_mod.shutil, "disk_usage",
                        lambda path: SimpleNamespace(free=images - 1))
    with pytest.raises(CacheError, match=r"the image cache needs 0\.0 GB and the disk has 0\.0 GB "
                                         r"free"):
        load_or_build_cache(lfw, PREP, workers=1, progress=False)
    assert not list(folder_of(lfw).glob("images.npy*"))
