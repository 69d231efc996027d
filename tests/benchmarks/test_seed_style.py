"""benchmarks/seed_style.py: the seed-style baseline loop behaves as described, on tiny data."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from siamface.data.lfw import open_lfw

REPO = Path(__file__).resolve().parents[2]


def _load_seed_style():
    # benchmarks/ is a folder of scripts, not a package: load the module from its file
    spec = importlib.util.spec_from_file_location("seed_style", REPO / "benchmarks/seed_style.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


seed_style = _load_seed_style()


def _uniform_png(path: Path, rgb: tuple[int, int, int], size: int = 250) -> Path:
    Image.fromarray(np.full((size, size, 3), rgb, dtype=np.uint8)).save(path)
    return path


@pytest.fixture
def colour_pairs(tmp_path: Path) -> list:
    """Four people, each one flat colour with two images; 4 matching and 4 non-matching pairs."""
    colours = [(200, 100, 50), (20, 20, 20), (240, 240, 240), (90, 160, 30)]
    paths = [
        [_uniform_png(tmp_path / f"p{i}_{k}.png", c) for k in range(2)]
        for i, c in enumerate(colours)
    ]
    same = [(paths[i][0], paths[i][1], 1) for i in range(4)]
    different = [(paths[i][0], paths[(i + 1) % 4][1], 0) for i in range(4)]
    return same + different


def test_load_image_is_grey_full_frame_105_in_unit_range(tmp_path):
    path = _uniform_png(tmp_path / "x.png", (200, 100, 50))
    x = seed_style.load_image(path)
    assert x.shape == (1, 105, 105) and x.dtype == torch.float32
    # PIL's L = (299 R + 587 G + 114 B) / 1000 = 59.8 + 58.7 + 5.7 = 124.2 -> 124
    torch.testing.assert_close(x, torch.full((1, 105, 105), 124 / 255))


def test_random_split_holds_out_a_fifth_disjointly_and_reproducibly(colour_pairs):
    pairs = colour_pairs + colour_pairs[:2]  # 10 pairs
    train, val = seed_style.random_split(pairs, 0.2, seed=3)
    assert (len(train), len(val)) == (8, 2)
    assert sorted(map(str, train + val)) == sorted(map(str, pairs))
    assert seed_style.random_split(pairs, 0.2, seed=3) == (train, val)


def test_loader_batches_pairs_of_images_with_float_labels(colour_pairs):
    x1, x2, label = next(iter(seed_style.make_loader(colour_pairs, shuffle=False, batch_size=3)))
    assert x1.shape == x2.shape == (3, 1, 105, 105)
    assert label.tolist() == [1.0, 1.0, 1.0]


def test_network_is_koch_with_batchnorm_and_symmetric_in_eval_mode():
    net = seed_style.SiameseNetwork().eval()
    # the paper's 38,951,745 plus a scale and a shift per channel of the four BatchNorms
    assert sum(p.numel() for p in net.parameters()) == 38_951_745 + 2 * (64 + 128 + 128 + 256)
    a, b = torch.rand(2, 1, 105, 105), torch.rand(2, 1, 105, 105)
    with torch.no_grad():
        logits = net(a, b)
        assert logits.shape == (2,)
        torch.testing.assert_close(net(b, a), logits)


def test_fit_keeps_the_best_validation_epoch_and_reports_it(colour_pairs):
    seen: dict[int, dict[str, torch.Tensor]] = {}

    def snapshot(model, record):
        seen[record.epoch] = {k: v.clone() for k, v in model.state_dict().items()}

    half = colour_pairs[:2] + colour_pairs[4:6]  # 2 matching, 2 non-matching: one step an epoch
    model, history = seed_style.fit(half, half, epochs=2, batch_size=4, on_epoch_end=snapshot)
    assert [r.epoch for r in history] == [1, 2]
    assert history[0].improved  # anything beats no model
    assert 0 < history[0].elapsed_s < history[1].elapsed_s
    best = max(history, key=lambda r: r.val_acc)  # the first of equals, as fit keeps it
    assert [r.improved for r in history] == [True, history[1].val_acc > history[0].val_acc]
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, seen[best.epoch][key])
    assert all(math.isfinite(r.train_loss) for r in history)


def test_fit_stops_after_the_epoch_that_spends_the_time_budget(colour_pairs):
    half = colour_pairs[:2] + colour_pairs[4:6]
    _, history = seed_style.fit(half, half, epochs=5, batch_size=4, time_budget_s=0.0)
    assert len(history) == 1


def test_fit_needs_an_epoch(colour_pairs):
    with pytest.raises(ValueError, match="epochs must be at least 1"):
        seed_style.fit(colour_pairs, colour_pairs, epochs=0)


def test_evaluate_accuracy_applies_the_given_threshold(colour_pairs):
    model = seed_style.SiameseNetwork()
    pairs = colour_pairs[:3] + colour_pairs[4:5]  # 3 matching, 1 non-matching
    assert seed_style.evaluate_accuracy(model, pairs, -math.inf) == 0.75  # all called "same"
    assert seed_style.evaluate_accuracy(model, pairs, math.inf) == 0.25  # all "different"


def test_pair_list_reads_a_protocol_file_as_paths_and_labels(synthetic_home):
    lfw = open_lfw(synthetic_home)
    items = seed_style.pair_list(lfw, "pairsDevTrain.txt")
    pairs = lfw.read_pairs("pairsDevTrain.txt").pairs
    assert [label for _, _, label in items] == [int(p.same) for p in pairs]
    assert all(a.is_file() and b.is_file() for a, b, _ in items)
    assert items[0][0] == lfw.image_path(pairs[0].left)
