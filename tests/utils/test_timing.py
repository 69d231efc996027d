import time

import pytest

from siamface.utils.timing import PhaseTimer


def test_phases_add_up_in_the_order_first_entered():
    timer = PhaseTimer()
    timer.add("b", 2.0)
    timer.add("a", 1.5)
    timer.add("b", 0.25)
    assert list(timer.seconds_) == ["b", "a"]
    assert timer.seconds_ == {"b": 2.25, "a": 1.5}
    assert timer.total_ == 3.75


def test_a_phase_times_its_block_even_when_it_raises():
    timer = PhaseTimer()
    with timer.phase("sleep"):
        time.sleep(0.05)
    with pytest.raises(KeyError), timer.phase("fails"):
        time.sleep(0.02)
        raise KeyError("x")
    assert 0.05 <= timer.seconds_["sleep"] < 1.0
    assert 0.02 <= timer.seconds_["fails"] < 1.0


def test_negative_seconds_are_refused():
    with pytest.raises(ValueError, match="seconds must be >= 0"):
        PhaseTimer().add("x", -1.0)
