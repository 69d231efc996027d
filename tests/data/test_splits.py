"""Person-disjoint and random splits, the leakage check, pair mining and identity labels."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from siamface.data.people import pair_people
from siamface.data.protocol import ImageRef, Pair, read_pairs
from siamface.data.splits import (
    IdentityLeakageWarning,
    LeakageError,
    check_no_leakage,
    mine_pairs,
    split_pairs_by_person,
    split_pairs_random,
)
from siamface.errors import ConfigError


def same(name: str, i: int, j: int, line: int = 0) -> Pair:
    return Pair(ImageRef(name, i), ImageRef(name, j), True, None, line)


def diff(a: str, i: int, b: str, j: int, line: int = 0) -> Pair:
    return Pair(ImageRef(a, i), ImageRef(b, j), False, None, line)


@st.composite
def pair_sets(draw: st.DrawFn) -> tuple[dict[str, int], list[Pair]]:
    """Image counts and distinct pairs over them, numbered by line from 1."""
    n_people = draw(st.integers(4, 16))
    counts = {f"P{k:02d}": draw(st.integers(1, 6)) for k in range(n_people)}
    names = sorted(counts)
    multi = [name for name in names if counts[name] >= 2]
    pairs: dict[frozenset[ImageRef], Pair] = {}
    for _ in range(draw(st.integers(4, 40))):
        if multi and draw(st.booleans()):
            name = draw(st.sampled_from(multi))
            i = draw(st.integers(1, counts[name]))
            j = draw(st.integers(1, counts[name] - 1))
            j += j >= i  # any image but i
            p = same(name, i, j, len(pairs) + 1)
        else:
            a = draw(st.sampled_from(names))
            b = draw(st.sampled_from([name for name in names if name != a]))
            p = diff(a, draw(st.integers(1, counts[a])), b, draw(st.integers(1, counts[b])))
            p = Pair(p.left, p.right, False, None, len(pairs) + 1)
        pairs.setdefault(p.key, p)
    return counts, list(pairs.values())


# ----------------------------------------------------------------------------- by person


@settings(max_examples=60, deadline=None)
@given(data=pair_sets(), val_fraction=st.floats(0.1, 0.6), seed=st.integers(0, 2**16))
def test_split_by_person_properties(data, val_fraction: float, seed: int) -> None:
    counts, pairs = data
    try:
        train, val = split_pairs_by_person(pairs, counts, val_fraction, seed)
    except ConfigError as err:  # tiny inputs: nothing fits, or nobody left to re-pair with
        assume("fit" not in str(err) and "re-pair" not in str(err))
        raise

    # nobody on both sides, nothing lost, nothing duplicated, input order kept
    assert not pair_people(train) & pair_people(val)
    assert sorted(p.line for p in train + val) == [p.line for p in pairs]
    assert [p.line for p in train] == sorted(p.line for p in train)
    assert [p.line for p in val] == sorted(p.line for p in val)
    assert len({p.key for p in train + val}) == len(pairs)

    # each side keeps at most its share of each kind
    n_same = sum(p.same for p in pairs)
    assert sum(p.same for p in val) <= round(val_fraction * n_same)
    assert sum(not p.same for p in val) <= round(val_fraction * (len(pairs) - n_same))
    assert val

    # a pair keeps its left image and label; a new right image only replaces a person who is
    # not on the pair's side (people only ever on the right of re-paired pairs vanish)
    by_line = {p.line: p for p in pairs}
    for side in (train, val):
        for p in side:
            original = by_line[p.line]
            assert (p.left, p.same, p.fold) == (original.left, original.same, original.fold)
            if p.right != original.right:
                assert not p.same and original.right.name not in pair_people(side)
            assert 1 <= p.right.number <= counts[p.right.name]

    assert split_pairs_by_person(pairs, counts, val_fraction, seed) == (train, val)


def test_split_by_person_is_balanced_on_many_people() -> None:
    counts = {f"P{k:03d}": 1 + k % 5 for k in range(300)}
    pairs = mine_pairs(counts, 1000, seed=1)
    train, val = split_pairs_by_person(pairs, counts, val_fraction=0.2, seed=3)
    # 500 matching and 500 non-matching pairs: 20% of each is 100
    assert (sum(p.same for p in val), sum(not p.same for p in val)) == (100, 100)
    assert (sum(p.same for p in train), sum(not p.same for p in train)) == (400, 400)
    assert not pair_people(train) & pair_people(val)


def test_straddling_pair_is_repaired_on_its_left_side_or_refused() -> None:
    # 9 matching + 5 non-matching pairs; val_fraction=0.2 allows 2 + 1 in validation. Loads
    # (matching, non-matching on the left): X (1, 1) fits; Y (4, 4) and V (4, 0) never do.
    # Z is never on the left, so a seeded coin sends Z to validation with probability 0.2.
    # X's pair with Y straddles: re-paired with Z's only image when Z is in validation,
    # refused otherwise since X would be alone there.
    counts = {"X": 2, "Y": 4, "V": 4, "Z": 1}
    four = [(1, 2), (1, 3), (1, 4), (2, 3)]
    pairs = [
        same("X", 1, 2, 1),
        *(same("Y", i, j, 2 + k) for k, (i, j) in enumerate(four)),
        *(same("V", i, j, 6 + k) for k, (i, j) in enumerate(four)),
        diff("X", 1, "Y", 1, 10),
        *(diff("Y", i, "V", i, 11 + k) for k, i in enumerate([1, 2, 3])),
        diff("Y", 4, "Z", 1, 14),
    ]
    outcomes = set()
    for seed in range(40):
        try:
            train, val = split_pairs_by_person(pairs, counts, val_fraction=0.2, seed=seed)
        except ConfigError as err:
            assert str(err).startswith(
                "data.val_fraction: cannot re-pair the non-matching pair of line 10")
            outcomes.add("refused")
            continue
        assert val == [same("X", 1, 2, 1), diff("X", 1, "Z", 1, 10)]
        assert train[:-1] == pairs[1:9] + pairs[10:13]
        # Y_0004 with Z straddles the other way and gets one of V's images instead
        assert train[-1].left == ImageRef("Y", 4) and train[-1].right.name == "V"
        outcomes.add("re-paired")
    assert outcomes == {"refused", "re-paired"}


def test_split_by_person_rejects_bad_input() -> None:
    pairs = [same("A", 1, 2), diff("A", 1, "B", 1)]
    with pytest.raises(ValueError, match="val_fraction must be in"):
        split_pairs_by_person(pairs, {"A": 2, "B": 1}, val_fraction=1.0)
    with pytest.raises(ValueError, match=r"have no image count: \['B'\]"):
        split_pairs_by_person(pairs, {"A": 2}, val_fraction=0.2)
    with pytest.raises(ValueError, match="no person's pairs fit"):
        split_pairs_by_person(pairs, {"A": 2, "B": 1}, val_fraction=0.1)


@pytest.mark.real_data
def test_split_of_real_dev_train(lfw_source: Path) -> None:
    rows = (line.split("\t") for line in (lfw_source / "lfw-names.txt").read_text().splitlines())
    counts = {name: int(n) for name, n in rows}
    pairs = read_pairs(lfw_source / "pairsDevTrain.txt", counts).pairs
    train, val = split_pairs_by_person(pairs, counts, val_fraction=0.2, seed=0)
    assert (sum(p.same for p in val), sum(not p.same for p in val)) == (220, 220)
    assert (len(train), len(val)) == (1760, 440)
    check_no_leakage(pair_people(train), pair_people(val), "training", "validation")


# ----------------------------------------------------------------------------- random split


def test_random_split_warns_with_the_number_of_shared_people() -> None:
    # 8 people; only A and B have more than one pair, so only they can end up on both sides
    pairs = [same("A", 1, 2, 1), same("A", 2, 3, 2), same("B", 1, 2, 3), diff("A", 1, "B", 1, 4)]
    pairs += [same(f"Q{k}", 1, 2, 5 + k) for k in range(6)]
    leaked = set()
    for seed in range(20):
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            train, val = split_pairs_random(pairs, val_fraction=0.5, seed=seed)
        assert (len(train), len(val)) == (5, 5)
        assert sorted(p.line for p in train + val) == list(range(1, 11))
        assert [p.line for p in val] == sorted(p.line for p in val)
        shared = pair_people(train) & pair_people(val)
        assert shared <= {"A", "B"}
        messages = [str(w.message) for w in record if w.category is IdentityLeakageWarning]
        if shared:
            assert len(messages) == 1
            assert messages[0].startswith(f"{len(shared)} of 8 people appear in both")
        else:
            assert messages == []
        leaked.add(len(shared))
    assert leaked == {1, 2}  # A alone, or A and B, on both sides


def test_random_split_without_shared_people_is_silent() -> None:
    pairs = [same(f"Q{k}", 1, 2, k) for k in range(10)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train, val = split_pairs_random(pairs, val_fraction=0.3, seed=0)
    assert (len(train), len(val)) == (7, 3)
    with pytest.raises(ConfigError, match=r"^data\.val_fraction: 0\.01 of 10 pairs leaves a "
                                          "side empty"):
        split_pairs_random(pairs, val_fraction=0.01)


def test_random_split_leaks_on_real_style_data() -> None:
    counts = {f"P{k:02d}": 4 for k in range(20)}
    pairs = mine_pairs(counts, 200, seed=0)
    with pytest.warns(IdentityLeakageWarning, match="appear in both"):
        train, val = split_pairs_random(pairs, 0.2, seed=0)
    shared = pair_people(train) & pair_people(val)
    with pytest.raises(LeakageError, match=f"^{len(shared)} people appear in both"):
        check_no_leakage(pair_people(train), pair_people(val))


# ----------------------------------------------------------------------------- leakage check


def test_check_no_leakage() -> None:
    check_no_leakage({"A", "B"}, {"C"})
    check_no_leakage([], ["C"])
    train = [f"P{k:02d}" for k in range(20)]
    test = [f"P{k:02d}" for k in range(8, 30)]
    with pytest.raises(LeakageError) as info:
        check_no_leakage(train, test, what="validation")
    shown = ", ".join(f"P{k:02d}" for k in range(8, 18))
    assert str(info.value) == (
        f"12 people appear in both the validation set and the test set: {shown} and 2 more; "
        "expected no shared people (a model tested on people it trained on scores too high)"
    )
    with pytest.raises(LeakageError, match=r"^1 people appear .*: P03; expected"):
        check_no_leakage(["P03"], ["P03", "P04"])


# ----------------------------------------------------------------------------- mining


def test_mine_pairs_exhausts_a_tiny_set_exactly() -> None:
    # matching: A has 3 pairs, B 1, C none
    pairs = mine_pairs({"A": 3, "B": 2, "C": 1}, 8, seed=0)
    assert {p.key for p in pairs if p.same} == {
        same("A", 1, 2).key,
        same("A", 1, 3).key,
        same("A", 2, 3).key,
        same("B", 1, 2).key,
    }
    with pytest.raises(ConfigError, match=r"^data\.mined_pairs: cannot mine 5 distinct matching "
                                          "pairs: 3 people have 4"):
        mine_pairs({"A": 3, "B": 2, "C": 1}, 10, seed=0)
    # non-matching: 5 images give C(5, 2) = 10 pairs, 6 of them matching (A's), so 4 are left
    pairs = mine_pairs({"A": 4, "B": 1}, 8, seed=0)
    assert {p.key for p in pairs if not p.same} == {diff("A", i, "B", 1).key for i in range(1, 5)}
    with pytest.raises(ConfigError, match=r"^data\.mined_pairs: cannot mine 5 distinct "
                                          "non-matching pairs: 2 people have 4"):
        mine_pairs({"A": 4, "B": 1}, 9, seed=0)


@settings(max_examples=60, deadline=None)
@given(
    counts=st.dictionaries(
        st.sampled_from([f"P{k}" for k in range(12)]), st.integers(1, 8), min_size=2
    ),
    n_pairs=st.integers(0, 60),
    seed=st.integers(0, 2**16),
)
def test_mine_pairs_properties(counts: dict[str, int], n_pairs: int, seed: int) -> None:
    people = sorted(counts)[: max(2, len(counts) - 1)]
    sizes = [counts[name] for name in people]
    n_matching = sum(n * (n - 1) // 2 for n in sizes)
    assume(n_matching >= n_pairs // 2)
    assume(sum(sizes) * (sum(sizes) - 1) // 2 - n_matching >= n_pairs - n_pairs // 2)
    pairs = mine_pairs(counts, n_pairs, seed, people=people)
    assert len(pairs) == n_pairs
    assert sum(p.same for p in pairs) == n_pairs // 2
    assert len({p.key for p in pairs}) == n_pairs
    for p in pairs:
        assert (p.fold, p.line) == (None, 0)
        assert p.left != p.right and p.same == (p.left.name == p.right.name)
        for ref in (p.left, p.right):
            assert ref.name in people and 1 <= ref.number <= counts[ref.name]
        if p.same:
            assert counts[p.left.name] >= 2
    assert mine_pairs(counts, n_pairs, seed, people=people) == pairs


def test_single_image_people_feed_only_non_matching_pairs() -> None:
    counts = {"A": 5, "B": 1, "C": 1, "D": 1}
    pairs = mine_pairs(counts, 20, seed=4)
    assert {p.left.name for p in pairs if p.same} == {"A"}
    assert {"B", "C", "D"} <= pair_people(p for p in pairs if not p.same)
    assert mine_pairs(counts, 20, seed=5) != pairs
    with pytest.raises(ValueError, match=r"1 people have no image count: \['E'\]"):
        mine_pairs(counts, 4, seed=0, people=["A", "E"])


# ----------------------------------------------------------------------------- labels




def test_a_restricted_split_makes_up_no_pair_and_holds_out_linked_people() -> None:
    # A-B and C-D are non-matching pairs; each person also has a matching pair. People drawn
    # alone re-paired a straddling A-B with an image of a name-chosen "different" person.
    people = "ABCDEFGH"
    pairs = [Pair(ImageRef(a, 1), ImageRef(b, 1), False, line=k) for k, (a, b) in
             enumerate(["AB", "CD", "EF", "GH"], start=1)]
    pairs += [Pair(ImageRef(n, 1), ImageRef(n, 2), True, line=10 + k)
              for k, n in enumerate(people)]
    counts = dict.fromkeys(people, 3)
    for seed in range(20):
        train, val = split_pairs_by_person(pairs, counts, 0.25, seed, restricted=True)
        assert sorted(train + val, key=lambda p: p.line) == pairs  # every pair as given
        assert not pair_people(train) & pair_people(val)
        assert len(val) == 3  # a linked pair of people: 2 matching pairs and their 1 other


@pytest.mark.real_data
def test_the_restricted_split_of_real_dev_train_keeps_its_pairs_and_balance(
        lfw_source: Path) -> None:
    pairs = read_pairs(lfw_source / "pairsDevTrain.txt").pairs
    counts = {p.name: 1_000 for pair in pairs for p in (pair.left, pair.right)}
    train, val = split_pairs_by_person(pairs, counts, 0.2, 0, restricted=True)
    given = {p.key for p in pairs}
    assert all(p.key in given for p in train + val) and len(train) + len(val) == len(pairs)
    assert not pair_people(train) & pair_people(val)
    assert sum(p.same for p in val) == 220 and sum(not p.same for p in val) == 220  # 20% each
