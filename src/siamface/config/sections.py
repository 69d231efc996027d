"""The sections of a run's config: their keys, types, defaults and ranges, each written once.

Each section is the argument list of one component (``data`` of the training inputs and the
preprocessing, ``optim`` of the optimizer, ``augment`` of ``BatchAugment``, ...). The sections
built by name from a registry (``model``, ``loss``, ``schedule``) hold a name and the factory's
options; the registry and the component check those (see ``siamface.training.builder``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from siamface.data.people import VIEW2_FOLDS
from siamface.data.preprocess import Preprocessing, preset
from siamface.errors import ConfigError, UnknownNameError
from siamface.utils.settings import (
    FLOAT32_POSITIVE,
    PLAIN_NAME,
    ComponentSettings,
    Settings,
    check,
    is_plain_name,
    is_positive_float32,
)


@dataclass
class ModelConfig(ComponentSettings):
    """``name`` in siamface.models.MODELS plus its factory's options."""

    SECTION: ClassVar[str] = "model"
    name: str = "koch2015"


@dataclass
class LossConfig(ComponentSettings):
    """``name`` in siamface.losses.LOSSES plus its options."""

    SECTION: ClassVar[str] = "loss"
    name: str = "bce"


@dataclass
class ScheduleConfig(ComponentSettings):
    """``name`` in siamface.training.schedules.SCHEDULES plus its options."""

    SECTION: ClassVar[str] = "schedule"
    name: str = "constant"


@dataclass
class DataConfig(Settings):
    """What the network sees and how training batches are drawn.

    Args:
        preprocessing: A preset name ("full", "face", "tight"), an explicit crop box
            ``[left, top, right, bottom]`` in the 250x250 source frame, or null (full frame).
        size: Side of the square network input in pixels.
        channels: 1 (grey) or 3 (RGB).
        split: How validation data is held out of the scope's pairs (pairsDevTrain): "person"
            (no person on both sides) or "random" (pairs at random; people leak, it warns).
        val_fraction: Fraction held out for validation.
        sampling: "pairs" trains on the pairsDevTrain pairs only (LFW's restricted setting);
            "identities" draws P x K identity batches from DevTrain people's images (the
            unrestricted setting, which uses identity labels).
        mined_pairs: Extra pairs drawn once a run (seeded), uniformly at random, from the
            training people's images (half matching), and shuffled with the training pairs
            every epoch; with "pairs" sampling, which they make
            unrestricted; identity batches draw from every training image already (a new
            config may not set both: ``training.builder.check_config``).
        identities_per_batch: P, people per identity batch.
        images_per_identity: K, images per person in an identity batch.
        min_images_per_person: People with fewer images are left out of identity sampling
            (a person needs two images to make a pair, so 1 acts as 2).
        view2_fold: null trains on View 1 (DevTrain; DevTest held out); a fold of View 2 (0-9)
            trains on the other nine folds of pairs.txt / people.txt and holds that fold's
            people out (LFW's reporting protocol, run by ``siamface view2``).
    """

    SECTION: ClassVar[str] = "data"

    preprocessing: str | list[int] | None = "face"
    size: int = 105
    channels: Literal[1, 3] = 1
    split: Literal["person", "random"] = "person"
    val_fraction: float = 0.1
    sampling: Literal["pairs", "identities"] = "pairs"
    mined_pairs: int = 0
    identities_per_batch: int = 16
    images_per_identity: int = 4
    min_images_per_person: int = 2
    view2_fold: int | None = None

    @property
    def restricted(self) -> bool:
        """Whether training keeps to LFW's image-restricted rules: the scope's pairs only, no
        pair made up from the people's names (``data.splits.split_pairs_by_person``)."""
        return self.sampling == "pairs" and self.mined_pairs == 0

    def __post_init__(self) -> None:
        try:  # Preprocessing owns the checks of the crop box, size and channels
            self.preprocessing_settings()
        except UnknownNameError as err:
            raise ConfigError(f"data.preprocessing: {err}") from None
        except ValueError as err:  # its messages start with the field: "crop must satisfy..."
            field_ = str(err).split()[0]
            key = "preprocessing" if field_ == "crop" else field_
            raise ConfigError(f"data.{key}: expected a {field_} that Preprocessing takes: "
                              f"{err}") from None
        check(0.0 < self.val_fraction < 1.0, "data.val_fraction", "a fraction in (0, 1)",
              self.val_fraction)
        check(self.mined_pairs >= 0, "data.mined_pairs", "a count >= 0", self.mined_pairs)
        # an identity batch needs two people (for negatives) and two images each (for positives)
        check(self.identities_per_batch >= 2, "data.identities_per_batch", "at least 2",
              self.identities_per_batch)
        check(self.images_per_identity >= 2, "data.images_per_identity", "at least 2",
              self.images_per_identity)
        check(self.min_images_per_person >= 1, "data.min_images_per_person", "at least 1",
              self.min_images_per_person)
        check(self.view2_fold is None or 0 <= self.view2_fold < VIEW2_FOLDS, "data.view2_fold",
              f"null or a fold from 0 to {VIEW2_FOLDS - 1}", self.view2_fold)

    def preprocessing_settings(self) -> Preprocessing:
        """The Preprocessing this section asks for (a preset name or an explicit crop box)."""
        if isinstance(self.preprocessing, str):
            return preset(self.preprocessing, size=self.size, channels=self.channels)
        crop = None if self.preprocessing is None else tuple(self.preprocessing)
        return Preprocessing(crop=crop, size=self.size,  # type: ignore[arg-type]
                             channels=self.channels)


@dataclass
class OptimConfig(Settings):
    """The optimizer: ``name`` in siamface.training.optim.OPTIMIZERS and its hyperparameters.

    ``momentum``, ``nesterov`` and ``betas`` are null unless set; setting one the optimizer does
    not take (``momentum`` for Adam) is an error rather than silently ignored.

    Args:
        name: "sgd", "adam", "adamw" or "rmsprop".
        lr: Base learning rate (the schedule multiplies it).
        weight_decay: L2 on weights (not on biases or norm layers, see optim.py).
        momentum: SGD / RMSprop momentum.
        nesterov: SGD Nesterov momentum.
        betas: Adam / AdamW ``[beta1, beta2]``.
        layer_weight_decay: Parameter-name prefix -> L2, overriding ``weight_decay`` for the
            parameters under that prefix (the paper's per-layer lambda_j).
        grad_clip: Clip the global gradient norm to this value; null for none.
    """

    SECTION: ClassVar[str] = "optim"

    name: str = "sgd"
    lr: float = 0.01
    weight_decay: float = 0.0
    momentum: float | None = None
    nesterov: bool | None = None
    betas: list[float] | None = None
    layer_weight_decay: dict[str, float] = field(default_factory=dict)
    grad_clip: float | None = None

    def __post_init__(self) -> None:
        check(self.lr > 0, "optim.lr", "a positive number", self.lr)
        check(self.weight_decay >= 0, "optim.weight_decay", "a number >= 0", self.weight_decay)
        if self.momentum is not None:
            check(0 <= self.momentum < 1, "optim.momentum", "a number in [0, 1)", self.momentum)
        if self.betas is not None:
            ok = len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas)
            check(ok, "optim.betas", "[beta1, beta2] in [0, 1)", self.betas)
        for prefix, wd in self.layer_weight_decay.items():
            check(wd >= 0, f"optim.layer_weight_decay.{prefix}", "a number >= 0", wd)
        if self.grad_clip is not None:
            check(self.grad_clip > 0, "optim.grad_clip", "a positive number or null",
                  self.grad_clip)

    def hyperparameters(self) -> dict[str, Any]:
        """The keyword arguments for the optimizer factory: ``lr`` and whatever else is set."""
        out: dict[str, Any] = {"lr": self.lr}
        for key in ("momentum", "nesterov", "betas"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


@dataclass
class AugmentConfig(Settings):
    """Batched random augmentation of training images (see augment.py).

    Args:
        enabled: Off means the images pass through untouched.
        affine_p: Probability of each affine component (rotation, the two shears, the two
            scales, the two translations), drawn independently per image; the paper uses 0.5.
        rotation_deg: Rotation angle drawn from [-rotation_deg, rotation_deg] degrees.
        shear: Shears drawn from [-shear, shear] (below 1, so the map stays invertible).
        scale: ``[low, high]`` range of the x and y scale factors.
        translate_px: Translations drawn from [-translate_px, translate_px] pixels of the
            network input.
        hflip_p: Probability of a horizontal flip.
        brightness: Brightness factor drawn from [1 - brightness, 1 + brightness].
        contrast: Contrast factor drawn from [1 - contrast, 1 + contrast].
        grey_p: Probability that a colour image is turned grey (its luminance in each
            channel), so that grey photos are less foreign to an RGB model; nothing for
            one-channel input.
    """

    SECTION: ClassVar[str] = "augment"

    enabled: bool = True
    affine_p: float = 0.5
    rotation_deg: float = 10.0
    shear: float = 0.3
    scale: list[float] = field(default_factory=lambda: [0.8, 1.2])
    translate_px: float = 2.0
    hflip_p: float = 0.0
    brightness: float = 0.0
    contrast: float = 0.0
    grey_p: float = 0.0

    def __post_init__(self) -> None:
        for key in ("affine_p", "hflip_p", "grey_p"):
            check(0 <= getattr(self, key) <= 1, f"augment.{key}", "a probability in [0, 1]",
                   getattr(self, key))
        check(0 <= self.rotation_deg <= 180, "augment.rotation_deg", "degrees in [0, 180]",
              self.rotation_deg)
        check(0 <= self.shear < 1, "augment.shear", "a number in [0, 1)", self.shear)
        ok = len(self.scale) == 2 and self.scale[0] <= self.scale[1] and all(
            is_positive_float32(s) for s in self.scale)  # 1e-300 is 0 in float32: singular
        check(ok, "augment.scale", f"[low, high] with low <= high, each {FLOAT32_POSITIVE}",
              self.scale)
        check(self.translate_px >= 0, "augment.translate_px", "pixels >= 0", self.translate_px)
        for key in ("brightness", "contrast"):
            check(0 <= getattr(self, key) < 1, f"augment.{key}", "a number in [0, 1)",
                   getattr(self, key))


@dataclass
class EarlyStoppingConfig(Settings):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    Args:
        monitor: "val_loss" (minimised), "val_acc" or "val_auc" (maximised).
        patience: Epochs without improvement before stopping; null never stops early.
        min_delta: The smallest change that counts as an improvement.
        restore_best: End with the weights of the best epoch rather than the last.
    """

    SECTION: ClassVar[str] = "train.early_stopping"

    monitor: Literal["val_loss", "val_acc", "val_auc"] = "val_loss"
    patience: int | None = 10
    min_delta: float = 0.0
    restore_best: bool = True

    def __post_init__(self) -> None:
        if self.patience is not None:
            check(self.patience >= 1, "train.early_stopping.patience", "at least 1 or null",
                  self.patience)
        check(self.min_delta >= 0, "train.early_stopping.min_delta", "a number >= 0",
              self.min_delta)


# The keys that say only how a run runs, not what it computes: a resumed run may change these
# (and nothing else: it continues exactly as the uninterrupted run would have).
RUN_SETTINGS = ("train.time_budget_s", "train.threads", "train.keep_freed_memory",
                "train.eval_batch_size", "train.log_every", "train.keep_checkpoints")
MAX_THREADS = 1024  # far above any CPU's; a million threads crashed torch
MAX_EPOCHS = 100_000  # years of training on any machine; checking a schedule scans each


@dataclass
class TrainConfig(Settings):
    """The training loop.

    Args:
        epochs: Maximum number of epochs.
        batch_size: Pairs per step ("pairs" sampling); identity batches have P x K images.
        early_stopping: See EarlyStoppingConfig.
        time_budget_s: Stop after this many seconds of training, at the end of the last epoch
            that fits (a resumed run counts the seconds it trained before); null for no limit.
        threads: torch CPU threads; null leaves torch's default. 1 makes a run repeatable bit
            for bit; with more, some CPU kernels sum in a varying order, so two runs of one
            seed differ in the last bits from the second step on (measured).
        channels_last: Use the channels-last memory format (often faster for convs on CPU).
        keep_freed_memory: On glibc, keep freed memory for reuse instead of returning it to the
            OS, so each step's large buffers do not page-fault anew (~20% faster steps,
            5-30% more resident memory); see ``siamface.utils.allocator``.
        eval_batch_size: Images per forward pass when embedding for evaluation.
        precision: "fp32", "bf16" (autocast of training's forward passes and of validation's
            embedding; the head's validation scores, loss, metrics and optimizer state stay
            fp32) or "auto": bf16 on a CPU with AMX-BF16 or AVX512-BF16 (unless
            ONEDNN_MAX_CPU_ISA caps oneDNN below them), fp32 elsewhere (see
            ``siamface.utils.precision``).
        log_every: Write the epoch's running loss to train.log every this many steps.
        keep_checkpoints: Epoch checkpoints kept besides the best, the newest ones: 2 is enough
            to resume and keeps koch2015's 156 MB of weights (plus Adam's two moments) an epoch
            from filling a disk; raise it to the epoch count to study every epoch's model later.
    """

    SECTION: ClassVar[str] = "train"

    epochs: int = 30
    batch_size: int = 128
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)
    time_budget_s: float | None = None
    threads: int | None = None
    channels_last: bool = False
    keep_freed_memory: bool = True
    eval_batch_size: int = 256
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    log_every: int = 50
    keep_checkpoints: int = 2

    def __post_init__(self) -> None:
        for key in ("epochs", "batch_size", "eval_batch_size", "log_every", "keep_checkpoints"):
            check(getattr(self, key) >= 1, f"train.{key}", "at least 1", getattr(self, key))
        check(self.epochs <= MAX_EPOCHS, "train.epochs", f"at most {MAX_EPOCHS:,}", self.epochs)
        if self.time_budget_s is not None:
            check(self.time_budget_s > 0, "train.time_budget_s", "seconds > 0 or null",
                  self.time_budget_s)
        if self.threads is not None:
            check(1 <= self.threads <= MAX_THREADS, "train.threads",
                  f"1 to {MAX_THREADS} or null", self.threads)


@dataclass
class Config(Settings):
    """A whole run: its name, seed and one field per section."""

    SECTION: ClassVar[str] = ""

    name: str = "default"
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        check(is_plain_name(self.name), "name", PLAIN_NAME, self.name)
        # the trainer seeds each epoch's generators with seed * 1_000_033 + epoch, an int64:
        # 2**43 (8.8e12, beyond a timestamp in milliseconds) keeps that under 2**63
        check(0 <= self.seed < 2**43, "seed", "an integer from 0 to 2**43 - 1", self.seed)
