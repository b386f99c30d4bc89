#!/usr/bin/env python3
"""Self-test of scripts/kafka_apiversions_proxy.py (stdlib only, no broker needed).

Run: python3 Tests/Harness/test_kafka_apiversions_proxy.py
Checks the ApiVersions rewrite on synthetic frames fed in random chunk sizes, that
every other byte passes through unchanged, an end-to-end run of the proxy
process against a tiny fake upstream on loopback (including half-close), and TLS
termination (--tls-cert/--tls-key) with a throwaway CA: a client trusting that CA
gets the rewritten bytes, one trusting another CA fails the handshake (needs the
openssl command; skipped without it).
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PROXY = os.path.join(ROOT, "scripts", "kafka_apiversions_proxy.py")
sys.path.insert(0, os.path.join(ROOT, "scripts"))
sys.dont_write_bytecode = True  # leave no __pycache__ in scripts/

import kafka_apiversions_proxy as kp  # noqa: E402


def uvarint(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def frame(body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + body


def request(api_key: int, version: int, corr: int, payload: bytes = b"") -> bytes:
    client_id = b"test"
    return frame(api_key.to_bytes(2, "big") + version.to_bytes(2, "big") + corr.to_bytes(4, "big", signed=True)
                 + len(client_id).to_bytes(2, "big") + client_id + payload)


def api_versions_v3_body(n_keys: int, top_tags: list[tuple[int, bytes]], entry_tags: bool = False) -> bytes:
    b = bytearray(b"\x00\x00")  # error_code
    b += uvarint(n_keys + 1)
    for k in range(n_keys):
        b += k.to_bytes(2, "big") + (0).to_bytes(2, "big") + (9).to_bytes(2, "big")
        if entry_tags and k == 1:
            b += uvarint(1) + uvarint(0) + uvarint(3) + b"abc"
        else:
            b += b"\x00"
    b += (0).to_bytes(4, "big")  # throttle
    b += uvarint(len(top_tags))
    for tag, data in top_tags:
        b += uvarint(tag) + uvarint(len(data)) + data
    return bytes(b)


def response(corr: int, body: bytes) -> bytes:
    return frame(corr.to_bytes(4, "big", signed=True) + body)


def feed_chunked(fn, data: bytes, rng: random.Random) -> bytes:
    out = bytearray()
    i = 0
    while i < len(data):
        n = rng.choice([1, 2, 3, 5, 7, 8, 13, 64, 300, 4096])
        out += fn(data[i:i + n])
        i += n
    return bytes(out)


class RewriteTests(unittest.TestCase):
    def test_rewrite_function(self):
        tags = [(0, b"\x01\x02\x03"), (3, b"\x01")]
        body = api_versions_v3_body(60, tags, entry_tags=True)
        f = response(7, body)
        new = kp.rewrite_api_versions_response(f)
        expected_body = (7).to_bytes(4, "big") + api_versions_v3_body(60, [], entry_tags=True)
        self.assertEqual(new, frame(expected_body))
        # already empty -> None (unchanged)
        self.assertIsNone(kp.rewrite_api_versions_response(frame(expected_body)))
        # malformed (trailing junk) -> ValueError
        with self.assertRaises(ValueError):
            kp.rewrite_api_versions_response(response(7, body + b"x"))

    def test_stream_random_chunking(self):
        rng = random.Random(1234)
        for trial in range(200):
            pending: dict[int, int] = {}
            scanner = kp.RequestScanner(pending, "t")
            rw = kp.ResponseRewriter(pending, "t")
            reqs = bytearray()
            resps = bytearray()
            expected = bytearray()
            corr = rng.randint(-5, 1000)
            for _ in range(rng.randint(1, 12)):
                corr += 1
                kind = rng.random()
                if kind < 0.35:
                    ver = rng.choice([0, 1, 2, 3, 3, 4])
                    reqs += request(18, ver, corr, b"\x00" if ver >= 3 else b"")
                    tags = [(0, bytes(rng.randrange(256) for _ in range(rng.randint(0, 40))))] if rng.random() < 0.8 else []
                    n_keys = rng.randint(0, 70)
                    r = response(corr, api_versions_v3_body(n_keys, tags))
                    resps += r
                    if ver >= 3 and tags:
                        expected += response(corr, api_versions_v3_body(n_keys, []))
                    else:
                        expected += r
                else:
                    key = rng.choice([0, 1, 3, 8, 9, 10, 11])
                    payload = bytes(rng.randrange(256) for _ in range(rng.randint(0, 3000)))
                    reqs += request(key, rng.randint(0, 12), corr, payload)
                    r = response(corr, payload[::-1])
                    resps += r
                    expected += r
            # requests are observed (in chunks) before responses arrive
            passed = feed_chunked(lambda c: (scanner.feed(c), c)[1], bytes(reqs), rng)
            self.assertEqual(passed, bytes(reqs))
            got = feed_chunked(rw.feed, bytes(resps), rng)
            self.assertEqual(got, bytes(expected), f"trial {trial}")
            self.assertEqual(pending, {})

    def test_known_rewrite_shape(self):
        pending: dict[int, int] = {}
        scanner = kp.RequestScanner(pending, "t")
        rw = kp.ResponseRewriter(pending, "t")
        scanner.feed(request(18, 3, 1, b"\x00"))
        r = response(1, api_versions_v3_body(3, [(0, b"xyz")]))
        out = rw.feed(r)
        self.assertEqual(out[-1:], b"\x00")
        self.assertEqual(int.from_bytes(out[:4], "big"), len(out) - 4)
        self.assertEqual(len(out), len(r) - 5)  # count 1 + tag + size + 3 bytes -> single 0


class ProcessTest(unittest.TestCase):
    def test_end_to_end_with_fake_upstream(self):
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(4)
        up_port = srv.getsockname()[1]
        tags = [(0, b"hello-tags")]
        other_payload = os.urandom(200_000)

        def upstream():
            conn, _ = srv.accept()
            buf = bytearray()
            # read until client half-closes
            while True:
                d = conn.recv(65536)
                if not d:
                    break
                buf += d
            # respond: ApiVersions v3 response for corr 1, then a big other response for corr 2
            conn.sendall(response(1, api_versions_v3_body(5, tags)))
            conn.sendall(response(2, other_payload))
            conn.close()

        t = threading.Thread(target=upstream, daemon=True)
        t.start()
        proc = subprocess.Popen([sys.executable, PROXY, "--listen", "0", "--upstream", str(up_port)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            line = proc.stdout.readline()
            self.assertIn("ready", line)
            port = int(line.split("listen=127.0.0.1:")[1].split()[0])
            c = socket.create_connection(("127.0.0.1", port))
            c.sendall(request(18, 3, 1, b"\x00") + request(1, 12, 2, b"fetch"))
            c.shutdown(socket.SHUT_WR)  # half-close: responses must still arrive
            got = bytearray()
            c.settimeout(10)
            while True:
                d = c.recv(65536)
                if not d:
                    break
                got += d
            c.close()
            expected = response(1, api_versions_v3_body(5, [])) + response(2, other_payload)
            self.assertEqual(bytes(got), expected)
        finally:
            proc.terminate()
            _, err = proc.communicate(timeout=10)
            rc = proc.returncode
            srv.close()
        self.assertEqual(rc, 0, err)
        self.assertIn("1 ApiVersions responses rewritten", err)


def openssl(*args: str, cwd: str) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@unittest.skipUnless(shutil.which("openssl"), "the openssl command is needed to make a test CA")
class TLSProcessTest(unittest.TestCase):
    def setUp(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="proxy-tls-")
        d = self.dir
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        openssl("req", "-x509", *ec, "-days", "1", "-subj", "/CN=selftest CA", "-keyout", "ca.key", "-out", "ca.pem", cwd=d)
        openssl("req", *ec, "-subj", "/CN=127.0.0.1", "-keyout", "server.key", "-out", "server.csr", cwd=d)
        with open(os.path.join(d, "ext"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
        openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-days", "1", "-extfile", "ext", "-out", "server.pem", cwd=d)
        openssl("req", "-x509", *ec, "-days", "1", "-subj", "/CN=other CA", "-keyout", "other.key", "-out", "other.pem",
                cwd=d)

    def tearDown(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_tls_termination_and_wrong_ca(self):
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(4)
        up_port = srv.getsockname()[1]
        tags = [(0, b"tls-tags")]

        def upstream():
            conn, _ = srv.accept()
            buf = bytearray()
            while len(buf) < len(request(18, 3, 7, b"\x00")):
                d = conn.recv(65536)
                if not d:
                    break
                buf += d
            conn.sendall(response(7, api_versions_v3_body(4, tags)))
            conn.close()

        t = threading.Thread(target=upstream, daemon=True)
        t.start()
        proc = subprocess.Popen([sys.executable, PROXY, "--listen", "0", "--upstream", str(up_port),
                                 "--tls-cert", os.path.join(self.dir, "server.pem"),
                                 "--tls-key", os.path.join(self.dir, "server.key")],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            line = proc.stdout.readline()
            self.assertIn("tls=on", line)
            port = int(line.split("listen=127.0.0.1:")[1].split()[0])

            # A client that trusts another CA is refused during the handshake; nothing reaches upstream.
            wrong = ssl.create_default_context(cafile=os.path.join(self.dir, "other.pem"))
            with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
                with self.assertRaises(ssl.SSLCertVerificationError):
                    wrong.wrap_socket(raw, server_hostname="127.0.0.1")

            right = ssl.create_default_context(cafile=os.path.join(self.dir, "ca.pem"))
            with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
                with right.wrap_socket(raw, server_hostname="127.0.0.1") as c:
                    c.sendall(request(18, 3, 7, b"\x00"))
                    got = bytearray()
                    while True:
                        d = c.recv(65536)
                        if not d:
                            break
                        got += d
            self.assertEqual(bytes(got), response(7, api_versions_v3_body(4, [])))
        finally:
            proc.terminate()
            _, err = proc.communicate(timeout=10)
            srv.close()
        self.assertEqual(proc.returncode, 0, err)
        self.assertIn("1 ApiVersions responses rewritten", err)
        # The refused handshake never became a connection to the upstream.
        self.assertIn("stopping: 1 connections", err)

    def test_cert_without_key_is_refused(self):
        proc = subprocess.run([sys.executable, PROXY, "--listen", "0", "--upstream", "1",
                               "--tls-cert", os.path.join(self.dir, "server.pem")],
                              capture_output=True, text=True, timeout=20)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("go together", proc.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
