"""Backbone networks; importing the package registers every built-in backbone."""

from pipelines.models.crn import PRESETS as CRN_PRESETS
from pipelines.models.crn import ConvRecurrentNet
from pipelines.models.ncsnpp import PRESETS as NCSNPP_PRESETS
from pipelines.models.ncsnpp import NCSNpp, NCSNppConfig
from pipelines.models.registry import BACKBONES, all_presets, backbone_of_preset, register_backbone

__all__ = ["BACKBONES", "CRN_PRESETS", "NCSNPP_PRESETS", "ConvRecurrentNet", "NCSNpp", "NCSNppConfig", "all_presets",
           "backbone_of_preset", "register_backbone"]
