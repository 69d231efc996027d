"""Gallery: planted identical photos rank first, unknown below the threshold, save/load."""

from __future__ import annotations

import contextlib
import errno
import json

import pytest
import safetensors.torch
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from siamface.errors import SiamfaceError
from siamface.inference.gallery import Gallery, GalleryError, GalleryWarning, gallery_photos
from siamface.inference.verifier import Verifier
from siamface.utils.atomic import WriteError

from .conftest import IDENTICAL_LOGIT, tiny_model

# These tests use a verifier without gallery calibration (test_gallery_threshold.py has both).
pytestmark = pytest.mark.filterwarnings(
    "ignore::siamface.inference.gallery.GalleryThresholdWarning")


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
    assert sorted(p.name for p in out.iterdir()) == ["embeddings.safetensors", "gallery.json"]
    loaded = Gallery.load(out, tiny_verifier)
    assert loaded.names_ == gallery.names_ and loaded.sources_ == gallery.sources_
    assert torch.equal(loaded.embeddings_, gallery.embeddings_)
    assert loaded.identify(people / "Ann.png") == gallery.identify(people / "Ann.png")


def test_loading_with_another_model_or_settings_is_refused(tiny_verifier, people, tmp_path):
    out = Gallery(tiny_verifier).fit(people).save(tmp_path / "saved")
    other = Verifier(tiny_model(seed=1), tiny_verifier.preprocessing, 0.0, detect=False)
    with pytest.raises(ValueError, match=r"other settings \(model differ"):
        Gallery.load(out, other)
    no_tta = Verifier(tiny_verifier.model, tiny_verifier.preprocessing, 0.0, detect=False,
                      flip_tta=False)
    with pytest.raises(ValueError, match="flip_tta"):
        Gallery.load(out, no_tta)


def test_broken_saved_galleries_are_named(tiny_verifier, people, tmp_path):
    with pytest.raises(FileNotFoundError, match="not a saved gallery"):
        Gallery.load(tmp_path, tiny_verifier)
    out = Gallery(tiny_verifier).fit(people).save(tmp_path / "saved")
    index = json.loads((out / "gallery.json").read_text())
    (out / "gallery.json").write_text(json.dumps({**index, "names": index["names"][:2],
                                                  "sources": index["sources"][:2]}))
    with pytest.raises(ValueError, match=r"2 names and 2 sources .* but 5 embeddings"):
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
    embeddings = (out / "embeddings.safetensors").read_bytes()

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
    for damaged in (b"", embeddings[:40], b"\x00" * 64):
        (out / "embeddings.safetensors").write_bytes(damaged)
        with pytest.raises(GalleryError, match="not a readable safetensors file"):
            Gallery.load(out, tiny_verifier)


def test_a_name_with_control_characters_is_refused_when_fitting(tiny_verifier, people):
    (people / "Bad\x1b[2J").mkdir()
    (people / "Ann.png").rename(people / "Bad\x1b[2J" / "a.png")
    with pytest.raises(GalleryError, match="has control characters"):
        Gallery(tiny_verifier).fit(people)


def test_a_full_disk_while_saving_names_the_file(tiny_verifier, people, tmp_path, monkeypatch):
    gallery = Gallery(tiny_verifier).fit(people)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(safetensors.torch, "save_file", full)
    with pytest.raises(WriteError) as info:
        gallery.save(tmp_path / "saved")
    assert str(info.value) == (f"no space left on device writing "
                               f"{tmp_path / 'saved' / 'embeddings.safetensors'}")
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
