"""pipelines/choices.py is the one list of names: the implementations match it in both directions, a registry
refuses a name it does not declare, and the CLI's help (torch-free, so it cannot ask the registries) shows every
declared name with its line."""

import pytest

from cmkt_cli import options
from pipelines import choices
from pipelines.diffusion.sampling import CORRECTORS, SAMPLERS, STEP_RULES
from pipelines.diffusion.sde import SDES
from pipelines.enhancer import (DENOISER_LOSSES, DENOISER_OUTPUTS, DISTILLATIONS, FUSIONS, MODALITIES, SCORE_CONDITIONS,
                                SCORE_PARAMETRISATIONS)
from pipelines.training.augment import AUGMENTATIONS
from pipelines.models import BACKBONES, all_presets
from pipelines.models.cross_modal_transfer import ALIGNERS
from pipelines.speedups import PRECISIONS

IMPLEMENTED = {  # what the library builds or checks, by group of pipelines/choices.py
    "BACKBONES": BACKBONES.names(),
    "PRESETS": all_presets(),
    "DENOISER_LOSSES": DENOISER_LOSSES,
    "DISTILLATIONS": DISTILLATIONS,
    "AUGMENTATIONS": AUGMENTATIONS,
    "SDES": SDES.names(),
    "SAMPLERS": SAMPLERS.names(),
    "CORRECTORS": CORRECTORS,
    "STEP_RULES": STEP_RULES,
    "MODALITIES": MODALITIES,
    "ALIGNERS": ALIGNERS.names(),
    "FUSIONS": FUSIONS,
    "DENOISER_OUTPUTS": DENOISER_OUTPUTS,
    "SCORE_PARAMETRISATIONS": SCORE_PARAMETRISATIONS,
    "SCORE_CONDITIONS": SCORE_CONDITIONS,
    "PRECISIONS": PRECISIONS,
}


@pytest.mark.parametrize("group", IMPLEMENTED)
def test_every_declared_name_is_implemented_and_no_other(group):
    declared = getattr(choices, group)
    assert set(declared) == set(IMPLEMENTED[group]), f"choices.{group} and its implementation differ"
    assert all(line.strip() for line in declared.values()), f"choices.{group}: a name without its help line"


@pytest.mark.parametrize("registry", [BACKBONES, SDES, SAMPLERS, ALIGNERS], ids=lambda registry: registry.kind)
def test_a_registry_refuses_an_undeclared_name(registry):
    with pytest.raises(KeyError, match="not declared"):
        registry.register("undeclared")(object)
    assert "undeclared" not in registry


@pytest.mark.parametrize("option, group", [
    (options.SAMPLER, choices.SAMPLERS),
    (options.VAL_SAMPLER, choices.SAMPLERS),
    (options.CARD_SAMPLER, choices.SAMPLERS),
    (options.CORRECTOR, choices.CORRECTORS),
    (options.STEP_RULE, choices.STEP_RULES),
    (options.CARD_STEP_RULE, choices.STEP_RULES),
    (options.PRESET, choices.PRESETS),
    (options.MODALITY, choices.MODALITIES),
    (options.FUSION, choices.FUSIONS),
    (options.DENOISER_OUTPUT, choices.DENOISER_OUTPUTS),
    (options.PARAMETRISATION, choices.SCORE_PARAMETRISATIONS),
    (options.LIP_ENCODER, choices.LIP_ENCODERS),
    (options.PRECISION, choices.PRECISIONS),
    (options.DENOISER_LOSS, choices.DENOISER_LOSSES),
    (options.KD, choices.DISTILLATIONS),
    (options.AUGMENT, choices.AUGMENTATIONS),
    (options.SELECT_BY, choices.VALIDATION_METRICS),
    (options.SPLIT_BY, choices.SPLIT_UNITS),
], ids=lambda value: getattr(value, "param_decls", [None])[0])
def test_the_help_shows_every_declared_name_with_its_line(option, group):
    missing = [name for name, line in group.items() if f"{name} ({line})" not in option.help]
    assert not missing, f"{option.param_decls[0]}: help does not show {missing}: {option.help!r}"


def test_the_help_lists_a_group_as_a_sentence():
    assert options._choices_help({"a": "x", "b": "y", "c": "z"}, "Pick: ") == "Pick: a (x), b (y) or c (z)."
    assert options._choices_help({"a": "x"}, tail="!") == "a (x)!"


def test_the_cli_enhances_with_the_engines_batch_size_by_default():
    """The CLI states its default without importing torch; it must be the engine's."""
    import typer.main

    from cmkt_cli.main import app
    from pipelines.inference import BATCH_SIZE

    enhance = typer.main.get_command(app).commands["enhance"]
    assert next(p.default for p in enhance.params if p.name == "batch_size") == BATCH_SIZE
