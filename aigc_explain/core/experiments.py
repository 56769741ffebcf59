"""The report's five settings and the configuration of a training run, validated when it is made."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from aigc_explain.core.bounds import check_image_size, MAX_IMAGE_SIZE
from aigc_explain.core.images import AUGMENTATIONS, Reencode
from aigc_explain.core.inference import AMP_MODES
from aigc_explain.core.losses import LOSSES
from aigc_explain.core.models import weights_spec
from aigc_explain.core.splits import check_val_split

# The report's five settings; explicit arguments override them.
EXPERIMENTS: dict[int, dict[str, Any]] = {
    1: {"model": "resnet", "augment": "report", "loss": "focal"},
    2: {"model": "resnet", "augment": "none", "loss": "bce"},
    3: {"model": "vit", "augment": "none", "loss": "bce"},
    4: {"model": "swin", "augment": "none", "loss": "bce"},
    5: {"model": "resnet", "augment": "report", "loss": "bce"},
}


@dataclass
class TrainConfig:
    data: str
    out: str
    model: str = "resnet"
    augment: str = "none"
    loss: str = "bce"
    focal_alpha: float = 0.7
    focal_gamma: float = 1.0
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-4
    weight_decay: float = 0.01
    patience: int = 3
    image_size: int = 224
    weights: str = "imagenet"
    seed: int = 0
    workers: int = 0
    device: str = "auto"
    amp: str = "auto"  # bf16 autocast: auto = where native (CUDA bf16, CPUs with AMX/AVX512-BF16); bf16; off
    limit: int | None = None  # at most this many images per split (quick runs)
    experiment: int | None = None
    reencode: str | None = None  # every image re-encoded identically first (--reencode jpeg:Q|png)
    val_split: float | None = None  # hold out this seeded, stratified share of a folder without train/ and val/

    def __post_init__(self) -> None:
        self.weights = weights_spec(self.weights)
        Reencode.parse(self.reencode)
        check_val_split(self.val_split)
        if self.augment not in AUGMENTATIONS:
            raise ValueError(f"--augment {self.augment!r} is not one of {', '.join(AUGMENTATIONS)}")
        if self.amp not in AMP_MODES:
            raise ValueError(f"--amp {self.amp!r} is not one of {', '.join(AMP_MODES)}")
        if self.loss not in LOSSES:
            raise ValueError(f"--loss {self.loss!r} is not one of {', '.join(LOSSES)}")
        for name in ("epochs", "batch_size", "image_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.image_size > MAX_IMAGE_SIZE:  # before any model is built or image resized (issue #21)
            check_image_size(self.image_size)
        checks = (("lr", self.lr > 0, "> 0"), ("weight_decay", self.weight_decay >= 0, ">= 0"),
                  ("patience", self.patience >= 0, ">= 0 (epochs without improvement before the lr drops)"),
                  ("focal_alpha", 0 < self.focal_alpha <= 1, "in (0, 1] (the report uses 0.7)"),
                  ("focal_gamma", self.focal_gamma >= 0, ">= 0 (the report uses 1)"),
                  ("workers", self.workers >= 0, ">= 0"), ("seed", self.seed >= 0, ">= 0"),
                  ("limit", self.limit is None or self.limit >= 1, ">= 1"))
        for name, ok, rule in checks:
            if not ok:
                raise ValueError(f"--{name.replace('_', '-')} must be {rule}, got {getattr(self, name)}")


def config_from_experiment(experiment: int | None, **overrides: Any) -> TrainConfig:
    """The preset of ``experiment`` (1–5) with every non-None override applied on top."""
    if experiment is not None and experiment not in EXPERIMENTS:
        raise ValueError(f"--experiment must be one of {', '.join(map(str, EXPERIMENTS))}, got {experiment}")
    values = dict(EXPERIMENTS.get(experiment, {}))
    values.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name for f in fields(TrainConfig)}
    return TrainConfig(experiment=experiment, **{k: v for k, v in values.items() if k in known})
