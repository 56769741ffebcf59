"""The report notebook's training loop, reproduced once for every benchmark that compares against it.

    python -m benchmarks.report_loop ROOT MODEL SIZE BATCH WORKERS OUT   # the whole job, as train_job.py times it

Its shape: a Dataset doing ``Image.open(p).convert("RGB")``, ``transforms.Compose`` of Resize((S, S)),
ToTensor, Normalize; the backbone ending in ``Sequential(Linear, Sigmoid)``; ``BCELoss``, AdamW 1e-4,
``loss.item()`` and an accuracy ``.item()`` every step; validation under ``no_grad``; ``torch.save`` of the
state dict. Only torch, torchvision and Pillow are imported, so the job pays no start-up of ours.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torchvision
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # ImageNet, as the report normalises


class ReportDataset(Dataset):
    """The report notebook's dataset."""

    def __init__(self, paths: list[str], labels: list[int], transform) -> None:
        self.paths, self.labels, self.transform = paths, labels, transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        return self.transform(Image.open(self.paths[i]).convert("RGB")), self.labels[i]


def report_transform(size: int) -> transforms.Compose:
    return transforms.Compose([transforms.Resize((size, size)), transforms.ToTensor(), transforms.Normalize(MEAN, STD)])


def split_loader(root: Path, split: str, size: int, batch_size: int, workers: int, shuffle: bool) -> DataLoader:
    """``root/split/{0_real,1_fake}/*`` as the report loads it."""
    items = [(str(p), y) for y, c in enumerate(("0_real", "1_fake")) for p in sorted((Path(root) / split / c).iterdir())]
    dataset = ReportDataset([p for p, _ in items], [y for _, y in items], report_transform(size))
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=workers)


def report_model(name: str) -> nn.Module:
    torch.manual_seed(0)
    model = torchvision.models.get_model(name)
    model.fc = nn.Sequential(nn.Linear(model.fc.in_features, 1), nn.Sigmoid())
    return model


def train_epoch(model: nn.Module, opt: torch.optim.Optimizer, loader: DataLoader, device: torch.device) -> float:
    """One epoch of the report's loop; returns images/s."""
    crit = nn.BCELoss()
    model.train()
    start, n, running_loss, correct = time.perf_counter(), 0, 0.0, 0
    for images, labels in loader:
        images, labels = images.to(device), labels.float().to(device)
        opt.zero_grad()
        out = model(images).squeeze(1)
        loss = crit(out, labels)
        loss.backward()
        opt.step()
        running_loss += loss.item() * images.size(0)  # the per-step host syncs of the notebook
        correct += ((out > 0.5).float() == labels).sum().item()
        n += images.size(0)
    return n / (time.perf_counter() - start)


def validate(model: nn.Module, loader: DataLoader, device: torch.device) -> float:
    model.eval()
    correct, n = 0, 0
    with torch.no_grad():
        for images, labels in loader:
            correct += ((model(images.to(device)).squeeze(1) > 0.5).float() == labels.float().to(device)).sum().item()
            n += len(labels)
    return correct / n


def job(root: str, model_name: str, size: int, batch_size: int, workers: int, out: str) -> None:
    """The whole job: one epoch, validation, the state dict saved."""
    device = torch.device("cpu")
    model = report_model(model_name)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    train_epoch(model, opt, split_loader(Path(root), "train", size, batch_size, workers, True), device)
    validate(model, split_loader(Path(root), "val", size, batch_size, workers, False), device)
    torch.save(model.state_dict(), out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("root", help="root with train|val/0_real|1_fake")
    p.add_argument("model", help="a torchvision ResNet")
    for name in ("size", "batch_size", "workers"):
        p.add_argument(name, type=int)
    p.add_argument("out", help="where the state dict goes")
    args = p.parse_args(argv)
    job(args.root, args.model, args.size, args.batch_size, args.workers, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
