#!/usr/bin/env python3
"""Decode the oar-edge serial protocol (docs/protocol.md).

Reads a serial port (needs pyserial) or a file / stdin of raw bytes and prints one JSON object
per message.

    tools/serial_decode.py /dev/ttyUSB0 --baud 115200
    tools/serial_decode.py capture.bin
    cat capture.bin | tools/serial_decode.py -
"""
import argparse
import json
import math
import struct
import sys

VERSION = 1
MSG_TRACK = 0x01
MSG_STATUS = 0x02


def crc16_ccitt_false(data: bytes) -> int:
    crc = 0xFFFF
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def cobs_decode(data: bytes) -> bytes:
    out = bytearray()
    i = 0
    while i < len(data):
        code = data[i]
        if code == 0 or i + code > len(data):
            raise ValueError("bad COBS encoding")
        out += data[i + 1:i + code]
        i += code
        if code < 0xFF and i < len(data):
            out.append(0)
    return bytes(out)


def decode_frame(frame: bytes) -> dict:
    """One frame (the bytes between two delimiters) → a message dict; ValueError for a bad frame,
    with the message the Rust decoder gives (src: firmware/stream/src/protocol.rs)."""
    raw = cobs_decode(frame)
    if len(raw) < 4:
        raise ValueError(f"frame too short ({len(raw)} bytes)")
    body, (crc,) = raw[:-2], struct.unpack(">H", raw[-2:])
    computed = crc16_ccitt_false(body)
    if computed != crc:
        raise ValueError(f"CRC mismatch: computed {computed:#06x}, received {crc:#06x}")
    if body[0] != VERSION:
        raise ValueError(f"unsupported protocol version {body[0]}")
    kind, p = body[1], body[2:]
    if kind == MSG_TRACK:
        if len(p) < 17:
            raise ValueError("bad payload: track message too short")
        tid, score, x1, y1, x2, y2, n = struct.unpack("<If4hB", p[:17])
        if len(p) != 17 + n:
            raise ValueError("bad payload: text length does not match")
        try:
            text = p[17:].decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("bad payload: text is not UTF-8") from None
        # JSON has no NaN or infinity: a score that is not finite is printed as null.
        return {"type": "track", "id": tid, "text": text, "score": round(score, 4) if math.isfinite(score) else None,
                "bbox": [x1, y1, x2, y2]}
    if kind == MSG_STATUS:
        if len(p) != 12:
            raise ValueError("bad payload: status message has the wrong length")
        frames, dropped, faults = struct.unpack("<3I", p)
        return {"type": "status", "frames": frames, "dropped": dropped, "faults": faults}
    raise ValueError(f"unknown message type {kind:#04x}")


def decode_stream(chunks):
    """Messages, and {"type": "error"} for each bad frame: a bad frame never ends the stream."""
    buf = bytearray()
    for chunk in chunks:
        for b in chunk:
            if b == 0:
                if buf:
                    try:
                        yield decode_frame(bytes(buf))
                    except (ValueError, struct.error, IndexError) as e:
                        yield {"type": "error", "error": str(e)}
                    buf.clear()
            elif len(buf) < 4096:
                buf.append(b)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input", help="serial port, file, or - for stdin")
    ap.add_argument("--baud", type=int, default=115200)
    args = ap.parse_args()
    if args.input == "-":
        src = iter(lambda: sys.stdin.buffer.read1(4096), b"")
    elif args.input.startswith("/dev/"):
        import serial  # pyserial
        port = serial.Serial(args.input, args.baud, timeout=1)
        src = (port.read(max(1, port.in_waiting)) for _ in iter(int, 1))
    else:
        with open(args.input, "rb") as f:
            data = f.read()
        src = [data]
    try:
        for msg in decode_stream(src):
            print(json.dumps(msg, ensure_ascii=False), flush=True)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
