"""`cmkt enhance`: any length in, same length and rate out, cached reruns, bounded chunks, bad checkpoints,
samplers and how the networks run (precision, compile)."""

import os

import numpy as np
import pytest
import soundfile as sf
import torch

from pipelines.checkpoints import load_for_inference
from pipelines.inference import SamplingOptions, enhance_recordings, plan_chunks
from pipelines.stages.enhance import EnhanceOptions, output_name
from tests.conftest import cmkt_subprocess, random_checkpoint, run_cli, speech_like, write_wav


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return random_checkpoint(tmp_path_factory.mktemp("ckpt") / "run" / "best.ckpt")


def test_outputs_keep_length_and_rate_for_odd_short_and_long_inputs(tmp_path, checkpoint):
    inputs = tmp_path / "in"
    write_wav(inputs / "short.wav", speech_like(0.2))
    write_wav(inputs / "odd.wav", speech_like(1.6)[:24_001])
    stereo = np.stack([speech_like(1.1, rate=44_100)[:44_101]] * 2, axis=1)
    write_wav(inputs / "stereo44k.wav", stereo, rate=44_100)
    result = run_cli("enhance", inputs, "-o", tmp_path / "out", "--ckpt", checkpoint, "--steps", "1", "-w",
                     tmp_path / "w")
    assert result.exit_code == 0, result.output
    for name, (frames, rate) in {"short": (3200, 16_000), "odd": (24_001, 16_000), "stereo44k": (44_101, 44_100)}.items():
        info = sf.info(tmp_path / "out" / f"{name}.wav")
        assert (info.frames, info.samplerate, info.channels) == (frames, rate, 1), name
        assert np.all(np.isfinite(sf.read(tmp_path / "out" / f"{name}.wav")[0]))


def test_a_minute_long_file_is_enhanced_in_chunks(tmp_path, checkpoint):
    write_wav(tmp_path / "in" / "long.wav", np.tile(speech_like(2.0), 30))
    result = run_cli("enhance", tmp_path / "in" / "long.wav", "-o", tmp_path / "out", "--ckpt", checkpoint,
                     "--sampler", "predictive", "-w", tmp_path / "w")
    assert result.exit_code == 0, result.output
    enhanced, rate = sf.read(tmp_path / "out" / "long.wav")
    assert len(enhanced) == 960_000 and rate == 16_000 and np.std(enhanced) > 0


def test_rerun_uses_the_cache_and_restores_missing_outputs(tmp_path, checkpoint):
    write_wav(tmp_path / "in" / "a.wav", speech_like(0.5))
    write_wav(tmp_path / "in" / "b.wav", speech_like(0.5, seed=3))
    args = ["enhance", tmp_path / "in", "-o", tmp_path / "out", "--ckpt", checkpoint, "--sampler", "predictive",
            "-w", tmp_path / "w"]
    assert run_cli(*args).exit_code == 0
    first = sf.read(tmp_path / "out" / "a.wav")[0]
    (tmp_path / "out" / "a.wav").unlink()
    again = run_cli(*args)
    assert "2 cached, 0 computed" in again.output
    np.testing.assert_array_equal(sf.read(tmp_path / "out" / "a.wav")[0], first)


def test_seeded_sampling_is_reproducible(tmp_path, checkpoint):
    write_wav(tmp_path / "in" / "a.wav", speech_like(0.5))
    outputs = []
    for k in range(2):
        run_cli("enhance", tmp_path / "in", "-o", tmp_path / f"out{k}", "--ckpt", checkpoint, "--steps", "2",
                "--seed", "7", "-w", tmp_path / f"w{k}")
        outputs.append(sf.read(tmp_path / f"out{k}" / "a.wav")[0])
    np.testing.assert_array_equal(*outputs)


def test_bad_inputs_fail_alone_and_silence_passes_through(tmp_path, checkpoint):
    write_wav(tmp_path / "in" / "good.wav", speech_like(0.5))
    write_wav(tmp_path / "in" / "silent.wav", np.zeros(8000, dtype=np.float32))
    (tmp_path / "in" / "broken.wav").write_text("not audio")
    result = run_cli("enhance", tmp_path / "in", "-o", tmp_path / "out", "--ckpt", checkpoint, "--sampler",
                     "predictive", "-w", tmp_path / "w")
    assert result.exit_code == 2 and "broken.wav: not readable as audio" in result.output
    assert "silent: input is silent" in result.output
    assert (tmp_path / "out" / "good.wav").exists() and not np.any(sf.read(tmp_path / "out" / "silent.wav")[0])


def test_a_residual_denoiser_starts_as_the_identity():
    """y_hat = y + D(y) with D's read-out zero at initialisation: an untrained model returns its input, so training
    starts from the noisy speech rather than from silence."""
    from pipelines.enhancer import EnhancerConfig, SpeechEnhancer

    model = SpeechEnhancer(EnhancerConfig(preset="small", denoiser_output="residual")).eval()
    noisy = speech_like(1.0) + 0.05 * np.random.default_rng(0).standard_normal(16_000).astype(np.float32)
    enhanced, _ = enhance_recordings(model, [noisy], SamplingOptions("predictive", 1), batch_size=1)
    np.testing.assert_allclose(enhanced[0], noisy, atol=1e-4)


def _write_mp3(path, samples, rate=16_000):
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mp3", rate=rate)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    return path


def test_a_folder_takes_every_format_a_single_file_may_be(tmp_path, checkpoint):
    """An MP3 inside a folder is enhanced like the same MP3 given alone (one list of readable formats)."""
    from pipelines.stages.score import _audio_files

    write_wav(tmp_path / "in" / "a.wav", speech_like(0.5))
    _write_mp3(tmp_path / "in" / "b.mp3", speech_like(0.5, seed=1))
    result = run_cli("enhance", tmp_path / "in", "-o", tmp_path / "out", "--ckpt", checkpoint, "--sampler",
                     "predictive", "-w", tmp_path / "w")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "a.wav").exists() and (tmp_path / "out" / "b.wav").exists()
    assert sorted(_audio_files(tmp_path / "in", "--enhanced")) == ["a", "b"]


@pytest.mark.parametrize("fill, says", [(float("nan"), "of its weights hold nan or inf"),
                                         (3e38, "a: the model's output is not finite")])
def test_a_model_whose_output_cannot_be_finite_writes_nothing(tmp_path, fill, says):
    """NaN weights are refused when the model loads; finite weights that overflow fail the file at the output
    check: either way a clear message and exit 2 instead of nan audio and exit 0."""
    import torch

    path = random_checkpoint(tmp_path / "bad.ckpt")
    payload = torch.load(path, weights_only=True)
    for weights in (v for v in payload.values() if isinstance(v, dict)):
        for name, value in weights.items():
            if isinstance(value, torch.Tensor) and value.is_floating_point():
                value.fill_(fill)
    torch.save(payload, path)
    write_wav(tmp_path / "in" / "a.wav", speech_like(0.5))
    result = run_cli("enhance", tmp_path / "in", "-o", tmp_path / "out", "--ckpt", path, "--sampler", "predictive",
                     "-w", tmp_path / "w")
    assert result.exit_code == 2 and says in result.output, result.output
    assert not (tmp_path / "out" / "a.wav").exists()


def test_unusable_checkpoint_is_a_one_line_error(tmp_path):
    write_wav(tmp_path / "in" / "a.wav", speech_like(0.5))
    (tmp_path / "fake.ckpt").write_text("not a checkpoint")
    result = run_cli("enhance", tmp_path / "in", "-o", tmp_path / "out", "--ckpt", tmp_path / "fake.ckpt",
                     "-w", tmp_path / "w")
    assert result.exit_code == 2 and "not a readable checkpoint" in result.output and "Traceback" not in result.output


def test_a_checkpoint_that_does_not_fit_its_model_is_a_one_line_error(tmp_path):
    """Renamed weights, weights of the wrong shape, an unknown preset: exit 2 and one line naming the problem."""
    import torch

    write_wav(tmp_path / "in" / "a.wav", speech_like(0.5))
    original = torch.load(random_checkpoint(tmp_path / "good.ckpt"), weights_only=True)

    def edited(name, edit):
        payload = torch.load(tmp_path / "good.ckpt", weights_only=True)
        edit(payload)
        torch.save(payload, tmp_path / name)
        return tmp_path / name

    first = next(iter(original["ema"]))
    cases = {
        edited("renamed.ckpt", lambda p: p["ema"].update({"renamed." + first: p["ema"].pop(first)})):
            f"1 missing: {first}; 1 unexpected: renamed.{first})",
        edited("shape.ckpt", lambda p: p["ema"].update({first: torch.zeros(3, 3)})):
            f"1 of the wrong shape: {first} (3, 3) not",
        edited("preset.ckpt", lambda p: p["config"].update(preset="huge")): "its model config cannot be built",
    }
    for path, message in cases.items():
        result = run_cli("enhance", tmp_path / "in", "-o", tmp_path / "out", "--ckpt", path, "-w", tmp_path / "w")
        lines = result.output.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.output
        assert message in lines[0], result.output


class _RunsCode:
    """Unpickling this would run a shell command: what a crafted checkpoint does to `weights_only=False`."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


def test_a_checkpoint_that_would_run_code_is_refused_without_running_it(tmp_path, checkpoint):
    write_wav(tmp_path / "in" / "a.wav", speech_like(0.5))
    payload = torch.load(checkpoint, map_location="cpu", weights_only=True)
    payload["extra"] = {"payload": _RunsCode(tmp_path / "pwned")}
    torch.save(payload, tmp_path / "evil.ckpt")
    result = run_cli("enhance", tmp_path / "in", "-o", tmp_path / "out", "--ckpt", tmp_path / "evil.ckpt",
                     "-w", tmp_path / "w")
    assert result.exit_code == 2 and "not a readable checkpoint" in result.output
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "out").exists()


def test_outputs_never_overwrite_inputs_or_write_through_links(tmp_path, checkpoint):
    write_wav(tmp_path / "in" / "a.wav", speech_like(0.5))
    result = run_cli("enhance", tmp_path / "in", "-o", tmp_path / "in", "--ckpt", checkpoint, "-w", tmp_path / "w")
    assert result.exit_code == 2 and "would overwrite its input" in result.output
    victim = write_wav(tmp_path / "elsewhere" / "keep.wav", speech_like(0.3))
    before = victim.read_bytes()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.wav").symlink_to(victim)
    result = run_cli("enhance", tmp_path / "in", "-o", tmp_path / "out", "--ckpt", checkpoint, "-w", tmp_path / "w")
    assert result.exit_code == 2 and "symbolic link" in result.output and victim.read_bytes() == before


@pytest.mark.parametrize("length", [1, 100, 127_999, 128_000, 128_001, 1_000_003])
def test_chunks_cover_every_sample_and_stay_bounded(length):
    chunks = plan_chunks([length], chunk=128_000, overlap=8_000)
    covered = np.zeros(length, dtype=bool)
    for c in chunks:
        assert 0 < c.stop - c.start <= 128_000
        covered[c.start:c.stop] = True
    assert covered.all()
    assert all(b.start < a.stop for a, b in zip(chunks, chunks[1:]))  # neighbours overlap


def test_ode_sampler_through_the_cli_is_reproducible_and_named(tmp_path, checkpoint):
    write_wav(tmp_path / "in" / "a.wav", speech_like(0.5))
    outputs = []
    for k in range(2):
        result = run_cli("enhance", tmp_path / "in", "-o", tmp_path / f"out{k}", "--ckpt", checkpoint, "--sampler",
                         "ode", "--steps", "2", "--seed", "7", "-w", tmp_path / f"w{k}")
        assert result.exit_code == 0, result.output
        outputs.append(sf.read(tmp_path / f"out{k}" / "a.wav")[0])
    np.testing.assert_array_equal(*outputs)
    assert np.std(outputs[0]) > 0
    names = {output_name(EnhanceOptions(checkpoint, SamplingOptions(sampler, 10), precision=precision))
             for sampler, precision in (("ode", "fp32"), ("pc", "fp32"), ("predictive", "fp32"), ("ode", "bf16"))}
    assert names == {"run-ode10", "run-pc10ald", "run-predictive", "run-ode10-bf16"}


def test_precision_and_compile_join_the_cache_key(tmp_path, checkpoint, monkeypatch):
    """Outputs made in bf16 or compiled are not taken for fp32 ones (nor the reverse); a compile that fails
    when first run falls back to eager with one warning and the eager result."""
    write_wav(tmp_path / "in" / "a.wav", speech_like(0.5))
    args = ["enhance", tmp_path / "in", "-o", tmp_path / "out", "--ckpt", checkpoint, "--sampler", "predictive",
            "-w", tmp_path / "w"]
    assert "0 cached, 1 computed" in run_cli(*args).output
    eager = sf.read(tmp_path / "out" / "a.wav")[0]
    bf16 = run_cli(*args, "--precision", "bf16")
    assert bf16.exit_code == 0 and "0 cached, 1 computed" in bf16.output
    assert np.max(np.abs(sf.read(tmp_path / "out" / "a.wav")[0] - eager)) < 0.05 * np.max(np.abs(eager))

    def broken_compile(function, **_):
        def run(*args, **kwargs):
            raise RuntimeError("no C compiler\nsecond line")
        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    compiled = run_cli(*args, "--compile")
    assert compiled.exit_code == 0 and "0 cached, 1 computed" in compiled.output
    assert compiled.output.count("torch.compile failed (RuntimeError: no C compiler)") == 1
    np.testing.assert_array_equal(sf.read(tmp_path / "out" / "a.wav")[0], eager)
    assert "1 cached, 0 computed" in run_cli(*args, "--compile").output


@pytest.mark.parametrize("option", [["--sampler", "euler"], ["--precision", "fp16"]])
def test_unknown_sampler_or_precision_is_a_one_line_error(tmp_path, checkpoint, option):
    write_wav(tmp_path / "in" / "a.wav", speech_like(0.5))
    result = run_cli("enhance", tmp_path / "in", "-o", tmp_path / "out", "--ckpt", checkpoint, *option,
                     "-w", tmp_path / "w")
    assert result.exit_code == 2 and option[1] in result.output and "Traceback" not in result.output


def test_an_attenuation_limit_mixes_the_noisy_input_back(tmp_path, checkpoint):
    from pipelines.checkpoints import load_for_inference

    model = load_for_inference(checkpoint, torch.device("cpu"))
    noisy = [speech_like(1.0) + 0.05 * np.random.default_rng(0).standard_normal(16_000).astype(np.float32)]
    plain = enhance_recordings(model, noisy, SamplingOptions("predictive"))[0][0]
    limited = enhance_recordings(model, noisy, SamplingOptions("predictive", attenuation_limit=12.0))[0][0]
    share = 10 ** (-12 / 20)
    np.testing.assert_allclose(limited, plain + share * (noisy[0] - plain), atol=1e-6)
    untouched = enhance_recordings(model, noisy, SamplingOptions("predictive", attenuation_limit=0.0))[0][0]
    np.testing.assert_allclose(untouched, noisy[0], atol=1e-6)  # 0 dB: no attenuation at all
    assert SamplingOptions("predictive", attenuation_limit=float("inf")).noisy_share == 0.0
    assert SamplingOptions("predictive", attenuation_limit=12.0).tag == "predictive-lim12dB"
    assert "attenuation_limit" not in SamplingOptions("pc", attenuation_limit=float("inf")).to_dict()

    path = write_wav(tmp_path / "in.wav", noisy[0])
    for value in ("inf", "12"):
        assert run_cli("enhance", path, "-o", tmp_path / value, "--ckpt", checkpoint, "--sampler", "predictive",
                       "--attenuation-limit", value, "-w", tmp_path / "w").exit_code == 0
    for value in ("nan", "-3"):
        result = run_cli("enhance", path, "-o", tmp_path / "bad", "--ckpt", checkpoint, "--attenuation-limit", value,
                         "-w", tmp_path / "w")
        assert result.exit_code == 2 and "Traceback" not in result.output


def test_a_long_file_enhanced_block_by_block_equals_it_enhanced_whole(tmp_path, checkpoint, monkeypatch):
    """A model that is not causal (here a peak-normalised NCSN++ with an attenuation limit) reads, enhances and
    writes a long file in blocks, with the chunks it gives the whole recording: the same output, bounded memory."""
    import pipelines.enhancing
    from pipelines.enhancing import Engine
    from pipelines.inference import enhance_long_recording

    model = load_for_inference(checkpoint, torch.device("cpu"))
    options = SamplingOptions("predictive", attenuation_limit=12.0)
    noisy = (np.tile(speech_like(1.0), 4)[:55_555] * np.linspace(0.2, 1.0, 55_555)).astype(np.float32)
    whole = enhance_recordings(model, [noisy], options, batch_size=2, chunk_seconds=0.5)[0][0]
    blocks = (noisy[first:first + 1234] for first in range(0, len(noisy), 1234))
    pieces = list(enhance_long_recording(model, blocks, len(noisy), float(np.max(np.abs(noisy))), options,
                                         batch_size=2, chunk_seconds=0.5))
    assert len(pieces) > 2 and sum(map(len, pieces)) == len(noisy)
    np.testing.assert_allclose(np.concatenate(pieces), whole, rtol=0, atol=1e-6)

    monkeypatch.setattr(pipelines.enhancing, "LONG_FILE_SECONDS", 2)  # what an hour does, in 3.5 s
    engine = Engine.load(checkpoint, options, chunk_seconds=0.5, batch_size=2)
    sf.write(tmp_path / "long.wav", noisy, 16_000, subtype="FLOAT")
    clipped, seconds = engine.enhance_file(tmp_path / "long.wav", tmp_path / "out.wav")
    assert not clipped and seconds == pytest.approx(len(noisy) / 16_000)
    np.testing.assert_allclose(sf.read(tmp_path / "out.wav", dtype="float32")[0], whole, rtol=0, atol=1e-6)
    sf.write(tmp_path / "silent.wav", np.zeros(40_000, dtype=np.float32), 16_000, subtype="FLOAT")
    engine.enhance_file(tmp_path / "silent.wav", tmp_path / "silent_out.wav")
    assert not np.any(sf.read(tmp_path / "silent_out.wav")[0])  # silence comes back as it is


@pytest.mark.parametrize("sampler", ["predictive", "ode"])
def test_a_files_output_does_not_depend_on_its_batch_or_order(tmp_path, checkpoint, sampler):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for k, seconds in enumerate((0.4, 0.7, 1.3, 0.7, 9.0)):  # two of one length; one longer than a chunk
        noise = 0.02 * np.random.default_rng(k).standard_normal(int(seconds * 16_000))
        # float WAVs: float outputs, so a difference of one 16-bit step would show
        sf.write(inputs / f"f{k}.wav", speech_like(seconds, seed=k) + noise, 16_000, subtype="FLOAT")
    outputs = {}
    for batch in ("1", "4"):
        result = run_cli("enhance", inputs, "-o", tmp_path / f"out{batch}", "--ckpt", checkpoint, "--sampler", sampler,
                         "--steps", "2", "--batch-size", batch, "-w", tmp_path / f"w{batch}")
        assert result.exit_code == 0, result.output
        outputs[batch] = {k: sf.read(tmp_path / f"out{batch}" / f"f{k}.wav")[0] for k in range(5)}
    for k in range(5):  # 1e-5 of full scale, or of the peak where the random network's outputs exceed it
        tolerance = 1e-5 * max(1.0, np.max(np.abs(outputs["1"][k])))
        np.testing.assert_allclose(outputs["4"][k], outputs["1"][k], rtol=0, atol=tolerance, err_msg=f"f{k}")
    model = load_for_inference(checkpoint, torch.device("cpu"))
    recordings = [sf.read(inputs / f"f{k}.wav", dtype="float32")[0] for k in range(5)]
    options = SamplingOptions(sampler, 2)
    forward = enhance_recordings(model, recordings, options, batch_size=3)[0]
    backward = enhance_recordings(model, recordings[::-1], options, batch_size=3)[0][::-1]
    for a, b in zip(forward, backward):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5 * max(1.0, np.max(np.abs(a))))


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "FLOAT"])
def test_the_output_keeps_the_inputs_sample_format(tmp_path, subtype):
    noisy = 0.5 * speech_like(0.5)
    noisy[100] = 0.999  # near full scale: a 16-bit output must clip, not wrap round
    sf.write(tmp_path / "a.wav", noisy, 16_000, subtype=subtype)
    result = run_cli("enhance", tmp_path / "a.wav", "-w", tmp_path / "w")
    assert result.exit_code == 0, result.output
    assert sf.info(tmp_path / "a_enhanced.wav").subtype == subtype


def test_files_without_a_workdir_write_only_their_outputs_and_skip_what_is_up_to_date(tmp_path, monkeypatch):
    write_wav(tmp_path / "in" / "a.wav", speech_like(0.6))
    write_wav(tmp_path / "in" / "sub" / "b.wav", speech_like(0.4, seed=2))
    monkeypatch.chdir(tmp_path)
    before = set(tmp_path.rglob("*"))
    result = run_cli("enhance", tmp_path / "in", "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    written = set(tmp_path.rglob("*")) - before
    assert written == {tmp_path / "out", tmp_path / "out" / "sub", tmp_path / "out" / "a.wav",
                       tmp_path / "out" / "sub" / "b.wav", tmp_path / "out" / "model.json"}  # no cmkt_work, no cache
    stamp = (tmp_path / "out" / "a.wav").stat().st_mtime_ns
    again = run_cli("enhance", tmp_path / "in", "-o", tmp_path / "out")
    assert "2 outputs newer than their inputs were kept" in again.output
    assert (tmp_path / "out" / "a.wav").stat().st_mtime_ns == stamp
    os.utime(tmp_path / "in" / "a.wav")  # a changed input is enhanced again, --force enhances everything
    assert "1 cached, 1 computed" in run_cli("enhance", tmp_path / "in", "-o", tmp_path / "out").output
    assert "0 cached, 2 computed" in run_cli("enhance", tmp_path / "in", "-o", tmp_path / "out", "--force").output


def test_two_runs_writing_one_folder_leave_whole_files(tmp_path):
    for k in range(6):
        write_wav(tmp_path / "in" / f"f{k}.wav", speech_like(1.0, seed=k))
    runs = [cmkt_subprocess("enhance", tmp_path / "in", "-o", tmp_path / "out", "--force", "-q") for _ in range(2)]
    for run in runs:
        assert run.wait(timeout=600) == 0, run.stderr.read()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"f{k}.wav" for k in range(6)] + ["model.json"]
    for k in range(6):
        assert sf.info(tmp_path / "out" / f"f{k}.wav").frames == 16_000


def test_plain_files_take_plot_and_refuse_video_without_a_workdir(tmp_path):
    write_wav(tmp_path / "in" / "a.wav", speech_like(0.8))
    result = run_cli("enhance", tmp_path / "in" / "a.wav", "-o", tmp_path / "out", "--plot")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "a.png").stat().st_size > 10_000
    result = run_cli("enhance", tmp_path / "in" / "a.wav", "--video", tmp_path / "in" / "a.wav")
    assert result.exit_code == 2 and "--video needs a workdir" in result.output
