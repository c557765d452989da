"""Draws the add-on's icon.png (128x128) and logo.png (250x100) at the top of the checkout.

    python checks/addon_images.py

Standard library only (zlib, struct): the artwork is a few shapes, each a
distance function, sampled 4x4 times a pixel for smooth edges. A washing
machine on a blue tile; the logo adds "hcpy" drawn from strokes and arcs.
The Supervisor shows icon.png in the add-on store and logo.png on the
add-on's page (tests/test_addon_files.py checks their sizes).
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = 4  # per axis and pixel

Colour = tuple[int, int, int]
# Distance from a point to a shape's edge: negative inside.
Shape = Callable[[float, float], float]

BLUE: Colour = (3, 155, 229)
WHITE: Colour = (255, 255, 255)
WATER: Colour = (179, 229, 252)


def rounded_rect(x0: float, y0: float, x1: float, y1: float, radius: float) -> Shape:
    cx, cy, hx, hy = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2 - radius, (y1 - y0) / 2 - radius

    def distance(x: float, y: float) -> float:
        dx, dy = abs(x - cx) - hx, abs(y - cy) - hy
        outside = math.hypot(max(dx, 0.0), max(dy, 0.0))
        return outside + min(max(dx, dy), 0.0) - radius

    return distance


def disc(cx: float, cy: float, radius: float) -> Shape:
    return lambda x, y: math.hypot(x - cx, y - cy) - radius


def segment(ax: float, ay: float, bx: float, by: float, width: float) -> Shape:
    """A stroke with round ends from a to b."""

    def distance(x: float, y: float) -> float:
        vx, vy = bx - ax, by - ay
        t = max(0.0, min(1.0, ((x - ax) * vx + (y - ay) * vy) / (vx * vx + vy * vy)))
        return math.hypot(x - ax - t * vx, y - ay - t * vy) - width / 2

    return distance


def arc(cx: float, cy: float, radius: float, start: float, end: float, width: float) -> Shape:
    """A stroke along a circle from `start` to `end` degrees, counter-clockwise as seen (y grows down)."""
    a0, a1 = math.radians(start), math.radians(end)
    ends = [(cx + radius * math.cos(a), cy - radius * math.sin(a)) for a in (a0, a1)]

    def distance(x: float, y: float) -> float:
        angle = math.atan2(cy - y, x - cx)
        if (angle - a0) % math.tau <= (a1 - a0) % math.tau or end - start >= 360:
            return abs(math.hypot(x - cx, y - cy) - radius) - width / 2
        return min(math.hypot(x - ex, y - ey) for ex, ey in ends) - width / 2

    return distance


def render(width: int, height: int, layers: list[tuple[Shape, Colour]]) -> bytes:
    """RGBA rows: each layer painted over the ones before, transparent where none is."""
    rows = bytearray()
    step = 1 / SAMPLES
    for py in range(height):
        rows.append(0)  # PNG filter type 0 for this row
        for px in range(width):
            r = g = b = a = 0.0
            for sy in range(SAMPLES):
                for sx in range(SAMPLES):
                    x, y = px + (sx + 0.5) * step, py + (sy + 0.5) * step
                    colour = None
                    for shape, paint in layers:
                        if shape(x, y) <= 0:
                            colour = paint
                    if colour is not None:
                        r, g, b, a = r + colour[0], g + colour[1], b + colour[2], a + 1
            if a:
                rows += bytes((round(r / a), round(g / a), round(b / a), round(255 * a / SAMPLES**2)))
            else:
                rows += bytes(4)
    return bytes(rows)


def png(width: int, height: int, rows: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8 bits, RGBA
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


def machine(x: float, y: float, size: float) -> list[tuple[Shape, Colour]]:
    """A washing machine on a blue tile, in the square at (x, y) of side `size`."""

    def at(u: float, v: float) -> tuple[float, float]:
        return x + u * size / 128, y + v * size / 128

    def s(length: float) -> float:
        return length * size / 128

    return [
        (rounded_rect(*at(0, 0), *at(128, 128), s(26)), BLUE),
        (rounded_rect(*at(30, 18), *at(98, 112), s(11)), WHITE),
        (disc(*at(43, 33), s(4)), BLUE),
        (disc(*at(55, 33), s(4)), BLUE),
        (segment(*at(72, 33), *at(86, 33), s(6)), BLUE),
        (segment(*at(34, 45), *at(94, 45), s(3)), BLUE),
        (disc(*at(64, 77), s(24)), BLUE),
        (disc(*at(64, 77), s(18)), WHITE),
        (disc(*at(64, 77), s(14)), WATER),
    ]


def letters(x: float, baseline: float, radius: float, stroke: float) -> tuple[list[Shape], float]:
    """The word hcpy from strokes and arcs, starting at x; the shapes and where the text ends."""
    top, middle = baseline - 2 * radius, baseline - radius
    ascender, descender = top - 1.1 * radius, baseline + 1.2 * radius
    gap = stroke * 1.1
    shapes: list[Shape] = []
    # h
    left = x + stroke / 2
    shapes += [
        segment(left, ascender, left, baseline, stroke),
        arc(left + radius, middle, radius, 0, 180, stroke),
        segment(left + 2 * radius, middle, left + 2 * radius, baseline, stroke),
    ]
    x = left + 2 * radius + stroke / 2 + gap
    # c
    shapes.append(arc(x + stroke / 2 + radius, middle, radius, 45, 315, stroke))
    x += stroke + 2 * radius + gap
    # p
    left = x + stroke / 2
    shapes += [segment(left, top, left, descender, stroke), arc(left + radius, middle, radius, 0, 360, stroke)]
    x = left + 2 * radius + stroke / 2 + gap
    # y: two arms meeting on the baseline, the right one running on down
    left, right = x + stroke / 2, x + stroke / 2 + 2 * radius
    meet = (left + right) / 2
    slope = (meet - right) / (baseline - top)
    shapes += [
        segment(left, top, meet, baseline, stroke),
        segment(right, top, right + slope * (descender - top), descender, stroke),
    ]
    return shapes, right + stroke / 2


def main() -> None:
    (ROOT / "icon.png").write_bytes(png(128, 128, render(128, 128, machine(0, 0, 128))))
    text, _ = letters(98, 61, 11.5, 7.5)
    logo = machine(6, 10, 80) + [(shape, BLUE) for shape in text]
    (ROOT / "logo.png").write_bytes(png(250, 100, render(250, 100, logo)))


if __name__ == "__main__":
    main()
