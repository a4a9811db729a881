"""The service as a real uvicorn process on a loopback port, over real HTTP."""

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from churn.delivery import package, smoke
from churn.delivery.samples import request_rows
from delivery_helpers import (
    build_package,
    bundled,
    fitted,
    reference_proba,
    serving,
)

#: A small batch limit, so the oversized request stays small.
MAX_BATCH = 50


@pytest.fixture(scope="module")
def service(built_archive: Path) -> Iterator[smoke.Service]:
    with serving(
        built_archive, "--max-batch", str(MAX_BATCH), "--no-access-log"
    ) as svc:
        yield svc


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return request_rows(bundled())


def test_listens_on_loopback(service: smoke.Service) -> None:
    assert service.url.startswith("http://127.0.0.1:")
    assert service.alive()


def test_health_and_model(service: smoke.Service, built_archive: Path) -> None:
    pkg = package.load(built_archive)
    health = smoke.request(f"{service.url}/health")
    assert (health.status, health.body) == (
        200,
        {"status": "ok", "model": "churn-model", "version": "1.0.0"},
    )
    info = smoke.request(f"{service.url}/model")
    assert info.status == 200
    assert info.body["sha256"] == pkg.manifest["model"]["sha256"]
    assert info.body["metrics"] == pkg.manifest["metrics"]
    assert (
        info.body["data"]["sources"][0]["md5"]
        == pkg.manifest["data"]["sources"][0]["md5"]
    )
    assert info.body["version"] == "1.0.0" and info.body["max_batch"] == 10_000


def test_batch_predictions_equal_the_in_process_model(
    service: smoke.Service, rows: list[dict]
) -> None:
    picked = list(range(0, len(rows), len(rows) // MAX_BATCH))[:MAX_BATCH]
    picked[-1] = next(i for i, r in enumerate(rows) if r["tenure"] == 0)
    reply = smoke.post_json(
        f"{service.url}/predict", {"customers": [rows[i] for i in picked]}
    )
    assert reply.status == 200
    served = reply.body["predictions"]
    expected = reference_proba(fitted(), bundled().iloc[picked])
    np.testing.assert_allclose(
        [p["churn_probability"] for p in served], expected, rtol=0, atol=1e-9
    )
    assert [p["customer_id"] for p in served] == [
        rows[i]["customer_id"] for i in picked
    ]
    assert [p["churn"] for p in served] == [bool(p >= 0.5) for p in expected]
    assert reply.body["version"] == "1.0.0"


def test_one_customer_without_an_id(service: smoke.Service, rows: list[dict]) -> None:
    customer = {k: v for k, v in rows[3].items() if k != "customer_id"}
    reply = smoke.post_json(f"{service.url}/predict", {"customers": [customer]})
    assert reply.status == 200
    [prediction] = reply.body["predictions"]
    assert prediction["customer_id"] is None
    expected = reference_proba(fitted(), bundled().iloc[[3]])[0]
    assert abs(prediction["churn_probability"] - expected) <= 1e-9


def _customer(**change) -> dict:
    row = request_rows(bundled().iloc[[1]])[0]
    row.update(change)
    return row


def _without(field: str) -> dict:
    return {k: v for k, v in _customer().items() if k != field}


MALFORMED = {
    "missing field": ({"customers": [_without("tenure")]}, 422, "customers[0].tenure"),
    "wrong type": (
        {"customers": [_customer(monthly_charges="cheap")]},
        422,
        "customers[0].monthly_charges: Input should be a valid number",
    ),
    "out of range": (
        {"customers": [_customer(tenure=500)]},
        422,
        "customers[0].tenure: Input should be less than or equal to 72",
    ),
    "unknown category": (
        {"customers": [_customer(contract="Weekly")]},
        422,
        "customers[0].contract: Input should be 'Month-to-month'",
    ),
    "unknown field": (
        {"customers": [_customer(shoe_size=42)]},
        422,
        "customers[0].shoe_size: Extra inputs are not permitted",
    ),
    "boolean flag": (
        {"customers": [_customer(), _customer(senior_citizen=True)]},
        422,
        "customers[1].senior_citizen",
    ),
    "unbilled with tenure": (
        {"customers": [_customer(total_charges=None)]},
        422,
        "customers[0].total_charges: may be null only",
    ),
    "empty list": ({"customers": []}, 422, "customers: is empty"),
    "oversized batch": (
        {"customers": [_customer()] * (MAX_BATCH + 1)},
        422,
        f"customers: holds {MAX_BATCH + 1} customers; one request takes at most "
        f"{MAX_BATCH}",
    ),
    "customers not a list": (
        {"customers": _customer()},
        422,
        "customers: Input should be a valid list",
    ),
    "bare list body": ([_customer()], 422, "body: must be a JSON object"),
    "no customers key": ({"rows": [_customer()]}, 422, "customers: Field required"),
}

RAW = {
    "non-JSON body": (b"customer=1", "application/json", 422, "body: not valid JSON"),
    "truncated JSON": (
        b'{"customers": [{"tenure": 1',
        "application/json",
        422,
        "body: not valid JSON",
    ),
    "NaN number": (
        json.dumps({"customers": [_customer(monthly_charges=float("nan"))]}).encode(),
        "application/json",
        422,
        "customers[0].monthly_charges: Input should be a finite number",
    ),
    "form content type": (
        b"tenure=1",
        "application/x-www-form-urlencoded",
        415,
        "Content-Type: application/json",
    ),
    "empty body": (b"", "application/json", 422, "body: a JSON body"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_json_gets_a_4xx_naming_the_field(
    service: smoke.Service, case: str
) -> None:
    body, status, message = MALFORMED[case]
    reply = smoke.post_json(f"{service.url}/predict", body)
    assert reply.status == status, reply.body
    assert message in reply.body["message"], reply.body


@pytest.mark.parametrize("case", sorted(RAW))
def test_malformed_body_gets_a_4xx_with_a_clear_message(
    service: smoke.Service, case: str
) -> None:
    data, content_type, status, message = RAW[case]
    url = f"{service.url}/predict"
    if data:
        reply = smoke.request(url, data=data, content_type=content_type)
    else:
        # urllib sends a body-less POST only through an explicit empty request.
        import urllib.request

        req = urllib.request.Request(url, data=b"", method="POST")
        req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req) as resp:
                reply = smoke.Reply(resp.status, json.loads(resp.read()))
        except urllib.error.HTTPError as exc:
            reply = smoke.Reply(exc.code, json.loads(exc.read()))
    assert reply.status == status, reply.body
    assert message in reply.body["message"], reply.body


def test_unknown_route_and_method_are_4xx(service: smoke.Service) -> None:
    assert smoke.request(f"{service.url}/predict").status == 405
    assert smoke.request(f"{service.url}/nope").status == 404


def test_service_is_still_up_after_the_bad_requests(
    service: smoke.Service, rows: list[dict]
) -> None:
    # Runs last in this module: every malformed request above has been answered.
    assert service.alive()
    assert smoke.request(f"{service.url}/health").status == 200
    reply = smoke.post_json(f"{service.url}/predict", {"customers": rows[:2]})
    assert reply.status == 200 and len(reply.body["predictions"]) == 2
    assert not any("Traceback" in line for line in service.log_lines)


def test_smoke_check_passes_on_a_good_service(
    service: smoke.Service, built_archive: Path
) -> None:
    assert smoke.check(service.url, package.load(built_archive)) == []


def test_smoke_check_catches_a_service_with_another_model(
    service: smoke.Service, tmp_path: Path
) -> None:
    other = package.load(
        build_package(tmp_path, fitted("hist_gradient_boosting"), version="1.0.0")
    )
    problems = smoke.check(service.url, other)
    assert any(p.startswith("GET /model") for p in problems)
    assert any(p.startswith("POST /predict: served") for p in problems)
