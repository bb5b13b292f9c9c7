"""The report opened in a real headless Chromium: every image decodes, no console errors, a screenshot."""
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, tiny_study

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = REPO / "tests" / "artifacts"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"]

# Injected into a copy of the report: records load errors / console errors, then writes a verdict
# into the DOM, which --dump-dom prints after the page's load event.
PROBE = """<script>
window.__errors = [];
window.addEventListener('error', e => __errors.push(String(e.message || (e.target && e.target.src) || e)), true);
const origError = console.error; console.error = (...a) => { __errors.push(a.join(' ')); origError(...a); };
window.addEventListener('load', () => {
  const imgs = Array.from(document.images);
  const broken = imgs.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.alt.slice(0, 40));
  document.body.setAttribute('data-probe', JSON.stringify({images: imgs.length, broken, errors: __errors}));
});
</script>"""


def open_in_chromium(report: Path, tmp_path: Path, shot: Path) -> dict:
    """Open ``report`` in headless Chromium with the probe: {images, broken, errors}; then a screenshot to ``shot``."""
    probed = tmp_path / "probed.html"
    probed.write_text(report.read_text().replace("<head>", "<head>" + PROBE, 1))
    profile = tmp_path / "profile"
    dom = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=5000", "--dump-dom",
                          probed.as_uri()], capture_output=True, text=True, timeout=120)
    match = re.search(r"data-probe=\"([^\"]*)\"", dom.stdout)
    assert match, f"probe did not run: {dom.stderr[-500:]}"
    ARTIFACTS.mkdir(exist_ok=True)
    subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--window-size=1280,2400", f"--screenshot={shot}",
                    report.as_uri()], capture_output=True, timeout=120)
    return json.loads(match.group(1).replace("&quot;", '"'))


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (tests/setup_browser.py installs it as root)")
def test_report_renders_in_chromium(cli, tmp_path):
    r = cli("run", str(tiny_study(tmp_path)), "--out", str(tmp_path / "runs"))
    assert r.code == 0, r.err
    report = Path(r.out.strip().splitlines()[-1].removeprefix("report: "))
    shot = ARTIFACTS / "report.png"
    probe = open_in_chromium(report, tmp_path, shot)
    assert probe["images"] >= 5 and probe["broken"] == [] and probe["errors"] == [], probe
    assert shot.is_file() and shot.stat().st_size > 20_000
