"""Synthetic lab-report generator: text PDFs, scanned-looking PDFs and photos, with ground truth.

Deterministic: the same --seed and counts give byte-identical files (same library versions).
Every name, number and identifier is invented. See README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import math
import pathlib
import random
import struct
import zipfile
import zlib

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from reportlab import rl_config
from reportlab.lib.pagesizes import A4, letter
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

rl_config.invariant = 1  # no timestamps or random ids in the PDFs
rl_config.useA85 = 0  # binary streams, as most producers write them

HERE = pathlib.Path(__file__).resolve().parent
FONT_DIR = pathlib.Path(rl_config.__file__).resolve().parent / "fonts"
VERA = {"regular": FONT_DIR / "Vera.ttf", "bold": FONT_DIR / "VeraBd.ttf"}
pdfmetrics.registerFont(TTFont("Vera", str(VERA["regular"])))
pdfmetrics.registerFont(TTFont("Vera-Bold", str(VERA["bold"])))
# The PDF fonts of each face: a standard-14 font (WinAnsi text) or an embedded TrueType subset.
PDF_FONTS = {
    "helvetica": {"regular": "Helvetica", "bold": "Helvetica-Bold"},
    "vera": {"regular": "Vera", "bold": "Vera-Bold"},
}

FIRST = ["Alex", "Jordan", "Casey", "Morgan", "Riley", "Taylor", "Jamie", "Avery", "Quinn", "Rowan",
         "Skyler", "Dakota", "Emerson", "Finley", "Harper", "Reese", "Sawyer", "Parker"]
LAST = ["Testperson", "Sampleton", "Fakely", "Mockridge", "Placeholder", "Synthwood", "Dummett",
        "Examplar", "Fictor", "Madeup", "Notreal", "Inventa"]
LABS = ["Northfield Clinical Laboratory", "Riverbend Diagnostics", "Summit Pathology Services",
        "Lakeside Medical Lab", "Greenvale Reference Laboratory", "Harbor Point Diagnostics"]
STREETS = ["100 Example Avenue", "42 Synthetic Road", "7 Placeholder Street", "250 Sample Boulevard"]
DATE_FORMATS = ["iso", "us", "dmy"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
COLLECTED_LABELS = ["Collected", "Collection Date", "Date Collected", "Specimen Collected"]
REPORTED_LABELS = ["Reported", "Report Date", "Date Reported"]


def fmt_date(d: dt.date, style: str) -> str:
    if style == "iso":
        return d.isoformat()
    if style == "us":
        return f"{d.month:02d}/{d.day:02d}/{d.year}"
    return f"{d.day:02d} {MONTHS[d.month - 1]} {d.year}"


def fmt_num(x: float, decimals: int) -> str:
    return f"{x:.{decimals}f}"


# ----------------------------------------------------------------------------------------------
# Report content


def load_catalog() -> dict:
    return json.loads((HERE / "catalog.json").read_text(encoding="utf-8"))


def pick_value(rng: random.Random, low: float, high: float, decimals: int) -> tuple[float, str, str]:
    """A value, as printed, and its flag against [low, high]."""
    span = high - low
    roll = rng.random()
    if roll < 0.72:
        x = low + span * rng.uniform(0.08, 0.92)
    elif roll < 0.88 or low <= 0:
        x = high + span * rng.uniform(0.06, 0.6)
    else:
        x = low - min(low * 0.5, span * rng.uniform(0.06, 0.5))
    text = fmt_num(x, decimals)
    value = float(text)
    if value < 0:
        text, value = fmt_num(0, decimals), 0.0
    flag = "H" if value > high else "L" if value < low else "N"
    return value, text, flag


def make_report(rng: random.Random, catalog: dict, kind: str, layout: str, long: bool = False) -> dict:
    tests = catalog["tests"]
    panels: dict[str, list[dict]] = {}
    for t in tests:
        panels.setdefault(t["panel"], []).append(t)
    # How names are printed in this report: mostly full names, mostly abbreviations, or mixed.
    naming = rng.choice(["full", "abbrev", "mixed"])
    si = rng.random() < 0.25  # prefer the second (SI) unit where there is one
    n_panels = rng.randint(2, 4) if kind == "text_pdf" else rng.randint(2, 3)
    if long:
        n_panels = 7  # runs over two pages
    chosen = rng.sample(sorted(panels), n_panels)
    groups = []
    for p in chosen:
        members = panels[p]
        k = max(2, round(len(members) * rng.uniform(0.6, 1.0)))
        picked = sorted(rng.sample(members, min(k, len(members))), key=members.index)
        rows = []
        for t in picked:
            r = rng.random()
            if naming == "full" or (naming == "mixed" and r < 0.5):
                printed_name = t["name"] if r < 0.85 or not t["synonyms"] else rng.choice(t["synonyms"])
            else:
                printed_name = rng.choice(t["abbreviations"])
            units = t["units"]
            unit = units[1] if si and len(units) > 1 else units[0]
            printed_unit = rng.choice(unit["printed"])
            value, value_text, flag = pick_value(rng, unit["low"], unit["high"], unit["decimals"])
            rows.append({
                "printed_name": printed_name,
                "loinc": t["loinc"],
                "value": value,
                "value_text": value_text,
                "unit": unit["ucum"],
                "printed_unit": printed_unit,
                "low": float(unit["low"]),
                "high": float(unit["high"]),
                "flag": flag,
                "_abbreviation": t["abbreviations"][0],
                "_range": (fmt_num(unit["low"], unit["decimals"]), fmt_num(unit["high"], unit["decimals"])),
            })
        groups.append((catalog["panels"][p], rows))
    collected = dt.date(2025, 1, 1) + dt.timedelta(days=rng.randrange(0, 540))
    reported = collected + dt.timedelta(days=rng.choice([0, 0, 1, 1, 2]))
    dob = dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(0, 60 * 365))
    return {
        "kind": kind,
        "layout": layout,
        "collected": collected,
        "reported": reported,
        "dob": dob,
        "date_style": rng.choice(DATE_FORMATS),
        "patient_name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
        "mrn": f"{rng.randrange(10**7, 10**8)}",
        "sex": rng.choice(["F", "M"]),
        "lab": rng.choice(LABS),
        "street": rng.choice(STREETS),
        "physician": f"Dr. {rng.choice(FIRST)} {rng.choice(LAST)}",
        "collected_label": rng.choice(COLLECTED_LABELS),
        "reported_label": rng.choice(REPORTED_LABELS),
        "groups": groups,
        "range_sep": rng.choice(["-", " - "]),
        "flag_words": rng.random() < 0.3,
    }


def ground_truth(report: dict) -> dict:
    results = []
    for _, rows in report["groups"]:
        for r in rows:
            results.append({k: v for k, v in r.items() if not k.startswith("_")})
    return {
        "kind": report["kind"],
        "layout": report["layout"],
        "report_date": report["collected"].isoformat(),
        "patient_name": report["patient_name"],
        "results": results,
    }


# ----------------------------------------------------------------------------------------------
# Page layout: a list of drawing operations per page, in points from the top-left corner, drawn
# by both the PDF writer (real text) and the rasteriser (images).


class Flow:
    def __init__(self, report: dict, page_size: tuple[float, float]):
        self.report = report
        self.width, self.height = page_size
        self.pages: list[list[tuple]] = []
        self.margin = 50.0
        self.new_page()

    def new_page(self) -> None:
        self.ops: list[tuple] = []
        self.pages.append(self.ops)
        self.y = self.margin
        self.header(first=len(self.pages) == 1)

    def text(self, x: float, s: str, size: float = 9.5, bold: bool = False, y: float | None = None) -> None:
        self.ops.append(("text", x, self.y if y is None else y, s, "bold" if bold else "regular", size))

    def rule(self, width: float = 0.6) -> None:
        self.ops.append(("line", self.margin, self.y, self.width - self.margin, self.y, width))

    def advance(self, dy: float) -> None:
        self.y += dy

    def need(self, dy: float, on_break=None) -> None:
        if self.y + dy > self.height - self.margin - 20:
            self.footer()
            self.new_page()
            if on_break:
                on_break()

    def header(self, first: bool) -> None:
        r = self.report
        m = self.margin
        self.advance(14)
        self.text(m, r["lab"], size=15, bold=True)
        if first:
            self.advance(13)
            self.text(m, f"{r['street']}, Sampletown  |  Synthetic test data", size=8)
        self.advance(8)
        self.rule(1.0)
        ds = r["date_style"]
        col2 = m + 290
        self.advance(16)
        self.text(m, f"Patient: {r['patient_name']}", size=10, bold=True)
        self.text(col2, f"DOB: {fmt_date(r['dob'], ds)}", size=10)
        self.advance(14)
        self.text(m, f"MRN: {r['mrn']}", size=10)
        self.text(col2, f"Sex: {r['sex']}", size=10)
        if first:
            self.advance(14)
            self.text(m, f"{r['collected_label']}: {fmt_date(r['collected'], ds)}", size=10)
            self.text(col2, f"{r['reported_label']}: {fmt_date(r['reported'], ds)}", size=10)
            self.advance(14)
            self.text(m, f"Ordering Physician: {r['physician']}", size=10)
        self.advance(8)
        self.rule(1.0)
        self.advance(10)

    def footer(self) -> None:
        self.ops.append(("text", self.margin, self.height - self.margin + 10,
                         "Results are synthetic and for software testing only.", "regular", 7.5))

    def finish(self) -> list[list[tuple]]:
        self.footer()
        n = len(self.pages)
        for i, ops in enumerate(self.pages):
            ops.append(("text", self.width - self.margin - 60, self.height - self.margin + 10,
                        f"Page {i + 1} of {n}", "regular", 7.5))
        return self.pages


def flag_text(report: dict, flag: str) -> str:
    if flag == "N":
        return ""
    if report["flag_words"]:
        return "HIGH" if flag == "H" else "LOW"
    return flag


def range_text(report: dict, row: dict) -> str:
    lo, hi = row["_range"]
    return f"{lo}{report['range_sep']}{hi}"


def fit_name(row: dict, width: float) -> None:
    """Prints an abbreviation instead of a name too long for its column."""
    if pdfmetrics.stringWidth(row["printed_name"], "Vera", 9.5) > width:
        row["printed_name"] = row["_abbreviation"]


def layout_a(flow: Flow) -> None:
    """A table: Test | Result | Units | Reference Range | Flag."""
    r = flow.report
    m = flow.margin
    cols = [m, m + 200, m + 270, m + 350, m + 455]

    def table_header() -> None:
        for x, h in zip(cols, ["Test", "Result", "Units", "Reference Range", "Flag"]):
            flow.text(x, h, size=9.5, bold=True)
        flow.advance(5)
        flow.rule(0.6)
        flow.advance(13)

    flow.advance(4)
    table_header()
    for panel, rows in r["groups"]:
        flow.need(40, table_header)
        flow.advance(4)
        flow.text(m, panel.upper(), size=9.5, bold=True)
        flow.advance(15)
        for row in rows:
            flow.need(14, table_header)
            fit_name(row, 180)
            flow.text(cols[0] + 8, row["printed_name"])
            flow.text(cols[1], row["value_text"], bold=row["flag"] != "N")
            flow.text(cols[2], row["printed_unit"])
            flow.text(cols[3], range_text(r, row))
            flow.text(cols[4], flag_text(r, row["flag"]), bold=True)
            flow.advance(14)
        flow.advance(4)


def layout_b(flow: Flow) -> None:
    """Panels of lines: `Name: value unit (Ref: low-high) H`."""
    r = flow.report
    m = flow.margin
    ref_word = flow.report["lab"][0] in "NRS" and "Ref" or "Reference"
    for panel, rows in r["groups"]:
        flow.need(44)
        flow.advance(6)
        flow.text(m, panel, size=11, bold=True)
        flow.advance(4)
        flow.ops.append(("line", m, flow.y, m + 200, flow.y, 0.5))
        flow.advance(14)
        for row in rows:
            flow.need(14)
            unit = f" {row['printed_unit']}" if row["printed_unit"] else ""
            flag = flag_text(r, row["flag"])
            line = f"{row['printed_name']}: {row['value_text']}{unit} ({ref_word}: {range_text(r, row)})"
            if flag:
                line += f" {flag}"
            flow.text(m + 10, line, size=10)
            flow.advance(14.5)
        flow.advance(6)


def layout_c(flow: Flow) -> None:
    """Dotted leaders: `Glucose ........ 105 mg/dL   70-99   H`."""
    r = flow.report
    m = flow.margin
    x_value, x_range, x_flag = m + 215, m + 345, m + 450
    for panel, rows in r["groups"]:
        flow.need(40)
        flow.advance(6)
        flow.text(m, f"== {panel} ==", size=10.5, bold=True)
        flow.advance(16)
        for row in rows:
            flow.need(14)
            fit_name(row, 185)
            name = row["printed_name"] + " "
            width = pdfmetrics.stringWidth(name, "Vera", 9.5)
            dots = max(3, int((x_value - 8 - m - width) / pdfmetrics.stringWidth(".", "Vera", 9.5)))
            flow.text(m, name + "." * dots)
            unit = f" {row['printed_unit']}" if row["printed_unit"] else ""
            flow.text(x_value, f"{row['value_text']}{unit}", bold=row["flag"] != "N")
            flow.text(x_range, range_text(r, row))
            flow.text(x_flag, flag_text(r, row["flag"]), bold=True)
            flow.advance(14)
        flow.advance(4)


LAYOUTS = {"a": layout_a, "b": layout_b, "c": layout_c}


def lay_out(report: dict, page_size) -> list[list[tuple]]:
    flow = Flow(report, page_size)
    LAYOUTS[report["layout"]](flow)
    return flow.finish()


# ----------------------------------------------------------------------------------------------
# Output: PDF with text, raster pages, degradations


def write_text_pdf(pages, page_size, face: str) -> bytes:
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=page_size, invariant=1, pageCompression=1)
    c.setTitle("Synthetic laboratory report")
    c.setCreator("labgen")
    h = page_size[1]
    for ops in pages:
        for op in ops:
            if op[0] == "text":
                _, x, y, s, weight, size = op
                if not s:
                    continue
                c.setFont(PDF_FONTS[face][weight], size)
                c.drawString(x, h - y, s)
            else:
                _, x1, y1, x2, y2, w = op
                c.setLineWidth(w)
                c.line(x1, h - y1, x2, h - y2)
        c.showPage()
    c.save()
    return buf.getvalue()


_font_cache: dict = {}


def raster_page(ops, page_size, dpi: float) -> Image.Image:
    s = dpi / 72.0
    w, h = round(page_size[0] * s), round(page_size[1] * s)
    img = Image.new("L", (w, h), 255)
    d = ImageDraw.Draw(img)
    for op in ops:
        if op[0] == "text":
            _, x, y, text, weight, size = op
            if not text:
                continue
            key = (weight, round(size * s * 4))
            font = _font_cache.get(key)
            if font is None:
                font = _font_cache[key] = ImageFont.truetype(str(VERA[weight]), size * s)
            d.text((x * s, y * s), text, fill=0, font=font, anchor="ls")
        else:
            _, x1, y1, x2, y2, lw = op
            d.line([(x1 * s, y1 * s), (x2 * s, y2 * s)], fill=0, width=max(1, round(lw * s)))
    return img


def add_noise(nrng: np.random.Generator, arr: np.ndarray, sigma: float) -> np.ndarray:
    return arr + nrng.normal(0.0, sigma, arr.shape)


def scan_image(rng: random.Random, nrng: np.random.Generator, page: Image.Image, binarize: bool) -> Image.Image:
    """A flatbed scan: slight rotation, paper tone, noise, a little blur."""
    angle = rng.uniform(0.4, 2.0) * rng.choice([-1, 1])
    img = page.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.6)))
    img = img.rotate(angle, resample=Image.BICUBIC, expand=False, fillcolor=255)
    arr = np.asarray(img, dtype=np.float64)
    arr = 235 - (255 - arr) * rng.uniform(0.8, 0.92)  # grey paper, not-quite-black toner
    arr = add_noise(nrng, arr, rng.uniform(5, 10))
    # speckles
    mask = nrng.random(arr.shape) < 0.0008
    arr[mask] = nrng.uniform(0, 120, mask.sum())
    arr = np.clip(arr, 0, 255)
    if binarize:
        arr = np.where(arr < 150, 0, 255)
    return Image.fromarray(arr.astype(np.uint8), "L")


def photo_image(rng: random.Random, nrng: np.random.Generator, page: Image.Image, target_width: int) -> Image.Image:
    """A phone photo of a page on a desk: rotated, unevenly lit, blurred, noisy, low resolution."""
    angle = rng.uniform(3.0, 6.0) * rng.choice([-1, 1])
    pw, ph = page.size
    pad = int(pw * 0.08)
    desk = Image.new("L", (pw + 2 * pad, ph + 2 * pad), rng.randint(70, 110))
    desk.paste(page, (pad, pad))
    img = desk.rotate(angle, resample=Image.BICUBIC, expand=False, fillcolor=rng.randint(70, 110))
    scale = target_width / img.size[0]
    img = img.resize((target_width, round(img.size[1] * scale)), Image.LANCZOS)
    img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.5, 0.9)))
    arr = np.asarray(img, dtype=np.float64)
    hgt, wid = arr.shape
    yy, xx = np.mgrid[0:hgt, 0:wid]
    # uneven light: a bright spot somewhere, darker towards one corner
    cx, cy = rng.uniform(0.2, 0.8) * wid, rng.uniform(0.1, 0.6) * hgt
    dist = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2) / math.hypot(wid, hgt)
    light = 1.05 - rng.uniform(0.35, 0.5) * dist
    arr = arr * light
    rgb = np.stack([arr * rng.uniform(0.98, 1.02), arr * rng.uniform(0.95, 1.0), arr * rng.uniform(0.86, 0.95)], axis=-1)
    rgb = add_noise(nrng, rgb, rng.uniform(4, 8))
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")


def image_pdf(images: list[tuple[bytes, int, int, str]], page_size) -> bytes:
    """A PDF whose pages are images only (no text layer)."""
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=page_size, invariant=1, pageCompression=1)
    c.setCreator("labgen scanner")
    for data, w, h, kind in images:
        if kind == "jpeg":
            reader = ImageReader(io.BytesIO(data))  # JPEG bytes pass through as DCTDecode
        else:
            reader = ImageReader(Image.open(io.BytesIO(data)))  # Flate-compressed pixels
        c.drawImage(reader, 0, 0, width=page_size[0], height=page_size[1])
        c.showPage()
    c.save()
    return buf.getvalue()


def jpeg_bytes(img: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality, optimize=True)
    return buf.getvalue()


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG", optimize=True)
    return buf.getvalue()


def generate(out: pathlib.Path, seed: int, counts: dict[str, int]) -> list[pathlib.Path]:
    catalog = load_catalog()
    out.mkdir(parents=True, exist_ok=True)
    written = []
    kinds = [("text", "text_pdf"), ("scan", "scan_pdf"), ("photo", "photo")]
    for short, kind in kinds:
        for i in range(counts[short]):
            layout = "abc"[i % 3]
            # One generator per document, so changing one count does not change other files.
            rng = random.Random(f"{seed}:{short}:{i}")
            nrng = np.random.default_rng([seed, i, ord(short[0])])
            # Every ninth document is a long report that runs over two pages.
            report = make_report(rng, catalog, kind, layout, long=i % 9 == 8)
            page_size = rng.choice([letter, A4])
            pages = lay_out(report, page_size)
            stem = f"report-{short}-{layout}-{i + 1:03d}"
            if kind == "text_pdf":
                face = "vera" if i % 2 else "helvetica"
                path = out / f"{stem}.pdf"
                path.write_bytes(write_text_pdf(pages, page_size, face))
            elif kind == "scan_pdf":
                binarize = i % 3 == 2  # a black-and-white scan, stored Flate-compressed
                dpi = rng.choice([150, 170, 200]) if not binarize else 200
                images = []
                for ops in pages:
                    img = scan_image(rng, nrng, raster_page(ops, page_size, dpi), binarize)
                    if binarize:
                        images.append((png_bytes(img), *img.size, "flate"))
                    else:
                        images.append((jpeg_bytes(img, rng.randint(55, 75)), *img.size, "jpeg"))
                path = out / f"{stem}.pdf"
                path.write_bytes(image_pdf(images, page_size))
            else:
                # A photo shows the first page only; the ground truth lists what it shows.
                dpi = 200
                img = photo_image(rng, nrng, raster_page(pages[0], page_size, dpi), rng.randint(1150, 1350))
                if i % 3 == 1:
                    path = out / f"{stem}.png"
                    path.write_bytes(png_bytes(img.convert("L")))
                else:
                    path = out / f"{stem}.jpg"
                    path.write_bytes(jpeg_bytes(img, rng.randint(70, 85)))
                if len(pages) > 1:
                    report = trim_to_first_page(report, pages[0])
            truth = ground_truth(report)
            path.with_suffix(".json").write_text(json.dumps(truth, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            written.append(path)
    return written


def trim_to_first_page(report: dict, ops: list[tuple]) -> dict:
    """The report restricted to the results whose value appears on the first page."""
    shown = {op[3] for op in ops if op[0] == "text"}
    joined = "\n".join(shown)
    groups = []
    for panel, rows in report["groups"]:
        kept = [r for r in rows if r["printed_name"] in joined and r["value_text"] in joined]
        if kept:
            groups.append((panel, kept))
    return {**report, "groups": groups}


# ----------------------------------------------------------------------------------------------
# Poison files


def poison(out: pathlib.Path, seed: int) -> list[pathlib.Path]:
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(f"{seed}:poison")
    files = {}
    # A text PDF cut in half: no xref table, no trailer, streams truncated.
    report = make_report(rng, load_catalog(), "text_pdf", "a")
    whole = write_text_pdf(lay_out(report, letter), letter, "helvetica")
    files["truncated.pdf"] = whole[: len(whole) // 2]
    # A PDF header followed by garbage.
    files["garbage.pdf"] = b"%PDF-1.4\n" + bytes(rng.randrange(256) for _ in range(4096))
    # An empty file.
    files["empty.pdf"] = b""
    # A ZIP archive named .pdf.
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(zipfile.ZipInfo("report.txt", date_time=(2026, 1, 1, 0, 0, 0)), "not a pdf\n" * 100)
    files["zip-renamed.pdf"] = zbuf.getvalue()
    # A PNG that declares 60000 x 60000 pixels (3.6 GB of RGB) with a small compressed stream.
    files["bomb.png"] = png_bomb(60000, 60000)
    # A PDF whose only page is an image XObject declaring 60000 x 60000 Flate pixels.
    files["bomb-image.pdf"] = pdf_with_image_bomb(60000, 60000)
    # A JPEG whose header declares 60000 x 60000 pixels.
    files["bomb.jpg"] = jpeg_bomb(60000, 60000)
    paths = []
    for name, data in files.items():
        p = out / name
        p.write_bytes(data)
        paths.append(p)
    return paths


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bomb(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    # 64 rows' worth of zeros compress to almost nothing; a decoder that allocates the declared
    # size first is already lost.
    raw = zlib.compress(b"\0" * (1 + 3 * width) * 64, 9)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", raw) + png_chunk(b"IEND", b"")


def jpeg_bomb(width: int, height: int) -> bytes:
    small = Image.new("L", (16, 16), 128)
    data = bytearray(jpeg_bytes(small, 80))
    i = 2
    while i < len(data):
        marker = data[i + 1]
        seglen = struct.unpack(">H", data[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            struct.pack_into(">HH", data, i + 5, height, width)
            break
        i += 2 + seglen
    return bytes(data)


def pdf_with_image_bomb(width: int, height: int) -> bytes:
    stream = zlib.compress(b"\0" * 65536, 9)
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /XObject << /Im0 4 0 R >> >> /Contents 5 0 R >>",
        (f"<< /Type /XObject /Subtype /Image /Width {width} /Height {height} /ColorSpace /DeviceGray "
         f"/BitsPerComponent 8 /Filter /FlateDecode /Length {len(stream)} >>\nstream\n").encode() + stream + b"\nendstream",
        b"<< /Length 33 >>\nstream\nq 612 0 0 792 0 0 cm /Im0 Do Q\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objs, start=1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=pathlib.Path, required=True, help="output directory")
    ap.add_argument("--count", type=int, default=3, help="documents of each kind (default 3)")
    ap.add_argument("--text", type=int, help="text PDFs (default --count)")
    ap.add_argument("--scan", type=int, help="scanned-looking PDFs (default --count)")
    ap.add_argument("--photo", type=int, help="photos (default --count)")
    ap.add_argument("--seed", type=int, default=6, help="random seed (default 6)")
    ap.add_argument("--poison", action="store_true", help="also write poison files to OUT/poison/")
    args = ap.parse_args()
    counts = {
        "text": args.count if args.text is None else args.text,
        "scan": args.count if args.scan is None else args.scan,
        "photo": args.count if args.photo is None else args.photo,
    }
    written = generate(args.out, args.seed, counts)
    if args.poison:
        written += poison(args.out / "poison", args.seed)
    total = sum(p.stat().st_size for p in written)
    print(f"wrote {len(written)} documents ({total / 1e6:.2f} MB) to {args.out}")


if __name__ == "__main__":
    main()
