"""`bench report --html` in a real headless Chromium (Debian's package): the site renders, its links resolve,
a screenshot is kept (its path printed in the test output)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from table_records import COMMITTED_RUNS


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if shutil.which("apt-get") is None:
        pytest.skip("no Chromium and no apt-get to install it")
    subprocess.run(["apt-get", "install", "-y", "chromium"], check=True, capture_output=True, timeout=900)
    return shutil.which("chromium")


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.targets: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs) -> None:
        for name, value in attrs:
            if (tag, name) in (("a", "href"), ("img", "src"), ("link", "href"), ("script", "src")):
                self.targets.append((tag, value))


@pytest.mark.slow
def test_report_renders_in_chromium_with_links_that_resolve(tmp_path: Path) -> None:
    site = tmp_path / "site"
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "bench.cli", "report", "--html", str(site), "--runs",
                           str(COMMITTED_RUNS)], capture_output=True, text=True, timeout=300)
    seconds = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    pages = sorted(site.rglob("*.html"))
    assert len(pages) == len(list(COMMITTED_RUNS.glob("*/record.json"))) + 1
    print(f"bench report --html: {len(pages)} pages in {seconds:.1f} s")
    for page in pages:  # every local link resolves; nothing is fetched from elsewhere
        parser = Links()
        parser.feed(page.read_text(encoding="utf-8"))
        for tag, target in parser.targets:
            url = urlparse(target)
            if url.scheme in ("http", "https"):
                assert tag == "a", f"{page}: {tag} loads {target}"  # links out, never an external asset
                continue
            assert (page.parent / unquote(url.path)).exists(), f"{page}: {target} does not resolve"
    browser = chromium()
    screenshot = tmp_path / "index.png"
    shot = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,2000",
                           f"--screenshot={screenshot}", (site / "index.html").as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert shot.returncode == 0 and screenshot.read_bytes().startswith(b"\x89PNG"), shot.stderr[-2000:]
    dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
                          (site / "index.html").as_uri()], capture_output=True, text=True, timeout=120)
    assert "<h1>Results</h1>" in dom.stdout and "MLPerf Training (imported)" in dom.stdout
    run_page = next(p for p in pages if "builtin" in p.name)
    dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
                          run_page.as_uri()], capture_output=True, text=True, timeout=120)
    assert "<svg" in dom.stdout and "Deviations" in dom.stdout and "Environment" in dom.stdout
    print(f"screenshot: {screenshot}")
