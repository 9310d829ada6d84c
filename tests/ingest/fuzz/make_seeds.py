#!/usr/bin/env python3
# Writes the seed corpora of the ingest fuzz targets into corpus/<target>/ (committed; rerun after
# changing a format): small EPUBs (EPUB 3 with nav, EPUB 2 with NCX, stored entries so mutations
# reach the XML), package files with the parser-selector byte, texts in several encodings, and
# token-map images (checksum left zero: the target fixes it up). Deterministic output.
#   python3 tests/ingest/fuzz/make_seeds.py
import io
import struct
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"

CONTAINER = (b'<?xml version="1.0"?><container version="1.0" '
             b'xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles>'
             b'<rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>'
             b'</rootfiles></container>')
OPF3 = (b'<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0">'
        b'<metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Seed</dc:title></metadata>'
        b'<manifest><item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>'
        b'<item id="c1" href="text/c1.xhtml" media-type="application/xhtml+xml"/>'
        b'<item id="c2" href="text/c%202.xhtml" media-type="application/xhtml+xml"/>'
        b'<item id="img" href="../img.png" media-type="image/png"/></manifest>'
        b'<spine><itemref idref="c1"/><itemref idref="c2"/><itemref idref="img"/></spine></package>')
NAV = (b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml" '
       b'xmlns:epub="http://www.idpf.org/2007/ops"><body><nav epub:type="toc"><ol>'
       b'<li><a href="text/c1.xhtml">One</a><ol><li><a href="text/c1.xhtml#s2">One.Two</a></li></ol></li>'
       b'<li><a href="text/c%202.xhtml">Two</a></li></ol></nav></body></html>')
NCX = (b'<?xml version="1.0"?><ncx><navMap><navPoint><navLabel><text>One</text></navLabel>'
       b'<content src="text/c1.xhtml"/><navPoint><navLabel><text>Sub</text></navLabel>'
       b'<content src="text/c1.xhtml#s2"/></navPoint></navPoint></navMap></ncx>')
C1 = (b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><head><title>c1</title>'
      b'<style>p{}</style></head><body><h1>One</h1><p>First &amp; <b>bold</b> para.<br/>Line.</p>'
      b'<h2 id="s2">Two</h2><ul><li>a</li><li>b</li></ul><pre>  code\n   kept</pre>'
      b'<table><tr><td>x</td><td>y</td></tr></table></body></html>')
C2 = b'<html><body><p>Second chapter, HTML not XML<p>unclosed &nbsp; entity</body></html>'


def epub(opf, extra, stored=True):
    buf = io.BytesIO()
    method = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(buf, "w") as z:
        def add(name, data, m=method):
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = m
            z.writestr(info, data)
        add("mimetype", b"application/epub+zip", zipfile.ZIP_STORED)
        add("META-INF/container.xml", CONTAINER)
        add("OEBPS/content.opf", opf)
        for name, data in extra:
            add(name, data)
    return buf.getvalue()


def token_map_image(segments, exact=True):
    out = b"TOMEIMAP" + struct.pack("<IIQ", 1, 1 if exact else 0, len(segments))
    for tokens, kind, page, lb, le, file, title, lang, lines in segments:
        out += struct.pack("<QBiii", tokens, kind, page, lb, le)
        for s in (file, title, lang):
            out += struct.pack("<I", len(s)) + s
        out += struct.pack("<I", len(lines)) + b"".join(struct.pack("<I", t) for t in lines)
    return out + b"\0" * 8


def write(target, name, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


def main():
    opf2 = OPF3.replace(b'version="3.0"', b'version="2.0"').replace(
        b'<item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>',
        b'<item id="ncx" href="toc.ncx" media-type="application/x-dtbncx+xml"/>').replace(
        b"<spine>", b'<spine toc="ncx">')
    write("epub_zip", "epub3.epub", epub(OPF3, [("OEBPS/nav.xhtml", NAV), ("OEBPS/text/c1.xhtml", C1),
                                                ("OEBPS/text/c 2.xhtml", C2)]))
    write("epub_zip", "epub2-deflated.epub", epub(opf2, [("OEBPS/toc.ncx", NCX), ("OEBPS/text/c1.xhtml", C1),
                                                         ("OEBPS/text/c 2.xhtml", C2)], stored=False))
    for i, data in enumerate([CONTAINER, OPF3, NAV, NCX, C1 + C2]):
        write("epub_package", f"{i}.seed", bytes([i]) + data)
    write("epub_package", "5.seed", b"\x05OEBPS/text/nav.xhtml\n../c%201.xhtml#frag")
    text = "# Title\n\nSome text with é and ü, a line-\nbreak hyph-\nenation.\n\n## Sub\n```\n# code\n```\n"
    write("text_decode", "utf8.md", text.encode())
    write("text_decode", "latin1.txt", text.encode("latin-1"))
    write("text_decode", "utf16le-bom.txt", b"\xff\xfe" + text.encode("utf-16-le"))
    write("text_decode", "utf16be-nobom.txt", text.encode("utf-16-be"))
    write("text_decode", "broken.txt", b"ok \xc3\xa9 \x80 bad \xe2\x82 cut\r\nCRLF\rCR\n")
    write("text_decode", "pages.txt", b"Header\nbody one infor-\n1\n\fHeader\nmation two\n2\n\fHeader\nthree\n3\n")
    write("token_map", "pdf.map", token_map_image([
        (12, 0, 1, 1, 3, b"a.pdf", b"Intro", b"", [0, 4, 9]),
        (7, 0, 2, 1, 2, b"a.pdf", b"Intro > More", b"", [0, 3])]))
    write("token_map", "repo.map", token_map_image([
        (3, 1, 0, 0, 0, b"src/x.c", b"", b"C", []),
        (10, 0, 0, 1, 2, b"src/x.c", b"", b"C", [0, 5]),
        (0, 0, 0, 1, 1, b"empty.txt", b"", b"", [0])], exact=False))
    write("token_map", "empty.map", token_map_image([]))


if __name__ == "__main__":
    main()
