"""Losses for implicit-feedback ranking."""

import torch.nn.functional as F
from torch import Tensor


def bpr_loss(pos: Tensor, neg: Tensor) -> Tensor:
    r"""Bayesian personalized ranking, :math:`-\log\sigma(y_{ui} - y_{uj})`, averaged.

    ``pos`` [B] scores of observed pairs, ``neg`` [B, k] scores of k sampled negatives each.
    Computed in float32 whatever the model's dtype.
    """
    return -F.logsigmoid(pos.float().unsqueeze(-1) - neg.float()).mean()
