"""The training loop: train, validate, log, checkpoint, stop. One epoch at a time.

Reading order: ``Trainer.from_config`` builds the parts a trainer is handed (see
``siamface.training.builder``); ``fit`` is the loop, in clearly ordered sections;
``_train_epoch`` and ``validate`` are the two halves of an epoch; ``train_step`` (with
``batch_input``, its data half) is one optimisation step, public so that benchmarks time
exactly the code that training runs.

Determinism: the batches of epoch e, the augmentation draws and dropout's masks all come from
generators seeded by (seed, e), and the optimizer state is checkpointed every epoch, so a run
resumed after epoch e continues exactly as the uninterrupted run would have. This holds within one
precision (``train.precision``): fp32 and bf16 runs of one seed differ.

Precision: in bf16 the embedding and head in training, and the embedding in validation, run
under bf16 autocast (validation's head scores in fp32, as evaluation's does); the logits are
cast to fp32 before the loss, and the weights, gradients and optimizer state are fp32
throughout.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from siamface.config import Config
from siamface.config.changes import changed_keys, flat_config
from siamface.config.sections import RUN_SETTINGS
from siamface.errors import SiamfaceWarning, WorkFailedError, reason_of
from siamface.evaluation.metrics import roc_auc
from siamface.evaluation.threshold import best_accuracy_threshold
from siamface.evaluation.verify import score_index_pairs
from siamface.models.io import load_state, to_model_input
from siamface.models.siamese import PairScores
from siamface.run_folder import Run
from siamface.training.batches import PairBatch
from siamface.training.builder import TrainingParts
from siamface.training.checkpoint import (
    META_FILE,
    MODEL_FILE,
    STATE_FILE,
    CheckpointError,
    CheckpointWriter,
    load_checkpoint,
    load_latest,
    point_best,
    verify_checkpoint,
)
from siamface.training.inputs import TrainingInputs
from siamface.training.optim import check_loaded_state
from siamface.utils.files import DamagedFileError, is_number
from siamface.utils.precision import autocast, choose_precision
from siamface.utils.settings import flatten
from siamface.utils.timing import PhaseTimer

log = logging.getLogger("siamface.train")


# a checkpoint as ``load_latest`` returns it: (model weights, meta, trainer state)
Checkpoint = tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, Any]]


def latest_checkpoint(run: Run, config: Config) -> Checkpoint:
    """The run's latest checkpoint to resume from, refused before any data or model is built
    where ``config`` (the run's config.yaml) has changed since it was written in anything but
    RUN_SETTINGS: the run would go on as another, and its record would say it was that one
    all along."""
    checkpoint = load_latest(run.path)
    trained_with, epoch = checkpoint[1].get("config"), checkpoint[1].get("epoch")
    if not isinstance(trained_with, dict):
        return checkpoint  # an older checkpoint's meta; the loads check what they use
    then = flatten(trained_with)
    changed = changed_keys(then, config)
    if changed:
        key, now = changed[0], flat_config(config)
        raise CheckpointError(
            f"{run.config_path}: {key} is {now.get(key, 'not set')!r}, but the run was "
            f"trained to epoch {epoch} with {then.get(key, 'not set')!r}; a resumed run goes "
            f"on as it began, so only {', '.join(RUN_SETTINGS)} may change: put it back, or "
            "start a new run")
    return checkpoint


def _spent(meta: dict[str, Any]) -> float:
    """Seconds the run had trained when ``meta``'s checkpoint was written (what its time
    budget has spent): recorded, or for a checkpoint from before, its epochs' seconds."""
    if "elapsed_s" not in meta:
        return sum(float(row["seconds"]) for row in meta["history"])
    spent = meta["elapsed_s"]
    if not (is_number(spent) and spent >= 0):
        raise ValueError(f"elapsed_s is {spent!r}, expected seconds")
    return float(spent)


class PrecisionKeptWarning(SiamfaceWarning):
    """A resumed run goes on in the precision it began in, not the one ``auto`` would choose
    on this machine."""


class TrainingDivergedError(WorkFailedError):
    """The loss became NaN or infinite; the checkpoints written so far are kept."""


@dataclass
class FitResult:
    """What ``Trainer.fit`` ends with.

    Attributes:
        best_epoch: The epoch whose weights the model now has (1-based).
        threshold: The logit threshold chosen on validation data for that epoch.
        history: The summary rows, one per epoch.
        stopped_because: "epochs", "early_stopping" or "time_budget".
        seconds: Wall seconds of this fit (of this process, when resumed) by phase:
            "training steps", "validation", and "checkpoints and logs" (the rest: summary.csv,
            the log, copying each epoch's state, waiting for the last checkpoint write).
    """

    best_epoch: int
    threshold: float
    history: list[dict[str, float]]
    stopped_because: str
    seconds: dict[str, float]


class Trainer:
    """Trains a Siamese model on prepared inputs, writing everything into its run folder.

    Args:
        config: The resolved run configuration (its ``train`` section, seed and grad clip;
            the whole of it is recorded in every checkpoint).
        parts: The model, loss, optimizer, schedule, augmentation and early stopping.
        inputs: Cache, batch sampler and validation pairs from ``prepare_inputs``.
        run: The run folder (summary.csv, checkpoints/).
        progress: Show a progress bar per epoch.
    """

    def __init__(self, config: Config, parts: TrainingParts, inputs: TrainingInputs, run: Run,
                 progress: bool = True) -> None:
        self.config = config
        self.inputs = inputs
        self.run = run
        self.progress = progress
        self.model = parts.model
        self.loss_fn = parts.loss_fn
        self.optimizer = parts.optimizer
        self.schedule = parts.schedule
        self.augment = parts.augment
        self.early_stopping = parts.early_stopping
        self.memory_format = parts.memory_format
        self.precision = choose_precision(config.train.precision)  # "fp32" or "bf16"
        self.history: list[dict[str, float]] = []
        self.start_epoch = 0  # epochs already done (0-based index of the next epoch)
        self.spent_s = 0.0  # seconds trained before this process (a resumed run's)

    @classmethod
    def from_config(cls, config: Config, inputs: TrainingInputs, run: Run,
                    progress: bool = True) -> Trainer:
        """A trainer with every part built from ``config`` (``TrainingParts.from_config``)."""
        return cls(config, TrainingParts.from_config(config), inputs, run, progress)

    # -- resume ----------------------------------------------------------------------------

    def resume(self, checkpoint: Checkpoint) -> None:
        """Continue after the epoch of ``checkpoint`` (``latest_checkpoint``'s); refuse one
        whose state does not fit, or a run whose best epoch's checkpoint, needed at the end,
        is gone or damaged (``pipeline.train`` checks the data)."""
        state_dict, meta, trainer_state = checkpoint
        folder = self.run.checkpoint_dir(meta["epoch"])
        built = [dict(group) for group in self.optimizer.param_groups]
        try:
            load_state(self.model, state_dict, folder / MODEL_FILE)
            self.optimizer.load_state_dict(trainer_state["optimizer"])
            check_loaded_state(self.optimizer, built, folder / STATE_FILE)
            self.early_stopping.load_state_dict(meta["early_stopping"])
            self.history = list(meta["history"])
            self.start_epoch = int(meta["epoch"])
            self.spent_s = _spent(meta)
        except DamagedFileError as err:  # (a ValueError) names the file itself
            raise CheckpointError(str(err)) from None
        except (KeyError, TypeError, ValueError, RuntimeError) as err:
            raise CheckpointError(
                f"the checkpoint in {self.run.checkpoints_dir} does not fit this run's model, "
                f"optimizer or early stopping ({reason_of(err, last=True)}); was "
                f"{self.run.config_path} edited?"
            ) from None
        best = self.early_stopping.best_epoch_
        bad = self.early_stopping.bad_epochs_  # epochs since the best, or since the start
        if (best or 0) > self.start_epoch or bad != self.start_epoch - (best or 0):
            raise CheckpointError(
                f"{folder / META_FILE}: early_stopping says epoch {best} was the best and "
                f"{bad} epochs since were not, after epoch {self.start_epoch}: it was edited "
                "or damaged")
        # a crash between the writes of latest.json and best.json, or a fallback past a damaged
        # latest checkpoint, can leave best.json naming another epoch (and pruning spares it)
        if best is not None:
            best_dir = self.run.checkpoint_dir(best)
            if self.config.train.early_stopping.restore_best:  # found now, not after training
                try:
                    verify_checkpoint(best_dir)
                except CheckpointError as err:
                    raise CheckpointError(
                        f"{err}; the run's best epoch so far is {best}, whose weights it would "
                        "restore at the end: they are lost, so start a new run") from None
            if best_dir.is_dir():
                point_best(self.run.path, best)
        self._keep_precision()
        log.info("resumed %s after epoch %d", self.run.path, self.start_epoch)

    def _keep_precision(self) -> None:
        """Go on in the precision the run began in (environment.json), which ``auto`` may
        resolve otherwise on another machine or under another oneDNN cap: the epochs of a
        resumed run are those the uninterrupted run would have trained."""
        began = self.run.precision_used()
        if began is not None and began != self.precision:
            warnings.warn(PrecisionKeptWarning(
                f"{self.run.environment_path}: the run began in {began} and goes on in it, "
                f"where train.precision: {self.config.train.precision} would choose "
                f"{self.precision} on this machine"), stacklevel=3)
            self.precision = began

    # -- the loop ----------------------------------------------------------------------------

    def fit(self, on_epoch_end: Callable[[dict[str, float]], None] | None = None) -> FitResult:
        """Train until the epochs run out, early stopping fires, or the time budget is spent.

        Args:
            on_epoch_end: Called with each epoch's summary row (for printing).
        """
        train = self.config.train
        t_start = time.perf_counter()
        # a resumed run that had stopped early, or spent its time budget, is finished: nothing
        # more to train (the budget counts every epoch of the run, not this process's alone)
        done = self.early_stopping.should_stop
        stopped_because = "early_stopping" if done else "epochs"
        if not done and self._out_of_time(self.spent_s, self.start_epoch):
            done = True
            stopped_because = "time_budget" if self.start_epoch < train.epochs else "epochs"
        timer = PhaseTimer()
        log.info("precision %s (train.precision: %s)", self.precision, train.precision)
        with CheckpointWriter() as checkpoints:  # leaving it waits for the last write
            for epoch in range(self.start_epoch, self.start_epoch if done else train.epochs):
                t_epoch = time.perf_counter()

                # 1. train one epoch, then 2. validate in evaluation mode
                with timer.phase("training steps"):
                    train_loss, train_acc, lr = self._train_epoch(epoch)
                with timer.phase("validation"):
                    val = self.validate()

                # 3. log the epoch to summary.csv and the log file
                row = {
                    "epoch": epoch + 1, "train_loss": train_loss, "train_acc": train_acc,
                    **val, "lr": lr, "seconds": time.perf_counter() - t_epoch,
                }
                self.history.append(row)
                self.run.write_summary(self.history)
                log.info("epoch %d: %s", epoch + 1, _format_row(row))
                if on_epoch_end is not None:
                    on_epoch_end(row)

                # 4. early stopping bookkeeping and the epoch's checkpoint (atomic), which
                # records the seconds trained so far: a resumed run's budget goes on from them
                improved = self.early_stopping.step(row[self.early_stopping.monitor], epoch + 1)
                elapsed = self.spent_s + time.perf_counter() - t_start
                checkpoints.save(  # copied now, written while the next epoch trains
                    self.run.path, epoch + 1, self.model,
                    meta={
                        "config": self.config.to_dict(), "metrics": row,
                        "threshold": row["val_threshold"], "history": self.history,
                        "early_stopping": self.early_stopping.state_dict(),
                        "elapsed_s": elapsed,
                    },
                    trainer_state={"optimizer": self.optimizer.state_dict()},
                    best=improved,
                    keep_last=train.keep_checkpoints,
                )

                # 5. stop? (early stopping, or not enough budget left for another epoch)
                if self.early_stopping.should_stop:
                    stopped_because = "early_stopping"
                    break
                if self._out_of_time(elapsed, epoch + 1):  # as the resumed run would decide
                    stopped_because = "time_budget" if epoch + 1 < train.epochs else "epochs"
                    break
        timer.add("checkpoints and logs", max(0.0, time.perf_counter() - t_start - timer.total_))
        return self._finish(stopped_because, timer.seconds_)

    def _out_of_time(self, elapsed: float, epochs: int) -> bool:
        """Whether another epoch, at the mean of the ``epochs`` done in ``elapsed`` seconds,
        would overrun ``train.time_budget_s``."""
        budget = self.config.train.time_budget_s
        return budget is not None and epochs > 0 and elapsed + elapsed / epochs > budget

    def _train_epoch(self, epoch: int) -> tuple[float, float, float]:
        """One pass over the epoch's batches. Returns (mean loss, pair accuracy at logit 0, lr)."""
        self.model.train()
        seed = self.config.seed
        torch.manual_seed(seed * 1_000_003 + epoch)  # dropout masks
        generator = torch.Generator().manual_seed(seed * 1_000_033 + epoch)  # augmentation
        steps = len(self.inputs.batches)
        total_loss = total_correct = 0.0
        lr = float("nan")
        bar = tqdm(self.inputs.batches.epoch(epoch), total=steps, desc=f"epoch {epoch + 1}",
                   disable=not self.progress, leave=False, unit="step")
        for step, batch in enumerate(bar):
            self.schedule.apply(self.optimizer, epoch + step / steps)
            lr = self.optimizer.param_groups[0]["lr"]
            try:
                loss, correct = self.train_step(batch, generator)
            except TrainingDivergedError as e:
                message = f"training diverged at epoch {epoch + 1}, step {step + 1}: {e}"
                log.error("%s", message)  # the run's log says it too
                raise TrainingDivergedError(message) from None
            total_loss += loss
            total_correct += correct
            bar.set_postfix(loss=f"{total_loss / (step + 1):.4f}")
            if (step + 1) % self.config.train.log_every == 0:
                log.info("epoch %d step %d/%d: running loss %.4f lr %.2e", epoch + 1, step + 1,
                         steps, total_loss / (step + 1), lr)
        return total_loss / steps, total_correct / steps, lr

    def batch_input(self, batch: PairBatch, generator: torch.Generator) -> torch.Tensor:
        """The batch's M images: gathered from the cache, made float and augmented.

        Args:
            batch: The step's batch.
            generator: The source of the augmentation's randomness.

        Returns:
            (M, C, H, W) float images in the trainer's memory format.
        """
        images = self.inputs.cache.images[batch.images]  # (M, C, H, W) uint8, from the memmap
        x = self.augment(to_model_input(images, channels_last=False), generator)
        # grid_sample returns NCHW whatever it is given, so set the layout after augmenting: a
        # channels_last model fed NCHW images was measured to be not even bit-reproducible.
        return x.contiguous(memory_format=self.memory_format)

    def train_step(self, batch: PairBatch, generator: torch.Generator) -> tuple[float, float]:
        """One optimisation step on one batch, in training mode, at the optimizer's current lr.

        Args:
            batch: The step's batch.
            generator: The source of the augmentation's randomness.

        Returns:
            The loss and the (weighted) pair accuracy at logit 0, before the update.

        Raises:
            TrainingDivergedError: The loss is NaN or infinite (the weights are left unchanged).
        """
        x = self.batch_input(batch, generator)  # (M, C, H, W)
        left, right = torch.from_numpy(batch.left), torch.from_numpy(batch.right)
        with autocast(self.precision):
            emb = self.model.embed(x)  # (M, D)
            # index_select, not emb[left]: its backward (index_add_) was measured 20x faster
            # than indexing's (index_put_ with accumulate) for 8,128 pairs of 128 images.
            scores = self.model.score(emb.index_select(0, left), emb.index_select(0, right))
        scores = PairScores(scores.logits.float(), scores.distances.float())  # fp32 loss
        target = torch.from_numpy(batch.target)
        weight = None if batch.weight is None else torch.from_numpy(batch.weight)
        loss = self.loss_fn(scores, target, weight)
        if not torch.isfinite(loss):
            raise TrainingDivergedError(f"loss became {loss.item()}; {self._diverged_advice()}")

        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.optim.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.optim.grad_clip)
        self.optimizer.step()

        with torch.no_grad():
            correct = ((scores.logits > 0).float() == target).float()
            correct = correct.mean() if weight is None else (correct * weight).sum()
        return loss.item(), correct.item()

    def validate(self) -> dict[str, float]:
        """Score the validation pairs (each image embedded once, eval mode) and choose the
        threshold on them: these are training people, never DevTest."""
        val_pairs, target = self.inputs.val_pairs, self.inputs.val_target
        scores = score_index_pairs(
            self.model, self.inputs.cache.images, val_pairs, self.config.train.eval_batch_size,
            precision=self.precision,
        )
        if not torch.isfinite(scores.logits).all():  # the epoch's last step broke the weights
            message = (f"training diverged in epoch {len(self.history) + 1}: its validation "
                       f"scores are not finite; {self._diverged_advice()}")
            log.error("%s", message)
            raise TrainingDivergedError(message)
        with torch.no_grad():
            val_loss = self.loss_fn(scores, torch.from_numpy(target)).item()
        logits = scores.logits.numpy().astype(np.float64)
        threshold, val_acc = best_accuracy_threshold(logits, target)
        return {
            "val_loss": val_loss,
            "val_acc": val_acc,
            "val_auc": roc_auc(logits, target),
            "val_threshold": threshold,
        }

    def _finish(self, stopped_because: str, seconds: dict[str, float]) -> FitResult:
        """Restore the best epoch's weights if asked; return what was chosen."""
        last = self.history[-1]
        best_epoch = int(last["epoch"])
        if self.config.train.early_stopping.restore_best and self.early_stopping.best_epoch_:
            best_epoch = int(self.early_stopping.best_epoch_)
            # that epoch's own checkpoint, whatever best.json says (load_checkpoint checks that
            # the epoch recorded inside it is the folder's)
            best_dir = self.run.checkpoint_dir(best_epoch)
            state_dict, _, _ = load_checkpoint(best_dir)
            load_state(self.model, state_dict, best_dir / MODEL_FILE)
        chosen = self.history[best_epoch - 1]
        return FitResult(best_epoch, float(chosen["val_threshold"]), self.history, stopped_because,
                         seconds)

    def _diverged_advice(self) -> str:
        """What a diverged run leaves to resume from, and what to do, in words."""
        if not self.history:
            kept = "no epoch finished, so there is no checkpoint to resume from"
        else:
            kept = (f"the checkpoints of epochs up to {int(self.history[-1]['epoch'])} in "
                    f"{self.run.checkpoints_dir} are kept")
        return (f"{kept}. Train a new run with a lower optim.lr or with optim.grad_clip (a "
                "resumed run keeps its settings)")


def _format_row(row: dict[str, float]) -> str:
    return (
        f"train_loss {row['train_loss']:.4f} train_acc {row['train_acc']:.3f} "
        f"val_loss {row['val_loss']:.4f} val_acc {row['val_acc']:.3f} "
        f"val_auc {row['val_auc']:.3f} lr {row['lr']:.2e} {row['seconds']:.0f}s"
    )
