"""Paired significance of one model against another over the same users (scipy.stats)."""

from __future__ import annotations

import numpy as np


def paired_test(
    a: np.ndarray,
    b: np.ndarray,
    *,
    confidence: float = 0.95,
    resamples: int = 10_000,
    seed: int = 0,
) -> dict[str, float]:
    """Compare per-user metric values ``a`` and ``b`` of two models on the same users (entry
    ``n`` of both is one user, or one (seed, user) pair).

    Returns the mean difference ``a - b``; the paired t-test's two-sided p-value
    (:func:`scipy.stats.ttest_rel`); the Wilcoxon signed-rank test's two-sided p-value
    (:func:`scipy.stats.wilcoxon`; users with equal values, e.g. no hit for either model, carry no
    sign and are left out, as that test defines); a ``confidence`` bootstrap interval of the
    mean difference (:func:`scipy.stats.bootstrap`, percentile method over ``resamples``
    resamples of the users, seeded); the number of pairs; and the shares of pairs where ``a``
    wins and where ``b`` wins.
    """
    from scipy import stats

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or a.size < 2:
        raise ValueError(
            f"paired_test needs two equal-length 1-D arrays of at least 2 values, got "
            f"{a.shape} and {b.shape}"
        )
    diff = a - b
    differs = diff != 0
    out = {
        "mean_diff": float(diff.mean()),
        "pairs": int(a.size),
        "a_wins": float((diff > 0).mean()),
        "b_wins": float((diff < 0).mean()),
    }
    out["t_p"] = float(stats.ttest_rel(a, b).pvalue) if differs.any() else 1.0
    out["wilcoxon_p"] = float(stats.wilcoxon(diff[differs]).pvalue) if differs.sum() >= 1 else 1.0
    if differs.any():
        ci = stats.bootstrap(
            (diff,),
            np.mean,
            confidence_level=confidence,
            n_resamples=resamples,
            method="percentile",
            random_state=np.random.default_rng(seed),
        ).confidence_interval
        out["ci_low"], out["ci_high"] = float(ci.low), float(ci.high)
    else:  # every user scores the same under both models
        out["ci_low"] = out["ci_high"] = 0.0
    return out


def pool_users(
    runs: list[dict[str, np.ndarray]], key: str, data_follows_seed: bool
) -> tuple[np.ndarray, np.ndarray]:
    """One model's per-user ``key`` over its seeds' runs (each ``{"users": [n], key: [n]}``):
    ``(units, values)``.  With fixed data (a real split) every seed ranks the same users, and a
    unit is a user with its mean over the seeds; when the data follows the seed (SYNTHETIC), a
    unit is a (seed, user) pair.  Two models' units line up when they ran the same seeds."""
    if data_follows_seed:
        units = np.concatenate(
            [np.stack([np.full(len(r["users"]), s), r["users"]], 1) for s, r in enumerate(runs)]
        )
        return units, np.concatenate([r[key] for r in runs])
    users = runs[0]["users"]
    for r in runs[1:]:
        if not np.array_equal(r["users"], users):
            raise ValueError(
                "the seeds' runs rank different users; pass data_follows_seed=True for data that "
                "changes with the seed"
            )
    return users, np.mean([r[key] for r in runs], 0)
