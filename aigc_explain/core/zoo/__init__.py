"""The detectors the field uses, rebuilt from their checkpoints as released.

Each family module (``cnndetection``, ``npr``, ``corvi``, ``clip``) gives a ``Layout``: the ``--arch`` name, the
paper, the file as released, the input pipeline, how to recognise its state dict (keys and shapes, never the
file name), and how to build the published network. Preprocessing a detector does inside its network (NPR's
up-sampling residual, a CLIP probe's L2 normalisation) lives in the built module's ``forward``, and its input
normalisation is the layout's mean/std, so every command works on it unchanged. ``zoo.load`` turns a file into a
``Detector``; the rest never imports ``core.models`` (which builds zoo names through ``build``). Shared types and
the reading of a release's nesting and ``config.yaml`` are in ``zoo.layout``.
"""

from __future__ import annotations

from torch import nn

from aigc_explain.core.zoo import clip, cnndetection, corvi, npr
from aigc_explain.core.zoo.layout import Layout, Release, State


def layouts() -> dict[str, Layout]:
    """Every known layout by ``--arch`` name, most specific first (read afresh: tests register tiny CLIPs)."""
    found = [npr.layout(), corvi.layout(), cnndetection.layout(), *clip.layouts()]
    return {layout.name: layout for layout in found}


def names() -> list[str]:
    return list(layouts())


def detect_layout(state: State, release: Release | None = None) -> Layout | None:
    """The layout whose keys and shapes ``state`` has, or None."""
    release = release or Release()
    for layout in layouts().values():
        if layout.match(state, release):
            return layout
    return None


def unknown_hint(state: State) -> str:
    """One clause for an unknown file: the layouts we know and the keys we saw."""
    known = ", ".join(f"{lay.name} ({lay.released})" for lay in layouts().values())
    seen = [f"{k} {list(v.shape)}" for k, v in list(state.items())[:6]]
    more = f" … ({len(state)} in all)" if len(state) > 6 else ""
    return f"known detector layouts: {known}; keys seen: {', '.join(seen)}{more}"


def build(name: str, *, pretrained: bool = False) -> tuple[nn.Module, Layout]:
    """The network of layout ``name`` (for ``core.models.build_detector``)."""
    layout = layouts()[name]
    return layout.build(pretrained), layout
