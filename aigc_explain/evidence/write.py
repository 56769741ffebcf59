"""The audit run folder: ``audit.json`` (the numbers, the budget, the geometry and the verdict), ``audit.md``,
``cues.csv`` (every image's file cues), ``pixel_evidence.npz`` (per split the class mean maps, difference,
t-maps, the fakes' excess as a unit-mass map, the mean images and the fingerprint spectra), ``cues.png``,
``budget.png``, ``mean_images.png``, ``pixel_evidence.png``, ``fingerprint.png``, ``skipped.csv``,
``manifest.json`` and the run record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from aigc_explain.evidence.cues import CUES
from aigc_explain.evidence.gather import ALL, AuditResult, AuditSettings, Evidence, run_audit
from aigc_explain.evidence.budget import ordered, resampling_note
from aigc_explain.reporting.audit import (budget_figure, cues_figure, fingerprint_figure, mean_image_figure,
                                          pixel_evidence_figure)
from aigc_explain.reporting.figures import format_cell, markdown_table, save_figure
from aigc_explain.runs.audit_summary import AuditSummary, BudgetEntry, SplitSummary
from aigc_explain.runs.contract import LABEL_NAMES
from aigc_explain.runs.files import save_npz, write_csv, write_json, write_manifest, write_skipped, write_text
from aigc_explain.runs.folders import run_folder
from aigc_explain.runs.summaries import Regions


def evidence_maps(ev: Evidence) -> dict[str, np.ndarray]:
    """The maps of one split's evidence, every kind's ``maps()`` in the kinds' order (``kinds.EvidenceKind``):
    the residual energy per class, fake − real and its t, ``excess`` = ReLU(fake − real) and ``differ`` =
    |fake − real| as unit-mass maps, ``t_local`` (the localisation's t), the mean images and the spectra."""
    maps: dict[str, np.ndarray] = {}
    for kind in ev.kinds:
        maps.update(kind.maps())
    return maps


def _cue_rows(result: AuditResult) -> tuple[list[str], list[list[Any]]]:
    header = ["path", "split", "label", *CUES]
    split_of = {p: name for name, ev in result.evidence.items() if name != ALL for p in ev.paths}
    ev = result.evidence[ALL]
    return header, [[p, split_of.get(p, ""), LABEL_NAMES[y], *(row.get(c) for c in CUES)]
                    for p, y, row in zip(ev.paths, ev.labels, ev.kind("cues").rows)]


def _band(b: BudgetEntry) -> str:
    lo, hi = b.ci95
    return f"{b.auc:.3f}" + ("" if lo is None else f" [{lo:.3f}, {hi:.3f}]")


def audit_markdown(summary: AuditSummary) -> str:
    def share(s: SplitSummary) -> str:
        c = s.pixels.corner_share
        m, (lo, hi) = c.mean, c.ci95
        return "–" if m is None or lo is None else f"{m:.3f} [{lo:.3f}, {hi:.3f}], p = {c.p_value:.3g}"

    def auc(s: SplitSummary) -> str:
        lo, hi = s.cue.ci95
        return "–" if s.cue.auc is None else f"{s.cue.auc:.3f} [{lo:.3f}, {hi:.3f}]"

    overall, geometry = summary.overall, summary.geometry
    splits = [("all", overall), *summary.per_split.items()]
    rows = [[name, s.n_real, s.n_fake, auc(s), share(s)] for name, s in splits]
    cues = [[c.name, c.kind, format_cell(c.auc)] for c in overall.cue.cues]
    budget = [[k + (f" ({note})" if (note := resampling_note(b)) else ""), _band(b), b.top, format_cell(b.top_auc)]
              for k, b in ordered(overall.budget)]
    statement = geometry.statement()
    where = (f"Pixel evidence at {geometry.size} px (requested --size {geometry.requested}; native "
             f"sides {geometry.native_min}–{geometry.native_max}, median {geometry.native_median})."
             + (f" **{statement[0].upper()}{statement[1:]}.**" if statement else " The audit enlarged no image."))
    loc = overall.pixels.localisation
    return "\n".join([f"# Data audit of `{summary.data}`", "", summary.verdict, "", where, "",
                      "## What gives the label away (cross-validated AUC, largest first)", "",
                      markdown_table(["evidence", "AUC [95% CI]", "strongest feature", "its AUC"], budget), "",
                      "![budget](budget.png)", "",
                      markdown_table(["split", "real", "fake", "cue AUC [95% CI]",
                                      "corner share where fakes exceed [95% CI], permutation p"], rows), "",
                      f"Localisation: {loc.method if loc else '–'}, {loc.n_perm if loc else '–'} permutations.", "",
                      "## File cues (single-cue AUC, highest first)", "",
                      markdown_table(["cue", "kind", "AUC"], cues), "",
                      "![cues](cues.png)", "", "![mean images](mean_images.png)", "",
                      "![pixel evidence](pixel_evidence.png)", "", "![fingerprint](fingerprint.png)", ""])


def write_audit(result: AuditResult, *, out: Path) -> None:
    """Every file of the audit into the open run folder ``out``."""
    s = result.settings
    regions = Regions.of(s)
    write_json(out / "audit.json", result.summary.to_json())
    write_text(out / "audit.md", audit_markdown(result.summary))
    write_csv(out / "cues.csv", *_cue_rows(result))
    maps = {name: evidence_maps(ev) for name, ev in result.evidence.items()
            if min(np.bincount(ev.labels, minlength=2)) >= 1}  # both classes: every kind has its maps
    save_npz(out / "pixel_evidence.npz", compressed=True,
             **{f"{name}/{key}": value for name, m in maps.items() for key, value in m.items()})
    ev, summary = result.evidence[ALL], result.summary.overall
    geometry = result.geometry
    resized = f"\n(the audit enlarged the images up to {geometry.max_enlargement:.1f}x)" if geometry.stated else ""
    if summary.cue.cues:
        save_figure(cues_figure(summary.cue.cues, ev.kind("cues").rows, ev.labels, cue_auc=summary.cue.auc,
                                ci=summary.cue.ci95), out / "cues.png")
    if summary.budget:
        save_figure(budget_figure(summary.budget, title=f"what gives the label away{resized}"), out / "budget.png")
    if ALL in maps:
        share = summary.pixels.corner_share
        band = "" if share.mean is None else (f" — corner share where the fakes exceed {share.mean:.2f}, "
                                              f"permutation p = {share.p_value:.3g}")
        save_figure(pixel_evidence_figure(maps[ALL], regions, title=f"where the classes differ{band}{resized}"),
                    out / "pixel_evidence.png")
        if "image_real" in maps[ALL]:
            save_figure(mean_image_figure(maps[ALL]["image_real"], maps[ALL]["image_fake"], regions,
                                          title=f"mean image per class{resized}"), out / "mean_images.png")
        spectra = {"log_real": maps[ALL]["log_real"], "log_fake": maps[ALL]["log_fake"],
                   "mean_fake": maps[ALL]["mean_fake_power"]}
        save_figure(fingerprint_figure(spectra, ev.kind("fingerprint").acc.frequencies(),
                                       title=f"residual fingerprint (fakes and reals after the same resize){resized}"),
                    out / "fingerprint.png")
    write_skipped(out, result.skipped)


def write_audit_run(*, data: str | Path, out: str | Path, settings: AuditSettings = AuditSettings(),
                    arguments: dict[str, Any], overwrite: bool = False, progress: bool = False) -> AuditSummary:
    """The ``audit`` job: audit ``data`` into the run folder ``out``; returns the summary (audit.json's record)."""
    with run_folder(out, command="audit", overwrite=overwrite, inputs=[data]) as run:
        result = run_audit(data, settings, progress=progress)
        write_audit(result, out=run.path)
        write_manifest(run.path, command="audit", arguments=arguments, settings=settings.__dict__)
    return result.summary
