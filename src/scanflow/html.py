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
from functools import cache
from typing import Any

__all__ = ["figure_png", "markdown_page", "markdown_to_html", "render"]


@cache
def _environment():
    # lazy: Jinja2 only when a page is rendered, not on `import scanflow`
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("scanflow", "templates/html"),
                      autoescape=select_autoescape(["html", "j2"]),
                      trim_blocks=True, lstrip_blocks=True)
    env.globals["format"] = format  # number formats such as ".3g" in templates
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
