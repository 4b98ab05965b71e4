import json

from lab import report


def test_table_formats_numbers():
    md = report.table([{"a": 1234, "b": 0.12345, "c": float("nan"), "d": "x"}])
    assert "| 1,234 | 0.123 | – | x |" in md


def test_table_shows_every_rows_keys():
    md = report.table([{"a": 1, "b": 2}, {"a": 3, "c": 4}])
    assert md.splitlines()[0] == "| a | b | c |" and "| 3 |  | 4 |" in md


def test_report_writes_markdown_and_json(tmp_path):
    r = report.Report("t", "Title", tmp_path, profile="smoke")
    r.section("S", "text")
    r.table([{"x": 1}], key="rows")
    p = r.write()
    assert p.read_text().startswith("# Title")
    data = json.loads((tmp_path / "data" / "t.json").read_text())
    assert data["rows"] == [{"x": 1}] and data["meta"]["profile"] == "smoke"
    assert not list(tmp_path.glob(".*tmp*"))


def test_machine_names_the_library_versions_a_run_used():
    from importlib import metadata

    from lab.report import machine

    m = machine()
    assert m["transformers"] == metadata.version("transformers") and m["peft"] == metadata.version("peft")
    assert m["device"] == m.get("gpu", m["cpu"]) and m["cores"] >= 1
