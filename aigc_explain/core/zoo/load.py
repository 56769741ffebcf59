"""A released detector file -> our ``Detector``: the layout found from its keys (or named by ``--arch``), the
published network built, the file's weights fitted strictly (a probe's file fits its head exactly; its encoder
comes pretrained)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from aigc_explain.core.bounds import check_finite
from aigc_explain.core.models import Detector, build_detector
from aigc_explain.core.weights import fit_state_dict
from aigc_explain.core.zoo import detect_layout, layouts
from aigc_explain.core.zoo.layout import Release, read_release_config, release_state

log = logging.getLogger(__name__)


def load_zoo(obj: Any, path: str | Path, *, arch: str | None = None) -> Detector | None:
    """The detector in ``obj`` (loaded from ``path``) when it is in a known released layout or ``arch`` names one;
    None otherwise (the caller reads it as a plain torchvision/timm classifier)."""
    known = layouts()
    if arch is not None and arch not in known:
        return None
    state = release_state(obj)
    if state is None:
        if arch is None:
            return None
        raise ValueError(f"checkpoint {path} holds no state dict of tensors (nested under model, state_dict or net, "
                         f"or flat), so it is not a {arch} release")
    release = Release(frozenset(obj) if isinstance(obj, dict) else frozenset(), read_release_config(path))
    layout = known[arch] if arch else detect_layout(state, release)
    if layout is None:
        return None
    check_finite(state, path)
    detector = build_detector(layout.name, weights="pretrained" if layout.part else "none",
                              image_size=layout.image_size)
    source = f"checkpoint {path}"
    state = layout.rename(state)
    if layout.part:
        prefix = layout.part + "."
        stray = [k for k in state if not k.startswith(prefix)]
        if stray:
            raise ValueError(f"{source} does not fit {layout.name}: it should hold only {layout.part} "
                             f"(got {', '.join(stray[:4])}); pass the right --arch")
        fit_state_dict(detector.backbone.get_submodule(layout.part), {k[len(prefix):]: v for k, v in state.items()},
                       source=source, name=f"{layout.name} {layout.part}", hint="pass the right --arch")
    else:
        fit_state_dict(detector.backbone, state, source=source, name=layout.name, hint="pass the right --arch")
    log.info("read %s as %s (%s), input %d px", path, layout.name, layout.paper, layout.image_size)
    return detector
