"""Gallery: planted identical photos rank first, unknown below the threshold, save/load."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import importlib.util
import itertools
import json
import re
import warnings
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import features

from conftest import require
from siamface.errors import SiamfaceError
from siamface.inference import gallery_file
from siamface.inference.gallery import Gallery, GalleryError, GalleryWarning, gallery_photos
from siamface.inference.verifier import Verifier
from siamface.utils.atomic import WriteError

from .conftest import IDENTICAL_LOGIT, save, tiny_model

# These tests use a verifier without gallery calibration (test_gallery_threshold.py has both).
pytestmark = pytest.mark.filterwarnings(
    "ignore::siamface.inference.gallery.GalleryThresholdWarning")


def test_heic_photos_are_gallery_photos_where_pillow_heif_reads_them(tmp_path, monkeypatch):
    require("pillow_heif")
    for name in ("Ann.heic", "Bo.HEIF", "Cy.jpg", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert [name for name, _ in gallery_photos(tmp_path)] == ["Ann", "Bo", "Cy"]
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "pillow_heif" else real(name, *a))
    assert [name for name, _ in gallery_photos(tmp_path)] == ["Cy"]  # left out, as before


def test_avif_photos_are_gallery_photos_where_pillow_reads_them(tmp_path, monkeypatch):
    # verify read Bo.avif, while a gallery folder left him out without a word
    for name in ("Bo.avif", "Cy.jpg"):
        (tmp_path / name).write_bytes(b"")
    monkeypatch.setattr(features, "check", lambda feature: feature == "avif")
    assert [name for name, _ in gallery_photos(tmp_path)] == ["Bo", "Cy"]
    monkeypatch.setattr(features, "check", lambda feature: False)
    assert [name for name, _ in gallery_photos(tmp_path)] == ["Cy"]


def test_layout_names_from_stems_and_folders(people):
    entries = gallery_photos(people)
    assert [(name, p.relative_to(people).as_posix()) for name, p in entries] == [
        ("Ann", "Ann.png"), ("Bo", "Bo/1.png"), ("Bo", "Bo/2.png"), ("Cy", "Cy.jpg"),
        ("Di", "Di.png"),
    ]


def test_empty_or_missing_folders_are_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="gallery folder not found"):
        gallery_photos(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no photos found"):
        gallery_photos(tmp_path / "empty")


def test_a_file_given_as_the_gallery_says_so(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="expected a gallery folder, not a file"):
        gallery_photos(tmp_path / "a.jpg")


def test_a_person_folder_without_photos_is_noted(people):
    (people / "Ed").mkdir()
    (people / "Ed" / "notes.txt").write_text("no photo")
    with pytest.warns(GalleryWarning, match=r"Ed: no photos .*; Ed is not enrolled"):
        entries = gallery_photos(people)
    assert "Ed" not in {name for name, _ in entries}


def test_planted_photo_ranks_its_person_first(tiny_verifier, people):
    gallery = Gallery(tiny_verifier).fit(people)
    assert gallery.names_ == ["Ann", "Bo", "Bo", "Cy", "Di"]
    assert gallery.embeddings_.shape == (5, 8)
    result = gallery.identify(people / "Bo" / "2.png", top_k=3)
    best = result.candidates[0]
    assert (result.name, best.name, best.source) == ("Bo", "Bo", str(people / "Bo" / "2.png"))
    assert best.logit == pytest.approx(IDENTICAL_LOGIT, abs=1e-5)
    assert len(result.candidates) == 3
    assert [c.name for c in result.candidates].count("Bo") == 1  # a person once, by best photo
    logits = [c.logit for c in result.candidates]
    assert logits == sorted(logits, reverse=True)
    assert len(gallery.identify(people / "Ann.png", top_k=10).candidates) == 4  # 4 people


def test_below_the_threshold_the_probe_is_unknown(tiny_verifier, people):
    # The cosine head cannot score above IDENTICAL_LOGIT: with the threshold above it, even the
    # planted photo is "unknown", yet the ranking is still given.
    strict = Verifier(tiny_verifier.model, tiny_verifier.preprocessing, IDENTICAL_LOGIT + 0.5,
                      detect=False)
    result = Gallery(strict).fit(people).identify(people / "Cy.jpg")
    assert result.name is None and result.candidates[0].name == "Cy"
    assert str(result).startswith("identified: unknown")


def test_ranked_table(tiny_verifier, people):
    text = str(Gallery(tiny_verifier).fit(people).identify(people / "Di.png", top_k=2))
    lines = text.splitlines()
    assert lines[0] == "identified: Di"
    assert lines[1].split() == ["rank", "name", "probability", "logit"]
    assert lines[2].split()[:2] == ["1", "Di"] and lines[3].split()[0] == "2"
    assert lines[4].startswith("threshold: p >= ")


def test_identify_before_fit_and_bad_top_k(tiny_verifier, people):
    with pytest.raises(RuntimeError, match="empty"):
        Gallery(tiny_verifier).identify(people / "Ann.png")
    with pytest.raises(ValueError, match="top_k"):
        Gallery(tiny_verifier).fit(people).identify(people / "Ann.png", top_k=0)


def test_save_and_load_round_trip(tiny_verifier, people, tmp_path):
    gallery = Gallery(tiny_verifier).fit(people)
    out = gallery.save(tmp_path / "saved")
    lock, embeddings, index = sorted(p.name for p in out.iterdir())
    assert re.fullmatch(r"embeddings-[0-9a-f]{16}\.safetensors", embeddings)
    assert (lock, index) == (".gallery.lock", "gallery.json")
    loaded = Gallery.load(out, tiny_verifier)
    assert loaded.names_ == gallery.names_ and loaded.sources_ == gallery.sources_
    assert torch.equal(loaded.embeddings_, gallery.embeddings_)
    assert loaded.identify(people / "Ann.png") == gallery.identify(people / "Ann.png")
    grown = loaded.enroll("Ed", [people / "Ann.png"], ["ed.png"]).save(out)  # saved over it
    assert len(list(grown.glob("embeddings-*"))) == 1  # the embeddings it replaced are gone
    assert Gallery.load(out, tiny_verifier).names_ == [*gallery.names_, "Ed"]


def test_a_save_that_fails_over_a_saved_gallery_leaves_that_gallery_whole(
        tiny_verifier, people, tmp_path, monkeypatch):
    before = Gallery(tiny_verifier).fit(people)
    out = before.save(tmp_path / "saved")
    reordered = Gallery.from_embeddings(tiny_verifier, before.names_[::-1], before.sources_[::-1],
                                        before.embeddings_.flip(0).contiguous())

    def full(*args, **kwargs):  # the disk fills up between the two files
        raise WriteError("no space left on device writing gallery.json")

    monkeypatch.setattr(gallery_file, "write_json_atomic", full)
    with pytest.raises(WriteError):
        reordered.save(out)
    monkeypatch.undo()
    loaded = Gallery.load(out, tiny_verifier)  # the new embeddings never meet the old names
    assert loaded.names_ == before.names_ and torch.equal(loaded.embeddings_, before.embeddings_)


def test_a_gallery_is_saved_only_into_an_empty_folder_or_over_a_saved_gallery(
        tiny_verifier, people, tmp_path):
    gallery = Gallery(tiny_verifier).fit(people)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "gallery.json").write_text('{"my": "notes"}')  # the user's, not a gallery
    (mine / "embeddings.safetensors").write_bytes(b"the user's own")
    kept = {p.name: p.read_bytes() for p in mine.iterdir()}
    with pytest.raises(GalleryError, match=r"mine/gallery\.json is not a siamface gallery's"):
        gallery.save(mine)
    (mine / "gallery.json").unlink()
    with pytest.raises(GalleryError, match="holds files that are not a saved gallery's"):
        gallery.save(people)  # among its own photos: photos added later would not be seen
    assert {p.name: p.read_bytes() for p in mine.iterdir()} == {
        "embeddings.safetensors": kept["embeddings.safetensors"]}
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(GalleryError, match="is a file"):
        gallery.save(tmp_path / "a-file")


def test_two_saves_at_once_leave_one_whole_gallery(tiny_verifier, people, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    first = Gallery(tiny_verifier).fit(people)
    second = Gallery.from_embeddings(tiny_verifier, first.names_[::-1], first.sources_[::-1],
                                     first.embeddings_.flip(0).contiguous())
    for attempt in range(20):  # each save removed the other's fresh embeddings now and then
        out = tmp_path / f"saved{attempt}"
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(Gallery.save, (first, second), (out, out)))
        loaded = Gallery.load(out, tiny_verifier)
        assert loaded.names_ in (first.names_, second.names_)


@pytest.fixture
def saved_and_another(tiny_verifier, people, tmp_path):
    """A gallery saved in tmp_path/saved, its folder, and another gallery (its people in
    reverse order) to save over it."""
    old = Gallery(tiny_verifier).fit(people)
    new = Gallery.from_embeddings(tiny_verifier, old.names_[::-1], old.sources_[::-1],
                                  old.embeddings_.flip(0).contiguous())
    return old, old.save(tmp_path / "saved"), new


def test_a_new_gallery_saved_while_the_old_one_is_saved_again_leaves_one_whole(
        tiny_verifier, saved_and_another, monkeypatch):
    import threading
    from contextlib import contextmanager

    from siamface.inference import gallery_file

    old, out, new = saved_and_another
    b_wrote, a_done = threading.Event(), threading.Event()
    real_json, real_path = gallery_file.write_json_atomic, gallery_file.atomic_path

    def write_json(path, obj):  # A, its index written: let B write its embeddings (unlocked)
        real_json(path, obj)
        if threading.current_thread().name == "A":
            b_wrote.wait(1.0)

    @contextmanager
    def atomic_path(path):  # B, its embeddings written: wait for A to remove the old ones
        with real_path(path) as tmp:
            yield tmp
        if threading.current_thread().name == "B":
            b_wrote.set()
            a_done.wait(1.0)

    monkeypatch.setattr(gallery_file, "write_json_atomic", write_json)
    monkeypatch.setattr(gallery_file, "atomic_path", atomic_path)

    def save_new():
        new.save(out)
        a_done.set()

    threads = [threading.Thread(target=save_new, name="A"),
               threading.Thread(target=old.save, args=(out,), name="B")]
    threads[0].start()
    threads[1].start()
    for thread in threads:
        thread.join()
    assert Gallery.load(out, tiny_verifier).names_ in (old.names_, new.names_)


def test_photos_added_beside_a_saved_gallery_are_noted_as_not_in_it(tiny_verifier, people,
                                                                    tmp_path):
    out = Gallery(tiny_verifier).fit(people).save(tmp_path / "saved")
    with warnings.catch_warnings():
        warnings.simplefilter("error", GalleryWarning)  # nothing beside it: nothing to say
        Gallery.load(out, tiny_verifier)
    (out / "Zed.jpg").write_bytes((people / "Ann.png").read_bytes())
    with pytest.warns(GalleryWarning, match=r"saved: 1 file\(s\) or folder\(s\) beside the "
                                            r"saved gallery are not in it \(Zed\.jpg\)"):
        loaded = Gallery.load(out, tiny_verifier)
    assert "Zed" not in loaded.names_


def test_loading_with_another_model_or_settings_is_refused(tiny_verifier, people, tmp_path):
    out = Gallery(tiny_verifier).fit(people).save(tmp_path / "saved")
    other = Verifier(tiny_model(seed=1), tiny_verifier.preprocessing, 0.0, detect=False)
    with pytest.raises(ValueError, match=r"other settings \(model differs"):
        Gallery.load(out, other)
    no_tta = Verifier(tiny_verifier.model, tiny_verifier.preprocessing, 0.0, detect=False,
                      flip_tta=False)
    with pytest.raises(ValueError, match="flip_tta"):
        Gallery.load(out, no_tta)



def test_a_gallery_saved_again_while_it_is_read_is_read_whole_as_saved(tiny_verifier,
                                                                       saved_and_another,
                                                                       monkeypatch):
    _, out, new = saved_and_another
    read, saves = gallery_file._embeddings, []

    def saved_meanwhile(path, dim):  # gallery.json read, not yet the embeddings it names
        if not saves:  # a save replaces gallery.json, then removes those embeddings
            saves.append(new.save(out))
        return read(path, dim)

    monkeypatch.setattr(gallery_file, "_embeddings", saved_meanwhile)
    loaded = Gallery.load(out, tiny_verifier)
    assert saves and loaded.names_ == new.names_ and loaded.sources_ == new.sources_
    assert torch.equal(loaded.embeddings_, new.embeddings_)


def test_a_gallery_saved_again_each_time_it_is_read_is_one_line(tiny_verifier,
                                                                saved_and_another, monkeypatch):
    old, out, new = saved_and_another
    read, turns = gallery_file._embeddings, itertools.cycle([new, old])

    def saved_meanwhile(path, dim):
        next(turns).save(out)
        return read(path, dim)

    monkeypatch.setattr(gallery_file, "_embeddings", saved_meanwhile)
    tries = gallery_file.READ_TRIES
    with pytest.raises(GalleryError, match=rf"^{re.escape(str(out))}: the gallery was saved "
                                           f"again each of the {tries} times it was read; "
                                           "read it once the saves are done$"):
        Gallery.load(out, tiny_verifier)


def test_a_gallery_whose_embeddings_file_is_missing_is_incomplete(tiny_verifier, people,
                                                                  tmp_path):
    out = Gallery(tiny_verifier).fit(people).save(tmp_path / "saved")
    (embeddings,) = out.glob("embeddings-*.safetensors")
    embeddings.unlink()
    with pytest.raises(FileNotFoundError, match=rf"^{re.escape(str(embeddings))} not found: "
                                                "the gallery is incomplete$"):
        Gallery.load(out, tiny_verifier)

def test_broken_saved_galleries_are_named(tiny_verifier, people, tmp_path):
    with pytest.raises(FileNotFoundError, match="not a saved gallery"):
        Gallery.load(tmp_path, tiny_verifier)
    out = Gallery(tiny_verifier).fit(people).save(tmp_path / "saved")
    index = json.loads((out / "gallery.json").read_text())
    (out / "gallery.json").write_text(json.dumps({**index, "names": index["names"][:2],
                                                  "sources": index["sources"][:2]}))
    with pytest.raises(ValueError, match=r"saved: 2 names and 2 sources but 5 embeddings"):
        Gallery.load(out, tiny_verifier)
    (out / "gallery.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        Gallery.load(out, tiny_verifier)
    (out / "gallery.json").write_text(json.dumps({"format": "something else"}))
    with pytest.raises(ValueError, match="not a siamface gallery"):
        Gallery.load(out, tiny_verifier)


def test_a_loaded_gallery_is_checked_whole(tiny_verifier, people, tmp_path):
    out = Gallery(tiny_verifier).fit(people).save(tmp_path / "saved")
    index = json.loads((out / "gallery.json").read_text())

    def load_with(message, **changes):
        (out / "gallery.json").write_text(json.dumps({**index, **changes}))
        with pytest.raises(GalleryError, match=message) as info:
            Gallery.load(out, tiny_verifier)
        assert str(out) in str(info.value)  # the message names the file
        (out / "gallery.json").write_text(json.dumps(index))

    load_with(r"'names' must be a list of strings", names="ABCDE")  # a string is not a list
    load_with(r"'names' holds '\\x1b\[31mEve'", names=["\x1b[31mEve", *index["names"][1:]])
    load_with(r"'names' holds ''", names=["", *index["names"][1:]])
    bad = {k: v for k, v in index.items() if k != "sources"}
    (out / "gallery.json").write_text(json.dumps(bad))
    with pytest.raises(GalleryError, match="missing 'sources'"):
        Gallery.load(out, tiny_verifier)
    (out / "gallery.json").write_text(json.dumps(index))

    nan = Gallery(tiny_verifier).fit(people)
    nan.embeddings_ = nan.embeddings_.clone()
    nan.embeddings_[2, 0] = float("nan")
    nan.save(tmp_path / "nan")
    with pytest.raises(GalleryError, match="NaN or infinite"):
        Gallery.load(tmp_path / "nan", tiny_verifier)
    wide = Gallery(tiny_verifier).fit(people)
    wide.embeddings_ = torch.zeros(5, 9)
    wide.save(tmp_path / "wide")
    with pytest.raises(GalleryError, match=r"expected \(N, 8\) float32 embeddings"):
        Gallery.load(tmp_path / "wide", tiny_verifier)
    named = out / index["embeddings"]
    embeddings = named.read_bytes()
    named.write_bytes(embeddings[:-1] + b"!")
    with pytest.raises(GalleryError, match="do not match the checksum in its name"):
        Gallery.load(out, tiny_verifier)
    for damaged in (b"", embeddings[:40], b"\x00" * 64):  # named by their own checksum
        name = f"embeddings-{hashlib.sha256(damaged).hexdigest()[:16]}.safetensors"
        (out / name).write_bytes(damaged)
        (out / "gallery.json").write_text(json.dumps({**index, "embeddings": name}))
        with pytest.raises(GalleryError, match="not a readable safetensors file"):
            Gallery.load(out, tiny_verifier)
    load_with(r"'embeddings' must name the embeddings file", embeddings="../../etc/passwd")


def test_a_name_with_control_characters_is_refused_when_fitting(tiny_verifier, people):
    (people / "Bad\x1b[2J").mkdir()
    (people / "Ann.png").rename(people / "Bad\x1b[2J" / "a.png")
    with pytest.raises(GalleryError, match="has control characters"):
        Gallery(tiny_verifier).fit(people)


def test_a_full_disk_while_saving_names_the_file(tiny_verifier, people, tmp_path, monkeypatch):
    gallery = Gallery(tiny_verifier).fit(people)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(WriteError) as info:
        gallery.save(tmp_path / "saved")
    assert re.fullmatch(rf"no space left on device writing {re.escape(str(tmp_path))}/saved/"
                        r"embeddings-[0-9a-f]{16}\.safetensors", str(info.value))
    assert not (tmp_path / "saved" / "gallery.json").exists()


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                    lambda kids: st.lists(kids, max_size=4)
                    | st.dictionaries(st.text(max_size=8), kids, max_size=4), max_leaves=12),
       st.sampled_from(["names", "sources", "settings", "version", "format", "threshold",
                        None]))
def test_any_gallery_index_loads_or_fails_with_a_gallery_error(
        tiny_verifier, saved_gallery, value, key):
    index = json.loads((saved_gallery / "gallery.json").read_text())
    text = json.dumps(value) if key is None else json.dumps({**index, key: value})
    try:
        (saved_gallery / "gallery.json").write_text(text)
        with contextlib.suppress(SiamfaceError):
            Gallery.load(saved_gallery, tiny_verifier)
    finally:
        (saved_gallery / "gallery.json").write_text(json.dumps(index))


@pytest.fixture
def saved_gallery(tiny_verifier, people, tmp_path):
    return Gallery(tiny_verifier).fit(people).save(tmp_path / "fuzzed")


def test_a_gallery_is_built_person_by_person_from_empty(tiny_verifier, people):
    empty = Gallery(tiny_verifier)
    for use in (lambda: empty.people_, lambda: empty.save(people / "out")):
        with pytest.raises(RuntimeError, match="this Gallery is empty"):
            use()
    built = empty.enroll("Ann", [people / "Ann.png"], ["Ann.png"])
    assert (built.names_, built.sources_, built.people_) == (["Ann"], ["Ann.png"], 1)


@pytest.mark.parametrize(("photos", "sources", "message"), [
    ("Ann.png", ["Ann.png"], "photos must be a non-empty list"),  # not taken letter by letter
    ([], [], "photos must be a non-empty list"),
    (["Ann.png", "Di.png"], ["only one"], "one source for each of the 2 photos"),
    (["Ann.png"], ["a", "extra"], "one source for each of the 1 photos"),
    (["Ann.png"], [""], "sources holds '', which is empty"),
])
def test_enroll_refuses_photos_and_sources_that_do_not_pair(tiny_verifier, people, photos,
                                                            sources, message):
    gallery = Gallery(tiny_verifier).fit(people)
    before = list(gallery.names_)
    photos = photos if isinstance(photos, str) else [people / p for p in photos]
    with pytest.raises(GalleryError, match=message):
        gallery.enroll("Ed", photos, sources)
    assert gallery.names_ == before  # nothing half-enrolled


def test_embeddings_given_directly_are_checked(tiny_verifier):
    ok = torch.eye(2, 8)
    for names, sources, embeddings, message in [
        (["a", "b"], ["x"], ok, "2 names and 1 sources but 2 embeddings"),
        ([], [], torch.zeros(0, 8), "no photos"),
        (["a", "b"], ["x", "y"], torch.full((2, 8), float("nan")), "NaN or infinite"),
        (["a", "b"], ["x", "y"], torch.zeros(2, 8), "embedding 0 is all zeros or too large"),
        (["a", "b"], ["x", "y"], torch.cat([ok[:1], torch.full((1, 8), 3e38)]),
         "embedding 1 is all zeros or too large"),  # its length overflows float32
        (["a", "b"], ["x", "y"], ok.numpy(), r"expected \(N, 8\) float32 .* got ndarray"),
        (["a", "b"], ["x", "y"], torch.zeros(2, 9), r"expected \(N, 8\) float32"),
        ("ab", ["x", "y"], ok, "names must be a list of strings"),
    ]:
        with pytest.raises(GalleryError, match=message):
            Gallery.from_embeddings(tiny_verifier, names, sources, embeddings)
    gallery = Gallery.from_embeddings(tiny_verifier, ["a", "b"], ["x", "y"], torch.eye(2, 8))
    for probe, message in [(torch.zeros(9), r"expected \(1, 8\)"),
                           (torch.full((8,), float("inf")), "NaN or infinite"),
                           (torch.zeros(8, dtype=torch.float64), "float32")]:
        with pytest.raises(GalleryError, match=message):
            gallery.identify_embedding(probe)
    with pytest.raises(GalleryError, match="target_fpir must be in"):
        Gallery(tiny_verifier, target_fpir="0.01")


def test_a_name_spelled_two_ways_is_one_person(tiny_verifier, tmp_path):
    # macOS stores "José" decomposed (NFD): the same photo under both spellings was two
    # people, tied at the top, so it came back "unknown" and the threshold was set for 3
    composed, decomposed = "Jos\u00e9", "Jose\u0301"
    save(tmp_path / f"{composed}.png", 20)
    save(tmp_path / f"{decomposed}.png", 20)
    save(tmp_path / "Cy.png", 21)
    gallery = Gallery(tiny_verifier).fit(tmp_path)
    assert gallery.people_ == 2 and set(gallery.names_) == {composed, "Cy"}
    assert gallery.identify(tmp_path / f"{composed}.png").name == composed
    gallery.enroll(f" {decomposed} ", [tmp_path / "Cy.png"], ["again.png"])
    assert gallery.people_ == 2
