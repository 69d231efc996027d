from pathlib import Path

import platformdirs
import pytest

from siamface.data.home import ENV_VAR, DataHomeError, resolve_data_home


def test_explicit_dir_wins_over_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "from_env"))
    assert resolve_data_home(tmp_path / "explicit") == tmp_path / "explicit"


def test_environment_wins_over_user_cache(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "from_env"))
    assert resolve_data_home() == tmp_path / "from_env"


def test_user_cache_when_nothing_is_set(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert resolve_data_home() == Path(platformdirs.user_cache_dir("siamface"))


@pytest.mark.parametrize("value", ["", " ", "\t"])
def test_empty_or_blank_environment_variable_counts_as_unset(monkeypatch, value):
    monkeypatch.setenv(ENV_VAR, value)  # not a folder named " " in the current one
    assert resolve_data_home() == Path(platformdirs.user_cache_dir("siamface"))


@pytest.mark.parametrize("data_dir", ["", " "])
def test_an_empty_explicit_dir_is_refused_not_read_as_the_current_folder(monkeypatch, data_dir):
    monkeypatch.setenv(ENV_VAR, "")
    with pytest.raises(DataHomeError, match=r"^the data home \(--data-dir, or data_dir in "
                                            r"Python\): expected a folder, got an empty name$"):
        resolve_data_home(data_dir)


def test_home_directory_is_expanded(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve_data_home("~/lfwdata") == tmp_path / "lfwdata"


def test_a_data_home_that_is_a_file_is_refused_naming_it(monkeypatch, tmp_path):
    (tmp_path / "afile").write_text("notes")
    with pytest.raises(DataHomeError, match=r"afile: the data home must be a folder"):
        resolve_data_home(tmp_path / "afile")
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "afile"))
    with pytest.raises(DataHomeError, match=r"afile: the data home must be a folder"):
        resolve_data_home()
