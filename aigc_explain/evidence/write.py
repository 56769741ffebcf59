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
from aigc_explain.evidence.budget import ordered
from aigc_explain.reporting.audit import (budget_figure, cues_figure, fingerprint_figure, mean_image_figure,
                                          pixel_evidence_figure)
from aigc_explain.reporting.figures import format_cell, markdown_table, save_figure
from aigc_explain.runs.contract import LABEL_NAMES
from aigc_explain.runs.files import save_npz, write_csv, write_json, write_manifest, write_skipped, write_text
from aigc_explain.runs.folders import run_folder


def evidence_maps(ev: Evidence, localisation: dict[str, Any] | None = None) -> dict[str, np.ndarray]:
    """The maps one split's pixel evidence draws; ``excess`` = ReLU(fake − real) and ``differ`` = |fake − real|,
    each as a unit-mass map (zeros where there is none); ``t_local`` the localisation's t on its grid, repeated
    to the audit size; ``image_real`` and ``image_fake`` the mean images."""
    diff = ev.pixels.difference_map()

    def unit(m: np.ndarray) -> np.ndarray:
        return m / m.sum() if m.sum() > 0 else m

    maps = {"mean_real": ev.pixels.mean_map(0), "mean_fake": ev.pixels.mean_map(1), "difference": diff,
            "t": ev.pixels.t_map() if min(ev.pixels.n) >= 2 else np.full(diff.shape, np.nan),
            "excess": unit(np.maximum(diff, 0.0)), "differ": unit(np.abs(diff))}
    if localisation:
        k = ev.shape[0] // localisation["grid"][0]
        t = np.array(localisation["t_map"], dtype=float).reshape(localisation["grid"])
        maps["t_local"] = np.kron(t, np.ones((k, k)))
    if min(ev.means.n) >= 1:
        maps.update(image_real=ev.means.mean(0), image_fake=ev.means.mean(1))
    fp = ev.fingerprint
    maps.update(log_real=fp.mean_log_power(0), log_fake=fp.mean_log_power(1), mean_real_power=fp.mean_residual_power(0),
                mean_fake_power=fp.mean_residual_power(1))
    return maps


def _cue_rows(result: AuditResult) -> tuple[list[str], list[list[Any]]]:
    header = ["path", "split", "label", *CUES]
    split_of = {p: name for name, ev in result.evidence.items() if name != ALL for p in ev.paths}
    ev = result.evidence[ALL]
    return header, [[p, split_of.get(p, ""), LABEL_NAMES[y], *(row.get(c) for c in CUES)]
                    for p, y, row in zip(ev.paths, ev.labels, ev.rows)]


def _band(b: dict[str, Any]) -> str:
    lo, hi = b["ci95"]
    return f"{b['auc']:.3f}" + ("" if lo is None else f" [{lo:.3f}, {hi:.3f}]")


def audit_markdown(summary: dict[str, Any]) -> str:
    def share(s: dict[str, Any]) -> str:
        c = s["pixel_corner_share"]
        m, (lo, hi) = c["mean"], c["ci95"]
        return "–" if m is None or lo is None else f"{m:.3f} [{lo:.3f}, {hi:.3f}], p = {c['p_value']:.3g}"

    def auc(s: dict[str, Any]) -> str:
        lo, hi = s["cue_auc_ci95"]
        return "–" if s["cue_auc"] is None else f"{s['cue_auc']:.3f} [{lo:.3f}, {hi:.3f}]"

    rows = [["all", summary["n_real"], summary["n_fake"], auc(summary), share(summary)]]
    rows += [[name, s["n_real"], s["n_fake"], auc(s), share(s)] for name, s in summary["per_split"].items()]
    cues = [[c["name"], c["kind"], format_cell(c["auc"])] for c in summary["cues"]]
    budget = [[k, _band(b), b["top"], format_cell(b.get("top_auc"))] for k, b in ordered(summary.get("budget") or {})]
    geometry = summary.get("geometry") or {}
    where = (f"Pixel evidence at {geometry.get('size')} px (requested --size {geometry.get('requested')}; native "
             f"sides {geometry.get('native_min')}–{geometry.get('native_max')}, "
             f"median {geometry.get('native_median')})."
             + (f" **{geometry['statement'][0].upper()}{geometry['statement'][1:]}.**" if geometry.get("statement")
                else " The audit enlarged no image."))
    loc = summary.get("localisation") or {}
    return "\n".join([f"# Data audit of `{summary['data']}`", "", summary["verdict"], "", where, "",
                      "## What gives the label away (cross-validated AUC, largest first)", "",
                      markdown_table(["evidence", "AUC [95% CI]", "strongest feature", "its AUC"], budget), "",
                      "![budget](budget.png)", "",
                      markdown_table(["split", "real", "fake", "cue AUC [95% CI]",
                                      "corner share where fakes exceed [95% CI], permutation p"], rows), "",
                      f"Localisation: {loc.get('method', '–')}, {loc.get('n_perm', '–')} permutations.", "",
                      "## File cues (single-cue AUC, highest first)", "",
                      markdown_table(["cue", "kind", "AUC"], cues), "",
                      "![cues](cues.png)", "", "![mean images](mean_images.png)", "",
                      "![pixel evidence](pixel_evidence.png)", "", "![fingerprint](fingerprint.png)", ""])


def write_audit(result: AuditResult, out: Path) -> None:
    """Every file of the audit into the open run folder ``out``."""
    s = result.settings
    regions = {"corner_frac": s.corner_frac, "center_frac": s.center_frac}
    write_json(out / "audit.json", result.summary)
    write_text(out / "audit.md", audit_markdown(result.summary))
    write_csv(out / "cues.csv", *_cue_rows(result))
    maps = {name: evidence_maps(ev, (result.summary if name == ALL else result.summary["per_split"][name])
                                .get("localisation"))
            for name, ev in result.evidence.items() if min(ev.pixels.n) >= 1}
    save_npz(out / "pixel_evidence.npz", compressed=True,
             **{f"{name}/{key}": value for name, m in maps.items() for key, value in m.items()})
    ev, summary = result.evidence[ALL], result.summary
    geometry = result.geometry
    resized = f"\n(the audit enlarged the images up to {geometry.max_enlargement:.1f}x)" if geometry.stated else ""
    if summary["cues"]:
        save_figure(cues_figure(summary["cues"], ev.rows, ev.labels, cue_auc=summary["cue_auc"],
                                ci=summary["cue_auc_ci95"]), out / "cues.png")
    if summary.get("budget"):
        save_figure(budget_figure(summary["budget"], title=f"what gives the label away{resized}"), out / "budget.png")
    if ALL in maps:
        share = summary["pixel_corner_share"]
        band = "" if share["mean"] is None else (f" — corner share where the fakes exceed {share['mean']:.2f}, "
                                                 f"permutation p = {share['p_value']:.3g}")
        save_figure(pixel_evidence_figure(maps[ALL], regions, title=f"where the classes differ{band}{resized}"),
                    out / "pixel_evidence.png")
        if "image_real" in maps[ALL]:
            save_figure(mean_image_figure(maps[ALL]["image_real"], maps[ALL]["image_fake"], regions,
                                          title=f"mean image per class{resized}"), out / "mean_images.png")
        spectra = {"log_real": maps[ALL]["log_real"], "log_fake": maps[ALL]["log_fake"],
                   "mean_fake": maps[ALL]["mean_fake_power"]}
        save_figure(fingerprint_figure(spectra, ev.fingerprint.frequencies(),
                                       title=f"residual fingerprint (fakes and reals after the same resize){resized}"),
                    out / "fingerprint.png")
    write_skipped(out, result.skipped)


def write_audit_run(data: str | Path, out: str | Path, settings: AuditSettings = AuditSettings(), *,
                    arguments: dict[str, Any], overwrite: bool = False, progress: bool = False) -> dict[str, Any]:
    """The ``audit`` job: audit ``data`` into the run folder ``out``; returns the summary."""
    with run_folder(out, command="audit", overwrite=overwrite, inputs=[data]) as run:
        result = run_audit(data, settings, progress=progress)
        write_audit(result, run.path)
        write_manifest(run.path, command="audit", arguments=arguments, settings=settings.__dict__)
    return result.summary
