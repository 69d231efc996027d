import numpy as np
import pytest
from PIL import Image

from siamface.reporting.gallery import plot_pair_gallery


def faces(k, channels, seed):
    return np.random.default_rng(seed).integers(0, 256, size=(k, channels, 32, 32), dtype=np.uint8)


@pytest.mark.parametrize("channels", [1, 3])
def test_gallery_writes_png(tmp_path, channels):
    out = plot_pair_gallery(
        faces(5, channels, 0),
        faces(5, channels, 1),
        scores=np.array([2.1, -0.3, 0.7, -4.0, 1.2]),
        labels=np.array([1, 0, 0, 1, 1]),
        predicted=np.array([1, 0, 1, 0, 1]),
        path=tmp_path / "gallery.png",
        captions=["A / A", "A / B", "C / D", "E / E", "F / F"],
        ncols=3,
        title="hardest mistakes",
    )
    assert out == tmp_path / "gallery.png"
    with Image.open(out) as image:
        assert image.format == "PNG" and image.width > 300
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3).astype(int)
    # Wrong pairs are framed in red (tab:red = 214, 39, 40), correct ones in green (44, 160, 44).
    assert (np.abs(pixels - [214, 39, 40]).sum(axis=1) < 30).sum() > 50
    assert (np.abs(pixels - [44, 160, 44]).sum(axis=1) < 30).sum() > 50


def test_gallery_rejects_bad_input(tmp_path):
    good = faces(2, 3, 0)
    s, y = np.zeros(2), np.zeros(2, int)
    with pytest.raises(ValueError, match="uint8"):
        plot_pair_gallery(good.astype(float), good, s, y, y, tmp_path / "g.png")
    with pytest.raises(ValueError, match="must match left"):
        plot_pair_gallery(good, faces(3, 3, 0), s, y, y, tmp_path / "g.png")
    with pytest.raises(ValueError, match="scores has 1 entries for 2 pairs"):
        plot_pair_gallery(good, good, s[:1], y, y, tmp_path / "g.png")
    with pytest.raises(ValueError, match="no pairs"):
        plot_pair_gallery(good[:0], good[:0], s[:0], y[:0], y[:0], tmp_path / "g.png")
    assert not (tmp_path / "g.png").exists()
