"""Gallery: planted identical photos rank first, unknown below the threshold, save/load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from siamface.inference.gallery import Gallery, gallery_photos
from siamface.inference.verifier import Verifier

from .conftest import IDENTICAL_LOGIT, random_photo, tiny_model


def save(path: Path, seed: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(random_photo(seed)).save(path)
    return path


@pytest.fixture
def people(tmp_path) -> Path:
    """Ann (one file), Bo (a folder of two photos), Cy and Di (one file each)."""
    root = tmp_path / "people"
    save(root / "Ann.png", 10)
    save(root / "Bo" / "1.png", 11)
    save(root / "Bo" / "2.png", 12)
    save(root / "Cy.jpg", 13)
    save(root / "Di.png", 14)
    (root / "notes.txt").write_text("not a photo")
    save(root / ".hidden.png", 15)
    return root


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
