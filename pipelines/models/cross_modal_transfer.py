"""Cross-modal knowledge transfer (CMKT) at the U-Net bottleneck (DLAV-SE §3.3, eq. 17-30).

The bottleneck feature H (B, C, F', T') is read as a sequence over time, H (T_a x d_a)
with d_a = C * F'. FC1 projects it to H~ (T_a x d_t), and the adapter FC2 maps H~ back:
H_t = H + beta * FC2(H~) continues through the U-Net. That path has no text in it and is
all that runs at inference.

In training, when the forward `context` carries the transcript's BERT features Z, an
aligner (optimal transport or multi-head cross-attention, chosen by name) turns H~ into
Z~_f, one vector per token, and L_align = 1 - cos(Z, Z~_f) (plus L_OPT for OT) is added to
`context["transfer_losses"]`. The gradient of that loss is what moves linguistic
knowledge into FC1 and the U-Net's encoder. The aligner's weights are training-only:
inference models are built without it (`with_aligner=False`).
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, nn

from pipelines import choices
from pipelines.models.optimal_transport import OptimalTransportAligner
from pipelines.models.text_cross_attention import CrossAttentionAligner
from pipelines.registry import Registry

ALIGNERS: Registry[nn.Module] = Registry("text aligner", choices.ALIGNERS)
ALIGNERS.register("ot")(OptimalTransportAligner)
ALIGNERS.register("mhca")(CrossAttentionAligner)
ALIGNER_PREFIX = "aligner."  # state-dict keys of the training-only part


class CrossModalTransfer(nn.Module):
    def __init__(self, channels: int, bins: int, fusion: str, text_dim: int, vocab_size: int, transfer_dim: int,
                 adapter_beta: float, with_aligner: bool, zero_adapter: bool = False, **aligner_options: Any):
        """zero_adapter: FC2 starts at zero, so H_t = H until training moves it (a run that starts from a trained
        audio model then starts from exactly that model)."""
        super().__init__()
        audio_dim = channels * bins
        self.fc1 = nn.Linear(audio_dim, transfer_dim)
        self.fc2 = nn.Linear(transfer_dim, audio_dim)
        if zero_adapter:
            nn.init.zeros_(self.fc2.weight)
            nn.init.zeros_(self.fc2.bias)
        self.adapter_beta = adapter_beta
        self.aligner = (ALIGNERS.build(fusion, text_dim=text_dim, transfer_dim=transfer_dim, vocab_size=vocab_size,
                                       **aligner_options) if with_aligner else None)

    def forward(self, h: Tensor, context: dict[str, Any] | None) -> Tensor:
        batch, channels, bins, frames = h.shape
        sequence = h.permute(0, 3, 1, 2).reshape(batch, frames, channels * bins)
        projected = self.fc1(sequence)
        if self.aligner is not None and context is not None and "text" in context:
            context["transfer_losses"].append(self.alignment_losses(projected, context))
        adapted = self.fc2(projected).reshape(batch, frames, channels, bins).permute(0, 2, 3, 1)
        return h + self.adapter_beta * adapted

    def alignment_losses(self, projected: Tensor, context: dict[str, Any]) -> dict[str, Tensor]:
        """Mean L_align and L_extra (L_OPT for OT) over the batch items that have a transcript."""
        has_text = context["has_text"]
        if not bool(has_text.any()):
            zero = projected.sum() * 0.0
            return {"align": zero, "extra": zero}
        mask = context["text_mask"][has_text]
        text = context["text"][has_text]
        aligned, extra = self.aligner(projected[has_text], text, context["text_ids"][has_text], mask)
        similarity = F.cosine_similarity(aligned, text, dim=-1)
        align = ((1.0 - similarity) * mask).sum(1) / mask.sum(1)
        return {"align": align.mean(), "extra": extra.mean()}
