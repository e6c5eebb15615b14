"""``llm-infra vector`` on a temp-directory store."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from llm_infra.cli import _codes
from llm_infra.vector import open_store

from .conftest import Run

DIMS = 4


def _create(run: Run, store: str = "store", *extra: str) -> None:
    result = run("vector", "create", store, "--dimensions", str(DIMS), "--index-field", "lang", *extra)
    assert result.exit_code == 0, result.stderr


def _jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _rows(n: int) -> list[dict[str, object]]:
    rng = np.random.default_rng(7)
    return [
        {
            "id": f"p{i}",
            "vector": rng.random(DIMS).tolist(),
            "metadata": {"lang": "en" if i % 2 else "fr", "i": i},
        }
        for i in range(n)
    ]


def test_create_then_stats(run: Run) -> None:
    """``create`` makes the store; ``stats --json`` reports its parameters."""
    _create(run, "store", "--distance", "l2", "--m", "8", "--ef-search", "50", "--collection", "docs")
    result = run("vector", "stats", "store", "--json")
    assert result.exit_code == 0, result.stderr
    stats = json.loads(result.stdout)
    assert (stats["collection"], stats["dimensions"], stats["distance"], stats["count"]) == (
        "docs",
        4,
        "l2",
        0,
    )
    assert stats["hnsw"]["m"] == 8
    assert stats["hnsw"]["ef_search"] == 50
    assert "dimensions" in run("vector", "stats", "store").stdout


def test_create_takes_dimensions_from_config(run: Run) -> None:
    """Without --dimensions, vector.dimensions from the configuration is used."""
    result = run("vector", "create", "s2", "--json", env={"LLM_VECTOR_DIMENSIONS": "3"})
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["dimensions"] == 3
    missing = run("vector", "create", "s3")
    assert missing.exit_code == 1
    assert f"error[{_codes.INVALID_INPUT}]" in missing.stderr


def test_import_jsonl_then_search(run: Run, workdir: Path) -> None:
    """Every JSONL record is written; a filtered search returns only matching ids."""
    _create(run)
    rows = _rows(40)
    _jsonl(workdir / "v.jsonl", rows)
    result = run("vector", "import", "store", "v.jsonl", "--batch-size", "7")
    assert result.exit_code == 0, result.stderr
    assert "imported 40 of 40 records" in result.stdout
    query = json.dumps(rows[3]["vector"])
    found = run("vector", "search", "store", "--vector", query, "-k", "3", "--json")
    hits = json.loads(found.stdout)
    assert hits[0]["id"] == "p3"
    assert len(hits) == 3
    filtered = run("vector", "search", "store", "--vector", query, "--filter", '{"lang": "fr"}', "--json")
    assert all(h["metadata"]["lang"] == "fr" for h in json.loads(filtered.stdout))
    table = run("vector", "search", "store", "--vector", query, "-k", "2", "--min-score", "0.5")
    assert table.exit_code == 0
    assert "p3" in table.stdout


def test_import_reports_refused_records(run: Run, workdir: Path) -> None:
    """Bad lines and wrong dimensions are listed with their codes; the rest is written; exit 1."""
    _create(run)
    path = workdir / "mixed.jsonl"
    path.write_text(
        '{"id": "ok1", "vector": [1, 0, 0, 0]}\n'
        '{"id": "short", "vector": [1, 0]}\n'
        "not json\n"
        '{"vector": [1, 0, 0, 0]}\n'
        '{"id": "ok2", "vector": [0, 1, 0, 0], "lang": "en"}\n',
        encoding="utf-8",
    )
    result = run("vector", "import", "store", str(path))
    assert result.exit_code == 1
    assert "imported 2 of 5 records" in result.stdout
    assert "short: [vector.dimension_mismatch]" in result.stderr
    assert "line 3: [json.invalid]" in result.stderr
    assert f"line 4: [{_codes.INVALID_INPUT}]" in result.stderr
    assert f"error[{_codes.IMPORT_PARTIAL}]: 3 of 5 records were refused" in result.stderr
    with open_store(workdir / "store") as store:
        assert store.count() == 2
        record = store.get("ok2")
        assert record is not None
        assert record.metadata == {"lang": "en"}


def test_insert_refuses_existing_ids(run: Run, workdir: Path) -> None:
    """``--insert`` refuses ids already stored (every item failed: still reported, exit 1)."""
    _create(run)
    _jsonl(workdir / "v.jsonl", _rows(3))
    assert run("vector", "import", "store", "v.jsonl").exit_code == 0
    again = run("vector", "import", "store", "v.jsonl", "--insert", "--show-failures", "1")
    assert again.exit_code == 1
    assert "already_exists" in again.stderr
    assert "... and 2 more" in again.stderr


def test_import_csv(run: Run, workdir: Path) -> None:
    """CSV: an id column, a vector column (JSON or numbers), other columns become metadata."""
    _create(run)
    with (workdir / "v.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "vector", "lang"])
        writer.writerow(["a", "[1, 0, 0, 0]", "en"])
        writer.writerow(["b", "0 1 0 0", ""])
        writer.writerow(["c", "x y", "en"])
        writer.writerow(["", "1 0 0 0", "en"])
    result = run("vector", "import", "store", "v.csv")
    assert result.exit_code == 1
    assert "imported 2 of 4 records" in result.stdout
    with open_store(workdir / "store") as store:
        got = store.get("a")
        assert got is not None
        assert got.metadata == {"lang": "en"}
        other = store.get("b")
        assert other is not None
        assert other.metadata is None


def test_import_npy_with_ids_file(run: Run, workdir: Path) -> None:
    """.npy: a 2-D array; ids from --ids-file, else row numbers."""
    _create(run)
    data = np.eye(DIMS, dtype=np.float32)
    np.save(workdir / "v.npy", data)
    (workdir / "ids.txt").write_text("w\nx\ny\nz\n", encoding="utf-8")
    assert run("vector", "import", "store", "v.npy", "--ids-file", "ids.txt").exit_code == 0
    assert run("vector", "import", "store", "v.npy").exit_code == 0
    with open_store(workdir / "store") as store:
        assert store.count() == 8
        assert store.get("z") is not None
        assert store.get("3") is not None
    (workdir / "short.txt").write_text("a\n", encoding="utf-8")
    bad = run("vector", "import", "store", "v.npy", "--ids-file", "short.txt")
    assert bad.exit_code == 1
    assert f"error[{_codes.INVALID_INPUT}]" in bad.stderr
    np.save(workdir / "flat.npy", np.zeros(3))
    flat = run("vector", "import", "store", "flat.npy")
    assert flat.exit_code == 1
    assert "2-D array" in flat.stderr


def test_import_parquet(run: Run, workdir: Path) -> None:
    """Parquet files import when pyarrow is installed."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    _create(run)
    table = pa.table({"id": ["a", "b"], "vector": [[1.0, 0, 0, 0], [0, 1.0, 0, 0]], "lang": ["en", "fr"]})
    pq.write_table(table, workdir / "v.parquet")
    result = run("vector", "import", "store", "v.parquet")
    assert result.exit_code == 0, result.stderr
    with open_store(workdir / "store") as store:
        got = store.get("b")
        assert got is not None
        assert got.metadata == {"lang": "fr"}


def test_parquet_without_pyarrow(run: Run, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without pyarrow, a Parquet import says how to install it (``config.missing_extra``)."""
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    _create(run)
    (workdir / "v.parquet").write_bytes(b"PAR1")
    result = run("vector", "import", "store", "v.parquet")
    assert result.exit_code == 1
    assert "error[config.missing_extra]" in result.stderr
    assert "pip install pyarrow" in result.stderr


def test_unknown_format(run: Run, workdir: Path) -> None:
    """An unknown extension or --format value is ``cli.unknown_format``."""
    _create(run)
    (workdir / "v.txt").write_text("x", encoding="utf-8")
    result = run("vector", "import", "store", "v.txt")
    assert result.exit_code == 1
    assert f"error[{_codes.UNKNOWN_FORMAT}]" in result.stderr
    named = run("vector", "import", "store", "v.txt", "--format", "xml")
    assert named.exit_code == 1
    assert f"error[{_codes.UNKNOWN_FORMAT}]" in named.stderr


def test_search_input_errors(run: Run, workdir: Path) -> None:
    """Malformed query vectors and filters are ``cli.invalid_input``; wrong dimensions are the store's."""
    _create(run)
    for args in (
        [],
        ["--vector", "[1, 2"],
        ["--vector", '{"a": 1}'],
        ["--vector", "[1,0,0,0]", "--filter", "{nope"],
    ):
        result = run("vector", "search", "store", *args)
        assert result.exit_code == 1, args
        assert f"error[{_codes.INVALID_INPUT}]" in result.stderr, args
    wrong = run("vector", "search", "store", "--vector", "[1, 0]")
    assert wrong.exit_code == 1
    assert "error[vector.dimension_mismatch]" in wrong.stderr
    assert "fix: Every vector of a collection has the collection's dimensions." in wrong.stderr


def test_search_vector_file(run: Run, workdir: Path) -> None:
    """--vector-file takes JSON or .npy."""
    _create(run)
    _jsonl(workdir / "v.jsonl", _rows(5))
    run("vector", "import", "store", "v.jsonl")
    np.save(workdir / "q.npy", np.array([1, 0, 0, 0], dtype=np.float32))
    (workdir / "q.json").write_text("[1, 0, 0, 0]", encoding="utf-8")
    for name in ("q.npy", "q.json"):
        result = run("vector", "search", "store", "--vector-file", name, "-k", "2", "--json")
        assert result.exit_code == 0, result.stderr
        assert len(json.loads(result.stdout)) == 2


def test_verify_rebuild_snapshot(run: Run, workdir: Path) -> None:
    """verify passes, rebuild keeps the count, snapshot copies; a used destination is refused."""
    _create(run)
    _jsonl(workdir / "v.jsonl", _rows(12))
    run("vector", "import", "store", "v.jsonl")
    verify = run("vector", "verify", "store", "--json")
    assert verify.exit_code == 0
    assert json.loads(verify.stdout)["ok"] is True
    assert "ok" in run("vector", "verify", "store").stdout
    rebuilt = run("vector", "rebuild", "store")
    assert rebuilt.exit_code == 0
    assert "(12 vectors)" in rebuilt.stdout
    snap = run("vector", "snapshot", "store", "snap")
    assert snap.exit_code == 0, snap.stderr
    with open_store(workdir / "snap") as copy:
        assert copy.count() == 12
    again = run("vector", "snapshot", "store", "snap")
    assert again.exit_code == 1
    assert "error[vector.snapshot_exists]" in again.stderr


def test_verify_failure_exits_1(run: Run, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A report with problems is ``cli.verify_failed`` naming them."""
    from llm_infra.vector import LocalVectorStore, VerifyReport

    _create(run)
    monkeypatch.setattr(
        LocalVectorStore,
        "verify",
        lambda self: VerifyReport(ok=False, count=0, problems=("index.bin failed its checksum",)),
    )
    result = run("vector", "verify", "store")
    assert result.exit_code == 1
    assert f"error[{_codes.VERIFY_FAILED}]" in result.stderr
    assert "checksum" in result.stderr


def test_locked_store(run: Run, workdir: Path) -> None:
    """A store held open elsewhere is ``vector.locked`` with the guide's fix."""
    _create(run)
    with open_store(workdir / "store"):
        result = run("vector", "stats", "store")
    assert result.exit_code == 1
    assert "error[vector.locked]" in result.stderr
    assert "fix: Another process has the store open" in result.stderr


def test_urls(run: Run) -> None:
    """Unknown schemes are refused; postgresql:// needs the scale-out backends."""
    from llm_infra.cli._vector_cmd import _url_opener

    bad = run("vector", "stats", "ftp://host/x")
    assert bad.exit_code == 1
    assert f"error[{_codes.UNSUPPORTED_URL}]" in bad.stderr
    if _url_opener() is None:
        missing = run("vector", "stats", "postgresql://postgres@127.0.0.1/test")
        assert missing.exit_code == 1
        assert f"error[{_codes.NOT_AVAILABLE}]" in missing.stderr


def test_url_stores_go_through_the_backend_opener(
    run: Run, monkeypatch: pytest.MonkeyPatch, workdir: Path
) -> None:
    """A URL store is opened by the backends' opener; ``#name`` becomes its collection option."""
    from llm_infra import vector

    calls: list[tuple[str, object, dict[str, object]]] = []
    local = open_store(":memory:", vector.VectorStoreConfig(collection="docs", dimensions=DIMS))

    def opener(url: str, config: object, **options: object) -> object:
        calls.append((url, config, options))
        return None if url.startswith("qdrant") else local

    monkeypatch.setattr(vector, "open_backend", opener, raising=False)
    result = run("vector", "stats", "postgresql://u@127.0.0.1/db#docs", "--json")
    assert result.exit_code == 0, result.stderr
    assert calls[0] == ("postgresql://u@127.0.0.1/db", None, {"collection": "docs"})
    assert json.loads(result.stdout)["collection"] == "docs"
    refused = run("vector", "stats", "qdrant://127.0.0.1:6333/docs")
    assert refused.exit_code == 1
    assert f"error[{_codes.UNSUPPORTED_URL}]" in refused.stderr


def test_file_url_is_a_path(run: Run, workdir: Path) -> None:
    """``file://`` names a local directory."""
    _create(run)
    result = run("vector", "stats", f"file://{workdir / 'store'}", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["dimensions"] == DIMS


def test_migrate_between_local_stores(run: Run, workdir: Path) -> None:
    """``migrate`` copies every record into a new store created with the source's config."""
    from llm_infra.cli._vector_cmd import _migrator

    if _migrator() is None:
        result = run("vector", "migrate", "a", "b")
        assert result.exit_code == 1
        assert f"error[{_codes.NOT_AVAILABLE}]" in result.stderr
        pytest.skip("llm_infra.vector.migrate is not in this tree yet (vector backends branch)")
    _create(run, "src")
    _jsonl(workdir / "v.jsonl", _rows(30))
    run("vector", "import", "src", "v.jsonl")
    result = run("vector", "migrate", "src", "dst", "--batch-size", "8", "--checkpoint", "mig.json")
    assert result.exit_code == 0, result.stderr
    with open_store(workdir / "dst") as dst:
        assert dst.count() == 30
        assert dst.config.dimensions == DIMS


def test_import_json_summary(run: Run, workdir: Path) -> None:
    """``import --json`` prints what was written and every refused record with its code."""
    _create(run)
    (workdir / "v.jsonl").write_text(
        '{"id": "a", "vector": [1, 0, 0, 0]}\n{"id": "b", "vector": [1]}\n', "utf-8"
    )
    result = run("vector", "import", "store", "v.jsonl", "--json")
    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert (summary["written"], summary["read"]) == (1, 2)
    assert [(r["record"], r["code"]) for r in summary["refused"]] == [("b", "vector.dimension_mismatch")]
