"""Backbone networks; importing the package registers every built-in backbone."""

from pipelines.models.ncsnpp import PRESETS as NCSNPP_PRESETS
from pipelines.models.ncsnpp import NCSNpp, NCSNppConfig
from pipelines.models.registry import BACKBONES, build_backbone, register_backbone

__all__ = ["BACKBONES", "NCSNPP_PRESETS", "NCSNpp", "NCSNppConfig", "build_backbone", "register_backbone"]
