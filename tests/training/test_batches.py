import numpy as np
import pytest

from siamface.training.batches import IdentityBatches, PairBatches


def test_pair_batches_cover_every_pair_once_in_a_seeded_order():
    pairs = np.arange(20).reshape(10, 2)
    target = np.array([1, 0] * 5)
    batches = PairBatches(pairs, target, batch_size=4, seed=3)
    assert len(batches) == 3
    epoch0 = list(batches.epoch(0))
    assert [len(b.left) for b in epoch0] == [4, 4, 2]
    seen = []
    for b in epoch0:
        b_size = len(b.left)
        # images holds the left images, then the right ones
        np.testing.assert_array_equal(b.left, np.arange(b_size))
        np.testing.assert_array_equal(b.right, np.arange(b_size, 2 * b_size))
        for lft, rgt, t in zip(b.images[b.left], b.images[b.right], b.target, strict=True):
            row = lft // 2
            assert rgt == lft + 1 and t == target[row]
            seen.append(row)
        assert b.weight is None
    assert sorted(seen) == list(range(10))
    again = [b.images.tolist() for b in batches.epoch(0)]
    assert again == [b.images.tolist() for b in epoch0]
    assert [b.images.tolist() for b in batches.epoch(1)] != again


def test_pair_batches_reject_bad_shapes():
    with pytest.raises(ValueError, match=r"need \(N, 2\) pairs"):
        PairBatches(np.zeros((3, 3)), np.zeros(3), 2, 0)
    with pytest.raises(ValueError, match="batch_size"):
        PairBatches(np.zeros((3, 2)), np.zeros(3), 0, 0)


def test_identity_batches_draw_p_people_times_k_images_with_balanced_weights():
    # people 0..5 with 3 images each (cache rows 10*p + k), person 6 with a single image
    identities = np.array([p for p in range(6) for _ in range(3)] + [6])
    images = np.array([10 * p + k for p in range(6) for k in range(3)] + [99])
    batches = IdentityBatches(identities, images, people_per_batch=3, images_per_person=2,
                              seed=0, steps_per_epoch=5)
    assert len(batches) == 5
    for b in batches.epoch(0):
        assert b.images.shape == (6,)
        people = b.images // 10
        assert 99 not in b.images  # a lone image can never be a positive
        assert len(set(people.tolist())) == 3
        # all 15 pairs of 6 images; 3 of them same-person
        assert len(b.left) == 15 and b.target.sum() == 3
        np.testing.assert_array_equal(b.target, people[b.left] == people[b.right])
        assert b.weight[b.target == 1].sum() == pytest.approx(0.5)
        assert b.weight[b.target == 0].sum() == pytest.approx(0.5)
    first = [b.images.tolist() for b in batches.epoch(4)]
    assert first == [b.images.tolist() for b in batches.epoch(4)]


def test_identity_batches_need_enough_people():
    with pytest.raises(ValueError, match="need at least max"):
        IdentityBatches(np.array([0, 0, 1]), np.array([0, 1, 2]), 2, 2, seed=0)
    with pytest.raises(ValueError, match="images_per_person must be at least 2"):
        IdentityBatches(np.array([0, 0]), np.array([0, 1]), 2, 1, seed=0)
