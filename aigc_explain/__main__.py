"""``aigc-explain <command> ...`` — dispatches to ``python -m aigc_explain.<command>``."""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "train": "train a detector (the report's five settings or your own)",
    "evaluate": "accuracy, AP, AUC with intervals; cross-domain tables",
    "cam": "Grad-CAM and relatives over a folder, per-class maps, corner-vs-centre statistics",
    "compare": "two CAM runs side by side: shared-scale mean maps, difference, corner share + p",
    "report": "slide-ready figures + index.md from training, evaluation and CAM runs",
    "spectrum": "frequency view: per-class mean ± std log power spectra (1-D and 2-D)",
    "sanity": "model-parameter randomisation test of a CAM method (Adebayo et al. 2018)",
    "faithfulness": "deletion/insertion AUC and ROAD of a CAM method vs trivial maps",
    "benchmark": "known-answer benchmark: train on an artifact planted in the corners or centre, check the CAMs find it",
    "audit": "data-side evidence: do file cues give the label away, where do the classes differ in the pixels",
    "diagnose": "what the detector relies on: frequency bands, spectral peaks, patch shuffling, re-encoding",
    "demo": "the main job end to end on a dataset it builds itself (make demo)",
    "hub": "seed the offline ImageNet weights --weights imagenet finds (make weights)",
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        lines = [f"  {c:<13}{h}" for c, h in COMMANDS.items()]
        print("usage: aigc-explain <command> [options]\n\ncommands:\n" + "\n".join(lines))
        return 0 if not argv or argv[0] in ("-h", "--help") else 2
    module = importlib.import_module(f"aigc_explain.{argv[0]}")
    return module.main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
