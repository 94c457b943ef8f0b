"""The one training loop: minibatch Adam with early stopping, used by the estimators and the demo.

``train(model, loss_fn, Z, T, config=TrainingConfig(...), validation=(Z_val, T_val),
generator=g)`` minimizes

    (1/|batch|) Σ_{j∈batch} loss(model(z_j), t_j) + penalty · Σ_i ‖A_i‖_op

over minibatches of a fresh random permutation each epoch (``torch.randperm`` from
``generator``: the same generator state gives bit-identical runs on CPU; torch's global RNG is
not touched). The penalty term is ``certify.spectral_penalty`` over every spectral module in
``model``. After each epoch the *monitored* loss is the validation loss when ``validation`` is
given, else the epoch's mean training loss. An epoch counts as progress when the monitored loss
drops below the best so far by more than ``tol``; after ``patience`` epochs without progress
the run stops (``patience=None``: run all ``max_epochs``). With a validation set the weights of
the epoch with the lowest validation loss are restored at the end. The model is left in
``eval()`` mode.

Sample weights (``sample_weight=w``, ``validation=(Z_val, T_val, w_val)``): ``loss_fn`` then
returns per-sample losses ``(B,)`` and a batch's loss is ``Σ_{j∈B} w_j ℓ_j / (|B| w̄)``, ``w̄``
the mean weight of the whole training set: over the random batches its expectation is
``Σ_j w_j ℓ_j / Σ_j w_j``, so an integer weight acts as that many repetitions of the row in
expectation (exactly, with one full batch). The validation loss is ``Σ w ℓ / Σ w``.

Hooks (off by default, no per-step cost then): ``after_step(model)`` runs after every optimizer
step (projections, proximal steps); ``on_epoch(model, epoch)`` after every epoch (recording).
``config.schedule="one_cycle"`` warms the learning rate up from ``learning_rate/25`` over the
first 30 % of the steps of ``max_epochs`` epochs and cools it down to ``learning_rate/10⁴``
(``torch.optim.lr_scheduler.OneCycleLR``, cosine). ``optimizer=`` continues with an existing
optimizer (warm starts: its moment estimates carry over).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from .certify import spectral_penalty
from .packing import flat_view
from .validation import check_int, check_real

__all__ = ["TrainingConfig", "TrainingHistory", "train", "make_optimizer"]

_SCHEDULES = ("constant", "one_cycle")


@dataclass(frozen=True)
class TrainingConfig:
    """How to train (validated on construction; every field names itself in its error).

    ``max_epochs ≥ 1``; ``learning_rate > 0`` and ``weight_decay ≥ 0`` go to ``torch.optim.Adam``;
    ``batch_size ≥ 1`` (clipped to the training-set size); ``penalty ≥ 0`` weighs
    ``Σ ‖A_i‖_op``; ``tol ≥ 0`` and ``patience`` (``≥ 1`` or ``None``) define early stopping;
    ``progress`` shows a tqdm bar labelled ``description``; ``schedule`` is ``"constant"`` or
    ``"one_cycle"`` (see the module docstring).
    """

    max_epochs: int = 200
    learning_rate: float = 0.01
    weight_decay: float = 0.0
    batch_size: int = 64
    penalty: float = 0.0
    tol: float = 1e-4
    patience: int | None = 10
    progress: bool = False
    description: str = "training"
    schedule: str = "constant"

    def __post_init__(self):
        check_int("max_epochs", self.max_epochs, low=1)
        check_real("learning_rate", self.learning_rate, low=0.0, low_open=True)
        check_real("weight_decay", self.weight_decay, low=0.0)
        check_int("batch_size", self.batch_size, low=1)
        check_real("penalty", self.penalty, low=0.0)
        check_real("tol", self.tol, low=0.0)
        if self.patience is not None:
            check_int("patience", self.patience, low=1)
        if self.schedule not in _SCHEDULES:
            raise ValueError(f"schedule must be one of {_SCHEDULES}, got {self.schedule!r}")


@dataclass
class TrainingHistory:
    """What a run did: mean training loss per epoch, validation loss per epoch (``None``
    without a validation set), the best monitored loss and its epoch (1-based), the epochs run,
    and whether it stopped early (``converged``: ``patience`` epochs without progress)."""

    train_loss: list[float] = field(default_factory=list)
    validation_loss: list[float] | None = None
    best_loss: float = math.inf
    best_epoch: int = 0
    epochs: int = 0
    converged: bool = False


def make_optimizer(model: nn.Module, config: TrainingConfig) -> torch.optim.Optimizer:
    """``torch.optim.Adam`` over ``model``'s parameters with the config's rate and decay.

    On CPU its multi-tensor (``foreach``) implementation, whose operations on small tensors run
    on the calling thread (the default estimator's largest, on 10 features, has 800 elements):
    torch's fused CPU kernel splits any tensor of more than 8 elements over all of torch's
    threads, and under one competing process it took 684 µs per step against 17.6 µs quiet
    (torch's profiler over a ``SpectralRegressor`` epoch, 2026-12-02); with this update the
    estimator's epoch took 1.07–1.10× its quiet time (``benchmarks/real_machine.py``).
    Tensors of a few thousand elements can still reach MKL's threaded ``sqrt`` (the README's
    "Threads"). ``_AdamUpdate`` then runs the step without the optimizer's per-call wrappers.
    On CUDA the fused implementation.
    """
    params = list(model.parameters())
    floating = bool(params) and all(p.dtype.is_floating_point for p in params)
    cuda = floating and all(p.device.type == "cuda" for p in params)
    cpu = floating and all(p.device.type == "cpu" for p in params)
    return torch.optim.Adam(params, lr=config.learning_rate, weight_decay=config.weight_decay,
                            fused=cuda or None, foreach=cpu or None)


def train(
    model: nn.Module,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    Z: torch.Tensor,
    T: torch.Tensor,
    *,
    config: TrainingConfig,
    validation: tuple | None = None,
    generator: torch.Generator | None = None,
    sample_weight: torch.Tensor | None = None,
    after_step: Callable[[nn.Module], None] | None = None,
    on_epoch: Callable[[nn.Module, int], None] | None = None,
    optimizer: torch.optim.Optimizer | None = None,
) -> TrainingHistory:
    """Train ``model`` in place on inputs ``Z`` and targets ``T`` (see the module docstring).

    Raises ``FloatingPointError`` naming the epoch if the monitored loss becomes nan/inf.
    """
    if not isinstance(config, TrainingConfig):
        raise TypeError(f"config must be a TrainingConfig, got {type(config).__name__}")
    optimizer = make_optimizer(model, config) if optimizer is None else optimizer
    weight = None if sample_weight is None else sample_weight / sample_weight.mean()
    step = _Step(model, loss_fn, optimizer, config, after_step, n_batches=math.ceil(
        Z.shape[0] / min(config.batch_size, Z.shape[0])))
    history = TrainingHistory(validation_loss=None if validation is None else [])
    best_state, stale = None, 0
    bar = tqdm(range(config.max_epochs), disable=not config.progress, desc=config.description,
               unit="epoch", leave=False)
    for epoch in bar:
        model.train()
        history.train_loss.append(_epoch(step, Z, T, weight, config, generator))
        monitored = history.train_loss[-1]
        if validation is not None:
            monitored = _validation_loss(model, loss_fn, validation)
            history.validation_loss.append(monitored)
        bar.set_postfix(loss=f"{monitored:.4g}", refresh=False)
        if not math.isfinite(monitored):
            raise FloatingPointError(
                f"the loss became {monitored} at epoch {epoch + 1}; lower the learning rate"
            )
        if on_epoch is not None:
            on_epoch(model, epoch)
        stale = 0 if monitored < history.best_loss - config.tol else stale + 1
        if monitored < history.best_loss:
            history.best_loss, history.best_epoch = monitored, epoch + 1
            if validation is not None:
                best_state = copy.deepcopy(model.state_dict())
        if config.patience is not None and stale >= config.patience:
            history.converged = True
            break
    bar.close()
    history.epochs = len(history.train_loss)
    if best_state is not None:  # restore the weights with the best validation loss
        model.load_state_dict(best_state)
    model.eval()
    return history


def _validation_loss(model, loss_fn, validation) -> float:
    """Mean validation loss; ``Σ w ℓ / Σ w`` when ``validation`` carries weights."""
    model.eval()
    with torch.no_grad():
        loss = loss_fn(model(validation[0]), validation[1])
        if len(validation) == 3:
            w = validation[2]
            loss = (loss * w).sum() / w.sum()
    return loss.item()


class _Step:
    """One optimizer step on one batch: forward, loss (+ penalty), backward, step, hook.

    The one place a faster step would replace; the learning-rate schedule advances here.
    A model with a ``fast_gradients(z, loss_gradient)`` method (the estimators' default
    network, ``optneuron/fused.py``) and a loss with a numpy ``gradient(out, t)`` (value and
    ``∂loss/∂out``) compute the step's loss and gradients without autograd's bookkeeping,
    which at batch 64 cost more than the arithmetic; only without sample weights or penalty,
    and the model answers ``None`` where its fast path does not apply.
    """

    def __init__(self, model, loss_fn, optimizer, config, after_step, n_batches):
        self.model, self.loss_fn, self.optimizer = model, loss_fn, optimizer
        self.penalty, self.after_step = config.penalty, after_step
        self.params = [p for group in optimizer.param_groups for p in group["params"]]
        self.fast = getattr(model, "fast_gradients", None) if not config.penalty else None
        self.loss_gradient = getattr(loss_fn, "gradient", None)
        self.scheduler = None
        if config.schedule == "one_cycle":
            self.scheduler = torch.optim.lr_scheduler.OneCycleLR(
                optimizer, max_lr=config.learning_rate,
                total_steps=config.max_epochs * n_batches, cycle_momentum=False)
        # looked up per call: a scheduler wraps optimizer.step to check the call order
        self.update = _AdamUpdate(optimizer) if _plain_adam(optimizer) else \
            (lambda: optimizer.step())

    def __call__(self, z, t, w) -> float:
        """The batch's (unpenalized) loss."""
        loss = None
        if self.fast is not None and self.loss_gradient is not None and w is None:
            loss = self.fast(z, lambda out: self.loss_gradient(out, t))
        if loss is None:
            loss = self.loss_fn(self.model(z), t)
            if w is not None:
                loss = (loss * w).mean()
            objective = loss + self.penalty * spectral_penalty(self.model) if self.penalty \
                else loss
            for p in self.params:  # zero_grad(set_to_none=True) without its profiler hooks
                p.grad = None
            objective.backward()
            loss = loss.item()
        self.update()
        if self.scheduler is not None:
            self.scheduler.step()
        if self.after_step is not None:
            self.after_step(self.model)
        return loss


def _plain_adam(optimizer) -> bool:
    """Whether ``optimizer`` is a ``torch.optim.Adam(foreach=True)`` (torch's multi-tensor
    update) with one group of real CPU tensors of one dtype, plain options and no step hooks:
    then ``_AdamUpdate`` may run its step."""
    from torch.optim import optimizer as base

    if type(optimizer) is not torch.optim.Adam or len(optimizer.param_groups) != 1:
        return False
    group = optimizer.param_groups[0]
    plain = group.get("foreach") and not any(group.get(k) for k in (
        "fused", "amsgrad", "maximize", "capturable", "differentiable",
        "decoupled_weight_decay"))
    hooks = (optimizer._optimizer_step_pre_hooks, optimizer._optimizer_step_post_hooks,
             base._global_optimizer_pre_hooks, base._global_optimizer_post_hooks)
    params = group["params"]
    return bool(plain and params and not any(hooks) and isinstance(group["lr"], float)
                and isinstance(group["betas"][0], float) and isinstance(group["betas"][1], float)
                and len({p.dtype for p in params}) == 1
                and all(p.device.type == "cpu" and p.dtype.is_floating_point for p in params))


class _AdamUpdate:
    """``optimizer.step()`` of a plain Adam (``_plain_adam``): torch's multi-tensor update
    (``torch.optim.adam._multi_tensor_adam``), the same operations in the same order, without
    the step's per-call wrappers (profiler record, grad mode, compile guards, grouping by
    device), which cost more than the update itself for the estimators' few small tensors.
    The first step, and any step where a parameter has no gradient, go through
    ``optimizer.step()``; same arithmetic, same bits (tests/test_training_fast.py).

    Where the parameters are packed (``packing.pack_parameters``), the first step also packs
    Adam's moments and step counts the same way (the optimizer's state entries become views of
    them), and a step whose gradients are packed too (``packing.PackedGradients``) runs each
    operation once over the flat tensors: the same elementwise arithmetic, so the same bits.
    """

    def __init__(self, optimizer):
        self.optimizer = optimizer
        self.state = None
        self.flat = None  # (params, exp_avgs, exp_avg_sqs, steps) as flat tensors, if packed
        self.pointers = None  # the parameters' data pointers when packed
        self.count = None  # the packed step count, mirrored: no index and .item() per step

    def __call__(self):
        opt = self.optimizer
        group = opt.param_groups[0]
        params = group["params"]
        grads = [p.grad for p in params]
        if self.state is None or any(g is None for g in grads):
            opt.step()
            self.count = None
            if self.state is None and all(p in opt.state for p in params):
                self.state = self._pack_state(params)
            return
        flat_grad = flat_view(grads) if self.flat is not None else None
        if flat_grad is not None and tuple(p.data_ptr() for p in params) == self.pointers:
            flat_params, m, v, s = self.flat
            if self.count is None:  # a skipped parameter (no gradient) has a count behind
                counts = set(s.tolist())
                self.count = counts.pop() if len(counts) == 1 else None
            if self.count is not None:
                with torch.no_grad():
                    s.add_(_ONE)
                self.count += 1
                _adam_moments_and_step(group, [flat_params], [flat_grad], [m], [v],
                                       [self.count])
                return
        exp_avgs, exp_avg_sqs, steps = self.state
        with torch.no_grad():
            torch._foreach_add_(steps, _ONE, alpha=1.0)
        self.count = None
        _adam_moments_and_step(group, params, grads, exp_avgs, exp_avg_sqs,
                               [step.item() for step in steps])

    def _pack_state(self, params):
        """The state lists ``[exp_avgs, exp_avg_sqs, steps]``; packed like the parameters when
        they are packed and every step count is equal (else as the optimizer holds them)."""
        state, keys = self.optimizer.state, ("exp_avg", "exp_avg_sq", "step")
        lists = [[state[p][k] for p in params] for k in keys]
        flat_params = flat_view(list(params))
        if flat_params is None or len({float(s) for s in lists[2]}) != 1:
            return lists
        flats = [torch.cat([t.reshape(-1) for t in tensors]) for tensors in lists]
        for key, flat, tensors in zip(keys, flats, lists):
            parts = flat.split([t.numel() for t in tensors])
            for p, part, t in zip(params, parts, tensors):
                state[p][key] = part.view_as(t)
        self.flat = (flat_params, *flats)
        self.pointers = tuple(p.data_ptr() for p in params)
        return [[state[p][k] for p in params] for k in keys]


def _adam_moments_and_step(group, params, grads, exp_avgs, exp_avg_sqs, counts):
    """Adam's update after the step counts were advanced to ``counts`` (one per tensor): the
    operations of ``torch.optim.adam._multi_tensor_adam`` in its order."""
    lr, (beta1, beta2) = group["lr"], group["betas"]
    weight_decay, eps = group["weight_decay"], group["eps"]
    with torch.no_grad():
        if weight_decay != 0:
            grads = torch._foreach_add(grads, params, alpha=weight_decay)
        torch._foreach_lerp_(exp_avgs, grads, 1 - beta1)
        torch._foreach_mul_(exp_avg_sqs, beta2)
        torch._foreach_addcmul_(exp_avg_sqs, grads, grads, 1 - beta2)
        step_size = [(lr / (1 - beta1**c)) * -1 for c in counts]
        denom = torch._foreach_sqrt(exp_avg_sqs)
        torch._foreach_div_(denom, [(1 - beta2**c) ** 0.5 for c in counts])
        torch._foreach_add_(denom, eps)
        torch._foreach_addcdiv_(params, exp_avgs, denom, step_size)


#: the step counter's increment, as torch's multi-tensor Adam adds it to CPU step tensors
_ONE = torch.tensor(1.0)


def _epoch(step, Z, T, weight, config, generator) -> float:
    """One pass over a fresh permutation; returns the mean (unpenalized) training loss."""
    n = Z.shape[0]
    batch_size = min(config.batch_size, n)
    order = torch.randperm(n, generator=generator)
    total = 0.0
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        loss = step(Z[idx], T[idx], None if weight is None else weight[idx])
        total += loss * idx.shape[0]
    return total / n
