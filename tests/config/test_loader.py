"""Config loading, overrides, strict keys and types, registry checks, round trips."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from siamface.config import (
    CONFIG_ALIASES,
    CONFIG_DIR,
    Config,
    ConfigError,
    list_configs,
    load_config,
    load_resolved,
    parse_override,
    save_resolved,
)
from siamface.training.builder import resolve_config


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", list_configs())
def test_every_shipped_config_loads_and_round_trips(name: str) -> None:
    config = load_config(name)
    assert config.name == CONFIG_ALIASES.get(name, name)
    assert Config.from_dict(config.to_dict()) == config


def test_shipped_configs_exist() -> None:
    assert {"default", "koch2015", "seed-best"} <= set(list_configs())


def test_koch2015_is_the_papers_setup() -> None:
    c = load_config("koch2015")
    assert (c.data.size, c.data.channels, c.data.sampling, c.data.split) == (
        105, 1, "pairs", "person")
    assert (c.model.name, c.loss.name, c.optim.name, c.optim.momentum) == (
        "koch2015", "bce", "sgd", 0.5)
    assert c.schedule.name == "koch_decay" and c.schedule.kwargs["decay"] == 0.99
    assert (c.augment.affine_p, c.augment.rotation_deg, c.augment.shear) == (0.5, 10.0, 0.3)
    assert (c.augment.scale, c.augment.translate_px) == ([0.8, 1.2], 2.0)
    assert c.train.early_stopping.patience == 20 and c.train.batch_size == 128
    assert c.optim.layer_weight_decay  # per-layer L2


def test_seed_best_is_an_alias_of_the_best_reproduced_seed() -> None:
    c = load_config("seed-best")
    assert c == load_config("seed001") and c.name == "seed001"
    assert "seed-best" in list_configs() and not (CONFIG_DIR / "seed-best.yaml").exists()
    assert "seed-best" not in list_configs(Path("/nonexistent"))  # only beside its target


def test_partial_file_takes_defaults_and_file_stem_as_name(tmp_path: Path) -> None:
    path = write(tmp_path / "mine.yaml", "optim:\n  lr: 1e-3\ntrain:\n  epochs: 3\n")
    c = load_config(path)
    assert c.name == "mine"
    assert c.optim.lr == 0.001  # "1e-3" is a float here, not YAML 1.1's string
    assert c.train.epochs == 3
    assert c.train.batch_size == Config().train.batch_size


def test_overrides_parse_numbers_bools_lists_and_nested_keys() -> None:
    c = load_config(
        "koch2015",
        [
            "optim.lr=0.001",
            "train.epochs=5",
            "model.batchnorm=true",
            "augment.scale=[0.9, 1.1]",
            "train.early_stopping.patience=3",
            "train.time_budget_s=60",
            "optim.layer_weight_decay.backbone.fc=0.01",  # the prefix itself has dots
            "model.head_kwargs={margin: 2.0}",
        ],
    )
    assert c.optim.lr == 0.001 and isinstance(c.optim.lr, float)
    assert c.train.epochs == 5
    assert c.model.kwargs["batchnorm"] is True
    assert c.augment.scale == [0.9, 1.1]
    assert c.train.early_stopping.patience == 3
    assert c.train.time_budget_s == 60.0
    assert c.optim.layer_weight_decay["backbone.fc"] == 0.01
    assert c.model.kwargs["head_kwargs"] == {"margin": 2.0}


def test_parse_override_splits_key_and_value() -> None:
    assert parse_override("a.b=1e-4") == (["a", "b"], 1e-4)
    assert parse_override("x=null") == (["x"], None)
    for bad in ("optim.lr", "=3", "optim..lr=1"):
        with pytest.raises(ConfigError, match=re.escape("dotted.key=value")):
            parse_override(bad)


def test_unknown_override_key_lists_valid_keys() -> None:
    with pytest.raises(ConfigError) as info:
        load_config("koch2015", ["optim.lrr=0.1"])
    message = str(info.value)
    assert "'optim.lrr'" in message
    assert "valid keys at optim: name, lr, weight_decay, momentum" in message


def test_unknown_nested_override_key_lists_valid_keys() -> None:
    expected = "valid keys at train.early_stopping: monitor, patience"
    with pytest.raises(ConfigError, match=re.escape(expected)):
        load_config("koch2015", ["train.early_stopping.patients=3"])


def test_override_into_a_value_is_an_error() -> None:
    with pytest.raises(ConfigError, match=re.escape("'optim.lr' is a value, not a section")):
        load_config("koch2015", ["optim.lr.x=1"])


def test_unknown_key_in_file_names_file_and_lists_valid_keys(tmp_path: Path) -> None:
    path = write(tmp_path / "typo.yaml", "data:\n  sizee: 96\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message and "'data.sizee'" in message
    assert "valid keys at data: preprocessing, size, channels, split" in message


def test_unknown_top_level_section(tmp_path: Path) -> None:
    path = write(tmp_path / "typo.yaml", "trian:\n  epochs: 2\n")
    with pytest.raises(ConfigError, match="valid keys at the top level: name, seed, data"):
        load_config(path)


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("train.epochs=many", "train.epochs: expected int"),
        ("train.epochs=2.5", "train.epochs: expected int"),
        ("train.keep_checkpoints=0", "train.keep_checkpoints: expected at least 1"),
        ("train.epochs=1000000000", "train.epochs: expected at most 100,000, got 1000000000"),
        ("data.channels=2", "data.channels: expected one of 1, 3"),
        ("data.channels=true", "data.channels: expected one of 1, 3"),
        ("data.split=people", "data.split: expected one of 'person', 'random'"),
        ("train.channels_last=1", "train.channels_last: expected true/false"),
        ("augment.scale=[0.8, big]", r"augment.scale\[1\]: expected float"),
        ("optim.lr=-1", "optim.lr: expected a positive number"),
        ("data.val_fraction=1.5", r"data.val_fraction: expected a fraction in \(0, 1\)"),
        ("augment.scale=[1.2, 0.8]", "augment.scale: expected \\[low, high\\]"),
        # 0 in float32, where the warp inverts it: a singular-matrix traceback in the first step
        ("augment.scale=[1e-300, 1e-300]", r"augment.scale: expected \[low, high\] with low <= "
                                           r"high, each positive: a number from 1.2e-38"),
        ("data.preprocessing=[10, 10, 5, 50]", "data.preprocessing: expected a crop"),
    ],
)
def test_wrong_values_are_rejected_with_the_key(override: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_config("koch2015", [override])


@pytest.mark.parametrize(("override", "message"), [
    ("schedule.warmup_epochs=abc", "schedule.warmup_epochs: expected a finite number, got 'abc'"),
    ("schedule.warmup_epochs=true", "schedule.warmup_epochs: expected a finite number, got True"),
    ("schedule.min_factor=.nan", "schedule.min_factor: expected a finite number, got nan"),
    ("model.dropout=[0.1]", "model.dropout: expected a finite number, got [0.1]"),
    ("model.width=2.5", "model.width: expected a whole number, got 2.5"),
    ("model.embedding_dim=100000000", "model: resface with these values has 480,000,680,474 "
                                      "parameters; the most siamface builds is 250,000,000"),
])
def test_component_options_of_the_wrong_type_or_size_are_named(override, message) -> None:
    with pytest.raises(ConfigError, match=f"^override '{re.escape(override)}': "
                                          f"{re.escape(message)}"):
        resolve_config("default", [override])


def test_registry_sections_check_factory_signatures() -> None:
    with pytest.raises(ConfigError, match=r"unknown key model.batchnrom .*valid keys at model: "
                                          r"name, in_channels, input_size"):
        resolve_config("koch2015", ["model.batchnrom=true"])
    with pytest.raises(ConfigError, match=re.escape("unknown key loss.margin")):
        resolve_config("koch2015", ["loss.margin=1.0"])
    with pytest.raises(ConfigError, match=re.escape("unknown key schedule.gama")):
        resolve_config("seed000", ["schedule.gama=0.5"])
    with pytest.raises(ConfigError, match=r"unknown model 'resnet999'; choose one of: .*koch2015"):
        resolve_config("koch2015", ["model.name=resnet999"])


def test_schedule_values_are_checked_when_loading() -> None:
    with pytest.raises(ConfigError, match=re.escape("schedule.gamma")):
        resolve_config("seed000", ["schedule.gamma=2"])


def test_optimizer_hyperparameter_that_does_not_apply_is_an_error() -> None:
    expected = "optim.momentum does not apply to optimizer 'adam'"
    with pytest.raises(ConfigError, match=re.escape(expected)):
        resolve_config("seed000", ["optim.momentum=0.9"])
    c = resolve_config("koch2015",
                       ["optim.name=adam", "optim.momentum=null", "optim.nesterov=null"])
    assert c.optim.hyperparameters() == {"lr": 0.01}


def test_unknown_preprocessing_preset_is_rejected() -> None:
    with pytest.raises(ConfigError, match=r"data\.preprocessing: unknown .*'wide'.*face"):
        resolve_config("koch2015", ["data.preprocessing=wide"])
    c = resolve_config("koch2015", ["data.preprocessing=[50, 50, 200, 200]"])
    assert c.data.preprocessing == [50, 50, 200, 200]


def test_missing_config_name_lists_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"known configs: .*koch2015"):
        load_config("koch2016")
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.yaml")


def test_bad_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.yaml", "train:\n  epochs: 3\n  batch_size: [1,\n")
    with pytest.raises(ConfigError, match=r"bad.yaml line \d+: invalid YAML") as err:
        load_config(path)
    assert str(err.value).count(str(path)) == 1


def test_an_unknown_component_of_the_model_names_the_override() -> None:
    with pytest.raises(ConfigError, match=r"^override 'model.head=bogus': model: unknown head "
                                          r"'bogus'; choose one of"):
        resolve_config("default", ["model.head=bogus"])


def test_deeply_nested_yaml_is_one_error_not_a_recursion_traceback(tmp_path: Path) -> None:
    path = write(tmp_path / "deep.yaml", "a: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError, match=r"deep\.yaml: invalid YAML: nested too deeply"):
        load_config(path)


def test_a_config_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match=r"binary\.yaml: bytes that are not UTF-8"):
        load_config(path)


def test_duplicate_yaml_keys_are_rejected(tmp_path: Path) -> None:
    path = write(tmp_path / "dup.yaml", "train:\n  epochs: 3\n  epochs: 4\n")
    with pytest.raises(ConfigError, match=r"dup\.yaml line 3: .*duplicate key 'epochs'"):
        load_config(path)


@pytest.mark.parametrize("text", ["? [a]\n: 1\n", "seed: {{a: 1}: 2}\n"])
def test_a_key_that_is_a_list_or_mapping_is_named_not_a_traceback(tmp_path: Path, text: str):
    path = write(tmp_path / "key.yaml", text)
    with pytest.raises(ConfigError, match=r"key\.yaml line 1: invalid YAML: a key that is a "
                                          r"list or mapping; expected a scalar key$"):
        load_config(path)
    with pytest.raises(ConfigError, match=r"^override 'train.epochs=\{\[1\]: 2\}' line 1: "
                                          r"invalid YAML: a key that is a list or mapping"):
        load_config("default", ["train.epochs={[1]: 2}"])


@pytest.mark.parametrize("text", [
    "model:\n  name: koch2015\n  x: &a [*a]\n",  # a cycle: a recursion traceback in the copy
    "train: &t {epochs: 3}\nx: [*t, *t]\n",  # aliases nest: a small file, billions of values
])
def test_yaml_aliases_are_refused(tmp_path: Path, text: str) -> None:
    path = write(tmp_path / "alias.yaml", text)
    with pytest.raises(ConfigError, match=r"alias\.yaml line \d: invalid YAML: an alias "
                                          r"\(\*\w\) is not accepted: write the value out"):
        load_config(path)


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path / "list.yaml", "- 1\n- 2\n")
    with pytest.raises(ConfigError, match="expected a mapping of sections"):
        load_config(path)


def test_save_resolved_writes_a_complete_config_that_loads_back(tmp_path: Path) -> None:
    config = load_config("koch2015", ["train.epochs=7", "model.dropout=0.1"])
    out = tmp_path / "run" / "config.yaml"
    save_resolved(config, out)
    raw = yaml.safe_load(out.read_text())
    assert raw["train"]["early_stopping"]["patience"] == 20  # defaults written out too
    assert raw["model"] == {"name": "koch2015", "batchnorm": False, "dropout": 0.1}
    assert load_config(out) == config
    assert list(out.parent.iterdir()) == [out]  # no temporary file left behind
    assert load_resolved(out) == config


def test_load_resolved_refuses_a_resolved_config_that_lost_sections_or_values(
        tmp_path: Path) -> None:
    out = tmp_path / "config.yaml"
    save_resolved(load_config("koch2015"), out)
    text = out.read_text(encoding="utf-8")
    out.write_text(text[:text.index("\nloss:")] + "\n", encoding="utf-8")
    assert load_config(out).loss == Config().loss  # a config file may leave sections out...
    with pytest.raises(ConfigError, match=re.escape(  # ...one save_resolved wrote may not
            f"{out}: no loss, optim, schedule, augment, train section: the file was cut short")):
        load_resolved(out)
    out.write_text(text.replace("\n  epochs: ", "\n  epochs: -", 1), encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(f"{out}: train.epochs")):
        load_resolved(out)


def test_config_dir_is_the_configs_folder_shipped_in_the_package() -> None:
    assert (CONFIG_DIR / "koch2015.yaml").is_file()


def test_defaults_round_trip_and_sections_must_be_mappings() -> None:
    assert Config.from_dict(Config().to_dict()) == Config()
    with pytest.raises(ConfigError, match="data: expected a mapping, got 3"):
        Config.from_dict({"data": 3})
    with pytest.raises(ConfigError, match="model: expected a mapping with a 'name'"):
        Config.from_dict({"model": "koch2015"})


def test_an_override_error_names_the_override_not_the_file() -> None:
    with pytest.raises(ConfigError, match=r"^override 'optim.lr=-1': optim.lr: expected"):
        load_config("koch2015", ["train.epochs=3", "optim.lr=-1"])
    with pytest.raises(ConfigError, match=r"^override 'model.width=0': model.width must be"):
        resolve_config("default", ["train.epochs=3", "model.width=0"])


def test_a_warm_up_longer_than_the_run_says_what_to_set() -> None:
    with pytest.raises(ConfigError, match=re.escape("set schedule.warmup_epochs=0.5 or less")):
        resolve_config("default", ["train.epochs=1"])
    assert resolve_config("default", ["train.epochs=1", "schedule.warmup_epochs=0.5"])


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("name=/tmp/elsewhere", "name: expected a plain name"),
        ("name=../up", "name: expected a plain name"),
        ("name=.hidden", "name: expected a plain name"),
        # the trainer's seed * 1_000_033 + epoch overflowed torch.manual_seed's int64 here
        ("seed=9223372036854775807", r"seed: expected an integer from 0 to 2\*\*43 - 1"),
        ("seed=8796093022208", r"seed: expected an integer from 0 to 2\*\*43 - 1"),
        ("optim.lr=.inf", "optim.lr: expected a finite number, got inf"),
        ("schedule.warmup_epochs=.nan", "schedule.warmup_epochs: expected a finite number"),
        ("model.head_kwargs.scale=.nan", "model.head_kwargs.scale: expected a finite number"),
        ("model.head_kwargs.scale=1e300", "model.head_kwargs.scale must be positive: a number"),
        ("model.head_kwargs.bias=abc", "model.head_kwargs.bias: expected a finite number"),
        ("augment.scale=[1.0, .inf]", r"augment.scale\[1\]: expected a finite number"),
        ("train.time_budget_s=.inf", "train.time_budget_s: expected a finite number"),
        ("model.width=1.5", "model.width: expected a whole number, got 1.5"),
        ("data.preprocessing=[0, 0, 300, 300]", r"right <= 250 and 0 <= top < bottom <= 250"),
    ],
)
def test_values_that_would_fail_later_are_rejected_before_training(override, expected):
    with pytest.raises(ConfigError, match=expected):
        resolve_config("default", [override])


@pytest.mark.parametrize(("override", "message"), [
    ("model.init=bogus", "model.init: expected paper or default"),  # it names itself: once
    ("model.width=0", "model.width must be positive, got 0"),  # named by its argument
    ("model.head=bogus", "model: unknown head 'bogus'; choose one of"),  # built in turn
    ("model.head_kwargs.margn=2",  # a typo of the head's option, not torch's TypeError
     "model.head_kwargs.margn: not an option of the weighted_l1 head; it takes no options"),
])
def test_a_models_own_errors_are_named_once_by_the_section(override, message) -> None:
    with pytest.raises(ConfigError, match=f"^override '{override}': {re.escape(message)}"):
        resolve_config("koch2015", [override])


def test_a_name_that_reads_as_a_number_round_trips(tmp_path: Path) -> None:
    config = load_config("default", ['name="1e5"'])
    save_resolved(config, tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == config


def test_an_override_may_mend_a_value_of_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "e0.yaml", "train: {epochs: 0}\n")
    assert load_config(path, ["train.epochs=1"]).train.epochs == 1
    with pytest.raises(ConfigError, match=f"^{re.escape(str(path))}: train.epochs: expected at "
                                          "least 1, got 0"):
        load_config(path, ["optim.lr=0.1"])
    # a value refused where the file's was mended: the override that set it is named
    with pytest.raises(ConfigError, match=r"^override 'optim.lr=-1': optim.lr: expected"):
        load_config(path, ["train.epochs=1", "optim.lr=-1"])
    # ... or the file and its overrides, where the mended value is not what fails now
    mended = write(tmp_path / "mended.yaml", "train: {epochs: 0}\ndata: {mined_pairs: 8}\n")
    with pytest.raises(ConfigError, match=f"^{re.escape(str(mended))} with overrides "
                                          "train.epochs=1, data.sampling=identities: "
                                          "data.mined_pairs"):
        resolve_config(mended, ["train.epochs=1", "data.sampling=identities"])


def test_a_files_own_mistake_is_blamed_on_the_file_not_on_an_override_of_its_section(
        tmp_path: Path) -> None:
    path = write(tmp_path / "nesterov.yaml",
                 "optim: {name: sgd, nesterov: true, momentum: 0.0}\n")
    with pytest.raises(ConfigError, match=f"^{re.escape(str(path))}: optim: sgd cannot be "
                                          "built from its values"):
        resolve_config(path, ["optim.lr=0.01"])


@pytest.mark.parametrize(("section", "kind"), [("model", "model"), ("loss", "loss"),
                                               ("schedule", "schedule"),
                                               ("optim", "optimizer")])
def test_an_unknown_component_name_names_its_override_or_its_file(tmp_path: Path, section: str,
                                                                   kind: str) -> None:
    message = f"{section}.name: unknown {kind} 'nope'; choose one of: "
    override = f"{section}.name=nope"
    with pytest.raises(ConfigError, match=f"^override '{override}': {re.escape(message)}"):
        resolve_config("default", ["train.epochs=3", override])
    path = write(tmp_path / "bad.yaml", f"{section}: {{name: nope}}\n")
    with pytest.raises(ConfigError, match=f"^{re.escape(f'{path}: {message}')}"):
        resolve_config(path, ["train.epochs=3"])
