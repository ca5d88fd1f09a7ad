"""Backbone registry: U-Nets selectable by name from configs (`build_backbone("ncsnpp", ...)`)."""

from __future__ import annotations

from typing import Any

from torch import nn

from pipelines import choices
from pipelines.registry import Registry

BACKBONES: Registry[nn.Module] = Registry("backbone", choices.BACKBONES)
register_backbone = BACKBONES.register


def build_backbone(name: str, **options: Any) -> nn.Module:
    return BACKBONES.build(name, **options)
