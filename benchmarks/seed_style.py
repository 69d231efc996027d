"""A seed-style training loop: the plain PyTorch script the seed (student) projects wrote.

This is the baseline of the speed benchmarks (bench_training.py, bench_time_to_accuracy.py).
It is written the way those projects wrote it, on purpose:

- a ``Dataset`` of pairs that opens both JPEGs with PIL on every access, converts them to grey,
  resizes the whole 250x250 frame to 105x105 and makes float tensors; a torch ``DataLoader``
  shuffles and batches them (32 pairs, no worker processes);
- the Koch network as one ``nn.Sequential`` with BatchNorm after each convolution, PyTorch's
  default initialisation, and a weighted L1 head ``nn.Linear(4096, 1)`` on ``|h1 - h2|``;
- each pair's two images go through the network as two separate forward passes;
- Adam at 0.005, ``StepLR(step_size=10, gamma=0.1)`` stepped once per epoch;
- a random 20% of pairsDevTrain held out for validation. A random pair split puts the same
  people on both sides, so its validation score is optimistic; the seeds did it, so we do.

"But correct": the loss is computed on logits (``BCEWithLogitsLoss``, not sigmoid + BCELoss),
evaluation runs in eval mode under ``no_grad``, the decision threshold is chosen on the
validation split (not fixed at p = 0.5), and the model kept is the one with the best validation
accuracy. Nothing here is tuned for speed: that is the point of the baseline.

    .venv/bin/python benchmarks/seed_style.py --home /tmp/siamdata --epochs 5
"""

from __future__ import annotations

import argparse
import copy
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset

from siamface.data.lfw import LFWDataset, open_lfw
from siamface.evaluation.metrics import accuracy
from siamface.evaluation.threshold import best_accuracy_threshold

IMAGE_SIZE = 105
BATCH_SIZE = 32
LR = 0.005

# (path of image 1, path of image 2, 1 if the same person else 0)
PairItem = tuple[Path, Path, int]


def pair_list(lfw: LFWDataset, pairs_name: str) -> list[PairItem]:
    """The pairs of a protocol file as image paths and labels."""
    return [
        (lfw.image_path(p.left), lfw.image_path(p.right), int(p.same))
        for p in lfw.read_pairs(pairs_name).pairs
    ]


def random_split(
    pairs: list[PairItem], val_fraction: float = 0.2, seed: int = 0
) -> tuple[list[PairItem], list[PairItem]]:
    """Shuffle the pairs and hold out ``val_fraction`` of them for validation."""
    shuffled = list(pairs)
    random.Random(seed).shuffle(shuffled)
    n_val = int(len(shuffled) * val_fraction)
    return shuffled[n_val:], shuffled[:n_val]


def load_image(path: Path) -> torch.Tensor:
    """One JPEG as a (1, 105, 105) float tensor in [0, 1]: grey, full frame, resized."""
    img = Image.open(path).convert("L").resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR)
    return torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).unsqueeze(0)


class PairDataset(Dataset):
    """Pairs of images, decoded from disk every time an item is asked for.

    Args:
        pairs: (path 1, path 2, label) per pair.
    """

    def __init__(self, pairs: list[PairItem]) -> None:
        self.pairs = pairs

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        path1, path2, label = self.pairs[i]
        return load_image(path1), load_image(path2), torch.tensor(float(label))


class SiameseNetwork(nn.Module):
    """Koch et al.'s network with BatchNorm, as the seeds built it: 38,952,897 parameters."""

    def __init__(self) -> None:
        super().__init__()
        self.cnn = nn.Sequential(
            nn.Conv2d(1, 64, 10), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),  # 64x48x48
            nn.Conv2d(64, 128, 7), nn.BatchNorm2d(128), nn.ReLU(), nn.MaxPool2d(2),  # 128x21x21
            nn.Conv2d(128, 128, 4), nn.BatchNorm2d(128), nn.ReLU(), nn.MaxPool2d(2),  # 128x9x9
            nn.Conv2d(128, 256, 4), nn.BatchNorm2d(256), nn.ReLU(),  # 256x6x6
            nn.Flatten(),
            nn.Linear(256 * 6 * 6, 4096), nn.Sigmoid(),
        )
        self.out = nn.Linear(4096, 1)

    def forward_once(self, x: torch.Tensor) -> torch.Tensor:
        return self.cnn(x)  # (B, 1, 105, 105) -> (B, 4096)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        h1, h2 = self.forward_once(x1), self.forward_once(x2)
        return self.out(torch.abs(h1 - h2)).squeeze(1)  # (B,) logits, higher = same person


def train_one_epoch(
    model: SiameseNetwork,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    loss_fn: nn.Module,
    max_steps: int | None = None,
) -> float:
    """One pass over ``loader`` (or its first ``max_steps`` batches). Returns the mean loss."""
    model.train()
    total, steps = 0.0, 0
    for x1, x2, label in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(x1, x2), label)
        loss.backward()
        optimizer.step()
        total += loss.item()
        steps += 1
        if max_steps is not None and steps >= max_steps:
            break
    return total / max(steps, 1)


@torch.no_grad()
def predict(model: SiameseNetwork, loader: DataLoader) -> tuple[np.ndarray, np.ndarray]:
    """Logits and labels of every pair in ``loader``, in eval mode."""
    model.eval()
    logits, labels = [], []
    for x1, x2, label in loader:
        logits.append(model(x1, x2))
        labels.append(label)
    return torch.cat(logits).numpy().astype(np.float64), torch.cat(labels).numpy().astype(int)


def make_loader(pairs: list[PairItem], shuffle: bool, batch_size: int = BATCH_SIZE,
                seed: int = 0) -> DataLoader:
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(PairDataset(pairs), batch_size=batch_size, shuffle=shuffle,
                      generator=generator)


@dataclass
class EpochRecord:
    """One epoch of ``fit``.

    Attributes:
        epoch: 1-based.
        train_loss: Mean training loss.
        val_acc: Validation accuracy at the threshold chosen on validation.
        val_threshold: That threshold (logit scale).
        elapsed_s: Seconds of training and validation since ``fit`` started, not counting the
            time spent in ``on_epoch_end``.
        improved: Whether this epoch's model is the new best on validation (and so the model
            ``fit`` would end with if it stopped now).
    """

    epoch: int
    train_loss: float
    val_acc: float
    val_threshold: float
    elapsed_s: float
    improved: bool


def fit(
    train_pairs: list[PairItem],
    val_pairs: list[PairItem],
    epochs: int,
    time_budget_s: float | None = None,
    on_epoch_end: Callable[[SiameseNetwork, EpochRecord], None] | None = None,
    batch_size: int = BATCH_SIZE,
    seed: int = 0,
) -> tuple[SiameseNetwork, list[EpochRecord]]:
    """Train, validate after every epoch, keep the best model on validation accuracy.

    Args:
        train_pairs: Training pairs.
        val_pairs: Validation pairs (for the threshold and the choice of epoch).
        epochs: Maximum number of epochs.
        time_budget_s: Stop after the first epoch that ends this many seconds in.
        on_epoch_end: Called with the current model and the epoch's record; its time is not
            counted in ``elapsed_s`` (the benchmarks evaluate on test pairs there).
        batch_size: Pairs per step.
        seed: Seed of the weights and of the shuffling.

    Returns:
        The best model on validation and the per-epoch records.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    torch.manual_seed(seed)
    model = SiameseNetwork()
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=10, gamma=0.1)
    loss_fn = nn.BCEWithLogitsLoss()
    train_loader = make_loader(train_pairs, shuffle=True, batch_size=batch_size, seed=seed)
    val_loader = make_loader(val_pairs, shuffle=False, batch_size=batch_size)

    history: list[EpochRecord] = []
    best_acc, best_state = -1.0, None
    elapsed = 0.0
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        train_loss = train_one_epoch(model, train_loader, optimizer, loss_fn)
        scheduler.step()
        threshold, val_acc = best_accuracy_threshold(*predict(model, val_loader))
        improved = val_acc > best_acc
        if improved:
            best_acc, best_state = val_acc, copy.deepcopy(model.state_dict())
        elapsed += time.perf_counter() - t0
        record = EpochRecord(epoch, train_loss, val_acc, threshold, elapsed, improved)
        history.append(record)
        if on_epoch_end is not None:
            on_epoch_end(model, record)
        if time_budget_s is not None and elapsed >= time_budget_s:
            break
    model.load_state_dict(best_state)  # set by epoch 1: any accuracy beats -1
    return model, history


def evaluate_accuracy(model: SiameseNetwork, test_pairs: list[PairItem], threshold: float) -> float:
    """Accuracy on ``test_pairs`` at a threshold chosen elsewhere (on validation)."""
    return accuracy(*predict(model, make_loader(test_pairs, shuffle=False)), threshold)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="an imported data home")
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()
    lfw = open_lfw(args.home)
    train, val = random_split(pair_list(lfw, "pairsDevTrain.txt"))
    model, history = fit(train, val, args.epochs, on_epoch_end=lambda _, r: print(r, flush=True))
    best = max(history, key=lambda r: r.val_acc)
    acc = evaluate_accuracy(model, pair_list(lfw, "pairsDevTest.txt"), best.val_threshold)
    print(f"pairsDevTest accuracy {acc:.4f} (epoch {best.epoch}, threshold from validation)")


if __name__ == "__main__":
    main()
