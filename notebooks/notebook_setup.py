"""What the notebooks run on, in one place: the data, the backbones standing in for the report's, the run
folders, and how figures are shown. The notebooks import it; nothing of the package depends on it.

* Nothing configured: the embedded default — the demo's dataset (photo crops vs. their up-convolution
  autoencoder regenerations, built offline on first use) with small ImageNet-weighted backbones standing in
  for the report's: MobileNetV2 (torchvision) for ResNet-101, EfficientNet-Lite0 (timm) for ViT-S/16 and
  Swin-T, 128 px, 3 epochs. All notebooks together take a few minutes on 2 CPU cores.
* ``AIGC_DATA=<root>`` (``<root>/{train,val}/{0_real,1_fake}``): the report's own setting — ResNet-101,
  ViT-S/16 and Swin-T with ImageNet weights, 224 px, 10 epochs (a GPU helps).
* ``AIGC_EXPLAIN_TINY=1``: a tiny dataset and timm's test models, seconds in all (the test suite uses it).
"""

from __future__ import annotations

import io
import logging
import os
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TINY = os.environ.get("AIGC_EXPLAIN_TINY") == "1"
REAL = bool(os.environ.get("AIGC_DATA")) and not TINY
RUNS = Path(os.environ.get("AIGC_RUNS", ROOT / "runs" / "notebooks"))
REPORTS = Path(os.environ.get("AIGC_REPORTS", ROOT / "reports" / "notebooks"))
MODE = "tiny" if TINY else "report" if REAL else "embedded"

# The report's backbone names -> what each mode trains; its training settings per mode.
BACKBONES = {"report": {"resnet": "resnet", "vit": "vit", "swin": "swin"},
             "embedded": {"resnet": "mobilenet_v2", "vit": "tf_efficientnet_lite0", "swin": "tf_efficientnet_lite0"},
             "tiny": {"resnet": "test_resnet", "vit": "test_vit", "swin": "test_vit"}}[MODE]
TRAINING = {"report": dict(weights="imagenet", image_size=224, epochs=10, batch_size=64),
            "embedded": dict(weights="imagenet", image_size=128, epochs=3, batch_size=32),
            "tiny": dict(weights="none", image_size=64, epochs=1, batch_size=8)}[MODE]
CAM_LAYER = {"report": "auto", "embedded": "features.13", "tiny": "auto"}[MODE]  # report: ResNet layer4
DEMO_DATA = {"embedded": dict(n_train=300, n_val=100, size=96, ae_steps=400),
             "tiny": dict(n_train=8, n_val=4, size=32, ae_steps=5)}
DATA = Path(os.environ["AIGC_DATA"]) if REAL else RUNS / f"{MODE}_data"


def rel(path: str | Path) -> str:
    """A path as the notebooks print it: relative to the repository (no machine paths in outputs)."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return path.name


def quiet() -> None:
    """Notebook outputs hold results, not logs or progress bars."""
    logging.getLogger("aigc_explain").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    os.environ.setdefault("TQDM_DISABLE", "1")


def ensure_data() -> Path:
    """The data in use; the embedded default is built on first use (offline, seconds)."""
    if not REAL and not (DATA / "train").is_dir():
        from aigc_explain.synth.demo_data import build_demo_dataset

        build_demo_dataset(DATA, seed=0, overwrite=True, **DEMO_DATA[MODE])
    return DATA


def describe() -> str:
    """Which data and backbones are in use, and how to switch, as markdown."""
    names = ", ".join(f"{k} → `{v}`" for k, v in BACKBONES.items())
    lines = [f"**Mode: {MODE}.** Data: `{rel(DATA)}`. Backbones (the report's → used here): {names}; "
             f"{TRAINING['image_size']} px, {TRAINING['epochs']} epochs, weights `{TRAINING['weights']}`."]
    if MODE == "embedded":
        lines.append("This is the embedded default: the demo's dataset (photo crops vs. up-convolution "
                     "autoencoder fakes) and small ImageNet-weighted backbones standing in for ResNet-101, ViT-S/16 "
                     "and Swin-T. Set `AIGC_DATA=<root>` (`<root>/{train,val}/{0_real,1_fake}`) before starting "
                     "Jupyter to train the report's own backbones on its data.")
    return "\n\n".join(lines)


def show(fig, *, dpi: int = 80):
    """Display a matplotlib figure as one PNG (small, no interactive state) and close it."""
    from IPython.display import Image, display

    from aigc_explain.reporting.figures import figure_png

    display(Image(data=figure_png(fig, dpi=dpi)))


def markdown(text: str):
    from IPython.display import Markdown, display

    display(Markdown(text))


def show_file(path: str | Path, *, width: int = 900):
    """Display a saved PNG, downscaled to ``width`` pixels (outputs stay small)."""
    from IPython.display import Image as IPImage, display
    from PIL import Image

    with Image.open(path) as img:
        img = img.convert("RGB")
        if img.width > width:
            img = img.resize((width, round(img.height * width / img.width)), Image.LANCZOS)
        buf = io.BytesIO()
        img.save(buf, format="PNG", optimize=True)
    display(IPImage(data=buf.getvalue()))


PLANTED = {"report": dict(model="resnet101", weights="imagenet", image_size=160, n_train=400, n_val=100, epochs=3,
                          batch_size=32),
           "embedded": dict(model="mobilenet_v2", weights="imagenet", image_size=128, n_train=300, n_val=50, epochs=3,
                            batch_size=32),
           "tiny": dict(model="test_resnet", weights="none", image_size=64, n_train=8, n_val=4, epochs=1,
                        batch_size=8)}[MODE]
SANITY_IMAGES = 8 if TINY else 16


def num(value, spec: str = ".3f") -> str:
    """A number for a table or title; "–" where there is none (e.g. every map of a class blank)."""
    return "–" if value is None else format(value, spec)


def interval(mean, ci, spec: str = ".3f") -> str:
    """``mean [lo, hi]``; "–" where there is no estimate."""
    if mean is None:
        return "–"
    return f"{format(mean, spec)} [{format(ci[0], spec)}, {format(ci[1], spec)}]" if ci else format(mean, spec)
