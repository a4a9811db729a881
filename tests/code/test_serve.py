"""The FastAPI application in process: endpoints and the wording of its errors."""

import asyncio
import logging
from pathlib import Path

import httpx
import orjson
import pytest

from churn import contract
from churn.delivery import body, openapi, package, schema, serve, validation
from churn.delivery.limits import Limits
from churn.delivery.samples import request_rows
from delivery_helpers import bundled


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
    assert validation.field_name(loc) == expected


def test_summary_lists_the_first_errors_then_counts_the_rest() -> None:
    errors = [
        {"type": "missing", "loc": ("body", "customers", i, "tenure"), "msg": "m"}
        for i in range(7)
    ]
    details = validation.describe(errors)
    assert details[0] == {
        "field": "customers[0].tenure",
        "message": "m",
        "type": "missing",
    }
    text = validation.summary(details)
    assert text.count("customers[") == 5
    assert text.endswith("; and 2 more error(s)")
    assert validation.summary(details[:3], 190_000).endswith(
        "; and 189,997 more error(s)"
    )


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
    ("raw", "parsed", "kind"),
    [
        (b'{"customers": []}', {"customers": []}, None),
        # NaN parses, so that the request model can name the field that is not a
        # finite number.
        (b'{"x": NaN}', "nan", None),
        (b'{"x": 12345678901234567890}', {"x": 12345678901234567890}, None),
        (b"", None, "missing"),
        (b'{"customers": [', None, "json_invalid"),
        (b'{"name": "\xff"}', None, "json_not_utf8"),
        ('{"a": 1}'.encode("utf-16"), None, "json_not_utf8"),
        ('{"a": 1}'.encode("utf-32-le"), None, "json_not_utf8"),
        (b'{"a": 1, "b": {"a": 2, "a": 3}}', None, "duplicate_key"),
        (b'{"x": 123456789012345678901}', None, "int_too_long"),
        (b"[" * 33 + b"]" * 33, None, "json_too_deep"),
        (b"[" * 5000 + b"]" * 5000, None, "json_too_deep"),
    ],
)
def test_strict_parse(raw: bytes, parsed, kind: str | None) -> None:
    value, errors = body.strict(raw, max_depth=32)
    if kind is None:
        assert errors == []
        if parsed == "nan":
            assert value["x"] != value["x"]
        else:
            assert value == parsed
    else:
        assert value is None and [e["type"] for e in errors] == [kind]
        assert validation.describe(errors)[0]["field"] == "body"


def test_a_repeated_key_is_named() -> None:
    _, errors = body.strict(b'{"customers": [{"tenure": 1, "tenure": 2}]}', max_depth=9)
    assert "'tenure' appears 2 times" in errors[0]["msg"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"1", 0),
        (b'{"customers": [{"a": 1}]}', 3),
        # Brackets inside strings, and escaped quotes before them, do not count.
        (rb'[{"a": "[[[{{{"}, "\\", "\\\"[[["]', 2),
        (b"[" * 1100 + b"]" * 1100, 1100),
    ],
)
def test_depth(raw: bytes, expected: int) -> None:
    assert body.depth(raw) == expected


def test_safe_text_escapes_what_utf8_cannot_hold() -> None:
    assert body.safe_text("a\ud800b") == "a\\ud800b"
    assert body.safe_text("\ud800").encode("utf-8") == b"\\ud800"
    assert body.safe_text("x" * 100) == "x" * 80 + "..."


def test_openapi_documents_every_refusal(built: Path) -> None:
    limits = Limits(max_errors=7)
    spec = _call(
        serve.create_app(package.load(built), limits=limits), "GET", "/openapi.json"
    )
    paths = spec.json()["paths"]
    predict = paths["/predict"]["post"]["responses"]
    assert set(predict) == {"200", "400", "408", "413", "415", "422", "431", "503"}
    assert set(paths["/health"]["get"]["responses"]) == {
        "200",
        "400",
        "408",
        "431",
        "503",
    }
    schemas = spec.json()["components"]["schemas"]
    detail = schemas["Unprocessable"]["properties"]["detail"]
    assert detail["maxItems"] == 7
    assert schemas["Customer"]["properties"]["customer_id"]["anyOf"][0]["maximum"] == (
        2**63 - 1
    )
    for status in ("400", "408", "413", "415", "431", "503"):
        content = predict[status]["content"]["application/json"]["schema"]
        assert content == {"$ref": "#/components/schemas/Message"}, status
    assert openapi.Health.model_json_schema()["properties"]["status"]["const"] == "ok"


# --- what is parsed on the event loop ------------------------------------------

#: Bodies shaped to be parsed slowly, under the count of keys refused unparsed
#: (for a batch of 10): an object of empty objects, a long array.
CRAFTED = {
    "empty objects as values": orjson.dumps(
        {"customers": [{f"k{i}": {} for i in range(300)}]}
    ),
    "a long array of numbers": b'{"customers": [['
    + b",".join([b"0"] * 50_000)
    + b"]]}",
}


def test_only_a_body_shaped_like_a_batch_is_parsed_on_the_event_loop(
    built: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed_here = []
    fast = body.fast

    def recording(raw: bytes):
        parsed_here.append(len(raw))
        return fast(raw)

    monkeypatch.setattr(body, "fast", recording)
    app = serve.create_app(package.load(built), max_batch=10)
    rows = request_rows(bundled().head(10))
    valid = orjson.dumps({"customers": rows})
    check = schema.ColumnCheck(10)
    assert check.could_be_batch(*body.marks(valid))
    assert _call(app, "POST", "/predict", content=valid).status_code == 200
    assert parsed_here == [len(valid)]
    for name, raw in CRAFTED.items():
        assert not check.could_be_batch(*body.marks(raw)), name
        answer = _call(app, "POST", "/predict", content=raw)
        assert answer.status_code == 422, (name, answer.text)
        assert parsed_here == [len(valid)], f"{name} was parsed on the event loop"
    # One customer more than the batch holds is the checking process's to word.
    eleven = orjson.dumps({"customers": rows + rows[:1]})
    assert not check.could_be_batch(*body.marks(eleven))
    assert "at most 10" in _call(app, "POST", "/predict", content=eleven).text
