"""RequestGuard: the Host check, the Origin check for writes, bodies without a length."""

from __future__ import annotations

from siamface.serve.guards import ServeOptions


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
