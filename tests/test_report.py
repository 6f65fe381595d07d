"""Reports: the HTML parses and embeds its images; Markdown has its PNGs beside it."""

import base64
import re
from html.parser import HTMLParser

import pytest

from bpsweep import analysis as A
from bpsweep.analysis.report import write_report
from bpsweep.commands import main
from results_helper import make_results, write_results

pytest.importorskip("matplotlib")
PNG = b"\x89PNG\r\n\x1a\n"


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.images, self.links, self.open = [], [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        for key in ("href", "src"):
            if key in attrs and tag != "img":
                self.links.append(attrs[key])
        if tag not in ("img", "meta", "br"):
            self.open.append(tag)

    def handle_endtag(self, tag):
        assert self.open and self.open[-1] == tag, f"</{tag}> closes {self.open[-1:]}"
        self.open.pop()


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    path = tmp_path_factory.mktemp("rep") / "grid.csv"
    write_results(make_results(lrs=(0.03, 0.1, 0.3), seeds=range(25)), path)
    return path


def test_html_report_is_self_contained(results, tmp_path):
    df = A.load_results(results)
    tables = A.analyse(df, run_chaos=True, chaos_sample=15)
    out = write_report(tmp_path / "r.html", df, tables)
    text = out.read_text()
    parser = _Collect()
    parser.feed(text)
    parser.close()
    assert not parser.open and parser.tags[0] == "html"
    assert parser.tags.count("table") == 6  # outcome, shares, sensitivity, basins, stuck, chaos
    assert len(parser.images) == 5 and not parser.links
    for src in parser.images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == PNG
    assert "http://" not in text and "https://" not in text
    assert "Outcomes per setting" in text and "Solution basins" in text


def test_markdown_report_with_pngs_beside(results, tmp_path, capsys):
    out = tmp_path / "notes" / "grid.md"
    assert main(["analyse", str(results), "--report", str(out)]) == 0
    text = out.read_text()
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(images) == 5
    for name in images:
        assert (out.parent / name).read_bytes()[:8] == PNG
    assert "| lr | runs |" in text and "## Sensitivity to initialization" in text


def test_report_needs_html_or_md(results, tmp_path, capsys):
    assert main(["analyse", str(results), "--report", str(tmp_path / "r.pdf")]) == 2
    assert "expected a .html or .md" in capsys.readouterr().err
