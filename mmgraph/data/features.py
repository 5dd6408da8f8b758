"""Feature preprocessing used in the literature: L2 / standard normalization and PCA per modality.

Both are fitted on the item feature matrices themselves (features are item side information,
not labels, so every item row is used), and results are cached with the processed dataset.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from mmgraph.errors import DataError

FEATURE_NORMALIZATIONS = ("none", "l2", "standard")


def normalize(x: np.ndarray, how: str) -> np.ndarray:
    """``l2``: unit-norm rows; ``standard``: zero mean, unit variance per column."""
    if how in (None, "none"):
        return x
    if how == "l2":
        norm = np.linalg.norm(x, axis=1, keepdims=True)
        return (x / np.maximum(norm, 1e-12)).astype(np.float32, copy=False)
    if how == "standard":
        std = x.std(axis=0, keepdims=True)
        y = x - x.mean(axis=0, keepdims=True)  # the one full-size result; divided in place
        y /= np.where(std > 0, std, 1.0)
        return y.astype(np.float32, copy=False)
    raise DataError(
        f"unknown normalization '{how}'; use one of {', '.join(FEATURE_NORMALIZATIONS)}"
    )


def normalize_like(x: np.ndarray, reference: np.ndarray, how: str) -> np.ndarray:
    """``x`` (e.g. new items) normalized as :func:`normalize` normalized ``reference`` (the
    dataset's items): ``standard`` uses the reference's column means and deviations."""
    if how != "standard":
        return normalize(x, how)
    std = reference.std(axis=0, keepdims=True)
    return ((x - reference.mean(axis=0, keepdims=True)) / np.where(std > 0, std, 1.0)).astype(
        np.float32
    )


def _pca(x: np.ndarray, dim: int, seed: int):
    """The (unfitted) scikit-learn PCA that :func:`pca` fits on ``x``."""
    from sklearn.decomposition import PCA

    # Exact SVD where it is cheap; seeded randomized SVD for large matrices (e.g. 86k x 2048).
    solver = "randomized" if x.size > 2e7 and dim < 0.8 * min(x.shape) else "full"
    return PCA(n_components=dim, svd_solver=solver, random_state=seed)


def pca(x: np.ndarray, dim: int, seed: int = 0) -> np.ndarray:
    """Project ``x`` [I, D] on its top ``dim`` principal components (scikit-learn PCA)."""
    if dim >= min(x.shape):
        return x
    return _pca(x, dim, seed).fit_transform(x).astype(np.float32, copy=False)


def pca_like(x: np.ndarray, reference: np.ndarray, dim: int, seed: int = 0) -> np.ndarray:
    """``x`` (e.g. new items) projected as :func:`pca` projected ``reference`` (the dataset's
    items): the same seeded fit on ``reference``, applied to ``x``."""
    if dim >= min(reference.shape):
        return x
    return _pca(reference, dim, seed).fit(reference).transform(x).astype(np.float32, copy=False)


def parse_pca(spec, modalities: list[str]) -> dict[str, int]:
    """``64`` -> every modality; ``{"visual": 64}`` or ``"visual=64,acoustic=64"`` -> per modality."""
    if spec in (None, "", 0):
        return {}
    if isinstance(spec, str) and "=" not in spec:
        spec = int(spec) if spec.strip().isdigit() else spec
    if isinstance(spec, int):
        mapping = {m: spec for m in modalities}
    elif isinstance(spec, str):
        mapping = {}
        for part in spec.split(","):
            key, _, val = part.partition("=")
            if not val.strip().isdigit():
                raise DataError(f"bad PCA spec '{part}'; write modality=dim, e.g. visual=64")
            mapping[key.strip()] = int(val)
    else:
        mapping = {str(k): int(v) for k, v in dict(spec).items()}
    unknown = sorted(set(mapping) - set(modalities))
    if unknown:
        raise DataError(
            f"PCA names unknown modalities {', '.join(unknown)}; the dataset has "
            f"{', '.join(modalities)}; name those in data.pca"
        )
    if any(d <= 0 for d in mapping.values()):
        raise DataError(
            f"PCA dims must be positive, got {mapping}; write modality=dim with dim >= 1"
        )
    return mapping


def preprocess(
    features: Mapping[str, np.ndarray],
    *,
    norm: str | None = None,
    pca_dims: Mapping[str, int] | None = None,
    seed: int = 0,
) -> tuple[dict[str, np.ndarray], list[str]]:
    """Normalize every modality, then reduce the ones in ``pca_dims`` with PCA.

    Returns the features and notes on requests that changed nothing (PCA dim >= feature dim).
    """
    out, notes = {}, []
    for m, x in features.items():
        x = normalize(x, norm)
        if pca_dims and m in pca_dims:
            if pca_dims[m] >= min(x.shape):
                notes.append(
                    f"PCA to {pca_dims[m]} dims left {m} unchanged: it has only "
                    f"{x.shape[1]} dims and {x.shape[0]} items"
                )
            x = pca(x, pca_dims[m], seed)
        out[m] = np.ascontiguousarray(x, dtype=np.float32)
    return out, notes
