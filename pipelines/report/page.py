"""The report's HTML: a summary table, the systems' model cards, and one sortable row per file.

Self-contained on purpose: inline CSS and a few lines of inline JavaScript (sorting), system
fonts, no external scripts, fonts or images, and relative links only.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import PurePath
from urllib.parse import quote

from pipelines.metrics import METRIC_LABELS
from pipelines.report.sources import Column, Comparison
from pipelines.scoring import ALL_METRICS

CARD_FACTS = (("name", "name"), ("checkpoint", "checkpoint"), ("sampler", "sampler"),
              ("network_evaluations", "NFE per chunk"), ("real_time_factor", "real-time factor"),
              ("real_time_factor_without_speech_encoder", "without the speech encoder"), ("device", "device"),
              ("precision", "precision"))
SHORT_LABELS = {"dnsmos_sig": "SIG", "dnsmos_bak": "BAK", "dnsmos_ovrl": "OVRL"}  # the file table's narrow headings

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.5em; margin-bottom: .2em; } h2 { margin-top: 1.6em; }
.origin { color: #666; margin-top: 0; }
table { border-collapse: collapse; } th, td { border-bottom: 1px solid #ddd; padding: 4px 8px; vertical-align: top; }
th { background: #f4f4f4; text-align: left; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.best { background: #d8f0d8; font-weight: 600; }
.delta { color: #2a7a2a; font-size: .85em; display: block; } .delta.worse { color: #a33; }
th[data-sort] { cursor: pointer; } th[data-order="desc"]::after { content: " ▼"; } th[data-order="asc"]::after { content: " ▲"; }
.players div { display: flex; align-items: center; gap: 6px; margin: 2px 0; }
.players span { width: 9em; font-size: .85em; color: #555; overflow: hidden; text-overflow: ellipsis; }
audio { height: 30px; width: 250px; } img.spec { width: 420px; display: block; margin-top: 4px; }
th.group { text-align: center; border-left: 2px solid #fff; }
.cards { display: flex; flex-wrap: wrap; gap: 1em; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: .2em 1em .6em; max-width: 64em; }
.card dl { display: grid; grid-template-columns: 10em 1fr; gap: 2px 10px; } .card dt { font-weight: 600; }
.card dd { margin: 0; overflow-wrap: anywhere; }
.wide { overflow-x: auto; max-width: 100%; }
pre { white-space: pre-wrap; font-size: .8em; }
"""

SCRIPT = """
document.querySelectorAll('#files th[data-sort]').forEach(th => th.addEventListener('click', () => {
  const body = document.querySelector('#files tbody'), index = +th.dataset.col, numeric = th.dataset.sort === 'num';
  const descending = th.dataset.order !== 'desc';
  document.querySelectorAll('#files th').forEach(h => delete h.dataset.order);
  th.dataset.order = descending ? 'desc' : 'asc';
  const key = row => numeric ? parseFloat(row.cells[index].dataset.value) : row.cells[index].textContent;
  const rows = Array.from(body.rows).sort((a, b) => {
    const x = key(a), y = key(b);
    if (numeric && isNaN(x) !== isNaN(y)) return isNaN(x) ? 1 : -1;  // files without this score go last
    const order = numeric ? x - y : x.localeCompare(y);
    return descending ? -order : order;
  });
  rows.forEach(row => body.appendChild(row));
}));
"""


def render_page(comparison: Comparison, rows: list[dict], summary: dict) -> str:
    metrics = [m for m in ALL_METRICS if any(m in per for per in summary.values())]
    systems = [c for c in comparison.columns if c.kind == "system"]
    return "\n".join([
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>cmkt report: {escape(comparison.origin)}</title><style>{STYLE}</style></head><body>",
        "<h1>cmkt listening report</h1>",
        f'<p class="origin">{escape(comparison.origin)} · {len(rows)} files · '
        f'{", ".join(escape(s.name) for s in systems)}</p>',
        "<h2>Summary</h2>", _summary_table(comparison.columns, summary, metrics, len(rows)),
        f'<p class="origin">{_summary_note(comparison.columns)}</p>',
        *(["<h2>Systems</h2>", '<div class="cards">', *(_card(s) for s in systems), "</div>"] if systems else []),
        "<h2>Files</h2>", '<p class="origin">Click a score heading to sort by it (again to reverse).</p>',
        f'<div class="wide">{_file_table(comparison.columns, rows, metrics)}</div>',
        f"<script>{SCRIPT}</script></body></html>",
    ])


def _summary_note(columns: list[Column]) -> str:
    kinds = {c.kind for c in columns}
    return " ".join([
        "Mean ± std over files (over fewer where some lack a score: the count is given);",
        "below each system's mean, its mean improvement over the noisy input;" if "noisy" in kinds else "",
        "the best mean of each column is highlighted" + (" (the clean reference aside)." if "clean" in kinds else "."),
        "All scores: higher is better. DNSMOS needs no reference;",
        "the other metrics compare with the clean speech." if "clean" in kinds else
        "without clean references it is the only score.",
    ]).replace("  ", " ")


def _summary_table(columns: list[Column], summary: dict, metrics: list[str], files: int) -> str:
    ranked = [c.name for c in columns if c.kind != "clean"]
    best = {m: max((summary[c][m]["mean"], c) for c in ranked if m in summary[c])[1]
            for m in metrics if any(m in summary[c] for c in ranked)}
    head = "".join(f"<th>{METRIC_LABELS[m]}</th>" for m in metrics)
    lines = [f'<table id="summary"><thead><tr><th>signal</th>{head}</tr></thead><tbody>']
    for column in columns:
        cells = []
        for metric in metrics:
            stats = summary[column.name].get(metric)
            if stats is None:
                cells.append('<td class="num"></td>')
                continue
            delta = stats.get("delta")
            note = ("" if delta is None else
                    f'<span class="delta{" worse" if delta < 0 else ""}">{delta:+.2f} vs noisy</span>')
            if stats["n"] < files:  # a mean over fewer files than the page shows: say over how many
                note += f'<span class="delta worse">{stats["n"]} of {files} files</span>'
            mark = " best" if best.get(metric) == column.name else ""
            cells.append(f'<td class="num{mark}">{stats["mean"]:.2f} ± {stats["std"]:.2f}{note}</td>')
        lines.append(f"<tr><th>{escape(column.name)}</th>{''.join(cells)}</tr>")
    lines.append("</tbody></table>")
    return "\n".join(lines)


def _card(system: Column) -> str:
    card = _shareable(system.card)
    if card is None:
        return (f'<section class="card"><h3>{escape(system.name)}</h3><p>No model.json in this folder (not written '
                f"by <code>cmkt enhance -o</code>): the system is unknown.</p></section>")
    facts = [(label, card[key]) for key, label in CARD_FACTS if key in card]
    facts += [(key.replace("_", " "), card["model_card"][key]) for key in ("model", "trained_steps", "not_for")
              if key in card.get("model_card", {})]
    listed = "".join(f"<dt>{escape(label)}</dt><dd>{escape(str(value))}</dd>" for label, value in facts)
    whole = escape(json.dumps(card, indent=1, ensure_ascii=False))
    return (f'<section class="card"><h3>{escape(system.name)}</h3><dl>{listed}</dl>'
            f"<details><summary>model.json</summary><pre>{whole}</pre></details></section>")


def _shareable(card: dict | None) -> dict | None:
    """The card as the page shows it: the checkpoint by file name, not by this machine's path (pages get shared)."""
    if card is None or "checkpoint" not in card:
        return card
    return {**card, "checkpoint": PurePath(str(card["checkpoint"])).name}


def _file_table(columns: list[Column], rows: list[dict], metrics: list[str]) -> str:
    """Heading row 1: file, what to hear and see, one group per scored signal; row 2: that group's metrics."""
    scored = [c for c in columns if c.kind != "clean"]
    groups = "".join(f'<th class="group" colspan="{len(metrics)}">{escape(c.name)}</th>' for c in scored)
    sorters = "".join(
        f'<th data-sort="num" data-col="{2 + k * len(metrics) + j}" data-signal="{escape(c.name)}" data-metric="{m}" '
        f'title="{escape(c.name)}: {METRIC_LABELS[m]}">{SHORT_LABELS.get(m, METRIC_LABELS[m])}</th>'
        for k, c in enumerate(scored) for j, m in enumerate(metrics))
    lines = [f'<table id="files"><thead><tr><th rowspan="2" data-sort="text" data-col="0">file</th>'
             f'<th rowspan="2">listen and see</th>{groups}</tr><tr>{sorters}</tr></thead><tbody>']
    for row in rows:
        players = "".join(
            f'<div><span title="{escape(c.name)}">{escape(c.name)}</span><audio controls preload="metadata" '
            f'src="{quote(row["audio"][c.name]["src"])}" data-seconds="{row["audio"][c.name]["seconds"]:.4f}">'
            f"</audio></div>" for c in columns if c.name in row["audio"])
        picture = f'<img class="spec" src="{quote(row["image"])}" alt="spectrograms of {escape(row["id"])}">'
        cells = []
        for column in scored:
            for metric in metrics:
                value = row["scores"].get(column.name, {}).get(metric)
                cells.append('<td class="num" data-value="NaN"></td>' if value is None else
                             f'<td class="num" data-value="{value:.6g}">{value:.2f}</td>')
        lines.append(f'<tr><td>{escape(row["id"])}</td><td class="players">{players}{picture}</td>{"".join(cells)}</tr>')
    lines.append("</tbody></table>")
    return "\n".join(lines)
