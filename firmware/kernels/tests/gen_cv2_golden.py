#!/usr/bin/env python3
"""Writes golden cases for `resize_bilinear_u8` from OpenCV: tests/golden/resize_*.txt.

Run from anywhere: `python3 firmware/kernels/tests/gen_cv2_golden.py` (needs numpy and
opencv-python(-headless)). Each file: a comment line, `size src_w src_h channels dst_w dst_h`,
`src <hex>` and `dst <hex>` (row-major interleaved bytes), seeded so reruns are identical.
"""
import pathlib
import cv2
import numpy as np

CASES = [
    # name, src_w, src_h, channels, dst_w, dst_h
    ("up_c1", 9, 7, 1, 20, 15),
    ("down_c1", 31, 23, 1, 12, 9),
    ("up_c3", 7, 5, 3, 16, 11),
    ("down_c3", 17, 13, 3, 7, 6),
    ("half_c1", 18, 14, 1, 9, 7),
    ("half_c3", 12, 10, 3, 6, 5),
    ("half_c2", 10, 8, 2, 5, 4),
    ("mixed_c4", 8, 6, 4, 11, 3),
    ("wide_up_tall_down_c1", 10, 20, 1, 23, 7),
    ("third_c1", 15, 9, 1, 5, 3),
    ("same_c3", 5, 4, 3, 5, 4),
]


def main():
    out = pathlib.Path(__file__).resolve().parent / "golden"
    out.mkdir(exist_ok=True)
    for seed, (name, sw, sh, cn, dw, dh) in enumerate(CASES):
        rng = np.random.default_rng(seed)
        src = rng.integers(0, 256, (sh, sw, cn), dtype=np.uint8)
        dst = cv2.resize(src, (dw, dh), interpolation=cv2.INTER_LINEAR)
        text = (
            f"# cv2.resize(src, ({dw}, {dh}), interpolation=cv2.INTER_LINEAR), OpenCV {cv2.__version__}, "
            f"numpy default_rng({seed})\n"
            f"size {sw} {sh} {cn} {dw} {dh}\n"
            f"src {src.tobytes().hex()}\n"
            f"dst {dst.tobytes().hex()}\n"
        )
        assert len(text) <= 2048, (name, len(text))
        (out / f"resize_{name}.txt").write_text(text)
        print(name, len(text))


if __name__ == "__main__":
    main()
