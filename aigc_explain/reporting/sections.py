"""The report's sections, one builder per kind of run: each adds numbered figures with their captions to an
``Index`` (and returns the lines it found for ``index.md``). ``report.PANELS`` puts them in order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aigc_explain.analysis.comparison import common_grid, map_correlation
from aigc_explain.analysis.metrics import confusion
from aigc_explain.reporting.audit import model_vs_data_figure
from aigc_explain.reporting.browser import overlay_figure
from aigc_explain.reporting.figures import heatmap_figure, save_figure
from aigc_explain.reporting.panels import confusion_figure, pr_figure, roc_figure
from aigc_explain.runs.files import atomic_write_bytes
from aigc_explain.runs.reader import AuditRun, Run, slug
from aigc_explain.runs.report_summary import ResultRow


class Index:
    """The report's figures in order, numbered, each with its one-line caption."""
    def __init__(self, out: Path) -> None:
        self.out, self.items = out, []

    def next_name(self, stem: str) -> str:
        """The numbered file name the next figure gets: a writer saves it under this name directly."""
        return f"{len(self.items) + 1:02d}_{slug(stem)}.png"

    def figure(self, stem: str, fig, caption: str) -> None:
        name = self.next_name(stem)
        save_figure(fig, self.out / name)
        self.items.append((name, caption))

    def copy(self, stem: str, source: Path, caption: str) -> None:
        name = self.next_name(stem)
        atomic_write_bytes(self.out / name, source.read_bytes())
        self.items.append((name, caption))


def prediction_figures(index: Index, runs: dict[str, Run], rows: list[ResultRow]) -> None:
    """Confusion, ROC and PR of the predictions the results table uses, named like its rows."""
    sources = {}
    for row in rows:
        source = row.predictions_from
        table = runs[source].predictions if source else None
        if table is not None and table.has_both_classes:
            known = table.labels >= 0
            name = source if row.run == source else f"{row.run} ({source})"
            sources[name] = (table.labels[known], table.prob_fake[known], table.preds[known])
    if not sources:
        return
    index.figure("confusion", confusion_figure({k: confusion(y, d) for k, (y, _, d) in sources.items()}),
                 "Confusion matrices (rows: true class, columns: predicted; colour: share of the true class).")
    curves = {k: (y, p) for k, (y, p, _) in sources.items()}
    index.figure("roc", roc_figure(curves), "ROC curves with AUC; fake is the positive class.")
    index.figure("pr", pr_figure(curves), "Precision-recall curves with AP; dotted: the share of fakes (chance).")


def cam_figures(index: Index, label: str, r: Any) -> None:
    groups = [g for g in ("real", "fake") if r.group_mask(g).any() and r.mean_map(g) is not None] or ["all"]
    maps = {f"{g}\nn={int(r.group_mask(g).sum())}, empty={int(r.cam_empty[r.group_mask(g)].sum())}": r.mean_map(g)
            for g in groups if r.mean_map(g) is not None}
    if maps:
        title = f"{label}: mean {r.summary.method} at {r.summary.layer}"
        index.figure(f"mean_cam_{label}", heatmap_figure(maps, regions=r.regions, title=title),
                     f"{label}: per-class mean CAM (unit mass per image, one colour scale), corner squares and "
                     "centre outlined.")
    overlays = overlay_figure(r)
    if overlays is not None:
        index.copy(f"overlays_{label}", r.path / overlays,
                   f"{label}: overlays per class — most and least confident and misclassified images"
                   f"{'' if overlays == 'overlays.png' else ' (its one image)'}.")


def audit_figures(index: Index, label: str, r: AuditRun) -> list[str]:
    for name, caption in (("budget", "what gives the label away: the cross-validated AUC of storage, history, "
                                     "content and residual evidence alone"),
                          ("cues", "file cues: each cue's own AUC and the top cues per class"),
                          ("mean_images", "mean image per class and the difference of the means"),
                          ("pixel_evidence", "where the classes differ in high-frequency residual energy (fake − "
                                             "real, t-map), corners and centre outlined")):
        if (r.path / f"{name}.png").is_file():
            index.copy(f"{name}_{label}", r.path / f"{name}.png", f"{label} (data audit): {caption}.")
    return [f"{label} (data audit): {r.summary.verdict}"]


DIAGNOSE_PANELS = (("bands", "what the decision rests on: p(fake) and accuracy per class with each frequency band "
                             "removed and kept alone"),
                   ("shuffle", "local vs. global: the decisions with the image's patches shuffled"),
                   ("patch_map", "which patch carries the decision (everything else blurred) beside the Grad-CAM"))


def diagnose_figures(index: Index, label: str, r: Any) -> list[str]:
    for name, caption in DIAGNOSE_PANELS:
        path = r.listed(f"{name}.png")
        if path is not None:
            index.copy(f"{name}_{label}", path, f"{label} (diagnose): {caption}.")
    text = " ".join(r.summary.verdict)
    return [f"{label} (diagnose): {text}"] if text else []


def model_vs_data(index: Index, cams: dict[str, Any], audits: dict[str, AuditRun]) -> list[str]:
    """Every CAM run beside the audit of the same images: its mean CAM of the fakes next to where the classes
    differ in residual energy (|fake − real|, either sign), with the two maps' spatial correlation."""
    lines = []
    for cam_label, cam in cams.items():
        images = cam.summary.selection.images if cam.summary.selection is not None else None
        fake_map = cam.mean_map("fake")
        for audit_label, audit in audits.items():
            split = audit.split_of(images) if images else None
            if split is None or fake_map is None:
                continue
            evidence = audit.maps(split).get("differ")
            if evidence is None:
                continue
            corr = map_correlation(fake_map, evidence)
            _, evidence, _ = common_grid(fake_map, evidence)
            fig = model_vs_data_figure(fake_map, evidence, cam.regions, correlation=corr,
                                       labels=(f"{cam_label}: mean CAM of the fakes", f"{audit_label}: |fake − real|"))
            r = "n/a" if corr.pearson is None else f"Pearson r = {corr.pearson:.2f}"
            index.figure(f"model_vs_data_{cam_label}", fig, f"{cam_label} vs {audit_label}: does the detector look "
                         f"where the data differ? The fakes' mean CAM beside where the classes differ in "
                         f"residual energy, |fake − real| ({r}).")
            lines.append(f"{cam_label} vs the data ({audit_label}, {split}): spatial correlation of the fakes' mean "
                         f"CAM with |fake − real| residual energy: {r}")
    return lines
