"""RequestGuard: the Host check, the Origin check for writes, bodies without a length or that
stop arriving."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time

import pytest
import uvicorn
from starlette.types import Message, Receive, Scope, Send

from siamface.errors import ConfigError
from siamface.inference.verifier import Verifier
from siamface.serve.app import create_app
from siamface.serve.guards import RequestGuard, ServeOptions

from .conftest import free_port


@pytest.mark.parametrize("key", ["sécret", "ключ", " key", "key ", "a\tb", "a\nb", ""])
def test_an_api_key_a_header_cannot_carry_unchanged_is_refused_at_start(key):
    # curl sends "sécret" as UTF-8 bytes, read back as Latin-1 "sÃ©cret": a 401 for ever
    with pytest.raises(ConfigError, match="printable ASCII"):
        ServeOptions(api_key=key)


@pytest.mark.parametrize("key", ["s3cr3t-Key_~!", "two words"])
def test_a_printable_ascii_api_key_is_taken(key):
    assert ServeOptions(api_key=key).api_key == key


def test_another_host_name_is_refused_when_hosts_are_set(make_client):
    client = make_client(ServeOptions(allowed_hosts=("127.0.0.1", "testserver")))
    assert client.get("/api/health").status_code == 200
    r = client.get("/api/health", headers={"Host": "evil.example:8000"})
    assert r.status_code == 421 and r.json()["field"] == "Host"


def test_a_write_from_another_origin_is_refused(client):
    body = {"name": "staff"}
    r = client.post("/api/galleries", json=body, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403 and r.json()["field"] == "Origin"
    ok = client.post("/api/galleries", json=body, headers={"Origin": "http://testserver"})
    assert ok.status_code == 201
    assert client.get("/api/galleries", headers={"Origin": "https://x.example"}).status_code == 200


def test_a_chunked_body_without_a_length_is_refused(client):
    r = client.post("/api/galleries", content=iter([b'{"name": "x"}']),
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 411 and r.json()["field"] == "Content-Length"


def test_a_transfer_coding_in_any_case_is_refused(client):
    for coding in ("Chunked", "CHUNKED", "gzip, chunked"):
        r = client.post("/api/galleries", content=b'{"name": "x"}',
                        headers={"Content-Type": "application/json",
                                 "Transfer-Encoding": coding})
        assert r.status_code == 411, coding


def test_host_names_are_compared_without_case(make_client):
    client = make_client(ServeOptions(allowed_hosts=("127.0.0.1", "testserver")))
    assert client.get("/api/health", headers={"Host": "TESTSERVER"}).status_code == 200


def test_allowed_host_names_are_compared_without_case_too(make_client):
    client = make_client(ServeOptions(allowed_hosts=("TestServer",)))
    assert client.get("/api/health").status_code == 200


def guarded(options: ServeOptions) -> tuple[RequestGuard, list[Message]]:
    """A RequestGuard around an app that records the messages it receives and answers 204."""
    seen: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(await receive())
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    return RequestGuard(app, options), seen


def call(guard: RequestGuard, messages: list[Message], stall: bool = False,
         length: bytes | None = None) -> list[Message]:
    """Send ``guard`` a POST whose body comes as ``messages``, then nothing (``stall``) or the
    client's disconnect, with ``length`` as its Content-Length (else the body's); what it sent
    back."""
    sent: list[Message] = []

    async def receive() -> Message:
        if messages:
            return messages.pop(0)
        if stall:
            await asyncio.Event().wait()  # never set
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    if length is None:
        length = str(sum(len(m.get("body", b"")) for m in messages)).encode()
    scope = {"type": "http", "method": "POST", "path": "/", "headers": [
        (b"host", b"testserver"), (b"content-length", length)]}
    asyncio.run(guard(scope, receive, send))
    return sent


@pytest.mark.parametrize(("headers", "field"), [
    ([(b"host", b"evil.example"), (b"host", b"testserver")], "Host"),
    ([(b"host", b"testserver"), (b"origin", b"http://evil.example"),
      (b"Origin", b"http://testserver")], "Origin"),
    ([(b"host", b"testserver"), (b"content-length", b"4"), (b"content-length", b"4")],
     "Content-Length"),
])
def test_a_header_the_checks_read_sent_twice_is_refused(headers, field):
    # with the last copy taken, the first could be the one a proxy or the app reads
    guard, seen = guarded(ServeOptions(allowed_hosts=("testserver",)))
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"abcd", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
    asyncio.run(guard(scope, receive, send))
    assert seen == [] and sent[0]["status"] == 400
    body = json.loads(sent[1]["body"])
    assert body["field"] == field and body["message"].endswith("was sent 2 times; send it once")


def test_a_body_in_parts_reaches_the_app_whole():
    guard, seen = guarded(ServeOptions())
    parts = [{"type": "http.request", "body": b, "more_body": True} for b in (b"ab", b"", b"c")]
    sent = call(guard, [*parts, {"type": "http.request", "body": b"d", "more_body": False}])
    assert seen == [{"type": "http.request", "body": b"abcd", "more_body": False}]
    assert sent[0]["status"] == 204


def test_a_length_that_is_not_a_number_is_answered_400():
    for length in (b"12a", b"-1", b" 2", "\N{SUPERSCRIPT TWO}".encode("latin-1")):
        guard, seen = guarded(ServeOptions())
        sent = call(guard, [{"type": "http.request", "body": b"ab"}], length=length)
        assert seen == [] and sent[0]["status"] == 400, length
        assert json.loads(sent[1]["body"])["field"] == "Content-Length"


def test_a_body_that_stops_arriving_is_answered_408():
    guard, seen = guarded(ServeOptions(body_timeout_s=0.2))
    sent = call(guard, [{"type": "http.request", "body": b"ab", "more_body": True}], stall=True)
    assert seen == [] and sent[0]["status"] == 408
    assert json.loads(sent[1]["body"])["field"] == "body"


def test_a_client_gone_before_its_body_ends_gets_no_answer():
    guard, seen = guarded(ServeOptions())
    assert call(guard, [{"type": "http.request", "body": b"ab", "more_body": True}]) == []
    assert seen == []


def test_a_real_server_closes_a_stalled_upload(run_dir):
    port = free_port()
    app = create_app(Verifier.from_run(run_dir), run_dir.parent / "stall.sqlite3",
                     ServeOptions(body_timeout_s=0.5))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)  # never keeps pytest from ending
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"POST /api/verify HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Content-Type: multipart/form-data; boundary=x\r\n"
                         b"Content-Length: 1000\r\n\r\n--x\r\n")  # then nothing
            answer = b""
            while chunk := sock.recv(4096):  # until the server closes the connection
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["field"] == "body"
    finally:
        server.should_exit = True
        thread.join(30)


def test_a_body_that_trickles_in_is_answered_408_by_its_deadline():
    guard, seen = guarded(ServeOptions(body_timeout_s=0.3))  # each part well within 0.3 s
    sent: list[Message] = []

    async def receive() -> Message:
        await asyncio.sleep(0.1)
        return {"type": "http.request", "body": b"x", "more_body": True}  # for ever

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": [
        (b"host", b"testserver"), (b"content-length", b"1000")]}
    asyncio.run(asyncio.wait_for(guard(scope, receive, send), 10))
    assert seen == [] and sent[0]["status"] == 408
