"""The run folder: its files, the typed config, the chosen model, summary.csv."""

import math

import pytest

from siamface.run_folder import read_summary_csv

CSV = """epoch,train_loss,val_loss,train_acc,val_acc,val_auc,lr,seconds
1,0.69,0.68,0.55,0.56,0.60,0.001,12.5
2,0.52,0.58,0.72,0.70,0.77,0.0005,11.9
3,0.41,,0.81,,,0.00025,12.1
"""


def test_read_summary_csv(tmp_path):
    path = tmp_path / "summary.csv"
    path.write_text(CSV)
    rows = read_summary_csv(path)
    assert len(rows) == 3
    assert rows[0] == {
        "epoch": 1,
        "train_loss": 0.69,
        "val_loss": 0.68,
        "train_acc": 0.55,
        "val_acc": 0.56,
        "val_auc": 0.60,
        "lr": 0.001,
        "seconds": 12.5,
    }
    assert isinstance(rows[2]["epoch"], int)
    assert math.isnan(rows[2]["val_loss"])  # empty cell: no validation that epoch


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("epoch,train_loss\n1,0.5\n2,abc\n", r"summary.csv:3: column 'train_loss'.*'abc'"),
        ("epoch,train_loss\n1.5,0.5\n", r"summary.csv:2: column 'epoch'"),
        ("epoch,train_loss\n1,0.5,9\n", r"summary.csv:2: expected 2 cells"),
        ("train_loss\n0.5\n", "'epoch' column"),
    ],
)
def test_read_summary_csv_errors_name_file_and_line(tmp_path, text, message):
    path = tmp_path / "summary.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        read_summary_csv(path)
