"""Chi-square goodness-of-fit tests shared by the sampling tests: counts of sampled directions
in (cos theta, phi) bins against the density integrated over each bin."""
from __future__ import annotations

import numpy as np
from scipy import stats

QUADRATURE = 16  # midpoint-rule points per bin side when integrating a density over a bin


def polar(d, up=2):
    """(cos theta, phi in [0, 2 pi)) of unit directions ``d`` (N, 3) about axis ``up`` (2: z,
    with phi measured from x towards y; 1: y, with phi measured from x towards z)."""
    d = np.asarray(d)
    if up == 2:
        return np.clip(d[:, 2], -1, 1), np.arctan2(d[:, 1], d[:, 0]) % (2 * np.pi)
    return np.clip(d[:, 1], -1, 1), np.mod(np.arctan2(d[:, 2], d[:, 0]), 2 * np.pi)


def direction_histogram(d, nb_t, nb_p, up=2):
    """Counts of directions ``d`` in ``nb_t`` x ``nb_p`` bins of (cos theta in [-1, 1], phi)."""
    ct, phi = polar(d, up)
    h, _, _ = np.histogram2d(ct, phi, bins=[nb_t, nb_p], range=[[-1, 1], [0, 2 * np.pi]])
    return h


def expected_counts(density, n_total, nb_t, nb_p, up=2, sub=QUADRATURE):
    """``n_total`` times the integral of ``density`` (a function of directions (M, 3) -> (M,),
    per steradian) over each (cos theta, phi) bin, by the midpoint rule on ``sub`` x ``sub``
    points per bin."""
    ce = (np.arange(nb_t * sub) + 0.5) / (nb_t * sub) * 2 - 1
    pe = (np.arange(nb_p * sub) + 0.5) / (nb_p * sub) * 2 * np.pi
    C, P = np.meshgrid(ce, pe, indexing="ij")
    s = np.sqrt(np.maximum(0, 1 - C ** 2))
    if up == 2:
        d = np.stack([s * np.cos(P), s * np.sin(P), C], -1)
    else:
        d = np.stack([s * np.cos(P), C, s * np.sin(P)], -1)
    pd = np.asarray(density(d.reshape(-1, 3))).reshape(nb_t * sub, nb_p * sub)
    cell = (2.0 / (nb_t * sub)) * (2 * np.pi / (nb_p * sub))  # d(cos) d(phi) = solid angle
    return (pd * cell).reshape(nb_t, sub, nb_p, sub).sum(axis=(1, 3)) * n_total


def chi2_pvalue(observed, expected, min_expected=5.0, pool=True):
    """p-value of Pearson's chi-square of ``observed`` counts against ``expected`` ones.

    Bins expecting fewer than ``min_expected`` samples are pooled into one bin (``pool``), or
    left out (``pool=False``: only bins expecting more than ``min_expected`` count). Pooling
    asserts that no sample fell where nothing is expected. Returns (p, chi2, degrees of
    freedom)."""
    observed = np.asarray(observed, np.float64).ravel()
    expected = np.asarray(expected, np.float64).ravel()
    if pool:
        lo = expected < min_expected
        obs = np.append(observed[~lo], observed[lo].sum())
        ex = np.append(expected[~lo], expected[lo].sum())
        keep = ex > 0
        assert obs[~keep].sum() == 0, "samples where the pdf is zero"
    else:
        keep = expected > min_expected
        obs, ex = observed, expected
    chi2 = ((obs[keep] - ex[keep]) ** 2 / ex[keep]).sum()
    dof = int(keep.sum()) - 1
    return stats.chi2.sf(chi2, dof), chi2, dof


def chi2_directions(wo, n_total, pdf_fn, nb_t=10, nb_p=16, min_expected=5.0, sub=QUADRATURE):
    """p-value of the histogram of directions ``wo`` (N, 3) over (cos theta in [-1, 1], phi)
    bins (z up) against ``n_total`` times the integral of ``pdf_fn`` over each bin, with the
    bins expecting fewer than ``min_expected`` samples pooled; and the pdf's total mass over
    the sphere (1 for a density that loses no energy). ``sub``: quadrature points per bin side
    (a sharp lobe needs more than the default to integrate to its mass)."""
    h = direction_histogram(wo, nb_t, nb_p)
    exp = expected_counts(pdf_fn, n_total, nb_t, nb_p, sub=sub)
    p, _, _ = chi2_pvalue(h, exp, min_expected)
    return p, exp.sum() / n_total


__all__ = ["polar", "direction_histogram", "expected_counts", "chi2_pvalue", "chi2_directions"]
