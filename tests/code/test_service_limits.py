"""The service under hostile input, over real HTTP on 127.0.0.1: every answer is a
4xx with a JSON body, the work per request is bounded, and /health stays quick.

Each probe is one an attacker would send: deep nesting, huge integers, lone
surrogates, repeated keys, UTF-16, bodies that produce hundreds of thousands of
errors, oversized bodies and headers, connections that trickle their headers or
body, more connections than the service serves at once.
"""

import json
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import pytest

from churn.delivery import smoke
from churn.delivery.samples import request_rows
from delivery_helpers import bundled, serving

#: The limits the service under test runs with: small, so probes stay small.
LIMITS = {
    "max_body_bytes": 1_000_000,
    "max_header_bytes": 8192,
    "max_errors": 20,
    "header_timeout": 1,
    "body_timeout": 1,
    "max_concurrency": 8,
}
#: Seconds a refused connection may take beyond its limit to be answered.
SLACK = 3.0


@pytest.fixture(scope="module")
def service(built_archive: Path) -> Iterator[smoke.Service]:
    args = ["--no-access-log"]
    for key, value in LIMITS.items():
        args += ["-S", f"{key}={value}"]
    with serving(built_archive, *args) as svc:
        yield svc
        assert not any("Traceback" in line for line in svc.log_lines), svc.log_lines


@pytest.fixture(scope="module")
def customer() -> dict:
    return request_rows(bundled().iloc[[1]])[0]


# --- raw HTTP, so that a probe can send exactly the bytes it means --------------


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        assert self.headers.get("content-type") == "application/json", self.headers
        return json.loads(self.body)


#: Every answer a probe gets, to be checked against the OpenAPI document at the end.
SEEN: list[tuple[str, str, Answer]] = []


# --- malformed bodies: a 422 with a JSON body, never a 500 ----------------------


def _body(customer: dict, **change) -> bytes:
    return json.dumps({"customers": [{**customer, **change}]}).encode()


def test_json_nested_1100_deep_is_refused(service: smoke.Service) -> None:
    answer = post(service, b'{"customers": ' + b"[" * 1100 + b"]" * 1100 + b"}")
    assert answer.status == 422
    [error] = answer.json()["detail"]
    assert error["type"] == "json_too_deep" and "1101 levels" in error["message"]


def test_an_integer_of_5000_digits_is_refused(
    service: smoke.Service, customer: dict
) -> None:
    raw = _body(customer, tenure=7).replace(b'"tenure": 7', b'"tenure": ' + b"9" * 5000)
    answer = post(service, raw)
    assert answer.status == 422
    assert answer.json()["detail"][0]["type"] == "int_too_long"
    assert len(answer.body) < 1000


def test_a_lone_surrogate_is_echoed_safely(
    service: smoke.Service, customer: dict
) -> None:
    raw = _body(customer, contract="X").replace(b'"X"', b'"\\ud800"')
    answer = post(service, raw)
    assert answer.status == 422
    [error] = answer.json()["detail"]
    assert error["field"] == "customers[0].contract"
    assert error["input"] == "\\ud800"


def test_a_repeated_key_is_refused_naming_it(
    service: smoke.Service, customer: dict
) -> None:
    raw = _body(customer).replace(b'"tenure": ', b'"tenure": 1, "tenure": ', 1)
    answer = post(service, raw)
    assert answer.status == 422
    assert "'tenure' appears 2 times" in answer.json()["message"]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32", "utf-32-be"])
def test_only_utf8_is_read(service: smoke.Service, customer: dict, encoding) -> None:
    text = json.dumps({"customers": [customer]})
    assert post(service, text.encode()).status == 200
    answer = post(service, text.encode(encoding))
    assert answer.status == 422
    assert answer.json()["detail"][0]["type"] == "json_not_utf8"


def test_ids_are_read_as_integers_whatever_their_size(
    service: smoke.Service, customer: dict
) -> None:
    raw = _body(customer, customer_id=7).replace(b": 7,", b": 18446744073709551616,")
    answer = post(service, raw)
    assert answer.status == 422
    [error] = answer.json()["detail"]
    assert error["input"] == 2**64 and isinstance(error["input"], int)
    assert error["type"] == "less_than_equal"
    # 64.0 is an integer to JSON Schema, and so to the service.
    taken = post(service, _body(customer, customer_id=64.0))
    assert taken.status == 200
    assert taken.json()["predictions"][0]["customer_id"] == 64


def test_an_answer_lists_at_most_max_errors(service: smoke.Service) -> None:
    started = time.perf_counter()
    answer = post(service, b'{"customers": [' + b",".join([b"{}"] * 10_000) + b"]}")
    elapsed = time.perf_counter() - started
    assert answer.status == 422
    reply = answer.json()
    assert len(reply["detail"]) == LIMITS["max_errors"]
    assert reply["error_count"] == 10_000 * 19
    assert reply["message"].endswith("; and 189,995 more error(s)")
    assert len(answer.body) < 10_000 and elapsed < 10


def test_thousands_of_unknown_keys_cost_a_bounded_answer(
    service: smoke.Service, customer: dict
) -> None:
    many = {f"k{i}": i for i in range(60_000)}
    for raw in (
        _body(customer, **many),
        json.dumps({"customers": [customer], **many}).encode(),
    ):
        assert len(raw) < LIMITS["max_body_bytes"]
        answer = post(service, raw)
        assert answer.status == 422
        reply = answer.json()
        assert reply["error_count"] == 60_000
        assert len(reply["detail"]) == LIMITS["max_errors"]
        assert len(answer.body) < 10_000


def test_more_keys_than_a_full_batch_are_refused_unparsed(
    service: smoke.Service,
) -> None:
    # A full batch of 10,000 customers has at most 200,001 keys, one ':' each; a
    # body with twice as many is not parsed at all.
    answer = post(service, b'{"customers": [], "x": "' + b":" * 450_000 + b'"}')
    assert answer.status == 422
    [error] = answer.json()["detail"]
    assert error["type"] == "too_many_keys" and "450,002 ':'" in error["message"]


# --- sizes ----------------------------------------------------------------------


def test_a_declared_oversized_body_is_refused_before_it_is_read(
    service: smoke.Service,
) -> None:
    answer = post(service, b"", Content_Length=str(10**9))
    assert answer.status == 413
    assert "serve.max_body_bytes" in answer.json()["message"]
    assert answer.headers["connection"] == "close"


def test_a_chunked_body_is_counted_as_it_arrives(service: smoke.Service) -> None:
    head = (
        b"POST /predict HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    # Exactly the limit, then a few bytes more: the service reads all that is sent
    # before it refuses, so the answer is not lost to a reset connection.
    chunk = b"x" * 100_000
    count = LIMITS["max_body_bytes"] // len(chunk)
    framed = (b"%x\r\n%s\r\n" % (len(chunk), chunk)) * count + b"2\r\nxx\r\n"
    answer = send(service, head + framed)
    assert answer.status == 413
    assert "serve.max_body_bytes" in answer.json()["message"]


def test_a_2mb_header_is_refused(service: smoke.Service) -> None:
    big = b"GET /health HTTP/1.1\r\nHost: test\r\nX-Big: " + b"a" * 2_000_000
    answer = send(service, big + b"\r\n\r\n")
    assert answer.status == 431
    assert "serve.max_header_bytes" in answer.json()["message"]
    # Under the limit is fine, in one piece or many.
    fine = b"GET /health HTTP/1.1\r\nHost: test\r\nX-Big: " + b"a" * 6000 + b"\r\n\r\n"
    assert send(service, fine).status == 200


# --- time and connections -------------------------------------------------------


def _trickle(service: smoke.Service, data: bytes, results: list) -> None:
    """Send `data` a byte every 0.1 s until the service answers or closes."""
    started = time.perf_counter()
    with socket.create_connection(_address(service), timeout=15) as sock:
        sock.settimeout(0.1)
        try:
            for byte in data:
                sock.sendall(bytes([byte]))
                try:
                    if sock.recv(1, socket.MSG_PEEK):
                        break
                except TimeoutError:
                    continue
            sock.settimeout(15)
            answer = read_answer(sock)
            SEEN.append(("/health", "get", answer))
            results.append((answer, time.perf_counter() - started))
        except (ConnectionError, OSError) as exc:
            results.append((exc, time.perf_counter() - started))


def test_slowloris_connections_are_answered_and_closed(
    service: smoke.Service,
) -> None:
    head = b"GET /health HTTP/1.1\r\nHost: test\r\nX-Slow: " + b"z" * 200 + b"\r\n\r\n"
    results: list = []
    threads = [
        threading.Thread(target=_trickle, args=(service, head, results))
        for _ in range(30)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert len(results) == len(threads)
    for answer, elapsed in results:
        assert isinstance(answer, Answer), answer
        assert answer.status == 408, answer
        assert "serve.header_timeout" in answer.json()["message"]
        assert elapsed < LIMITS["header_timeout"] + SLACK
    assert health_ms(service) < 1000


def test_an_idle_connection_is_closed(service: smoke.Service) -> None:
    with socket.create_connection(_address(service), timeout=15) as sock:
        started = time.perf_counter()
        answer = read_answer(sock)
        assert answer.status == 408
        assert time.perf_counter() - started < LIMITS["header_timeout"] + SLACK
        SEEN.append(("/health", "get", answer))
        assert sock.recv(1) == b""


def test_a_slow_body_is_refused(service: smoke.Service) -> None:
    head = (
        b"POST /predict HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n"
    )
    with socket.create_connection(_address(service), timeout=15) as sock:
        started = time.perf_counter()
        sock.sendall(head + b'{"customers": ')
        answer = read_answer(sock)
        SEEN.append(("/predict", "post", answer))
        assert answer.status == 408
        assert "serve.body_timeout" in answer.json()["message"]
        assert time.perf_counter() - started < LIMITS["body_timeout"] + SLACK


def test_a_body_the_endpoint_ignores_cannot_hold_the_connection(
    service: smoke.Service,
) -> None:
    # GET /health answers at once; the body it announced then trickles in, a byte
    # at a time, each of which would reset an idle timer. The body's own deadline
    # closes the connection.
    head = b"GET /health HTTP/1.1\r\nHost: test\r\nContent-Length: 1000\r\n\r\n"
    with socket.create_connection(_address(service), timeout=15) as sock:
        started = time.perf_counter()
        sock.sendall(head)
        assert read_answer(sock).status == 200
        sock.settimeout(0.2)
        closed = False
        while not closed and time.perf_counter() - started < 10:
            try:
                sock.sendall(b"x")
                closed = sock.recv(1) == b""
            except TimeoutError:
                continue
            except OSError:
                closed = True
        assert closed
        assert time.perf_counter() - started < LIMITS["body_timeout"] + SLACK


def test_one_connection_too_many_gets_a_503(service: smoke.Service) -> None:
    address = _address(service)
    idle = [
        socket.create_connection(address, timeout=10)
        for _ in range(LIMITS["max_concurrency"])
    ]
    try:
        answer = send(service, b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n")
        assert answer.status == 503
        assert answer.headers["retry-after"] == "1"
        assert "serve.max_concurrency" in answer.json()["message"]
    finally:
        for sock in idle:
            sock.close()
    deadline = time.monotonic() + 5
    while send(service, b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n").status != 200:
        assert time.monotonic() < deadline, "still refusing after the idle closed"
        time.sleep(0.1)


# --- /health while bad requests arrive -----------------------------------------


def test_health_stays_quick_under_a_burst_of_bad_requests(
    service: smoke.Service, customer: dict
) -> None:
    many = {f"k{i}": i for i in range(60_000)}
    bad = [
        b'{"customers": [' + b",".join([b"{}"] * 10_000) + b"]}",
        _body(customer, **many),
        b'{"customers": ' + b"[" * 1100 + b"]" * 1100 + b"}",
    ]
    stop = threading.Event()

    def attack(raw: bytes) -> int:
        sent = 0
        while not stop.is_set() and sent < 50:
            assert post(service, raw).status == 422
            sent += 1
        return sent

    calm = [health_ms(service) for _ in range(5)]
    with ThreadPoolExecutor(max_workers=3) as pool:
        attacks = [pool.submit(attack, raw) for raw in bad]
        time.sleep(0.3)
        latencies = []
        for _ in range(20):
            latencies.append(health_ms(service))
            time.sleep(0.05)
        stop.set()
        sent = sum(a.result(timeout=60) for a in attacks)
    assert sent >= 3
    p99 = statistics.quantiles(latencies, n=100)[98]
    # Refusals worked on the event loop stalled /health for seconds. The 100 ms
    # target is measured by the benchmark (benchmarks/hostile.py) on a quiet
    # machine; here, beside the other tests on the same cores, a stall is what fails.
    assert p99 < 1000, f"/health p99 {p99:.1f} ms under attack; calm {calm}"
    assert service.alive()


def test_every_answer_is_documented_with_its_body(service: smoke.Service) -> None:
    # Runs last: the refusals the probes above got (413, 431, 408, 503 ... which
    # a fuzzer does not provoke) each match the schema the document gives them.
    spec = json.loads(
        send(service, b"GET /openapi.json HTTP/1.1\r\nHost: t\r\n\r\n").body
    )
    statuses = set()
    for path, method, answer in SEEN[:-1]:  # the last: GET /openapi.json itself
        documented = spec["paths"][path][method]["responses"]
        assert str(answer.status) in documented, (path, method, answer)
        media = documented[str(answer.status)]["content"]["application/json"]
        schema = {**media["schema"], "components": spec["components"]}
        jsonschema.validate(answer.json(), schema)
        statuses.add(answer.status)
    assert statuses >= {200, 408, 413, 422, 431, 503}, statuses


def _address(service: smoke.Service) -> tuple[str, int]:
    parts = urlsplit(service.url)
    return parts.hostname, parts.port


def read_answer(sock: socket.socket) -> Answer:
    """One HTTP response from `sock` (to its Content-Length, or to end of stream)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before an answer: {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "-1"))
    while len(rest) < length or length < 0:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return Answer(int(status_line.split()[1]), headers, rest)


def send(service: smoke.Service, data: bytes, *, timeout: float = 30) -> Answer:
    """Send `data` as it is on a fresh connection and read the answer."""
    with socket.create_connection(_address(service), timeout=timeout) as sock:
        sock.sendall(data)
        answer = read_answer(sock)
    method, path = data.split(b" ", 2)[:2]
    SEEN.append((path.decode(), method.decode().lower(), answer))
    return answer


def post(service: smoke.Service, body: bytes, **headers: str) -> Answer:
    """POST /predict with `body`, Content-Type JSON unless `headers` say otherwise."""
    fields = {"Content-Type": "application/json", "Content-Length": str(len(body))}
    fields.update({k.replace("_", "-"): v for k, v in headers.items()})
    head = "POST /predict HTTP/1.1\r\nHost: test\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in fields.items())
    return send(service, head.encode() + b"\r\n" + body)


def health_ms(service: smoke.Service) -> float:
    started = time.perf_counter()
    answer = send(service, b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n", timeout=10)
    assert answer.status == 200
    return (time.perf_counter() - started) * 1000
