#!/usr/bin/env python3
"""Renders docs/*.md to HTML pages for the example site.

A small Markdown subset is enough for our docs: headings, paragraphs,
fenced code, bullet and numbered lists, tables, and inline code, bold,
emphasis and links. Links to other .md files become .html links.

    render-docs.py SOURCE_DIR OUTPUT_DIR
"""
import html
import os
import re
import sys

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} — Swiftlet</title><link rel="stylesheet" href="/style.css"></head>
<body><main><p><a href="/">Swiftlet</a></p>
{body}
</main></body></html>
"""


def inline(text):
    parts = re.split(r"(`[^`]+`)", text)
    out = []
    for part in parts:
        if part.startswith("`") and part.endswith("`") and len(part) > 1:
            out.append("<code>" + html.escape(part[1:-1]) + "</code>")
            continue
        part = html.escape(part, quote=False)
        part = re.sub(r"\[([^\]]+)\]\(([^)]+)\)",
                      lambda m: '<a href="%s">%s</a>' % (re.sub(r"\.md(#|$)", r".html\1", m.group(2)), m.group(1)), part)
        part = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", part)
        part = re.sub(r"(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])", r"<em>\1</em>", part)
        out.append(part)
    return "".join(out)


def render(markdown):
    lines = markdown.splitlines()
    out = []
    title = "Swiftlet"
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            block = []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                block.append(lines[i])
                i += 1
            out.append("<pre><code>" + html.escape("\n".join(block)) + "</code></pre>")
            i += 1
            continue
        heading = re.match(r"(#{1,6}) (.*)", line)
        if heading:
            level = len(heading.group(1))
            if level == 1:
                title = heading.group(2)
            out.append("<h%d>%s</h%d>" % (level, inline(heading.group(2)), level))
            i += 1
            continue
        if line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                cells = [c.strip() for c in lines[i].strip().strip("|").split("|")]
                if not all(re.fullmatch(r":?-+:?", c) for c in cells):
                    rows.append(cells)
                i += 1
            table = ["<table>"]
            for number, cells in enumerate(rows):
                tag = "th" if number == 0 else "td"
                table.append("<tr>" + "".join("<%s>%s</%s>" % (tag, inline(c), tag) for c in cells) + "</tr>")
            table.append("</table>")
            out.append("\n".join(table))
            continue
        if re.match(r"\s*([-*]|\d+\.) ", line):
            ordered = bool(re.match(r"\s*\d+\. ", line))
            items = []
            while i < len(lines) and (re.match(r"\s*([-*]|\d+\.) ", lines[i]) or (lines[i].startswith("  ") and items)):
                if re.match(r"\s*([-*]|\d+\.) ", lines[i]):
                    items.append(re.sub(r"^\s*([-*]|\d+\.) ", "", lines[i]))
                else:
                    items[-1] += " " + lines[i].strip()
                i += 1
            tag = "ol" if ordered else "ul"
            out.append("<%s>%s</%s>" % (tag, "".join("<li>" + inline(item) + "</li>" for item in items), tag))
            continue
        if not line.strip():
            i += 1
            continue
        paragraph = []
        while i < len(lines) and lines[i].strip() and not re.match(r"(#{1,6} |```|\||\s*([-*]|\d+\.) )", lines[i]):
            paragraph.append(lines[i].strip())
            i += 1
        out.append("<p>" + inline(" ".join(paragraph)) + "</p>")
    return title, "\n".join(out)


def main():
    source, target = sys.argv[1], sys.argv[2]
    os.makedirs(target, exist_ok=True)
    for name in sorted(os.listdir(source)):
        if not name.endswith(".md"):
            continue
        with open(os.path.join(source, name), encoding="utf-8") as handle:
            title, body = render(handle.read())
        with open(os.path.join(target, name[:-3] + ".html"), "w", encoding="utf-8") as handle:
            handle.write(PAGE.format(title=html.escape(title), body=body))


if __name__ == "__main__":
    main()
