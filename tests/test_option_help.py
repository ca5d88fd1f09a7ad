"""The CLI's help names every choice the registries hold: the option definitions stay torch-free (so `--help` is
instant) and cannot import the registries, so this test is what keeps the two from drifting apart."""

import pytest

from cmkt_cli import options
from pipelines.diffusion.sampling import CORRECTORS, SAMPLERS, STEP_RULES
from pipelines.enhancer import DENOISER_OUTPUTS, FUSIONS, MODALITIES, SCORE_PARAMETRISATIONS
from pipelines.models.ncsnpp import PRESETS
from pipelines.speedups import PRECISIONS


@pytest.mark.parametrize("option, names", [
    (options.SAMPLER, SAMPLERS.names()),
    (options.VAL_SAMPLER, SAMPLERS.names()),
    (options.CORRECTOR, CORRECTORS),
    (options.STEP_RULE, STEP_RULES),
    (options.PRESET, PRESETS),
    (options.MODALITY, MODALITIES),
    (options.FUSION, FUSIONS),
    (options.DENOISER_OUTPUT, DENOISER_OUTPUTS),
    (options.PARAMETRISATION, SCORE_PARAMETRISATIONS),
    (options.PRECISION, PRECISIONS),
], ids=lambda value: getattr(value, "param_decls", [None])[0] if hasattr(value, "param_decls") else None)
def test_every_registered_choice_is_in_the_help(option, names):
    missing = [name for name in names if f"{name}" not in option.help]
    assert not missing, f"{option.param_decls[0]}: help does not mention {missing}: {option.help!r}"
