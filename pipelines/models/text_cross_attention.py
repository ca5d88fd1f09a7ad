"""Multi-head cross-attention from text tokens to audio frames (DLAV-SE eq. 18-21).

Queries are the transcript's tokens (a learnt embedding of the token ids plus a
sinusoidal position encoding); keys and values are the projected audio bottleneck H~.
After M_t pre-norm layers (cross-attention + feed-forward, each residual), a LayerNorm and
FC_H map to the text model's width, giving Z~_f, which L_align pulls towards BERT's Z.
Used in training only.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def sinusoidal_positions(length: int, dim: int, device: torch.device) -> Tensor:
    """The Transformer position encoding, (length, dim)."""
    position = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    frequency = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10_000.0) / dim))
    table = torch.zeros(length, dim, device=device)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency[: dim // 2])
    return table


class CrossAttentionLayer(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.query_norm = nn.LayerNorm(dim)
        self.attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.feedforward_norm = nn.LayerNorm(dim)
        self.feedforward = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, queries: Tensor, audio: Tensor) -> Tensor:
        attended, _ = self.attention(self.query_norm(queries), audio, audio, need_weights=False)
        queries = queries + attended
        return queries + self.feedforward(self.feedforward_norm(queries))


class CrossAttentionAligner(nn.Module):
    def __init__(self, text_dim: int, transfer_dim: int, vocab_size: int, layers: int = 6, heads: int = 4,
                 **_: object):
        super().__init__()
        if transfer_dim % heads:
            raise ValueError(f"the transfer dimension ({transfer_dim}) must divide by the number of heads ({heads})")
        self.embedding = nn.Embedding(vocab_size, transfer_dim)
        self.layers = nn.ModuleList(CrossAttentionLayer(transfer_dim, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(transfer_dim)
        self.project = nn.Linear(transfer_dim, text_dim)

    def forward(self, audio: Tensor, text: Tensor, token_ids: Tensor, token_mask: Tensor) -> tuple[Tensor, Tensor]:
        """audio H~ (B, T_a, d_t), token ids (B, T_t) -> (Z~_f (B, T_t, d_s), no extra loss: zeros (B,))."""
        queries = self.embedding(token_ids) + sinusoidal_positions(token_ids.shape[1], audio.shape[-1], audio.device)
        for layer in self.layers:
            queries = layer(queries, audio)
        return self.project(self.norm(queries)), audio.new_zeros(audio.shape[0])
