#!/usr/bin/env python3
"""Loopback TCP proxy that fixes Tansu's ApiVersions responses for librdkafka < 2.2.0.

Tansu ends its ApiVersions (api_key 18) v3+ response with a non-empty top-level
tagged-field section. librdkafka 2.0.2 (Debian bookworm) mis-skips those tagged
fields and fails every connection with "Protocol read buffer underflow for
ApiVersion v3". This proxy sits in front of Tansu and, for every ApiVersions
request of version >= 3 it sees on a connection, rewrites the trailing tagged
fields of the matching response to an empty section (a single 0x00 byte) and
fixes the frame length. Every other byte is passed through unchanged, in both
directions. Half-closes are forwarded.

Kafka framing: 4-byte big-endian length, then the body.
Request header:  int16 api_key, int16 api_version, int32 correlation_id, ...
Response header: int32 correlation_id (ApiVersions always uses response header v0).
ApiVersions response v3+ body (after the header):
  int16 error_code
  compact array api_keys: uvarint N+1, then per entry
      int16 api_key, int16 min_version, int16 max_version, tagged fields
  int32 throttle_time_ms
  tagged fields: uvarint count, then per field uvarint tag, uvarint size, bytes

TLS: with --tls-cert/--tls-key the listening side speaks TLS (the proxy terminates it;
the hop to the broker stays plain on loopback). Tansu 0.6.0 cannot serve TLS itself: its
CLI puts --cert and --key in one clap group that allows only one of them ("the argument
'--cert <CERT>' cannot be used with '--key <KEY>'"), and its broker builds the TLS acceptor
but never uses it (`let _acceptor = ...` in tansu-broker/src/broker.rs at v0.6.0), so
connections stay plaintext whatever is given. Terminating TLS here is what lets librdkafka's
TLS client (CA verification, hostname check) be exercised against a real broker.

Python 3.11 standard library only. Binds to 127.0.0.1 only.

Usage: kafka_apiversions_proxy.py --listen PORT --upstream PORT [--tls-cert PEM --tls-key PEM] [--verbose]
  --listen 0 picks a free port; the chosen port is printed on the ready line:
  "kafka_apiversions_proxy ready listen=127.0.0.1:PORT upstream=127.0.0.1:PORT" (+ " tls=on")
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import ssl
import sys
import time

HOST = "127.0.0.1"
API_VERSIONS = 18
READ_SIZE = 256 * 1024
# A response frame we hold for rewriting is never this big; anything larger is passed through.
MAX_HELD_FRAME = 16 * 1024 * 1024

VERBOSE = False
STATS = {"connections": 0, "rewrites": 0, "passed_unchanged": 0}


def log(msg: str) -> None:
    sys.stderr.write(f"{time.strftime('%H:%M:%S')} kafka_apiversions_proxy: {msg}\n")
    sys.stderr.flush()


def read_uvarint(buf: bytes, pos: int) -> tuple[int, int]:
    """Decode an unsigned varint at pos; return (value, new_pos). Raises ValueError."""
    value = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7
        if shift > 28:
            raise ValueError("varint too long")


def skip_tagged_fields(buf: bytes, pos: int) -> int:
    count, pos = read_uvarint(buf, pos)
    for _ in range(count):
        _tag, pos = read_uvarint(buf, pos)
        size, pos = read_uvarint(buf, pos)
        pos += size
        if pos > len(buf):
            raise ValueError("truncated tagged field")
    return pos


def rewrite_api_versions_response(frame: bytes) -> bytes | None:
    """frame = 4-byte length + body. Return the rewritten frame, or None to pass it unchanged.

    Only a well-formed v3+ response whose layout parses exactly to the end of the
    frame is rewritten; anything else (e.g. an UNSUPPORTED_VERSION error answered in
    the v0 layout) is left alone.
    """
    body = frame[4:]
    pos = 4  # correlation_id (response header v0)
    if len(body) < pos + 2:
        raise ValueError("short response")
    pos += 2  # error_code
    n_plus_one, pos = read_uvarint(body, pos)
    if n_plus_one == 0:
        raise ValueError("null api_keys array")
    for _ in range(n_plus_one - 1):
        pos += 6  # api_key, min_version, max_version
        if pos > len(body):
            raise ValueError("truncated api_keys entry")
        pos = skip_tagged_fields(body, pos)
    pos += 4  # throttle_time_ms
    if pos > len(body):
        raise ValueError("truncated throttle_time_ms")
    tags_start = pos
    end = skip_tagged_fields(body, pos)
    if end != len(body):
        raise ValueError(f"{len(body) - end} trailing bytes after tagged fields")
    if end - tags_start == 1:  # already empty
        return None
    new_body = body[:tags_start] + b"\x00"
    return len(new_body).to_bytes(4, "big") + new_body


class RequestScanner:
    """Observes the client->broker byte stream frame by frame (without modifying it) and
    records the correlation id and version of every ApiVersions request."""

    HEADER = 12  # length(4) + api_key(2) + api_version(2) + correlation_id(4)

    def __init__(self, pending: dict[int, int], name: str) -> None:
        self.pending = pending
        self.name = name
        self.hdr = bytearray()
        self.skip = 0
        self.raw = False  # lost framing: stop parsing, keep forwarding

    def feed(self, chunk: bytes) -> None:
        if self.raw:
            return
        i, n = 0, len(chunk)
        while i < n:
            if self.skip:
                take = min(self.skip, n - i)
                self.skip -= take
                i += take
                continue
            take = min(self.HEADER - len(self.hdr), n - i)
            self.hdr += chunk[i:i + take]
            i += take
            if len(self.hdr) < self.HEADER:
                return
            length = int.from_bytes(self.hdr[0:4], "big", signed=True)
            api_key = int.from_bytes(self.hdr[4:6], "big", signed=True)
            api_version = int.from_bytes(self.hdr[6:8], "big", signed=True)
            corr = int.from_bytes(self.hdr[8:12], "big", signed=True)
            self.hdr.clear()
            if length < 8:
                log(f"{self.name}: bad request frame length {length}; passing raw from now on")
                self.raw = True
                return
            self.skip = length - 8
            if api_key == API_VERSIONS:
                self.pending[corr] = api_version
                if VERBOSE:
                    log(f"{self.name}: ApiVersions request v{api_version} corr={corr}")


class ResponseRewriter:
    """Transforms the broker->client byte stream: holds and rewrites ApiVersions v3+
    responses whose correlation id was recorded by the RequestScanner; everything else
    is passed through as it arrives."""

    HEADER = 8  # length(4) + correlation_id(4)

    def __init__(self, pending: dict[int, int], name: str) -> None:
        self.pending = pending
        self.name = name
        self.hdr = bytearray()
        self.skip = 0
        self.held: bytearray | None = None
        self.held_need = 0
        self.raw = False

    def feed(self, chunk: bytes) -> bytes:
        """Return the bytes to send to the client for this chunk (possibly fewer, when a
        frame header or a frame to rewrite is incomplete; they follow with later chunks)."""
        n = len(chunk)
        if self.raw or (self.skip >= n and self.held is None and not self.hdr):
            self.skip = max(0, self.skip - n)
            return chunk
        mv = memoryview(chunk)
        out: list[bytes | memoryview] = []
        i = 0
        while i < n:
            if self.skip:
                take = min(self.skip, n - i)
                out.append(mv[i:i + take])
                self.skip -= take
                i += take
                continue
            if self.held is not None:
                take = min(self.held_need, n - i)
                self.held += mv[i:i + take]
                self.held_need -= take
                i += take
                if self.held_need == 0:
                    out.append(self._finish_held())
                continue
            # Frame header: never forwarded before it is complete, because the frame
            # may have to be rewritten (its length changes).
            take = min(self.HEADER - len(self.hdr), n - i)
            self.hdr += mv[i:i + take]
            i += take
            if len(self.hdr) < self.HEADER:
                break
            hdr = bytes(self.hdr)
            self.hdr.clear()
            length = int.from_bytes(hdr[0:4], "big", signed=True)
            corr = int.from_bytes(hdr[4:8], "big", signed=True)
            if length < 4:
                log(f"{self.name}: bad response frame length {length}; passing raw from now on")
                self.raw = True
                out.append(hdr)
                out.append(mv[i:])
                break
            version = self.pending.pop(corr, None)
            if version is None or version < 3 or length > MAX_HELD_FRAME:
                out.append(hdr)
                self.skip = length - 4
                continue
            self.held = bytearray(hdr)
            self.held_need = length - 4
            if self.held_need == 0:
                out.append(self._finish_held())
        if len(out) == 1 and isinstance(out[0], memoryview) and len(out[0]) == n:
            return chunk
        return b"".join(out)

    def _finish_held(self) -> bytes:
        frame = bytes(self.held)  # type: ignore[arg-type]
        self.held = None
        try:
            new = rewrite_api_versions_response(frame)
        except ValueError as e:
            STATS["passed_unchanged"] += 1
            log(f"{self.name}: ApiVersions response not rewritten ({e}); passed unchanged")
            return frame
        if new is None:
            STATS["passed_unchanged"] += 1
            if VERBOSE:
                log(f"{self.name}: ApiVersions response already has no tagged fields")
            return frame
        STATS["rewrites"] += 1
        if VERBOSE or STATS["rewrites"] == 1:
            log(f"{self.name}: rewrote ApiVersions response: {len(frame)} -> {len(new)} bytes")
        return new


async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, transform, name: str,
               at_eof=None) -> None:
    """Copy reader -> writer through transform until EOF, then half-close writer."""
    try:
        while True:
            chunk = await reader.read(READ_SIZE)
            if not chunk:
                break
            data = transform(chunk)
            if data:
                writer.write(data)
                await writer.drain()
        rest = at_eof() if at_eof else b""
        if rest:
            writer.write(rest)
            await writer.drain()
        if not writer.is_closing():
            if writer.can_write_eof():
                writer.write_eof()
            else:
                # TLS has no half-close: end the whole connection so the peer still sees the end.
                writer.close()
    except (ConnectionError, OSError) as e:
        if VERBOSE:
            log(f"{name}: {type(e).__name__}: {e}")
        raise


class ResponseFeeder:
    """Wraps ResponseRewriter so bytes still held back at EOF (a truncated last frame)
    are delivered unchanged before the half-close."""

    def __init__(self, rw: ResponseRewriter) -> None:
        self.rw = rw

    def __call__(self, chunk: bytes) -> bytes:
        return self.rw.feed(chunk)

    def leftover(self) -> bytes:
        rest = bytes(self.rw.hdr)
        if self.rw.held is not None:
            rest = bytes(self.rw.held) + rest
        self.rw.hdr.clear()
        self.rw.held = None
        return rest


async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter, upstream: int) -> None:
    STATS["connections"] += 1
    cid = STATS["connections"]
    peer = client_w.get_extra_info("peername")
    name = f"conn#{cid} {peer[0]}:{peer[1]}" if peer else f"conn#{cid}"
    try:
        up_r, up_w = await asyncio.open_connection(HOST, upstream, limit=READ_SIZE)
    except OSError as e:
        log(f"{name}: cannot connect to upstream {HOST}:{upstream}: {e}")
        client_w.close()
        return
    if VERBOSE:
        log(f"{name}: open")
    pending: dict[int, int] = {}
    scanner = RequestScanner(pending, name)
    feeder = ResponseFeeder(ResponseRewriter(pending, name))

    def observe(chunk: bytes) -> bytes:
        scanner.feed(chunk)
        return chunk

    up_task = asyncio.ensure_future(pump(client_r, up_w, observe, name + " client->broker"))
    down_task = asyncio.ensure_future(
        pump(up_r, client_w, feeder, name + " broker->client", at_eof=feeder.leftover))
    try:
        # Wait for both directions; a failure in one tears down both.
        done, pend = await asyncio.wait({up_task, down_task}, return_when=asyncio.FIRST_EXCEPTION)
        for t in pend:
            t.cancel()
        for t in pend:
            try:
                await t
            except BaseException:
                pass
        for t in done:
            t.exception()  # mark retrieved
    finally:
        for t in (up_task, down_task):
            if not t.done():
                t.cancel()
        for w in (client_w, up_w):
            try:
                w.close()
            except Exception:
                pass
        for w in (client_w, up_w):
            try:
                await w.wait_closed()
            except Exception:
                pass
        if VERBOSE:
            log(f"{name}: closed")


def server_tls_context(cert: str, key: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    return ctx


async def main_async(listen: int, upstream: int, tls: ssl.SSLContext | None = None) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    conn_tasks: set[asyncio.Task] = set()

    async def on_client(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        conn_tasks.add(task)
        try:
            await handle(r, w, upstream)
        except asyncio.CancelledError:
            pass  # shutdown: end quietly (asyncio's stream callback would log a cancelled task)
        finally:
            conn_tasks.discard(task)

    server = await asyncio.start_server(on_client, HOST, listen, limit=READ_SIZE, reuse_address=True,
                                        ssl=tls, ssl_handshake_timeout=10 if tls is not None else None)
    port = server.sockets[0].getsockname()[1]
    suffix = " tls=on" if tls is not None else ""
    print(f"kafka_apiversions_proxy ready listen={HOST}:{port} upstream={HOST}:{upstream}{suffix}", flush=True)
    await stop.wait()
    server.close()
    for t in list(conn_tasks):
        t.cancel()
    if conn_tasks:
        await asyncio.wait(list(conn_tasks), timeout=2)
    await server.wait_closed()
    log(f"stopping: {STATS['connections']} connections, {STATS['rewrites']} ApiVersions responses rewritten, "
        f"{STATS['passed_unchanged']} passed unchanged")
    return 0


def main() -> int:
    global VERBOSE
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listen", type=int, required=True, help="port to listen on at 127.0.0.1 (0 = pick a free one)")
    ap.add_argument("--upstream", type=int, required=True, help="Tansu's port at 127.0.0.1")
    ap.add_argument("--tls-cert", help="PEM certificate (chain) to serve TLS with on the listening side")
    ap.add_argument("--tls-key", help="PEM private key of --tls-cert")
    ap.add_argument("--verbose", action="store_true", help="log every connection and rewrite")
    args = ap.parse_args()
    VERBOSE = args.verbose
    for p in (args.listen, args.upstream):
        if not 0 <= p <= 65535:
            ap.error(f"bad port {p}")
    if (args.tls_cert is None) != (args.tls_key is None):
        ap.error("--tls-cert and --tls-key go together")
    tls = None
    if args.tls_cert is not None:
        try:
            tls = server_tls_context(args.tls_cert, args.tls_key)
        except (OSError, ssl.SSLError) as e:
            log(f"error: cannot load the TLS certificate/key: {e}")
            return 1
    try:
        return asyncio.run(main_async(args.listen, args.upstream, tls))
    except OSError as e:
        log(f"error: {e}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
