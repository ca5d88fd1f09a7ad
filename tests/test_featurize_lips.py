"""`cmkt featurize --lips` on the real GRID clips: faces in every frame, crops on the lips, embeddings, errors, cache."""

import json
import shutil
from pathlib import Path

import av
import h5py
import numpy as np
import pytest
import torch

from pipelines.artifacts import Workdir, file_checksum
from pipelines.models.lip_resnet import LipResNet, embed_frames, lrw_key
from pipelines.video.clip_features import _encoder, encoder_input
from pipelines.video.lip_features import roi_normalisation
from pipelines.video.face_landmarks import MOUTH_CORNERS, MOUTH_POINTS
from pipelines.video.mouth_roi import apply
from tests.conftest import artifact_groups, run_cli, shared

SPLITS = ("train", "valid", "test")


@pytest.fixture(scope="module")
def featurized(tmp_path_factory):
    """The 8 GRID clips prepared (6 train, 1 valid, 1 test) and featurized once, in 2 worker processes."""
    workdir = tmp_path_factory.mktemp("lips") / "w"
    result = run_cli("prepare", shared("grid"), "--noise", shared("noise"), "--snr", "0,5", "--split-by", "file",
                     "-w", workdir, "-q")
    assert result.exit_code == 0, result.output
    result = run_cli("featurize", "--lips", "--preview", "--jobs", "2", "-w", workdir)
    assert result.exit_code == 0, result.output
    return workdir, result.output


@pytest.fixture
def workdir(featurized, tmp_path):
    """A private copy of the featurized workdir, so tests can change it."""
    return Path(shutil.copytree(featurized[0], tmp_path / "w"))


def _groups(workdir):
    return {uid: entry for split in SPLITS for uid, entry in artifact_groups(workdir, "lips", split).items()}


def _edit_manifest(workdir, change):
    rows = json.loads((workdir / "manifest.json").read_text())
    for row in rows:
        change(row)
    (workdir / "manifest.json").write_text(json.dumps(rows))


def test_every_frame_of_every_clip_has_a_face(featurized):
    groups = _groups(featurized[0])
    assert len(groups) == 8
    for uid, (arrays, attrs) in groups.items():
        assert arrays["detected"].dtype == bool and arrays["detected"].shape == (75,), uid
        assert arrays["detected"].all(), uid
        assert attrs["fps"] == 25.0


def test_rois_landmarks_and_embeddings_have_the_documented_shapes(featurized):
    for uid, (arrays, _) in _groups(featurized[0]).items():
        assert arrays["rois"].dtype == np.uint8 and arrays["rois"].shape == (75, 96, 96), uid
        assert arrays["landmarks"].dtype == np.float32 and arrays["landmarks"].shape == (75, 478, 2)
        assert arrays["transforms"].shape == (75, 2, 3)
        assert arrays["embeddings"].dtype == np.float32 and arrays["embeddings"].shape == (75, 512)
        assert np.isfinite(arrays["embeddings"]).all()
        assert arrays["rois"].std() > 10, f"{uid}: crops look blank"


def test_the_mouth_box_lies_on_the_lips(featurized):
    """The frame's own lip landmarks, mapped into each crop, sit around its centre and inside the encoder's 88 x 88."""
    for uid, (arrays, _) in _groups(featurized[0]).items():
        for landmarks, matrix in zip(arrays["landmarks"], arrays["transforms"]):
            lips = apply(matrix, landmarks[list(MOUTH_POINTS)])
            assert np.all((lips > 4) & (lips < 92)), uid
            assert np.all(np.abs(lips.mean(0) - 48) < 8), uid
            corners = apply(matrix, landmarks[list(MOUTH_CORNERS)])
            assert 25 < np.linalg.norm(corners[0] - corners[1]) < 70, f"{uid}: mouth width off scale"
            # and the box is where the mouth is in the frame: its centre maps back to the lips
            centre = np.linalg.solve(matrix[:, :2], np.array([48.0, 48.0]) - matrix[:, 2])
            mouth = landmarks[list(MOUTH_POINTS)]
            assert np.all((centre > mouth.min(0) - 5) & (centre < mouth.max(0) + 5)), uid


def test_untrained_encoder_is_announced_and_recorded(featurized):
    workdir, output = featurized
    assert "UNTRAINED" in output
    assert all(attrs["encoder"] == "untrained" for _, attrs in _groups(workdir).values())
    with h5py.File(workdir / "artifacts" / "lips_train.h5") as f:
        assert json.loads(f.attrs["config"])["encoder"] == "untrained"
    assert "frames/s" in output


def test_embeddings_are_the_encoder_on_the_stored_crops(featurized):
    arrays, _ = artifact_groups(featurized[0], "lips", "test")["sbwe5n"]
    expected = embed_frames(_encoder(None, torch.get_num_threads()), encoder_input(arrays["rois"]))
    np.testing.assert_allclose(arrays["embeddings"], expected, rtol=1e-3, atol=1e-4)


def test_train_roi_normalisation_matches_the_crops(featurized):
    workdir = featurized[0]
    crops = np.concatenate([a["rois"] for a, _ in artifact_groups(workdir, "lips", "train").values()]) / 255
    mean, std = roi_normalisation(Workdir(workdir))
    assert mean == pytest.approx(crops.mean(), abs=1e-6) and std == pytest.approx(crops.std(), abs=1e-6)
    assert f"{mean:.4f}" in featurized[1]


def test_preview_contact_sheets(featurized):
    sheets = sorted((featurized[0] / "reports" / "lips").glob("*/*.png"))
    assert len(sheets) == 8 and all(sheet.stat().st_size > 1000 for sheet in sheets)


def test_rerun_is_all_cached(workdir):
    result = run_cli("featurize", "--lips", "-w", workdir)
    assert result.exit_code == 0, result.output
    assert "lips train: 6 cached, 0 computed" in result.output
    assert "lips test: 1 cached, 0 computed" in result.output


def _blank_copy(source: Path, target: Path) -> Path:
    """The clip re-encoded with every frame blanked: a face-covered video."""
    with av.open(str(source)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    with av.open(str(target), "w") as out:
        stream = out.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 360, 288, "yuv420p"
        for _ in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((288, 360, 3), 128, np.uint8), format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return target


def test_covered_face_fails_that_utterance_only(workdir, tmp_path):
    blank = _blank_copy(shared("grid/bbaf2n.mpg"), tmp_path / "covered.mp4")
    replacements = {"bbaf2n": str(blank), "swiz3n": "", "sbwe5n": str(shared("grid/swiz3n.mpg"))}
    _edit_manifest(workdir, lambda row: row.update(video_path=replacements.get(row["id"], row["video_path"])))
    result = run_cli("featurize", "--lips", "-w", workdir)
    assert result.exit_code == 2, result.output
    assert "covered.mp4: no face found in any of its 75 frames" in result.output
    assert "failed items" in result.output and "bbaf2n" in result.output
    assert "lips train: 5 cached, 0 computed, 1 failed" in result.output
    assert "lips valid: 0 cached, 0 computed, 1 skipped" in result.output
    assert "1 utterances without a video" in result.output
    assert "lips test: 0 cached, 1 computed" in result.output  # the run went on after the failure
    assert "bbaf2n" in artifact_groups(workdir, "lips", "train")  # a failed rerun keeps the finished result


def test_lrw_weights_are_used_and_recorded(workdir, tmp_path):
    torch.manual_seed(5)
    model = LipResNet().eval()
    state = {lrw_key(key): value for key, value in model.state_dict().items()}
    torch.save({"model_state_dict": state}, tmp_path / "lrw.pth")
    result = run_cli("featurize", "--lips", "--split", "test", "--lip-weights", tmp_path / "lrw.pth", "-w", workdir)
    assert result.exit_code == 0, result.output
    assert "UNTRAINED" not in result.output and "lips test: 0 cached, 1 computed" in result.output
    arrays, attrs = artifact_groups(workdir, "lips", "test")["sbwe5n"]
    assert attrs["encoder"] == file_checksum(tmp_path / "lrw.pth")
    expected = embed_frames(model, encoder_input(arrays["rois"]))
    np.testing.assert_allclose(arrays["embeddings"], expected, rtol=1e-3, atol=1e-4)


def test_checkpoint_with_wrong_keys_fails_naming_them(workdir, tmp_path):
    torch.save({"model_state_dict": {"frontend3D.0.weight": torch.zeros(64, 1, 5, 7, 7),
                                     "backbone.conv1.weight": torch.zeros(1)}}, tmp_path / "other.pth")
    result = run_cli("featurize", "--lips", "--lip-weights", tmp_path / "other.pth", "-w", workdir)
    assert result.exit_code == 2
    assert "missing keys frontend3D.1.bias" in result.output
    assert "unexpected keys backbone.conv1.weight" in result.output


def test_mixtures_of_one_clip_share_one_pass_over_its_video(tmp_path):
    source = tmp_path / "grid"
    source.mkdir()
    shutil.copy(shared("grid/bbaf2n.mpg"), source)
    workdir = tmp_path / "w"
    assert run_cli("prepare", source, "--noise", shared("noise"), "--mixes-per-file", "3", "--split", "1,0,0",
                   "-w", workdir, "-q").exit_code == 0
    result = run_cli("featurize", "--lips", "-w", workdir)
    assert result.exit_code == 0, result.output
    assert "75 video frames" in result.output  # one clip's frames, computed once for its 3 mixtures
    groups = artifact_groups(workdir, "lips", "train")
    assert len(groups) == 3
    first = next(iter(groups.values()))[0]["rois"]
    assert all(np.array_equal(arrays["rois"], first) for arrays, _ in groups.values())


def test_mediapipe_says_nothing_on_the_terminal():
    """Building a face landmarker prints MediaPipe's C++ log lines on stderr unless cmkt silences them."""
    import subprocess
    import sys

    code = ("import numpy as np\n"
            "from pipelines.video.face_landmarks import default_face_model, detect_landmarks\n"
            "detect_landmarks(np.zeros((2, 64, 64, 3), np.uint8), 25.0, default_face_model())\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=1800,
                         cwd=Path(__file__).resolve().parents[1])
    if "no face landmarker model" in run.stderr:
        pytest.skip("the packaged face landmarker is not installed")
    assert run.returncode == 0 and run.stderr == "", run.stderr
