"""Turn a config into its components, through the registries: the one place that does.

``TrainingParts.from_config`` builds what the trainer is handed; ``check_config`` builds every
component of a config once without doing any work (the model on PyTorch's "meta" device, which
allocates nothing), so that a value a component refuses fails before a run folder exists.
``resolve_config`` loads a config with that check, naming the file or override at fault.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

from siamface.config import Config, DataConfig, load_config
from siamface.data.preprocess import FRAME_SIZE
from siamface.errors import ConfigError, reason_of
from siamface.losses import LOSSES, PairLoss
from siamface.models import SiameseNet
from siamface.models.io import build_from_section
from siamface.training.augment import BatchAugment
from siamface.training.early_stopping import EarlyStopping
from siamface.training.optim import build_optimizer
from siamface.training.schedules import Schedule, build_schedule


def build_run_model(config: Config) -> SiameseNet:
    """The model a config names, for the input its data section makes."""
    return build_from_section(config.model.to_dict(), config.data.channels, config.data.size)


def build_loss(config: Config) -> PairLoss:
    """The loss a config names."""
    return LOSSES.build_section(config.loss.name, config.loss.kwargs, "loss")


@dataclass
class TrainingParts:
    """Everything the trainer is handed, built from one config.

    Attributes:
        model: The network, in ``memory_format``.
        loss_fn: The pair loss.
        optimizer: Over the model's parameter groups.
        schedule: Learning rate (and momentum) by fractional epoch.
        augment: The batched training augmentation.
        early_stopping: The early-stopping rule.
        memory_format: The model's and its training input's (``train.channels_last``).
    """

    model: SiameseNet
    loss_fn: PairLoss
    optimizer: torch.optim.Optimizer
    schedule: Schedule
    augment: BatchAugment
    early_stopping: EarlyStopping
    memory_format: torch.memory_format

    @classmethod
    def from_config(cls, config: Config) -> TrainingParts:
        """Build every part; the model's initial weights come from ``config.seed``."""
        torch.manual_seed(config.seed)  # the initial weights
        model = build_run_model(config)
        memory_format = (torch.channels_last if config.train.channels_last
                         else torch.contiguous_format)
        model.to(memory_format=memory_format)
        return cls(
            model=model,
            loss_fn=build_loss(config),
            optimizer=build_optimizer(config.optim, model),
            schedule=build_schedule(config.schedule, total_epochs=config.train.epochs),
            augment=BatchAugment.from_config(config.augment),
            early_stopping=EarlyStopping.from_config(config.train.early_stopping),
            memory_format=memory_format,
        )


def check_config(config: Config) -> None:
    """Build every component of ``config`` (the model on the meta device, with a shape-only
    forward pass of the data's input): a value any of them refuses raises its ConfigError now,
    before anything is written."""
    _check_new_data(config.data)
    _check_batch(config)
    with torch.device("meta"):
        # a keyword argument torch refuses, e.g. a width of 1.5 channels
        with _refused("model", config.model.name, (TypeError, ValueError)):
            model = build_run_model(config)  # (also refuses one of too many parameters)
        # a combination torch refuses, e.g. nesterov without a momentum
        with _refused("optim", config.optim.name, (ValueError,)):
            build_optimizer(config.optim, model)
        shape = (2, config.data.channels, config.data.size, config.data.size)
        try:  # a forward pass on meta tensors computes shapes only
            model.eval().embed(torch.empty(shape))
        except (RuntimeError, ValueError) as err:
            c, size = config.data.channels, config.data.size
            raise ConfigError(
                f"model: {config.model.name} cannot take the {c}x{size}x{size} images that "
                f"data.channels and data.size make ({reason_of(err)})"
            ) from None
    loss = build_loss(config)
    if loss.reads == "distances" and not model.head.logits_follow_distances:
        raise ConfigError(
            f"loss: {config.loss.name} trains the pairs' distances alone, and the logits of "
            f"{config.model.name}'s head do not follow them (its weights would stay as they "
            "began, and the threshold and accuracy with them); use model.head: euclidean or "
            "cosine, or a loss on the logits")
    try:  # building a schedule is cheap and checks its values too
        build_schedule(config.schedule, total_epochs=config.train.epochs)
    except TypeError as e:  # a value of the wrong type, e.g. step_size: "ten"
        raise ConfigError(f"schedule: {e}") from None


@contextmanager
def _refused(section: str, name: str, errors: tuple[type[Exception], ...]) -> Iterator[None]:
    """Re-raise what building the ``section`` component ``name`` refuses (one of ``errors``)
    as a ConfigError naming them; a ConfigError of its own passes through as it is."""
    try:
        yield
    except ConfigError:
        raise
    except errors as err:
        raise ConfigError(f"{section}: {name} cannot be built from its values "
                          f"({reason_of(err)})") from None


def _check_new_data(data: DataConfig) -> None:
    """What a new run's data section may no longer ask for (runs that did still load): pixels
    beyond LFW's frame (a 4096-pixel cache was 666 GB), and mined pairs with identity batches
    (which ignored them)."""
    if data.size > FRAME_SIZE:
        raise ConfigError(f"data.size: expected at most {FRAME_SIZE} (LFW's frames are "
                          f"{FRAME_SIZE}x{FRAME_SIZE}), got {data.size}")
    if data.mined_pairs and data.sampling != "pairs":
        raise ConfigError(f"data.mined_pairs: expected 0 with data.sampling: identities "
                          "(identity batches draw pairs from every training image already), "
                          f"got {data.mined_pairs}")


# The most images one training step takes: 32 times the default's 128. Each image's
# activations are kept for the backward pass, so far more is an out-of-memory kill, not an error.
MAX_STEP_IMAGES = 4096


def _check_batch(config: Config) -> None:
    """Refuse a training step of more than MAX_STEP_IMAGES images."""
    data = config.data
    if data.sampling == "pairs":
        images, keys = 2 * config.train.batch_size, "train.batch_size (pairs: 2 images each)"
    else:
        images = data.identities_per_batch * data.images_per_identity
        keys = "data.identities_per_batch x data.images_per_identity"
    if images > MAX_STEP_IMAGES:
        raise ConfigError(f"{keys}: a step of {images:,} images; expected at most "
                          f"{MAX_STEP_IMAGES:,}")


def resolve_config(name_or_path: str | Path, overrides: Iterable[str] = ()) -> Config:
    """Load a config (a shipped name or a YAML path) with overrides, every component checked.

    Args:
        name_or_path: "default", "koch2015", ... or a path.
        overrides: Dotted ``key=value`` strings, e.g. ``["train.epochs=5"]``.
    """
    return load_config(name_or_path, overrides, check=check_config)
