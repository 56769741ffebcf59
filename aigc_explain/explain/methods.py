"""CAM computation core: grad-cam's methods for single-logit detectors, with a fast gradient path.

grad-cam (pytorch_grad_cam) supplies every weighting formula; this module only (1) picks targets for
a one-logit model, (2) finds and reshapes target layers, and (3) gets activations and gradients
cheaply: parameters are frozen, so autograd records only the path from the target layer to the logit.
`compute_cams` returns the raw signed map (grad-cam's `get_cam_image`, before ReLU and scaling);
`scale_like_gradcam` turns it into exactly what grad-cam's `__call__` returns by default.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pytorch_grad_cam as pgc
import torch
from pytorch_grad_cam.ablation_layer import AblationLayer, AblationLayerVit
from pytorch_grad_cam.utils.image import scale_cam_image
from torch import nn

from aigc_explain.core.inference import autocast, resolve_amp
from aigc_explain.explain.layers import frozen_eval, model_device

logger = logging.getLogger(__name__)

METHODS: dict[str, type] = {
    "gradcam": pgc.GradCAM, "gradcam++": pgc.GradCAMPlusPlus, "hirescam": pgc.HiResCAM,
    "xgradcam": pgc.XGradCAM, "layercam": pgc.LayerCAM, "eigencam": pgc.EigenCAM,
    "eigengradcam": pgc.EigenGradCAM, "gradcamelementwise": pgc.GradCAMElementWise,
    "segeigencam": pgc.SegEigenCAM, "kpcacam": pgc.KPCA_CAM, "fem": pgc.FEM,
    "randomcam": pgc.RandomCAM,  # a sanity-check baseline: random channel weights (seed numpy)
    "scorecam": pgc.ScoreCAM, "ablationcam": pgc.AblationCAM, "fullgrad": pgc.FullGrad,
    "shapleycam": pgc.ShapleyCAM,
}
# Left out: FinerCAM (given explicit targets on one logit it is just its base method), RefineCAM and SESS
# (meta-methods over several layers / sliding windows; SESS ranks patches by a softmax, constant for one
# logit), GuidedBackpropReLUModel and DeepFeatureFactorization (not target-layer CAMs).

# Need only d(logit)/d(layer output): computed on the fast path.
_GRAD_METHODS = frozenset({"gradcam", "gradcam++", "hirescam", "xgradcam", "layercam", "eigengradcam",
                           "gradcamelementwise", "segeigencam", "randomcam"})
# Need only the layer's activations: one forward under no_grad.
_ACTIVATION_METHODS = frozenset({"eigencam", "kpcacam", "fem"})
# Everything else (many forwards, input/bias gradients, Hessian products) runs grad-cam's own class.
TARGETS = ("fake", "real", "predicted")  # what a CAM explains: the logit, its negation, each image's call


def method_names() -> list[str]:
    """The CAM method names accepted by `compute_cams`."""
    return sorted(METHODS)


def check_method(method: str, *, flag: str = "method=") -> str:
    """The method's name in lower case, or one ValueError naming ``flag`` (``--method ``, ``--cam-method ``) and
    the names there are: the one check of a method name, wherever it is given."""
    name = str(method).lower()
    if name not in METHODS:
        raise ValueError(f"{flag}{method!r} is unknown; use one of: {', '.join(method_names())}")
    return name


@dataclass(frozen=True)
class LogitTarget:
    """grad-cam target for a one-logit model: +1 explains "fake" (the logit), -1 explains "real"."""
    sign: float

    def __post_init__(self) -> None:
        if self.sign not in (1.0, -1.0):
            raise ValueError(f"sign={self.sign!r} must be +1 (explain 'fake') or -1 (explain 'real')")

    def __call__(self, model_output: torch.Tensor) -> torch.Tensor:
        # Per-sample calls get shape (1,) and return a scalar; batched calls get (B, 1) and return (B,).
        return self.sign * model_output[..., 0]


def signs_for(target: str, logits: torch.Tensor | np.ndarray) -> torch.Tensor:
    """+1 per image explains "fake" (the logit), -1 "real"; "predicted" takes each image's own call."""
    if target not in TARGETS:
        raise ValueError(f"target={target!r} is unknown; use one of {', '.join(TARGETS)}")
    values = torch.as_tensor(np.asarray(logits) if isinstance(logits, np.ndarray) else logits)
    values = values.detach().float().reshape(-1).cpu()
    if target == "predicted":
        return torch.where(values >= 0, 1.0, -1.0)
    return torch.full((len(values),), 1.0 if target == "fake" else -1.0)


# ------------------------------------------------------------------------------------------- CAMs
def _to_numpy(t: torch.Tensor, transform: Callable | None) -> np.ndarray:
    t = transform(t) if transform is not None else t
    return t.detach().float().cpu().numpy()


def _logits_of(out: object, n: int) -> torch.Tensor:
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (n, 1):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"model must map (B, 3, H, W) to (B, 1) logits; got {shape}")
    return out[:, 0]


def _fast_chunk(cam: object, model: nn.Module, layer: nn.Module, x: torch.Tensor, signs: torch.Tensor | None,
                transform: Callable | None, needs_grad: bool) -> tuple[np.ndarray, np.ndarray]:
    """One forward (+ a backward from the logit to `layer` only), then grad-cam's get_cam_image."""
    store: dict[str, torch.Tensor] = {}

    def hook(module: nn.Module, inputs: object, output: object) -> torch.Tensor:
        if not isinstance(output, torch.Tensor) or "act" in store:
            raise ValueError(f"layer {type(module).__name__} must return one tensor and run once per forward")
        # A fresh leaf: the backward stops here. The clone lets later in-place ops (`out += identity`) run.
        store["act"] = output.detach().requires_grad_(needs_grad)
        return store["act"].clone()

    handle = layer.register_forward_hook(hook)
    try:
        with torch.set_grad_enabled(needs_grad):
            logits = _logits_of(model(x), len(x))
    finally:
        handle.remove()
    if "act" not in store:
        raise ValueError("layer was not called by the model's forward; pass a module of this model")
    grads = None
    if signs is None:  # "predicted": the sign comes from this very forward
        signs = signs_for("predicted", logits)
    if needs_grad:
        score = (signs.to(logits) * logits).sum()
        if not score.requires_grad:
            raise ValueError("the logit does not depend on layer's output; choose an earlier layer")
        (grads,) = torch.autograd.grad(score, store["act"])
        grads = _to_numpy(grads, transform)
    targets = [LogitTarget(float(s)) for s in signs]
    raw = cam.get_cam_image(x, layer, targets, _to_numpy(store["act"], transform), grads, False)
    return np.asarray(raw, dtype=np.float32), logits.detach().float().cpu().numpy()


def _fallback_cam(name: str, model: nn.Module, layer: nn.Module, transform: Callable | None,
                  batch_size: int) -> pgc.base_cam.BaseCAM:
    if name == "fullgrad":  # uses every Conv2d/BatchNorm2d bias (NCHW), not `layer`
        return pgc.FullGrad(model, [], None)
    if name == "ablationcam":  # AblationLayerVit ablates the last (channel) axis of token/NHWC outputs
        ablation = AblationLayerVit() if transform is not None else AblationLayer()
        return pgc.AblationCAM(model, [layer], transform, ablation_layer=ablation, batch_size=batch_size)
    if name == "shapleycam" and transform is not None:
        raise ValueError("method='shapleycam' fails on token/NHWC layers in grad-cam (its get_cam_image "
                         "skips reshape_transform); use a CNN layer or another method")
    cam = METHODS[name](model, [layer], transform)
    cam.batch_size = batch_size  # ScoreCAM reads it; harmless elsewhere
    return cam


def _fallback_chunk(name: str, cam: pgc.base_cam.BaseCAM, x: torch.Tensor,
                    signs: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Run grad-cam's own class and keep the map it computes before ReLU and scaling."""
    captured: list[np.ndarray] = []
    # fullgrad's raw map: its per-image sum, at input size, of |input * grad| and |bias * grad| maps,
    # each already min-max scaled by grad-cam (what its aggregate_multi_layers receives).
    attr = "compute_cam_per_layer" if name == "fullgrad" else "get_cam_image"
    original = getattr(cam, attr)

    def capture(*args: object, **kwargs: object) -> np.ndarray:
        out = original(*args, **kwargs)
        captured.append(np.array(out, dtype=np.float32))
        return out

    setattr(cam, attr, capture)  # instance attribute shadows the method for this call only
    try:
        cam(x, [LogitTarget(float(s)) for s in signs])
    finally:
        delattr(cam, attr)
    raw = captured[-1][:, 0] if name == "fullgrad" else captured[-1]
    return raw, _logits_of(cam.outputs, len(x)).detach().float().cpu().numpy()


def _check_inputs(x: torch.Tensor, signs: torch.Tensor | Sequence[float] | str, batch_size: int) -> torch.Tensor | None:
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or len(x) == 0:
        raise ValueError(f"x must be a non-empty (B, C, H, W) tensor; got {getattr(x, 'shape', type(x).__name__)}")
    if isinstance(signs, str):  # a target name
        if signs not in TARGETS:
            raise ValueError(f"signs={signs!r}: give +1/-1 per image or a target: {', '.join(TARGETS)}")
        if signs == "predicted":
            return None  # the signs come from the forward pass itself
        signs = signs_for(signs, torch.zeros(len(x)))
    s = torch.as_tensor(signs, dtype=torch.float32).detach().reshape(-1).cpu()
    if len(s) != len(x):
        raise ValueError(f"signs has {len(s)} values for {len(x)} images; give one sign per image")
    if not bool(((s == 1) | (s == -1)).all()):
        raise ValueError("signs must be +1 (explain 'fake') or -1 (explain 'real'); see signs_for()")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be a positive integer")
    return s


def compute_cams(model: nn.Module, layer: nn.Module, x: torch.Tensor, signs: torch.Tensor | Sequence[float] | str,
                 *, method: str = "gradcam", reshape_transform: Callable | None = None,
                 batch_size: int = 32, amp: str = "off") -> tuple[np.ndarray, np.ndarray]:
    """Raw signed CAMs (B, h, w) at the layer's resolution (fullgrad: input size) and logits (B,).

    `signs`: +1 per image explains "fake" (the logit), -1 "real"; or a target name for every image:
    "fake", "real", or "predicted" (each image's sign from its own logit). `raw` is grad-cam's `get_cam_image` for `method`, before ReLU and scaling. The model runs in eval mode
    with frozen parameters (shapleycam: not frozen); modes, requires_grad and .grad are restored after.
    ``amp`` (default off: exact fp32, grad-cam's maps) may be "bf16" (or "auto": bf16 where native) for the
    one-pass methods: maps are then computed in fp32 from bf16 activations and gradients.
    """
    name = check_method(method)
    s = _check_inputs(x, signs, batch_size)
    x = x.detach().to(model_device(model))
    fast = one_pass(name)
    check_amp_for(name, amp)
    # "auto" gives bf16 only where it can apply: grad-cam's own passes stay fp32
    bf16 = fast and resolve_amp(model_device(model), amp)[0] == "bf16"
    logger.debug("compute_cams: %s on %d images (%s path)", name, len(x), "fast" if fast else "grad-cam")
    raws, logits = [], []
    # ShapleyCAM differentiates the gradient again, which needs the (parameter-dependent) graph.
    with frozen_eval(model, freeze=name != "shapleycam"):
        if fast:
            cam = METHODS[name](model, [layer], reshape_transform)
            cam.activations_and_grads.release()  # only its get_cam_image is used; we hook ourselves
        else:
            cam = _fallback_cam(name, model, layer, reshape_transform, batch_size)
        try:
            for i in range(0, len(x), batch_size):
                xs = x[i:i + batch_size]
                ss = None if s is None else s[i:i + batch_size]
                if fast:
                    with autocast(model_device(model), "bf16" if bf16 else "off"):
                        out = _fast_chunk(cam, model, layer, xs, ss, reshape_transform, name in _GRAD_METHODS)
                else:
                    if ss is None:  # "predicted" needs the logits before grad-cam's own passes
                        with torch.no_grad():
                            ss = signs_for("predicted", _logits_of(model(xs), len(xs)))
                    out = _fallback_chunk(name, cam, xs, ss)
                raws.append(out[0])
                logits.append(out[1])
        finally:
            cam.activations_and_grads.release()
    return np.concatenate(raws).astype(np.float32), np.concatenate(logits).astype(np.float32)


def one_pass(method: str) -> bool:
    """Whether ``method`` runs on the fast path (one forward, at most a backward to the layer)."""
    return method in _GRAD_METHODS or method in _ACTIVATION_METHODS


def check_amp_for(method: str, amp: str) -> None:
    """``--amp bf16`` asked for explicitly needs a one-pass method (grad-cam's own passes run in fp32)."""
    if amp == "bf16" and not one_pass(method):
        raise ValueError(f"--amp bf16 works with the one-pass methods ({', '.join(sorted(_GRAD_METHODS))}, "
                         f"{', '.join(sorted(_ACTIVATION_METHODS))}); {method} runs grad-cam's own passes: use "
                         f"--amp off or auto")


def scale_like_gradcam(raw: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """ReLU, then grad-cam's own scaling to size=(H, W): equals grad-cam's default output for one layer."""
    if np.ndim(raw) != 3:
        raise ValueError(f"raw must be (B, h, w) maps from compute_cams; got shape {np.shape(raw)}")
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"size={size!r} must be (H, W) with positive sides")
    height, width = int(size[0]), int(size[1])
    scaled = scale_cam_image(np.maximum(raw, 0), (width, height))  # cv2 wants (width, height)
    return scale_cam_image(np.maximum(scaled, 0))  # grad-cam's aggregate_multi_layers rescales once more
