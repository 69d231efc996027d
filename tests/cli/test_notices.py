"""siamface's own warnings: one-line `siamface: note:` notices on the command line, Python
warnings from the API; other libraries' warnings are left as they are."""

import shutil
import threading
import warnings

import pytest

from siamface.api import evaluate
from siamface.cli.main import main, warnings_as_notices
from siamface.data.preprocess import READING
from siamface.data.splits import IdentityLeakageWarning
from siamface.errors import SiamfaceWarning
from siamface.evaluation.metrics import FarResolutionWarning

from .conftest import TINY


def test_a_cli_run_prints_notes_and_no_python_warnings(lfw_sources, tmp_path, capsys):
    args = ["--data-dir", str(tmp_path / "home"), "run", "--import", str(lfw_sources),
            "--runs-dir", str(tmp_path / "runs"), "--set", *TINY, "train.epochs=1",
            "data.split=random", "data.identities_per_batch=2",  # random: people leak, it warns
            "--bootstrap", "0", "--one-shot", "--no-plots", "--no-progress"]
    assert main(args) == 0
    err = capsys.readouterr().err
    notes = [line for line in err.splitlines() if line.startswith("siamface: note: ")]
    assert any("appear in both the training and the validation pairs" in n for n in notes)
    assert any("FAR 0.001 is below the resolution 1/8" in n for n in notes)
    assert len(notes) == len(set(notes))  # each distinct notice once
    assert "Warning" not in err and ".py:" not in err  # no category, no file path


def test_notices_show_each_siamface_warning_once_and_leave_others_alone(capsys):
    before = warnings.showwarning
    with pytest.warns(RuntimeWarning, match="another library"), warnings_as_notices():
        for _ in range(2):
            warnings.warn(IdentityLeakageWarning("3 of 9 people appear\n  in both"), stacklevel=1)
        warnings.warn(FarResolutionWarning("FAR 0.001 is below the resolution"), stacklevel=1)
        warnings.warn("another library", RuntimeWarning, stacklevel=1)
    assert capsys.readouterr().err.splitlines() == [
        "siamface: note: 3 of 9 people appear in both",
        "siamface: note: FAR 0.001 is below the resolution",
    ]
    assert warnings.showwarning is before


def test_the_api_keeps_them_python_warnings(cli_home, trained_run, tmp_path):
    assert issubclass(FarResolutionWarning, SiamfaceWarning)
    assert issubclass(IdentityLeakageWarning, SiamfaceWarning)
    assert issubclass(SiamfaceWarning, UserWarning)  # code filtering UserWarning keeps working
    run_copy = shutil.copytree(trained_run.run_dir, tmp_path / "run")
    with pytest.warns(FarResolutionWarning) as record:
        evaluate(run_copy, data_dir=cli_home, n_bootstrap=0, plots=False, progress=False)
    assert sorted(str(w.message) for w in record) == [
        f"FAR {far} is below the resolution 1/8 = 0.125 of 8 negative pairs; reporting TAR at "
        "FAR = 0 instead" for far in ("0.001", "0.01")
    ]



def test_a_pillow_warning_names_the_photo_its_own_thread_reads(capsys):
    pillow = "/venv/site-packages/PIL/TiffImagePlugin.py"
    both_reading = threading.Barrier(2, timeout=10)  # a thread that died fails, not hangs

    def read(photo: str) -> None:
        reading = READING.set(photo)  # as open_image does for its block
        both_reading.wait()
        warnings.warn_explicit(f"Corrupt EXIF data in\n {photo}", UserWarning, pillow, 982)
        READING.reset(reading)

    with pytest.warns(UserWarning, match="outside a read"), warnings_as_notices():
        threads = [threading.Thread(target=read, args=(p,)) for p in ("a.jpg", "b.jpg")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        warnings.warn_explicit("outside a read", UserWarning, pillow, 982)  # left alone
    assert sorted(capsys.readouterr().err.splitlines()) == [
        f"siamface: note: {p}: Corrupt EXIF data in {p} (Pillow)" for p in ("a.jpg", "b.jpg")]
