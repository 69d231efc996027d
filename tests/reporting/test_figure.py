"""Figures drawn without pyplot and written atomically."""

import numpy as np
from PIL import Image

from siamface.reporting.figure import new_figure, save_png


def test_names_with_dollar_signs_are_drawn_as_typed_not_parsed_as_tex(tmp_path):
    # matplotlib read "a$_$b" as TeX and raised: a run named so lost its report
    fig = new_figure(3, 2)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], label="tiny$$1")
    ax.set_title("Run a$_$b")
    ax.set_yticks([0, 1], ["cost$^$x", "y"])
    ax.legend()
    path = save_png(fig, tmp_path / "names.png")
    assert np.asarray(Image.open(path)).shape[2] == 4  # an RGBA PNG was written
    assert not list(tmp_path.glob("*.tmp"))
