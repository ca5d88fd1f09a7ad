"""Optimal-transport alignment of text tokens to audio frames (DLAV-SE eq. 22-25).

The cost of matching token i to audio frame j is C_ij = 1 - cos(z_i, h~_j). Starting from
the Gibbs kernel gamma^0 = exp(-C / beta_ot), Sinkhorn alternately rescales rows and
columns until the plan has the wanted marginals. We work in the log domain, so small
beta_ot (sharp plans) cannot underflow.

Marginals: every token row sums to 1 (each token is a convex mix of audio frames, so
Z~_f = gamma* H~ is a per-token average of audio features) and every audio column sums to
T_t / T_a (the tokens' mass spread evenly over the frames). Up to that scaling the plan is
doubly stochastic. L_OPT is reported per token (sum_ij gamma*_ij C_ij / T_t) so its size
does not grow with the transcript length.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def cosine_cost(text: Tensor, audio: Tensor) -> Tensor:
    """C_ij = 1 - cos(text_i, audio_j): (B, T_t, D), (B, T_a, D) -> (B, T_t, T_a), in [0, 2]."""
    return 1.0 - F.normalize(text, dim=-1) @ F.normalize(audio, dim=-1).transpose(1, 2)


def sinkhorn_plan(cost: Tensor, token_mask: Tensor, beta: float = 0.5, tolerance: float = 1e-4,
                  max_iterations: int = 200) -> Tensor:
    """The entropic OT plan for `cost` (B, T_t, T_a); padded tokens (token_mask False) get zero rows.

    Iterates until every valid row sums to 1 within `tolerance` (columns are exact after
    each column step). Every item needs at least one valid token.
    """
    if not bool(token_mask.any(dim=1).all()):
        raise ValueError("every item needs at least one valid token")
    rows = token_mask[..., None]
    # Padded rows stay finite (a reduction over only -inf entries has a NaN gradient) and are left
    # out of the column sums instead; they are zeroed at the end.
    log_plan = -cost / beta
    log_column_mass = torch.log(token_mask.sum(1, keepdim=True).to(cost.dtype) / cost.shape[2])[..., None]  # (B,1,1)
    for _ in range(max_iterations):
        log_plan = log_plan - torch.logsumexp(log_plan, dim=2, keepdim=True)
        column_sums = torch.logsumexp(log_plan.masked_fill(~rows, float("-inf")), dim=1, keepdim=True)
        log_plan = log_plan - column_sums + log_column_mass
        row_error = (torch.logsumexp(log_plan, dim=2).exp() - 1.0).abs().masked_fill(~token_mask, 0.0)
        if float(row_error.detach().max()) < tolerance:
            break
    return log_plan.exp() * rows


class OptimalTransportAligner(nn.Module):
    """No parameters: the alignment is solved, not learnt; gradients reach FC1 and the U-Net through C."""

    def __init__(self, text_dim: int, transfer_dim: int, beta: float = 0.5, **_: object):
        super().__init__()
        if text_dim != transfer_dim:
            raise ValueError(f"OT compares BERT features with FC1(H) directly: the transfer dimension "
                             f"({transfer_dim}) must equal the text model's ({text_dim})")
        self.beta = beta

    def forward(self, audio: Tensor, text: Tensor, token_ids: Tensor, token_mask: Tensor) -> tuple[Tensor, Tensor]:
        """audio H~ (B, T_a, D), text Z (B, T_t, D) -> (Z~_f (B, T_t, D), L_OPT per item (B,))."""
        cost = cosine_cost(text, audio)
        plan = sinkhorn_plan(cost, token_mask, self.beta)
        transport_cost = (plan * cost).sum(dim=(1, 2)) / token_mask.sum(1)
        return plan @ audio, transport_cost
