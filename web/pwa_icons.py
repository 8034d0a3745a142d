"""Gluon's icons, drawn in pure Python and written as PNG files (zlib + struct, no imaging
library): a ring holding three dots in the three colour charges on the theme's background.

The PNGs are committed under ``web/static/pwa/``; after changing the drawing, write them again
with ``uv run python -m web.pwa_icons``. The page never runs this module.

The ring and dots stay inside the central circle of 40% of the size, the safe zone of a
maskable icon, so the same drawing serves both purposes: an ``any`` icon has rounded corners
and transparent outside them, a ``maskable`` (and the Apple touch) icon fills its square.
"""

from __future__ import annotations

import math
import struct
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

BACKGROUND = "#1e1b4b"
RING = "#e0e7ff"
CHARGES = ("#f87171", "#4ade80", "#60a5fa")

OUT = Path(__file__).resolve().parent / "static" / "pwa"


@dataclass(frozen=True)
class Icon:
    name: str
    size: int
    # "any" or "maskable" (the manifest's purposes), "favicon" or "apple-touch-icon".
    purpose: str

    @property
    def full_bleed(self) -> bool:
        """Fills its square: the platform masks or rounds it (maskable, Apple touch icon)."""
        return self.purpose in ("maskable", "apple-touch-icon")

    @property
    def url(self) -> str:
        return f"/static/pwa/{self.name}"


ICONS = (
    Icon("icon-32.png", 32, "favicon"),
    Icon("icon-192.png", 192, "any"),
    Icon("icon-512.png", 512, "any"),
    Icon("maskable-192.png", 192, "maskable"),
    Icon("maskable-512.png", 512, "maskable"),
    Icon("apple-touch-icon.png", 180, "apple-touch-icon"),
)

Rgba = tuple[float, float, float, float]


def _rgb(hex_colour: str) -> tuple[float, float, float]:
    value = int(hex_colour.lstrip("#"), 16)
    return ((value >> 16) / 255, (value >> 8 & 0xFF) / 255, (value & 0xFF) / 255)


def _coverage(distance: float) -> float:
    """How much of a pixel a shape covers, from the signed distance (in pixels) of the pixel's
    centre to the shape's edge, negative inside: a one-pixel ramp, which anti-aliases."""
    return min(1.0, max(0.0, 0.5 - distance))


def _over(top: tuple[float, float, float], alpha: float, under: Rgba) -> Rgba:
    """``top`` with ``alpha`` composited over ``under`` (straight, not premultiplied, alpha)."""
    if alpha <= 0:
        return under
    out_a = alpha + under[3] * (1 - alpha)
    mix = [(t * alpha + u * under[3] * (1 - alpha)) / out_a for t, u in zip(top, under[:3],
                                                                           strict=True)]
    return (mix[0], mix[1], mix[2], out_a)


def _rounded_square(x: float, y: float, size: float, radius: float) -> float:
    """Signed distance from (x, y) to a square of side ``size`` at the origin with rounded
    corners."""
    half = size / 2
    qx, qy = abs(x - half) - (half - radius), abs(y - half) - (half - radius)
    outside = math.hypot(max(qx, 0.0), max(qy, 0.0))
    return outside + min(max(qx, qy), 0.0) - radius


def pixels(icon: Icon) -> list[list[Rgba]]:
    """The icon's rows of RGBA pixels, each channel in 0..1."""
    s = icon.size
    centre = s / 2
    ring_radius, ring_width, dot_radius = 0.27 * s, 0.045 * s, 0.095 * s
    angles = (-90.0, 30.0, 150.0)
    dots = [(centre + ring_radius * math.cos(math.radians(a)),
             centre + ring_radius * math.sin(math.radians(a)), _rgb(c))
            for a, c in zip(angles, CHARGES, strict=True)]
    background, ring = _rgb(BACKGROUND), _rgb(RING)
    rows: list[list[Rgba]] = []
    for py in range(s):
        row: list[Rgba] = []
        for px in range(s):
            x, y = px + 0.5, py + 0.5
            colour: Rgba = (0.0, 0.0, 0.0, 0.0)
            edge = -1.0 if icon.full_bleed else _rounded_square(x, y, s, 0.22 * s)
            colour = _over(background, _coverage(edge), colour)
            from_centre = math.hypot(x - centre, y - centre)
            colour = _over(ring, _coverage(abs(from_centre - ring_radius) - ring_width / 2),
                           colour)
            for dx, dy, charge in dots:
                colour = _over(charge, _coverage(math.hypot(x - dx, y - dy) - dot_radius),
                               colour)
            row.append(colour)
        rows.append(row)
    return rows


def png(rows: list[list[Rgba]]) -> bytes:
    """An 8-bit RGBA PNG of ``rows``."""
    height, width = len(rows), len(rows[0])
    raw = bytearray()
    for row in rows:
        raw.append(0)  # filter type: none
        for pixel in row:
            raw += bytes(round(channel * 255) for channel in pixel)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(bytes(raw), 9)) + chunk(b"IEND", b""))


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a PNG, read from its header."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def main(out: Path = OUT) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for icon in ICONS:
        data = png(pixels(icon))
        (out / icon.name).write_bytes(data)
        print(f"{out / icon.name}: {icon.size}x{icon.size}, {len(data)} bytes")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
