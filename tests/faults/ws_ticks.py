#!/usr/bin/env python3
"""Counts the tick frames the live stream sends in a few seconds (standard library only).

Usage: ws_ticks.py PORT SECONDS   -- prints the number of tick frames received; exits 1 if the
handshake fails or the server closes the stream.
"""
import base64
import json
import os
import socket
import struct
import sys
import time


def read_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("the server closed the connection")
        data += chunk
    return data


def main():
    port, seconds = int(sys.argv[1]), float(sys.argv[2])
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            "GET /ws/market/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += read_exact(sock, 1)
    if b" 101 " not in head.split(b"\r\n")[0]:
        print(f"handshake refused: {head.splitlines()[0]!r}", file=sys.stderr)
        sys.exit(1)
    ticks = 0
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            b0, b1 = read_exact(sock, 2)
        except socket.timeout:
            break
        length = b1 & 0x7F
        if length == 126:
            length = struct.unpack(">H", read_exact(sock, 2))[0]
        elif length == 127:
            length = struct.unpack(">Q", read_exact(sock, 8))[0]
        payload = read_exact(sock, length)
        opcode = b0 & 0x0F
        if opcode == 0x8:
            print("the server closed the stream", file=sys.stderr)
            sys.exit(1)
        if opcode == 0x1:
            frame = json.loads(payload)
            if "symbol" in frame and "price" in frame and "type" not in frame:
                ticks += 1
    print(ticks)


if __name__ == "__main__":
    main()
