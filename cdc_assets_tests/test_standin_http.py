"""The stand-in's FE and BE HTTP ports, over real sockets, against starrocks.md sections 1-3.

Tables are created through the stand-in's MySQL port (pymysql); loads go over HTTP with ``requests``
(``allow_redirects=False``: following the FE's 307 is part of what is tested) or raw sockets where the
100-continue handshake or a reset must be observed byte by byte.
"""

from __future__ import annotations

import base64
import datetime
import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pymysql
import pytest
import requests

from cdc_assets.standin import StandIn

AUTH = ("root", "")
BASIC = "Basic " + base64.b64encode(b"root:").decode()
TO_JSON_FIELDS = [
    "TxnId",
    "Label",
    "Status",
    "Message",
    "NumberTotalRows",
    "NumberLoadedRows",
    "NumberFilteredRows",
    "NumberUnselectedRows",
    "LoadBytes",
    "LoadTimeMs",
    "BeginTxnTimeMs",
    "StreamLoadPlanTimeMs",
    "ReadDataTimeMs",
    "WriteDataTimeMs",
    "CommitAndPublishTimeMs",
]
TABLE_DDL = (
    "CREATE TABLE {db}.t (id BIGINT NOT NULL, name VARCHAR(8) NULL, amount DECIMAL(5,2) NULL, "
    "doc JSON NULL) PRIMARY KEY(id) DISTRIBUTED BY HASH(id) PROPERTIES('replication_num' = '1')"
)


# ---------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def sr() -> Iterator[StandIn]:
    with StandIn() as standin:
        yield standin


@pytest.fixture(autouse=True)
def _no_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "sr" in request.fixturenames:
        request.getfixturevalue("sr").faults.clear()


def sql(standin: StandIn, *statements: str) -> list[tuple]:
    con = pymysql.connect(
        host="127.0.0.1", port=standin.query_port, user="root", password="", autocommit=True
    )
    try:
        with con.cursor() as cur:
            for stmt in statements:
                cur.execute(stmt)
            return list(cur.fetchall())
    finally:
        con.close()


@pytest.fixture
def db(sr: StandIn) -> str:
    """A fresh database with table ``t`` (id BIGINT key, name VARCHAR(8), amount DECIMAL(5,2), doc JSON)."""
    name = f"d{uuid.uuid4().hex[:10]}"
    sql(sr, f"CREATE DATABASE {name}", TABLE_DDL.format(db=name))
    return name


def rows(standin: StandIn, db: str, table: str = "t") -> list[tuple]:
    return sql(standin, f"SELECT * FROM {db}.{table} ORDER BY 1")


def be_url(standin: StandIn, path: str) -> str:
    return f"http://127.0.0.1:{standin.be_http_port}{path}"


def fe_url(standin: StandIn, path: str) -> str:
    return f"http://{standin.load_url}{path}"


def stream_load(standin: StandIn, db: str, body: bytes, **headers: str) -> dict:
    """A plain Stream Load the way a correct client does it: FE, 307, then the BE with all headers."""
    hdrs = {"Expect": "100-continue", **headers}
    first = requests.put(
        fe_url(standin, f"/api/{db}/t/_stream_load"), headers=hdrs, auth=AUTH, allow_redirects=False
    )
    assert first.status_code == 307, first.text
    second = requests.put(
        first.headers["Location"], data=body, headers=hdrs, auth=AUTH, allow_redirects=False
    )
    assert second.status_code == 200
    return second.json()


def txn(standin: StandIn, op: str, db: str, label: str, body: bytes | None = None, **headers: str) -> dict:
    """A transaction API call sent to the FE; a 307 is followed to the BE with the same headers."""
    hdrs = {"db": db, "table": "t", "label": label, **headers}
    method = "PUT" if op == "load" else "POST"
    url = fe_url(standin, f"/api/transaction/{op}")
    first = requests.request(
        method, url, headers=hdrs, auth=AUTH, allow_redirects=False, data=body if op != "load" else None
    )
    if first.status_code != 307:
        assert first.status_code == 200
        return {"via": "FE", **first.json()}
    second = requests.request(method, first.headers["Location"], headers=hdrs, auth=AUTH, data=body)
    assert second.status_code == 200
    return {"via": "BE", **second.json()}


def load_state(standin: StandIn, db: str, label: str) -> str:
    r = requests.get(fe_url(standin, f"/api/{db}/get_load_state"), params={"label": label}, auth=AUTH)
    assert r.status_code == 200
    return r.json()["state"]


class Raw:
    """One raw HTTP/1.1 connection: send exactly these bytes, read exactly what comes back."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def send_head(self, method: str, path: str, headers: dict[str, str]) -> None:
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"] + [f"{k}: {v}" for k, v in headers.items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())

    def read_head(self) -> tuple[int, dict[str, str]]:
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            assert chunk, f"connection closed before a response head; got {self.buf!r}"
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        status_line, *lines = head.decode().split("\r\n")
        return int(status_line.split()[1]), {
            k.lower(): v.strip() for k, v in (x.split(":", 1) for x in lines)
        }

    def read_response(self) -> tuple[int, dict[str, str], bytes]:
        code, headers = self.read_head()
        length = int(headers.get("content-length", "0"))
        while len(self.buf) < length:
            chunk = self.sock.recv(65536)
            assert chunk
            self.buf += chunk
        body, self.buf = self.buf[:length], self.buf[length:]
        return code, headers, body

    def at_eof(self) -> bool:
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.sock.close()


# ---------------------------------------------------------------------------------------------- section 1: FE


def test_fe_answers_401_with_www_authenticate_without_or_with_wrong_credentials(sr: StandIn, db: str) -> None:
    url = fe_url(sr, f"/api/{db}/t/_stream_load")
    missing = requests.put(url, headers={"Expect": "100-continue"}, allow_redirects=False)
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"] == 'Basic realm=""'
    assert (
        missing.text
        == '{"status":"FAILED","code":"1","msg":"Need auth information.","message":"Need auth information."}'
    )
    wrong = requests.put(
        url, headers={"Expect": "100-continue"}, auth=("root", "nope"), allow_redirects=False
    )
    assert wrong.status_code == 401
    assert wrong.json()["msg"] == "Access denied for root@127.0.0.1"
    assert "nope" not in wrong.text


def test_fe_without_100_continue_answers_the_ddl_exception_and_closes(sr: StandIn, db: str) -> None:
    raw = Raw(sr.http_port)
    raw.send_head("PUT", f"/api/{db}/t/_stream_load", {"Authorization": BASIC, "Content-Length": "0"})
    code, headers, body = raw.read_response()
    assert code == 200
    assert json.loads(body) == {
        "Status": "FAILED",
        "Message": "class com.starrocks.common.DdlException: There is no 100-continue header",
    }
    assert list(json.loads(body)) == ["Status", "Message"]
    assert headers["connection"] == "close"
    assert raw.at_eof()


def test_fe_redirects_with_307_to_the_be_without_100_continue_and_closes(sr: StandIn, db: str) -> None:
    raw = Raw(sr.http_port)
    headers = {"Authorization": BASIC, "Expect": "100-continue", "Content-Length": "10", "label": "x"}
    raw.send_head("PUT", f"/api/{db}/t/_stream_load?timeout=30&x=%20y", headers)
    code, head, body = raw.read_response()  # the first answer is the 307 itself, never "100 Continue"
    assert code == 307
    assert head["location"] == f"http://127.0.0.1:{sr.be_http_port}/api/{db}/t/_stream_load?timeout=30&x=%20y"
    assert "root" not in head["location"] and body == b""
    assert head["connection"] == "close"
    assert raw.at_eof()  # forced close: the connection is not reused


def test_fe_resets_a_client_that_streams_a_large_body_without_waiting(sr: StandIn, db: str) -> None:
    raw = Raw(sr.http_port)
    size = 48 * 1024 * 1024
    headers = {"Authorization": BASIC, "Expect": "100-continue", "Content-Length": str(size)}
    raw.send_head("PUT", f"/api/{db}/t/_stream_load", headers)
    with pytest.raises((ConnectionResetError, BrokenPipeError)):
        raw.sock.sendall(b"1,a\n" * (size // 4))
    raw.close()
    assert rows(sr, db) == []


# ---------------------------------------------------------------------------------------------- section 1: BE


def test_be_honours_100_continue_and_loads_csv_with_op_last(sr: StandIn, db: str) -> None:
    body = b'1,"a,b",1.5,"{\\"k\\": [1, 2]}",0\n2,"x\\"y",\\N,\\N,0\n3,"gone",\\N,\\N,0\n'
    raw = Raw(sr.be_http_port)
    headers = {
        "Authorization": BASIC,
        "Expect": "100-continue",
        "Content-Length": str(len(body)),
        "label": "csv1",
        "format": "csv",
        "columns": "`id`,`name`,`amount`,`doc`,__op",
        "column_separator": ",",
        "enclose": '"',
        "escape": "\\",
    }
    raw.send_head("PUT", f"/api/{db}/t/_stream_load", headers)
    code, _ = raw.read_head()
    assert code == 100  # the BE asks for the body once the headers passed
    raw.sock.sendall(body)
    code, _, answer = raw.read_response()
    assert code == 200
    result = json.loads(answer)
    assert result["Status"] == "Success" and result["Message"] == "OK"
    assert (
        result["NumberTotalRows"] == 3
        and result["NumberLoadedRows"] == 3
        and result["LoadBytes"] == len(body)
    )
    deletes = stream_load(
        sr, db, b"3,\\N,\\N,\\N,1\n", columns="id,name,amount,doc,__op", column_separator=","
    )
    assert deletes["Status"] == "Success"
    assert rows(sr, db) == [(1, "a,b", Decimal("1.50"), '{"k": [1, 2]}'), (2, 'x"y', None, None)]


def test_be_takes_chunked_bodies_and_keeps_the_connection_alive(sr: StandIn, db: str) -> None:
    with requests.Session() as session:
        url = be_url(sr, f"/api/{db}/t/_stream_load")
        chunked = session.put(url, data=iter([b"1\ta\t", b"\\N\t\\N\n2\tb", b"\t\\N\t\\N\n"]), auth=AUTH)
        assert chunked.json()["Status"] == "Success" and chunked.json()["NumberLoadedRows"] == 2
        again = session.put(url, data=b"3\tc\t\\N\t\\N\n", auth=AUTH)
        assert again.json()["Status"] == "Success"
    assert [r[0] for r in rows(sr, db)] == [1, 2, 3]


def test_be_always_answers_200_json_no_valid_basic_authorization(sr: StandIn, db: str) -> None:
    r = requests.put(be_url(sr, f"/api/{db}/t/_stream_load"), data=b"1\n")
    assert r.status_code == 200
    assert r.json()["Status"] == "Fail" and r.json()["Message"] == "no valid Basic authorization"
    assert r.json()["TxnId"] == -1
    wrong = requests.put(be_url(sr, f"/api/{db}/t/_stream_load"), data=b"1\n", auth=("root", "bad"))
    assert wrong.json()["Message"] == "Access denied for root@127.0.0.1"


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"format": "xml"}, "unknown data format, format=xml"),
        ({"timeout": "ten"}, "Invalid timeout format"),
        ({"partial_update": "maybe"}, "Invalid partial update flag format. Must be bool type"),
        ({"columns": "id,name,__op='merge'"}, "load op type string not supported: merge"),
        ({"columns": "name,amount"}, "Column has no default value. column: id"),
        ({"columns": "id,src,bogus=src"}, "Mapping column is not in table. column: bogus"),
        ({"format": "json"}, "JSON data is an array, strip_outer_array must be set true"),
        ({"label": "no spaces!"}, "Label format error. regex: ^[-\\w]{1,128}$, label: no spaces!"),
        (
            {"Content-Encoding": "gzip", "compression": "gzip"},
            "Only one of http header content-encoding and compression can be set",
        ),
    ],
)
def test_be_header_errors_fail_with_starrocks_messages(
    sr: StandIn, db: str, headers: dict, message: str
) -> None:
    r = requests.put(be_url(sr, f"/api/{db}/t/_stream_load"), data=b'[{"id": 1}]', auth=AUTH, headers=headers)
    assert r.status_code == 200
    assert r.json()["Status"] == "Fail"
    assert r.json()["Message"] == message
    assert rows(sr, db) == []


def test_partial_update_is_refused_clearly_by_the_stand_in(sr: StandIn, db: str) -> None:
    r = requests.put(
        be_url(sr, f"/api/{db}/t/_stream_load"),
        data=b"1\n",
        auth=AUTH,
        headers={"partial_update": "true", "columns": "id"},
    )
    assert r.json()["Status"] == "Fail"
    assert r.json()["Message"].startswith(
        "the StarRocks stand-in does not support the partial_update: true header"
    )


def test_requests_following_the_307_itself_loses_authorization(sr: StandIn, db: str) -> None:
    # psf/requests#6741: the Authorization header is dropped when the port changes (FE 8030 -> BE 8040)
    r = requests.put(
        fe_url(sr, f"/api/{db}/t/_stream_load"), data=b"1\n", auth=AUTH, headers={"Expect": "100-continue"}
    )
    assert r.status_code == 200 and r.history[0].status_code == 307
    assert r.json()["Status"] == "Fail" and r.json()["Message"] == "no valid Basic authorization"


def test_gzip_compressed_json_body(sr: StandIn, db: str) -> None:
    body = gzip.compress(b'[{"id": 1, "name": "z"}]')
    r = stream_load(sr, db, body, format="json", strip_outer_array="true", compression="GZIP")
    assert r["Status"] == "Success", r
    assert rows(sr, db) == [(1, "z", None, None)]


def test_be_refuses_json_over_100_mb_before_reading_the_body(sr: StandIn, db: str) -> None:
    raw = Raw(sr.be_http_port)
    size = 100 * 1024 * 1024 + 1
    raw.send_head(
        "PUT",
        f"/api/{db}/t/_stream_load",
        {"Authorization": BASIC, "Expect": "100-continue", "Content-Length": str(size), "format": "json"},
    )
    code, head, body = raw.read_response()
    assert code == 200 and head["connection"] == "close"
    assert json.loads(body)["Message"] == (
        f"The size of this batch exceed the max size [104857600]  of json type data  data [ {size} ]. "
        "Set ignore_json_size to skip the check, although it may lead huge memory consuming."
    )


def test_header_error_after_begin_aborts_the_label_so_it_can_be_reused(sr: StandIn, db: str) -> None:
    bad = requests.put(
        be_url(sr, f"/api/{db}/t/_stream_load"),
        data=b"1\n",
        auth=AUTH,
        headers={"label": "re", "partial_update": "x"},
    ).json()
    assert bad["TxnId"] > 0 and load_state(sr, db, "re") == "ABORTED"
    good = stream_load(sr, db, b"1\tn\t\\N\t\\N\n", label="re")
    assert good["Status"] == "Success" and good["TxnId"] > bad["TxnId"]


@pytest.mark.parametrize("timeout", ["0", "259201"])
def test_timeout_outside_1_to_259200_seconds_fails_at_begin(sr: StandIn, db: str, timeout: str) -> None:
    message = "Invalid timeout. Timeout should between 1 and 259200 seconds"
    r = stream_load(sr, db, b"1\ta\t\\N\t\\N\n", label=f"to{timeout}", timeout=timeout)
    assert (r["Status"], r["Message"], r["TxnId"]) == ("Fail", message, -1)
    begin = txn(sr, "begin", db, f"tt{timeout}", timeout=timeout)
    assert begin == {"via": "BE", "Status": "ANALYSIS_ERROR", "Message": message}
    assert load_state(sr, db, f"to{timeout}") == "UNKNOWN" and load_state(sr, db, f"tt{timeout}") == "UNKNOWN"
    assert rows(sr, db) == []


def test_timeout_bounds_themselves_are_accepted(sr: StandIn, db: str) -> None:
    assert stream_load(sr, db, b"1\ta\t\\N\t\\N\n", timeout="259200")["Status"] == "Success"
    assert stream_load(sr, db, b"2\tb\t\\N\t\\N\n", timeout="1")["Status"] == "Success"
    assert txn(sr, "begin", db, "tmax", timeout="259200")["Status"] == "OK"
    assert rows(sr, db) == [(1, "a", None, None), (2, "b", None, None)]


@pytest.fixture(scope="module")
def small_sr() -> Iterator[StandIn]:
    """A stand-in whose BE takes bodies of at most 1 MB (``streaming_load_max_mb``)."""
    with StandIn(streaming_load_max_mb=1) as standin:
        yield standin


def _json_doc_row(key: int, size: int) -> bytes:
    """A CSV row of table ``t`` exactly ``size`` bytes long, padded in its JSON column."""
    head, tail = f'{key}\t\\N\t\\N\t"'.encode(), b'"\n'
    return head + b"x" * (size - len(head) - len(tail)) + tail


def test_body_over_streaming_load_max_mb_fails_before_it_is_read(small_sr: StandIn) -> None:
    name = f"m{uuid.uuid4().hex[:10]}"
    sql(small_sr, f"CREATE DATABASE {name}", TABLE_DDL.format(db=name))
    limit = 1024 * 1024
    raw = Raw(small_sr.be_http_port)
    head = {"Authorization": BASIC, "Expect": "100-continue", "Content-Length": str(limit + 1)}
    raw.send_head("PUT", f"/api/{name}/t/_stream_load", {**head, "label": "huge", "format": "xml"})
    code, headers, body = raw.read_response()  # no 100 Continue: the size is checked first, before format
    assert code == 200 and headers["connection"] == "close"
    answer = json.loads(body)
    assert (answer["Status"], answer["TxnId"]) == ("Fail", -1)
    assert answer["Message"].startswith(f"body size {limit + 1} exceed limit: {limit}, id=")
    assert answer["Message"].endswith(
        f", job_id=-1, txn_id: -1, label=huge, db={name}. "
        "You can increase the limit by setting streaming_load_max_mb in be.conf."
    )
    assert load_state(small_sr, name, "huge") == "UNKNOWN"
    at_limit = stream_load(small_sr, name, _json_doc_row(1, limit), label="huge")
    assert at_limit["Status"] == "Success" and at_limit["LoadBytes"] == limit


def test_transaction_loads_count_together_against_streaming_load_max_mb(small_sr: StandIn) -> None:
    name = f"m{uuid.uuid4().hex[:10]}"
    sql(small_sr, f"CREATE DATABASE {name}", TABLE_DDL.format(db=name))
    part = _json_doc_row(1, 600 * 1024)
    txn_id = txn(small_sr, "begin", name, "two")["TxnId"]
    assert txn(small_sr, "load", name, "two", part)["Status"] == "OK"
    raw = Raw(small_sr.be_http_port)
    head = {"Authorization": BASIC, "Expect": "100-continue", "Content-Length": str(len(part))}
    raw.send_head("PUT", "/api/transaction/load", {**head, "db": name, "table": "t", "label": "two"})
    code, _, body = raw.read_response()
    answer = json.loads(body)
    assert code == 200 and answer["Status"] == "INTERNAL_ERROR"
    assert answer["Message"].startswith(f"body size {2 * len(part)} exceed limit: {1024 * 1024}, id=")
    assert answer["Message"].endswith(
        f", job_id=-1, txn_id: {txn_id}, label=two, db={name}. "
        "You can increase the limit by setting streaming_load_max_mb in be.conf."
    )
    assert load_state(small_sr, name, "two") == "ABORTED"  # an error in load rolls the transaction back
    assert rows(small_sr, name) == []


def test_streaming_load_max_mb_must_be_a_positive_whole_number() -> None:
    with pytest.raises(ValueError, match="streaming_load_max_mb must be at least 1"):
        StandIn(streaming_load_max_mb=0)
    with pytest.raises(ValueError, match="whole number of MB"):
        StandIn(streaming_load_max_mb=1.5)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------- section 2


def test_response_fields_come_in_to_json_order(sr: StandIn, db: str) -> None:
    r = requests.put(
        be_url(sr, f"/api/{db}/t/_stream_load"), data=b"1\ta\t1\t\\N\n", auth=AUTH, headers={"label": "o1"}
    )
    assert list(r.json()) == TO_JSON_FIELDS
    assert r.text.startswith('{\n    "TxnId": ')  # rapidjson PrettyWriter: 4-space indent
    again = requests.put(
        be_url(sr, f"/api/{db}/t/_stream_load"), data=b"1\ta\t1\t\\N\n", auth=AUTH, headers={"label": "o1"}
    )
    assert list(again.json()) == TO_JSON_FIELDS[:3] + ["ExistingJobStatus"] + TO_JSON_FIELDS[3:]
    filtered = requests.put(
        be_url(sr, f"/api/{db}/t/_stream_load"),
        data=b"2\tmuch too long\t1\t\\N\n",
        auth=AUTH,
        headers={"label": "o2"},
    )
    assert list(filtered.json()) == TO_JSON_FIELDS + ["ErrorURL"]


def test_label_already_exists_finished_and_running(sr: StandIn, db: str) -> None:
    first = stream_load(sr, db, b"1\ta\t\\N\t\\N\n", label="dup")
    assert first["Status"] == "Success"
    again = stream_load(sr, db, b"9\tz\t\\N\t\\N\n", label="dup")
    assert again["Status"] == "Label Already Exists" and again["ExistingJobStatus"] == "FINISHED"
    assert again["Message"] == "Label [dup] has already been used." and again["TxnId"] == -1
    assert txn(sr, "begin", db, "open")["Status"] == "OK"
    running = stream_load(sr, db, b"9\tz\t\\N\t\\N\n", label="open")
    assert running["Status"] == "Label Already Exists" and running["ExistingJobStatus"] == "RUNNING"
    assert rows(sr, db) == [(1, "a", None, None)]


def test_get_load_state_reports_every_state(sr: StandIn, db: str) -> None:
    assert load_state(sr, db, "never") == "UNKNOWN"
    txn(sr, "begin", db, "s1")
    assert load_state(sr, db, "s1") == "PREPARE"
    txn(sr, "load", db, "s1", b"1\ta\t\\N\t\\N\n")
    txn(sr, "prepare", db, "s1")
    assert load_state(sr, db, "s1") == "PREPARED"
    txn(sr, "commit", db, "s1")
    assert load_state(sr, db, "s1") == "VISIBLE"
    sr.faults.inject("publish_timeout", seconds=3600)
    assert stream_load(sr, db, b"2\tb\t\\N\t\\N\n", label="s2")["Status"] == "Publish Timeout"
    assert load_state(sr, db, "s2") == "COMMITTED"
    txn(sr, "begin", db, "s3")
    txn(sr, "rollback", db, "s3")
    assert load_state(sr, db, "s3") == "ABORTED"
    r = requests.get(fe_url(sr, f"/api/{db}/get_load_state"), params={"label": "s1"}, auth=AUTH)
    assert r.text == '{"status":"OK","code":"0","msg":"Success","message":"OK","state":"VISIBLE"}'
    assert requests.get(fe_url(sr, f"/api/{db}/get_load_state"), params={"label": "s1"}).status_code == 401


def test_publish_timeout_is_committed_and_becomes_visible(sr: StandIn, db: str) -> None:
    sr.faults.inject("publish_timeout", seconds=0)
    r = stream_load(sr, db, b"1\ta\t\\N\t\\N\n", label="pt")
    assert r["Status"] == "Publish Timeout"
    assert r["Message"] == "transaction commit successfully, BUT data will be visible later"
    assert rows(sr, db) == [(1, "a", None, None)]
    assert load_state(sr, db, "pt") == "VISIBLE"
    assert stream_load(sr, db, b"1\tb\t\\N\t\\N\n", label="pt")["ExistingJobStatus"] == "FINISHED"
    txn(sr, "begin", db, "pt2")
    txn(sr, "load", db, "pt2", b"2\tb\t\\N\t\\N\n")
    sr.faults.inject("publish_timeout", seconds=3600)
    commit = txn(sr, "commit", db, "pt2")  # straight from PREPARE, so the BE answers
    assert commit == {
        "via": "BE",
        "Status": "PUBLISH_TIMEOUT",
        "Message": "transaction commit successfully, BUT data will be visible later",
    }
    assert load_state(sr, db, "pt2") == "COMMITTED"
    assert rows(sr, db) == [(1, "a", None, None), (2, "b", None, None)]


# ---------------------------------------------------------------------------------------------- rows and values


def test_json_body_with_op_deletes_and_json_column_text(sr: StandIn, db: str) -> None:
    body = json.dumps(
        [
            {"id": 1, "name": "a", "amount": 12.345, "doc": {"z": 1, "a": [True, None]}, "__op": 0},
            {"id": 2, "name": "b", "__op": 0},
            {"id": 3, "name": "c"},
            {"id": 2, "__op": 1},
        ]
    ).encode()
    r = stream_load(sr, db, body, format="json", strip_outer_array="true", ignore_json_size="true")
    assert r["Status"] == "Success" and r["NumberLoadedRows"] == 4
    assert rows(sr, db) == [(1, "a", Decimal("12.35"), '{"a": [true, null], "z": 1}'), (3, "c", None, None)]


def test_json_root_jsonpaths_and_a_single_object(sr: StandIn, db: str) -> None:
    body = b'{"data": {"rows": [{"k": 5, "v": {"n": "five"}}]}}'
    r = stream_load(
        sr,
        db,
        body,
        format="json",
        strip_outer_array="true",
        json_root="$.data.rows",
        jsonpaths='["$.k", "$.v.n"]',
        columns="id,name",
    )
    assert r["Status"] == "Success", r
    one = stream_load(sr, db, b'{"id": 6, "name": "six"}', format="json")
    assert one["Status"] == "Success"
    assert rows(sr, db) == [(5, "five", None, None), (6, "six", None, None)]


def test_csv_options_skip_header_trim_space_separators_and_op_constant(sr: StandIn, db: str) -> None:
    body = b"id\x01name\r\n 1 \x01  a  \r\n2\x01b\r\n"
    r = stream_load(
        sr,
        db,
        body,
        columns="id,name",
        column_separator="\\x01",
        row_delimiter="\\x0d0a",
        skip_header="1",
        trim_space="true",
    )
    assert r["Status"] == "Success" and r["NumberTotalRows"] == 2
    assert rows(sr, db) == [(1, "a", None, None), (2, "b", None, None)]
    gone = stream_load(sr, db, b"1\n", columns="id,__op='delete'")
    assert gone["Status"] == "Success"
    assert rows(sr, db) == [(2, "b", None, None)]


def test_not_null_and_too_long_rows_are_filtered_and_logged(sr: StandIn, db: str) -> None:
    body = b'[{"id": 1, "name": "ok"}, {"name": "no key"}, {"id": 3, "name": "far too long"}]'
    r = stream_load(sr, db, body, format="json", strip_outer_array="true", max_filter_ratio="0.9")
    assert r["Status"] == "Success"
    assert (r["NumberTotalRows"], r["NumberLoadedRows"], r["NumberFilteredRows"]) == (3, 1, 2)
    log = requests.get(r["ErrorURL"]).text
    assert "NULL value in non-nullable column 'id'" in log
    assert "String 'far too long'(length=12) is too long. The max length of 'name' is 8" in log
    assert rows(sr, db) == [(1, "ok", None, None)]


def test_too_many_filtered_rows_fails_applies_nothing_and_aborts(sr: StandIn, db: str) -> None:
    r = stream_load(sr, db, b"1\tfine\t\\N\t\\N\n2\tway too long\t\\N\t\\N\n", label="tm")
    assert r["Status"] == "Fail" and r["Message"] == "too many filtered rows"
    assert r["ErrorURL"].startswith(f"http://127.0.0.1:{sr.be_http_port}/api/_load_error_log?file=")
    assert rows(sr, db) == []
    assert load_state(sr, db, "tm") == "ABORTED"


def test_strict_mode_decimal_precision_and_integer_range(sr: StandIn, db: str) -> None:
    body = b"1\ta\t1234.5\t\\N\n2\tb\tabc\t\\N\n99999999999999999999\tc\t1\t\\N\n"
    lenient = stream_load(sr, db, body, max_filter_ratio="1")
    assert lenient["NumberFilteredRows"] == 1  # the BIGINT key overflows: NULL in a NOT NULL column
    assert rows(sr, db) == [(1, "a", None, None), (2, "b", None, None)]
    strict = stream_load(sr, db, body, max_filter_ratio="1", strict_mode="true")
    assert strict["NumberFilteredRows"] == 3


def test_dates_datetimes_booleans_largeint_and_floats_convert(sr: StandIn) -> None:
    name = f"v{uuid.uuid4().hex[:10]}"
    sql(
        sr,
        f"CREATE DATABASE {name}",
        f"CREATE TABLE {name}.t (id LARGEINT NOT NULL, d DATE NULL, ts DATETIME NULL, flag BOOLEAN NULL, "
        "x DOUBLE NULL) PRIMARY KEY(id) DISTRIBUTED BY HASH(id) PROPERTIES('replication_num' = '1')",
    )
    body = json.dumps(
        [
            {"id": 2**127 - 1, "d": "2024-02-29", "ts": "2024-02-29 23:59:58.123456", "flag": True, "x": 1.5},
            {"id": 1, "d": "2023-02-29", "ts": "not a time", "flag": "false", "x": "2.5e3"},
        ]
    ).encode()
    r = stream_load(sr, name, body, format="json", strip_outer_array="true")
    assert r["Status"] == "Success", r
    assert sr.store.query(f'SELECT * FROM "{name}".t ORDER BY id')[1] == [
        (1, None, None, False, 2500.0),  # impossible dates load as NULL (strict_mode off)
        (
            2**127 - 1,
            datetime.date(2024, 2, 29),
            datetime.datetime(2024, 2, 29, 23, 59, 58, 123456),
            True,
            1.5,
        ),
    ]
    over = stream_load(
        sr, name, json.dumps([{"id": 2**127}]).encode(), format="json", strip_outer_array="true"
    )
    assert over["Status"] == "Fail" and over["NumberFilteredRows"] == 1


def test_primary_key_over_128_bytes_fails_the_load(sr: StandIn) -> None:
    name = f"k{uuid.uuid4().hex[:10]}"
    sql(
        sr,
        f"CREATE DATABASE {name}",
        f"CREATE TABLE {name}.t (k VARCHAR(512) NOT NULL, v INT NULL) PRIMARY KEY(k) DISTRIBUTED BY HASH(k) "
        "PROPERTIES('replication_num' = '1')",
    )
    fits = "é" * 64  # 128 bytes
    assert stream_load(sr, name, f"{fits}\t1\n".encode())["Status"] == "Success"
    r = stream_load(sr, name, f"ok\t1\n{fits}x\t2\n".encode(), label="big")
    assert r["Status"] == "Fail" and r["Message"] == "primary key size exceed the limit."
    assert rows(sr, name) == [(fits, 1)]
    assert load_state(sr, name, "big") == "ABORTED"


def test_varbinary_loads_from_csv_hex_and_not_from_json(sr: StandIn) -> None:
    name = f"b{uuid.uuid4().hex[:10]}"
    sql(
        sr,
        f"CREATE DATABASE {name}",
        f"CREATE TABLE {name}.t (id INT NOT NULL, b VARBINARY(4) NULL) PRIMARY KEY(id) DISTRIBUTED BY HASH(id) "
        "PROPERTIES('replication_num' = '1')",
    )
    assert stream_load(sr, name, b"1,00FFab\n", column_separator=",")["Status"] == "Success"
    assert sr.store.query(f'SELECT b FROM "{name}".t')[1] == [(b"\x00\xff\xab",)]
    r = stream_load(sr, name, b'[{"id": 2, "b": "00"}]', format="json", strip_outer_array="true")
    assert r["Status"] == "Fail" and "VARBINARY" in r["Message"] and "CSV" in r["Message"]


def test_year_0000_dates_and_datetimes_load_and_read_back(sr: StandIn) -> None:
    name = f"y{uuid.uuid4().hex[:10]}"
    sql(
        sr,
        f"CREATE DATABASE {name}",
        f"CREATE TABLE {name}.t (id INT NOT NULL, d DATE NULL, ts DATETIME NULL) PRIMARY KEY(id) "
        "DISTRIBUTED BY HASH(id) PROPERTIES('replication_num' = '1')",
    )
    body = (
        b"1,0000-01-01,0000-01-01 00:00:00\n"
        b"2,0000-02-29,0000-12-31 23:59:59.5\n"  # year 0 is a leap year
        b"3,9999-12-31,9999-12-31 23:59:59\n"
        b"4,00000301,00000301123000\n"
    )
    r = stream_load(sr, name, body, column_separator=",", strict_mode="true")
    assert r["Status"] == "Success" and r["NumberLoadedRows"] == 4, r
    # DuckDB keeps year 0 as astronomical year 0 (it prints it as 1 BC) ...
    assert sr.store.query(f'SELECT year(d), CAST(d AS VARCHAR) FROM "{name}".t WHERE id = 1')[1] == [
        (0, "0001-01-01 (BC)")
    ]
    # ... and the query port sends StarRocks' text. PyMySQL cannot make a date of year 0, so it hands
    # that text over as a str; years 1-9999 come back as date / datetime as usual.
    assert rows(sr, name) == [
        (1, "0000-01-01", "0000-01-01 00:00:00"),
        (2, "0000-02-29", "0000-12-31 23:59:59.500000"),
        (3, datetime.date(9999, 12, 31), datetime.datetime(9999, 12, 31, 23, 59, 59)),
        (4, "0000-03-01", "0000-03-01 12:30:00"),
    ]
    bad = b"5,10000-01-01,\\N\n6,2024-13-01,\\N\n7,0000-02-30,\\N\n8,\\N,0000-01-01 24:00:00\n"
    strict = stream_load(sr, name, bad, column_separator=",", strict_mode="true", max_filter_ratio="1")
    assert (strict["NumberLoadedRows"], strict["NumberFilteredRows"]) == (0, 4)
    lenient = stream_load(sr, name, bad, column_separator=",", max_filter_ratio="1")
    assert lenient["NumberLoadedRows"] == 4  # strict_mode off: values out of range load as NULL
    assert rows(sr, name)[4:] == [(5, None, None), (6, None, None), (7, None, None), (8, None, None)]


def test_year_0000_keys_upsert_and_delete(sr: StandIn) -> None:
    name = f"y{uuid.uuid4().hex[:10]}"
    sql(
        sr,
        f"CREATE DATABASE {name}",
        f"CREATE TABLE {name}.t (d DATE NOT NULL, ts DATETIME NOT NULL, v INT NULL) PRIMARY KEY(d, ts) "
        "DISTRIBUTED BY HASH(d) PROPERTIES('replication_num' = '1')",
    )
    cols = {"columns": "d,ts,v,__op", "column_separator": ","}
    body = (
        b"0000-01-01,0000-01-01 00:00:01,1,0\n0000-01-01,0000-01-01 00:00:01,2,0\n2024-01-01,2024-01-01,3,0\n"
    )
    assert stream_load(sr, name, body, **cols)["Status"] == "Success"
    assert rows(sr, name) == [
        ("0000-01-01", "0000-01-01 00:00:01", 2),
        (datetime.date(2024, 1, 1), datetime.datetime(2024, 1, 1), 3),
    ]
    assert stream_load(sr, name, b"0000-01-01,0000-01-01 00:00:01,\\N,1\n", **cols)["Status"] == "Success"
    assert rows(sr, name) == [(datetime.date(2024, 1, 1), datetime.datetime(2024, 1, 1), 3)]


def test_largeint_range_starts_at_minus_2_pow_127_plus_1(sr: StandIn) -> None:
    name = f"l{uuid.uuid4().hex[:10]}"
    sql(
        sr,
        f"CREATE DATABASE {name}",
        f"CREATE TABLE {name}.t (id LARGEINT NOT NULL, v LARGEINT NULL) PRIMARY KEY(id) "
        "DISTRIBUTED BY HASH(id) PROPERTIES('replication_num' = '1')",
    )
    low = -(2**127) + 1
    assert stream_load(sr, name, f"{low}\t{low}\n".encode(), strict_mode="true")["Status"] == "Success"
    key = stream_load(sr, name, f"{low - 1}\t1\n".encode(), label="lk")
    assert (key["Status"], key["NumberFilteredRows"]) == ("Fail", 1)  # the key turns NULL: filtered
    value = stream_load(sr, name, f"1\t{low - 1}\n".encode(), strict_mode="true", max_filter_ratio="1")
    assert value["NumberFilteredRows"] == 1
    assert stream_load(sr, name, f"2\t{low - 1}\n".encode())["NumberLoadedRows"] == 1  # lenient: NULL
    assert rows(sr, name) == [(str(low), str(low)), ("2", None)]  # LARGEINT travels as text


def test_json_values_over_16_mb_are_filtered(sr: StandIn, db: str) -> None:
    limit = 16 * 1024 * 1024
    fits = b'1\t\\N\t\\N\t"' + b"x" * (limit - 2) + b'"\n'  # the JSON text is exactly 16 MB
    over = b'2\t\\N\t\\N\t"' + b"x" * (limit - 1) + b'"\n'  # one byte more
    r = stream_load(sr, db, fits + over, max_filter_ratio="0.5")
    assert r["Status"] == "Success" and (r["NumberLoadedRows"], r["NumberFilteredRows"]) == (1, 1)
    log = requests.get(r["ErrorURL"]).text
    assert log.startswith(f"Error: JSON value of column 'doc' is larger than {limit} bytes. Row: 2\t")
    assert sr.store.query(f'SELECT id, length(doc) FROM "{db}".t')[1] == [(1, limit)]


def test_csv_op_read_from_a_named_field_upserts_and_deletes(sr: StandIn, db: str) -> None:
    cols = {"columns": "id,name,temp,__op=temp", "column_separator": ","}
    first = stream_load(sr, db, b"1,a,0\n2,b,0\n3,c,0\n", **cols)
    assert first["Status"] == "Success" and first["NumberLoadedRows"] == 3
    second = stream_load(sr, db, b"2,\\N,1\n3,z,0\n1,\\N,1\n1,again,0\n", **cols)
    assert second["Status"] == "Success" and second["NumberLoadedRows"] == 4
    assert rows(sr, db) == [(1, "again", None, None), (3, "z", None, None)]
    bad = stream_load(sr, db, b"4,d,2\n", **cols, max_filter_ratio="1")
    assert bad["NumberFilteredRows"] == 1 and "Invalid __op value '2'" in requests.get(bad["ErrorURL"]).text


# ---------------------------------------------------------------------------------------------- section 3


def test_transaction_api_begin_load_prepare_commit_and_idempotent_recommit(sr: StandIn, db: str) -> None:
    begin = txn(sr, "begin", db, "t1")
    assert begin["via"] == "BE" and list(begin)[1:] == [
        "Status",
        "Message",
        "Label",
        "TxnId",
        "BeginTxnTimeMs",
    ]
    assert begin["Status"] == "OK" and begin["Message"] == ""
    load = txn(sr, "load", db, "t1", b'[{"id": 1, "name": "x"}]', format="json", strip_outer_array="true")
    assert list(load)[1:] == [
        "Status",
        "Message",
        "Label",
        "TxnId",
        "LoadBytes",
        "StreamLoadPlanTimeMs",
        "ReceivedDataTimeMs",
    ]
    txn(sr, "load", db, "t1", b'[{"id": 2, "name": "y"}]', format="json", strip_outer_array="true")
    assert rows(sr, db) == []
    prepare = txn(sr, "prepare", db, "t1")
    assert prepare["via"] == "BE" and prepare["Status"] == "OK" and prepare["NumberLoadedRows"] == 2
    assert list(prepare)[1:] == [
        "Status", "Message", "Label", "TxnId", "NumberTotalRows", "NumberLoadedRows", "NumberFilteredRows",
        "NumberUnselectedRows", "LoadBytes", "LoadTimeMs", "StreamLoadPlanTimeMs", "ReceivedDataTimeMs",
        "WriteDataTimeMs", "CommitAndPublishTimeMs",
    ]  # fmt: skip
    commit = txn(sr, "commit", db, "t1")
    assert commit == {"via": "FE", "Status": "OK", "Message": "", "TxnId": begin["TxnId"], "Label": "t1"}
    assert rows(sr, db) == [(1, "x", None, None), (2, "y", None, None)]
    again = txn(sr, "commit", db, "t1")
    assert again["Status"] == "OK"
    assert again["Message"] == f"Transaction {begin['TxnId']} has already committed, label is t1"
    undo = txn(sr, "rollback", db, "t1")
    assert undo["Status"] == "FAILED"
    assert undo["Message"] == (
        f"class com.starrocks.common.StarRocksException: Can not abort VISIBLE transaction {begin['TxnId']}, label is t1"
    )


def test_commit_straight_from_prepare_is_answered_by_the_be(sr: StandIn, db: str) -> None:
    txn(sr, "begin", db, "t2")
    txn(sr, "load", db, "t2", b"1\ta\t\\N\t\\N\n")
    commit = txn(sr, "commit", db, "t2")
    assert commit["via"] == "BE" and commit["Status"] == "OK" and commit["NumberLoadedRows"] == 1
    assert rows(sr, db) == [(1, "a", None, None)]


def test_rollback_prepared_and_idempotent_rerollback_then_commit_refused(sr: StandIn, db: str) -> None:
    txn_id = txn(sr, "begin", db, "t3")["TxnId"]
    txn(sr, "load", db, "t3", b"1\ta\t\\N\t\\N\n")
    txn(sr, "prepare", db, "t3")
    assert txn(sr, "rollback", db, "t3") == {
        "via": "FE",
        "Status": "OK",
        "Message": "",
        "TxnId": txn_id,
        "Label": "t3",
    }
    again = txn(sr, "rollback", db, "t3")
    assert (
        again["Status"] == "OK"
        and again["Message"] == f"Transaction {txn_id} has already aborted, label is t3"
    )
    commit = txn(sr, "commit", db, "t3")
    assert commit["Status"] == "FAILED"
    assert commit["Message"].endswith(f"Can not commit ABORTED transaction {txn_id}, label is t3")
    assert rows(sr, db) == []


def test_rollback_of_a_running_transaction_goes_to_the_be(sr: StandIn, db: str) -> None:
    txn(sr, "begin", db, "t4")
    txn(sr, "load", db, "t4", b"1\ta\t\\N\t\\N\n")
    undo = txn(sr, "rollback", db, "t4")
    assert undo == {"via": "BE", "Status": "OK", "Message": "", "Label": "t4"}
    assert load_state(sr, db, "t4") == "ABORTED"
    assert txn(sr, "begin", db, "t4")["Status"] == "OK"  # an aborted label may be reused


def test_unknown_labels_answer_txn_not_exists_or_no_transaction_found(sr: StandIn, db: str) -> None:
    load = txn(sr, "load", db, "ghost", b"1\n")
    assert load == {
        "via": "BE",
        "Status": "TXN_NOT_EXISTS",
        "Message": "transaction with label ghost not exists",
    }
    prepare = txn(sr, "prepare", db, "ghost")
    assert prepare["Message"] == "transaction with label ghost not exists"
    commit = txn(sr, "commit", db, "ghost")
    assert commit == {
        "via": "FE",
        "Status": "FAILED",
        "Message": "class com.starrocks.common.StarRocksException: No transaction found by label ghost",
    }


def test_begin_with_a_label_in_use_is_label_already_exists(sr: StandIn, db: str) -> None:
    txn(sr, "begin", db, "t5")
    assert txn(sr, "begin", db, "t5")["Status"] == "LABEL_ALREADY_EXISTS"
    stream_load(sr, db, b"1\ta\t\\N\t\\N\n", label="done")
    used = txn(sr, "begin", db, "done")
    assert list(used)[1:] == ["Status", "ExistingJobStatus", "Message"]
    assert (
        used["ExistingJobStatus"] == "FINISHED" and used["Message"] == "Label [done] has already been used."
    )


def test_commit_without_data_fails_and_aborts(sr: StandIn, db: str) -> None:
    txn_id = txn(sr, "begin", db, "t6")["TxnId"]
    r = txn(sr, "commit", db, "t6")
    assert r["Status"] == "INTERNAL_ERROR"
    assert r["Message"].startswith("transaction id=")
    assert r["Message"].endswith(f"job_id=-1, txn_id: {txn_id}, label=t6, db={db} hasn't send any data yet")
    assert load_state(sr, db, "t6") == "ABORTED"


def test_database_table_mismatch_and_request_errors(sr: StandIn, db: str) -> None:
    other = f"o{uuid.uuid4().hex[:10]}"
    sql(sr, f"CREATE DATABASE {other}", TABLE_DDL.format(db=other))
    txn(sr, "begin", db, "t7")
    r = txn(sr, "load", other, "t7", b"1\n")
    assert r["Status"] == "INVALID_ARGUMENT"
    assert r["Message"] == f"Request database {other} not equal transaction database {db}"
    r = txn(sr, "load", db, "t7", b"1\n", table="elsewhere")
    assert r["Message"] == "Request table elsewhere not equal transaction table t"
    assert txn(sr, "commit", other, "t7")["Message"].endswith(
        "No transaction found by label t7"
    )  # FE: per db
    direct = requests.post(
        be_url(sr, "/api/transaction/commit"), headers={"db": other, "label": "t7"}, auth=AUTH
    )
    assert direct.json() == {
        "Status": "INVALID_ARGUMENT",
        "Message": f"Request database {other} not equal transaction database {db}",
    }
    bad_timeout = txn(sr, "prepare", db, "t7", prepared_timeout="soon")
    assert bad_timeout["Message"] == 'class java.lang.NumberFormatException: For input string: "soon"'
    no_label = requests.post(fe_url(sr, "/api/transaction/begin"), headers={"db": db}, auth=AUTH)
    assert no_label.json()["Message"] == "class com.starrocks.common.StarRocksException: Empty label."
    be_no_label = requests.post(be_url(sr, "/api/transaction/begin"), headers={"db": db}, auth=AUTH)
    assert be_no_label.json() == {"Status": "INVALID_ARGUMENT", "Message": "empty label"}
    unknown = txn(sr, "merge", db, "t7")
    assert (
        unknown["Message"]
        == "class com.starrocks.common.StarRocksException: Unknown transaction operation: merge"
    )


def test_concurrent_request_on_a_label_is_txn_in_processing(sr: StandIn, db: str) -> None:
    txn(sr, "begin", db, "t8")
    body = b"1\ta\t\\N\t\\N\n"
    raw = Raw(sr.be_http_port)
    head = {"Authorization": BASIC, "Expect": "100-continue", "Content-Length": str(len(body))}
    raw.send_head("PUT", "/api/transaction/load", {**head, "db": db, "table": "t", "label": "t8"})
    assert raw.read_head()[0] == 100  # the first load now holds the transaction
    busy = requests.put(
        be_url(sr, "/api/transaction/load"),
        data=body,
        auth=AUTH,
        headers={"db": db, "table": "t", "label": "t8"},
    )
    assert busy.json() == {
        "Status": "TXN_IN_PROCESSING",
        "Label": "t8",
        "Message": "Transaction in processing, please retry later",
    }
    raw.sock.sendall(body)
    assert json.loads(raw.read_response()[2])["Status"] == "OK"
    assert txn(sr, "commit", db, "t8")["Status"] == "OK"
    assert rows(sr, db) == [(1, "a", None, None)]


def test_idle_and_total_timeouts_abort_transactions(sr: StandIn, db: str) -> None:
    txn(sr, "begin", db, "idle", idle_transaction_timeout="1")
    txn(sr, "begin", db, "slowpoke", timeout="2")
    sr.txns.clean_expired(now=time.monotonic() + 1.5)
    assert load_state(sr, db, "idle") == "ABORTED" and load_state(sr, db, "slowpoke") == "PREPARE"
    assert sr.txns.get(db, "idle").row.reason == "transaction is aborted by idle timeout 1 seconds."
    sr.txns.clean_expired(now=time.monotonic() + 3)
    assert sr.txns.get(db, "slowpoke").row.reason == "transaction is aborted by timeout 2 seconds."
    assert txn(sr, "load", db, "idle", b"1\n")["Status"] == "TXN_NOT_EXISTS"


def test_filtered_rows_over_the_ratio_fail_prepare(sr: StandIn, db: str) -> None:
    txn(sr, "begin", db, "t9")
    assert txn(sr, "load", db, "t9", b"1\tmuch too long\t\\N\t\\N\n")["Status"] == "OK"
    r = txn(sr, "prepare", db, "t9")
    assert r["Status"] == "INTERNAL_ERROR" and r["Message"] == "too many filtered rows" and "ErrorURL" in r
    assert load_state(sr, db, "t9") == "ABORTED"


@pytest.mark.parametrize(
    "second",
    [
        {"format": "csv"},
        {"format": "json"},  # strip_outer_array missing is false
        {"format": "json", "strip_outer_array": "true", "columns": "id,name"},
        {"format": "json", "strip_outer_array": "true", "strict_mode": "true"},
    ],
)
def test_transaction_loads_must_send_the_same_data_headers(sr: StandIn, db: str, second: dict) -> None:
    first = {"format": "json", "strip_outer_array": "true"}
    txn(sr, "begin", db, "same")
    assert txn(sr, "load", db, "same", b'[{"id": 1}]', **first)["Status"] == "OK"
    r = txn(sr, "load", db, "same", b'[{"id": 2}]', **second)
    assert r == {"via": "BE", "Status": "INTERNAL_ERROR", "Message": "load request not equal last."}
    assert load_state(sr, db, "same") == "ABORTED"  # an error in load rolls the transaction back
    assert txn(sr, "load", db, "same", b'[{"id": 3}]', **first)["Status"] == "TXN_NOT_EXISTS"
    assert rows(sr, db) == []


def test_transaction_loads_may_differ_in_headers_that_do_not_describe_the_data(sr: StandIn, db: str) -> None:
    txn(sr, "begin", db, "alike")
    first = txn(sr, "load", db, "alike", b"1,a\n", column_separator=",", columns="id,name", format="CSV")
    assert first["Status"] == "OK"
    # header names and the case of flag values do not matter; timeout and max_filter_ratio are not data
    second = txn(
        sr,
        "load",
        db,
        "alike",
        b"2,b\n",
        Column_Separator=",",
        columns="id,name",
        format="csv",
        timeout="30",
        max_filter_ratio="0.5",
    )
    assert second["Status"] == "OK", second
    assert txn(sr, "commit", db, "alike")["Status"] == "OK"
    assert rows(sr, db) == [(1, "a", None, None), (2, "b", None, None)]


def test_transaction_csv_records_run_on_across_loads(sr: StandIn, db: str) -> None:
    # the BE feeds every load of a transaction into one pipe: a record ends at the row delimiter or at
    # the end of the data, not at the end of a load's body
    txn(sr, "begin", db, "csv1")
    assert txn(sr, "load", db, "csv1", b"1\ta\t\\N\t\\N\n2\tb")["Status"] == "OK"
    assert txn(sr, "load", db, "csv1", b"ob\t\\N\t\\N\n3\t\xc3")["Status"] == "OK"  # split inside 'é'
    assert txn(sr, "load", db, "csv1", b"\xa9\t\\N\t\\N")["Status"] == "OK"  # no final delimiter
    prepare = txn(sr, "prepare", db, "csv1")
    assert prepare["Status"] == "OK"
    assert (prepare["NumberTotalRows"], prepare["NumberLoadedRows"], prepare["NumberFilteredRows"]) == (
        3,
        3,
        0,
    )
    assert txn(sr, "commit", db, "csv1")["Status"] == "OK"
    assert rows(sr, db) == [(1, "a", None, None), (2, "bob", None, None), (3, "é", None, None)]


def test_transaction_csv_record_missing_its_row_delimiter_runs_into_the_next_load(
    sr: StandIn, db: str
) -> None:
    # why StarRocks' docs say every CSV record must end with the row delimiter
    txn(sr, "begin", db, "csv2")
    assert txn(sr, "load", db, "csv2", b"1\ta\t\\N\t\\N")["Status"] == "OK"
    assert txn(sr, "load", db, "csv2", b"2\tb\t\\N\t\\N\n")["Status"] == "OK"
    prepare = txn(sr, "prepare", db, "csv2")
    assert (prepare["Status"], prepare["Message"]) == ("INTERNAL_ERROR", "too many filtered rows")
    log = requests.get(prepare["ErrorURL"]).text
    assert "Value count does not match column count. Expect 4, but got 7" in log
    assert "Row: 1\ta\t\\N\t\\N2\tb\t\\N\t\\N" in log
    assert load_state(sr, db, "csv2") == "ABORTED" and rows(sr, db) == []


def test_prepared_timeout_aborts_a_prepared_transaction_by_txn_manager(sr: StandIn, db: str) -> None:
    txn_id = txn(sr, "begin", db, "pt1")["TxnId"]
    txn(sr, "load", db, "pt1", b"1\ta\t\\N\t\\N\n")
    assert txn(sr, "prepare", db, "pt1", prepared_timeout="5")["Status"] == "OK"
    txn(sr, "begin", db, "pt2")
    txn(sr, "load", db, "pt2", b"2\tb\t\\N\t\\N\n")
    assert txn(sr, "prepare", db, "pt2")["Status"] == "OK"  # default prepared_timeout: 86400 s
    sr.txns.clean_expired(now=time.monotonic() + 4)
    assert load_state(sr, db, "pt1") == "PREPARED"
    sr.txns.clean_expired(now=time.monotonic() + 6)
    assert load_state(sr, db, "pt1") == "ABORTED" and load_state(sr, db, "pt2") == "PREPARED"
    assert sr.txns.get(db, "pt1").row.reason == "timeout by txn manager"  # type: ignore[union-attr]
    assert txn(sr, "commit", db, "pt1") == {
        "via": "FE",
        "Status": "FAILED",
        "Message": f"class com.starrocks.common.StarRocksException: Can not commit ABORTED transaction "
        f"{txn_id}, label is pt1",
    }
    assert txn(sr, "commit", db, "pt2")["Status"] == "OK"
    assert rows(sr, db) == [(2, "b", None, None)]


# ---------------------------------------------------------------------------------------------- faults


def test_mem_limit_exceeded_fault(sr: StandIn, db: str) -> None:
    sr.faults.inject("mem_limit_exceeded", times=2)
    plain = stream_load(sr, db, b"1\ta\t\\N\t\\N\n", label="m1")
    assert plain["Status"] == "Fail" and plain["Message"].startswith("Memory of process exceed limit.")
    txn(sr, "begin", db, "m2")
    r = txn(sr, "load", db, "m2", b"1\ta\t\\N\t\\N\n")
    assert r["Status"] == "MEM_LIMIT_EXCEEDED"
    assert load_state(sr, db, "m2") == "ABORTED" and rows(sr, db) == []
    assert (
        stream_load(sr, db, b"1\ta\t\\N\t\\N\n", label="m1")["Status"] == "Success"
    )  # used up; label reusable


def test_too_many_versions_fault(sr: StandIn, db: str) -> None:
    sr.faults.inject("too_many_versions")
    r = stream_load(sr, db, b"1\ta\t\\N\t\\N\n")
    assert r["Status"] == "Fail"
    assert (
        "because of too many versions, current/limit: 1001/1000. You can reduce the loading job concurrency"
        in r["Message"]
    )


def test_running_txns_limit_fault(sr: StandIn, db: str) -> None:
    sr.faults.inject("running_txns_limit", times=2)
    r = stream_load(sr, db, b"1\ta\t\\N\t\\N\n")
    assert r["Status"] == "Fail" and r["TxnId"] == -1
    assert r["Message"].startswith("current running txns on db ")
    assert r["Message"].endswith(" is 1000, larger than limit 1000")
    begin = txn(sr, "begin", db, "r1")
    assert begin["Status"] == "ANALYSIS_ERROR" and "current running txns on db" in begin["Message"]


def test_label_already_used_message_fault_gives_the_3_2_11_answer(sr: StandIn, db: str) -> None:
    stream_load(sr, db, b"1\ta\t\\N\t\\N\n", label="u1")
    sr.faults.inject("label_already_used_message")
    r = stream_load(sr, db, b"1\ta\t\\N\t\\N\n", label="u1")
    assert r["Status"] == "Fail" and "has already been used" in r["Message"] and "ExistingJobStatus" not in r


def test_no_backend_alive_fault_is_answered_by_the_fe_and_begins_nothing(sr: StandIn, db: str) -> None:
    sr.faults.inject("no_backend_alive", times=2, table="t")
    raw = Raw(sr.http_port)
    headers = {"Authorization": BASIC, "Expect": "100-continue", "Content-Length": "10", "label": "nb"}
    raw.send_head("PUT", f"/api/{db}/t/_stream_load", headers)
    code, head, body = raw.read_response()  # instead of the 307: LoadAction found no BE
    assert code == 200 and head["connection"] == "close"
    assert list(json.loads(body).items()) == [
        ("Status", "FAILED"),
        ("Message", "class com.starrocks.common.DdlException: No backend alive."),
    ]
    assert raw.at_eof()
    begin = txn(sr, "begin", db, "nb2")
    assert begin == {
        "via": "FE",
        "Status": "FAILED",
        "Message": "class com.starrocks.common.StarRocksException: No backend alive.",
    }
    assert load_state(sr, db, "nb") == "UNKNOWN" and load_state(sr, db, "nb2") == "UNKNOWN"
    assert stream_load(sr, db, b"1\ta\t\\N\t\\N\n", label="nb")["Status"] == "Success"  # used up
    assert txn(sr, "begin", db, "nb2")["Status"] == "OK"


def test_connection_reset_fault_cuts_the_request_and_applies_nothing(sr: StandIn, db: str) -> None:
    sr.faults.inject("connection_reset", table="t")
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.put(
            be_url(sr, f"/api/{db}/t/_stream_load"),
            data=b"1\ta\t\\N\t\\N\n" * 1000,
            auth=AUTH,
            headers={"label": "c1"},
        )
    assert load_state(sr, db, "c1") == "ABORTED" and rows(sr, db) == []
    assert stream_load(sr, db, b"1\ta\t\\N\t\\N\n", label="c1")["Status"] == "Success"


def test_slow_fault_delays_the_answer_after_the_load_is_applied(sr: StandIn, db: str) -> None:
    sr.faults.inject("slow", seconds=3)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.put(
            be_url(sr, f"/api/{db}/t/_stream_load"),
            data=b"1\ta\t\\N\t\\N\n",
            auth=AUTH,
            headers={"label": "sl"},
            timeout=(5, 0.3),
        )
    assert load_state(sr, db, "sl") == "VISIBLE"  # the retry with the same label will see FINISHED
    assert stream_load(sr, db, b"1\ta\t\\N\t\\N\n", label="sl")["ExistingJobStatus"] == "FINISHED"


def test_faults_over_http_with_table_filter_times_and_clear(sr: StandIn, db: str) -> None:
    url = fe_url(sr, "/api/_standin/faults")
    assert requests.post(url, json={"kind": "mem_limit_exceeded"}).status_code == 401
    armed = requests.post(url, json={"kind": "mem_limit_exceeded", "times": -1, "table": "other"}, auth=AUTH)
    assert armed.status_code == 200 and armed.json()["faults"][0]["table"] == "other"
    assert stream_load(sr, db, b"1\ta\t\\N\t\\N\n")["Status"] == "Success"  # not this table
    requests.post(url, json={"kind": "mem_limit_exceeded", "times": 2, "table": f"{db}.t"}, auth=AUTH)
    assert stream_load(sr, db, b"2\ta\t\\N\t\\N\n")["Status"] == "Fail"
    assert stream_load(sr, db, b"2\ta\t\\N\t\\N\n")["Status"] == "Fail"
    assert stream_load(sr, db, b"2\ta\t\\N\t\\N\n")["Status"] == "Success"
    bad = requests.post(url, json={"kind": "meteor_strike"}, auth=AUTH)
    assert bad.status_code == 400 and "expected one of" in bad.json()["msg"]
    assert requests.post(url, json={"clear": True}, auth=AUTH).json()["faults"] == []


# ---------------------------------------------------------------------------------------------- restart, CLI


def test_labels_and_prepared_transactions_survive_a_restart(tmp_path: Path) -> None:
    with StandIn(data_dir=tmp_path) as first:
        sql(first, "CREATE DATABASE p", TABLE_DDL.format(db="p"))
        assert stream_load(first, "p", b"1\ta\t1.5\t\\N\n", label="kept")["Status"] == "Success"
        txn(first, "begin", "p", "ready")
        txn(first, "load", "p", "ready", b"2\tb\t\\N\t[1]\n")
        assert txn(first, "prepare", "p", "ready")["Status"] == "OK"
        txn(first, "begin", "p", "open")
    with StandIn(data_dir=tmp_path) as second:
        assert load_state(second, "p", "kept") == "VISIBLE"
        assert stream_load(second, "p", b"9\tz\t\\N\t\\N\n", label="kept")["ExistingJobStatus"] == "FINISHED"
        assert load_state(second, "p", "ready") == "PREPARED"
        assert txn(second, "commit", "p", "ready")["Status"] == "OK"
        assert load_state(second, "p", "open") == "ABORTED"
        assert rows(second, "p") == [(1, "a", Decimal("1.50"), None), (2, "b", None, "[1]")]


def test_cli_prints_one_ready_line_and_stops_on_sigterm(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("cdc-assets")),
            "starrocks-standin",
            "--data-dir",
            str(tmp_path),
            "--query-port",
            "0",
            "--http-port",
            "0",
            "--be-http-port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert line.startswith("StarRocks stand-in ready: query port "), line
        assert (
            "(jdbc:mysql://127.0.0.1:" in line
            and ", FE http " in line
            and line.rstrip().endswith("user root")
        )
        http_port = int(line.split("FE http ")[1].split(",")[0])
        r = requests.put(f"http://127.0.0.1:{http_port}/api/x/t/_stream_load", allow_redirects=False)
        assert r.status_code == 401
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        assert (tmp_path / "standin.duckdb").exists() and (tmp_path / "standin_labels.sqlite").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
