"""The HTML page's style sheet and skeleton: one inline ``<style>``, no fonts, scripts or links to fetch."""

from __future__ import annotations

import datetime as _dt
import html

from mlrun import __version__

CSS = """
:root {
  --bg: #f4f6fa; --card: #ffffff; --ink: #1f2937; --muted: #6b7280; --line: #e5e7eb;
  --accent: #2563eb; --head: #f8fafc;
}
* { box-sizing: border-box; }
html { scroll-behavior: smooth; }
body {
  margin: 0; background: var(--bg); color: var(--ink);
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
}
.wrap { max-width: 1200px; margin: 0 auto; padding: 0 24px; }
header.hero { background: linear-gradient(120deg, #1e3a8a, #2563eb 70%, #3b82f6); color: #fff; padding: 26px 0 22px; }
.hero .kicker { text-transform: uppercase; letter-spacing: .08em; font-size: 11px; opacity: .75; margin-bottom: 4px; }
.hero h1 { margin: 0; font-size: 26px; font-weight: 650; display: flex; align-items: center; gap: 12px;
  flex-wrap: wrap; overflow-wrap: anywhere; }
.hero .sub { margin-top: 6px; font-size: 13px; opacity: .9; display: flex; flex-wrap: wrap; gap: 4px 18px; }
.hero .sub code { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; }
.badge { display: inline-block; padding: 2px 10px; border-radius: 999px; font-size: 12px; font-weight: 700;
  text-transform: uppercase; letter-spacing: .05em; vertical-align: middle; background: #e5e7eb; color: #374151; }
.badge.completed { background: #dcfce7; color: #166534; }
.badge.failed, .badge.crashed { background: #fee2e2; color: #991b1b; }
.badge.interrupted { background: #fef3c7; color: #92400e; }
.badge.running { background: #cffafe; color: #155e75; }
.badge.diverged { background: #f3e8ff; color: #6b21a8; }
nav.toc { position: sticky; top: 0; z-index: 2; background: rgba(255, 255, 255, .96);
  border-bottom: 1px solid var(--line); }
nav.toc .wrap { display: flex; flex-wrap: wrap; gap: 2px 4px; padding-top: 6px; padding-bottom: 6px; }
nav.toc a { color: var(--muted); text-decoration: none; font-size: 13px; padding: 4px 10px; border-radius: 6px; }
nav.toc a:hover { background: #eef2ff; color: var(--accent); }
main { padding: 4px 0 8px; }
section.card { background: var(--card); border: 1px solid var(--line); border-radius: 12px; padding: 18px 22px 20px;
  margin: 18px 0; box-shadow: 0 1px 2px rgba(15, 23, 42, .04); scroll-margin-top: 52px; }
h2 { font-size: 17px; margin: 0 0 14px; font-weight: 650; }
h3 { font-size: 14px; margin: 18px 0 8px; color: #374151; }
p.lead { margin: -8px 0 14px; color: var(--muted); font-size: 13px; }
.kv { display: grid; grid-template-columns: repeat(auto-fill, minmax(230px, 1fr)); gap: 12px 24px; }
.kv .k { color: var(--muted); font-size: 11px; text-transform: uppercase; letter-spacing: .06em; }
.kv .v { font-weight: 560; overflow-wrap: anywhere; }
.tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 12px; }
.tile { border: 1px solid var(--line); border-radius: 10px; padding: 10px 14px; background: #fbfcff; }
.tile .v { font-size: 22px; font-weight: 650; font-variant-numeric: tabular-nums; }
.tile .k { color: var(--muted); font-size: 12px; }
.tile.headline { border-color: #93c5fd; background: #eff6ff; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; font-size: 13px; }
th, td { padding: 6px 12px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
td.text, th.text { text-align: left; white-space: normal; overflow-wrap: anywhere; }
thead th { background: var(--head); color: #4b5563; font-size: 12px; font-weight: 650; }
tbody tr:hover { background: #f8fafc; }
tfoot td { font-weight: 650; border-top: 2px solid var(--line); border-bottom: 0; }
td.best { background: #dcfce7; color: #166534; font-weight: 700; }
td.missing { color: #9ca3af; }
.plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(440px, 1fr)); gap: 18px; align-items: start; }
.plots.wide { grid-template-columns: 1fr; }
figure { margin: 0; }
figure img { display: block; max-width: 100%; height: auto; margin: 0 auto; }
figcaption { text-align: center; color: var(--muted); font-size: 12px; margin-top: 4px; }
pre { background: #0f172a; color: #e2e8f0; padding: 14px 16px; border-radius: 8px; overflow: auto; max-height: 560px;
  margin: 0; font: 12px/1.45 ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; }
.notice { border-left: 4px solid; padding: 10px 14px; border-radius: 6px; margin: 16px 0 0; overflow-wrap: anywhere; }
.notice.error { background: #fef2f2; border-color: #dc2626; color: #7f1d1d; }
.notice.warning { background: #fffbeb; border-color: #d97706; color: #78350f; }
.notice.info { background: #eff6ff; border-color: #2563eb; color: #1e3a8a; }
.empty { color: var(--muted); font-style: italic; margin: 0; }
.two { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 18px; }
footer { color: var(--muted); font-size: 12px; text-align: center; padding: 14px 0 36px; }
@media print { nav.toc { display: none; } section.card { break-inside: avoid; box-shadow: none; } }
"""


def e(value: object) -> str:
    """Escape any value for HTML text or a quoted attribute."""
    return html.escape(str(value), quote=True)


def document(
    *, title: str, kicker: str, heading: str, badge: str | None, sub: list[str], nav: list[tuple[str, str]], body: str
) -> str:
    """Assemble a whole page. ``heading``, ``sub`` items and nav labels are plain text; ``body`` is HTML."""
    badge_html = f' <span class="badge {e(badge)}">{e(badge)}</span>' if badge else ""
    sub_html = "".join(f"<span>{e(item)}</span>" for item in sub)
    nav_html = "".join(f'<a href="#{e(anchor)}">{e(label)}</a>' for anchor, label in nav)
    generated = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)}</title>
<style>{CSS}</style>
</head>
<body>
<header class="hero"><div class="wrap">
<div class="kicker">{e(kicker)}</div>
<h1><span>{e(heading)}</span>{badge_html}</h1>
<div class="sub">{sub_html}</div>
</div></header>
<nav class="toc"><div class="wrap">{nav_html}</div></nav>
<main><div class="wrap">
{body}
</div></main>
<footer>Generated by mlrun {e(__version__)} on {e(generated)}</footer>
</body>
</html>
"""
