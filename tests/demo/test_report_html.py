"""The demo's HTML report: the Markdown report as a page, its plots inline."""

from __future__ import annotations

import base64

from scanflow.demo.report import report_html


def test_report_html_has_real_tables_and_the_plots_inline():
    text = ("# Scanflow demo\n\n| phase | accuracy |\n| --- | --- |\n| fog | 91.0% |\n\n"
            "![drift](drift.svg)\n\n![accuracy](accuracy.svg)\n")
    svg = '<svg xmlns="http://www.w3.org/2000/svg"><rect width="1" height="1"/></svg>'
    html = report_html(text, {"drift.svg": svg, "accuracy.svg": svg})
    assert "<table>" in html and "<td>fog</td>" in html and "<pre>" not in html
    encoded = base64.b64encode(svg.encode()).decode()
    assert html.count(f'src="data:image/svg+xml;base64,{encoded}"') == 2
    assert 'src="drift.svg"' not in html
