"""scikit-learn estimators built on spectral neurons: ``SpectralRegressor``, ``SpectralClassifier``.

Both fit the same small hybrid network on standardized inputs ``z = (x − mean) / scale``:

    f(z) = W · λ(z) + V z + c,      λ_h(z) = λ_k(A_0^h + Σ_i z_i A_i^h)  (h = 1 … n_neurons)

a ``SpectralLayer`` of ``n_neurons`` spectral neurons (``dim × dim`` matrices, one batched
eigen-solve), a linear readout ``W`` and a linear skip ``V`` (so the model contains linear
regression / logistic regression and the neurons only have to learn the nonlinear rest).
The regressor also standardizes ``y`` and fits ``loss`` (squared error by default, absolute
error or Huber); the classifier fits the log-loss (one logit for two classes, softmax over
``n_classes`` logits otherwise). Both take ``sample_weight`` (a weighted loss).

Categorical columns (a DataFrame's string, category and bool columns by default) enter as
matrices: ``λ_h = λ_k(A_0^h + Σ_i z_i A_i^h + Σ_f E_f^h[c_f])`` (``optneuron.categorical``);
an unseen category reads its column's unknown matrix. Changing column ``f`` from ``a`` to ``b``
moves the output by at most ``Σ_h |W_h| ‖E_f^h[a] − E_f^h[b]‖_op`` (``category_jump_bound``).

Certified sensitivity (Weyl; theory/weyl-certificates.md):
``|λ_h(z + ε) − λ_h(z)| ≤ Σ_i |ε_i| ‖A_i^h‖_op``, so for every ``x`` and every change ``t``
of feature ``i`` alone,
``|f(x + t e_i) − f(x)| ≤ feature_strengths_[i] · |t|`` in the original units of ``x`` and
of the output (``predict`` for the regressor, ``decision_function`` for the classifier), and
for a change ``ε`` of several features at once the bound is ``Σ_i feature_strengths_[i] |ε_i|``.
"""

from __future__ import annotations

import math
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    ClassNamePrefixFeaturesOutMixin,
    RegressorMixin,
    _fit_context,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import TransformerTags, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils._set_output import _SetOutputMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_feature_names,
    _check_n_features,
    _check_sample_weight,
    check_array,
    check_consistent_length,
    check_is_fitted,
)
from torch.nn import functional as F

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # pragma: no cover - older scikit-learn

    def _validate_data(estimator, *args, **kwargs):
        return estimator._validate_data(*args, **kwargs)


from .categorical import CategoricalMatrices, field_matrices, operator_norm
from .diagnostics import matrix_gap_quantiles, used_eigenvalues
from .fused import fused_gradients, fused_plan, fused_readout, usable
from .nn import SpectralLayer, SpectralMixtureLayer
from .packing import pack_parameters
from .pencils import pencil_structures
from .tabular import CategoryCodes, categorical_mask, column
from .training import TrainingConfig, make_optimizer, train
from .validation import check_index

__all__ = ["SpectralRegressor", "SpectralClassifier"]

_DTYPE = torch.float64  # float64 end to end: predictions do not depend on the batch split
_GAP_QUANTILES, _GAP_ROWS = (0.1, 0.5, 0.9), 512  # gap_quantiles_history_
_PREDICT_CHUNK = 4096


class _ReadoutNet(torch.nn.Module):
    """``x ↦ readout(λ(x)) + skip(z)``: ``(B, n_numeric + n_fields) → (B, n_outputs)``.

    ``x = [z, codes]``: the standardized numeric features, then the categorical codes (as
    floats; exact below 2⁵³). ``λ_h = λ_k(A_0^h + Σ_i z_i A_i^h + Σ_f E_f^h[c_f])``. With no
    numeric feature the pencil gets one constant zero input (its ``A_1`` has no effect).
    """

    def __init__(self, n_numeric, cardinalities, n_outputs, *, n_neurons, dim, index, structure,
                 smoothing, generator, neuron="eigenvalue"):
        super().__init__()
        self.n_numeric = n_numeric
        if neuron == "mixture":  # ⟨w, λ⟩ with learned haversine-initialized weights
            self.spectral = SpectralMixtureLayer(
                max(n_numeric, 1), n_neurons, dim, structure=structure, smoothing=smoothing,
                dtype=_DTYPE)
        else:
            self.spectral = SpectralLayer(
                max(n_numeric, 1), n_neurons, dim, index=index, structure=structure,
                smoothing=smoothing, dtype=_DTYPE
            )
        self.spectral.reset_parameters(generator=generator)
        self.categories = None
        if cardinalities:
            self.categories = CategoricalMatrices(
                cardinalities, self.spectral.pencil.num_coordinates, n_neurons, dtype=_DTYPE)
        self.readout = torch.nn.Linear(n_neurons, n_outputs, dtype=_DTYPE)
        self.skip = torch.nn.Linear(max(n_numeric, 1), n_outputs, bias=False, dtype=_DTYPE)
        with torch.no_grad():
            # Readout ~ U(±1/√n_neurons) (the Linear default, drawn from `generator`); the skip
            # starts at zero: the least-squares direction is found in a few steps anyway.
            bound = 1 / math.sqrt(n_neurons)
            self.readout.weight.copy_(_uniform(self.readout.weight.shape, bound, generator))
            self.readout.bias.zero_()
            self.skip.weight.zero_()
        # the default network's forward and backward in one Function (optneuron/fused.py)
        self._fused = fused_plan(self.spectral, self.categories)
        # one flat tensor under all parameters: Adam's update runs once over it
        # (optneuron/packing.py; training._AdamUpdate)
        pack_parameters(self)

    def fast_gradients(self, x, loss_gradient):
        """The training step's loss with every parameter's ``.grad`` set, without autograd
        (``fused.fused_gradients``; ``training._Step``), or ``None`` where the fused path does
        not apply."""
        plan = getattr(self, "_fused", None)
        if plan is None or not usable(plan, x):
            return None
        s = self.spectral.pencil
        return fused_gradients(plan, self._numeric(x), (s.bias, s.weight, self.readout.weight,
                                                         self.readout.bias, self.skip.weight),
                               loss_gradient)

    def _numeric(self, x):
        return x[:, :self.n_numeric] if self.n_numeric else x.new_zeros((x.shape[0], 1))

    def neurons(self, x):
        """``λ(x)``: ``(B, n_neurons)``."""
        if self.categories is None:
            return self.spectral(self._numeric(x))
        data = (self.matrices(x),)
        if isinstance(self.spectral, SpectralMixtureLayer):
            data += (self.spectral.mixing_weights(),)
        return self.spectral.solver(*data).value

    def matrices(self, x):
        """The neurons' matrices ``A(x)`` ``(B, n_neurons, dim, dim)`` (or ``SymTridiagonal``):
        the pencil of the numeric columns plus the category matrices."""
        pencil = self.spectral.pencil
        if self.categories is None:
            return pencil(self._numeric(x))
        coords = pencil.coordinates(self._numeric(x))
        return pencil.to_matrix(coords + self.categories(x[:, self.n_numeric:].long()))

    def forward(self, x):
        plan = getattr(self, "_fused", None)  # absent in models pickled before it existed
        if plan is not None and usable(plan, x):
            s = self.spectral.pencil
            return fused_readout(plan, self._numeric(x), s.bias, s.weight, self.readout.weight,
                                 self.readout.bias, self.skip.weight)
        return self.readout(self.neurons(x)) + self.skip(self._numeric(x))

    def feature_bounds(self) -> torch.Tensor:
        """``(n_outputs, n_numeric)``: ``Σ_h |W_oh| ‖A_i^h‖_op + |V_oi|`` (Weyl + triangle)."""
        with torch.no_grad():
            B = self.spectral.feature_bounds()  # (n_neurons, n_features)
            return (self.readout.weight.abs() @ B + self.skip.weight.abs())[:, :self.n_numeric]

    def category_spreads(self, field) -> torch.Tensor:
        """``(rows + 1, n_outputs)``: ``Σ_h |W_oh| ‖E_f^h[c] − Ē_f^h‖_op`` per row ``c``."""
        with torch.no_grad():
            E = field_matrices(self.spectral.pencil, self.categories, field)
            spread = operator_norm(E - E[:-1].mean(0, keepdim=True))  # (rows + 1, n_neurons)
            return spread @ self.readout.weight.abs().T

    def category_jumps(self, field, a, b) -> torch.Tensor:
        """``(n_outputs,)``: ``Σ_h |W_oh| ‖E_f^h[a] − E_f^h[b]‖_op`` for rows ``a``, ``b``."""
        with torch.no_grad():
            E = field_matrices(self.spectral.pencil, self.categories, field)
            return self.readout.weight.abs() @ operator_norm(E[a] - E[b])


def _uniform(shape, bound, generator):
    return (torch.rand(shape, generator=generator, dtype=_DTYPE) * 2 - 1) * bound


def _plain_structures() -> set[str]:
    """Registered pencil structures that need no option (e.g. not ``"banded"``)."""
    return {name for name, cls in pencil_structures().items() if not cls.has_bandwidth_option}


_CONSTRAINTS = {
    "n_neurons": [Interval(Integral, 1, None, closed="left")],
    "neuron": [StrOptions({"eigenvalue", "mixture"})],
    "dim": [Interval(Integral, 1, None, closed="left")],
    "index": [Interval(Integral, None, None, closed="neither"), None],
    "alpha": [Interval(Real, 0, None, closed="left")],
    "batch_size": [Interval(Integral, 1, None, closed="left")],
    "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
    "learning_rate": [StrOptions({"constant", "one_cycle"})],
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "tol": [Interval(Real, 0, None, closed="left")],
    "early_stopping": ["boolean"],
    "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
    "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
    "smoothing": [Interval(Real, 0, None, closed="neither"), None],
    "spectral_penalty": [Interval(Real, 0, None, closed="left")],
    "group_penalty": [Interval(Real, 0, None, closed="left")],
    "max_feature_strength": [Interval(Real, 0, None, closed="neither"), None],
    "categorical_features": [StrOptions({"from_dtype"}), "array-like", None],
    "max_categories": [Interval(Integral, 1, None, closed="left")],
    "min_frequency": [Interval(Integral, 1, None, closed="left")],
    "warm_start": ["boolean"],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
}


class _BaseSpectralEstimator(ClassNamePrefixFeaturesOutMixin, _SetOutputMixin, BaseEstimator):
    """Shared parameters, validation, training and certificates."""

    @property
    def _parameter_constraints(self) -> dict:
        # The structures are read from the pencil registry when fit validates, so a structure
        # registered after import is accepted too.
        return {**_CONSTRAINTS, "structure": [StrOptions(_plain_structures())]}

    def __init__(
        self,
        *,
        n_neurons=8,
        neuron="eigenvalue",
        dim=4,
        index=-1,
        structure="dense",
        alpha=1e-4,
        batch_size=64,
        learning_rate_init=0.01,
        learning_rate="constant",
        max_iter=200,
        tol=1e-4,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=10,
        smoothing=None,
        spectral_penalty=0.0,
        group_penalty=0.0,
        max_feature_strength=None,
        categorical_features="from_dtype",
        max_categories=1024,
        min_frequency=1,
        warm_start=False,
        random_state=None,
        verbose=False,
    ):
        self.n_neurons = n_neurons
        self.neuron = neuron
        self.dim = dim
        self.index = index
        self.structure = structure
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.tol = tol
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.smoothing = smoothing
        self.spectral_penalty = spectral_penalty
        self.group_penalty = group_penalty
        self.max_feature_strength = max_feature_strength
        self.categorical_features = categorical_features
        self.max_categories = max_categories
        self.min_frequency = min_frequency
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose

    # ----- data: numeric columns standardized, categorical columns coded -----------------
    def _validate_X(self, X, y=None, *, reset, **y_options):
        """``(x (n, n_numeric + n_fields) float64 ndarray, y)``; fits the column split and the
        category codes when ``reset``."""
        mask = self._categorical_mask if not reset else (
            categorical_mask(X, self.categorical_features)
            if hasattr(X, "dtypes") or self.categorical_features != "from_dtype" else None)
        if mask is None or not mask.any():
            if y is None:
                x = _validate_data(self, X, dtype=np.float64, reset=reset)
            else:
                x, y = _validate_data(self, X, y, dtype=np.float64, reset=reset, **y_options)
            if reset:
                self._categorical_mask = np.zeros(x.shape[1], dtype=bool)
            return x, y
        self._categorical_mask = mask
        _check_feature_names(self, X, reset=reset)
        _check_n_features(self, X, reset=reset)
        cats = [column(X, j) for j in np.flatnonzero(mask)]
        numeric = np.flatnonzero(~mask)
        num = (check_array(np.column_stack([column(X, j) for j in numeric]), dtype=np.float64)
               if len(numeric) else np.zeros((len(cats[0]), 0)))
        if y is not None:
            y = check_array(y, ensure_2d=False, dtype=np.float64 if y_options.get("y_numeric")
                            else None, input_name="y")
            check_consistent_length(num, y)
        if reset:
            self._codes = CategoryCodes(self.max_categories, self.min_frequency).fit(cats)
        return np.hstack([num, self._codes.transform(cats).astype(np.float64)]), y

    def _n_numeric(self):
        return int((~self._categorical_mask).sum())

    def _standardize(self, x, w=None, fit=False):
        k = self._n_numeric()
        if fit:
            X = x[:, :k]
            if k == 0:  # only categorical columns
                self._x_mean = self._x_scale = np.zeros(0)
                return torch.from_numpy(np.ascontiguousarray(x))
            self._x_mean = np.average(X, axis=0, weights=w)
            scale = np.sqrt(np.average((X - self._x_mean) ** 2, axis=0, weights=w))
            self._x_scale = np.where(scale > 1e-12 * np.maximum(1.0, np.abs(self._x_mean)),
                                     scale, 1.0)
        z = np.hstack([(x[:, :k] - self._x_mean) / self._x_scale, x[:, k:]])
        return torch.from_numpy(np.ascontiguousarray(z))

    # ----- training ---------------------------------------------------------------------
    def _fit_net(self, x, T, w, n_outputs, loss, *, stratify=None, incremental=False):
        """Train ``model_`` on ``x`` (validated, unstandardized) and targets ``T`` with
        ``training.train``; ``w``: sample weights without zeros, or ``None``."""
        if self.index is not None:  # the range depends on dim: not a per-parameter constraint
            check_index("index", self.index, self.dim, what="dim")
        rng = check_random_state(self.random_state)
        generator = torch.Generator().manual_seed(int(rng.randint(np.iinfo(np.int32).max)))
        fresh = not hasattr(self, "model_") or not (self.warm_start or incremental)
        Z = self._standardize(x, w, fit=fresh)
        W = None if w is None else torch.from_numpy(w)
        if fresh:
            self._new_model(n_outputs, generator)
        if incremental:
            split, validation = (Z, T, W), None
        else:
            split, validation = self._split(Z, T, W, rng, stratify)
        # Gaps are recorded on evenly spaced training rows: no RNG draw, so fits are unchanged.
        rows = torch.linspace(0, len(split[0]) - 1, min(len(split[0]), _GAP_ROWS)).long()
        self._gap_inputs = split[0][rows]
        config = self._config(epochs=1 if incremental else self.max_iter, incremental=incremental)
        if incremental and getattr(self, "_optimizer", None) is not None:
            optimizer = self._optimizer
        else:
            optimizer = make_optimizer(self.model_, config)
        self._optimizer = optimizer if incremental else None
        try:
            history = train(self.model_, _loss_function(loss, W is not None), split[0],
                            split[1], config=config, validation=validation,
                            generator=generator, sample_weight=split[2],
                            after_step=self._after_step(optimizer),
                            on_epoch=self._record_epoch, optimizer=optimizer)
        except FloatingPointError as err:
            raise FloatingPointError(f"{type(self).__name__}: {err} (learning_rate_init)") \
                from None
        self._record_history(history, incremental)

    def _new_model(self, n_outputs, generator):
        cardinalities = self._codes.cardinalities if self._categorical_mask.any() else []
        # The layers draw their default init from torch's global RNG before we redraw it
        # from `generator`; fork_rng keeps the caller's global RNG state untouched.
        with torch.random.fork_rng(devices=[]):
            self.model_ = _ReadoutNet(
                self._n_numeric(), cardinalities, n_outputs, n_neurons=self.n_neurons,
                dim=self.dim, index=self.index, structure=self.structure,
                smoothing=self.smoothing, generator=generator, neuron=self.neuron)
        self.loss_curve_, self.validation_loss_curve_ = [], None
        self.feature_strengths_history_, self.n_iter_, self.best_loss_ = [], 0, math.inf
        self.gap_quantiles_history_ = []

    def _config(self, epochs, incremental):
        return TrainingConfig(
            max_epochs=epochs, learning_rate=self.learning_rate_init, weight_decay=self.alpha,
            batch_size=self.batch_size, tol=self.tol, penalty=self.spectral_penalty,
            patience=None if incremental else self.n_iter_no_change,
            progress=bool(self.verbose), description=type(self).__name__,
            schedule="constant" if incremental else self.learning_rate,
        )

    def _after_step(self, optimizer):
        """The per-step hook: proximal group step, then the strength cap (``None``: neither)."""
        steps = []
        if self.group_penalty > 0:
            steps.append(lambda m: _group_prox(
                m, optimizer.param_groups[0]["lr"] * self.group_penalty))
        if self.max_feature_strength is not None:
            steps.append(lambda m: _cap_strengths(
                m, self._strength_scale(), self.max_feature_strength))
        if not steps:
            return None
        return lambda m: [step(m) for step in steps]

    def _record_epoch(self, model, epoch):
        self.feature_strengths_history_.append(self._column_strengths(model)[0])
        with torch.no_grad():
            gaps = matrix_gap_quantiles(model.matrices(self._gap_inputs),
                                        used_eigenvalues(model.spectral), _GAP_QUANTILES)
        self.gap_quantiles_history_.append(gaps.numpy())

    def _record_history(self, history, incremental):
        self.n_iter_ += history.epochs
        self.loss_curve_ = list(self.loss_curve_) + history.train_loss
        if history.validation_loss is not None:
            self.validation_loss_curve_ = history.validation_loss
        self.best_loss_ = history.best_loss if not incremental else history.train_loss[-1]
        self.converged_ = history.converged
        strengths = self._column_strengths(self.model_)
        single = self.model_.readout.out_features == 1
        self.feature_strengths_ = strengths[0] if single else strengths
        self.feature_strengths_history_ = list(self.feature_strengths_history_)
        self.gap_quantiles_history_ = list(self.gap_quantiles_history_)
        self.selected_features_ = self._selected_features()
        if self._categorical_mask.any():
            self.category_strengths_ = self._category_strengths()
        if not history.converged and not incremental:
            warnings.warn(
                f"{type(self).__name__}: max_iter={self.max_iter} epochs reached and the "
                "loss is still improving; increase max_iter.",
                ConvergenceWarning,
                stacklevel=6,
            )

    def _split(self, Z, T, W, rng, stratify):
        """``(Z_train, T_train, W_train), validation or None``: the early-stopping hold-out
        (the validation triple carries its weights: its loss is weighted the same way)."""
        n = Z.shape[0]
        n_val = int(math.floor(self.validation_fraction * n))
        if not (self.early_stopping and n_val >= 2 and n - n_val >= 2):
            return (Z, T, W), None
        if stratify is not None:
            counts = np.bincount(stratify)
            ok = counts.min() >= 2 and min(n_val, n - n_val) >= len(counts)
            stratify = stratify if ok else None
        train_idx, val_idx = train_test_split(
            np.arange(n), test_size=n_val, random_state=rng, stratify=stratify
        )
        train_idx, val_idx = torch.from_numpy(train_idx), torch.from_numpy(val_idx)
        train_part = (Z[train_idx], T[train_idx], None if W is None else W[train_idx])
        val_part = (Z[val_idx], T[val_idx]) + (() if W is None else (W[val_idx],))
        return train_part, val_part

    def _prepare_fit(self, X, y, sample_weight, reset, **y_options):
        """Validated ``(x, y, w)`` with the zero-weight rows left out (``w`` None if unweighted)."""
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y "
                             "is None")
        x, y = self._validate_X(X, y, reset=reset, **y_options)
        if sample_weight is None:
            return x, y, None
        w = _check_sample_weight(sample_weight, x, dtype=np.float64, ensure_non_negative=True)
        keep = w > 0
        if not keep.any():
            raise ValueError("sample_weight must have at least one positive entry")
        return x[keep], y[keep], w[keep]

    # ----- outputs ----------------------------------------------------------------------
    def _forward(self, X, neurons=False):
        """Raw network outputs (or the neurons' values) as a numpy float64 array."""
        check_is_fitted(self, "model_")
        x, _ = self._validate_X(X, reset=False)
        Z = self._standardize(x)
        f = self.model_.neurons if neurons else self.model_
        width = self.n_neurons if neurons else self.model_.readout.out_features
        with torch.no_grad():
            parts = [f(Z[i:i + _PREDICT_CHUNK]) for i in range(0, len(Z), _PREDICT_CHUNK)]
        return (torch.cat(parts) if parts else Z.new_zeros((0, width))).numpy()

    def transform(self, X):
        """The neurons' outputs ``λ_h(x)``: ``(n_samples, n_neurons)`` (features for a next
        step in a ``Pipeline``; names from ``get_feature_names_out``)."""
        return self._forward(X, neurons=True)

    def fit_transform(self, X, y=None, **fit_params):
        """``fit(X, y, **fit_params).transform(X)``."""
        return self.fit(X, y, **fit_params).transform(X)

    @property
    def _n_features_out(self):
        return self.n_neurons

    def _output_scale(self):
        return np.ones(self.model_.readout.out_features)

    def _strength_scale(self):
        """``(n_outputs, n_numeric)``: standardized bounds × this = original-unit strengths."""
        return np.asarray(self._output_scale())[:, None] / self._x_scale[None, :]

    def _column_strengths(self, model):
        """``(n_outputs, n_features_in_)`` certified strengths in original units (a categorical
        column: the largest output change when its category changes)."""
        out = np.zeros((model.readout.out_features, len(self._categorical_mask)))
        numeric = np.flatnonzero(~self._categorical_mask)
        out[:, numeric] = model.feature_bounds().numpy() * self._strength_scale()
        scale = np.asarray(self._output_scale())
        for f, j in enumerate(np.flatnonzero(self._categorical_mask)):
            s = np.sort(model.category_spreads(f).numpy(), axis=0)  # s_a + s_b bounds a → b
            out[:, j] = (s[-1] + s[-2] if len(s) > 1 else 0 * s[-1]) * scale
        return out

    def _selected_features(self):
        """Columns whose matrices (and skip weight) are not all zero."""
        m = self.model_
        with torch.no_grad():
            norms = m.spectral.pencil.weight.abs().sum((0, 2)) + m.skip.weight.abs().sum(0)
        selected = np.ones(len(self._categorical_mask), dtype=bool)
        selected[np.flatnonzero(~self._categorical_mask)] = norms.numpy()[:self._n_numeric()] > 0
        return selected

    def _category_strengths(self):
        """``{column: {category: s_c}}`` in output units (``s_c`` as in ``category_spreads``)."""
        names = _column_names(self)
        scale = np.asarray(self._output_scale())
        out = {}
        for f, j in enumerate(np.flatnonzero(self._categorical_mask)):
            s = self.model_.category_spreads(f).numpy() * scale
            single = s.shape[1] == 1
            codes = self._codes
            table = {} if codes.hashed[f] else {
                c: (s[i, 0] if single else s[i]) for i, c in enumerate(codes.categories[f])}
            table["<unknown>"] = s[-1, 0] if single else s[-1]
            out[names[j]] = table
        return out

    def category_jump_bound(self, column, a, b):
        """Certified bound on ``|f(x with column = a) − f(x with column = b)|`` for every ``x``
        (output units): ``Σ_h |W_h| ‖E^h[a] − E^h[b]‖_op`` (Weyl). ``column``: a name or index
        of a categorical column; ``a``, ``b``: category values (unseen values: the unknown)."""
        check_is_fitted(self, "model_")
        names = _column_names(self)
        j = names.index(column) if isinstance(column, str) else int(column)
        cats = np.flatnonzero(self._categorical_mask)
        if j not in cats:
            raise ValueError(f"column must be a categorical column; got {column!r}")
        f = int(np.flatnonzero(cats == j)[0])
        rows = [self._codes.code_of(f, v) for v in (a, b)]
        n_rows = self._codes.cardinalities[f]
        rows = [r if 0 <= r < n_rows else n_rows for r in rows]
        bound = self.model_.category_jumps(f, rows[0], rows[1]).numpy()
        bound = bound * np.asarray(self._output_scale())
        return float(bound[0]) if len(bound) == 1 else bound

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        tags.non_deterministic = False
        tags.transformer_tags = TransformerTags(preserves_dtype=[])  # transform: λ(x), float64
        return tags


def _column_names(est):
    names = getattr(est, "feature_names_in_", None)
    return [str(n) for n in names] if names is not None else \
        [f"x{j}" for j in range(est.n_features_in_)]


def _loss_function(name, weighted):
    """Per-sample losses (``weighted``) or their mean, for ``training.train``."""
    per_sample = _LOSSES[name]
    if not weighted and name in _MEAN_LOSSES:
        return _MEAN_LOSSES[name]()
    return per_sample if weighted else (lambda out, t: per_sample(out, t).mean())


# Mean losses with a numpy ``gradient(out, t) -> (loss, ∂loss/∂out)`` beside the torch call:
# with them ``training`` skips autograd for a model that supports it (``fast_gradients``).
class _MeanSquaredError:
    """``mean((out − t)²)`` (the mean of the per-sample means: equal counts)."""

    def __call__(self, out, t):
        return F.mse_loss(out, t)

    @staticmethod
    def gradient(out: np.ndarray, t: torch.Tensor):
        """``(loss, 2 (out − t) / out.size)``."""
        r = out - t.numpy().reshape(out.shape)
        return float(np.vdot(r, r)) / r.size, r * (2.0 / r.size)


class _MeanBinaryLogLoss:
    """``mean(log(1 + e^x) − t x)`` over the logits ``x = out[:, 0]``."""

    def __call__(self, out, t):
        return F.binary_cross_entropy_with_logits(out[:, 0], t)

    @staticmethod
    def gradient(out: np.ndarray, t: torch.Tensor):
        """``(loss, (σ(x) − t) / B)`` in the first column, computed without overflow."""
        x, t = out[:, 0], t.numpy()
        e = np.exp(-np.abs(x))
        loss = np.maximum(x, 0.0) - x * t + np.log1p(e)
        sigma = np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
        g = np.zeros_like(out)
        g[:, 0] = (sigma - t) / len(x)
        return float(loss.mean()), g


class _MeanLogLoss:
    """``mean(logsumexp(out) − out[t])`` (softmax cross-entropy over the class logits)."""

    def __call__(self, out, t):
        return F.cross_entropy(out, t)

    @staticmethod
    def gradient(out: np.ndarray, t: torch.Tensor):
        """``(loss, (softmax(out) − onehot(t)) / B)``."""
        rows = np.arange(len(out))
        shifted = out - out.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        total = e.sum(axis=1, keepdims=True)
        codes = t.numpy()
        loss = np.log(total[:, 0]) - shifted[rows, codes]
        g = e / total
        g[rows, codes] -= 1.0
        return float(loss.mean()), g / len(out)


_MEAN_LOSSES = {"squared_error": _MeanSquaredError, "binary_log_loss": _MeanBinaryLogLoss,
                "log_loss": _MeanLogLoss}


_LOSSES = {
    "squared_error": lambda out, t: ((out - t) ** 2).mean(-1),
    "absolute_error": lambda out, t: (out - t).abs().mean(-1),
    "huber": lambda out, t: F.huber_loss(out, t, reduction="none", delta=1.0).mean(-1),
    "binary_log_loss": lambda out, t: F.binary_cross_entropy_with_logits(
        out[:, 0], t, reduction="none"),
    "log_loss": lambda out, t: F.cross_entropy(out, t, reduction="none"),
}


@torch.no_grad()
def _group_prox(model, step):
    """Proximal step of ``step · Σ_i ‖(A_i^1 … A_i^H, V_i)‖₂`` (group soft-thresholding; the
    dense coordinates are isometric, so the group norm is ``(Σ_h ‖A_i^h‖²_F + ‖V_i‖²)^{1/2}``)."""
    W, V = model.spectral.pencil.weight, model.skip.weight  # (H, in, size), (out, in)
    norms = (W.pow(2).sum((0, 2)) + V.pow(2).sum(0)).sqrt()
    factor = torch.clamp(1 - step / torch.clamp(norms, min=1e-300), min=0.0)
    W.mul_(factor[None, :, None])
    V.mul_(factor[None, :])


@torch.no_grad()
def _cap_strengths(model, scale, cap):
    """Scale each feature's ``(A_i^1 … A_i^H, V_i)`` by ``min(1, cap / strength_i)``:
    the radial projection onto ``{strength_i ≤ cap}`` (theory/strength-cap.md)."""
    strengths = model.feature_bounds().numpy() * scale  # (out, n_numeric)
    factor = np.minimum(1.0, cap / np.maximum(strengths.max(0), 1e-300))
    if np.all(factor == 1.0):
        return
    t = torch.ones(model.spectral.pencil.weight.shape[1], dtype=_DTYPE)
    t[:len(factor)] = torch.from_numpy(factor)
    model.spectral.pencil.weight.mul_(t[None, :, None])
    model.skip.weight.mul_(t[None, :])


_PARAMS_DOC = """
    Parameters
    ----------
    n_neurons : int, default=8
        Spectral neurons in the hidden layer. Eight 4×4 neurons on 10 features hold
        8·11·10 = 880 pencil parameters — the size of a one-hidden-layer MLP with ~75 units.
    neuron : {"eigenvalue", "mixture"}, default="eigenvalue"
        ``"eigenvalue"``: each neuron returns ``λ_index``; ``"mixture"``: ``⟨w, λ⟩`` with
        learned weights ``w`` started at the haversine profile (``SpectralMixtureLayer``;
        ``index`` is then unused).
    dim : int, default=4
        Matrix size ``n`` of each neuron. ``λ_k`` of an ``n × n`` pencil is piecewise smooth
        with up to ``n − 1`` eigenvalue crossings; 4 is expressive enough for common tabular
        targets while one batched ``4 × 4`` eigen-solve stays cheap.
    index : int or None, default=-1
        Eigenvalue each neuron returns (0-based, ascending; negative counts from the top;
        ``None`` is the middle one). ``-1`` (largest) makes each neuron convex in ``z``; with
        signed readout weights the network is a difference of convex functions, which trained
        best in our benchmarks.
    structure : {"dense", "tridiagonal"}, default="dense"
        Pencil structure: any registered one that needs no further option
        (``optneuron.pencils.pencil_structures``). Dense is the most expressive per neuron.
    alpha : float, default=1e-4
        L2 penalty (Adam weight decay) on all weights; on the pencil it is a Frobenius
        penalty on the ``A_i`` (isometric coordinates).
    batch_size : int, default=64
        Minibatch size (clipped to the training-set size).
    learning_rate_init : float, default=0.01
        Adam step size. Inputs (and regression targets) are standardized and the pencil
        starts near affine with unit eigenvalue gaps, so one step size fits most data.
    learning_rate : {"constant", "one_cycle"}, default="constant"
        Learning-rate schedule: constant, or one cycle (warm-up from ``learning_rate_init/25``
        over the first 30 % of ``max_iter`` epochs' steps, cosine cool-down after).
    max_iter : int, default=200
        Maximum number of epochs.
    tol : float, default=1e-4
        Minimum decrease of the monitored loss (standardized units) that counts as progress.
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of the training data, stop when its loss has not
        improved by ``tol`` for ``n_iter_no_change`` epochs and keep the weights with the best
        validation loss. With too few samples for a split (fewer than 2 in either part) the
        training loss is monitored instead, as with ``early_stopping=False``.
    validation_fraction : float, default=0.1
        Share of the training data held out for early stopping.
    n_iter_no_change : int, default=10
        Patience, in epochs.
    smoothing : float or None, default=None
        Moreau smoothing ``α`` of the neurons' eigenvalues (``SphereQP(smoothing=α)``).
    spectral_penalty : float, default=0.0
        Weight ``λ`` of the differentiable ``Σ_h Σ_i ‖A_i^h‖_op`` added to the loss
        (``certify.spectral_penalty``): shrinks the certified strengths.
    group_penalty : float, default=0.0
        Weight ``μ`` of ``Σ_i ‖(A_i^1 … A_i^H, V_i)‖₂`` (feature selection): after every step a
        proximal (group soft-thresholding) step with step size ``lr · μ`` can set a numeric
        feature's matrices and skip weight exactly to zero; see ``selected_features_``.
    max_feature_strength : float or None, default=None
        Cap ``c``: after every step each numeric feature's matrices and skip weight are scaled
        by ``min(1, c / strength_i)``, so ``feature_strengths_ ≤ c`` (original units of the
        feature and of the output) at the end; theory/strength-cap.md.
    categorical_features : "from_dtype", list of str or int, bool mask or None, default="from_dtype"
        Categorical columns (HistGradientBoosting's convention; "from_dtype": a DataFrame's
        object, category, bool and string columns). Each category of a column is a learned
        matrix added to the pencil of every neuron (``optneuron.categorical``).
    max_categories : int, default=1024
        A column with more categories is hashed into this many matrices (bounded memory).
    min_frequency : int, default=1
        Categories seen fewer times in ``fit`` share the column's unknown matrix, which is
        also used for categories never seen (it stays the zero matrix when no rare category
        trains it).
    warm_start : bool, default=False
        ``fit`` continues from the fitted network (and its standardization) instead of a
        fresh one, as in ``MLPRegressor``.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialization, the validation split and the minibatch order (through a
        ``torch.Generator``; torch's global RNG is not touched). A fixed seed gives
        bit-identical refits on CPU.
    verbose : bool, default=False
        Show a tqdm progress bar over epochs with the training and validation losses.

    Attributes
    ----------
    model_ : torch.nn.Module
        The fitted network (float64; inputs are standardized features).
    feature_strengths_ : ndarray of shape (n_features,) or (n_outputs, n_features)
        Certified per-feature sensitivity in the original units:
        ``|f(x + t e_i) − f(x)| ≤ feature_strengths_[i] · |t|`` for every ``x`` and ``t``.
    feature_strengths_history_ : list of ndarray
        ``feature_strengths_`` (first output) after every epoch (``np.array`` of it: epochs ×
        features; ``optneuron.plot.feature_strengths_history`` draws it).
    gap_quantiles_history_ : list of ndarray of shape (3, n_neurons)
        After every epoch, the 10/50/90 % quantiles over (up to 512 evenly spaced) training rows
        of each neuron's smallest used eigenvalue gap (``diagnostics.matrix_gap_quantiles``):
        small gaps make a single eigenvalue's gradient erratic, which ``neuron="mixture"``
        tolerates; ``optneuron.plot.gap_history`` draws it beside ``loss_curve_``.
    category_strengths_ : dict
        Only with categorical columns: ``{column: {category: s_c}}`` with
        ``|f(x; a) − f(x; b)| ≤ s_a + s_b`` for every ``x`` (``"<unknown>"``: unseen ones);
        ``category_jump_bound(column, a, b)`` gives the tighter pairwise bound.
    selected_features_ : ndarray of bool, shape (n_features,)
        Features whose matrices and skip weight are not all zero (``group_penalty``).
    converged_ : bool
        Whether early stopping ended the last fit (else ``max_iter`` did).
    loss_curve_ : list of float
        Mean training loss per epoch (standardized units).
    validation_loss_curve_ : list of float or None
        Validation loss per epoch (None without a validation split).
    best_loss_ : float
        Best monitored loss (validation loss when a split was used).
    n_iter_ : int
        Epochs run.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` has string column names (e.g. a pandas DataFrame).
"""


class SpectralRegressor(RegressorMixin, _BaseSpectralEstimator):
    """Regression with a small hybrid network of spectral neurons (see the module docstring).

    ``f(z) = W λ(z) + V z + c`` on standardized ``z``, fitted on standardized ``y`` with
    ``loss`` ("squared_error"; "absolute_error"; "huber": quadratic within one standard
    deviation of ``y``, linear beyond); multi-output ``y (n_samples, n_outputs)`` is supported.

    The defaults need no tuning on common tabular data: Adam with early stopping on a 10 %
    validation split; a fit on a few thousand rows takes seconds on two cores.
    """

    __doc__ += _PARAMS_DOC

    @property
    def _parameter_constraints(self) -> dict:
        return {**super()._parameter_constraints,
                "loss": [StrOptions({"squared_error", "absolute_error", "huber"})]}

    def __init__(
        self,
        *,
        loss="squared_error",
        n_neurons=8,
        neuron="eigenvalue",
        dim=4,
        index=-1,
        structure="dense",
        alpha=1e-4,
        batch_size=64,
        learning_rate_init=0.01,
        learning_rate="constant",
        max_iter=200,
        tol=1e-4,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=10,
        smoothing=None,
        spectral_penalty=0.0,
        group_penalty=0.0,
        max_feature_strength=None,
        categorical_features="from_dtype",
        max_categories=1024,
        min_frequency=1,
        warm_start=False,
        random_state=None,
        verbose=False,
    ):
        super().__init__(
            n_neurons=n_neurons,
            neuron=neuron,
            dim=dim,
            index=index,
            structure=structure,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate_init=learning_rate_init,
            learning_rate=learning_rate,
            max_iter=max_iter,
            tol=tol,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            smoothing=smoothing,
            spectral_penalty=spectral_penalty,
            group_penalty=group_penalty,
            max_feature_strength=max_feature_strength,
            categorical_features=categorical_features,
            max_categories=max_categories,
            min_frequency=min_frequency,
            warm_start=warm_start,
            random_state=random_state,
            verbose=verbose,
        )
        self.loss = loss

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit to ``X (n_samples, n_features)`` and ``y (n_samples[, n_outputs])``; rows
        weighted by ``sample_weight`` (0: left out; an integer k: like k copies, in
        expectation over the minibatches)."""
        return self._fit(X, y, sample_weight, incremental=False)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch on ``(X, y)``; the first call fixes the standardization (as in
        ``MLPRegressor.partial_fit``, no early stopping; the optimizer state carries over)."""
        return self._fit(X, y, sample_weight, incremental=True)

    def _fit(self, X, y, sample_weight, incremental):
        first = not hasattr(self, "model_") or not (self.warm_start or incremental)
        x, y, w = self._prepare_fit(X, y, sample_weight, reset=first, multi_output=True,
                                    y_numeric=True)
        y = np.asarray(y, dtype=np.float64)
        Y = y.reshape(len(y), -1)
        if first:
            self._y_ndim = y.ndim
            self._y_mean = np.average(Y, axis=0, weights=w)
            scale = np.sqrt(np.average((Y - self._y_mean) ** 2, axis=0, weights=w))
            self._y_scale = np.where(scale > 0, scale, 1.0)
        elif Y.shape[1] != len(self._y_mean):
            raise ValueError(f"y has {Y.shape[1]} outputs; the fitted model has "
                             f"{len(self._y_mean)}")
        T = torch.from_numpy((Y - self._y_mean) / self._y_scale)
        self._fit_net(x, T, w, Y.shape[1], self.loss, incremental=incremental)
        if self._y_ndim == 1 and getattr(self.feature_strengths_, "ndim", 1) == 2:
            self.feature_strengths_ = self.feature_strengths_[0]
        return self

    def _output_scale(self):
        return self._y_scale

    def predict(self, X):
        """Predictions ``(n_samples,)`` (or ``(n_samples, n_outputs)`` for 2-d ``y``)."""
        out = self._forward(X) * self._y_scale + self._y_mean
        return out[:, 0] if self._y_ndim == 1 else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags


class SpectralClassifier(ClassifierMixin, _BaseSpectralEstimator):
    """Classification (binary or multiclass) with a small hybrid network of spectral neurons.

    ``f(z) = W λ(z) + V z + c`` gives one logit (two classes, sigmoid) or ``n_classes`` logits
    (softmax); trained on the log-loss. ``decision_function`` returns the logits,
    ``predict_proba`` the probabilities.
    """

    __doc__ += _PARAMS_DOC + """    classes_ : ndarray of shape (n_classes,)
"""

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit to ``X (n_samples, n_features)`` and class labels ``y (n_samples,)``; rows
        weighted by ``sample_weight`` as in ``SpectralRegressor.fit``."""
        return self._fit(X, y, sample_weight, classes=None, incremental=False)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch on ``(X, y)``; the first call needs ``classes`` (all labels that will
        occur) and fixes the standardization, as in ``MLPClassifier.partial_fit``."""
        if not hasattr(self, "model_") and classes is None:
            raise ValueError("classes must be given on the first call to partial_fit")
        return self._fit(X, y, sample_weight, classes=classes, incremental=True)

    def _fit(self, X, y, sample_weight, classes, incremental):
        first = not hasattr(self, "model_") or not (self.warm_start or incremental)
        x, y, w = self._prepare_fit(X, y, sample_weight, reset=first)
        check_classification_targets(y)
        if first:
            self._encoder = LabelEncoder().fit(y if classes is None else classes)
            self.classes_ = self._encoder.classes_
        unseen = np.setdiff1d(np.unique(y), self.classes_)
        if len(unseen):
            raise ValueError(f"y has labels {unseen.tolist()} not in classes_ "
                             f"{self.classes_.tolist()}")
        codes = self._encoder.transform(y)
        n_classes = len(self.classes_)
        if n_classes < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes in y; "
                f"got 1 class ({self.classes_[0]!r})"
            )
        if n_classes == 2:
            T = torch.from_numpy(codes.astype(np.float64))
            self._fit_net(x, T, w, 1, "binary_log_loss", stratify=codes, incremental=incremental)
        else:
            T = torch.from_numpy(codes.astype(np.int64))
            self._fit_net(x, T, w, n_classes, "log_loss", stratify=codes, incremental=incremental)
        return self

    def decision_function(self, X):
        """Logits: ``(n_samples,)`` for two classes (positive: ``classes_[1]``), else
        ``(n_samples, n_classes)``."""
        out = self._forward(X)
        return out[:, 0] if len(self.classes_) == 2 else out

    def predict_proba(self, X):
        """Class probabilities ``(n_samples, n_classes)`` (sigmoid / softmax of the logits)."""
        logits = torch.from_numpy(self._forward(X))
        if len(self.classes_) == 2:
            x = logits[:, 0]  # σ(−x), not 1 − σ(x): accurate for confident predictions
            return torch.stack([torch.sigmoid(-x), torch.sigmoid(x)], dim=1).numpy()
        return torch.softmax(logits, dim=1).numpy()

    def predict_log_proba(self, X):
        """Log of ``predict_proba``, computed stably from the logits."""
        logits = torch.from_numpy(self._forward(X))
        if len(self.classes_) == 2:
            x = logits[:, 0]
            return torch.stack(
                [torch.nn.functional.logsigmoid(-x), torch.nn.functional.logsigmoid(x)], dim=1
            ).numpy()
        return torch.log_softmax(logits, dim=1).numpy()

    def predict(self, X):
        """Predicted class labels ``(n_samples,)``."""
        out = self._forward(X)
        if len(self.classes_) == 2:
            codes = (out[:, 0] > 0).astype(np.int64)
        else:
            codes = out.argmax(axis=1)
        return self.classes_[codes]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = True
        tags.classifier_tags.multi_label = False
        return tags
