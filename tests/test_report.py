"""`sentiment-batch report`: one self-contained HTML page about a scored file, which a browser renders cleanly."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sentiment_batch.cli import main as cli_main
from sentiment_batch.report import highlighted

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "reviews.parquet"
SECTIONS = ("labels", "scores", "phrases", "errors", "sample")


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """The sample data with a `source` column and a few rows that cannot be scored, scored with evidence."""
    table = pq.read_table(SAMPLE)
    sources = pa.array([("shop", "app", "hotel")[row % 3] for row in range(table.num_rows)])
    texts = table.column("text").to_pylist()
    texts[:3] = ["", None, "Habitación sucia y ruidosa, nunca más volveremos a este hotel."]
    folder = tmp_path_factory.mktemp("scored")
    pq.write_table(table.set_column(1, "text", pa.array(texts)).append_column("source", sources), folder / "in.parquet")
    for explain in (0, 3):
        out = folder / f"scored{explain}.parquet"
        argv = ["score", str(folder / "in.parquet"), "--output", str(out), "--no-progress", "--explain", str(explain)]
        assert cli_main(argv) == 0
    return folder


def report(scored: Path, name: str, *extra: str) -> str:
    output = scored / f"{name}.{len(list(scored.glob('*.html')))}.html"  # each call its own page
    assert cli_main(["report", str(scored / name), "--output", str(output), *extra]) == 0
    return output.read_text(encoding="utf-8")


def test_the_report_has_every_section_and_references_nothing_outside_itself(scored):
    page = report(scored, "scored3.parquet", "--by", "source", "--sample", "12")
    for section in SECTIONS:
        assert f'<section id="{section}">' in page
    assert page.count("<svg") >= 5 and page.count('<div class="review">') == 12
    assert not re.search(r"(?i)(src|href)\s*=|url\(|@import|<script|<link|<img|<iframe|https?:", page)
    table = pq.read_table(scored / "scored3.parquet").to_pandas()
    shop = table[(table.source == "shop") & table.error.isna()]
    counts = shop.label.value_counts()
    # The per-source counts, each with its share of the source's rows.
    assert f"{counts['positive']:,} ({counts['positive'] / len(shop):.1%})" in page
    for reason, count in table.error.value_counts().items():
        assert f'<td>{reason}</td><td class="n">{count:,}</td>' in page


def test_a_file_without_evidence_gets_its_phrases_from_the_sampled_reviews(scored):
    page = report(scored, "scored0.parquet", "--sample", "5")
    assert "the sampled reviews, explained for this report" in page
    assert page.count("<mark ") >= 5 + 2  # the sample's phrases, and the legend's two


def test_a_review_is_highlighted_on_both_sides_and_escaped():
    text = "Great <b>food</b>, slow service & great view"
    page = highlighted(text, [{"phrase": "slow", "weight": -0.8}, {"phrase": "Great", "weight": 1.6}])
    assert page.startswith('<mark style="background:rgba(46,125,50,0.75)" title="+1.600">Great</mark>')
    assert 'rgba(198,40,40,0.45)" title="-0.800">slow</mark>' in page
    assert "&lt;b&gt;food&lt;/b&gt;" in page and "&amp; great view" in page


def test_a_file_that_was_not_scored_is_refused_in_one_line(tmp_path, capsys):
    pq.write_table(pa.table({"text": ["good"]}), tmp_path / "raw.parquet")
    code = cli_main(["report", str(tmp_path / "raw.parquet"), "--output", str(tmp_path / "r.html")])
    assert code == 2 and "is it a file that sentiment-batch scored?" in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()


def test_chromium_renders_the_report_without_a_console_error(scored, tmp_path):
    import websocket

    page = tmp_path / "report.html"
    page.write_text(report(scored, "scored3.parquet", "--by", "source"), encoding="utf-8")
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium must be installed (.ci/run installs it)"
    command = [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
    command += ["--remote-debugging-port=0", f"--user-data-dir={tmp_path / 'profile'}", "about:blank"]
    browser = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        port = devtools_port(browser)
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json"))
        socket = websocket.create_connection(next(t for t in targets if t["type"] == "page")["webSocketDebuggerUrl"])
        problems, rendered = load_and_inspect(socket, page.as_uri())
        socket.close()
    finally:
        browser.kill()
        browser.wait()
    assert problems == []
    assert rendered == {"svgs": 7, "drawn": True, "sections": len(SECTIONS)}


def devtools_port(browser: subprocess.Popen) -> int:
    """The port Chromium's DevTools listens on, from the line it prints at start-up."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = browser.stderr.readline()
        found = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
        if found:
            return int(found.group(1))
    raise AssertionError("chromium did not start its DevTools server")


def load_and_inspect(socket, url: str) -> tuple[list, dict]:
    """Open `url`, collect console errors and exceptions until it has loaded, and measure its charts."""
    calls = iter(range(1, 100))

    def send(method: str, **params) -> int:
        call = next(calls)
        socket.send(json.dumps({"id": call, "method": method, "params": params}))
        return call

    for domain in ("Runtime", "Log", "Page"):
        send(f"{domain}.enable")
    send("Page.navigate", url=url)
    problems, measured, measuring = [], None, None
    socket.settimeout(30)
    while measured is None:
        message = json.loads(socket.recv())
        method = message.get("method")
        if method == "Runtime.exceptionThrown" or (
            method == "Runtime.consoleAPICalled" and message["params"]["type"] in ("error", "assert")
        ):
            problems.append(message["params"])
        elif method == "Log.entryAdded" and message["params"]["entry"]["level"] == "error":
            problems.append(message["params"]["entry"])
        elif method == "Page.loadEventFired":
            script = (
                "JSON.stringify({svgs: document.querySelectorAll('svg').length, "
                "drawn: [...document.querySelectorAll('svg')].every(s => s.getBBox().width > 0), "
                "sections: document.querySelectorAll('section').length})"
            )
            measuring = send("Runtime.evaluate", expression=script, returnByValue=True)
        elif measuring is not None and message.get("id") == measuring:
            measured = json.loads(message["result"]["result"]["value"])
    return problems, measured
