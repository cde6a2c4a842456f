"""Small hostile files for the limit tests, built from raw XML so they can say what no
spreadsheet program would write (a row numbered 40,000,000, a cell in column XFD)."""

from __future__ import annotations

import io
import zipfile

_CONTENT_TYPES = """<?xml version="1.0" encoding="UTF-8"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/xl/workbook.xml"
 ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>
<Override PartName="/xl/worksheets/sheet1.xml"
 ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>
</Types>"""
_RELS = """<?xml version="1.0" encoding="UTF-8"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Target="xl/workbook.xml"
 Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"/>
</Relationships>"""
_WORKBOOK = """<?xml version="1.0" encoding="UTF-8"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"
 xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">
<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>"""
_WORKBOOK_RELS = """<?xml version="1.0" encoding="UTF-8"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Target="worksheets/sheet1.xml"
 Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet"/>
</Relationships>"""


def cell(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def xlsx(rows: str, dimension: str = "A1") -> bytes:
    """A workbook whose one sheet holds these <row> elements as written."""
    sheet = ('<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns='
             '"http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
             f'<dimension ref="{dimension}"/><sheetData>{rows}</sheetData></worksheet>')
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in (("[Content_Types].xml", _CONTENT_TYPES), ("_rels/.rels", _RELS),
                           ("xl/workbook.xml", _WORKBOOK),
                           ("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS),
                           ("xl/worksheets/sheet1.xml", sheet)):
            archive.writestr(name, text)
    return buffer.getvalue()


HEADER = f'<row r="1">{cell("A1", "账号")}{cell("B1", "name")}</row>'


def far_row() -> bytes:
    """1.4 KB: a header, one item, and a row numbered 40,000,000."""
    return xlsx(f'{HEADER}<row r="2">{cell("A2", "001")}{cell("B2", "王")}</row>'
                f'<row r="40000000">{cell("A40000000", "002")}</row>', "A1:B40000000")


def far_column(rows: int = 200, value: bool = True) -> bytes:
    """A few KB: each row has a cell in column XFD (with a value, or only a style)."""
    far = (lambda n: cell(f"XFD{n}", "x")) if value else (lambda n: f'<c r="XFD{n}" s="0"/>')
    body = "".join(f'<row r="{n}">{cell(f"A{n}", f"{n:05}")}{far(n)}</row>'
                   for n in range(2, rows + 2))
    return xlsx(HEADER + body, f"A1:XFD{rows + 1}")
