"""Self-contained HTML pages: Jinja2 templates (``scanflow/templates/html``) and Markdown
rendered by markdown-it-py (CommonMark with tables).

>>> "<table>" in markdown_to_html("| a | b |\\n| - | - |\\n| 1 | 2 |")
True
>>> "<h1>Hi</h1>" in markdown_page("# Hi", title="t")
True
"""

from __future__ import annotations

import base64
import io
import math
from functools import cache
from typing import Any

__all__ = ["figure_png", "histogram_svg", "markdown_page", "markdown_to_html", "render"]


STATUS_COLORS = {"succeeded": "#070", "cached": "#1f77b4", "reused": "#1f77b4", "failed": "#b00",
                 "timeout": "#b00", "cancelled": "#b60", "skipped": "#b60", "running": "#08c"}


@cache
def _environment():
    # lazy: Jinja2 only when a page is rendered, not on `import scanflow`
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("scanflow", "templates/html"),
                      autoescape=select_autoescape(["html", "j2"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.globals["format"] = format  # number formats such as ".3g" in templates
    env.globals["colors"] = STATUS_COLORS
    return env


def render(template: str, **context: Any) -> str:
    """Render ``scanflow/templates/html/<template>`` with ``context`` (values are escaped)."""
    return _environment().get_template(template).render(**context)


@cache
def _markdown():
    from markdown_it import MarkdownIt  # lazy: as Jinja2 above

    return MarkdownIt("commonmark", {"html": False}).enable("table")


def markdown_to_html(text: str) -> str:
    """CommonMark plus tables to HTML; raw HTML in ``text`` is escaped, not passed through."""
    return _markdown().render(text)


def markdown_page(text: str, title: str) -> str:
    """A whole HTML page holding the Markdown ``text``."""
    return render("page.html.j2", title=title, body=markdown_to_html(text))


def figure_png(fig, dpi: int = 90) -> str:
    """A matplotlib figure as base64 PNG (for ``data:image/png;base64,...``); closes it."""
    # lazy: matplotlib only for pages with plots
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def histogram_svg(values, marker: float | None = None, bins: int = 30, width: int = 260,
                  height: int = 60) -> str:
    """A small inline SVG histogram of ``values`` (None and non-finite values left out), with a
    red line at ``marker`` (a threshold); empty when there is nothing to draw.

    >>> histogram_svg([1, 2, 2, 3], marker=2.5).startswith("<svg")
    True
    """
    import numpy as np  # lazy: keeps `import scanflow.html` free of NumPy for the CLI

    data = np.asarray([v for v in values if v is not None], dtype=float)
    data = data[np.isfinite(data)]
    if data.size == 0:
        return ""
    lo, hi = float(data.min()), float(data.max())
    if marker is not None and math.isfinite(marker):
        lo, hi = min(lo, marker), max(hi, marker)
    hi = hi if hi > lo else lo + 1.0
    counts, edges = np.histogram(data, bins=bins, range=(lo, hi))
    step, top = width / bins, max(int(counts.max()), 1)
    bars = "".join(
        f'<rect x="{i * step:.1f}" y="{height - c / top * height:.1f}" width="{step * 0.9:.1f}" '
        f'height="{c / top * height:.1f}" fill="#4c78a8"/>' for i, c in enumerate(counts) if c)
    line = ""
    if marker is not None and math.isfinite(marker):
        x = (marker - lo) / (hi - lo) * width
        line = f'<line x1="{x:.1f}" x2="{x:.1f}" y1="0" y2="{height}" stroke="#c00" stroke-width="1.5"/>'
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img">{bars}{line}</svg>')
