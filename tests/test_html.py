"""HTML pages: Markdown through markdown-it-py, the check report through its Jinja2 template."""

from __future__ import annotations

import numpy as np

from scanflow.check import KSDetector
from scanflow.check.report import render_report
from scanflow.html import markdown_page, markdown_to_html


def test_markdown_tables_headings_code_and_images_render():
    text = "# T\n\n| a | **b** |\n| - | - |\n| 1 | `x` |\n\n- one\n- two\n\n![plot](p.svg)\n"
    html = markdown_to_html(text)
    assert "<h1>T</h1>" in html and "<th><strong>b</strong></th>" in html
    assert "<td><code>x</code></td>" in html and "<li>one</li>" in html
    assert '<img src="p.svg" alt="plot"' in html


def test_raw_html_in_markdown_is_escaped_not_run():
    page = markdown_page("<script>alert(1)</script>", title="<b>t</b>")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<title>&lt;b&gt;t&lt;/b&gt;</title>" in page


def test_check_report_escapes_what_it_is_given_and_embeds_plots():
    rng = np.random.default_rng(0)
    det = KSDetector().fit(rng.normal(size=(200, 2)))
    html = render_report(det.predict(rng.normal(2, 1, size=(60, 2))), det,
                         sources={"data": "<img src=x onerror=alert(1)>"})
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert html.count("data:image/png;base64,") >= 1
    assert 'class="drift">DRIFT' in html and "Most drifted features" in html
