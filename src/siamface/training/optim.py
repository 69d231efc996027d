"""Optimizers, built by name, with weight decay split into parameter groups.

Three rules decide each parameter's L2 (``weight_decay``):

1. Tensors with at most one dimension (biases, BatchNorm/LayerNorm gains and shifts, learned
   scalars such as a cosine head's scale) get none. Their number is tiny, so they add almost no
   capacity to regularise, and decaying them does harm: a bias pulled to 0 is a constraint on
   the operating point rather than on complexity, a norm gain decayed towards 0 shrinks the
   layer's output for no benefit (the following layer is free to undo the scale), and a decayed
   temperature flattens the scores. The paper's regularised loss (eq. 2) decays weights only.
2. A parameter whose name is under a ``layer_weight_decay`` prefix gets that prefix's L2 (the
   longest prefix wins); this is the paper's per-layer lambda_j.
3. Every other parameter gets the global ``weight_decay``.

Note that torch's ``weight_decay=wd`` adds ``wd * w`` to the gradient, the gradient of
``wd / 2 * |w|^2``: the paper's ``lambda_j |w|^2`` term is ``weight_decay = 2 lambda_j``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from siamface.config.sections import OptimConfig
from siamface.errors import ConfigError
from siamface.utils.files import DamagedFileError, is_number
from siamface.utils.registry import Registry

OPTIMIZERS: Registry[torch.optim.Optimizer] = Registry("optimizer", supplied=("params",))

ParamGroups = list[dict[str, Any]]


@OPTIMIZERS.register("sgd")
def sgd(params: ParamGroups, lr: float, momentum: float = 0.0,
        nesterov: bool = False) -> torch.optim.Optimizer:
    """SGD with (optionally Nesterov) momentum, as in the paper."""
    return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=nesterov)


@OPTIMIZERS.register("adam")
def adam(params: ParamGroups, lr: float,
         betas: tuple[float, float] | list[float] = (0.9, 0.999)) -> torch.optim.Optimizer:
    """Adam; its weight decay is L2 added to the gradient (coupled), as torch.optim.Adam does."""
    return torch.optim.Adam(params, lr=lr, betas=tuple(betas))


@OPTIMIZERS.register("adamw")
def adamw(params: ParamGroups, lr: float,
          betas: tuple[float, float] | list[float] = (0.9, 0.999)) -> torch.optim.Optimizer:
    """AdamW: weight decay applied to the weights directly, decoupled from the Adam step."""
    return torch.optim.AdamW(params, lr=lr, betas=tuple(betas))


@OPTIMIZERS.register("rmsprop")
def rmsprop(params: ParamGroups, lr: float, momentum: float = 0.0) -> torch.optim.Optimizer:
    """RMSprop with optional momentum."""
    return torch.optim.RMSprop(params, lr=lr, momentum=momentum)


def _matching_prefix(name: str, prefixes: Iterable[str]) -> str | None:
    """The longest prefix that ``name`` is under, at a dot boundary ("features.1" covers
    "features.1.weight" but not "features.10.weight")."""
    hits = [p for p in prefixes if name == p or name.startswith(p + ".")]
    return max(hits, key=len) if hits else None


def param_groups(model: nn.Module, weight_decay: float,
                 layer_weight_decay: Mapping[str, float] | None = None) -> ParamGroups:
    """Split the trainable parameters of ``model`` into groups by weight decay.

    Groups come out in the order of the first parameter of each, so the same model always gives
    the same groups (an optimizer state saved from them loads back). Each group carries a
    ``"group"`` label: "no_decay", "default" or the matching prefix.

    Args:
        model: The network.
        weight_decay: L2 for weights not covered by a prefix.
        layer_weight_decay: Parameter-name prefix -> L2. A prefix that matches no parameter is
            an error (it is almost always a typo).
    """
    layer_weight_decay = dict(layer_weight_decay or {})
    used: set[str] = set()
    groups: dict[str, dict[str, Any]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        prefix = _matching_prefix(name, layer_weight_decay)
        if prefix is not None:
            used.add(prefix)
        if param.ndim <= 1:
            label, wd = "no_decay", 0.0
        elif prefix is not None:
            label, wd = prefix, layer_weight_decay[prefix]
        else:
            label, wd = "default", weight_decay
        group = groups.setdefault(label, {"params": [], "weight_decay": wd, "group": label})
        group["params"].append(param)
    unused = [p for p in layer_weight_decay if p not in used]
    if unused:
        names = [n for n, _ in model.named_parameters()]
        raise ConfigError(
            f"optim.layer_weight_decay: prefix {unused[0]!r} matches no parameter of "
            f"{type(model).__name__}; its parameters are: {', '.join(names)}"
        )
    return list(groups.values())


def optimizer_factory(config: OptimConfig) -> Callable[..., torch.optim.Optimizer]:
    """The registered factory for ``config.name``, after checking that it takes every
    hyperparameter that is set (``momentum`` for Adam is an error, not silently ignored)."""
    factory = OPTIMIZERS.get(config.name, "optim.name")
    takes = OPTIMIZERS.valid_keys(config.name) or []
    for key in config.hyperparameters():
        if key not in takes:
            raise ConfigError(
                f"optim.{key} does not apply to optimizer {config.name!r}, which takes: "
                f"{', '.join(takes)}; set optim.{key}=null"
            )
    return factory


def build_optimizer(config: OptimConfig | Mapping[str, Any],
                    model: nn.Module) -> torch.optim.Optimizer:
    """Build the optimizer that ``config`` names over ``model``'s parameter groups.

    Args:
        config: The ``optim`` section, or a mapping with the same keys
            (``{"name": "adam", "lr": 1e-3}``).
        model: The network to optimise.
    """
    if not isinstance(config, OptimConfig):
        config = OptimConfig.from_dict(config)
    factory = optimizer_factory(config)
    groups = param_groups(model, config.weight_decay, config.layer_weight_decay)
    return factory(groups, **config.hyperparameters())


def check_loaded_state(optimizer: torch.optim.Optimizer, built: Iterable[Mapping[str, Any]],
                       source: str | Path) -> None:
    """Check the state ``optimizer`` loaded from the file ``source``: ``load_state_dict`` takes
    any values, which would fail or diverge only in the first step after a resume.

    Every hyperparameter of its groups must be of the kind it was in ``built`` (the groups as
    built, before the load): a finite number where that was a number, and ``base_lr``, which a
    schedule adds and multiplies, a finite number. Every state tensor of a parameter but the
    scalar ``step`` (moments, momentum buffers) must have that parameter's shape and finite
    values.

    Raises:
        DamagedFileError: Naming ``source`` and the value that does not fit.
    """
    for i, (group, fresh) in enumerate(zip(optimizer.param_groups, built, strict=True)):
        for key, value in group.items():
            expected = fresh.get(key, 1.0)  # base_lr (not there before a schedule): a number
            if key != "params" and _kind(value) != _kind(expected):
                like = "a finite number" if _kind(expected) == "number" else repr(expected)
                raise DamagedFileError(f"{source}: the optimizer's param_groups[{i}] {key!r} is "
                                       f"{value!r}, expected {like}")
    for param, state in optimizer.state.items():
        for key, value in state.items():
            if not isinstance(value, torch.Tensor) or value.dim() == 0:
                continue
            if value.shape != param.shape:
                raise DamagedFileError(f"{source}: the optimizer's {key!r} of shape "
                                       f"{tuple(value.shape)} is for a parameter of shape "
                                       f"{tuple(param.shape)}")
            if not bool(torch.isfinite(value).all()):
                raise DamagedFileError(f"{source}: the optimizer's {key!r} holds NaN or "
                                       "infinite values")


def _kind(value: Any) -> Any:
    """What a hyperparameter is, to compare: "number" when finite, "not finite" for NaN or
    inf, tuples element by element, else its type (bool, None, a group's name)."""
    if isinstance(value, (tuple, list)):
        return tuple(_kind(v) for v in value)
    if is_number(value, finite=False):
        return "number" if is_number(value) else "not finite"
    return type(value)
