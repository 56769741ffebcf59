"""The audit's verdict in plain sentences: does the storage give the label away, where do the classes differ
in the pixels, and do the fakes carry a periodic fingerprint?"""

from __future__ import annotations

from aigc_explain.evidence.budget import SIZE_ONLY, budget_sentence
from aigc_explain.runs.audit_summary import AuditSummary, CuePart, Direction, FingerprintPeak, Geometry, Localisation


def _share(d: Direction) -> str:
    share = d.corner_share
    lo, hi = share.ci95
    band = "" if lo is None else f" [{lo:.2f}, {hi:.2f}]"
    return f"corner share {share.mean:.2f}{band}, permutation p = {share.p_value:.3g}"


def pixel_sentence(loc: Localisation | None) -> str:
    """Where the classes differ in residual energy, stated only where it beats the shuffled-label null."""
    if not loc:
        return "the pixel evidence needs at least two images of each class."
    fake, real = loc.fake, loc.real
    placed = [(who, d) for who, d in (("fakes", fake), ("reals", real)) if d.localised]
    if placed:
        parts = [f"where the {who} carry more high-frequency residual energy, it lies in the "
                 f"{'corners' if d.where == 'corners' else 'centre'} ({_share(d)}; 0.5 = corners and centre "
                 f"alike)" for who, d in placed]
        return "; ".join(parts) + "."
    differs = [(who, d) for who, d in (("fakes", fake), ("reals", real)) if d.differs]
    if differs:
        who, d = differs[0]
        return (f"the {who} carry more high-frequency residual energy than shuffled labels give (p = "
                f"{d.p_value:.3g}), but in no one place: the corner share beats no null ({_share(d)}).")
    return (f"there is no localised difference: the classes' residual energy differs no more than with shuffled "
            f"labels (p = {fake.p_value:.3g} for fakes > reals, {real.p_value:.3g} for reals > fakes).")


def fingerprint_sentence(peak: FingerprintPeak | None, geometry: Geometry | None = None) -> str:
    if not peak:
        return ""
    resized = ""
    if geometry and geometry.stated:
        resized = (f" Both classes were enlarged alike by the audit (up to {geometry.max_enlargement:.1f}x), so a "
                   f"line may be that resampling meeting the classes' different content rather than a pattern of "
                   f"the fakes; audit without --enlarge to tell.")
    if not peak.periodic_peak:
        fy, fx = peak.freq
        return (f"the fakes' mean residual shows no periodic peak that noise could not make (its sharpest line above "
                f"the reals', at ({fy:+.3g}, {fx:+.3g}) cycles/pixel, is {peak.sharpness:.0f}x its neighbourhood; "
                f"a peak needs {peak.sharpness_needed:.0f}x).")
    fy, fx = peak.freq
    ratio = "far above" if peak.ratio is None else f"{peak.ratio:.0f}x"
    return (f"the fakes' mean residual has a periodic peak at ({fy:+.3g}, {fx:+.3g}) cycles/pixel, {ratio} the "
            f"reals' power there (fakes and reals compared after the same resize): a fixed pattern such as "
            f"up-sampling leaves, which a detector can learn." + resized)


def cue_sentence(cue: CuePart) -> str:
    """The classifier's verdict, unless only the file size varies: then the storage is not what differs."""
    if not cue.verdict:
        return "the file cues cannot be compared without images of both classes"
    others = [c for c in cue.cues if c.name not in SIZE_ONLY]
    lo, hi = cue.ci95
    if lo > 0.5 and others and max(c.auc for c in others) <= 0.5 + 1e-9:
        return (f"the file cues predict the label better than chance (AUC {cue.auc:.2f} "
                f"[{lo:.2f}, {hi:.2f}]), but only the file size tells anything: every format, quality, subsampling and "
                f"metadata cue has AUC 0.50, and a file's size follows its content's detail, so "
                f"this is the content differing rather than the storage (re-encoding would not remove it)")
    return cue.verdict


def verdict(summary: AuditSummary) -> str:
    """Sentences from an audit summary: the budget, the file cues, the pixel evidence, the fingerprint and the
    audit's own resizing (its ``verdict`` field is not read)."""
    overall, geometry = summary.overall, summary.geometry
    statement = geometry.statement()
    sentences = [cue_sentence(overall.cue) + ".", budget_sentence(overall.budget),
                 pixel_sentence(overall.pixels.localisation),
                 fingerprint_sentence(overall.pixels.fingerprint, geometry), statement + ("." if statement else "")]
    return " ".join(s[0].upper() + s[1:] for s in sentences if s)
