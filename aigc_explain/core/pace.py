"""What a training run will cost, said once after its first steps on a CPU (where a default sized for a GPU can
mean hours), with a CPU-sized choice when an epoch takes longer than ten minutes."""

from __future__ import annotations

import logging
import time

log = logging.getLogger("aigc_explain.core.training")


class PaceNote:
    """Once, after the first steps of a run on a CPU: what an epoch and the whole run will take at this pace,
    and what a CPU-sized run looks like when this one is not."""
    STEPS = 10

    def __init__(self, batches: int, batch_size: int, epochs_left: int, device: str) -> None:
        self.batches, self.batch_size, self.epochs_left = batches, batch_size, epochs_left
        self.active, self.start, self.seen = device == "cpu" and batches > self.STEPS, None, 0

    def step(self) -> None:
        if not self.active:
            return
        if self.start is None:  # the clock starts after the first batch: start-up is not the pace
            self.start = time.perf_counter()
            return
        self.seen += 1
        if self.seen == self.STEPS:
            self.active = False
            per_batch = (time.perf_counter() - self.start) / self.STEPS
            epoch = per_batch * self.batches
            log.info("on this CPU: %.1f images/s, so about %s an epoch and %s for the %d epoch(s) left%s",
                     self.batch_size / per_batch, _duration(epoch), _duration(epoch * self.epochs_left),
                     self.epochs_left, "" if epoch < 600 else "; for a CPU-sized run try --model mobilenet_v2 "
                     "--img-size 64 --epochs 3 -b 32")


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min" if seconds < 7200 else \
        f"{seconds / 3600:.1f} h"
