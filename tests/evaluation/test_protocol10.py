
import numpy as np
import pytest

from siamface.data.protocol import ImageRef, Pair
from siamface.evaluation.protocol10 import (
    caveat,
    subset_results,
    unseen_mask,
    view2_results,
)
from siamface.evaluation.tenfold import ten_fold_accuracy


def pair(a: str, b: str, fold: int | None = 0) -> Pair:
    same = a == b
    return Pair(ImageRef(a, 1), ImageRef(b, 2 if same else 1), same, fold, 1)


def test_unseen_mask_needs_both_people_unseen():
    pairs = [pair("Al", "Al"), pair("Al", "Bo"), pair("Bo", "Cy"), pair("Cy", "Cy")]
    assert unseen_mask(pairs, {"Al"}).tolist() == [False, False, True, True]
    assert unseen_mask(pairs, set()).all()


def two_folds() -> tuple[list[Pair], np.ndarray]:
    """Per fold: an unseen matching (+2) and non-matching (-2) pair, scored right, and a seen
    matching (-1) and non-matching (+1) pair, scored wrong."""
    pairs, logits = [], []
    for fold in (0, 1):
        pairs += [pair("New", "New", fold), pair("New", "Other", fold),
                  pair("Old", "Old", fold), pair("Old", "New", fold)]
        logits += [2.0, -2.0, -1.0, 1.0]
    return pairs, np.array(logits)


def test_view2_results_count_the_overlap_and_score_the_clean_pairs_apart():
    pairs, logits = two_folds()
    r = view2_results(logits, pairs, {"Old", "Trained"}, threshold=0.0)
    assert r["overlap"] == {"training_people": 2, "pairs_people": 3, "shared_people": 1,
                            "examples": ["Old"], "pairs_with_shared_people": 4}
    # unseen: separable in both folds -> 1.0; all: the best threshold of the other fold
    # (either (1, 2] or (-2, -1]) gets 3 of the 4 pairs of each fold right
    unseen, everything = r["unseen_pairs"], r["all_pairs"]
    assert (unseen["pairs"], unseen["matching"]) == (4, 2)
    assert unseen["ten_fold"]["mean_accuracy"] == 1.0 and unseen["auc"] == 1.0
    assert everything["ten_fold"]["mean_accuracy"] == 0.75
    assert everything["accuracy_at_validation_threshold"] == 0.5  # +2 and -2 right only
    assert everything["majority_baseline"] == 0.5


def test_subset_results_match_tenfold_and_say_when_ten_folds_are_impossible():
    rng = np.random.default_rng(1)
    labels = np.tile([1, 0, 1, 0], 5)
    folds = np.repeat(np.arange(5), 4)
    logits = labels + rng.normal(0, 0.8, size=20)
    r = subset_results(logits, labels, folds, threshold=0.5)
    assert r["ten_fold"] == ten_fold_accuracy(logits, labels, folds).as_dict()

    # fold 2 left with matching pairs only: no ten-fold, the rest still reported
    keep = ~((folds == 2) & (labels == 0))
    r = subset_results(logits[keep], labels[keep], folds[keep], threshold=0.5)
    assert r["ten_fold"] is None and r["ten_fold_skipped"] == "folds [2] hold one kind of pair only"
    assert (r["pairs"], r["matching"]) == (18, 10)
    assert r["majority_baseline"] == pytest.approx(10 / 18)

    r = subset_results(np.array([]), np.array([], dtype=np.int64), np.array([], dtype=np.int64),
                       0.0)
    assert r == {"pairs": 0, "matching": 0, "ten_fold": None, "ten_fold_skipped": "no pairs"}


def test_view1_pairs_are_refused():
    with pytest.raises(ValueError, match="need a fold each"):
        view2_results(np.zeros(2), [pair("A", "A", None), pair("A", "B", None)], set(), 0.0)


def test_caveat_is_loud_with_an_overlap_and_says_clean_without():
    pairs, logits = two_folds()
    text = caveat(view2_results(logits, pairs, {"Old"}, 0.0))
    assert text.startswith("NOT a clean LFW View 2 result: 1 of the 3 people of pairs.txt")
    assert "4 of its 8 pairs involve one of them" in text
    assert "4 pairs (2 matching)." in text  # balanced: no baseline warning
    unbalanced = pairs[:1] + pairs[2:]
    text = caveat(view2_results(np.delete(logits, 1), unbalanced, {"Old"}, 0.0))
    assert "3 pairs (2 matching: unbalanced, the majority-class baseline is 0.667)" in text
    assert "clean View 2 result" in caveat(view2_results(logits, pairs, {"Nobody"}, 0.0))


