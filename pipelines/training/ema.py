"""Exponential moving average of weights (decay 0.999): the weights `enhance` uses.

Kept as a separate frozen copy of the model rather than swapped in and out, so
validation and checkpointing read it without touching the weights being trained.
The decay warms up as min(decay, (1 + n) / (10 + n)) over the first updates: with a
fixed 0.999 the average would stay ~e^{-n/1000} at the initial (zero-output) weights,
which makes short CPU runs look broken; after ~10^4 steps it is the paper's 0.999.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    def __init__(self, model: nn.Module, decay: float = 0.999):
        self.decay = decay
        self.updates = 0
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for averaged, current in zip(self.model.parameters(), model.parameters()):
            averaged.lerp_(current.detach(), 1.0 - decay)
        for averaged, current in zip(self.model.buffers(), model.buffers()):
            averaged.copy_(current)

    def state_dict(self) -> dict:
        return self.model.state_dict()

    def load_state_dict(self, state: dict, updates: int) -> None:
        self.model.load_state_dict(state)
        self.updates = updates
