"""Every LFW image preprocessed once: one uint8 .npy, memory-mapped, plus a JSON index.

Decoding LFW's 13,233 JPEGs takes several seconds of CPU, and training reads each image many
times, so each preprocessing setting is decoded once into

    <home>/cache/<key>/images.npy   uint8 (N, C, H, W), row i is refs[i]
    <home>/cache/<key>/index.json   format version, key, preprocessing, source checksums,
                                    shape, the refs in row order as [name, number] and the
                                    sha256 of images.npy (checked on every open: pixels
                                    overwritten in place would give confident wrong answers)

where key = stable_hash(preprocessing, source checksums, CACHE_VERSION): changing the settings,
re-importing different source files or changing this format gives a new folder, never a stale
array. An import removes every cache of its data home (``remove_caches``) before it swaps in
its images: one that repairs a damaged copy has the same checksums, and so the same keys, as
caches that may hold the damaged pixels. Opening a cache reads images.npy once to check its
sha256 (a file changed in place would give confident wrong answers); then it is
np.load(mmap_mode="r"), and the OS page cache shares the pixels between processes.

A crash must never leave something that looks complete. index.json is what marks a folder
complete, so a build first deletes it, fills images.npy.partial, renames that to images.npy and
writes index.json last (atomically), and a build that fails removes its folder.
load_or_build_cache builds while holding the data home's lock file (``siamface.utils.lock``): a
second process that finds the cache missing waits for the first one's build, then opens it
instead of building it again into the same images.npy.partial.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import warnings
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm import tqdm

from siamface.data.preprocess import Preprocessing, load_image
from siamface.data.protocol import ImageRef
from siamface.errors import SiamfaceError, SiamfaceWarning
from siamface.utils.atomic import write_json_atomic
from siamface.utils.hashing import sha256_file, stable_hash
from siamface.utils.lock import DATA_HOME_LOCK, file_lock

CACHE_VERSION = 2  # 2: index.json holds images.npy's sha256
# Images per worker task: enough to amortise the task round trip (~0.1 ms against ~1 ms of
# decoding per image), few enough that the progress bar moves smoothly and both cores stay busy
# to the end.
CHUNK = 64

CACHE_DIR = "cache"  # in the data home
INDEX_NAME = "index.json"
IMAGES_NAME = "images.npy"
PARTIAL_NAME = "images.npy.partial"


class CacheRebuildWarning(SiamfaceWarning):
    """A cache on disk was damaged or stale, so it is built again."""


class CacheError(SiamfaceError, ValueError):
    """A cache folder is missing, incomplete, corrupt or holds other settings than asked for."""


class MissingImageError(SiamfaceError, KeyError):
    """An image asked of an ImageCache is not in it."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0])


class _LFWLike(Protocol):
    """What load_or_build_cache needs of siamface.data.lfw.LFWDataset."""

    home: Path
    images_dir: Path
    image_counts: dict[str, int]
    checksums: dict[str, str]

    def check_current(self) -> None: ...


class ImageCache:
    """Preprocessed images of an LFW copy, one row per image.

    Args:
        images: uint8 array (N, C, H, W), usually a read-only memmap of images.npy.
        refs: The image in each row, ``len(refs) == N``, no repeats.
        prep: The preprocessing the rows went through.
        key: The cache key (the folder's name).
    """

    def __init__(
        self, images: np.ndarray, refs: Sequence[ImageRef], prep: Preprocessing, key: str
    ) -> None:
        self.images = images
        self.refs = list(refs)
        self.prep = prep
        self.key = key
        self._rows = {ref: i for i, ref in enumerate(self.refs)}

    def __len__(self) -> int:
        return len(self.refs)

    def __repr__(self) -> str:
        return f"ImageCache(key={self.key!r}, images={len(self)}, shape={self.prep.shape})"

    def indices(self, refs: Iterable[ImageRef]) -> np.ndarray:
        """Row numbers (int64) of ``refs`` in ``images``, in the order given.

        Raises:
            MissingImageError: a ref is not in the cache (e.g. a name misspelt in a pairs file).
        """
        rows = []
        for ref in refs:
            row = self._rows.get(ref)
            if row is None:
                raise MissingImageError(
                    f"{ref.name} image {ref.number} ({ref.filename}) is not in cache "
                    f"{self.key} of {len(self)} images"
                )
            rows.append(row)
        return np.array(rows, dtype=np.int64)


def all_image_refs(image_counts: Mapping[str, int]) -> list[ImageRef]:
    """Every image of ``image_counts`` (name -> count), sorted by name, then number."""
    return [ImageRef(n, k) for n in sorted(image_counts) for k in range(1, image_counts[n] + 1)]


def cache_root(home: str | os.PathLike[str]) -> Path:
    """``<home>/cache``: the image caches of a data home, a folder each."""
    return Path(home) / CACHE_DIR


def remove_caches(home: str | os.PathLike[str]) -> None:
    """Remove every image cache of the data home ``home`` (the folders inside ``cache``, which
    may be a link to another disk); the caller holds its lock.

    Raises:
        OSError: One could not be removed (a stale cache left would give wrong pixels).
    """
    root = cache_root(home)
    if not root.is_dir():
        return
    for entry in root.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def cache_key(prep: Preprocessing, checksums: Mapping[str, str]) -> str:
    """The folder name for ``prep`` applied to the sources with ``checksums``."""
    return stable_hash(
        {"preprocessing": prep.to_dict(), "checksums": dict(checksums), "version": CACHE_VERSION}
    )


def open_cache(
    folder: str | os.PathLike[str],
    prep: Preprocessing,
    checksums: Mapping[str, str],
    refs: Sequence[ImageRef],
) -> ImageCache:
    """Open a complete cache folder, checking that it is the one asked for.

    Args:
        folder: ``<home>/cache/<key>``.
        prep: The expected preprocessing.
        checksums: The expected source checksums.
        refs: The expected images, in row order.

    Raises:
        CacheError: with the reason, when the folder is missing, incomplete, corrupt or holds
            anything else than ``prep`` of ``refs`` from sources with ``checksums``.
    """
    return _open(Path(folder), prep, checksums, refs, hash_pixels=True)


def _open(folder: Path, prep: Preprocessing, checksums: Mapping[str, str],
          refs: Sequence[ImageRef], hash_pixels: bool) -> ImageCache:
    """``open_cache``; ``hash_pixels=False`` only for a build that has just hashed its own."""
    index_path, images_path = folder / INDEX_NAME, folder / IMAGES_NAME
    if not index_path.is_file():
        raise CacheError(f"{folder}: no {INDEX_NAME} (never built, or the build did not finish)")
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CacheError(f"{index_path}: unreadable: {err}") from err
    if not isinstance(index, dict):
        raise CacheError(f"{index_path}: expected a JSON object, found {type(index).__name__}")

    shape = [len(refs), *prep.shape]
    expected: dict[str, Any] = {
        "format_version": CACHE_VERSION,
        "key": folder.name,
        "preprocessing": prep.to_dict(),
        "checksums": dict(checksums),
        "shape": shape,
    }
    for field, want in expected.items():
        if index.get(field) != want:
            raise CacheError(f"{index_path}: {field} is {index.get(field)!r}; expected {want!r}")
    if index.get("refs") != [[ref.name, ref.number] for ref in refs]:
        raise CacheError(f"{index_path}: the list of images differs from the one asked for")

    try:
        images = np.load(images_path, mmap_mode="r")
    except (OSError, ValueError) as err:  # missing, bad header, or shorter than its header says
        raise CacheError(f"{images_path}: unreadable: {err}") from err
    if images.dtype != np.uint8 or list(images.shape) != shape:
        raise CacheError(
            f"{images_path}: holds {images.dtype} {images.shape}; expected uint8 {tuple(shape)}"
        )
    try:  # (removed meanwhile by an import, which holds the lock this reader does not)
        size = images_path.stat().st_size
        if size != images.offset + images.nbytes:
            raise CacheError(f"{images_path}: {size} bytes; expected "
                             f"{images.offset + images.nbytes}")
        if hash_pixels and sha256_file(images_path) != index.get("images_sha256"):  # edited
            raise CacheError(f"{images_path}: its sha256 is not the one in {INDEX_NAME}: damaged")
    except OSError as err:
        raise CacheError(f"{images_path}: unreadable: {err}") from err
    return ImageCache(images, refs, prep, folder.name)


def build_cache(
    images_dir: str | os.PathLike[str],
    refs: Sequence[ImageRef],
    prep: Preprocessing,
    cache_dir: str | os.PathLike[str],
    checksums: Mapping[str, str],
    workers: int = 2,
    progress: bool = True,
) -> ImageCache:
    """Decode ``refs`` with ``prep`` into ``cache_dir/<key>/``, replacing whatever was there.

    Args:
        images_dir: Folder of ``<Name>/<Name>_NNNN.jpg``.
        refs: The images, in the row order wanted.
        prep: The preprocessing to apply.
        cache_dir: The cache root, ``<home>/cache``.
        checksums: Checksums of the sources the images came from (they go into the key).
        workers: Processes decoding in parallel; 1 decodes in this process.
        progress: Show a tqdm progress bar.

    Raises:
        ValueError: ``refs`` is empty or repeats an image.
        FileNotFoundError, ImageDecodeError: an image is missing or unreadable (from load_image).
    """
    refs = list(refs)
    if not refs:
        raise ValueError("no images to cache")
    seen: set[ImageRef] = set()
    for ref in refs:
        if ref in seen:
            raise ValueError(f"{ref.filename} is listed twice in the images to cache")
        seen.add(ref)
    key = cache_key(prep, checksums)
    folder = Path(cache_dir) / key
    folder.mkdir(parents=True, exist_ok=True)
    # From here until the last line the folder must not look complete.
    (folder / INDEX_NAME).unlink(missing_ok=True)
    partial = folder / PARTIAL_NAME
    paths = [Path(images_dir) / ref.name / ref.filename for ref in refs]
    try:
        # Preallocate the whole array on disk; workers write their rows straight into it.
        shape = (len(refs), *prep.shape)  # (N, C, H, W)
        _check_room(folder, math.prod(shape))
        np.lib.format.open_memmap(partial, mode="w+", dtype=np.uint8, shape=shape)
        _fill(partial, paths, prep, workers, progress, desc=f"caching {key}")
        with open(partial, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(partial, folder / IMAGES_NAME)
        index = {
            "format_version": CACHE_VERSION,
            "key": key,
            "preprocessing": prep.to_dict(),
            "checksums": dict(checksums),
            "shape": [len(refs), *prep.shape],
            "refs": [[ref.name, ref.number] for ref in refs],
            "images_sha256": sha256_file(folder / IMAGES_NAME),
        }
        write_json_atomic(folder / INDEX_NAME, index)
    except BaseException:  # (Ctrl-C too) an unfinished folder is of no use to anyone
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return _open(folder, prep, checksums, refs, hash_pixels=False)  # hashed for the index


def _check_room(folder: Path, nbytes: int) -> None:
    """Refuse a build the disk cannot hold (the array is preallocated, so it would fill it)."""
    free = shutil.disk_usage(folder).free
    if nbytes > free:
        raise CacheError(f"{folder}: the image cache needs {nbytes / 1e9:.1f} GB and the disk "
                         f"has {free / 1e9:.1f} GB free")


def load_or_build_cache(
    lfw: _LFWLike, prep: Preprocessing, workers: int = 2, progress: bool = True
) -> ImageCache:
    """The cache of all of ``lfw``'s images under ``prep``, built first if needed.

    Rows are sorted by person name, then image number. The cache lives in ``lfw.home/cache``
    and is rebuilt when it is missing, incomplete or corrupt; other settings or other sources
    have another key, so they are built beside it. A build holds the data home's lock file, so
    a second process asking for the same cache meanwhile waits, then opens what was built.

    Args:
        lfw: An imported LFW copy (siamface.data.lfw.LFWDataset).
        prep: The preprocessing.
        workers: Processes decoding in parallel when building.
        progress: Show a progress bar when building.
    """
    refs = all_image_refs(lfw.image_counts)
    cache_dir = cache_root(lfw.home)
    folder = cache_dir / cache_key(prep, lfw.checksums)
    try:
        return open_cache(folder, prep, lfw.checksums, refs)
    except CacheError:
        pass  # built below, unless another process builds it while we wait for the lock
    with file_lock(Path(lfw.home) / DATA_HOME_LOCK, f"build the image cache {folder.name}"):
        try:
            return open_cache(folder, prep, lfw.checksums, refs)
        except CacheError as err:
            if (folder / INDEX_NAME).exists():  # a first build is expected; damage is worth a word
                warnings.warn(f"rebuilding the image cache: {err}", CacheRebuildWarning,
                              stacklevel=2)
        lfw.check_current()  # (imports hold the lock too: none can begin before the build ends)
        return build_cache(lfw.images_dir, refs, prep, cache_dir, lfw.checksums, workers, progress)


def _fill(
    npy_path: Path,
    paths: list[Path],
    prep: Preprocessing,
    workers: int,
    progress: bool,
    desc: str,
) -> None:
    """Decode ``paths`` into the rows of the preallocated ``npy_path``, in chunks of CHUNK."""
    starts = range(0, len(paths), CHUNK)
    with tqdm(total=len(paths), unit="img", desc=desc, disable=not progress) as bar:
        if workers <= 1:
            for start in starts:
                bar.update(_load_chunk(npy_path, start, paths[start : start + CHUNK], prep))
            return
        # The platform's default start method: fork on Linux up to Python 3.13, so scripts
        # without an `if __name__ == "__main__"` guard still work. The workers only run Pillow
        # and NumPy, never torch, so a forked copy of a parent that holds torch threads is safe.
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures: list[Future[int]] = [
                pool.submit(_load_chunk, npy_path, start, paths[start : start + CHUNK], prep)
                for start in starts
            ]
            try:
                for future in as_completed(futures):
                    bar.update(future.result())
            except BaseException:
                for future in futures:  # fail fast instead of decoding the rest first
                    future.cancel()
                raise


def _load_chunk(npy_path: Path, start: int, paths: list[Path], prep: Preprocessing) -> int:
    """Write ``load_image(paths[i])`` into row ``start + i`` of ``npy_path``; return the count."""
    out = np.lib.format.open_memmap(npy_path, mode="r+")  # (N, C, H, W) uint8
    for i, path in enumerate(paths):
        out[start + i] = load_image(path, prep)
    out.flush()
    return len(paths)
