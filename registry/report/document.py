"""One document model for every report, and its renderers: HTML (print stylesheet), PDF, DOCX and Markdown.

The layout follows GB/T 9704 (党政机关公文格式): A4, margins top 37 mm, bottom 35 mm, left 28 mm, right
26 mm; the issuing office in red above a red rule, the document number under it; the title in a large bold
face (2号, 22 pt); the body in 3号 (16 pt) FangSong; headings numbered 一、 (黑體), (一) (楷體), 1. (body face);
page numbers "— 1 —" at the page foot, odd pages right, even pages left. Text arrives in the display script;
the faces are chosen for it: the body face is the first of the stack (the configured face, FangSong, AR PL
UMing, Noto Sans CJK) installed here that has every character of the document (Debian's free FangSong lacks
common Simplified characters), so a page is never set in two faces at once.
"""

from __future__ import annotations

import base64
import functools
import html
import io
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from .. import numbers, script
from ..text import to_script

FORMATS = {
    "html": "text/html",
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "md": "text/markdown",
}

# registry_meta keys of the document elements (``registry config`` or the store's meta), and the demo's defaults:
# the source's office (the programme's working group has its office in the city management bureau).
ELEMENT_KEYS = {"issuer": "report_issuer", "number": "report_number", "recipients": "report_recipients",
                "date": "report_date", "body_font": "report_body_font"}
DEFAULT_ISSUER = "蘇州工業園區城市環境綜合整治工作推進小組辦公室"
DEFAULT_RECIPIENTS = "蘇州市城市環境綜合整治行動領導小組辦公室"
DEFAULT_NUMBER = "蘇園整治辦〔{year}〕1號"

# Page geometry and type sizes of GB/T 9704 (mm and pt).
MARGINS_MM = {"top": 37, "bottom": 35, "left": 28, "right": 26}
PAGE_MM = (210, 297)
TEXT_WIDTH_MM = PAGE_MM[0] - MARGINS_MM["left"] - MARGINS_MM["right"]
TITLE_PT, BODY_PT, ISSUER_PT, PAGE_NUMBER_PT, TABLE_PT = 22, 16, 26, 14, 12
LINE_PT = 28.9  # 22 lines to the 225 mm text block
RED = "#c00000"


@dataclass(frozen=True)
class Elements:
    """The document elements: 發文機關, 文號, 主送機關, 成文日期 (and the configured body face, if any)."""

    issuer: str
    number: str
    recipients: str
    date: str
    body_font: str = ""  # a face the office's PCs have (仿宋_GB2312); tried first, where installed


@dataclass(frozen=True)
class Heading:
    """A heading; level 1 is numbered 一、 (黑體), 2 (一) (楷體), 3 1. (body face), counted automatically."""

    level: int
    text: str


@dataclass(frozen=True)
class Paragraph:
    """A body paragraph (first line indented two characters)."""

    text: str


@dataclass(frozen=True)
class Table:
    """A table with its caption above (numbered 表1, 表2, ...) and a note below."""

    caption: str
    header: list[str]
    rows: list[list[str]]
    note: str = ""
    widths: tuple[int, ...] = ()  # the columns' relative widths; the PDF then lays the table out without
    # measuring every cell (WeasyPrint's automatic layout of a long table costs most of a bulletin's PDF)


@dataclass(frozen=True)
class Figure:
    """A PNG figure with its caption below (numbered 圖1, 圖2, ...)."""

    caption: str
    png: bytes


Block = Heading | Paragraph | Table | Figure


@dataclass
class Document:
    """A report: title, document elements and its blocks in order."""

    title: str
    elements: Elements
    blocks: list[Block] = field(default_factory=list)


def elements(store) -> Elements:
    """The document elements from the registry's configuration (registry_meta ``report_*`` keys), with the
    demo's defaults: the renovation office as issuer, the city's office as recipient, the data date."""
    meta = store.meta()
    data_date = meta.get("data_date") or ""
    values = {name: meta.get(key, "") for name, key in ELEMENT_KEYS.items()}
    chosen = script.current()
    return Elements(
        issuer=to_script(values["issuer"] or DEFAULT_ISSUER, chosen),
        number=to_script(values["number"] or DEFAULT_NUMBER.format(year=data_date[:4] or "—"), chosen),
        recipients=to_script(values["recipients"] or DEFAULT_RECIPIENTS, chosen),
        date=numbers.date(values["date"] or data_date) if (values["date"] or data_date) else "",
        body_font=values["body_font"],
    )


# -- numbering ------------------------------------------------------------------------------------


def heading_label(level: int, n: int) -> str:
    """The number of the ``n``-th heading of a level: 一、 (level 1), (一) (level 2), 1. (level 3)."""
    if level == 1:
        return f"{numbers.chinese_numeral(n)}、"
    if level == 2:
        return f"({numbers.chinese_numeral(n)})"
    if level == 3:
        return f"{n}."
    raise ValueError(f"heading level must be 1, 2 or 3, got {level}")


@dataclass(frozen=True)
class _Numbered:
    block: Block
    label: str  # 一、 / (一) / 1. for headings; 表1 / 圖1 for tables and figures


def _numbered(blocks: Iterable[Block]) -> Iterator[_Numbered]:
    """Each block with its number: headings counted within their parent, tables and figures through the document."""
    counts = [0, 0, 0]
    tables = figures = 0
    figure_word = to_script("圖", script.current())
    for block in blocks:
        if isinstance(block, Heading):
            counts[block.level - 1] += 1
            counts[block.level:] = [0] * (3 - block.level)
            yield _Numbered(block, heading_label(block.level, counts[block.level - 1]))
        elif isinstance(block, Table):
            tables += 1
            yield _Numbered(block, f"表{tables}")
        elif isinstance(block, Figure):
            figures += 1
            yield _Numbered(block, f"{figure_word}{figures}")
        else:
            yield _Numbered(block, "")


# -- faces ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Faces:
    """The faces one document is set in: title, body, 一、 headings (黑體), (一) headings (楷體), page numbers."""

    title: str
    body: str
    body_stack: tuple[str, ...]
    hei: str
    kai: str
    song: str


def _variant(chosen: str) -> tuple[str, str]:
    """The region suffixes of the installed faces that draw a script's character forms."""
    return ("CN", "SC") if chosen == "zh-Hans" else ("TW", "TC")


def body_stack(configured: str, chosen: str) -> tuple[str, ...]:
    """The body face's fallbacks: the configured face, FangSong, AR PL UMing, Noto Sans CJK."""
    arphic, noto = _variant(chosen)
    return tuple(dict.fromkeys(f for f in (configured, "cwTeXFangSong", f"AR PL UMing {arphic}",
                                           f"Noto Sans CJK {noto}") if f))


@functools.cache
def _installed() -> dict[str, tuple[str, int]]:
    """Every installed family name (fontconfig) → its file and face index."""
    try:
        listing = subprocess.run(["fc-list", "-f", "%{family}\t%{file}\t%{index}\n"], capture_output=True,
                                 text=True, check=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    faces: dict[str, tuple[str, int]] = {}
    for line in listing.splitlines():
        families, path, index = (line.split("\t") + ["", "", "0"])[:3]
        for family in families.split(","):
            faces.setdefault(family.strip(), (path, int(index or 0)))
    return faces


@functools.cache
def _characters(family: str) -> frozenset[int]:
    """The code points an installed face draws."""
    from fontTools.ttLib import TTFont

    path, index = _installed()[family]
    font = TTFont(path, fontNumber=index, lazy=True)
    try:
        return frozenset(font.getBestCmap() or {})
    finally:
        font.close()


def covering_face(stack: Iterable[str], text: str) -> str:
    """The first face of ``stack`` installed here that draws every character of ``text``; else the installed
    face that draws most of them (else the first of the stack, for a machine with none of them)."""
    wanted = {ord(ch) for ch in text if not ch.isspace()}
    installed = [f for f in stack if f in _installed()]
    best, missing = None, None
    for family in installed:
        lacking = len(wanted - _characters(family))
        if lacking == 0:
            return family
        if missing is None or lacking < missing:
            best, missing = family, lacking
    return best or next(iter(stack))


def faces(doc: Document) -> Faces:
    """The faces ``doc`` is set in, in the current script, the body face covering all its text."""
    chosen = script.current()
    arphic, noto = _variant(chosen)
    stack = body_stack(doc.elements.body_font, chosen)
    body = covering_face(stack, _all_text(doc))
    return Faces(title=f"Noto Serif CJK {noto}", body=body, body_stack=tuple(dict.fromkeys((body, *stack))),
                 hei=f"Noto Sans CJK {noto}", kai=f"AR PL UKai {arphic}", song=f"AR PL UMing {arphic}")


def _all_text(doc: Document) -> str:
    parts = [doc.title, doc.elements.recipients, doc.elements.date, doc.elements.number]
    for block in doc.blocks:
        if isinstance(block, (Heading, Paragraph)):
            parts.append(block.text)
        elif isinstance(block, Table):
            parts += [block.caption, block.note, *block.header, *(c for row in block.rows for c in row)]
        elif isinstance(block, Figure):
            parts.append(block.caption)
    return "".join(parts) + to_script("表圖0123456789、()—", script.current())


# -- HTML and PDF ---------------------------------------------------------------------------------


def _css_family(stack: Iterable[str]) -> str:
    return ", ".join(f'"{f}"' for f in stack) + ", serif"


def stylesheet(doc: Document) -> str:
    """The document's CSS: screen and print (``@page`` A4 with GB/T 9704 margins and page numbers)."""
    f = faces(doc)
    body = _css_family(f.body_stack)
    return f"""
@page {{ size: A4; margin: {MARGINS_MM['top']}mm {MARGINS_MM['right']}mm {MARGINS_MM['bottom']}mm
  {MARGINS_MM['left']}mm; }}
@page :right {{ @bottom-right {{ content: "— " counter(page) " —"; font: {PAGE_NUMBER_PT}pt {_css_family([f.song])};
  margin-right: 1em; }} }}
@page :left {{ @bottom-left {{ content: "— " counter(page) " —"; font: {PAGE_NUMBER_PT}pt {_css_family([f.song])};
  margin-left: 1em; }} }}
html {{ font-family: {body}; font-size: {BODY_PT}pt; line-height: {LINE_PT}pt; color: #000; }}
body {{ margin: 0 auto; max-width: {TEXT_WIDTH_MM}mm; }}
@media screen {{ body {{ padding: 2em 1em; }} }}
.issuer {{ font-family: {_css_family([f.title])}; font-weight: bold; color: {RED}; font-size: {ISSUER_PT}pt;
  text-align: center; line-height: 1.4; margin: 0 0 1em; letter-spacing: 0.05em; }}
.number {{ text-align: center; margin: 0; }}
.rule {{ border: 0; border-top: 2px solid {RED}; margin: 4mm 0 2em; }}
h1 {{ font-family: {_css_family([f.title])}; font-weight: bold; font-size: {TITLE_PT}pt; line-height: 1.5;
  text-align: center; margin: 0 0 1em; }}
.recipients {{ margin: 0; }}
h2, h3, h4 {{ font-size: {BODY_PT}pt; line-height: {LINE_PT}pt; margin: 0; text-indent: 2em;
  page-break-after: avoid; }}
h2 {{ font-family: {_css_family([f.hei])}; font-weight: bold; }}
h3 {{ font-family: {_css_family([f.kai])}; font-weight: normal; }}
h4 {{ font-family: {body}; font-weight: normal; }}
p {{ margin: 0; text-indent: 2em; text-align: justify; }}
table {{ border-collapse: collapse; width: 100%; font-size: {TABLE_PT}pt; line-height: 1.5; margin: 0.5em 0;
  page-break-inside: auto; }}
table.fixed {{ table-layout: fixed; }}
caption, figcaption, th {{ font-family: {_css_family([f.hei])}; font-weight: bold; }}
caption {{ text-align: center; font-size: {TABLE_PT + 2}pt; padding-bottom: 0.3em; }}
th, td {{ border: 1px solid #000; padding: 0.15em 0.4em; text-align: center; }}
td.num {{ text-align: right; }}
thead {{ display: table-header-group; }}
tr {{ page-break-inside: avoid; }}
.note {{ font-size: {TABLE_PT}pt; line-height: 1.5; text-indent: 0; margin: 0 0 0.5em; }}
figure {{ margin: 0.5em 0; text-align: center; page-break-inside: avoid; }}
figure img {{ max-width: 100%; }}
figcaption {{ font-size: {TABLE_PT + 2}pt; }}
.closing {{ text-align: right; text-indent: 0; margin-top: 2em; }}
"""


def _is_number(cell: str) -> bool:
    return bool(cell) and cell.replace(",", "").replace(".", "", 1).replace("-", "", 1).isdigit()


def _columns(widths: tuple[int, ...]) -> str:
    """A fixed table's column widths, in percent of the table (inline styles: for the PDF, not the browser)."""
    total = sum(widths)
    return "<colgroup>" + "".join(f'<col style="width: {100 * w / total:.2f}%">' for w in widths) + "</colgroup>"


def html_text(doc: Document, stylesheet_href: str | None = None, *, fixed_tables: bool = False) -> str:
    """The document as an HTML page; its stylesheet inline, or linked from ``stylesheet_href`` (for a server
    whose security policy forbids inline styles; ``stylesheet(doc)`` is its text). ``fixed_tables`` sets the
    tables that give their columns' widths in a fixed layout (inline styles), as the PDF does."""
    e, esc = doc.elements, html.escape
    style = (f'<link rel="stylesheet" href="{esc(stylesheet_href)}">' if stylesheet_href
             else f"<style>{stylesheet(doc)}</style>")
    out = [f'<!DOCTYPE html><html lang="{script.current()}"><head><meta charset="utf-8">'
           f"<title>{esc(doc.title)}</title>{style}</head><body>",
           f'<header><p class="issuer">{esc(e.issuer)}</p><p class="number">{esc(e.number)}</p>'
           f'<hr class="rule"></header>',
           f"<h1>{esc(doc.title)}</h1>"]
    if e.recipients:
        out.append(f'<p class="recipients">{esc(e.recipients)}:</p>')
    for item in _numbered(doc.blocks):
        block = item.block
        if isinstance(block, Heading):
            tag = f"h{block.level + 1}"
            out.append(f"<{tag}>{esc(item.label)}{esc(block.text)}</{tag}>")
        elif isinstance(block, Paragraph):
            out.append(f"<p>{esc(block.text)}</p>")
        elif isinstance(block, Table):
            head = "".join(f'<th scope="col">{esc(h)}</th>' for h in block.header)
            rows = "".join("<tr>" + "".join(f'<td{" class=num" if _is_number(c) else ""}>{esc(c)}</td>'
                                            for c in row) + "</tr>" for row in block.rows)
            fixed = fixed_tables and len(block.widths) == len(block.header)
            out.append(f"<table{' class=fixed' if fixed else ''}><caption>{esc(item.label)} {esc(block.caption)}"
                       f"</caption>{_columns(block.widths) if fixed else ''}"
                       f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
            if block.note:
                out.append(f'<p class="note">{esc(block.note)}</p>')
        elif isinstance(block, Figure):
            data = base64.b64encode(block.png).decode("ascii")
            out.append(f'<figure><img src="data:image/png;base64,{data}" alt="{esc(block.caption)}">'
                       f"<figcaption>{esc(item.label)} {esc(block.caption)}</figcaption></figure>")
    out.append(f'<p class="closing">{esc(e.issuer)}<br>{esc(e.date)}</p></body></html>')
    return "\n".join(out)


def _pdf(doc: Document) -> bytes:
    """The HTML page printed by WeasyPrint (fonts subset and embedded)."""
    import logging

    from weasyprint import HTML

    logging.getLogger("fontTools").setLevel(logging.WARNING)  # subsetting chatters at INFO
    return HTML(string=html_text(doc, fixed_tables=True)).write_pdf()


# -- DOCX -----------------------------------------------------------------------------------------


def _set_font(run, face: str, size_pt: float, *, bold: bool = False, colour: str | None = None) -> None:
    """A run's face in every slot Word reads (ascii, hAnsi and, for CJK text, eastAsia), its size and weight."""
    from docx.oxml.ns import qn
    from docx.shared import Pt, RGBColor

    run.font.name = face
    run.font.size = Pt(size_pt)
    run.font.bold = bold
    if colour:
        run.font.color.rgb = RGBColor.from_string(colour.lstrip("#").upper())
    fonts = run._element.get_or_add_rPr().get_or_add_rFonts()
    for slot in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        fonts.set(qn(slot), face)


def _style_font(style, face: str, size_pt: float, bold: bool) -> None:
    """A paragraph style's face (eastAsia too), size, weight, black; so Word's own headings look like the page."""
    from docx.oxml.ns import qn
    from docx.shared import Pt, RGBColor

    style.font.name = face
    style.font.size = Pt(size_pt)
    style.font.bold = bold
    style.font.italic = False
    style.font.color.rgb = RGBColor(0, 0, 0)
    fonts = style.element.get_or_add_rPr().get_or_add_rFonts()
    for slot in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        fonts.set(qn(slot), face)
    for theme in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        fonts.attrib.pop(qn(theme), None)


def _page_number(paragraph, face: str) -> None:
    """"— N —" with Word's PAGE field in the middle."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    def field_run(kind: str | None = None, instruction: str | None = None, text: str | None = None) -> None:
        run = paragraph.add_run(text or "")
        _set_font(run, face, PAGE_NUMBER_PT)
        if kind:
            char = OxmlElement("w:fldChar")
            char.set(qn("w:fldCharType"), kind)
            run._element.append(char)
        if instruction:
            instr = OxmlElement("w:instrText")
            instr.set(qn("xml:space"), "preserve")
            instr.text = instruction
            run._element.append(instr)

    field_run(text="— ")
    field_run("begin")
    field_run(instruction=" PAGE ")
    field_run("separate")
    field_run(text="1")
    field_run("end")
    field_run(text=" —")


def _docx(doc: Document) -> bytes:
    """The document as a Word file: A4 with the margins, real Heading 1–3 styles and tables, faces set on every
    run (eastAsia included), page numbers in the footers (odd right, even left)."""
    from docx import Document as Word
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn
    from docx.shared import Mm, Pt

    f = faces(doc)
    body_face = doc.elements.body_font or f.body  # Word on the office's PCs has the configured face
    word = Word()
    section = word.sections[0]
    section.page_width, section.page_height = Mm(PAGE_MM[0]), Mm(PAGE_MM[1])
    section.top_margin, section.bottom_margin = Mm(MARGINS_MM["top"]), Mm(MARGINS_MM["bottom"])
    section.left_margin, section.right_margin = Mm(MARGINS_MM["left"]), Mm(MARGINS_MM["right"])
    section.footer_distance = Mm(MARGINS_MM["bottom"] - 7 - 5)  # the number 7 mm below the text block
    word.settings.odd_and_even_pages_header_footer = True
    for footer, align in ((section.footer, WD_ALIGN_PARAGRAPH.RIGHT),
                          (section.even_page_footer, WD_ALIGN_PARAGRAPH.LEFT)):
        paragraph = footer.paragraphs[0]
        paragraph.alignment = align
        _page_number(paragraph, f.song)
    _style_font(word.styles["Normal"], body_face, BODY_PT, False)
    word.styles["Normal"].paragraph_format.line_spacing = Pt(LINE_PT)
    word.styles["Normal"].paragraph_format.space_after = Pt(0)
    for level, face, bold in ((1, f.hei, True), (2, f.kai, False), (3, body_face, False)):
        style = word.styles[f"Heading {level}"]
        _style_font(style, face, BODY_PT, bold)
        style.paragraph_format.first_line_indent = Pt(2 * BODY_PT)
        style.paragraph_format.space_before = style.paragraph_format.space_after = Pt(0)
        style.paragraph_format.line_spacing = Pt(LINE_PT)
        style.paragraph_format.keep_with_next = True

    def line(text: str, face: str, size: float, *, bold: bool = False, colour: str | None = None,
             align=None, indent: bool = False, style: str | None = None):
        paragraph = word.add_paragraph(style=style)
        if align is not None:
            paragraph.alignment = align
        if indent:
            paragraph.paragraph_format.first_line_indent = Pt(2 * size)
        _set_font(paragraph.add_run(text), face, size, bold=bold, colour=colour)
        return paragraph

    e = doc.elements
    issuer = line(e.issuer, f.title, ISSUER_PT, bold=True, colour=RED, align=WD_ALIGN_PARAGRAPH.CENTER)
    issuer.paragraph_format.line_spacing = 1.2
    number = line(e.number, body_face, BODY_PT, align=WD_ALIGN_PARAGRAPH.CENTER)
    border = OxmlElement("w:pBdr")
    bottom = OxmlElement("w:bottom")
    for key, value in (("w:val", "single"), ("w:sz", "12"), ("w:space", "6"), ("w:color", RED.lstrip("#"))):
        bottom.set(qn(key), value)
    border.append(bottom)
    number._p.get_or_add_pPr().append(border)
    line("", body_face, BODY_PT)
    title = line(doc.title, f.title, TITLE_PT, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER)
    title.paragraph_format.line_spacing = 1.5
    if e.recipients:
        line(f"{e.recipients}:", body_face, BODY_PT)
    for item in _numbered(doc.blocks):
        block = item.block
        if isinstance(block, Heading):
            face = {1: f.hei, 2: f.kai, 3: body_face}[block.level]
            paragraph = word.add_paragraph(style=f"Heading {block.level}")
            _set_font(paragraph.add_run(item.label + block.text), face, BODY_PT, bold=block.level == 1)
        elif isinstance(block, Paragraph):
            line(block.text, body_face, BODY_PT, indent=True)
        elif isinstance(block, Table):
            caption = line(f"{item.label} {block.caption}", f.hei, TABLE_PT + 2, bold=True,
                           align=WD_ALIGN_PARAGRAPH.CENTER)
            caption.paragraph_format.keep_with_next = True
            table = word.add_table(rows=1 + len(block.rows), cols=len(block.header))
            table.style = word.styles["Table Grid"]
            table.alignment = WD_TABLE_ALIGNMENT.CENTER
            header_row = table.rows[0]
            header_props = header_row._tr.get_or_add_trPr()
            repeat = OxmlElement("w:tblHeader")
            repeat.set(qn("w:val"), "true")
            header_props.append(repeat)
            for r, (row, values) in enumerate(zip(table.rows, [block.header, *block.rows])):
                for cell, value in zip(row.cells, values):  # row by row: table.cell() walks every cell each time
                    paragraph = cell.paragraphs[0]
                    paragraph.alignment = (WD_ALIGN_PARAGRAPH.RIGHT if r and _is_number(value)
                                           else WD_ALIGN_PARAGRAPH.CENTER)
                    paragraph.paragraph_format.line_spacing = 1.15
                    _set_font(paragraph.add_run(value), f.hei if r == 0 else body_face, TABLE_PT, bold=r == 0)
            if block.note:
                note = line(block.note, body_face, TABLE_PT)
                note.paragraph_format.line_spacing = 1.3
        elif isinstance(block, Figure):
            picture = word.add_paragraph()
            picture.alignment = WD_ALIGN_PARAGRAPH.CENTER
            picture.paragraph_format.keep_with_next = True
            picture.add_run().add_picture(io.BytesIO(block.png), width=Mm(TEXT_WIDTH_MM))
            line(f"{item.label} {block.caption}", f.hei, TABLE_PT + 2, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER)
    line("", body_face, BODY_PT)
    line(e.issuer, body_face, BODY_PT, align=WD_ALIGN_PARAGRAPH.RIGHT)
    line(e.date, body_face, BODY_PT, align=WD_ALIGN_PARAGRAPH.RIGHT)
    word.core_properties.title = doc.title
    word.core_properties.author = e.issuer
    out = io.BytesIO()
    word.save(out)
    return out.getvalue()


# -- Markdown -------------------------------------------------------------------------------------


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_text(doc: Document) -> str:
    """The document as plain Markdown: headings, paragraphs, pipe tables; figures by their captions."""
    e = doc.elements
    out = [e.issuer, "", e.number, "", "---", "", f"# {doc.title}", ""]
    if e.recipients:
        out += [f"{e.recipients}:", ""]
    for item in _numbered(doc.blocks):
        block = item.block
        if isinstance(block, Heading):
            out += [f"{'#' * (block.level + 1)} {item.label}{block.text}", ""]
        elif isinstance(block, Paragraph):
            out += [block.text, ""]
        elif isinstance(block, Table):
            out += [f"**{item.label} {block.caption}**", "",
                    "| " + " | ".join(map(_md_cell, block.header)) + " |",
                    "|" + "|".join("---:" if all(_is_number(r[c]) for r in block.rows if c < len(r)) and block.rows
                                   else "---" for c in range(len(block.header))) + "|",
                    *("| " + " | ".join(map(_md_cell, row)) + " |" for row in block.rows), ""]
            if block.note:
                out += [block.note, ""]
        elif isinstance(block, Figure):
            out += [f"*{item.label} {block.caption}*", ""]
    out += [e.issuer, "", e.date, ""]
    return "\n".join(out)


# -- XLSX -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sheet:
    """A worksheet of a report's workbook: plain values (numbers stay numbers), ``formats`` by column index
    (Excel number formats such as ``0.0%``)."""

    title: str
    header: list[str]
    rows: list[list]
    formats: dict[int, str] = field(default_factory=dict)


def workbook(sheets: Iterable[Sheet]) -> bytes:
    """A report's figures as an XLSX workbook for people: one sheet each, bold frozen headers, and text cells
    that would run as formulas neutralised as the exports do."""
    import openpyxl
    from openpyxl.styles import Font

    from ..exchange.rows import neutralise_cell

    book = openpyxl.Workbook()
    book.remove(book.active)
    for sheet in sheets:
        page = book.create_sheet(sheet.title[:31])  # Excel's limit for a sheet's name
        page.append(sheet.header)
        for row in sheet.rows:
            page.append([neutralise_cell(v) for v in row])
        for at, number_format in sheet.formats.items():
            for (cell,) in page.iter_rows(min_row=2, min_col=at + 1, max_col=at + 1):
                cell.number_format = number_format
        for cell in page[1]:
            cell.font = Font(bold=True)
        page.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def render(doc: Document, fmt: str) -> bytes:
    """The document in ``fmt``: html, pdf, docx or md."""
    if fmt == "html":
        return html_text(doc).encode("utf-8")
    if fmt == "pdf":
        return _pdf(doc)
    if fmt == "docx":
        return _docx(doc)
    if fmt == "md":
        return markdown_text(doc).encode("utf-8")
    raise ValueError(f"document format must be one of {', '.join(FORMATS)}, got {fmt!r}")


def mimetype(fmt: str) -> str:
    """The media type of a document format (HTML and Markdown as UTF-8)."""
    kind = FORMATS[fmt]
    return f"{kind}; charset=utf-8" if kind.startswith("text/") else kind
