"""The self-contained HTML report (jinja2, autoescaped; figures inline as SVG data URIs).

Every value that comes from the data (ids, labels, column names, free text) is escaped by jinja2's
autoescape; figures are embedded as ``<img>`` data URIs, in which an SVG cannot run scripts, and a
Content-Security-Policy forbids scripts altogether.  The page needs no network and no JavaScript.
"""

from __future__ import annotations

import math

from markupsafe import Markup, escape

from ltfu import __version__


def _cell(v):
    if v is None:
        return "", False
    if isinstance(v, bool):
        return ("yes" if v else "no"), False
    if isinstance(v, int):
        return str(v), True
    if isinstance(v, float):
        return ("-" if not math.isfinite(v) else f"{v:g}"), True
    return str(v), False


def table_html(t) -> Markup:
    """A Table as an HTML table; every cell escaped."""
    out = ['<table class="data"><thead><tr>']
    out += [f"<th>{escape(c)}</th>" for c in t.columns]
    out.append("</tr></thead><tbody>")
    for row in t.rows:
        out.append("<tr>")
        for i, v in enumerate(row):
            text, numeric = _cell(v)
            if i == 0 and text.startswith("    "):          # a level under the row above (Table 1)
                out.append(f'<td class="level">{escape(text.strip())}</td>')
            else:
                out.append(f'<td class="num">{escape(text)}</td>' if numeric else f"<td>{escape(text)}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return Markup("".join(out))


def meta_rows(results):
    m = results.meta
    d = results.defaults
    sha = m.get("sha256") or ("withheld" if m.get("deidentified") else "-")
    rows = [("Source file", m.get("source")), ("SHA-256", sha),
            ("Patients", m.get("n_patients")), ("Data cut-off", m.get("data_cutoff") or "-"),
            ("ltfu version", m.get("ltfu_version")),
            ("Defaults", "-" if d is None else f"{d.km_conf_type} Kaplan-Meier CI, {d.proportion_ci} proportions, "
                         f"{d.cox_ties} ties, confidence level {d.conf_level:g}; all definitions in section 1")]
    return rows


def render_html(results, figures: dict) -> str:
    """``figures``: name -> dict(svg_b64, width, height, title)."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("ltfu.report", "templates"), autoescape=select_autoescape(default=True),
                      trim_blocks=False, lstrip_blocks=False)
    template = env.get_template("report.html.j2")
    return template.render(results=results, tables={t.name: t for t in results.tables}, figures=figures,
                           table_html=table_html, meta_rows=meta_rows(results), version=__version__)
