"""The audit's verdict in plain sentences: does the storage give the label away, where do the classes differ
in the pixels, and do the fakes carry a periodic fingerprint?"""

from __future__ import annotations

from typing import Any

SMALL_EXCESS = 0.02  # below this share of the reals' residual energy the classes barely differ in the pixels


def _where(lo: float | None, hi: float | None) -> str:
    if lo is None or hi is None:
        return "somewhere the corner share cannot tell"
    if lo > 0.5:
        return "more in the corners than in the centre"
    if hi < 0.5:
        return "more in the centre than in the corners"
    return "in the corners and the centre alike"


def pixel_sentence(masses: dict[str, Any], reals_exceed: dict[str, Any] | None = None) -> str:
    if not masses:
        return "the pixel evidence needs images of both classes."
    if masses.get("empty"):
        if not reals_exceed or reals_exceed.get("empty"):
            return "the classes do not differ in high-frequency residual energy anywhere."
        share = reals_exceed["corner_share"]
        lo, hi = share["ci95"]
        band = "" if share["mean"] is None or lo is None else f" (corner share {share['mean']:.2f} [{lo:.2f}, {hi:.2f}])"
        return (f"nowhere do the fakes carry more high-frequency residual energy than the reals: they lack "
                f"{reals_exceed['excess_energy']:.0%} of the reals' residual energy, {_where(lo, hi)}{band}.")
    excess = masses.get("excess_energy") or 0.0
    share = masses["corner_share"]
    lo, hi = share["ci95"]
    band = (f"corner share {share['mean']:.2f} [{lo:.2f}, {hi:.2f}]" if share["mean"] is not None and lo is not None
            else "corner share undefined")
    size = ("the classes barely differ in high-frequency residual energy" if excess < SMALL_EXCESS else
            "the fakes carry more high-frequency residual energy than the reals")
    return (f"{size} (the excess is {excess:.1%} of the reals' energy); where the fakes exceed the reals, they do "
            f"so {_where(lo, hi)} ({band}; 0.5 = as much in the corners as in the centre).")


def fingerprint_sentence(peak: dict[str, Any] | None) -> str:
    if not peak:
        return ""
    if not peak["periodic_peak"]:
        fy, fx = peak["freq"]
        return (f"the fakes' mean residual shows no periodic peak that noise could not make (its sharpest line above "
                f"the reals', at ({fy:+.3g}, {fx:+.3g}) cycles/pixel, is {peak['sharpness']:.0f}x its neighbourhood; "
                f"a peak needs {peak['sharpness_needed']:.0f}x).")
    fy, fx = peak["freq"]
    ratio = "far above" if peak["ratio"] is None else f"{peak['ratio']:.0f}x"
    return (f"the fakes' mean residual has a periodic peak at ({fy:+.3g}, {fx:+.3g}) cycles/pixel, {ratio} the "
            f"reals' power there: a fixed pattern such as up-sampling leaves, which a detector can learn.")


SIZE_ONLY = ("file_size", "bytes_per_pixel")  # what a JPEG of the same settings still varies in: its content's detail


def cue_sentence(summary: dict[str, Any]) -> str:
    """The classifier's verdict, unless only the file size varies: then the storage is not what differs."""
    cue = summary.get("cue_verdict")
    if not cue:
        return "the file cues cannot be compared without images of both classes"
    others = [c for c in summary.get("cues", []) if c["name"] not in SIZE_ONLY]
    lo, hi = summary["cue_auc_ci95"]
    if lo > 0.5 and others and max(c["auc"] for c in others) <= 0.5 + 1e-9:
        return (f"the file cues predict the label better than chance (AUC {summary['cue_auc']:.2f} "
                f"[{lo:.2f}, {hi:.2f}]), but only the file size tells anything: every format, quality, subsampling and "
                f"metadata cue has AUC 0.50, and a file's size follows its content's detail, so "
                f"this is the content differing rather than the storage (re-encoding would not remove it)")
    return cue


def verdict(summary: dict[str, Any]) -> str:
    """Sentences from an audit summary (the file cues, the pixel evidence, the fingerprint)."""
    cue = cue_sentence(summary)
    sentences = [cue + ".", pixel_sentence(summary.get("pixel_masses") or {}, summary.get("pixel_masses_real")),
                 fingerprint_sentence(summary.get("fingerprint"))]
    return " ".join(s[0].upper() + s[1:] for s in sentences if s)
