"""Test helpers: seeded random symmetric matrices with prescribed spectra."""

import torch


def random_orthogonal(batch, n, seed, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    Q, R = torch.linalg.qr(torch.randn(batch, n, n, generator=g, dtype=torch.float64))
    return (Q * torch.sign(torch.diagonal(R, dim1=-2, dim2=-1)).unsqueeze(-2)).to(dtype)


def with_spectrum(mu, seed=0):
    """``Q diag(mu) Qᵀ`` for a batch of spectra ``mu (B, n)`` and a seeded orthogonal ``Q``."""
    mu = torch.as_tensor(mu, dtype=torch.float64)
    Q = random_orthogonal(mu.shape[0], mu.shape[1], seed)
    return (Q * mu.unsqueeze(-2)) @ Q.mT


def random_symmetric(*shape, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(*shape, generator=g, dtype=torch.float64)
    return ((A + A.mT) / 2).to(dtype)
