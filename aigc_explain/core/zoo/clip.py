"""Linear probes on a frozen CLIP ViT-L/14 image encoder.

* UniversalFakeDetect (Ojha et al., CVPR 2023): ``fc_weights.pth`` = ``{'weight': [1, 768], 'bias': [1]}`` (saved
  on a CUDA device) applied to OpenAI CLIP ViT-L/14's image embedding (after the projection), QuickGELU as OpenAI
  trained it.
* Cozzolino et al. (CVPRW 2024, "Raising the Bar of AI-generated Image Detection with CLIP"), GRIP's
  ``clipdet_latent10k_plus``: ``weights.pth`` holding ``fc.weight [1, 1024]``, ``fc.bias`` on the L2-normalised
  features *before* the projection of open_clip's ViT-L-14 trained on CommonPool XL (GELU), with a
  ``config.yaml`` saying ``arch: opencliplinearnext_clipL14commonpool``.

The encoder is timm's port of the same network (``vit_large_patch14_clip[_quickgelu]_224``: OpenAI's patch conv
without bias, class token, ``ln_pre``, pre-LN blocks, ``ln_post`` on the class token), so Grad-CAM finds its blocks
and 16×16 token grid as for any timm ViT. The probe is its ``head``: [projection →] [L2 norm →] ``fc``. Encoder
weights: a local file ``<torch hub>/checkpoints/clip/<key>.pth`` (OpenAI, open_clip or timm layout) if present,
else the hub (timm's ``.openai`` weights; CommonPool's open_clip file from Hugging Face), cached for offline use.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from aigc_explain.core.offline import hub_checkpoints_dir
from aigc_explain.core.weights import fit_state_dict, load_file
from aigc_explain.core.zoo.layout import Layout, Release, State, shape

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
COZZOLINO_ARCH = "opencliplinearnext_clipL14commonpool"


@dataclass(frozen=True)
class ClipBackbone:
    key: str
    timm_model: str
    weights: str  # "timm:<model.tag>", "hf:<repo>:<file>" or a local file
    width: int  # features before the projection
    embed: int  # the image embedding after it
    image_size: int = 224
    kwargs: tuple[tuple[str, Any], ...] = ()  # architecture overrides (tiny test encoders)


BACKBONES: dict[str, ClipBackbone] = {
    "openai": ClipBackbone("openai", "vit_large_patch14_clip_quickgelu_224",
                           "timm:vit_large_patch14_clip_quickgelu_224.openai", 1024, 768),
    "commonpool": ClipBackbone("commonpool", "vit_large_patch14_clip_224",
                               "hf:laion/CLIP-ViT-L-14-CommonPool.XL-s13B-b90K:open_clip_pytorch_model.bin", 1024, 768),
}


class ProbeHead(nn.Module):
    """A probe on the class token's features: the CLIP projection (or none), L2 normalisation (or none), fc."""
    def __init__(self, proj: nn.Linear | None, features: int, normalize: bool) -> None:
        super().__init__()
        self.proj, self.normalize = proj, normalize
        self.fc = nn.Linear(features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.proj is not None:
            x = self.proj(x)
        if self.normalize:
            x = F.normalize(x, dim=-1)
        return self.fc(x)


def weights_file(spec: ClipBackbone) -> Path:
    """Where a local copy of the encoder's weights is looked for first."""
    return hub_checkpoints_dir() / "clip" / f"{spec.key}.pth"


def _fetch(spec: ClipBackbone) -> tuple[State, str]:
    local = weights_file(spec)
    where = str(local) if local.is_file() else spec.weights
    try:
        if local.is_file():
            return load_file(local, what="CLIP weights"), where
        kind, _, ref = spec.weights.partition(":")
        if kind == "timm":
            import timm
            return timm.create_model(ref, pretrained=True, num_classes=spec.embed).state_dict(), where
        if kind == "hf":
            from huggingface_hub import hf_hub_download
            repo, _, filename = ref.partition(":")
            return load_file(hf_hub_download(repo, filename), what="CLIP weights"), where
        return load_file(spec.weights, what="CLIP weights"), where
    except (OSError, RuntimeError) as exc:  # no network / no cache; a bad file is already a ValueError
        raise FileNotFoundError(f"could not get the CLIP {spec.key} encoder weights {spec.weights} "
                                f"({type(exc).__name__}); offline, fill the Hugging Face cache (HF_HOME) beforehand "
                                f"or put an OpenAI/open_clip/timm state dict of it at {local}") from None


def encoder(spec: ClipBackbone, pretrained: bool) -> nn.Module:
    """timm's CLIP ViT for ``spec`` with the projection as its ``head``; weights loaded strictly when asked."""
    import timm
    from timm.models.vision_transformer import checkpoint_filter_fn

    model = timm.create_model(spec.timm_model, pretrained=False, num_classes=spec.embed, img_size=spec.image_size,
                              **dict(spec.kwargs))
    nn.init.zeros_(model.head.bias)  # CLIP's projection has no bias; timm's port keeps a zero one
    if pretrained:
        state, where = _fetch(spec)
        if any(k.startswith(("visual.", "module.visual.")) for k in state):  # OpenAI / open_clip layout
            state = checkpoint_filter_fn(state, model)
        fit_state_dict(model, state, source=f"CLIP weights {where}", name=spec.timm_model,
                       hint=f"pass the {spec.key} ViT-L/14 weights")
    return model


def probe(spec: ClipBackbone, *, project: bool, normalize: bool, pretrained: bool) -> nn.Module:
    model = encoder(spec, pretrained)
    model.head = ProbeHead(model.head if project else None, spec.embed if project else spec.width, normalize)
    return model


def _fc_only(state: State, prefix: str, features: int) -> bool:
    return (shape(state, f"{prefix}weight") == (1, features)
            and set(state) <= {f"{prefix}weight", f"{prefix}bias"})


def _rename(prefix: str):
    return lambda state: {f"head.fc.{k.removeprefix(prefix)}": v for k, v in state.items()}


def layouts() -> list[Layout]:
    ufd, coz = BACKBONES["openai"], BACKBONES["commonpool"]
    return [
        Layout(name="universalfakedetect", paper="Ojha et al., CVPR 2023 (UniversalFakeDetect)",
               released=f"fc_weights.pth: {{'weight': [1, {ufd.embed}], 'bias': [1]}}",
               pipeline=f"resize {ufd.image_size} (they centre-crop 224), CLIP mean/std; OpenAI CLIP ViT-L/14 embedding",
               image_size=ufd.image_size, mean=CLIP_MEAN, std=CLIP_STD,
               match=lambda state, release: _fc_only(state, "", ufd.embed),
               build=lambda pretrained: probe(ufd, project=True, normalize=False, pretrained=pretrained),
               rename=_rename(""), part="head.fc"),
        Layout(name="cozzolino2024", paper="Cozzolino et al., CVPRW 2024 (CLIP-based)",
               released=f"weights.pth: fc.weight [1, {coz.width}], fc.bias (+ config.yaml arch: {COZZOLINO_ARCH})",
               pipeline=f"resize {coz.image_size} (they resize then centre-crop 224), CLIP mean/std; L2-normalised "
                        f"ViT-L/14 CommonPool features before the projection",
               image_size=coz.image_size, mean=CLIP_MEAN, std=CLIP_STD,
               match=lambda state, release: _fc_only(state, "fc.", coz.width) and _cozzolino_config(release),
               build=lambda pretrained: probe(coz, project=False, normalize=True, pretrained=pretrained),
               rename=_rename("fc."), part="head.fc"),
    ]


def _cozzolino_config(release: Release) -> bool:
    arch = release.config.get("arch")
    if arch not in (None, COZZOLINO_ARCH):
        raise ValueError(f"config.yaml says arch {arch!r}; of GRIP's CLIP probes only {COZZOLINO_ARCH} (the published "
                         f"Cozzolino 2024 detector) is supported")
    return True
