"""scikit-learn estimators built on spectral neurons: ``SpectralRegressor``, ``SpectralClassifier``.

Both fit the same small hybrid network on standardized inputs ``z = (x − mean) / scale``:

    f(z) = W · λ(z) + V z + c,      λ_h(z) = λ_k(A_0^h + Σ_i z_i A_i^h)  (h = 1 … n_neurons)

a ``SpectralLayer`` of ``n_neurons`` spectral neurons (``dim × dim`` matrices, one batched
eigen-solve), a linear readout ``W`` and a linear skip ``V`` (so the model contains linear
regression / logistic regression and the neurons only have to learn the nonlinear rest).
The regressor also standardizes ``y`` and fits the squared error; the classifier fits the
log-loss (one logit for two classes, softmax over ``n_classes`` logits otherwise).

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
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # pragma: no cover - older scikit-learn

    def _validate_data(estimator, *args, **kwargs):
        return estimator._validate_data(*args, **kwargs)


from .nn import SpectralLayer, SpectralMixtureLayer
from .pencils import pencil_structures
from .training import TrainingConfig, torch_threads, train
from .validation import check_index

__all__ = ["SpectralRegressor", "SpectralClassifier"]

_DTYPE = torch.float64  # float64 end to end: predictions do not depend on the batch split
_PREDICT_CHUNK = 4096


class _ReadoutNet(torch.nn.Module):
    """``z ↦ readout(SpectralLayer(z)) + skip(z)``: ``(B, n_features) → (B, n_outputs)``."""

    def __init__(self, n_features, n_outputs, n_neurons, dim, index, structure, generator,
                 neuron="eigenvalue"):
        super().__init__()
        if neuron == "mixture":  # ⟨w, λ⟩ with learned haversine-initialized weights
            self.spectral = SpectralMixtureLayer(n_features, n_neurons, dim,
                                                 structure=structure, dtype=_DTYPE)
        else:
            self.spectral = SpectralLayer(
                n_features, n_neurons, dim, index=index, structure=structure, dtype=_DTYPE
            )
        self.spectral.reset_parameters(generator=generator)
        self.readout = torch.nn.Linear(n_neurons, n_outputs, dtype=_DTYPE)
        self.skip = torch.nn.Linear(n_features, n_outputs, bias=False, dtype=_DTYPE)
        with torch.no_grad():
            # Readout ~ U(±1/√n_neurons) (the Linear default, drawn from `generator`); the skip
            # starts at zero: the least-squares direction is found in a few steps anyway.
            bound = 1 / math.sqrt(n_neurons)
            self.readout.weight.copy_(_uniform(self.readout.weight.shape, bound, generator))
            self.readout.bias.zero_()
            self.skip.weight.zero_()

    def forward(self, z):
        return self.readout(self.spectral(z)) + self.skip(z)

    def feature_bounds(self) -> torch.Tensor:
        """``(n_outputs, n_features)``: ``Σ_h |W_oh| ‖A_i^h‖_op + |V_oi|`` (Weyl + triangle)."""
        with torch.no_grad():
            B = self.spectral.feature_bounds()  # (n_neurons, n_features)
            return self.readout.weight.abs() @ B + self.skip.weight.abs()


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
    "max_iter": [Interval(Integral, 1, None, closed="left")],
    "tol": [Interval(Real, 0, None, closed="left")],
    "early_stopping": ["boolean"],
    "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
    "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
}


class _BaseSpectralEstimator(BaseEstimator):
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
        max_iter=200,
        tol=1e-4,
        early_stopping=True,
        validation_fraction=0.1,
        n_iter_no_change=10,
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
        self.max_iter = max_iter
        self.tol = tol
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.random_state = random_state
        self.verbose = verbose

    def _standardize_X(self, X, fit):
        if fit:
            self._x_mean = X.mean(axis=0)
            scale = X.std(axis=0)
            self._x_scale = np.where(scale > 1e-12 * np.maximum(1.0, np.abs(self._x_mean)),
                                     scale, 1.0)
        return torch.from_numpy(np.ascontiguousarray((X - self._x_mean) / self._x_scale))

    def _fit_net(self, X, T, n_outputs, loss_fn, stratify=None):
        """Train ``model_`` on standardized ``X`` and targets ``T`` (a tensor) with
        ``training.train``; sets the learned attributes shared by both estimators."""
        if self.index is not None:  # the range depends on dim: not a per-parameter constraint
            check_index("index", self.index, self.dim, what="dim")
        rng = check_random_state(self.random_state)
        generator = torch.Generator().manual_seed(int(rng.randint(np.iinfo(np.int32).max)))
        Z = self._standardize_X(X, fit=True)
        (Z_train, T_train), validation = self._split(Z, T, rng, stratify)
        # The layers draw their default init from torch's global RNG before we redraw it
        # from `generator`; fork_rng keeps the caller's global RNG state untouched.
        with torch.random.fork_rng(devices=[]):
            model = _ReadoutNet(Z.shape[1], n_outputs, self.n_neurons, self.dim, self.index,
                                self.structure, generator, self.neuron)
        config = TrainingConfig(
            max_epochs=self.max_iter, learning_rate=self.learning_rate_init,
            weight_decay=self.alpha, batch_size=self.batch_size, tol=self.tol,
            patience=self.n_iter_no_change, progress=bool(self.verbose),
            description=type(self).__name__,
        )
        with torch_threads(1):
            try:
                history = train(model, loss_fn, Z_train, T_train, config=config,
                                validation=validation, generator=generator)
            except FloatingPointError as err:
                raise FloatingPointError(f"{type(self).__name__}: {err} (learning_rate_init)") \
                    from None
        self.model_, self.n_iter_, self.best_loss_ = model, history.epochs, history.best_loss
        self.loss_curve_, self.validation_loss_curve_ = history.train_loss, history.validation_loss
        if not history.converged:
            warnings.warn(
                f"{type(self).__name__}: max_iter={self.max_iter} epochs reached and the "
                "loss is still improving; increase max_iter.",
                ConvergenceWarning,
                stacklevel=4,
            )

    def _split(self, Z, T, rng, stratify):
        """``(Z_train, T_train), (Z_val, T_val) or None``: the early-stopping hold-out."""
        n = Z.shape[0]
        n_val = int(math.floor(self.validation_fraction * n))
        if not (self.early_stopping and n_val >= 2 and n - n_val >= 2):
            return (Z, T), None
        if stratify is not None:
            counts = np.bincount(stratify)
            ok = counts.min() >= 2 and min(n_val, n - n_val) >= len(counts)
            stratify = stratify if ok else None
        train_idx, val_idx = train_test_split(
            np.arange(n), test_size=n_val, random_state=rng, stratify=stratify
        )
        train_idx, val_idx = torch.from_numpy(train_idx), torch.from_numpy(val_idx)
        return (Z[train_idx], T[train_idx]), (Z[val_idx], T[val_idx])

    def _forward(self, X):
        """Raw network outputs ``(n_samples, n_outputs)`` as a numpy float64 array."""
        check_is_fitted(self, "model_")
        X = _validate_data(self, X, dtype=np.float64, reset=False)
        Z = self._standardize_X(X, fit=False)
        with torch.no_grad(), torch_threads(1):
            parts = [self.model_(Z[i:i + _PREDICT_CHUNK]) for i in range(0, len(Z), _PREDICT_CHUNK)]
        out = torch.cat(parts) if parts else Z.new_zeros((0, self.model_.readout.out_features))
        return out.numpy()

    def _strengths(self, output_scale):
        """Per-feature certified sensitivity in original units: ``(n_outputs, n_features)``."""
        B = self.model_.feature_bounds().numpy()
        return B * np.asarray(output_scale, dtype=np.float64)[:, None] / self._x_scale[None, :]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.non_deterministic = False
        return tags


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

    ``f(z) = W λ(z) + V z + c`` on standardized ``z``, squared error on standardized ``y``;
    multi-output ``y (n_samples, n_outputs)`` is supported.

    The defaults need no tuning on common tabular data: Adam with early stopping on a 10 %
    validation split; a fit on a few thousand rows takes seconds on two cores.
    """

    __doc__ += _PARAMS_DOC

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fit to ``X (n_samples, n_features)`` and ``y (n_samples[, n_outputs])``."""
        X, y = _validate_data(self, X, y, dtype=np.float64, multi_output=True, y_numeric=True)
        y = np.asarray(y, dtype=np.float64)
        self._y_ndim = y.ndim
        Y = y.reshape(len(y), -1)
        self._y_mean = Y.mean(axis=0)
        scale = Y.std(axis=0)
        self._y_scale = np.where(scale > 0, scale, 1.0)
        T = torch.from_numpy((Y - self._y_mean) / self._y_scale)
        self._fit_net(X, T, Y.shape[1], torch.nn.functional.mse_loss)
        strengths = self._strengths(self._y_scale)
        self.feature_strengths_ = strengths[0] if self._y_ndim == 1 else strengths
        return self

    def predict(self, X):
        """Predictions ``(n_samples,)`` (or ``(n_samples, n_outputs)`` for 2-d ``y``)."""
        out = self._forward(X) * self._y_scale + self._y_mean
        return out[:, 0] if self._y_ndim == 1 else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags


def _binary_log_loss(logits, target):
    return torch.nn.functional.binary_cross_entropy_with_logits(logits[:, 0], target)


class SpectralClassifier(ClassifierMixin, _BaseSpectralEstimator):
    """Classification (binary or multiclass) with a small hybrid network of spectral neurons.

    ``f(z) = W λ(z) + V z + c`` gives one logit (two classes, sigmoid) or ``n_classes`` logits
    (softmax); trained on the log-loss. ``decision_function`` returns the logits,
    ``predict_proba`` the probabilities.
    """

    __doc__ += _PARAMS_DOC + """    classes_ : ndarray of shape (n_classes,)
"""

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Fit to ``X (n_samples, n_features)`` and class labels ``y (n_samples,)``."""
        X, y = _validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        encoder = LabelEncoder()
        codes = encoder.fit_transform(y)
        self.classes_ = encoder.classes_
        n_classes = len(self.classes_)
        if n_classes < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes in y; "
                f"got 1 class ({self.classes_[0]!r})"
            )
        if n_classes == 2:
            T = torch.from_numpy(codes.astype(np.float64))
            self._fit_net(X, T, 1, _binary_log_loss, stratify=codes)
        else:
            T = torch.from_numpy(codes.astype(np.int64))
            self._fit_net(X, T, n_classes, torch.nn.functional.cross_entropy, stratify=codes)
        strengths = self._strengths(np.ones(self.model_.readout.out_features))
        self.feature_strengths_ = strengths[0] if n_classes == 2 else strengths
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
