"""Two processes writing into one data home: imports and cache builds wait for each other."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from test_importer import TINY, listing, make_source, manifest

from siamface.data.importer import import_lfw
from siamface.data.lfw import open_lfw
from siamface.utils.lock import DATA_HOME_LOCK, file_lock

IMPORT = textwrap.dedent(
    """
    import sys
    from siamface.data.importer import import_lfw

    lfw = import_lfw([sys.argv[1]], sys.argv[2], progress=False)
    print(lfw.num_images, flush=True)
    """
)

# Counts the builds: prints "built" each time load_or_build_cache has to build.
CACHE = textwrap.dedent(
    """
    import sys
    from siamface.data import cache
    from siamface.data.lfw import open_lfw
    from siamface.data.preprocess import Preprocessing

    build = cache.build_cache

    def counted(*args, **kwargs):
        print("built", flush=True)
        return build(*args, **kwargs)

    cache.build_cache = counted
    images = cache.load_or_build_cache(
        open_lfw(sys.argv[1]), Preprocessing(size=8), workers=1, progress=False
    )
    print(len(images), flush=True)
    """
)


def python(script: str, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", script, *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_imports_at_once_both_finish_and_leave_one_complete_copy(tmp_path):
    source, home = make_source(tmp_path, "lfw", "tgz"), tmp_path / "home"
    procs = [python(IMPORT, source, home) for _ in range(2)]
    outputs = [proc.communicate(timeout=300) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    assert [out for out, _ in outputs] == ["6\n", "6\n"]  # (one may have waited: a notice)
    assert open_lfw(home).image_counts == TINY
    assert (manifest(home)["people"], manifest(home)["images"]) == (3, 6)
    assert listing(home) == ["lfw"]


def test_an_import_waits_for_the_lock_then_finishes(tmp_path):
    source, home = make_source(tmp_path, "lfw", "zip"), tmp_path / "home"
    with file_lock(home / DATA_HOME_LOCK, "hold the data home"):
        proc = python(IMPORT, source, home)
        notice = proc.stderr.readline()
        assert notice.startswith("siamface: waiting for another process to release")
        assert f"before we import LFW into {home}" in notice
        assert not (home / "lfw").exists()  # nothing done while we hold the lock
    out, err = proc.communicate(timeout=300)
    assert (proc.returncode, out, err) == (0, "6\n", "")
    assert open_lfw(home).image_counts == TINY


def test_two_processes_asking_for_one_cache_build_it_once(tmp_path):
    home = tmp_path / "home"
    import_lfw([make_source(tmp_path, "lfw", "folder")], home, progress=False)
    with file_lock(home / DATA_HOME_LOCK, "hold the data home"):
        procs = [python(CACHE, home) for _ in range(2)]
        for proc in procs:  # both found no cache and wait for the lock
            assert "before we build the image cache" in proc.stderr.readline()
    outputs = [proc.communicate(timeout=300) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    printed = "".join(out for out, _ in outputs)
    assert printed.count("built") == 1
    assert printed.count("6\n") == 2
