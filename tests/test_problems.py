import numpy as np
import pytest
import torch

from optneuron import KyFan, SphereQP


@pytest.mark.parametrize("n", [1, 2, 5])
def test_sphereqp_index_resolution_matches_python_indexing(n):
    for index in range(-n, n):
        assert SphereQP(index).resolve_index(n) == list(range(n))[index]
    for bad in (-n - 1, n):
        with pytest.raises(ValueError, match="index"):
            SphereQP(bad).resolve_index(n)


def test_resolve_index_memo_answers_as_the_checks_do():
    # the memo behind resolve_index (a training step asks twice per call) must not change any
    # answer or error, survive pickling and dataclasses.replace, and stay out of eq/hash/repr
    import dataclasses
    import pickle

    p = SphereQP(-1)
    for _ in range(2):  # the second round answers from the memo
        assert p.resolve_index(5) == 4 and p.eigen_range(5) == (4, 5)
        with pytest.raises(TypeError, match="n must be an int"):
            p.resolve_index(True)
        with pytest.raises(ValueError, match="at least 1"):
            p.resolve_index(0)
    with pytest.raises(ValueError, match="index 5 is out of range"):
        SphereQP(5).resolve_index(3)
    assert p == SphereQP(-1) and hash(p) == hash(SphereQP(-1))
    assert repr(p) == "SphereQP(index=-1, smoothing=None)"
    assert pickle.loads(pickle.dumps(p)).resolve_index(7) == 6
    assert dataclasses.replace(p, index=2).resolve_index(5) == 2
    old = pickle.loads(pickle.dumps(p))
    del old.__dict__["_resolved"]  # as unpickled from a version without the memo
    assert old.resolve_index(5) == 4


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: SphereQP(1.0), TypeError, "index"),
        (lambda: SphereQP(True), TypeError, "index"),
        (lambda: SphereQP(0, smoothing=0.0), ValueError, "smoothing"),
        (lambda: SphereQP(0, smoothing=-1.0), ValueError, "smoothing"),
        (lambda: SphereQP(0, smoothing=float("inf")), ValueError, "smoothing"),
        (lambda: SphereQP(0, smoothing="0.1"), TypeError, "smoothing"),
        (lambda: KyFan(0), ValueError, "count"),
        (lambda: KyFan(2.5), TypeError, "count"),
        (lambda: KyFan(1, largest=1), TypeError, "largest"),
    ],
)
def test_bad_declarations_raise_naming_the_argument(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_problems_are_frozen_and_hashable():
    p = SphereQP(2)
    with pytest.raises(AttributeError):
        p.index = 3
    assert {SphereQP(2), SphereQP(2), KyFan(1)} == {SphereQP(2), KyFan(1)}


def test_kyfan_count_checked_against_size():
    assert KyFan(3).eigen_range(3) == (0, 3)
    assert KyFan(2, largest=True).eigen_range(5) == (3, 5)
    with pytest.raises(ValueError, match="count 4"):
        KyFan(4).eigen_range(3)


def _term_value(term, mu):
    part = mu[..., -term.count:] if term.largest else mu[..., : term.count]
    return term.coef * part.sum(-1)


@pytest.mark.parametrize("n", [1, 2, 3, 6, 7])
def test_fantope_terms_sum_to_the_problem_value(n):
    mu = np.sort(np.random.default_rng(n).standard_normal((4, n)), axis=-1)
    for k in range(-n, n):
        value = sum(_term_value(t, mu) for t in SphereQP(k).fantope_terms(n))
        np.testing.assert_allclose(value, mu[:, k], atol=1e-12)
        assert len(SphereQP(k).fantope_terms(n)) <= 2
    for m in range(1, n + 1):
        for largest in (False, True):
            (term,) = KyFan(m, largest).fantope_terms(n)
            expected = mu[:, -m:].sum(-1) if largest else mu[:, :m].sum(-1)
            np.testing.assert_allclose(_term_value(term, mu), expected, atol=1e-12)


def test_smoothed_sphereqp_uses_largest_sum_envelopes():
    # docs/design.md: the smooth m-th largest eigenvalue is a difference of two top envelopes.
    terms = SphereQP(1, smoothing=0.5).fantope_terms(4)
    assert all(t.largest for t in terms)
    assert [t.count for t in terms] == [3, 2]
    assert SphereQP(1, smoothing=0.5).eigen_range(4) == (0, 4)


def test_problem_is_independent_of_torch_state():
    torch.manual_seed(0)
    assert SphereQP(-1).eigen_range(3) == (2, 3)
