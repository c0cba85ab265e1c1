"""A server that answers at once, so a benchmark measures the client alone.

Raw asyncio, HTTP/1.1 keep-alive, one canned answer per route: `POST /chat/...` gets a short chat
answer, `POST /image/generate` a 30 MiB image in its base64 JSON, `POST /image/upscale` a small image
(whatever it was sent: an upload's body is counted, not kept). Plain or TLS. Run as
`python -m bench.server [--certfile F --keyfile F]`; it prints its port on the first line of stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import ssl
import sys
from typing import ClassVar

IMAGE_BYTES = 30 * 1024 * 1024
CHAT_ANSWER = {"message": "KelyAI (chatgpt) in the sandbox: you said 'hello'"}


def _response(payload: bytes) -> bytes:
    head = (
        "HTTP/1.1 200 OK\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n"
        "Connection: keep-alive\r\n\r\n"
    )
    return head.encode("ascii") + payload


def _image_answer(size: int) -> bytes:
    image = b"\x89PNG\r\n\x1a\n" + bytes(size - 8)
    return _response(json.dumps({"image": base64.b64encode(image).decode("ascii")}).encode("ascii"))


class _Http(asyncio.Protocol):
    answers: ClassVar[dict[bytes, bytes]] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = b""
        self.body_left = 0  # bytes of the current request's body still to come
        self.answer = b""  # for the current request, once its body is in

    def data_received(self, data: bytes) -> None:
        if self.body_left:
            if len(data) < self.body_left:
                self.body_left -= len(data)
                return
            data, self.body_left = data[self.body_left :], 0
            self.transport.write(self.answer)
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            path = head.split(" ", 2)[1]
            self.answer = self.answers.get(path.lstrip("/").encode(), self.answers[b"chat"])
            if len(self.buffer) < end + 4 + length:
                self.body_left = end + 4 + length - len(self.buffer)
                self.buffer = b""
                return
            self.buffer = self.buffer[end + 4 + length :]
            self.transport.write(self.answer)


async def serve(tls: ssl.SSLContext | None) -> None:
    """Serve on a free loopback port until killed; print the port first."""
    _Http.answers = {
        b"chat": _response(json.dumps(CHAT_ANSWER).encode()),
        b"image/generate": _image_answer(IMAGE_BYTES),
        b"image/upscale": _image_answer(64),
    }
    server = await asyncio.get_running_loop().create_server(_Http, "127.0.0.1", 0, ssl=tls, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


def main() -> None:
    """Parse the command line and serve."""
    parser = argparse.ArgumentParser(prog="python -m bench.server")
    parser.add_argument("--certfile")
    parser.add_argument("--keyfile")
    args = parser.parse_args()
    tls = None
    if args.certfile:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.certfile, args.keyfile)
    try:
        asyncio.run(serve(tls))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
