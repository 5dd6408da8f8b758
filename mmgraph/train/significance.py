"""Paired significance of one model against another over the same users (scipy.stats)."""

from __future__ import annotations

import numpy as np


def paired_test(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Compare per-user metric values ``a`` and ``b`` of two models on the same users (entry
    ``n`` of both is one user, or one (seed, user) pair).

    Returns the mean difference ``a - b``, the paired t-test's two-sided p-value
    (:func:`scipy.stats.ttest_rel`), the Wilcoxon signed-rank test's two-sided p-value
    (:func:`scipy.stats.wilcoxon`; users with equal values, e.g. no hit for either model, carry no
    sign and are left out, as that test defines), the number of pairs, and the shares of pairs
    where ``a`` wins and where ``b`` wins.
    """
    from scipy import stats

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or a.size < 2:
        raise ValueError(f"paired_test needs two equal-length 1-D arrays of at least 2 values, got "
                         f"{a.shape} and {b.shape}")
    diff = a - b
    differs = diff != 0
    out = {"mean_diff": float(diff.mean()), "pairs": int(a.size),
           "a_wins": float((diff > 0).mean()), "b_wins": float((diff < 0).mean())}
    out["t_p"] = float(stats.ttest_rel(a, b).pvalue) if differs.any() else 1.0
    out["wilcoxon_p"] = float(stats.wilcoxon(diff[differs]).pvalue) if differs.sum() >= 1 else 1.0
    return out
