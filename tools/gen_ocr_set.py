#!/usr/bin/env python3
"""Deterministic generator of OCR test images with ground truth.

    python tools/gen_ocr_set.py --out DIR --seed S --lines N --scenes M [--golden]

Writes DIR/lines/NNNNNN.{png,jpg,bmp} (single text-line crops),
DIR/scenes/NNNNNN.{png,jpg,bmp} (whole scenes with 3-8 lines),
DIR/labels.jsonl (ground truth, one object per image:
  {"image": "lines/000001.png", "kind": "line"|"scene",
   "lines": [{"text": "...", "box": [[x,y],[x,y],[x,y],[x,y]]}]})
and DIR/meta.jsonl (same order: font, category, degradations; for analysis).

Boxes are the tight ink box of each text line, 4 corners clockwise from the
top-left (TL, TR, BR, BL) in image pixels; rotated lines get rotated corners.

Same arguments (and same Pillow/numpy/libjpeg/zlib) -> byte-identical files:
every image draws from its own RNG seeded by (seed, kind, index).
Every character is checked against the PP-OCRv4 rec dictionary (ONNX
metadata key `character` of rapidocr_onnxruntime's ch_PP-OCRv4_rec_infer.onnx)
plus the space that PaddleOCR appends.

--golden: instead of N/M random images, writes the 6-image golden set used by
the Rust tests (4 clean line images: English, Chinese, punctuation, digits;
2 small 320x240 scenes with 2-3 lines, one of them JPEG).
"""
import argparse
import io
import json
import math
import os
import random
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

# --------------------------------------------------------------------------
# dictionary

def rec_model_path():
    import rapidocr_onnxruntime
    return Path(rapidocr_onnxruntime.__file__).parent / "models" / "ch_PP-OCRv4_rec_infer.onnx"


def load_dictionary():
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(str(rec_model_path()), so, providers=["CPUExecutionProvider"])
    chars = sess.get_modelmeta().custom_metadata_map["character"].splitlines()
    d = set(chars)
    d.add(" ")  # PaddleOCR's rec post-processing appends the space character
    return d


# --------------------------------------------------------------------------
# fonts

DEJAVU_DIR = "/usr/share/fonts/truetype/dejavu"
NOTO_DIR = "/usr/share/fonts/opentype/noto"
# Font sets: (name, path, face index or None = the 'Noto Sans CJK SC' face of a .ttc).
# `default` is what every tuning set of the project used; `heldout` shares no font with it
# (Debian: fonts-liberation, fonts-freefont-ttf, fonts-wqy-microhei, fonts-wqy-zenhei), for
# evaluation sets that no tuning decision ever saw.
FONT_SETS = {
    "default": (
        [
            ("DejaVuSans", DEJAVU_DIR + "/DejaVuSans.ttf", 0),
            ("DejaVuSans-Bold", DEJAVU_DIR + "/DejaVuSans-Bold.ttf", 0),
            ("DejaVuSerif", DEJAVU_DIR + "/DejaVuSerif.ttf", 0),
            ("DejaVuSerif-Bold", DEJAVU_DIR + "/DejaVuSerif-Bold.ttf", 0),
            ("DejaVuSansMono", DEJAVU_DIR + "/DejaVuSansMono.ttf", 0),
        ],
        [
            ("NotoSansCJK-Regular", NOTO_DIR + "/NotoSansCJK-Regular.ttc", None),
            ("NotoSansCJK-Bold", NOTO_DIR + "/NotoSansCJK-Bold.ttc", None),
        ],
    ),
    "heldout": (
        [
            ("LiberationSans", "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf", 0),
            ("LiberationSerif-Bold", "/usr/share/fonts/truetype/liberation/LiberationSerif-Bold.ttf", 0),
            ("LiberationMono", "/usr/share/fonts/truetype/liberation/LiberationMono-Regular.ttf", 0),
            ("FreeSans", "/usr/share/fonts/truetype/freefont/FreeSans.ttf", 0),
            ("FreeSerifBold", "/usr/share/fonts/truetype/freefont/FreeSerifBold.ttf", 0),
        ],
        [
            ("WenQuanYiMicroHei", "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
            ("WenQuanYiZenHei", "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
        ],
    ),
}
LATIN_FONTS, CJK_FONTS = FONT_SETS["default"]


def use_font_set(name):
    global LATIN_FONTS, CJK_FONTS
    LATIN_FONTS, CJK_FONTS = FONT_SETS[name]


_font_cache = {}
_cjk_index = {}


def cjk_face_index(path):
    """Index of the 'Noto Sans CJK SC' face in the .ttc (simplified Chinese
    glyph forms); falls back to 0 (the JP face) if not found."""
    if path not in _cjk_index:
        idx = 0
        for i in range(10):
            try:
                f = ImageFont.truetype(path, 20, index=i)
            except OSError:
                break
            if f.getname()[0] == "Noto Sans CJK SC":
                idx = i
                break
        _cjk_index[path] = idx
    return _cjk_index[path]


def get_font(name, size):
    key = (name, size)
    if key not in _font_cache:
        for n, path, index in LATIN_FONTS + CJK_FONTS:
            if n == name:
                _font_cache[key] = ImageFont.truetype(path, size, index=cjk_face_index(path) if index is None else index)
    return _font_cache[key]


def check_fonts():
    missing = [p for _, p, _ in LATIN_FONTS + CJK_FONTS if not os.path.exists(p)]
    if missing:
        sys.exit("missing fonts (apt-get install -y fonts-dejavu-core fonts-noto-cjk fonts-liberation fonts-freefont-ttf fonts-wqy-microhei fonts-wqy-zenhei): " + ", ".join(missing))


# --------------------------------------------------------------------------
# text content

EN_WORDS = """
open closed exit entrance welcome coffee tea bread milk water fresh market
street road avenue station airport hotel bank school library museum park
garden office room floor parking ticket price total sale discount special
today tomorrow monday friday sunday morning evening night summer winter
north south east west left right center city river bridge tower house
green blue red yellow black white orange silver golden happy quiet simple
fast slow small large pizza burger salad lunch dinner menu order receipt
thank you please push pull stop caution danger warning notice service
phone email address number account payment cash card change delivery
pharmacy hospital doctor police fire emergency information help desk
camera battery power energy system network server update version model
apple banana cherry lemon orange tomato potato carrot onion garlic
""".split()

EN_PHRASES = [
    "No Parking", "Fresh Coffee", "Welcome Home", "Thank You", "Open Daily",
    "Emergency Exit", "Staff Only", "Keep Out", "Wet Floor", "Push to Open",
    "Best Seller", "New Arrivals", "Free WiFi", "Main Street", "Grand Hotel",
    "Happy Birthday", "Good Morning", "Lost and Found", "Ticket Office",
    "City Library", "Park Avenue", "Quiet Please", "Fire Alarm", "Help Desk",
    "Order Here", "Pick Up", "Self Service", "Hot Dogs", "Ice Cream",
    "Daily Specials", "Do Not Enter", "One Way", "Bus Stop", "Taxi Rank",
]

PUNCT_TEXTS = [
    "Hello, world!", "Wait...", "Q&A", "R&D Dept.", "Don't panic!",
    "[draft] v2.1", "Price/kg", "A+B=C", "(see page 4)", "Yes; no; maybe?",
    "info@example.com", "www.example.org", "#hashtag", "50% off!", "Tel: 555-0199",
    "Open 9:00-18:00", "\"Quoted\"", "C:\\temp\\a.txt", "x_max = 10", "Sold out!",
    "Mon-Fri 8am-6pm", "Hi! How are you?", "Note: fragile", "5 * 3 = 15",
    "{key: value}", "<tag>", "it's ~42~", "1/2 price", "a|b|c", "$ave 20%!",
]

ZH_WORDS = """
欢迎光临 出口 入口 停车场 营业时间 北京 上海 广州 深圳 杭州 南京 成都 中国银行
超市 药店 餐厅 咖啡 火车站 地铁站 公交车站 禁止吸烟 小心地滑 安全出口 电话 地址
价格 特价 新鲜水果 蔬菜 牛奶 面包 学校 医院 图书馆 公园 酒店 银行 邮局 洗手间
请勿停车 谢谢惠顾 会员价 今日特价 开业大吉 生日快乐 新年快乐 人民路 中山路 解放路
科技有限公司 欢迎您 请排队 注意安全 办公室 会议室 电梯 楼梯 收银台 服务台 售票处
候车室 温馨提示 保持安静 天气预报 多云 小雨 星期一 星期五 人工智能 机器学习
数据中心 手机 电脑 充电 免费无线网络 外卖 快递 打折 促销 限时抢购 原价 现价 数量
单价 合计 找零 收据 发票 东门 南门 西门 北门 大学 中学 小学 体育馆 博物馆 电影院
""".split()

ZH_TEMPLATES = [
    "价格：{n}元", "{n}号楼", "第{n}章", "{y}年{m}月{d}日", "电话：{phone}",
    "合计：{price}元", "{k}折", "{road}{n}号", "{w}，{w2}", "{w}！", "{w}（{w2}）",
    "{w}{w2}", "{w} {w2}", "共{n}件", "{n}楼{w}",
]
ZH_ROADS = ["人民路", "中山路", "解放路", "建设路", "长江路", "和平街"]

CATEGORY_WEIGHTS = [("en_word", 16), ("en_phrase", 16), ("digits", 22), ("punct", 14), ("zh", 32)]


def rand_letters(rng, n):
    return "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(n))


def gen_digits(rng):
    t = rng.randrange(13)
    if t == 0:
        return f"${rng.randrange(1, 999)}.{rng.randrange(100):02d}"
    if t == 1:
        return f"￥{rng.randrange(1, 9999)}.{rng.choice(['00', '50', '90', '99'])}"
    if t == 2:
        return f"{rng.randrange(1990, 2031)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
    if t == 3:
        return f"{rng.randrange(1, 29):02d}/{rng.randrange(1, 13):02d}/{rng.randrange(1990, 2031)}"
    if t == 4:
        return f"{rng.randrange(24):02d}:{rng.randrange(60):02d}"
    if t == 5:
        return f"{rand_letters(rng, 2)}-{rng.randrange(10000):04d}"
    if t == 6:
        return f"{rand_letters(rng, 3)} {rng.randrange(100, 1000)}"
    if t == 7:
        return f"{rng.randrange(100, 1000)}-{rng.randrange(10000):04d}"
    if t == 8:
        return f"+86 {rng.randrange(130, 190)} {rng.randrange(10000):04d} {rng.randrange(10000):04d}"
    if t == 9:
        return f"{rng.randrange(1, 100)}%"
    if t == 10:
        return f"{rng.randrange(1, 10)},{rng.randrange(1000):03d}.{rng.randrange(100):02d}"
    if t == 11:
        return str(rng.randrange(10, 10 ** rng.randrange(3, 10)))
    return f"No. {rng.randrange(1, 500)}"


def gen_en_word(rng):
    w = rng.choice(EN_WORDS)
    s = rng.random()
    if s < 0.3:
        return w.upper()
    if s < 0.6:
        return w.capitalize()
    return w


def gen_en_phrase(rng):
    if rng.random() < 0.5:
        p = rng.choice(EN_PHRASES)
    else:
        p = " ".join(rng.choice(EN_WORDS) for _ in range(rng.randrange(2, 4)))
        p = p.capitalize() if rng.random() < 0.6 else p
    return p.upper() if rng.random() < 0.2 else p


def gen_zh(rng):
    if rng.random() < 0.45:
        return rng.choice(ZH_WORDS)
    t = rng.choice(ZH_TEMPLATES)
    return t.format(
        n=rng.randrange(1, 300), y=rng.randrange(1990, 2031), m=rng.randrange(1, 13),
        d=rng.randrange(1, 29), phone=f"{rng.randrange(130, 190)}{rng.randrange(10**8):08d}",
        price=f"{rng.randrange(1, 999)}.{rng.randrange(100):02d}", k=rng.randrange(5, 10),
        road=rng.choice(ZH_ROADS), w=rng.choice(ZH_WORDS), w2=rng.choice(ZH_WORDS))


GENERATORS = {
    "en_word": gen_en_word, "en_phrase": gen_en_phrase, "digits": gen_digits,
    "punct": lambda rng: rng.choice(PUNCT_TEXTS), "zh": gen_zh,
}


def is_cjk(text):
    return any("\u3000" <= c <= "\u9fff" or "\uff00" <= c <= "\uffef" for c in text)


def gen_text(rng, dictionary, category=None):
    cats, weights = zip(*CATEGORY_WEIGHTS)
    for _ in range(100):
        cat = category or rng.choices(cats, weights)[0]
        text = GENERATORS[cat](rng)
        text = " ".join(text.split())  # no leading/trailing/double spaces
        if 1 <= len(text) <= 25 and all(c in dictionary for c in text):
            return cat, text
    raise RuntimeError("could not generate text in dictionary")


def pick_font(rng, text):
    return rng.choice(CJK_FONTS if is_cjk(text) else LATIN_FONTS)[0]


# --------------------------------------------------------------------------
# colours, backgrounds, degradations

def rand_color(rng, light):
    """A colour whose luminance is in the light (>=175) or dark (<=80) band."""
    for _ in range(1000):
        c = tuple(rng.randrange(256) for _ in range(3))
        lum = 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]
        if (light and lum >= 175) or (not light and lum <= 80):
            return c
    return (235, 235, 235) if light else (20, 20, 20)


def low_contrast_text_color(rng, bg, light_bg):
    d = rng.randrange(70, 110)
    return tuple(max(0, min(255, v - d if light_bg else v + d)) for v in bg)


def make_background(rng, nrng, w, h, light):
    kind = rng.choice(["flat", "flat", "gradient", "noise"])
    c1 = rand_color(rng, light)
    if kind == "flat":
        img = Image.new("RGB", (w, h), c1)
    elif kind == "gradient":
        c2 = rand_color(rng, light)
        horiz = rng.random() < 0.5
        t = np.linspace(0.0, 1.0, w if horiz else h, dtype=np.float32)
        row = (np.array(c1, np.float32)[None, :] * (1 - t[:, None]) + np.array(c2, np.float32)[None, :] * t[:, None])
        arr = np.broadcast_to(row[None, :, :], (h, w, 3)) if horiz else np.broadcast_to(row[:, None, :], (h, w, 3))
        img = Image.fromarray(np.ascontiguousarray(arr).round().astype(np.uint8))
    else:
        small = nrng.normal(0.0, 18.0, size=(max(2, h // 16), max(2, w // 16), 3)).astype(np.float32)
        noise = np.asarray(Image.fromarray(np.clip(small + 128, 0, 255).astype(np.uint8)).resize((w, h), Image.BICUBIC), np.float32) - 128
        arr = np.clip(np.array(c1, np.float32)[None, None, :] + noise, 0, 255)
        img = Image.fromarray(arr.round().astype(np.uint8))
    return img, kind


def add_clutter(rng, img, light):
    """Soft non-text shapes in the background colour family."""
    d = ImageDraw.Draw(img)
    w, h = img.size
    for _ in range(rng.randrange(0, 4)):
        c = rand_color(rng, light)
        x0, y0 = rng.randrange(w), rng.randrange(h)
        x1, y1 = x0 + rng.randrange(40, w // 2), y0 + rng.randrange(40, h // 2)
        if rng.random() < 0.5:
            d.rectangle([x0, y0, x1, y1], fill=c)
        else:
            d.ellipse([x0, y0, x1, y1], fill=c)


def degrade(rng, nrng, img, hard):
    ops = []
    if rng.random() < (0.8 if hard else 0.3):
        r = round(rng.uniform(1.0, 1.6) if hard else rng.uniform(0.3, 1.0), 2)
        img = img.filter(ImageFilter.GaussianBlur(r))
        ops.append(f"blur{r}")
    if rng.random() < (0.7 if hard else 0.3):
        s = round(rng.uniform(10, 20) if hard else rng.uniform(2, 9), 1)
        arr = np.asarray(img, np.float32) + nrng.normal(0.0, s, size=(img.size[1], img.size[0], 3)).astype(np.float32)
        img = Image.fromarray(np.clip(arr, 0, 255).round().astype(np.uint8))
        ops.append(f"noise{s}")
    return img, ops


def save_image(img, path, fmt, quality=None):
    if fmt == "jpg":
        img.save(path, "JPEG", quality=quality, optimize=False, progressive=False, subsampling=2)
    elif fmt == "bmp":
        img.save(path, "BMP")
    else:
        img.save(path, "PNG", optimize=False, compress_level=9)


def choose_format(rng, hard, force_bmp):
    if force_bmp:
        return "bmp", None
    if rng.random() < (0.6 if hard else 0.3):
        return "jpg", (rng.randrange(40, 60) if hard else rng.randrange(55, 91))
    return "png", None


# --------------------------------------------------------------------------
# text rendering

def ink_box(font, text):
    """Tight ink bbox of `text` drawn at origin, plus the vertical extent of a
    reference string (so line heights do not depend on the content)."""
    bb = font.getbbox(text)
    ref = font.getbbox("国Ag" if is_cjk(text) else "Ag")
    return bb, (min(bb[1], ref[1]), max(bb[3], ref[3]))


def font_size_for_height(font_name, text, target_h):
    """Largest font size whose reference line height is <= target_h."""
    lo, hi = 6, 200
    while lo < hi:
        mid = (lo + hi + 1) // 2
        _, (t, b) = ink_box(get_font(font_name, mid), text)
        if b - t <= target_h:
            lo = mid
        else:
            hi = mid - 1
    return lo


def render_line_image(rng, nrng, text, font_name, hard, light_bg, bg_kind=None):
    height = rng.randrange(32, 65)
    my = rng.randrange(2, 7)
    fs = font_size_for_height(font_name, text, height - 2 * my)
    font = get_font(font_name, fs)
    bb, (vt, vb) = ink_box(font, text)
    mx0, mx1 = rng.randrange(2, 9), rng.randrange(2, 9)
    w = (bb[2] - bb[0]) + mx0 + mx1
    h = (vb - vt) + 2 * my
    bg, kind = make_background(rng, nrng, w, h, light_bg)
    if bg_kind == "flat":
        bg = Image.new("RGB", (w, h), bg.getpixel((0, 0)))
    bgc = bg.getpixel((w // 2, h // 2))
    color = low_contrast_text_color(rng, bgc, light_bg) if hard and rng.random() < 0.5 else rand_color(rng, not light_bg)
    ox, oy = mx0 - bb[0], my - vt
    ImageDraw.Draw(bg).text((ox, oy), text, font=font, fill=color)
    box = [[bb[0] + ox, bb[1] + oy], [bb[2] + ox, bb[1] + oy], [bb[2] + ox, bb[3] + oy], [bb[0] + ox, bb[3] + oy]]
    return bg, box, {"font": font_name, "size": fs, "bg": kind}


def render_rotated_layer(text, font, color, angle):
    """RGBA layer with the text, rotated by `angle` degrees (counter-clockwise);
    returns the layer and the ink-box corners (TL, TR, BR, BL) in layer coords."""
    bb = font.getbbox(text)
    pad = 4
    w, h = bb[2] - bb[0] + 2 * pad, bb[3] - bb[1] + 2 * pad
    layer = Image.new("RGBA", (w, h), color + (0,))
    ImageDraw.Draw(layer).text((pad - bb[0], pad - bb[1]), text, font=font, fill=color + (255,))
    corners = [(pad, pad), (w - pad, pad), (w - pad, h - pad), (pad, h - pad)]
    if angle == 0:
        return layer, [[float(x), float(y)] for x, y in corners]
    rot = layer.rotate(angle, resample=Image.BICUBIC, expand=True)
    nw, nh = rot.size
    a = math.radians(angle)
    ca, sa = math.cos(a), math.sin(a)
    out = []
    for x, y in corners:
        dx, dy = x - w / 2.0, y - h / 2.0
        # counter-clockwise on screen (y axis down)
        out.append([nw / 2.0 + dx * ca + dy * sa, nh / 2.0 - dx * sa + dy * ca])
    return rot, out


def rects_overlap(a, b):
    return not (a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1])


def render_scene(rng, nrng, dictionary, size=None, nlines=None, hard=False, height_range=None, categories=None, rotate_p=0.35):
    if size is None:
        w = rng.randrange(640, 1025, 16)
        h = rng.randrange(480, min(w, 768) + 1, 16)
    else:
        w, h = size
    light_bg = rng.random() < 0.7
    img, bg_kind = make_background(rng, nrng, w, h, light_bg)
    if rng.random() < 0.5:
        add_clutter(rng, img, light_bg)
    n = nlines or rng.randrange(3, 9)
    hr = height_range or (max(16, h // 30), max(24, h // 11))
    placed, lines, metas = [], [], []
    for li in range(n):
        cat = categories[li] if categories else None
        cat, text = gen_text(rng, dictionary, cat)
        font_name = pick_font(rng, text)
        ok = False
        for attempt in range(4):
            th = max(12, int(rng.randrange(hr[0], hr[1] + 1) * (0.8 ** attempt)))
            fs = font_size_for_height(font_name, text, th)
            font = get_font(font_name, fs)
            angle = round(rng.uniform(-5, 5), 2) if rng.random() < rotate_p else 0.0
            bgc = img.getpixel((w // 2, h // 2))
            color = low_contrast_text_color(rng, bgc, light_bg) if hard and rng.random() < 0.3 else rand_color(rng, not light_bg)
            layer, corners = render_rotated_layer(text, font, color, angle)
            lw, lh = layer.size
            if lw + 8 > w or lh + 8 > h:
                continue
            gx, gy = int(0.8 * th) + 4, int(0.35 * th) + 4  # keep lines apart so det does not merge them
            ok = False
            for _ in range(60):
                px, py = rng.randrange(4, w - lw - 3), rng.randrange(4, h - lh - 3)
                r = (px - gx, py - gy, px + lw + gx, py + lh + gy)
                if not any(rects_overlap(r, p) for p in placed):
                    ok = True
                    break
            if ok:
                break
        if not ok:
            continue
        placed.append((px, py, px + lw, py + lh))
        img.paste(layer, (px, py), layer)
        box = [[round(x + px, 1), round(y + py, 1)] for x, y in corners]
        lines.append({"text": text, "box": box})
        metas.append({"category": cat, "font": font_name, "size": fs, "angle": angle})
    return img, lines, {"bg": bg_kind, "light_bg": light_bg, "lines": metas}


# --------------------------------------------------------------------------
# drivers

def gen_line(seed, i, dictionary, out, force_bmp=False, category=None, clean=False, fmt=None):
    rng = random.Random(f"{seed}:line:{i}")
    nrng = np.random.default_rng([seed, 1, i])
    hard = (not clean) and rng.random() < 0.12
    cat, text = gen_text(rng, dictionary, category)
    font_name = pick_font(rng, text)
    light_bg = rng.random() < 0.7
    img, box, meta = render_line_image(rng, nrng, text, font_name, hard, light_bg, bg_kind="flat" if clean else None)
    ops = []
    if not clean:
        img, ops = degrade(rng, nrng, img, hard)
    f, q = (fmt, 85 if fmt == "jpg" else None) if fmt else choose_format(rng, hard, force_bmp)
    rel = f"lines/{i:06d}.{f}"
    save_image(img, out / rel, f, q)
    label = {"image": rel, "kind": "line", "lines": [{"text": text, "box": box}]}
    meta.update({"image": rel, "category": cat, "hard": hard, "light_bg": light_bg, "degradations": ops, "format": f, "quality": q})
    return label, meta


def gen_scene(seed, i, dictionary, out, force_bmp=False, clean=False, fmt=None, **kw):
    rng = random.Random(f"{seed}:scene:{i}")
    nrng = np.random.default_rng([seed, 2, i])
    hard = (not clean) and rng.random() < 0.12
    img, lines, meta = render_scene(rng, nrng, dictionary, hard=hard, **kw)
    ops = []
    if not clean:
        img, ops = degrade(rng, nrng, img, hard)
    f, q = (fmt, 85 if fmt == "jpg" else None) if fmt else choose_format(rng, hard, force_bmp)
    rel = f"scenes/{i:06d}.{f}"
    save_image(img, out / rel, f, q)
    label = {"image": rel, "kind": "scene", "lines": lines}
    meta.update({"image": rel, "hard": hard, "degradations": ops, "format": f, "quality": q})
    return label, meta


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--lines", type=int, default=200)
    ap.add_argument("--scenes", type=int, default=20)
    ap.add_argument("--golden", action="store_true", help="write the fixed 6-image golden set instead")
    ap.add_argument("--fonts", choices=sorted(FONT_SETS), default="default",
                    help="font set: `heldout` shares no font with `default` (for evaluation sets no tuning saw)")
    args = ap.parse_args()

    use_font_set(args.fonts)
    check_fonts()
    dictionary = load_dictionary()
    out = args.out
    (out / "lines").mkdir(parents=True, exist_ok=True)
    (out / "scenes").mkdir(parents=True, exist_ok=True)
    labels, metas = [], []

    if args.golden:
        for i, cat in enumerate(["en_phrase", "zh", "punct", "digits"], start=1):
            l, m = gen_line(args.seed, i, dictionary, out, category=cat, clean=True, fmt="png")
            labels.append(l)
            metas.append(m)
        for i, (fmt, n) in enumerate([("png", 3), ("jpg", 2)], start=1):
            cats = ["en_phrase", "zh", "digits"][:n] if i == 1 else ["en_word", "zh"]
            l, m = gen_scene(args.seed, i, dictionary, out, clean=True, fmt=fmt, size=(320, 240), nlines=n,
                             height_range=(18, 26), categories=cats, rotate_p=0.0 if i == 1 else 0.5)
            labels.append(l)
            metas.append(m)
    else:
        for i in range(1, args.lines + 1):
            l, m = gen_line(args.seed, i, dictionary, out, force_bmp=(i == 5))
            labels.append(l)
            metas.append(m)
        for i in range(1, args.scenes + 1):
            l, m = gen_scene(args.seed, i, dictionary, out, force_bmp=(i == 2))
            labels.append(l)
            metas.append(m)

    with open(out / "labels.jsonl", "w", encoding="utf-8", newline="\n") as f:
        for l in labels:
            f.write(json.dumps(l, ensure_ascii=False) + "\n")
    with open(out / "meta.jsonl", "w", encoding="utf-8", newline="\n") as f:
        for m in metas:
            f.write(json.dumps(m, ensure_ascii=False) + "\n")
    print(f"wrote {len(labels)} images to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
