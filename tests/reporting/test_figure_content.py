"""What the figures show, not only that a PNG exists: each plot's Figure is caught as it is
saved and its lines, bars, texts, labels and limits are checked against values worked out by
hand from small inputs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from siamface.evaluation.metrics import (
    FARS,
    FarResolutionWarning,
    equal_error_rate,
    roc_auc,
    roc_curve,
    tar_at_far,
    tar_key,
)
from siamface.evaluation.report import verification_metrics
from siamface.experiments import view2
from siamface.reporting import eval_figures
from siamface.reporting.comparison_plots import (
    MAX_LEGEND,
    plot_importances,
    plot_optimisation_history,
    plot_overlaid_curves,
    plot_runtimes,
)
from siamface.reporting.dataset_plots import (
    plot_images_per_person,
    plot_pair_people_frequency,
    plot_top_people,
)
from siamface.reporting.eval_plots import (
    plot_confusion_matrix,
    plot_curves,
    plot_one_shot_curve,
    plot_roc,
    plot_score_histograms,
)
from siamface.reporting.gallery import plot_pair_gallery
from siamface.reporting.learning_curves import plot_learning_curves
from siamface.run_folder import read_summary_csv

# Four pairs, scores descending: same, different, same, different. Lowering the threshold past
# each score moves the ROC (FAR, TAR) from (0, 0) to (0, .5), (.5, .5), (.5, 1), (1, 1).
SCORES4 = np.array([0.9, 0.8, 0.7, 0.1])
LABELS4 = np.array([1, 0, 1, 0])
FAR4 = [0.0, 0.0, 0.5, 0.5, 1.0]
TAR4 = [0.0, 0.5, 0.5, 1.0, 1.0]


@contextmanager
def capturing() -> Iterator[dict[str, Figure]]:
    """Every Figure saved inside the block, keyed by the name of the file it was written to."""
    figures: dict[str, Figure] = {}
    save = Figure.savefig

    def capture(self: Figure, fname, *args, **kwargs):
        name = Path(fname).name
        # save_png writes a temporary ".<name>.<random>.tmp" beside the target, then renames it
        match = re.fullmatch(r"\.(.+)\.[^.]+\.tmp", name)
        figures[match.group(1) if match else name] = self
        return save(self, fname, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Figure, "savefig", capture)
        yield figures


@pytest.fixture
def drawn() -> Iterator[dict[str, Figure]]:
    """The figures the test saves, by file name."""
    with capturing() as figures:
        yield figures


def only_axes(fig: Figure):
    (ax,) = fig.axes
    return ax


def legend(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def line(ax, label: str):
    (found,) = [x for x in ax.get_lines() if x.get_label() == label]
    return found


def xy(artist) -> tuple[list[float], list[float]]:
    return list(map(float, artist.get_xdata())), list(map(float, artist.get_ydata()))


def one_line_error(excinfo: pytest.ExceptionInfo) -> str:
    message = str(excinfo.value)
    assert message and "\n" not in message
    return message


# -- ROC ---------------------------------------------------------------------------------------


def test_roc_curve_passes_through_the_hand_computed_points(tmp_path, drawn):
    """The drawn curve is the exact ROC of four pairs, with AUC 3/4 in its legend."""
    far, tar, _ = roc_curve(SCORES4, LABELS4)
    assert far.tolist() == FAR4 and tar.tolist() == TAR4
    plot_roc(far, tar, tmp_path / "roc.png", auc=roc_auc(SCORES4, LABELS4), title="ROC on mine")
    ax = only_axes(drawn["roc.png"])
    assert xy(line(ax, "model (AUC 0.7500)")) == (FAR4, TAR4)
    chance = line(ax, "chance")
    assert np.allclose(chance.get_xdata(), chance.get_ydata())  # the diagonal TAR = FAR
    assert legend(ax) == ["model (AUC 0.7500)", "chance"]  # no EER or points unless given
    assert ax.get_title() == "ROC on mine"
    assert ax.get_xlabel() == "false accept rate (FAR)"
    assert ax.get_ylabel() == "true accept rate (TAR)"
    assert ax.get_xlim() == (0.0, 1.0) and ax.get_ylim() == (0.0, 1.01)


def test_roc_marks_the_eer_on_far_equals_frr_and_each_tar_at_far(tmp_path, drawn):
    """EER 1/2 at (0.5, 0.5) on the line TAR = 1 - FAR; TAR@FAR points at (target, TAR)."""
    eer, _ = equal_error_rate(SCORES4, LABELS4)
    assert eer == 0.5
    with pytest.warns(FarResolutionWarning):  # 2 negatives resolve FAR 0.5, not 0.25
        points = {target: tar_at_far(SCORES4, LABELS4, target)[0] for target in (0.25, 0.5)}
    assert points == {0.25: 0.5, 0.5: 1.0}
    plot_roc(np.array(FAR4), np.array(TAR4), tmp_path / "roc.png", eer=eer, tar_at_far=points,
             label="fold 3")
    ax = only_axes(drawn["roc.png"])
    frr = line(ax, "FAR = FRR")
    assert np.allclose(frr.get_ydata(), 1.0 - np.asarray(frr.get_xdata()))
    assert xy(line(ax, "EER 50.00%")) == ([0.5], [0.5])
    low, high = line(ax, "TAR 50.00% @ FAR 25.00%"), line(ax, "TAR 100.00% @ FAR 50.00%")
    assert xy(low) == ([0.25], [0.5]) and xy(high) == ([0.5], [1.0])
    assert low.get_color() != high.get_color()
    assert legend(ax) == ["fold 3", "chance", "FAR = FRR", "EER 50.00%",
                          "TAR 50.00% @ FAR 25.00%", "TAR 100.00% @ FAR 50.00%"]


def test_log_far_roc_starts_at_the_smallest_positive_far(tmp_path, drawn):
    """On a log FAR axis the x range is [smallest FAR > 0, 1]; the curve's data is unchanged."""
    far, tar = np.array([0.0, 0.02, 0.2, 1.0]), np.array([0.0, 0.4, 0.9, 1.0])
    plot_roc(far, tar, tmp_path / "roc.png", log_far=True, tar_at_far={0.2: 0.9})
    ax = only_axes(drawn["roc.png"])
    assert ax.get_xscale() == "log"
    assert ax.get_xlim() == pytest.approx((0.02, 1.0))
    assert xy(line(ax, "model")) == (far.tolist(), tar.tolist())


@pytest.mark.parametrize(("far", "tar", "marks"), [
    # 500 negative pairs: the smallest FAR > 0 is 1/500 = 0.2%, above the 0.1% target
    ([0.0, 0.0, 0.002, 0.5, 1.0], [0.0, 0.3, 0.99, 1.0, 1.0], {"tar_at_far": {0.001: 0.3}}),
    # FAR = FRR is crossed between (0, 0.9) and (0.2, 1): EER 1/15, below FAR 0.2
    ([0.0, 0.0, 0.2, 1.0], [0.0, 0.9, 1.0, 1.0], {"eer": 1 / 15}),
], ids=["tar_at_far", "eer"])
def test_log_far_roc_keeps_every_marked_point_in_view(tmp_path, drawn, far, tar, marks):
    """Every point the legend names lies inside the log axis' x range."""
    plot_roc(np.array(far), np.array(tar), tmp_path / "roc.png", log_far=True, **marks)
    ax = only_axes(drawn["roc.png"])
    low, high = ax.get_xlim()
    marked = [float(m.get_xdata()[0]) for m in ax.get_lines() if len(m.get_xdata()) == 1]
    assert len(marked) == 1 and low <= marked[0] <= high


# -- score histograms, confusion matrix, one-shot, generic curves --------------------------------


def test_histograms_count_each_class_on_shared_bins_with_the_threshold(tmp_path, drawn):
    """Two bins [-1, 0), [0, 1]: same = [0, 2], different = [2, 1]; threshold line at 0.25."""
    scores = np.array([-1.0, -0.5, 0.5, 1.0, 1.0])
    labels = np.array([0, 0, 1, 1, 0])
    plot_score_histograms(scores, labels, tmp_path / "scores.png", threshold=0.25, bins=2,
                          xlabel="logit (higher = same person)", title="mine")
    ax = only_axes(drawn["scores.png"])
    same, different = ax.containers
    assert same[0].get_label() == "same (n=2)" and different[0].get_label() == "different (n=3)"
    assert [p.get_height() for p in same] == [0, 2]
    assert [p.get_height() for p in different] == [2, 1]
    for bars in (same, different):  # one set of edges for both classes
        assert [(p.get_x(), p.get_width()) for p in bars] == [(-1.0, 1.0), (0.0, 1.0)]
    assert to_rgba(same[0].get_facecolor(), 1) != to_rgba(different[0].get_facecolor(), 1)
    assert xy(line(ax, "threshold 0.25")) == ([0.25, 0.25], [0.0, 1.0])
    assert ax.get_xlabel() == "logit (higher = same person)" and ax.get_ylabel() == "pairs"
    assert ax.get_title() == "mine"
    assert legend(ax) == ["same (n=2)", "different (n=3)", "threshold 0.25"]


def test_histograms_without_a_threshold_draw_no_line(tmp_path, drawn):
    """No threshold given: bars only, no vertical line and no legend entry for one."""
    plot_score_histograms(SCORES4, LABELS4, tmp_path / "scores.png", bins=4)
    ax = only_axes(drawn["scores.png"])
    assert ax.get_lines() == [] and legend(ax) == ["same (n=2)", "different (n=2)"]
    assert sum(p.get_height() for c in ax.containers for p in c) == 4  # every pair counted once


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_histograms_refuse_scores_that_are_not_finite(tmp_path, bad):
    """A NaN or infinite score is a one-line ValueError, and no PNG is written."""
    with pytest.raises(ValueError, match="not finite") as excinfo:
        plot_score_histograms(np.array([0.1, bad, 0.3]), np.array([0, 1, 1]), tmp_path / "s.png")
    one_line_error(excinfo)
    assert list(tmp_path.iterdir()) == []


def test_confusion_matrix_puts_true_rows_and_predicted_columns(tmp_path, drawn):
    """[[TN, FP], [FN, TP]] = [[5, 1], [2, 8]]: cell texts at (column, row) with row shares."""
    matrix = np.array([[5, 1], [2, 8]])
    plot_confusion_matrix(matrix, tmp_path / "cm.png", title="mine")
    fig = drawn["cm.png"]
    ax = fig.axes[0]  # the other is the colour bar
    assert len(fig.axes) == 2
    assert np.array_equal(ax.images[0].get_array(), matrix)
    cells = {tuple(map(int, t.get_position())): t for t in ax.texts}
    assert {k: t.get_text() for k, t in cells.items()} == {
        (0, 0): "5\n83.3%", (1, 0): "1\n16.7%", (0, 1): "2\n20.0%", (1, 1): "8\n80.0%"}
    # dark cells (over half the largest count) get white text
    assert {k: t.get_color() for k, t in cells.items()} == {
        (0, 0): "white", (1, 0): "black", (0, 1): "black", (1, 1): "white"}
    assert [t.get_text() for t in ax.get_xticklabels()] == ["different", "same"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["different", "same"]
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("predicted", "true", "mine")


def test_confusion_matrix_row_without_pairs_shows_counts_only(tmp_path, drawn):
    """A true class with no pairs gets "0" and no percentage (no division by zero)."""
    plot_confusion_matrix(np.array([[0, 0], [3, 1]]), tmp_path / "cm.png",
                          class_names=("impostor", "genuine"))
    ax = drawn["cm.png"].axes[0]
    assert [t.get_text() for t in ax.texts] == ["0", "0", "3\n75.0%", "1\n25.0%"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["impostor", "genuine"]


def test_one_shot_curve_band_and_chance_level(tmp_path, drawn):
    """Accuracy at each N, a band from each low to each high, and chance 1/N."""
    n, acc, lows, highs = [2, 5, 10], [0.9, 0.7, 0.6], [0.8, 0.6, 0.5], [0.95, 0.8, 0.7]
    plot_one_shot_curve(n, acc, lows, highs, tmp_path / "one_shot.png", label="run")
    ax = only_axes(drawn["one_shot.png"])
    assert xy(line(ax, "run")) == (n, acc)
    assert xy(line(ax, "chance (1/N)")) == (n, [0.5, 0.2, 0.1])
    (band,) = ax.collections
    vertices = band.get_paths()[0].vertices
    for k, low, high in zip(n, lows, highs, strict=True):
        at = vertices[vertices[:, 0] == k, 1]
        assert (at.min(), at.max()) == pytest.approx((low, high))
    assert ax.get_xlabel() == "N (candidates per trial)" and ax.get_ylabel() == "accuracy"
    assert ax.get_ylim() == (0.0, 1.01)


def test_generic_curves_each_get_their_data_and_name(tmp_path, drawn):
    """plot_curves draws curve i from xs[i], ys[i] under labels[i], on a log x axis if asked."""
    plot_curves([[0.01, 0.1], [0.001, 0.01, 0.1]], [[0.2, 0.5], [0.1, 0.3, 0.6]], ["a", "b"],
                tmp_path / "c.png", xlabel="FPIR", ylabel="DIR", title="t", log_x=True)
    ax = only_axes(drawn["c.png"])
    assert xy(line(ax, "a")) == ([0.01, 0.1], [0.2, 0.5])
    assert xy(line(ax, "b")) == ([0.001, 0.01, 0.1], [0.1, 0.3, 0.6])
    assert ax.get_xscale() == "log" and legend(ax) == ["a", "b"]
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("FPIR", "DIR", "t")


@pytest.mark.parametrize(("call", "message"), [
    (lambda p: plot_curves([[1, 2]], [[1, 2]], ["a", "b"], p, xlabel="", ylabel="", title=""),
     "one x, y and label per curve"),
    (lambda p: plot_curves([[1, 2]], [[1]], ["a"], p, xlabel="", ylabel="", title=""),
     "same length"),
    (lambda p: plot_score_histograms(np.zeros(3), np.zeros(2), p), "same length"),
    (lambda p: plot_one_shot_curve([2, 5], [0.5], [0.4], [0.6], p), "same length"),
    (lambda p: plot_learning_curves([{"train_loss": 1.0}], p), "needs an 'epoch'"),
    (lambda p: plot_overlaid_curves({}, p), "no runs"),
    (lambda p: plot_runtimes(["a"], [1.0, 2.0], [0.0], p), "same length"),
    (lambda p: plot_optimisation_history([], [], "auc", True, p), "non-empty"),
    (lambda p: plot_optimisation_history([0, 1], [0.5], "auc", True, p), "same length"),
    (lambda p: plot_importances({}, "auc", p), "no importances"),
])
def test_bad_input_is_a_one_line_error_and_writes_nothing(tmp_path, call, message):
    """Mismatched or empty data is refused with one line saying so, before any file is made."""
    with pytest.raises(ValueError, match=message) as excinfo:
        call(tmp_path / "out.png")
    one_line_error(excinfo)
    assert list(tmp_path.iterdir()) == []


# -- learning curves -----------------------------------------------------------------------------

SUMMARY = """epoch,train_loss,val_loss,train_acc,val_acc,val_auc,lr,seconds
1,0.69,0.68,0.55,0.56,0.60,0.001,12.5
2,0.52,0.58,0.72,0.70,0.77,0.0005,11.9
3,0.41,,0.81,,,0.00025,12.1
"""


def test_learning_curves_plot_the_summary_csv_values(tmp_path, drawn):
    """Each panel's lines are summary.csv's columns against epoch; empty cells are gaps (NaN)."""
    (tmp_path / "summary.csv").write_text(SUMMARY)
    plot_learning_curves(read_summary_csv(tmp_path / "summary.csv"), tmp_path / "lc.png",
                         title="Run r")
    fig = drawn["lc.png"]
    assert fig.get_suptitle() == "Run r"
    loss, acc, lr = fig.axes
    assert [ax.get_title() for ax in fig.axes] == ["Loss", "Accuracy and AUC", "Learning rate"]
    assert [ax.get_ylabel() for ax in fig.axes] == ["loss", "accuracy / AUC", "lr"]
    assert all(ax.get_xlabel() == "epoch" for ax in fig.axes)
    expected = {
        (loss, "train"): [0.69, 0.52, 0.41], (loss, "validation"): [0.68, 0.58, np.nan],
        (acc, "train acc (logit 0)"): [0.55, 0.72, 0.81],
        (acc, "val acc (best threshold)"): [0.56, 0.70, np.nan],
        (acc, "val AUC"): [0.60, 0.77, np.nan], (lr, "lr"): [0.001, 0.0005, 0.00025],
    }
    for (ax, name), values in expected.items():
        drawn_line = line(ax, name)
        assert list(drawn_line.get_xdata()) == [1, 2, 3]
        np.testing.assert_allclose(drawn_line.get_ydata(), values)  # NaN matches NaN
    assert [legend(ax) for ax in fig.axes] == [
        ["train", "validation"], ["train acc (logit 0)", "val acc (best threshold)", "val AUC"],
        ["lr"]]
    assert (loss.get_yscale(), acc.get_yscale(), lr.get_yscale()) == ("linear", "linear", "log")


def test_learning_curves_leave_out_panels_and_lines_without_columns(tmp_path, drawn):
    """Only train_loss and lr present: a Loss panel with one line and the lr panel."""
    rows = [{"epoch": 1, "train_loss": 0.9, "lr": 0.1}, {"epoch": 2, "train_loss": 0.8, "lr": 0.05}]
    plot_learning_curves(rows, tmp_path / "lc.png")
    fig = drawn["lc.png"]
    assert [ax.get_title() for ax in fig.axes] == ["Loss", "Learning rate"]
    assert legend(fig.axes[0]) == ["train"]
    assert xy(line(fig.axes[0], "train")) == ([1, 2], [0.9, 0.8])
    assert fig.get_suptitle() == ""  # no title asked for, none made up


def test_learning_curves_leave_a_gap_where_an_epoch_lacks_a_column(tmp_path, drawn):
    """A column only some rows have is drawn as NaN (a gap) in the others, never as 0."""
    rows = [{"epoch": 1, "train_loss": 0.9}, {"epoch": 2, "train_loss": 0.8, "val_loss": 0.7}]
    plot_learning_curves(rows, tmp_path / "lc.png")
    (loss,) = drawn["lc.png"].axes
    np.testing.assert_array_equal(line(loss, "validation").get_ydata(), [np.nan, 0.7])


# -- the figures of one evaluation (eval_figures) ------------------------------------------------

# Ten pairs scored against threshold 0: TN = 1, FP = 2, FN = 3, TP = 4 (all counts differ, so a
# swapped row or column shows). Pair p compares images 2p and 2p + 1.
EVAL_LOGITS = np.array([-1.0, 2.0, 0.2, 3.0, 1.5, 0.6, 0.1, -2.5, -0.3, -1.2])
EVAL_LABELS = np.array([0, 0, 0, 1, 1, 1, 1, 1, 1, 1])


def fake_run(summary: list[dict[str, float]]) -> SimpleNamespace:
    return SimpleNamespace(summary=lambda: summary,
                           learning_curves_path=Path("elsewhere/learning_curves.png"))


def scored(logits: np.ndarray, labels: np.ndarray) -> SimpleNamespace:
    return SimpleNamespace(rows=np.arange(2 * len(logits)).reshape(-1, 2), labels=labels,
                           logits=logits)


def tile_pairs(fig: Figure) -> list[int]:
    """The pair each gallery tile shows, read from its left image's grey level (12 x index)."""
    return [int(ax.images[0].get_array()[0, 0]) // 24 for ax in fig.axes if ax.images]


def flat_images(n: int) -> np.ndarray:
    """(n, 1, 4, 4) uint8 images; image k is flat grey 12 k, so a tile says which it shows."""
    return np.repeat(np.arange(n, dtype=np.uint8) * 12, 16).reshape(n, 1, 4, 4)


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """plot_pair_evaluation's figures for the ten pairs (galleries cut to four pairs), and the
    folder it drew them into; drawn once for the tests that read them."""
    out_dir = tmp_path_factory.mktemp("eval")
    with pytest.warns(FarResolutionWarning):  # ten pairs cannot resolve FAR 1% or 0.1%
        metrics = verification_metrics(EVAL_LOGITS, EVAL_LABELS, 0.0, n_bootstrap=0)
    metrics["pairs_file"] = "mine.txt"
    summary = [{"epoch": 1, "train_loss": 0.7}, {"epoch": 2, "train_loss": 0.5}]
    with capturing() as drawn, pytest.MonkeyPatch.context() as patch:
        patch.setattr(eval_figures, "GALLERY_SIZE", 4)
        eval_figures.plot_pair_evaluation(fake_run(summary), scored(EVAL_LOGITS, EVAL_LABELS),
                                          metrics, flat_images(20), out_dir)
    return metrics, drawn, out_dir


def test_evaluation_draws_every_figure_it_names(evaluated):
    """ROC, scores, confusion, learning curves and both galleries, under the linked names."""
    _, drawn, out_dir = evaluated
    names = {"roc.png", "scores.png", "confusion.png", "learning_curves.png",
             "gallery_correct.png", "gallery_wrong.png"}
    assert set(drawn) == names
    assert {p.name for p in out_dir.iterdir()} == names
    assert {name for name, _ in eval_figures.PAIR_FIGURES} <= names


def test_evaluation_roc_is_the_roc_of_its_logits(evaluated):
    """The ROC drawn is roc_curve of the logits, titled with the pairs file, marked with the
    metrics' AUC, EER and TAR at each reported FAR."""
    metrics, drawn, _ = evaluated
    ax = only_axes(drawn["roc.png"])
    far, tar, _ = roc_curve(EVAL_LOGITS, EVAL_LABELS)
    assert ax.get_title() == "ROC on mine.txt"
    assert xy(line(ax, f"model (AUC {metrics['auc']:.4f})")) == (far.tolist(), tar.tolist())
    assert xy(line(ax, f"EER {metrics['eer']:.2%}")) == ([metrics["eer"]], [1 - metrics["eer"]])
    for target in FARS:
        rate = metrics[tar_key(target)]
        assert xy(line(ax, f"TAR {rate:.2%} @ FAR {target:.2%}")) == ([target], [rate])


def test_evaluation_scores_and_confusion_use_the_runs_threshold(evaluated):
    """Histograms of logits with the threshold line; [[TN, FP], [FN, TP]] = [[1, 2], [3, 4]]."""
    _, drawn, _ = evaluated
    ax = only_axes(drawn["scores.png"])
    assert ax.get_xlabel() == "logit (higher = same person)"
    assert legend(ax) == ["same (n=7)", "different (n=3)", "threshold 0"]
    assert list(line(ax, "threshold 0").get_xdata()) == [0.0, 0.0]
    assert np.array_equal(drawn["confusion.png"].axes[0].images[0].get_array(), [[1, 2], [3, 4]])


def test_evaluation_galleries_show_the_most_confident_decisions_of_each_kind(evaluated):
    """Right and wrong pairs, each sorted by distance from the threshold, cut to the size."""
    _, drawn, _ = evaluated
    correct, wrong = drawn["gallery_correct.png"], drawn["gallery_wrong.png"]
    # correct: 3.0, 1.5, -1.0, 0.6 (0.1 is cut); wrong: -2.5, 2.0, -1.2, -0.3 (0.2 is cut)
    assert tile_pairs(correct) == [3, 4, 0, 5]
    assert tile_pairs(wrong) == [7, 1, 9, 8]
    assert [ax.get_title() for ax in wrong.axes] == [
        "-2.5 | same | wrong", "2 | different | wrong", "-1.2 | same | wrong",
        "-0.3 | same | wrong"]
    assert correct.get_suptitle() == "Most confident correct decisions (threshold 0.00)"
    assert wrong.get_suptitle() == "Most confident wrong decisions (threshold 0.00)"


def test_evaluation_without_mistakes_or_summary_draws_no_empty_figures(tmp_path, drawn):
    """No wrong pair: no gallery of mistakes; no summary.csv rows: no learning curves."""
    logits, labels = np.array([-1.0, 2.0, -0.5, 0.5]), np.array([0, 1, 0, 1])
    with pytest.warns(FarResolutionWarning):
        metrics = verification_metrics(logits, labels, 0.0, n_bootstrap=0) | {"pairs_file": "p"}
    eval_figures.plot_pair_evaluation(fake_run([]), scored(logits, labels), metrics,
                                      flat_images(8), tmp_path)
    assert set(drawn) == {"roc.png", "scores.png", "confusion.png", "gallery_correct.png"}
    assert tile_pairs(drawn["gallery_correct.png"]) == [1, 0, 2, 3]


def test_one_shot_figure_reads_accuracy_and_interval_of_each_n(tmp_path, drawn):
    """one_shot.png plots each N's accuracy with its ci95 as the band, titled by people file."""
    results = {"people_file": "peopleDevTest.txt", "results": [
        {"n_way": 2, "accuracy": 0.9, "ci95": [0.85, 0.95]},
        {"n_way": 20, "accuracy": 0.41, "ci95": [0.38, 0.44]}]}
    eval_figures.plot_one_shot(results, tmp_path)
    ax = only_axes(drawn["one_shot.png"])
    assert ax.get_title() == "N-way one-shot identification, peopleDevTest.txt people"
    assert xy(line(ax, "model")) == ([2, 20], [0.9, 0.41])
    vertices = ax.collections[0].get_paths()[0].vertices
    assert sorted(vertices[vertices[:, 0] == 20, 1]) == pytest.approx([0.38, 0.44, 0.44])


def test_open_set_figures_plot_each_measured_gallery(tmp_path, drawn):
    """CMC at ranks 1..k and DIR against FPIR, one line per gallery not skipped."""
    results = {"galleries": [
        {"gallery_size": 1000, "cmc_curve": [0.5, 0.6, 0.7], "dir_fpir_curve": [[0.01, 0.2],
                                                                                [0.1, 0.4]]},
        {"gallery_size": 50, "skipped": "too few people"},
        {"gallery_size": 10, "cmc_curve": [0.8, 0.9], "dir_fpir_curve": [[0.1, 0.6]]}]}
    eval_figures.plot_open_set(results, tmp_path)
    cmc, dir_fpir = only_axes(drawn["cmc.png"]), only_axes(drawn["dir_fpir.png"])
    assert legend(cmc) == legend(dir_fpir) == ["1,000 enrolled", "10 enrolled"]
    assert xy(line(cmc, "1,000 enrolled")) == ([1, 2, 3], [0.5, 0.6, 0.7])
    assert xy(line(cmc, "10 enrolled")) == ([1, 2], [0.8, 0.9])
    assert xy(line(dir_fpir, "1,000 enrolled")) == ([0.01, 0.1], [0.2, 0.4])
    assert xy(line(dir_fpir, "10 enrolled")) == ([0.1], [0.6])
    assert cmc.get_xlabel() == "rank k" and cmc.get_xscale() == "linear"
    assert dir_fpir.get_xscale() == "log"
    assert dir_fpir.get_xlabel() == "FPIR (impostors named someone)"
    assert dir_fpir.get_ylabel() == "DIR (named correctly)"


def test_view2_roc_is_the_mean_of_the_folds_and_says_so(tmp_path, drawn):
    """View 2's roc.png draws the folds' TARs averaged on the grid, labelled with the number of
    folds and their mean AUC; the title carries mean accuracy ± standard error."""
    grid = view2.ROC_GRID
    records = {k: {"fold": k, "accuracy": acc, "threshold": 0.0, "auc": auc, view2.TAR_KEY: 0.5,
                   "tar_on_grid": (grid ** power).tolist()}
               for k, acc, auc, power in ((1, 0.8, 0.9, 0.5), (2, 0.9, 0.8, 0.25))}
    view2._write(tmp_path, "default", [], {}, records)
    ax = only_axes(drawn["roc.png"])
    curve = line(ax, "mean of 2 folds (AUC 0.8500)")
    np.testing.assert_allclose(curve.get_xdata(), grid)
    np.testing.assert_allclose(curve.get_ydata(), (grid ** 0.5 + grid ** 0.25) / 2)
    assert ax.get_title() == "View 2: default, 0.8500 ± 0.0500"


# -- galleries -----------------------------------------------------------------------------------


def test_gallery_tiles_show_each_pair_side_by_side_with_its_verdict(tmp_path, drawn):
    """Tile i: left | white gap | right at full 0-255 grey, titled score | truth | verdict
    (+ caption), green when right and red when wrong; spare axes are hidden."""
    rng = np.random.default_rng(0)
    left, right = (rng.integers(0, 256, (5, 1, 8, 8), dtype=np.uint8) for _ in range(2))
    plot_pair_gallery(left, right, np.array([2.1, -0.3, 0.7, -4.0, 1.2]),
                      np.array([1, 0, 0, 1, 1]), np.array([1, 0, 1, 0, 1]),
                      tmp_path / "g.png", captions=list("ABCDE"), ncols=3, title="hardest")
    fig = drawn["g.png"]
    assert fig.get_suptitle() == "hardest"
    assert len(fig.axes) == 6 and not fig.axes[5].axison and len(fig.axes[5].images) == 0
    titles = [ax.get_title() for ax in fig.axes[:5]]
    assert titles == ["2.1 | same | correct\nA", "-0.3 | different | correct\nB",
                      "0.7 | different | wrong\nC", "-4 | same | wrong\nD",
                      "1.2 | same | correct\nE"]
    green, red = to_rgba("tab:green"), to_rgba("tab:red")
    for ax, colour in zip(fig.axes, (green, green, red, red, green), strict=False):
        assert to_rgba(ax.title.get_color()) == colour
        assert all(to_rgba(s.get_edgecolor()) == colour for s in ax.spines.values())
    for i, ax in enumerate(fig.axes[:5]):
        tile = np.asarray(ax.images[0].get_array())
        assert tile.shape == (8, 18)  # 8 + gap of 2 + 8
        assert np.array_equal(tile[:, :8], left[i, 0]) and np.array_equal(tile[:, 10:], right[i, 0])
        assert (tile[:, 8:10] == 255).all()
        assert ax.images[0].get_clim() == (0, 255)  # not stretched to the tile's own range


def test_rgb_gallery_shows_the_colours_as_given(tmp_path, drawn):
    """A (C=3, H, W) pair is shown as (H, W, 3), channels in order."""
    left = np.zeros((1, 3, 2, 2), np.uint8)
    left[0, 0] = 200  # red channel
    right = np.zeros_like(left)
    right[0, 2] = 100  # blue channel
    plot_pair_gallery(left, right, [0.5], [1], [1], tmp_path / "g.png")
    tile = np.asarray(only_axes(drawn["g.png"]).images[0].get_array())
    assert tile.shape == (2, 2 + 2 + 2, 3)
    assert tile[0, 0].tolist() == [200, 0, 0] and tile[0, -1].tolist() == [0, 0, 100]
    assert drawn["g.png"].get_suptitle() == ""


# -- comparison figures --------------------------------------------------------------------------


def test_overlaid_curves_draw_each_runs_validation_columns(tmp_path, drawn):
    """One line per run in each panel, from its val_loss and val_auc; a missing column is NaN."""
    curves = {"a": [{"epoch": 1, "val_loss": 0.7, "val_auc": 0.6},
                    {"epoch": 2, "val_loss": 0.5, "val_auc": 0.8}],
              "b": [{"epoch": 1, "val_loss": 0.9}]}
    plot_overlaid_curves(curves, tmp_path / "lc.png")
    loss, auc = drawn["lc.png"].axes
    assert (loss.get_title(), auc.get_title()) == ("Validation loss", "Validation AUC")
    assert xy(line(loss, "a")) == ([1, 2], [0.7, 0.5])
    assert xy(line(auc, "a")) == ([1, 2], [0.6, 0.8])
    assert xy(line(loss, "b")) == ([1], [0.9])
    assert np.isnan(line(auc, "b").get_ydata()).all()
    assert loss.get_legend() is None and legend(auc) == ["a", "b"]


def test_overlaid_curves_of_many_runs_have_no_legend(tmp_path, drawn):
    """Past MAX_LEGEND runs the legend is left out (every run is still drawn)."""
    curves = {f"r{k}": [{"epoch": 1, "val_loss": k, "val_auc": 0.5}] for k in range(MAX_LEGEND + 1)}
    plot_overlaid_curves(curves, tmp_path / "lc.png")
    axes = drawn["lc.png"].axes
    assert all(ax.get_legend() is None for ax in axes)
    assert [len(ax.get_lines()) for ax in axes] == [MAX_LEGEND + 1] * 2


def test_runtimes_stack_evaluation_after_training(tmp_path, drawn):
    """Training bars from 0, evaluation bars starting where training ends; first run on top."""
    plot_runtimes(["a", "b"], [10.0, 20.0], [5.0, 0.0], tmp_path / "rt.png")
    ax = only_axes(drawn["rt.png"])
    training, evaluation = ax.containers
    assert [(p.get_x(), p.get_width()) for p in training] == [(0.0, 10.0), (0.0, 20.0)]
    assert [(p.get_x(), p.get_width()) for p in evaluation] == [(10.0, 5.0), (20.0, 0.0)]
    assert [p.get_y() + p.get_height() / 2 for p in training] == [0.0, 1.0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    assert ax.yaxis_inverted() and legend(ax) == ["training", "evaluation"]
    assert ax.get_xlabel() == "seconds"


@pytest.mark.parametrize(("maximise", "best"), [(True, [0.5, 0.7, 0.7, 0.8]),
                                                (False, [0.5, 0.5, 0.5, 0.5])])
def test_optimisation_history_steps_through_the_best_so_far(tmp_path, drawn, maximise, best):
    """Each trial's value as a point, and the running best (max or min) as a post step."""
    plot_optimisation_history([0, 1, 3, 4], [0.5, 0.7, 0.6, 0.8], "val_auc", maximise,
                              tmp_path / "h.png")
    ax = only_axes(drawn["h.png"])
    assert xy(line(ax, "trial")) == ([0, 1, 3, 4], [0.5, 0.7, 0.6, 0.8])
    steps = line(ax, "best so far")
    assert xy(steps) == ([0, 1, 3, 4], best) and steps.get_drawstyle() == "steps-post"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("trial", "val_auc")


def test_importances_bars_in_the_given_order(tmp_path, drawn):
    """One bar per parameter with its importance, the first at the top, named on the y axis."""
    plot_importances({"train.lr": 0.6, "model.dropout": 0.3, "seed": 0.1}, "val_auc",
                     tmp_path / "i.png")
    ax = only_axes(drawn["i.png"])
    assert [p.get_width() for p in ax.containers[0]] == [0.6, 0.3, 0.1]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["train.lr", "model.dropout", "seed"]
    assert ax.yaxis_inverted()
    assert ax.get_title() == "Parameter importances for val_auc"
    assert ax.get_xlabel() == "importance (fANOVA)"


# -- dataset figures -----------------------------------------------------------------------------


def test_images_per_person_stems_stand_at_each_count(tmp_path, drawn):
    """A stem from the axis floor to each (images, people) point, both axes logarithmic."""
    histogram = [(1, 4069), (2, 779), (530, 1)]
    plot_images_per_person(histogram, tmp_path / "ipp.png")
    ax = only_axes(drawn["ipp.png"])
    stems, dots = ax.collections
    assert [s.tolist() for s in stems.get_segments()] == [
        [[1, 0.7], [1, 4069]], [[2, 0.7], [2, 779]], [[530, 0.7], [530, 1]]]
    assert dots.get_offsets().tolist() == [[1, 4069], [2, 779], [530, 1]]
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    assert ax.get_ylim()[0] == 0.7  # a person with one image stays visible above the floor
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("images per person", "people")


def test_top_people_bars_are_named_and_counted(tmp_path, drawn):
    """Bar k is person k's count, named with spaces, annotated with the count, top to bottom."""
    plot_top_people([("George_W_Bush", 530), ("Colin_Powell", 236)], tmp_path / "top.png",
                    title="Most pairs", xlabel="pairs")
    ax = only_axes(drawn["top.png"])
    assert [p.get_width() for p in ax.containers[0]] == [530, 236]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["George W Bush", "Colin Powell"]
    assert [(a.get_text(), a.xy) for a in ax.texts] == [(" 530", (530, 0)), (" 236", (236, 1))]
    assert ax.yaxis_inverted()
    assert (ax.get_title(), ax.get_xlabel()) == ("Most pairs", "pairs")


def test_pair_people_frequency_draws_both_kinds_of_pairs(tmp_path, drawn):
    """Matching and non-matching histograms as two named lines on a log count axis."""
    plot_pair_people_frequency([(1, 500), (2, 120)], [(1, 900), (3, 40)], tmp_path / "p.png",
                               title="pairsDevTest.txt")
    ax = only_axes(drawn["p.png"])
    assert xy(line(ax, "matching")) == ([1, 2], [500, 120])
    assert xy(line(ax, "non-matching")) == ([1, 3], [900, 40])
    assert ax.get_yscale() == "log" and ax.get_title() == "pairsDevTest.txt"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("pairs a person is in", "people")
