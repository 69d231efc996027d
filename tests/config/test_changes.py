"""What differs between a config stored flat and a config now: one rule for resumes and
experiments' recipes."""

from siamface.config import Config
from siamface.config.changes import changed_keys, describe_change, flat_config
from siamface.training.builder import resolve_config


def test_a_config_stored_flat_is_unchanged():
    config = resolve_config("default")
    assert flat_config(config)["optim.lr"] == config.optim.lr
    assert changed_keys(flat_config(config), config) == []


def test_run_settings_and_ignored_keys_are_no_change_and_the_rest_is_sorted():
    then = flat_config(resolve_config("default"))
    now = resolve_config("default", ["train.threads=1", "seed=7", "optim.lr=0.5",
                                     "data.val_fraction=0.25"])
    assert changed_keys(then, now) == ["data.val_fraction", "optim.lr", "seed"]
    assert changed_keys(then, now, ignore=["seed"]) == ["data.val_fraction", "optim.lr"]
    assert describe_change(then, now, "optim.lr") == (
        f"optim.lr: {then['optim.lr']} then, 0.5 now")


def test_a_key_added_since_is_no_change_at_its_default_only():
    now = resolve_config("default")
    then = flat_config(now)
    del then["data.mined_pairs"]  # stored before the key existed
    assert Config().data.mined_pairs == now.data.mined_pairs
    assert changed_keys(then, now) == []
    later = resolve_config("restricted", ["data.mined_pairs=5"])  # not its default: a change
    assert "data.mined_pairs" in changed_keys(then, later)
    assert describe_change(then, later, "data.mined_pairs") == (
        'data.mined_pairs: "not set" then, 5 now')
    assert changed_keys({**flat_config(now), "data.gone": 1}, now) == ["data.gone"]
