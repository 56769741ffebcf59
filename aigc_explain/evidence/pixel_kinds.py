"""The pixel side's kinds of evidence (``kinds.EvidenceKind``): the residual energy per class, its localisation
on the pooled grid, the mean images and the residual fingerprint. They give the maps of pixel_evidence.npz and
the pixel part of audit.json."""

from __future__ import annotations

import numpy as np

from aigc_explain.evidence.features import MeanImages
from aigc_explain.evidence.kinds import Batch, Context, PerImage, check_merge, two_classes
from aigc_explain.evidence.localise import localise, pooled_log_energy
from aigc_explain.evidence.pixels import PixelEvidence, ResidualFingerprint
from aigc_explain.evidence.summary import fingerprint_peak
from aigc_explain.runs.audit_summary import FingerprintPeak, Localisation


class PixelEnergy:
    """Per class the streaming mean and variance of the residual energy (``pixels.PixelEvidence``).

    summary(): none — its region masses need the Poisson bootstrap, and the audit localises on the pooled grid
    instead (``BlockEnergy``); returns None."""
    name = "pixels"

    def __init__(self, ctx: Context) -> None:
        self.acc = PixelEvidence(ctx.shape, n_boot=None)

    def add(self, batch: Batch) -> None:
        self.acc.add(batch.energy, batch.labels)

    def merge(self, other: PixelEnergy) -> None:
        check_merge(self, other)
        self.acc.merge(other.acc)

    def state_dict(self) -> dict[str, np.ndarray]:
        return self.acc.state_dict()

    def summary(self) -> None:
        return None

    def maps(self) -> dict[str, np.ndarray]:
        """The class means, fake − real, its Welch t (NaN without two of each class), and the unit-mass maps
        ``excess`` = ReLU(fake − real) and ``differ`` = |fake − real| (zeros where there is none)."""
        if min(self.acc.n) < 1:
            return {}
        diff = self.acc.difference_map()

        def unit(m: np.ndarray) -> np.ndarray:
            return m / m.sum() if m.sum() > 0 else m

        return {"mean_real": self.acc.mean_map(0), "mean_fake": self.acc.mean_map(1), "difference": diff,
                "t": self.acc.t_map() if min(self.acc.n) >= 2 else np.full(diff.shape, np.nan),
                "excess": unit(np.maximum(diff, 0.0)), "differ": unit(np.abs(diff))}


class BlockEnergy(PerImage):
    """Per image the log residual energy pooled on the localisation grid; summary() is the localisation against
    its label-permutation null (``localise``), None without two images of each class."""
    name = "blocks"

    def __init__(self, ctx: Context) -> None:
        super().__init__()
        self.ctx, self._result = ctx, None

    def add(self, batch: Batch) -> None:
        self._extend(batch.once(self.name, lambda: pooled_log_energy(batch.energy, self.ctx.block)), batch.labels)
        self._result = None

    def merge(self, other: BlockEnergy) -> None:
        super().merge(other)
        self._result = None

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"features": np.stack(self.rows) if self.rows else np.zeros((0, np.prod(self.ctx.grid)), np.float32),
                "labels": np.asarray(self.labels, np.int64)}

    def summary(self) -> Localisation | None:
        if self._result is None and two_classes(self.labels):
            s = self.ctx.settings
            self._result = localise(np.stack(self.rows), np.array(self.labels), self.ctx.grid, fracs=self.ctx.fracs,
                                    n_perm=s.n_perm, seed=s.seed)
        return self._result

    def maps(self) -> dict[str, np.ndarray]:
        """``t_local``: the localisation's t on its grid, repeated to the audit size."""
        loc = self.summary()
        if loc is None:
            return {}
        k = self.ctx.size // loc.grid[0]
        t = np.array(loc.t_map, dtype=float).reshape(loc.grid)
        return {"t_local": np.kron(t, np.ones((k, k)))}


class MeanImage:
    """Per class the running sum of the RGB images (``features.MeanImages``). summary(): none — the mean images
    are pictures for the panels, not numbers of audit.json; returns None."""
    name = "means"

    def __init__(self, ctx: Context) -> None:
        self.acc = MeanImages(ctx.shape)

    def add(self, batch: Batch) -> None:
        self.acc.add(batch.images, batch.labels)

    def merge(self, other: MeanImage) -> None:
        check_merge(self, other)
        self.acc.merge(other.acc)

    def state_dict(self) -> dict[str, np.ndarray]:
        return self.acc.state_dict()

    def summary(self) -> None:
        return None

    def maps(self) -> dict[str, np.ndarray]:
        if min(self.acc.n) < 1:
            return {}
        return {"image_real": self.acc.mean(0), "image_fake": self.acc.mean(1)}


class Fingerprint:
    """The residuals' spectra per class (``pixels.ResidualFingerprint``); summary() is the fakes' sharpest
    periodic line (``summary.fingerprint_peak``), None without two images of each class."""
    name = "fingerprint"

    def __init__(self, ctx: Context) -> None:
        self.acc = ResidualFingerprint(ctx.shape)

    def add(self, batch: Batch) -> None:
        self.acc.add(batch.residuals, batch.labels)

    def merge(self, other: Fingerprint) -> None:
        check_merge(self, other)
        self.acc.merge(other.acc)

    def state_dict(self) -> dict[str, np.ndarray]:
        return self.acc.state_dict()

    def summary(self) -> FingerprintPeak | None:
        return fingerprint_peak(self.acc) if (self.acc.n >= 2).all() else None

    def maps(self) -> dict[str, np.ndarray]:
        if min(self.acc.n) < 1:
            return {}
        fp = self.acc
        return {"log_real": fp.mean_log_power(0), "log_fake": fp.mean_log_power(1),
                "mean_real_power": fp.mean_residual_power(0), "mean_fake_power": fp.mean_residual_power(1)}
