"""Batched augmentation: identity when off, seeded determinism, shapes, range, exact flips,
and the geometry of the affine warp."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from siamface.config import AugmentConfig
from siamface.errors import ConfigError
from siamface.training.augment import BatchAugment, affine_grid, warp

NOTHING = {"affine_p": 0.0, "hflip_p": 0.0, "brightness": 0.0, "contrast": 0.0}


def images(b: int = 6, c: int = 1, h: int = 21, w: int = 21, seed: int = 0) -> torch.Tensor:
    return torch.rand(b, c, h, w, generator=torch.Generator().manual_seed(seed))


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def full() -> BatchAugment:
    return BatchAugment(affine_p=0.5, hflip_p=0.5, brightness=0.2, contrast=0.2)


def test_disabled_is_the_identity() -> None:
    x = images()
    assert BatchAugment(enabled=False, affine_p=1.0, hflip_p=1.0)(x, gen()) is x
    assert torch.equal(BatchAugment(**NOTHING)(x, gen()), x)


def test_from_config() -> None:
    aug = BatchAugment.from_config(AugmentConfig(hflip_p=0.25))
    assert (aug.hflip_p, aug.affine_p, list(aug.scale)) == (0.25, 0.5, [0.8, 1.2])


def test_same_seed_same_output_other_seed_other_output() -> None:
    x = images(8, 3)
    a, b, c = full()(x, gen(1)), full()(x, gen(1)), full()(x, gen(2))
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_draws_come_only_from_the_generator() -> None:
    x = images(4)
    torch.manual_seed(0)
    a = full()(x, gen(5))
    torch.manual_seed(1)  # the global RNG does not matter
    assert torch.equal(a, full()(x, gen(5)))


@pytest.mark.parametrize("shape", [(1, 1, 105, 105), (5, 3, 32, 48), (3, 1, 9, 7)])
def test_shape_dtype_and_range_are_kept(shape: tuple[int, int, int, int]) -> None:
    x = torch.rand(shape, generator=gen(3))
    x[0, 0, 0, 0], x[-1, -1, -1, -1] = 0.0, 1.0  # the extremes present
    aug = BatchAugment(affine_p=1.0, rotation_deg=30, shear=0.5, scale=(0.5, 1.5),
                       translate_px=5, hflip_p=0.5, brightness=0.5, contrast=0.5)
    y = aug(x, gen(4))
    assert y.shape == x.shape and y.dtype == x.dtype
    assert y.min() >= 0.0 and y.max() <= 1.0


def test_flip_exactly_mirrors() -> None:
    x = images(5, 3)
    y = BatchAugment(**{**NOTHING, "hflip_p": 1.0})(x, gen())
    assert torch.equal(y, x.flip(-1))


def test_flip_probability_flips_some_images_whole() -> None:
    x = images(64, 1, 5, 6)
    y = BatchAugment(**{**NOTHING, "hflip_p": 0.5})(x, gen(7))
    flipped = torch.tensor([torch.equal(y[i], x[i].flip(-1)) for i in range(64)])
    kept = torch.tensor([torch.equal(y[i], x[i]) for i in range(64)])
    assert torch.all(flipped ^ kept)  # every image is either mirrored or untouched
    assert 16 < int(flipped.sum()) < 48


@pytest.mark.parametrize(("h", "w"), [(80, 80), (7, 12), (1, 1)])
def test_the_summed_grid_is_torchs_affine_grid(h: int, w: int) -> None:
    theta = torch.randn(5, 2, 3, generator=gen(3))
    ours = affine_grid(theta, h, w)
    assert ours.shape == (5, h, w, 2)
    expected = F.affine_grid(theta, [5, 1, h, w], align_corners=False)
    torch.testing.assert_close(ours, expected, rtol=0, atol=1e-6)


def test_the_identity_grid_samples_every_pixel_centre() -> None:
    identity = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
    grid = affine_grid(identity, 2, 4)  # centres at +-1/4, +-3/4 across, +-1/2 down
    assert grid[0, :, :, 0].tolist() == [[-0.75, -0.25, 0.25, 0.75]] * 2
    assert grid[0, :, :, 1].tolist() == [[-0.5] * 4, [0.5] * 4]


def test_warp_with_a_translation_moves_a_known_pixel() -> None:
    x = torch.zeros(1, 1, 11, 13)
    x[0, 0, 5, 4] = 1.0
    eye = torch.eye(2)[None]
    y = warp(x, eye, torch.tensor([[2.0, 0.0]]))  # two pixels right
    assert y[0, 0, 5, 6] == pytest.approx(1.0, abs=1e-5)
    assert y.sum() == pytest.approx(1.0, abs=1e-5)
    y = warp(x, eye, torch.tensor([[-3.0, 1.0]]))  # three left, one down
    assert y[0, 0, 6, 1] == pytest.approx(1.0, abs=1e-5)


def test_warp_identity_and_a_quarter_turn() -> None:
    x = images(2, 1, 9, 9)
    torch.testing.assert_close(warp(x, torch.eye(2).expand(2, 2, 2), torch.zeros(2, 2)), x)
    # (x, y) -> (-y, x) with y pointing down: right of the centre goes below it, a clockwise
    # quarter turn, which on a square grid is exactly rot90 the other way (k=-1)
    quarter = torch.tensor([[[0.0, -1.0], [1.0, 0.0]]])
    y = warp(x[:1], quarter, torch.zeros(1, 2))
    torch.testing.assert_close(y, torch.rot90(x[:1], k=-1, dims=(-2, -1)), atol=1e-5, rtol=0)


def test_warp_scale_about_the_centre() -> None:
    x = torch.zeros(1, 1, 21, 21)
    x[0, 0, 10, 12] = 1.0  # two pixels right of the centre (10, 10)
    y = warp(x, torch.tensor([[[2.0, 0.0], [0.0, 1.0]]]), torch.zeros(1, 2))  # stretch x by 2
    assert y[0, 0, 10, 14] == pytest.approx(1.0, abs=1e-5)  # now four pixels right


def test_sampled_affine_only_translation() -> None:
    aug = BatchAugment(affine_p=1.0, rotation_deg=0, shear=0, scale=(1, 1), translate_px=2)
    linear, t = aug.sample_affine(200, gen(0))
    torch.testing.assert_close(linear, torch.eye(2).expand(200, 2, 2))
    assert t.abs().max() <= 2 and t.abs().max() > 1.5
    # a single bright pixel's centre of mass moves by exactly the drawn translation
    x = torch.zeros(3, 1, 15, 15)
    x[:, 0, 7, 7] = 1.0
    y = warp(x, linear[:3], t[:3])
    rows, cols = torch.arange(15.0)[:, None], torch.arange(15.0)[None, :]
    mass = y[:, 0].sum(dim=(1, 2))
    cx = (y[:, 0] * cols).sum(dim=(1, 2)) / mass
    cy = (y[:, 0] * rows).sum(dim=(1, 2)) / mass
    torch.testing.assert_close(torch.stack([cx - 7, cy - 7], 1), t[:3], atol=1e-4, rtol=0)


def test_sampled_components_respect_ranges_and_probability() -> None:
    aug = BatchAugment(affine_p=0.5, rotation_deg=10, shear=0.3, scale=(0.8, 1.2), translate_px=2)
    linear, t = aug.sample_affine(4000, gen(1))
    # translation kept with probability 0.5 per axis, uniform in [-2, 2] when kept
    assert t.abs().max() <= 2
    assert (t == 0).float().mean() == pytest.approx(0.5, abs=0.03)
    # every map is a rotation of at most 10 degrees of a bounded shear/scale: its determinant
    # is s_x * s_y * (1 - rho_x * rho_y), so within [0.64 * 0.91, 1.44 * 1.09]
    det = torch.linalg.det(linear)
    assert det.min() >= 0.64 * 0.91 - 1e-6 and det.max() <= 1.44 * 1.09 + 1e-6
    identity = (linear == torch.eye(2)).all(dim=(1, 2))
    assert identity.float().mean() == pytest.approx(0.5**5, abs=0.015)  # 5 linear components off


def test_rotation_alone_has_the_drawn_angle() -> None:
    aug = BatchAugment(affine_p=1.0, rotation_deg=10, shear=0, scale=(1, 1), translate_px=0)
    linear, _ = aug.sample_affine(500, gen(2))
    angle = torch.atan2(linear[:, 1, 0], linear[:, 0, 0])
    assert angle.abs().max() <= math.radians(10) + 1e-6
    assert angle.abs().max() > math.radians(9)
    torch.testing.assert_close(linear[:, 0, 0], linear[:, 1, 1])  # a pure rotation


def test_brightness_and_contrast_only() -> None:
    x = torch.full((200, 1, 4, 4), 0.5)
    x[:, :, :2] = 0.25  # half the image darker: mean 0.375, spread 0.125 each side
    y = BatchAugment(**{**NOTHING, "brightness": 0.2})(x, gen(3))
    ratio = y / x  # one brightness factor per image, in [0.8, 1.2]
    assert torch.allclose(ratio, ratio[:, :, :1, :1].expand_as(ratio))
    assert ratio.min() >= 0.8 - 1e-6 and ratio.max() <= 1.2 + 1e-6
    y = BatchAugment(**{**NOTHING, "contrast": 0.2})(x, gen(3))
    torch.testing.assert_close(y.mean(dim=(1, 2, 3)), x.mean(dim=(1, 2, 3)))  # mean is kept
    spread = (y[:, 0, 3, 0] - y[:, 0, 0, 0]) / 0.25  # contrast factor
    assert spread.min() >= 0.8 - 1e-5 and spread.max() <= 1.2 + 1e-5 and spread.std() > 0.05


def test_brightness_then_contrast_about_the_brightened_mean() -> None:
    x = images(b=32, c=3, h=9, w=9, seed=4) * 0.8  # room for brightening before the clamp
    y = BatchAugment(**{**NOTHING, "brightness": 0.2, "contrast": 0.3})(x, gen(5))
    g = gen(5)  # the same draws, applied one step at a time
    b = 1 + (torch.rand(32, 1, 1, 1, generator=g) * 2 - 1) * 0.2
    c = 1 + (torch.rand(32, 1, 1, 1, generator=g) * 2 - 1) * 0.3
    bright = x * b
    mean = bright.mean(dim=(1, 2, 3), keepdim=True)
    torch.testing.assert_close(y, ((bright - mean) * c + mean).clamp(0, 1))


def test_flip_is_folded_into_the_warp_as_a_mirror_after_it() -> None:
    x = images(b=16, c=2, h=12, w=12, seed=2)
    aug = BatchAugment(affine_p=1.0, rotation_deg=10.0, shear=0.0, scale=(1.0, 1.0),
                       translate_px=2.0, hflip_p=0.5)
    y = aug(x, gen(9))
    g = gen(9)  # the same draws: the flips first, then the affine maps
    flip = torch.rand(16, generator=g) < 0.5
    warped = warp(x, *aug.sample_affine(16, g))
    expected = torch.where(flip[:, None, None, None], warped.flip(-1), warped)
    torch.testing.assert_close(y, expected, atol=1e-5, rtol=0)
    assert 0 < int(flip.sum()) < 16


def test_border_padding_fills_with_edge_values() -> None:
    x = torch.full((1, 1, 8, 8), 0.7)
    y = warp(x, torch.eye(2)[None], torch.tensor([[3.0, -2.0]]))
    torch.testing.assert_close(y, x)  # no black strip enters from outside the frame


def test_grey_turns_some_colour_images_into_their_luma_in_every_channel() -> None:
    x = torch.zeros(400, 3, 2, 2)
    x[:, 0], x[:, 1], x[:, 2] = 1.0, 0.5, 0.0  # one colour: luma 0.299 + 0.2935 = 0.5925
    y = BatchAugment(**{**NOTHING, "grey_p": 0.25})(x, gen(4))
    grey = (y == y[:, :1]).all(dim=(1, 2, 3))  # (400,) every channel equal
    torch.testing.assert_close(y[grey], torch.full_like(y[grey], 0.5925))
    torch.testing.assert_close(y[~grey], x[~grey])  # the others untouched
    assert 70 < int(grey.sum()) < 130  # about a quarter of 400
    one_channel = images(c=1)
    assert torch.equal(BatchAugment(**{**NOTHING, "grey_p": 1.0})(one_channel, gen()),
                       one_channel)


@pytest.mark.parametrize("settings", [
    {"grey_p": 1.0},  # grey alone: the one step that writes into its tensor
    {"grey_p": 0.5, "brightness": 0.2},
    {"grey_p": 0.5, "hflip_p": 0.5},
])
def test_the_callers_batch_is_never_changed(settings: dict[str, float]) -> None:
    x = images(b=8, c=3, seed=6)
    before = x.clone()
    y = BatchAugment(**{**NOTHING, **settings})(x, gen(2))
    assert torch.equal(x, before)
    assert not torch.equal(y, x)


def test_grey_p_must_be_a_probability() -> None:
    with pytest.raises(ConfigError, match=r"augment\.grey_p"):
        AugmentConfig(grey_p=1.5)
