"""`cmkt run`: the stages in order on one workdir: prepare, [transcribe, featurize --text,] train, enhance the test
split, score it (noisy, then enhanced).

The orchestrator, and the one stage that calls the others (tests/test_layers.py). Each step's reports (or the
training result) go to `show` as soon as it is done, so the caller reports progress as the stages run; the scores
are returned.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from pipelines.artifacts.workdir import Workdir
from pipelines.inference import SamplingOptions
from pipelines.reporting import Reporter
from pipelines.stages.enhance import EnhanceOptions, enhance_split
from pipelines.stages.featurize_text import TextOptions, featurize_text
from pipelines.stages.prepare import PrepareOptions, prepare
from pipelines.stages.score import ScoreResult, score_workdir
from pipelines.checkpoints import read_model
from pipelines.enhancer import EnhancerConfig
from pipelines.stage_report import StageReport
from pipelines.stages.train import TrainOptions, TrainResult, run_folder, train
from pipelines.stages.transcribe import Transcriber, transcribe_workdir
from pipelines.text.whisper_engines import DEFAULT_ENGINE, make_engine


@dataclass
class RunOptions:
    prepare: PrepareOptions
    train: TrainOptions  # its fusion decides whether transcripts and text features are made
    steps: int = 30  # reverse-diffusion steps of the enhancement (a generative model's; a predictive one runs once)
    device: str = "cpu"
    force: bool = False
    jobs: int = 1


def run(workdir: Workdir, options: RunOptions, reporter: Reporter,
        show: Callable[[list[StageReport] | TrainResult], None]) -> list[ScoreResult]:
    """Every stage in order; returns the test split's scores: noisy, then enhanced."""
    show(prepare(workdir, options.prepare, reporter, force=options.force, jobs=options.jobs))
    training = options.train
    if training.model.fusion != "none":
        transcriber = Transcriber(make_engine(DEFAULT_ENGINE, None, {}), options.prepare.language, reporter)
        show(transcribe_workdir(workdir, ["train"], transcriber, options.force, reporter).reports)
        show(featurize_text(workdir, TextOptions(splits=["train"], force=options.force), reporter))
    checkpoint = run_folder(workdir, training) / "best.ckpt"
    if checkpoint.exists() and not options.force:
        reporter.info(f"using the finished training run {checkpoint.parent} (--force to retrain)")
    else:
        show(train(workdir, replace(training, force=options.force), reporter))
    seed = training.loop.seed
    trained = EnhancerConfig.from_dict(read_model(checkpoint)["config"])  # --init-from may have chosen the backbone
    sampling = SamplingOptions(steps=options.steps) if trained.generative else None  # None: predictive
    report, out_dir = enhance_split(workdir, "test", EnhanceOptions(checkpoint, sampling, seed=seed,
                                                                    device=options.device), reporter)
    show([report])
    scores = []
    for name, folder in (("noisy", None), ("enhanced", out_dir)):
        reporter.info(f"scoring the {name} test split")
        scores.append(score_workdir(workdir, "test", folder, reporter, options.force, options.jobs))
    return scores
