"""Pictures (pipelines/plots.py): `cmkt enhance --plot` spectrograms and the model.json beside enhanced outputs."""

import json
import shutil

import matplotlib.image
import numpy as np

from pipelines.plots import Panel, plot_spectrograms, power_db
from pipelines.pretrained import DEFAULT_NAME
from tests.conftest import run_cli, shared


def test_enhance_plot_writes_a_picture_and_the_run_card(tmp_path):
    noisy = tmp_path / "in" / "jfk.flac"
    noisy.parent.mkdir()
    shutil.copy(shared("speech_en/jfk.flac"), noisy)  # 44.1 kHz stereo: converted, written back at its rate
    result = run_cli("enhance", noisy.parent, "-o", tmp_path / "out", "--plot", "-w", tmp_path / "w")
    assert result.exit_code == 0, result.output
    picture = matplotlib.image.imread(tmp_path / "out" / "jfk.png")
    assert picture.shape[0] > 200 and picture.shape[1] > 500 and picture[..., :3].std() > 0.1
    card = json.loads((tmp_path / "out" / "model.json").read_text())
    assert card["name"] == DEFAULT_NAME and card["sampling"]["sampler"] == "predictive"
    assert card["network_evaluations"] == 1 and card["real_time_factor"] > 0
    again = run_cli("enhance", noisy.parent, "-o", tmp_path / "out", "-w", tmp_path / "w")
    assert "1 cached" in again.output
    assert json.loads((tmp_path / "out" / "model.json").read_text())["real_time_factor"] == card["real_time_factor"]


def test_a_quieter_signal_is_drawn_darker_by_its_level_in_db(tmp_path):
    tone = np.sin(2 * np.pi * 440 * np.arange(16_000) / 16_000).astype(np.float32)
    panels = [Panel("loud", tone, 16_000, {"dnsmos_ovrl": 1.0}), Panel("quiet", 0.01 * tone, 16_000)]
    plot_spectrograms(panels, "two tones", tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 0
    assert abs(power_db(tone).max() - power_db(0.01 * tone).max() - 40.0) < 1e-6
