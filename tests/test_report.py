"""`rdbench report`: one self-contained HTML file, safe with hostile text, checked in a real browser;
the `vtm17` anchor's shipped fallback; one colour and marker per curve in a figure.

The browser tests drive headless Chromium (Debian's `chromium`, installed by .ci/run) through the
DevTools protocol (`websocket-client`, in the test extra): the page must load with no console error,
make no request beyond its own file, show the database's BD-rate numbers, sort a table on a click,
and render a screenshot that is not blank. They skip, with the reason, where no browser is installed.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import pytest
from helpers import kodak_crops, rdbench

HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'


# -- a headless browser through the DevTools protocol -----------------------------------------


def _browser_binary() -> str | None:
    for name in (os.environ.get("RDBENCH_CHROMIUM"), "chromium", "chromium-browser", "google-chrome", "chrome"):
        if name and (found := shutil.which(name)):
            return found
    return None


class Browser:
    """A headless Chromium with a fresh profile, one page, driven over its DevTools websocket."""

    def __init__(self, binary: str, profile: Path) -> None:
        import websocket  # websocket-client

        self.proc = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check",
             "--disable-extensions", f"--user-data-dir={profile}", "--remote-debugging-port=0",
             "--window-size=1280,1600", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and len(port_file.read_text().split()) >= 2):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                pytest.fail(f"{binary} did not start its DevTools endpoint")
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as answer:
            page = next(t for t in json.load(answer) if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60, suppress_origin=True)
        self.events: list[dict] = []
        self._id = 0
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")

    def send(self, method: str, **params) -> dict:
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self._id:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, event: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == event for e in self.events):
            assert time.monotonic() < deadline, f"no {event} within {timeout} s"
            self.events.append(json.loads(self.ws.recv()))

    def settle(self, seconds: float = 0.5) -> None:
        """Collect the events of the next ``seconds`` (late console messages, requests)."""
        import websocket

        self.ws.settimeout(0.1)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                self.events.append(json.loads(self.ws.recv()))
            except websocket.WebSocketTimeoutException:
                continue  # nothing more yet
        self.ws.settimeout(60)

    def evaluate(self, expression: str):
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    def open(self, path: Path) -> None:
        self.events.clear()
        self.send("Page.navigate", url=path.resolve().as_uri())
        self.wait_for("Page.loadEventFired")
        self.settle()

    def console_errors(self) -> list[str]:
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert", "warning"):
                found.append(" ".join(str(a.get("value", a.get("description"))) for a in params.get("args", [])))
            elif method == "Runtime.exceptionThrown":
                found.append(json.dumps(params.get("exceptionDetails", {}))[:500])
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") in ("error", "warning"):
                found.append(params["entry"].get("text", ""))
        return found

    def requests(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events if e.get("method") == "Network.requestWillBeSent"]

    def screenshot(self):
        from PIL import Image

        data = self.send("Page.captureScreenshot", format="png")["data"]
        return Image.open(io.BytesIO(base64.b64decode(data))).convert("L")

    def close(self) -> None:
        if getattr(self, "ws", None) is not None:
            self.ws.close()
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    binary = _browser_binary()
    if binary is None:
        pytest.skip("no Chromium installed (apt-get install chromium, as .ci/run does): the report's browser "
                    "checks need a real browser")
    pytest.importorskip("websocket", reason="websocket-client (test extra) drives the browser's DevTools protocol")
    opened = Browser(binary, tmp_path_factory.mktemp("chromium-profile"))
    yield opened
    opened.close()


# -- stores --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def measured(measured_store) -> tuple[Path, str]:
    """A real store (jpeg, webp on three Kodak crops) and its dataset's stored name."""
    return measured_store.db, measured_store.dataset


def _bd_values(db: Path, dataset: str, anchor: str, codecs: list[str], metric: str) -> dict[str, float]:
    from rdbench.analysis.tables import bd_table
    from rdbench.store.sqlite import Store

    with Store(db, readonly=True) as store:
        table = bd_table(store, anchor, codecs, [dataset], metric=metric)
    return {row["codec"]: row[dataset] for row in table.rows}


class _Elements(HTMLParser):
    """Every element and attribute of a page, to prove what the markup holds."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.script_text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.script_text.append(data)


def _elements(html: str) -> _Elements:
    parser = _Elements()
    parser.feed(html)
    return parser


# -- the report ----------------------------------------------------------------------------------


def test_report_is_one_self_contained_file_with_every_section(measured, tmp_path):
    db, dataset = measured
    out = tmp_path / "report.html"
    before = db.read_bytes()
    result = rdbench("report", "--db", db, "--anchor", "jpeg", "--out", out, in_process=True, check=True)
    assert f"wrote {out}" in result.stdout
    assert db.read_bytes() == before, "the database is only read"
    html = out.read_text()
    page = _elements(html)
    tags = [t for t, _ in page.tags]
    # nothing outside the file: no external script, style, image, frame or link
    assert tags.count("script") == 1 and not any(dict(a).get("src") for t, a in page.tags if t == "script")
    assert not {"link", "iframe", "object", "embed", "img"} & set(tags)
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "") and "https://" not in html
    csp = next(dict(a)["content"] for t, a in page.tags if t == "meta" and dict(a).get("http-equiv"))
    assert "default-src 'none'" in csp and "'unsafe-inline'" not in csp and "script-src 'sha256-" in csp
    # every section, each figure an inline SVG whose points say what they are
    for section in ("bdrate", "curves", "spread", "failed", "provenance"):
        assert f'id="{section}"' in html
    assert tags.count("svg") >= 4  # RD and per-image figures, psnr and ms-ssim (plus legend swatches)
    webp = _bd_values(db, dataset, "jpeg", ["webp"], "psnr")["webp"]
    assert f"{webp:.3f}" in html
    assert "webp\nquality 40\nbpp " in html  # a point's tooltip: codec, quality, bpp, value
    assert f"Per-image psnr spread on {dataset}" in html
    # provenance: versions, commit, codec library, machine, dates
    from rdbench import __version__

    assert f"rdbench {__version__}" in html and "imagecodecs" in html and "git commit" in html
    assert "none: every stored record" in html


def test_report_lists_failures_and_complexity_and_the_shipped_vtm17_fallback(measured, tmp_path):
    db, dataset = measured
    copy = tmp_path / "rd.sqlite"
    shutil.copy(db, copy)
    from rdbench.store.record import ComplexityPoint, Record
    from rdbench.store.sqlite import Store

    with Store(copy) as store:
        store.put(Record("jpeg", "f" * 16, "50", dataset, "broken.png", "0" * 64, status="failed",
                         error="decoder said: bad marker 0xd9\nsecond line"))
        store.add_complexity_points([ComplexityPoint("jpeg", "f" * 16, "50", "cpu", "test", s, s, s * s,
                                                     encode_s=1e-8 * s * s, decode_s=5e-9 * s * s,
                                                     peak_mem_bytes=12 * s * s) for s in (128, 256, 512)])
    out = tmp_path / "report.html"
    rdbench("report", "--db", copy, "--anchor", "vtm17", "--dataset", f"{dataset},kodak", "--codec", "jpeg,webp",
            "--out", out, in_process=True, check=True)
    html = out.read_text()
    assert "decoder said: bad marker 0xd9" in html and "broken.png" in html and "Failed records (1)" in html
    assert 'id="complexity"' in html and "Scaling exponents" in html
    # vtm17 is not measured: the shipped VTM-17.0 Kodak measurement stands in, the crops dataset is marked missing
    assert "rdbench&#39;s shipped vtm17-rdbench, as no vtm17 is measured on kodak in this store" in html
    assert f"MISSING on {dataset}" in html


def test_untrusted_text_is_shown_and_never_run(measured, tmp_path, browser_or_none):
    """Codec names, errors, image and file names and an imported description holding markup are text."""
    db, dataset = measured
    copy = tmp_path / "rd.sqlite"
    shutil.copy(db, copy)
    curve = tmp_path / "x<img src=x onerror=window.__pwned=3>.json"
    curve.write_text(json.dumps({"name": "evil-paper", "description": HOSTILE,
                                 "results": {"bpp": [0.3, 0.6, 1.0, 1.5], "psnr-rgb": [27.0, 30.0, 33.0, 35.5]}}))
    rdbench("import", curve, "--dataset", dataset, "--db", copy, in_process=True, check=True)
    from rdbench.store.record import Record
    from rdbench.store.sqlite import Store

    with Store(copy) as store:
        store.put(Record(f"evil{HOSTILE}", "e" * 16, "1", dataset, f"{HOSTILE}.png", "1" * 64, status="failed",
                         error=f"boom {HOSTILE}"), config={"adapter": HOSTILE, "params": {"x": HOSTILE}})
    out = tmp_path / "report.html"
    rdbench("report", "--db", copy, "--anchor", "jpeg", "--out", out, in_process=True, check=True)
    html = out.read_text()
    page = _elements(html)
    assert [t for t, _ in page.tags].count("script") == 1
    assert "__pwned" not in "".join(page.script_text)
    assert not [(t, a) for t, a in page.tags for name, _ in a if name.lower().startswith("on")]
    assert "img" not in [t for t, _ in page.tags]
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in html  # shown as text
    if browser_or_none is None:
        pytest.skip("no browser here: the markup checks passed; the browser check needs Chromium")
    browser_or_none.open(out)
    assert browser_or_none.evaluate("typeof window.__pwned") == "undefined"
    text = browser_or_none.evaluate("document.body.innerText")
    assert "<script>window.__pwned = 1</script>" in text and "evil-paper" in text
    assert browser_or_none.console_errors() == []
    assert set(browser_or_none.requests()) <= {out.resolve().as_uri()}



def test_bd_cells_read_as_the_json_values_with_their_interval(measured, tmp_path):
    """One column per dataset, each cell the value and bootstrap interval `rdbench bdrate --format json`
    gives for the same table, formatted "-36.69 % [-39.37, -34.48]"; no column dump ("<dataset> ci_low")."""
    db, dataset = measured
    result = rdbench("bdrate", "--db", db, "--anchor", "jpeg", "--codec", "webp", "--dataset", dataset, "--ci", "95",
                     "--format", "json", in_process=True, check=True)
    (cell,) = [c for c in json.loads(result.stdout)["cells"] if c["codec"] == "webp"]
    out = tmp_path / "report.html"
    rdbench("report", "--db", db, "--anchor", "jpeg", "--codec", "webp", "--dataset", dataset, "--metric", "psnr",
            "--out", out, in_process=True, check=True)
    html = out.read_text()
    bd = html[html.index('id="bdrate-psnr"'):html.index('id="curves"')]
    text = f"{cell['bd_rate']:.2f} % [{cell['ci_low']:.2f}, {cell['ci_high']:.2f}]"
    assert f'<td class="num" data-v="{cell["bd_rate"]!r}">{text}</td>' in bd
    assert f'<th scope="col">{dataset}</th>' in bd
    assert "ci_low" not in bd.split("</table>")[0] and f"{dataset} overlap" not in bd.split("</table>")[0]
    assert "<th scope=\"col\">overlap</th>" in bd  # the supporting numbers, one row per codec and dataset
    csp = [dict(a)["content"] for t, a in _elements(html).tags if dict(a).get("http-equiv") == "Content-Security-Policy"]
    assert len(csp) == 1 and csp[0].startswith("default-src 'none';") and "'unsafe-inline'" not in csp[0]


MARKUP = '<u class=x>&"\''


def test_database_text_is_escaped_everywhere(measured, tmp_path):
    """A codec name and an imported curve's description holding markup and quotes are text in every part
    of the report: BD table, figures (SVG labels and tooltips), spread tables, provenance."""
    db, dataset = measured
    copy = tmp_path / "rd.sqlite"
    shutil.copy(db, copy)
    curve = tmp_path / "paper.json"
    curve.write_text(json.dumps({"name": "paper", "description": f"described {MARKUP}",
                                 "results": {"bpp": [0.3, 0.6, 1.0, 1.5], "psnr-rgb": [27.0, 30.0, 33.0, 35.5]}}))
    rdbench("import", curve, "--dataset", dataset, "--db", copy, in_process=True, check=True)
    import dataclasses

    from rdbench.store.sqlite import Store

    with Store(copy) as store:  # the name rule refuses such a codec name; a database written otherwise holds it
        for record in store.find_records(selections=[{"codec": "webp"}]):
            store.put(dataclasses.replace(record, codec=f"w{MARKUP}"),
                      config={"adapter": "webp", "params": {}, "description": f"config {MARKUP}"})
    out = tmp_path / "report.html"
    rdbench("report", "--db", copy, "--anchor", "jpeg", "--out", out, in_process=True, check=True)
    html = out.read_text()
    page = _elements(html)
    assert "u" not in {t for t, _ in page.tags} and MARKUP not in html
    assert not [(t, a) for t, a in page.tags for name, _ in a if name == "class" and a == [("class", "x")]]
    parts = html.split("<h2 ")
    shown = {part.split('"')[1]: part for part in parts[1:]}
    for section in ("bdrate", "curves", "spread", "provenance"):
        assert "&lt;u class=x&gt;&amp;" in shown[section], section
    assert "described &lt;u class=x&gt;&amp;&#34;&#39;" in shown["provenance"]
    assert "<title>w&lt;u class=x&gt;&amp;&quot;&#x27;" in shown["curves"]  # an SVG tooltip, escaped by svgplot


@pytest.fixture()
def browser_or_none(request):
    if _browser_binary() is None:
        return None
    try:
        return request.getfixturevalue("browser")
    except pytest.skip.Exception:
        return None


def test_report_in_a_real_browser(measured, tmp_path, browser):
    """Loads with no console error, requests nothing beyond its file, shows the BD-rates, sorts, is not blank."""
    db, dataset = measured
    out = tmp_path / "report.html"
    rdbench("report", "--db", db, "--anchor", "jpeg", "--codec", "webp,mlicpp-paper,jpeg@cpu", "--out", out,
            in_process=True, check=True)
    browser.open(out)
    assert browser.console_errors() == []
    assert browser.requests() == [out.resolve().as_uri()], "the page must fetch nothing but itself"
    assert browser.evaluate("document.documentElement.classList.contains('js')"), "the sorting script ran (CSP)"
    text = browser.evaluate("document.body.innerText")
    for metric in ("psnr", "ms-ssim"):
        for codec, value in _bd_values(db, dataset, "jpeg", ["webp", "jpeg@cpu"], metric).items():
            assert f"{value:.2f} % [" in text, (codec, metric, value)  # the value with its interval
    # click the header of the first column of the spread table twice: rows sort one way, then the other
    order = browser.evaluate("""(() => {
        const table = [...document.querySelectorAll('table.sortable')].find(t => t.caption &&
            t.caption.textContent.startsWith('Per-image psnr spread'));
        const column = [...table.tHead.rows[0].cells].findIndex(th => th.textContent === 'median');
        const read = () => [...table.tBodies[0].rows].map(r => parseFloat(r.cells[column].dataset.v));
        table.tHead.rows[0].cells[column].click(); const up = read();
        table.tHead.rows[0].cells[column].click(); const down = read();
        return [up, down];
    })()""")
    up, down = order
    assert up == sorted(up) and down == sorted(up, reverse=True) and len(up) >= 8
    shot = browser.screenshot()
    from PIL import ImageStat

    assert ImageStat.Stat(shot).stddev[0] > 20, "the screenshot is blank"
    assert sum(1 for p in shot.getdata() if p < 200) > 0.02 * shot.width * shot.height


@pytest.mark.slow
def test_a_main_job_sized_store_gives_a_small_report(tmp_path):
    """A store the size of the README main job's (jpeg and webp at their shipped qualities on 24 Kodak images:
    432 records) gives a report well under 1 MB. The images are 176 x 176 crops: a report's size follows the
    numbers of images, codecs and qualities, not the pixels, and the crops code in seconds."""
    crops = kodak_crops(tmp_path / "crops", 24, (0, 0, 176, 176))
    db = tmp_path / "rd.sqlite"
    rdbench("run", "--codec", "jpeg,webp", "--dataset", crops, "--db", db, "-q", in_process=True, check=True)
    from rdbench.store.sqlite import Store

    with Store(db, readonly=True) as store:
        records = [r for r in store.find_records() if r.ok]
    assert len(records) == 432 and all(r.ms_ssim is not None for r in records)
    out = tmp_path / "report.html"
    rdbench("report", "--db", db, "--anchor", "jpeg", "--out", out, in_process=True, check=True)
    assert 10_000 < out.stat().st_size < 1_000_000, out.stat().st_size


def test_open_starts_the_browser_on_the_file(measured, tmp_path, monkeypatch):
    import webbrowser

    opened = []
    monkeypatch.setattr(webbrowser, "open", lambda url, *a, **k: opened.append(url) or True)
    out = tmp_path / "r.html"
    rdbench("report", "--db", measured[0], "--anchor", "jpeg", "--out", out, "--open", in_process=True, check=True)
    assert opened == [out.resolve().as_uri()]


def test_report_usage_errors(measured, tmp_path):
    result = rdbench("report", "--db", tmp_path / "none.sqlite", "--anchor", "jpeg", "--out", tmp_path / "r.html",
                     in_process=True)
    from rdbench.errors import UsageError

    assert isinstance(result.exception, UsageError) and "no results database" in str(result.exception)
    result = rdbench("report", "--db", measured[0], "--anchor", "jpgg", "--out", tmp_path / "r.html", in_process=True)
    assert isinstance(result.exception, UsageError) and "did you mean 'jpeg'" in str(result.exception)
    assert not (tmp_path / "r.html").exists()


# -- vtm17 out of the box -------------------------------------------------------------------------


def test_vtm17_anchor_falls_back_to_the_shipped_measurement_and_measured_runs_win(measured, tmp_path):
    db, dataset = measured
    result = rdbench("bdrate", "--anchor", "vtm17", "--codec", "mlicpp-paper,webp", "--dataset", f"kodak,{dataset}",
                     "--format", "json", "--db", db, in_process=True, check=True)
    table = json.loads(result.stdout)
    shipped = json.loads(rdbench("bdrate", "--anchor", "vtm17-rdbench", "--codec", "mlicpp-paper", "--dataset",
                                 "kodak", "--format", "json", "--db", db, in_process=True, check=True).stdout)
    row = {r["codec"]: r for r in table["rows"]}
    assert row["mlicpp-paper"]["kodak"] == pytest.approx(shipped["rows"][0]["kodak"], abs=1e-12)
    assert ("kodak: rdbench's shipped vtm17-rdbench, as no vtm17 is measured on kodak in this store"
            in table["anchor_info"])
    assert f"MISSING on {dataset} (psnr; no vtm17 measured in the store" in table["anchor_info"]
    assert row["webp"][dataset] is None  # NaN: the anchor has no curve on the crops
    # a measured vtm17 takes precedence on the dataset where it is measured
    copy = tmp_path / "rd.sqlite"
    shutil.copy(db, copy)
    from rdbench.store.record import Record
    from rdbench.store.sqlite import Store

    with Store(copy) as store:
        # on the images webp measured (a comparison averages the images both curves have)
        images = {(r.image, r.image_hash) for r in store.find_records(datasets=[dataset], status="ok")}
        for image, image_hash in images:
            for quality, (bpp, psnr) in {"37": (0.3, 30.0), "32": (0.6, 33.0), "27": (1.0, 36.0),
                                         "22": (1.6, 39.0)}.items():
                store.put(Record("vtm17", "a" * 16, quality, dataset, image, image_hash, height=176, width=176,
                                 num_bytes=int(bpp * 176 * 176 / 8), bpp=bpp, mse=1.0, psnr=psnr))
    table = json.loads(rdbench("bdrate", "--anchor", "vtm17", "--codec", "webp", "--dataset", f"kodak,{dataset}",
                               "--format", "json", "--db", copy, in_process=True, check=True).stdout)
    assert f"{dataset}: measured in {copy}" in table["anchor_info"]
    assert table["rows"][0][dataset] is not None
    plotted = rdbench("plot", "--codec", "mlicpp-paper", "--anchor", "vtm17", "--dataset", "kodak", "--out", tmp_path,
                      "--db", db, in_process=True, check=True)
    assert (tmp_path / "rd_kodak_psnr.png").exists(), plotted.stderr


# -- one colour and one marker per curve -----------------------------------------------------------


def test_every_curve_of_a_figure_has_its_own_colour_and_marker():
    from rdbench.analysis.plots import MARKERS, PALETTE, style, styles
    from rdbench.analysis.references import list_references

    # two names whose hashes pick one colour (as mlic-paper and webp did) get two colours
    clash = next((a, b) for a in sorted(list_references()) for b in sorted(list_references())
                 if a < b and style(a)[0] == style(b)[0])
    pair = styles(clash)
    assert pair[clash[0]][0] != pair[clash[1]][0] and pair[clash[0]] == style(clash[0])
    pair = styles(["mlic-paper", "webp"])
    assert pair["mlic-paper"][0] != pair["webp"][0] and pair["mlic-paper"][1] != pair["webp"][1]
    for count in (2, 5, len(MARKERS), len(PALETTE)):
        names = ["jpeg", "webp", "vtm17", *sorted(list_references())][:count]
        found = styles(names)
        assert len({c for c, _ in found.values()}) == len(names)
        assert len({m for _, m in found.values()}) == min(len(names), len(MARKERS))
        assert styles(reversed(names)) == found  # the order names are given in changes nothing
    many = styles(sorted(list_references()))  # more names than colours: still no two curves alike
    assert len(set(many.values())) == len(many)
    # a name keeps its own style wherever nothing else in the figure holds it
    assert styles(["jpeg"])["jpeg"] == style("jpeg")
    assert styles(["jpeg", "webp", "mlicpp-paper"])["jpeg"] == style("jpeg")  # first in sorted order


def test_report_shows_paper_cells_labels_and_a_metric_selector(measured, tmp_path, browser):
    """Issue 28: the report's BD part leads with the paper view (display names from --label, the cells
    `rdbench bdrate --format html` prints, the best in bold), the figures' legends use the labels, and with
    several metrics a selector shows one metric's tables and figures at a time; seen in headless Chromium."""
    db, dataset = measured
    out = tmp_path / "report.html"
    label = "WebP <i>(libwebp)</i> & co"
    rdbench("report", "--db", db, "--anchor", "jpeg", "--codec", "webp,jpeg@cpu", "--label", f"webp={label}",
            "--label", f"{dataset}=Kodak crops", "--out", out, in_process=True, check=True)
    paper = rdbench("bdrate", "--db", db, "--anchor", "jpeg", "--codec", "webp,jpeg@cpu", "--dataset", dataset,
                    "--ci", "95", "--format", "html", "--label", f"webp={label}", "--label", f"{dataset}=Kodak crops",
                    in_process=True, check=True).stdout
    cells = re.findall(r'<td class="num">(?:<b>)?([^<]+)', paper)
    browser.open(out)
    assert browser.console_errors() == []
    shown = browser.evaluate("""(() => {
        const part = document.querySelector('section.bd-part[data-metric="psnr"]');
        const table = part.querySelector('table.paper');
        const text = c => [...c.childNodes].filter(n => n.tagName !== 'SUP').map(n => n.textContent).join('');
        return {rows: [...table.tBodies[0].rows].map(r => [...r.cells].map(text)),
                bold: [...table.querySelectorAll('td.best')].map(c => getComputedStyle(c).fontWeight),
                legend: [...document.querySelectorAll('figure[data-metric="psnr"]')].some(
                    f => f.textContent.includes('WebP <i>(libwebp)</i> & co')),
                heads: [...table.tHead.rows[0].cells].map(c => c.textContent),
                options: [...document.querySelectorAll('#metric-select option')].map(o => o.value)};
    })()""")
    assert [row[0] for row in shown["rows"]] == [label, "jpeg@cpu"]
    assert [c for row in shown["rows"] for c in row[1:]] == [c.strip() for c in cells]
    assert shown["bold"] and all(int(w) >= 700 for w in shown["bold"])
    assert shown["legend"] and "Kodak crops" in shown["heads"]
    assert shown["options"] == ["", "psnr", "ms-ssim"]
    visible = """(() => [...document.querySelectorAll('[data-metric]')].filter(e => e.offsetParent !== null)
                   .map(e => e.getAttribute('data-metric')))()"""
    assert set(browser.evaluate(visible)) == {"psnr", "ms-ssim"}
    choose = ("(() => { const s = document.getElementById('metric-select'); s.value = '%s';"
              " s.dispatchEvent(new Event('change')); })()")
    browser.evaluate(choose % "ms-ssim")
    assert set(browser.evaluate(visible)) == {"ms-ssim"}
    browser.evaluate(choose % "psnr")
    assert set(browser.evaluate(visible)) == {"psnr"}
    shot = browser.screenshot()
    from PIL import ImageStat

    assert ImageStat.Stat(shot).stddev[0] > 20, "the screenshot is blank"


@pytest.mark.slow
def test_metric_selector_with_measured_plug_in_metrics(tmp_path, browser):
    """A store measured with `--metrics psnr-y,nlpd` (values in the records' metric_values) on two Kodak crops:
    the selector offers every metric, choosing one shows only its BD part and figures, the paper table's cells
    are those `rdbench bdrate --metric M --format html` prints (footnotes naming the codec by its label), and
    NLPD, lower-is-better, is shown and integrated as "1 - NLPD" in its heading, caption and figure axes."""
    crops = kodak_crops(tmp_path / "crops", 2, (0, 0, 96, 96))
    db, out = tmp_path / "rd.sqlite", tmp_path / "report.html"
    rdbench("run", "--codec", "jpeg,webp", "--dataset", crops, "--quality", "20,50,80", "--metrics", "psnr-y,nlpd",
            "--db", db, in_process=True, check=True)
    rdbench("report", "--db", db, "--anchor", "jpeg", "--codec", "webp", "--label", "webp=WebP", "--out", out,
            in_process=True, check=True)
    dataset = json.loads(rdbench("results", "--db", db, "--format", "json", in_process=True, check=True).stdout)[0]
    browser.open(out)
    assert browser.console_errors() == []
    options = browser.evaluate("[...document.querySelectorAll('#metric-select option')].map(o => o.value)")
    assert options == ["", "psnr", "ms-ssim", "nlpd", "psnr-y"]
    choose = ("(() => { const s = document.getElementById('metric-select'); s.value = '%s';"
              " s.dispatchEvent(new Event('change')); })()")
    read = """(() => {
        const shown = [...document.querySelectorAll('[data-metric]')].filter(e => e.offsetParent !== null);
        const part = shown.find(e => e.matches('section.bd-part'));
        const table = part.querySelector('table.paper');
        const text = c => [...c.childNodes].filter(n => n.tagName !== 'SUP').map(n => n.textContent).join('');
        return {metrics: [...new Set(shown.map(e => e.getAttribute('data-metric')))],
                heading: part.querySelector('h3').textContent, caption: table.caption.textContent,
                cells: [...table.tBodies[0].rows].map(r => [...r.cells].map(text)),
                notes: part.textContent,
                axes: [...document.querySelectorAll('figure')].filter(f => f.offsetParent !== null)
                      .map(f => f.querySelector('svg text.axis[transform]').textContent)};
    })()"""
    for metric, label in (("nlpd", "1 - NLPD"), ("psnr-y", "PSNR-Y (dB)"), ("psnr", "PSNR (dB)")):
        browser.evaluate(choose % metric)
        shown = browser.evaluate(read)
        paper = rdbench("bdrate", "--db", db, "--anchor", "jpeg", "--codec", "webp", "--dataset", dataset["dataset"],
                        "--metric", metric, "--ci", "95", "--format", "html", "--label", "webp=WebP",
                        in_process=True, check=True).stdout
        assert shown["metrics"] == [metric], metric
        assert shown["heading"].startswith(label) and shown["axes"] and set(shown["axes"]) == {label}, shown
        assert shown["cells"][0][0] == "WebP" and shown["cells"][0][1] == re.findall(r'<td class="num">([^<]+)', paper)[0]
        assert "no bootstrap interval for WebP" in shown["notes"]
        assert f"({label.removesuffix(' (dB)')}, pchip" in shown["caption"]
