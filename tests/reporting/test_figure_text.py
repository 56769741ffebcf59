"""Figures read at a glance: titles state the finding, every colour bar and axis says what it shows."""

import numpy as np

from aigc_explain.reporting.panels import comparison_finding, curves_figure
from aigc_explain.reporting.trust import planted_figure
from aigc_explain.runs.check_summaries import PlantedRow
from aigc_explain.runs.comparison_summary import (ClassComparison, ComparisonSummary, GroupTest, ImageOverlap,
                                                  MapDistance, MassComparison, ResamplingSettings)
from aigc_explain.runs.summaries import Interval


def _comparison(a, b, p):
    mass = MassComparison(per_run={"unaugmented": Interval(a), "augmented": Interval(b)},
                          test=GroupTest(p_permutation=p))
    fake = ClassComparison(counts={}, not_measurable=None, corner_mass=mass, center_mass=mass, border_mass=mass,
                           corner_share=mass, mean_map=MapDistance(available=False))
    return ComparisonSummary(schema_version=1, labels=("unaugmented", "augmented"), difference="", runs={},
                             differences=[], images=ImageOverlap(True, 1, 1, 1), classes={"fake": fake},
                             settings=ResamplingSettings(10, 10, 0, 0.95))


def test_comparison_title_states_the_finding_only_when_the_test_supports_it():
    assert comparison_finding(_comparison(0.73, 0.65, 0.002)) == \
        "fake: unaugmented looks more at the corners than augmented (corner share 0.73 vs 0.65, p_perm=0.002)"
    assert comparison_finding(_comparison(0.60, 0.70, 0.01)).startswith("fake: augmented looks more at the corners")
    assert "does not clearly differ" in comparison_finding(_comparison(0.73, 0.70, 0.3))
    assert comparison_finding(_comparison(None, 0.70, None)).endswith("undefined")


def _row(mean, lo, hi, passes):
    return PlantedRow(method="gradcam", layer="auto", layer_name="features.13", map_size=(6, 6), n=4, n_empty=0,
                      fake_recall=1.0, masses={"corner_share": Interval(mean, (lo, hi), 4)}, passes=passes)


def test_planted_figure_says_when_the_benchmark_is_inconclusive():
    rows = [_row(0.86, 0.82, 0.89, True), _row(0.48, 0.43, 0.53, False)]
    fig = planted_figure(rows, region="corner", val_acc=1.0)
    assert fig.axes[0].get_title() == "artifact planted in the corner: 1 of 2 rows find it (above 0.5); " \
                                      "detector val accuracy 1.00"
    assert fig.axes[0].get_ylabel().startswith("fakes' corner share")
    colours = [tuple(np.round(p.get_facecolor()[:3], 3)) for p in fig.axes[0].patches]
    assert len(set(colours)) == 2  # the passing row is drawn apart from the failing one
    fig = planted_figure([_row(0.86, 0.82, 0.89, False)], region="corner", val_acc=0.8, learned=False)
    assert fig.axes[0].get_title().startswith("inconclusive: the detector did not learn the corner plant")


def test_curves_figure_labels_its_axes_and_leaves_room_for_a_title():
    h = {"epoch": np.array([1, 2]), "train_loss": np.array([0.7, 0.5]), "val_loss": np.array([0.6, 0.4]),
         "train_acc": np.array([0.6, 0.8]), "val_acc": np.array([0.7, 0.9])}
    fig = curves_figure({"setting 2": h})
    assert [(ax.get_xlabel(), ax.get_ylabel()) for ax in fig.axes] == [("epoch", "loss"), ("epoch", "accuracy")]
    fig.suptitle("a finding")
    fig.canvas.draw()
    title_bottom = fig.texts[0].get_window_extent().y0
    assert all(ax.title.get_window_extent().y1 <= title_bottom + 1 for ax in fig.axes)
