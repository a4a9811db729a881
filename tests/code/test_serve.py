"""The FastAPI application in process: endpoints and the wording of its errors."""

import asyncio
import logging
from pathlib import Path

import httpx
import pytest

from churn import contract
from churn.delivery import package, schema, serve
from churn.delivery.samples import request_rows
from delivery_helpers import build_package, bundled


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_package(tmp_path_factory.mktemp("app"))


def _call(app, method: str, url: str, **kwargs) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            return await c.request(method, url, **kwargs)

    return asyncio.run(go())


def test_endpoints(built: Path) -> None:
    app = serve.create_app(package.load(built))
    assert _call(app, "GET", "/health").json()["status"] == "ok"
    info = _call(app, "GET", "/model").json()
    assert info["tag"] == "churn-model@v1.0.0"
    assert info["estimator"] == "logistic_regression"
    rows = request_rows(bundled().head(3))
    reply = _call(app, "POST", "/predict", json={"customers": rows})
    assert reply.status_code == 200
    assert [p["customer_id"] for p in reply.json()["predictions"]] == [1, 2, 3]
    schema = _call(app, "GET", "/openapi.json").json()
    assert "Customer" in schema["components"]["schemas"]


def test_max_batch_defaults_to_the_package(built: Path) -> None:
    app = serve.create_app(package.load(built), max_batch=2)
    rows = request_rows(bundled().head(3))
    reply = _call(app, "POST", "/predict", json={"customers": rows})
    assert reply.status_code == 422
    assert "at most 2" in reply.json()["message"]


@pytest.mark.parametrize(
    ("loc", "expected"),
    [
        (("body", "customers", 0, "tenure"), "customers[0].tenure"),
        (("body", "customers"), "customers"),
        (("body",), "body"),
        ((), "body"),
    ],
)
def test_field_name(loc: tuple, expected: str) -> None:
    assert serve.field_name(loc) == expected


def test_summary_lists_the_first_errors_then_counts_the_rest() -> None:
    errors = [
        {"type": "missing", "loc": ("body", "customers", i, "tenure"), "msg": "m"}
        for i in range(7)
    ]
    details = serve.describe(errors)
    assert details[0] == {
        "field": "customers[0].tenure",
        "message": "m",
        "type": "missing",
    }
    text = serve.summary(details)
    assert text.count("customers[") == 5
    assert text.endswith("; and 2 more error(s)")


def test_serve_refuses_a_tampered_package(
    built: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    copy = tmp_path / built.name
    copy.mkdir()
    for p in built.iterdir():
        (copy / p.name).write_bytes(p.read_bytes())
    with (copy / "model.skops").open("ab") as fh:
        fh.write(b"\0")
    with caplog.at_level(logging.ERROR):
        assert serve.main(["--package", str(copy)]) == 1
    assert "SHA-256" in caplog.text and "not loaded" in caplog.text


def test_app_from_env_needs_a_package(
    monkeypatch: pytest.MonkeyPatch, built: Path
) -> None:
    monkeypatch.delenv(serve.PACKAGE_ENV, raising=False)
    with pytest.raises(SystemExit, match="CHURN_PACKAGE"):
        serve.app_from_env()
    monkeypatch.setenv(serve.PACKAGE_ENV, str(built))
    assert serve.app_from_env().version == "1.0.0"


def test_a_body_the_column_check_declines_still_gets_the_model_s_answer(
    built: Path,
) -> None:
    # A 0/1 flag sent as 1.0 is valid for the request model but not certainly so
    # for the whole-column check: the request takes the per-customer path.
    app = serve.create_app(package.load(built))
    rows = request_rows(bundled().head(3))
    flag = next(r for r in rows if r["senior_citizen"] == 0)
    assert schema.ColumnCheck(10).columns({"customers": [flag]}) is not None
    as_float = dict(flag, senior_citizen=0.0)
    assert schema.ColumnCheck(10).columns({"customers": [as_float]}) is None
    plain = _call(app, "POST", "/predict", json={"customers": [flag, flag]})
    declined = _call(app, "POST", "/predict", json={"customers": [as_float, flag]})
    assert plain.status_code == declined.status_code == 200
    assert declined.json()["predictions"] == plain.json()["predictions"]


def test_openapi_documents_the_request_body(built: Path) -> None:
    spec = _call(app := serve.create_app(package.load(built)), "GET", "/openapi.json")
    body = spec.json()["paths"]["/predict"]["post"]["requestBody"]
    ref = body["content"]["application/json"]["schema"]["$ref"]
    assert ref == "#/components/schemas/PredictRequest"
    schemas = spec.json()["components"]["schemas"]
    customers = schemas["PredictRequest"]["properties"]["customers"]["items"]
    assert customers == {"$ref": "#/components/schemas/Customer"}
    assert set(schemas["Customer"]["properties"]) == {
        contract.ID,
        *contract.feature_names(),
    }
    assert app.openapi() is app.openapi()


@pytest.mark.parametrize(
    ("raw", "body", "kind"),
    [
        (b'{"customers": []}', {"customers": []}, None),
        # orjson refuses NaN; the standard parser takes it, so the request model
        # can name the field that is not a finite number.
        (b'{"x": NaN}', "nan", None),
        (b"", None, "missing"),
        (b'{"customers": [', None, "json_invalid"),
        (b'{"name": "\xff"}', None, "json_invalid"),
    ],
)
def test_parse_body(raw: bytes, body, kind: str | None) -> None:
    parsed, errors = serve.parse_body(raw)
    if kind is None:
        assert errors == []
        if body == "nan":
            assert parsed["x"] != parsed["x"]
        else:
            assert parsed == body
    else:
        assert parsed is None and [e["type"] for e in errors] == [kind]
        assert serve.describe(errors)[0]["field"] == "body"
