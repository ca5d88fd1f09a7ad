"""The CLI contract: the stage list, exit codes and one-line errors."""

from tests.conftest import run_cli

STAGES = ("prepare", "transcribe", "featurize", "train", "enhance", "score", "run")


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
