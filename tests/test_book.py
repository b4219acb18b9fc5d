"""The book builds (papermill in quick mode, then a strict Jupyter Book build) and its pages
work offline in a real browser: every chapter loads, the maths is rendered by the bundled
MathJax, and no image is broken. A screenshot of one chapter is saved under _build/."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync", "--virtual-time-budget=30000"]

# Injected into a copy of each page: once MathJax has finished, write what the page shows
# into the DOM, which --dump-dom then prints.
PROBE = """<script>
window.addEventListener('load', function () {
  function report() {
    var imgs = Array.from(document.images);
    var maths = Array.from(document.querySelectorAll('.math'));
    var out = document.createElement('pre');
    out.id = 'book-check';
    out.textContent = JSON.stringify({
      images: imgs.length,
      broken: imgs.filter(function (i) { return !i.complete || i.naturalWidth === 0; })
                  .map(function (i) { return i.getAttribute('src'); }),
      math: maths.length,
      rendered: document.querySelectorAll('mjx-container').length,
      raw: maths.filter(function (m) { return !m.querySelector('mjx-container'); })
                .map(function (m) { return m.textContent.slice(0, 80); }),
      mathjax: typeof window.MathJax === 'object' && !!window.MathJax.startup
    });
    document.body.appendChild(out);
  }
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    MathJax.startup.promise.then(function () { setTimeout(report, 200); });
  } else { setTimeout(report, 5000); }
});
</script>"""


def chapters() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]


@pytest.fixture(scope="module")
def built_book():
    """Build the book in quick mode exactly as the README says; fail on any warning."""
    result = subprocess.run([sys.executable, "scripts/build_book.py"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-6000:]
    assert "quick build" in result.stdout
    return HTML


@pytest.mark.slow
def test_every_chapter_was_executed_without_errors(built_book):
    for chapter in chapters():
        nb = ROOT / "_build" / "src" / f"{chapter}.ipynb"
        if not nb.exists():  # a plain Markdown page (the bibliography)
            continue
        cells = json.loads(nb.read_text())["cells"]
        errors = [o for c in cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, f"{chapter}: {errors[0]['ename']}: {errors[0]['evalue']}"
        assert any(c.get("outputs") for c in cells if c["cell_type"] == "code"), f"{chapter} has no outputs"


@pytest.mark.slow
def test_html_has_no_cdn_and_no_unresolved_glue(built_book):
    for chapter in chapters():
        page = (built_book / f"{chapter}.html").read_text()
        assert "cdn.jsdelivr.net" not in page and "mathjax@3" not in page, f"{chapter} loads MathJax from a CDN"
        assert "IProgress not found" not in page, f"{chapter} shows a widget warning"
        assert not re.search(r"\{glue:(text|md|figure)\}", page), f"{chapter} has unresolved glue"
    assert (built_book / "_static/mathjax/tex-chtml.js").exists()


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")
def test_pages_render_offline_in_chromium(built_book):
    problems = []
    for chapter in chapters():
        page = built_book / f"{chapter}.html"
        probe = page.with_name(f"_check_{page.name}")
        probe.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
        try:
            for _ in range(3):  # a loaded machine can run out the virtual-time budget: try again
                with tempfile.TemporaryDirectory() as profile:
                    result = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--dump-dom",
                                             probe.as_uri()], capture_output=True, text=True, timeout=180)
                found = re.search(r'<pre id="book-check">(.*?)</pre>', result.stdout, re.S)
                if found:
                    break
        finally:
            probe.unlink()
        if not found:
            problems.append(f"{chapter}: page did not load or the check did not run "
                            f"(chromium said: {result.stderr[-500:]})")
            continue
        check = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&")
                           .replace("&lt;", "<").replace("&gt;", ">"))
        if check["broken"]:
            problems.append(f"{chapter}: broken images {check['broken']}")
        if check["math"] and (not check["mathjax"] or check["raw"] or check["rendered"] < check["math"]):
            problems.append(f"{chapter}: maths not rendered ({check['rendered']}/{check['math']}), "
                            f"raw TeX left: {check['raw'][:3]}")
        if chapter.endswith(("vae", "mvae")) and not check["math"]:
            problems.append(f"{chapter}: expected equations, found none")
        if chapter.endswith(("table1", "table2", "latent_spaces")) and not check["images"]:
            problems.append(f"{chapter}: expected figures, found none")
    assert not problems, "\n".join(problems)
    shots = ROOT / "_build" / "screenshots"
    shots.mkdir(exist_ok=True)
    for name in ("vae", "table2"):
        with tempfile.TemporaryDirectory() as profile:
            subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--window-size=1280,2400",
                            f"--screenshot={shots / (name + '.png')}", (built_book / f"book/{name}.html").as_uri()],
                           capture_output=True, timeout=120)
        assert (shots / f"{name}.png").stat().st_size > 10_000
