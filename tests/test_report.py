"""`cmkt report`: the page for a prepared workdir's test split enhanced by the bundled model and for plain folders,
checked in a real browser (headless Chromium through selenium) when one is installed."""

import json
import re
import shutil
from pathlib import Path

import pytest
import soundfile as sf

from pipelines.audio_io import load_audio
from pipelines.pretrained import DEFAULT_NAME
from pipelines.report.sources import gather
from tests.conftest import DEFAULT_OUTPUT, run_cli, shared, write_wav

SYSTEM = DEFAULT_OUTPUT


def _files(folder: Path) -> dict[Path, int]:
    return {path: path.stat().st_mtime_ns for path in folder.rglob("*")}


@pytest.fixture(scope="module")
def report(enhanced_samples, tmp_path_factory) -> tuple[Path, Path]:
    """(workdir, report folder) of three real recordings mixed with real noise, enhanced by the bundled model."""
    workdir, out = enhanced_samples, tmp_path_factory.mktemp("report") / "report"
    before = _files(workdir)
    result = run_cli("report", workdir, "-o", out, "-j", "2")
    assert result.exit_code == 0, result.output
    assert "report of 3 files" in result.output
    assert _files(workdir) == before  # nothing written outside -o
    return workdir, out


def test_page_links_only_files_inside_the_report(report):
    _, out = report
    html = (out / "index.html").read_text()
    links = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert len(links) == 3 * 3 + 3  # noisy, enhanced, clean players and one picture per file
    for link in links:
        assert not re.match(r"^[a-z]+:|^/", link), link  # relative: no scheme, no absolute path
        assert (out / link).is_file(), link
    assert "<link" not in html and "@import" not in html and "url(" not in html
    scores = json.loads((out / "scores.json").read_text())
    assert scores["columns"] == ["noisy", SYSTEM, "clean"]
    summary = scores["summary"]
    assert summary[SYSTEM]["dnsmos_ovrl"]["delta"] == pytest.approx(
        summary[SYSTEM]["dnsmos_ovrl"]["mean"] - summary["noisy"]["dnsmos_ovrl"]["mean"])
    assert "pesq_wb" not in summary["clean"] and summary["clean"]["dnsmos_ovrl"]["n"] == 3
    assert "real-time factor" in html and "predictive" in html  # the model card enhance wrote beside its outputs
    assert f"{DEFAULT_NAME}.pt" in html
    assert "/pipelines/weights/" not in html  # the checkpoint by name: this machine's paths stay out of the page


def test_plain_folders_without_references_and_two_systems(tmp_path):
    noisy = load_audio(shared("metric_refs/python_pesq/speech_bab_0dB.wav")).samples
    write_wav(tmp_path / "a" / "speech.wav", noisy)
    write_wav(tmp_path / "b" / "speech.wav", 0.5 * noisy)
    write_wav(tmp_path / "b" / "only_b.wav", noisy[:16_000])
    result = run_cli("report", tmp_path / "a", tmp_path / "b", "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    scores = json.loads((tmp_path / "out" / "scores.json").read_text())
    assert scores["columns"] == ["a", "b"] and [row["id"] for row in scores["files"]] == ["only_b", "speech"]
    assert set(scores["summary"]["a"]) == {"dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl"}
    assert "No model.json" in (tmp_path / "out" / "index.html").read_text()


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    result = run_cli("report", tmp_path / "missing", "-o", tmp_path / "out")
    assert result.exit_code == 2 and "not a folder" in result.output
    (tmp_path / "a").mkdir()
    result = run_cli("report", tmp_path / "a", "-o", tmp_path / "a")
    assert result.exit_code == 2 and "cannot be an input" in result.output


def _browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install selenium)")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver_path = shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        pytest.skip("headless Chromium is not installed (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--mute-audio",
                 "--window-size=1600,1200", "--allow-file-access-from-files"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver_path))


def test_the_page_works_in_a_real_browser(report, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    _, out = report
    browser = _browser()
    try:
        browser.get((out / "index.html").as_uri())
        WebDriverWait(browser, 60).until(lambda b: b.execute_script(
            "return [...document.querySelectorAll('audio')].every(a => a.readyState >= 1 || a.error)"))
        players = browser.execute_script(
            "return [...document.querySelectorAll('audio')].map(a => [a.getAttribute('src'), a.duration, "
            "a.error && a.error.code])")
        assert len(players) == 9
        for src, duration, error in players:
            assert error is None, src
            assert duration == pytest.approx(sf.info(out / src).duration, abs=0.01), src
        images = browser.execute_script(
            "return [...document.querySelectorAll('img')].map(i => [i.complete, i.naturalWidth])")
        assert len(images) == 3 and all(done and width > 0 for done, width in images)
        assert len(browser.find_elements(By.CSS_SELECTOR, "#files tbody tr")) == 3

        def column(index):
            return [float(cell.get_attribute("data-value")) for cell in
                    browser.find_elements(By.CSS_SELECTOR, f"#files tbody tr td:nth-child({index + 1})")]

        heading = browser.find_element(By.CSS_SELECTOR, f'#files th[data-signal="{SYSTEM}"][data-metric="dnsmos_ovrl"]')
        ovrl = int(heading.get_attribute("data-col"))
        heading.click()
        assert column(ovrl) == sorted(column(ovrl), reverse=True)
        heading.click()
        assert column(ovrl) == sorted(column(ovrl))
        first_file = browser.find_element(By.CSS_SELECTOR, "#files tbody tr td").text
        assert first_file == min(json.loads((out / "scores.json").read_text())["files"],
                                 key=lambda row: row["scores"][SYSTEM]["dnsmos_ovrl"])["id"]
        browser.set_window_size(1400, 900)  # the page fits a 1400-px window: a wide file table scrolls in its own box
        assert browser.execute_script("return document.documentElement.scrollWidth") <= browser.execute_script(
            "return document.documentElement.clientWidth")
        assert browser.execute_script("return getComputedStyle(document.querySelector('#files').parentElement)"
                                      ".overflowX") == "auto"
        assert "/pipelines/weights/" not in browser.page_source
        assert browser.save_screenshot(str(tmp_path / "report.png"))
    finally:
        browser.quit()
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_a_report_inside_the_workdir_is_never_one_of_its_systems(report, tmp_path):
    workdir, _ = report
    out = workdir / "enhanced" / "page"
    earlier = out / "audio" / f"1-{SYSTEM}"  # an earlier report's audio copies, under enhanced/
    earlier.mkdir(parents=True)
    for wav in (workdir / "enhanced" / SYSTEM).glob("*.wav"):
        shutil.copy(wav, earlier / wav.name)
    try:
        assert [c.name for c in gather([workdir], None, None, "test", out).columns] == ["noisy", SYSTEM, "clean"]
    finally:
        shutil.rmtree(out)


def test_the_report_says_over_how_many_files_each_score_is_averaged(tmp_path):
    """References for 1 of 2 files: the intrusive scores cover that one; the page and the command say so."""
    speech = load_audio(shared("metric_refs/python_pesq/speech.wav")).samples
    noisy = load_audio(shared("metric_refs/python_pesq/speech_bab_0dB.wav")).samples
    for name in ("one", "two"):
        write_wav(tmp_path / "enhanced" / f"{name}.wav", noisy)
    write_wav(tmp_path / "clean" / "one.wav", speech)
    result = run_cli("report", tmp_path / "enhanced", "--clean", tmp_path / "clean", "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert ("warning: enhanced: PESQ-WB, PESQ-NB, STOI, ESTOI, SI-SDR over 1 of 2 files (the others have no clean "
            "reference or could not be scored)") in result.output
    summary = json.loads((tmp_path / "out" / "scores.json").read_text())["summary"]
    assert summary["enhanced"]["pesq_wb"]["n"] == 1 and summary["enhanced"]["dnsmos_ovrl"]["n"] == 2
    assert "1 of 2 files" in (tmp_path / "out" / "index.html").read_text()


def test_a_report_folder_holding_an_input_is_refused_by_name(tmp_path):
    speech = load_audio(shared("metric_refs/python_pesq/speech.wav")).samples
    write_wav(tmp_path / "parent" / "system" / "a.wav", speech)
    result = run_cli("report", tmp_path / "parent" / "system", "-o", tmp_path / "parent")
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and lines == [f"error: -o {tmp_path / 'parent'}: the report folder holds the input "
                                               f"{tmp_path / 'parent' / 'system'}; choose a folder outside the inputs"]
