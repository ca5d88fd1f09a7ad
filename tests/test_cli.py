"""The CLI contract: the stage list, exit codes and one-line errors."""

from tests.conftest import random_checkpoint, run_cli, speech_like, write_wav

STAGES = ("prepare", "transcribe", "featurize", "train", "enhance", "score", "run", "report")


def test_help_lists_every_stage():
    result = run_cli("--help")
    assert result.exit_code == 0
    for stage in STAGES:
        assert stage in result.output


def test_usage_errors_exit_2():
    assert run_cli("prepare").exit_code == 2
    assert run_cli("no-such-stage").exit_code == 2


def test_bad_option_values_are_one_line_errors(tmp_path):
    result = run_cli("prepare", tmp_path, "--noise", tmp_path, "--snr", "loud", "-w", tmp_path / "w")
    assert result.exit_code == 2 and "--snr expects" in result.output
    result = run_cli("prepare", tmp_path, "--noise", tmp_path, "--split", "0.5,0.5", "-w", tmp_path / "w")
    assert result.exit_code == 2 and "--split expects" in result.output


def test_stage_writes_a_log_in_the_workdir(tmp_path):
    run_cli("prepare", tmp_path / "absent", "-w", tmp_path / "w")
    log = (tmp_path / "w" / "logs" / "prepare.log").read_text()
    assert "no such folder" in log


def test_numbers_nothing_can_use_are_refused_at_the_option(tmp_path):
    """nan/inf for a number, a seed outside 0..2**64-1, a broken regex: exit 2 and one "error:" line."""
    prepare = ["prepare", tmp_path, "--noise", tmp_path, "-w", tmp_path / "w"]
    cases = [
        (prepare + ["--snr", "0,nan"], "--snr expects"),
        (prepare + ["--split", "nan,0.5,0.5"], "--split expects"),
        (prepare + ["--split", "inf,1,1"], "--split expects"),
        (prepare + ["--seed", "-1"], "--seed must be an integer from 0"),
        (prepare + ["--seed", str(2**64)], "--seed must be an integer from 0"),
        (prepare + ["--speaker-regex", "(spk"], "--speaker-regex '(spk' is not a valid regular expression"),
        (["enhance", tmp_path / "a.wav", "--snr", "inf", "-w", tmp_path / "w"], "--snr must be a finite number"),
        (["train", "--lr", "nan", "-w", tmp_path / "w"], "--lr must be a finite number"),
    ]
    for args, message in cases:
        result = run_cli(*args)
        lines = result.output.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (args, result.output)
        assert message in lines[0], (args, result.output)


def test_devices_this_machine_lacks_are_one_line_errors(tmp_path, monkeypatch):
    """An unknown device name, or cuda where there is none: exit 2 and one line, from enhance and from train."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for command in (["enhance", tmp_path / "a.wav", "--ckpt", tmp_path / "m.ckpt"], ["train"]):
        for device, message in (("cuda", "no CUDA device is available"), ("gpu0", "is not a device name"),
                                ("meta", "not supported")):
            result = run_cli(*command, "--device", device, "-w", tmp_path / "w")
            lines = result.output.strip().splitlines()
            assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.output
            assert message in lines[0], (command, device, result.output)


def test_output_folders_that_cannot_be_made_are_one_line_errors(tmp_path):
    """A --workdir or -o under a regular file (or naming one): exit 2, one line, no traceback."""
    (tmp_path / "file").write_text("not a folder")
    result = run_cli("prepare", tmp_path, "-w", tmp_path / "file" / "w")
    assert result.exit_code == 2 and result.output.strip().splitlines() == [
        f"error: --workdir {tmp_path / 'file' / 'w'}: cannot create this folder (Not a directory)"], result.output
    write_wav(tmp_path / "in" / "a.wav", speech_like(0.5))
    checkpoint = random_checkpoint(tmp_path / "m.ckpt")
    for out in (tmp_path / "file", tmp_path / "file" / "out"):
        result = run_cli("enhance", tmp_path / "in", "-o", out, "--ckpt", checkpoint, "-w", tmp_path / "w")
        lines = result.output.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith(f"error: -o {out}: cannot create")


def test_renamed_options_keep_their_former_names(tmp_path):
    """--transfer/--fusion, --transfer-weight/--align-weight, --adapter-scale/--adapter-beta: either name works, and a
    bad value is checked once, by the config, against what is registered."""
    for flag in ("--transfer", "--fusion"):
        result = run_cli("train", flag, "bogus", "-w", tmp_path / "w")
        assert result.exit_code == 2 and "--transfer must be one of none, ot, mhca, got 'bogus'" in result.output
    for flag in ("--transfer-weight", "--align-weight"):
        assert run_cli("train", flag, "-1", "-w", tmp_path / "w").exit_code == 2  # below its minimum
    for flag in ("--adapter-scale", "--adapter-beta"):
        result = run_cli("train", flag, "0.5", "--preset", "huge", "-w", tmp_path / "w")
        assert result.exit_code == 2 and "--preset must be one of gtcrn, crn-m, crn-l, paper, small, got 'huge'" in result.output
    result = run_cli("enhance", tmp_path / "a.wav", "--sampler", "euler", "-w", tmp_path / "w")
    assert result.exit_code == 2 and "--sampler must be one of ode, pc, predictive, got 'euler'" in result.output


def test_every_option_the_readme_shows_exists_on_its_command():
    """README and CLI options match: each `cmkt COMMAND ... --option` in the README's commands, and each option the
    prose says every stage takes."""
    import re
    from pathlib import Path

    import typer.main

    from cmkt_cli.main import app

    commands = typer.main.get_command(app).commands
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    shown = []
    for block in re.findall(r"```bash\n(.*?)```", readme, re.S):
        for line in block.splitlines():
            for call in re.findall(r"cmkt (\w[\w-]*)([^|#&]*)", line):
                shown += [(call[0], option) for option in re.findall(r"(?<!\S)(--[a-z][a-z-]*)", call[1])]
    assert len(shown) > 20
    for command, option in shown:
        assert command in commands, command
        options = {name for param in commands[command].params for name in param.opts + param.secondary_opts}
        assert option in options, f"cmkt {command} {option}"
    for command in ("prepare", "transcribe", "featurize", "train", "enhance", "score", "run"):  # "every stage"
        options = {name for param in commands[command].params for name in param.opts}
        assert {"--workdir", "--force", "--quiet"} <= options, command
    for command in ("prepare", "score", "report", "featurize"):  # "take --jobs/-j"
        assert "--jobs" in {name for param in commands[command].params for name in param.opts}, command
