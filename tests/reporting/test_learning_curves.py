
import pytest
from PIL import Image

from siamface.reporting.learning_curves import plot_learning_curves
from siamface.run_folder import read_summary_csv

CSV = """epoch,train_loss,val_loss,train_acc,val_acc,val_auc,lr,seconds
1,0.69,0.68,0.55,0.56,0.60,0.001,12.5
2,0.52,0.58,0.72,0.70,0.77,0.0005,11.9
3,0.41,,0.81,,,0.00025,12.1
"""


def test_plot_learning_curves(tmp_path):
    path = tmp_path / "summary.csv"
    path.write_text(CSV)
    out = plot_learning_curves(read_summary_csv(path), tmp_path / "curves.png", title="run")
    with Image.open(out) as image:
        assert image.format == "PNG"
        assert image.width > 3 * image.height / 2  # three panels side by side


def test_plot_learning_curves_draws_only_present_columns(tmp_path):
    rows = [{"epoch": e, "train_loss": 1.0 / e} for e in range(1, 4)]
    with Image.open(plot_learning_curves(rows, tmp_path / "loss.png")) as image:
        assert image.width < image.height * 1.5  # one panel only
    with pytest.raises(ValueError, match="none of the plotted columns"):
        plot_learning_curves([{"epoch": 1, "other": 2.0}], tmp_path / "x.png")
    with pytest.raises(ValueError, match="no epochs"):
        plot_learning_curves([], tmp_path / "x.png")
