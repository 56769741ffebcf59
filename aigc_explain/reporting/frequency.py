"""Figures of the frequency view: per-class 1-D azimuthal log power spectra and mean 2-D spectra."""

from __future__ import annotations

import numpy as np

from aigc_explain.reporting.figures import DIVERGING, pyplot


def spectrum_1d_figure(spectra: dict[str, dict[str, np.ndarray]]):
    """Mean ± std azimuthal log power spectrum per class; below, each class minus the first one.
    ``spectra[name]`` holds ``freq`` (cycles/pixel), ``mean``, ``std`` and ``n``."""
    plt = pyplot()
    if not spectra:
        raise ValueError("spectrum_1d_figure needs at least one class")
    names = list(spectra)
    rows = 2 if len(names) > 1 else 1
    fig, axes = plt.subplots(rows, 1, figsize=(10.0, 4.0 * rows), squeeze=False, sharex=True)
    ax = axes[0, 0]
    for i, name in enumerate(names):
        s = spectra[name]
        ax.plot(s["freq"], s["mean"], color=f"C{i}", label=f"{name} (n={int(s['n'])})")
        ax.fill_between(s["freq"], s["mean"] - s["std"], s["mean"] + s["std"], color=f"C{i}", alpha=0.2)
    ax.set(ylabel="log power (mean ± std)", title="azimuthally averaged log power spectrum")
    ax.legend()
    ax.grid(alpha=0.3)
    base = spectra[names[0]]
    for i, name in enumerate(names[1:], start=1):
        s = spectra[name]
        if s["freq"].shape == base["freq"].shape and np.allclose(s["freq"], base["freq"]):
            axes[1, 0].plot(s["freq"], s["mean"] - base["mean"], color=f"C{i}", label=f"{name} − {names[0]}")
    if rows == 2:
        axes[1, 0].axhline(0.0, color="grey", lw=1)
        axes[1, 0].set(ylabel="difference of mean log power", title=f"difference to {names[0]}")
        axes[1, 0].legend()
        axes[1, 0].grid(alpha=0.3)
    axes[-1, 0].set_xlabel("spatial frequency (cycles per pixel; 0.5 = Nyquist)")
    fig.tight_layout()
    return fig


def _freq_extent(shape: tuple[int, int]) -> tuple[float, float, float, float]:
    """imshow extent in cycles/pixel of an fftshifted spectrum (pixel (i, j) is at ((i-h//2)/h, (j-w//2)/w))."""
    h, w = shape
    return ((-(w // 2) - 0.5) / w, (w - 1 - w // 2 + 0.5) / w, (h - 1 - h // 2 + 0.5) / h, (-(h // 2) - 0.5) / h)


def spectrum_2d_figure(maps: dict[str, np.ndarray], counts: dict[str, int]):
    """Mean 2-D log power spectrum per class on one scale; plus the second class minus the first
    (diverging, centred at 0) when two classes share a size."""
    plt = pyplot()
    names = list(maps)
    if not names:
        raise ValueError("spectrum_2d_figure needs at least one class")
    diff = len(names) == 2 and maps[names[0]].shape == maps[names[1]].shape
    n_panels = len(names) + int(diff)
    fig, axes = plt.subplots(1, n_panels, figsize=(4.6 * n_panels, 4.2), squeeze=False)
    lo = min(float(m.min()) for m in maps.values())
    hi = max(float(m.max()) for m in maps.values())
    for ax, name in zip(axes[0], names):
        extent = _freq_extent(maps[name].shape)
        im = ax.imshow(maps[name], cmap="magma", vmin=lo, vmax=hi, extent=extent)
        ax.set(title=f"{name} (n={counts[name]})", xlabel="horizontal frequency (cycles/pixel)",
               ylabel="vertical frequency (cycles/pixel)")
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="mean log power")
    if diff:
        d = maps[names[1]] - maps[names[0]]
        m = max(float(np.abs(d).max()), 1e-12)
        im = axes[0, -1].imshow(d, cmap=DIVERGING, vmin=-m, vmax=m, extent=extent)
        axes[0, -1].set(title=f"{names[1]} − {names[0]}", xlabel="horizontal frequency (cycles/pixel)")
        fig.colorbar(im, ax=axes[0, -1], fraction=0.046, pad=0.04, label="difference of mean log power")
    fig.suptitle("mean 2-D log power spectrum (DC at the centre)")
    fig.tight_layout()
    return fig
