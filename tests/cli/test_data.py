import argparse
import hashlib
import socket
import types

import pytest

from conftest import make_lfw_tree
from siamface import __version__
from siamface.cli import main as cli
from siamface.cli.main import main
from siamface.data import sources
from siamface.data.home import ENV_VAR
from siamface.data.sources import RemoteFile
from siamface.errors import UnknownNameError

TINY = {"Ann_Ax": 3, "Bo_By": 1, "Cy_Cz": 2}


@pytest.fixture
def tree(tmp_path):
    return make_lfw_tree(tmp_path / "src" / "lfw-deepfunneled", TINY, size=8)


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"siamface {__version__}"


def test_usage_errors_return_2(capsys):
    assert main([]) == 2
    assert main(["data", "nosuchcommand"]) == 2
    assert "usage: siamface" in capsys.readouterr().err


def test_import_with_data_dir(tmp_path, tree, capsys):
    home = tmp_path / "home"
    assert main(["--data-dir", str(home), "data", "import", str(tree)]) == 0
    out = capsys.readouterr().out
    assert "LFW (lfw-deepfunneled)" in out and "3 people, 6 images" in out
    assert (home / "lfw" / "manifest.json").is_file()


def test_an_empty_data_dir_is_refused_not_read_as_the_current_folder(tmp_path, tree, capsys,
                                                                      monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["--data-dir", "", "data", "import", str(tree)]) == 2
    assert capsys.readouterr().err == ("siamface: error: the data home (--data-dir, or data_dir "
                                       "in Python): expected a folder, got an empty name\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def test_data_home_from_environment(tmp_path, tree, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env_home"))
    assert main(["data", "import", str(tree.parent)]) == 0
    assert (tmp_path / "env_home" / "lfw" / "manifest.json").is_file()


def test_bad_input_is_one_line_without_traceback(tmp_path, capsys):
    code = main(["--data-dir", str(tmp_path), "data", "import", str(tmp_path / "nope.tgz")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("siamface: error: ") and "nope.tgz" in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_stats_prints_and_writes_the_report(tmp_path, tree, capsys):
    home, out = tmp_path / "home", tmp_path / "report"
    pairs = tmp_path / "src" / "pairsDevTest.txt"
    pairs.write_text("1\nAnn_Ax\t1\t3\nBo_By\t1\tCy_Cz\t2\n")
    digest = hashlib.sha256(pairs.read_bytes()).hexdigest()
    (pairs.parent / "SHA256SUMS").write_text(f"{digest}  pairsDevTest.txt\n")
    assert main(["--data-dir", str(home), "data", "import", str(tree.parent)]) == 0
    capsys.readouterr()

    assert main(["--data-dir", str(home), "data", "stats", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed == (out / "stats.md").read_text() + "\n"
    assert "pairsDevTest.txt" in printed
    assert (out / "stats.json").is_file() and list(out.glob("*.png"))

    assert main(["--data-dir", str(home), "data", "stats"]) == 0
    assert (home / "reports" / "stats" / "stats.md").read_text() + "\n" == printed


def test_stats_without_data_says_how_to_get_it(tmp_path, capsys):
    assert main(["--data-dir", str(tmp_path), "data", "stats"]) == 2
    err = capsys.readouterr().err
    assert "siamface data fetch" in err and "siamface data import PATH" in err


def test_fetch_offline_says_how_to_import(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    closed = RemoteFile("lfw-funneled.tgz", f"http://127.0.0.1:{port}/lfw.tgz", "0" * 64)
    monkeypatch.setattr(sources, "ARCHIVES", {"lfw_funneled": closed})
    assert main(["--data-dir", str(tmp_path), "data", "fetch"]) == 2
    assert "siamface data import PATH" in capsys.readouterr().err


def test_command_groups_come_from_the_module_list(monkeypatch, capsys):
    def register(subparsers: argparse._SubParsersAction) -> None:
        sub = subparsers.add_parser("shout")
        sub.add_argument("--fail", action="store_true")
        sub.set_defaults(func=run)

    def run(args: argparse.Namespace) -> int:
        if args.fail:
            raise UnknownNameError("unknown model 'x'; choose one of: a, b\nsecond line")
        print("shouted")
        return 0

    group = types.SimpleNamespace(register=register)
    monkeypatch.setattr(cli, "COMMAND_GROUPS", (*cli.COMMAND_GROUPS, group))
    assert main(["shout"]) == 0
    assert capsys.readouterr().out == "shouted\n"
    assert main(["shout", "--fail"]) == 2
    assert capsys.readouterr().err == (
        "siamface: error: unknown model 'x'; choose one of: a, b second line\n"
    )


def test_bugs_still_raise(monkeypatch):
    def register(subparsers: argparse._SubParsersAction) -> None:
        subparsers.add_parser("buggy").set_defaults(func=lambda args: 1 / 0)

    group = types.SimpleNamespace(register=register)
    monkeypatch.setattr(cli, "COMMAND_GROUPS", (group,))
    with pytest.raises(ZeroDivisionError):
        main(["buggy"])


@pytest.mark.parametrize("bug", [KeyError("a missing dict key"), RuntimeError("a bug"),
                                 ValueError("not one of ours")])
def test_builtin_errors_that_are_not_siamfaces_are_bugs_with_a_traceback(monkeypatch, bug):
    def fail(args: argparse.Namespace) -> int:
        raise bug

    def register(subparsers: argparse._SubParsersAction) -> None:
        subparsers.add_parser("buggy").set_defaults(func=fail)

    monkeypatch.setattr(cli, "COMMAND_GROUPS", (types.SimpleNamespace(register=register),))
    with pytest.raises(type(bug)):
        main(["buggy"])


def test_stats_into_a_file_is_refused_before_anything_is_written(cli_home, tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("mine\n")
    assert main(["--data-dir", str(cli_home), "data", "stats", "--out", str(afile)]) == 2
    assert capsys.readouterr().err == (f"siamface: error: {afile}: not a folder (the "
                                       "statistics are written into one)\n")
    assert afile.read_text() == "mine\n" and list(tmp_path.iterdir()) == [afile]


def test_people_txt_given_after_the_images_makes_view2_possible(tmp_path, capsys):
    # `data fetch` downloads no people.txt: View 2 names the command that adds it, which works
    from conftest import make_view2_files
    from siamface.data.lfw import open_lfw
    from siamface.data.people import training_scope

    counts = {f"Person_{chr(65 + i // 26)}{chr(97 + i % 26)}": 2 for i in range(30)}
    src, home = tmp_path / "src", tmp_path / "home"
    make_lfw_tree(src / "lfw-deepfunneled", counts, size=8)
    (src / "later").mkdir(parents=True)
    make_view2_files(src / "later", counts)
    (src / "pairs.txt").write_bytes((src / "later" / "pairs.txt").read_bytes())
    for folder in (src, src / "later"):  # synthetic files under official names: vouched for
        (folder / "SHA256SUMS").write_text("".join(
            f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.name}\n"
            for p in folder.glob("*.txt")))
    assert main(["--data-dir", str(home), "data", "import", str(src / "lfw-deepfunneled"),
                 str(src / "pairs.txt")]) == 0
    assert main(["--data-dir", str(home), "view2", "default", "--runs-dir",
                 str(tmp_path / "runs")]) == 2
    assert "`siamface data import people.txt` adds them" in capsys.readouterr().err
    assert main(["--data-dir", str(home), "data", "import",
                 str(src / "later" / "people.txt")]) == 0
    assert "protocol files: pairs.txt, people.txt" in capsys.readouterr().out
    assert training_scope(open_lfw(home), view2_fold=0).name.startswith("View 2")
