"""Rich tables for stage reports and scores."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:  # the stages load torch; the CLI imports them only when a command runs
    from pipelines.stage_report import StageReport
    from pipelines.stages.score import ScoreResult
    from pipelines.stages.train import TrainResult

MAX_FILE_ROWS = 40


def print_stage_reports(console: Console, reports: list[StageReport]) -> None:
    for report in reports:
        console.print(report.summary())
    problems = [(r.split, uid, message) for r in reports for uid, message in r.failed]
    if problems:
        table = Table(title="failed items (the others were saved)", title_justify="left")
        for column in ("split", "id", "problem"):
            table.add_column(column)
        for row in problems:
            table.add_row(*row)
        console.print(table)


def print_scores(console: Console, result: ScoreResult) -> None:
    from pipelines.metrics import METRIC_LABELS
    from pipelines.scoring import ALL_METRICS

    columns = [m for m in ALL_METRICS if m in result.summary]
    if result.rows and len(result.rows) <= MAX_FILE_ROWS:
        table = Table(title=f"scores: {result.name}", title_justify="left")
        table.add_column("id")
        for metric in columns:
            table.add_column(METRIC_LABELS[metric], justify="right")
        for row in result.rows:
            table.add_row(row["id"], *(f"{row[m]:.3f}" for m in columns))
        console.print(table)
    summary = Table(title=f"mean ± std over {len(result.rows)} files", title_justify="left")
    summary.add_column("metric")
    summary.add_column("estimate", justify="right")
    has_noisy = any(f"noisy_{m}" in result.summary for m in columns)
    if has_noisy:
        summary.add_column("noisy", justify="right")
        summary.add_column("improvement", justify="right")
    for metric in columns:
        cells = [_mean_std(result.summary[metric])]
        if has_noisy:
            cells += [_mean_std(result.summary[f"noisy_{metric}"]), _mean_std(result.summary[f"delta_{metric}"], "+")]
        summary.add_row(METRIC_LABELS[metric], *cells)
    console.print(summary)
    console.print(f"saved {result.csv_path} and {result.json_path}")


def _mean_std(stats: dict, sign: str = "") -> str:
    return f"{stats['mean']:{sign}.3f} ± {stats['std']:.3f}"


def print_training(console: Console, result: TrainResult) -> None:
    state = result.state
    best = f"{state.best_metric:.3f}" if state.best_metric != float("-inf") else "n/a (no validation split)"
    console.print(f"trained {state.step} steps ({state.epoch} epochs, {state.seconds / 60:.1f} min); "
                  f"best validation {result.select_by} {best}")
    console.print(f"parameters: {result.parameters / 1e6:.2f} M in training, {result.inference_parameters / 1e6:.2f} M "
                  f"at inference")
    console.print(f"checkpoints, metrics.csv and curves.png in {result.folder}")


def print_models(console: Console, rows: list[dict]) -> None:
    table = Table(title="bundled models (cmkt enhance --model NAME; docs/pretrained.md)", title_justify="left")
    for column, justify in (("name", "left"), ("backbone", "left"), ("weights", "right"),
                            ("enhances with", "left"), ("trained steps", "right")):
        table.add_column(column, justify=justify)
    for row in rows:
        table.add_row(row["name"] + (" (default)" if row["default"] else ""), row["backbone"],
                      f"{row['parameters']:,}", row["sampler"], str(row["trained_steps"] or "-"))
    console.print(table)


def print_layer_distances(console: Console, result, top: int) -> None:
    """`cmkt ssl-layers`: the CN distance per layer, its rank, and the layers to pick."""
    table = Table(title=f"CN distance, {result.utterances} {result.split} utterances ({result.model})",
                  title_justify="left")
    for column in ("layer", "CN distance", "95 % interval", "rank"):
        table.add_column(column, justify="right")
    for d in result.layers:
        table.add_row(str(d.layer), f"{d.mean:.4f}", f"{d.low:.4f} – {d.high:.4f}", str(d.rank))
    console.print(table)
    console.print(f"largest {min(top, len(result.layers))}: --ssl-layers {','.join(map(str, result.top(top)))}")
    for path in result.files:
        console.print(f"saved {path}")
