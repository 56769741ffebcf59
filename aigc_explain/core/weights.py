"""Weight files: the one ``torch.load`` of the package (``weights_only=True``: a file that needs arbitrary
unpickling is refused, never run) and the one path that fits a state dict to a model, for checkpoints and
``--weights PATH`` alike, naming every key that does not fit."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

_WRAPPERS = ("state_dict", "model_state_dict", "model")  # ours / the report notebook's / CNNDetection's
_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[@-_]")


def load_file(path: str | Path, *, what: str = "checkpoint", flag: str = "--ckpt") -> Any:
    """Read a torch file safely; a folder, a missing file or an unsafe pickle is one clear error."""
    path = Path(path)
    if path.is_dir():
        inside = sorted(p.name for p in path.glob("*.pth"))[:3]
        hint = f" (it holds {', '.join(inside)})" if inside else ""
        raise IsADirectoryError(f"{what} {path} is a folder, not a file{hint}; pass the .pth file itself, "
                                f"e.g. {flag} {path / (inside[0] if inside else 'best_model.pth')}")
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist; check {flag}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # never fall back to full unpickling: it can run code
        message = plain_text(str(exc))
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", message)
        if found:
            raise ValueError(f"{what} {path} holds a whole pickled object ({found.group(1)}), not a state dict; "
                             f"unpickling it could run code, so torch.load(weights_only=True) refuses it: re-save "
                             f"its weights with "
                             f"torch.save(model.state_dict(), 'weights.pth') where the model is defined, and pass "
                             f"that file") from None
        text = message.splitlines()[0][:160] if message else ""
        raise ValueError(f"{what} {path} cannot be loaded safely with weights_only=True ({type(exc).__name__}: "
                         f"{text}); only plain state dicts and aigc_explain checkpoints are accepted") from None


def plain_text(text: str) -> str:
    """``text`` without terminal escape sequences (colour, bold): messages go to files and pipes too."""
    return _ESCAPES.sub("", text)


def unwrap_state_dict(obj: Any, path: str | Path, *, what: str = "checkpoint") -> dict[str, torch.Tensor]:
    """The flat state dict inside a loaded file (``state_dict``/``model_state_dict``/``model`` unwrapped,
    DDP's ``module.`` prefix removed)."""
    for key in _WRAPPERS:
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{what} {path} does not hold a state_dict of tensors")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def _short(keys: list[str]) -> str:
    return (", ".join(keys[:4]) + (f" … ({len(keys)} in all)" if len(keys) > 4 else "")) or "none"


def fit_state_dict(model: nn.Module, state: dict[str, torch.Tensor], *, source: str, name: str, hint: str,
                   new_head: str | None = None) -> None:
    """Load ``state`` into ``model`` only if every key fits (names and shapes); otherwise a ValueError naming
    the missing, unexpected and mis-shaped keys. ``new_head``: that module's keys may be absent or of another
    shape (an ImageNet classifier before our one-logit head) and are then left as initialised."""
    own = model.state_dict()
    prefix = f"{new_head}." if new_head else None
    if prefix:
        state = {k: v for k, v in state.items() if not (k.startswith(prefix) and k in own and v.shape != own[k].shape)}
    missing = [k for k in own if k not in state and not (prefix and k.startswith(prefix))]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in state if k in own and state[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        raise ValueError(f"{source} does not fit {name}: missing keys {_short(missing)}; unexpected keys "
                         f"{_short(unexpected)}; wrong shapes {_short(wrong)}; {hint}")
    model.load_state_dict(state, strict=not prefix)
