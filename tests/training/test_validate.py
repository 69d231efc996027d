"""The two halves of an epoch on a stub model whose logits are set by hand: the accuracy that
training reports (summary.csv's train_acc) and the threshold that validation chooses
(val_threshold, which becomes model.json's threshold)."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from siamface.models.siamese import PairScores, SiameseNet
from siamface.training.batches import PairBatches
from siamface.training.inputs import TrainingInputs
from siamface.training.trainer import Trainer

from .conftest import tiny


class Brightness(nn.Module):
    """A backbone whose one-number embedding is an image's mean pixel value (0 to 255)."""

    out_dim = 1

    def __init__(self) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.ones(()))  # something for the loss to backpropagate to

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gain * x.mean(dim=(1, 2, 3)).unsqueeze(1) * 255


class MeanMinus3_5(nn.Module):
    """A head whose logit is the mean of the two embeddings minus 3.5."""

    dim = 1

    def forward(self, e1: torch.Tensor, e2: torch.Tensor) -> PairScores:
        return PairScores((e1 + e2)[:, 0] / 2 - 3.5, (e1 - e2).abs()[:, 0])


# Image k of the cache is uniformly k (k = 0..6); pair k is image k with itself, so its logit is
# k - 3.5. Pairs 1..6 and whether each is of one person:
#   logit  -2.5  -1.5  -0.5   0.5   1.5   2.5
#   same     no   yes    no    no   yes   yes
IMAGES = np.arange(7, dtype=np.uint8).repeat(3 * 4 * 4).reshape(7, 3, 4, 4)
PAIRS = np.array([[k, k] for k in range(1, 7)])
SAME = np.array([0, 1, 0, 0, 1, 1], dtype=np.float32)


def stub_trainer(batch_size: int = 6) -> Trainer:
    model = SiameseNet(Brightness(), MeanMinus3_5())
    parts = SimpleNamespace(
        model=model,
        loss_fn=lambda scores, target, weight=None: nn.functional.binary_cross_entropy_with_logits(
            scores.logits, target),
        optimizer=torch.optim.SGD(model.parameters(), lr=0.0),  # the logits stay as set
        schedule=SimpleNamespace(apply=lambda optimizer, t: None),
        augment=lambda x, generator: x,
        early_stopping=None,
    )
    inputs = TrainingInputs(SimpleNamespace(images=IMAGES),
                            PairBatches(PAIRS, SAME, batch_size, seed=0), PAIRS, SAME)
    return Trainer(tiny("train.precision=fp32"), parts, inputs, run=None, progress=False)


def test_the_stub_model_scores_each_pair_by_hand():
    trainer = stub_trainer()
    x = torch.from_numpy(IMAGES[1:]).float() / 255
    logits = trainer.model(x, x).logits
    torch.testing.assert_close(logits, torch.tensor([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5]))


def test_validation_chooses_the_threshold_that_gets_most_validation_pairs_right():
    val = stub_trainer().validate()
    # a cut between 0.5 and 1.5 gets 5 of the 6 right (all but the same pair at -1.5); every
    # other cut 4 or fewer: 4 at logit 0 (the default a wrong threshold would fall back on),
    # 3 with all pairs called different or all called same
    assert val["val_threshold"] == pytest.approx(1.0, abs=1e-5)
    assert val["val_acc"] == pytest.approx(5 / 6)
    # of the 3 x 3 (same, different) pairings the same pair scores above the different one in
    # 1 (-1.5 > -2.5) + 3 (1.5) + 3 (2.5)
    assert val["val_auc"] == pytest.approx(7 / 9)


@pytest.mark.parametrize("batch_size", [6, 3], ids=["one step", "two steps"])
def test_train_acc_is_the_share_of_training_pairs_on_the_right_side_of_logit_0(batch_size):
    _, train_acc, _ = stub_trainer(batch_size)._train_epoch(0)
    # logit > 0 says same: right for -2.5, -0.5 (different), 1.5 and 2.5 (same); wrong for
    # -1.5 (same) and 0.5 (different)
    assert train_acc == pytest.approx(4 / 6)
