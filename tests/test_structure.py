"""The layering the issues ask for, checked on the source: GPU scripts stay thin (lab functions, one machine
helper, no sys.path edits), the big report notebooks only display what lab computes, and the family CLIs code
files through one helper."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted((ROOT / "scripts").glob("*.py"))


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_scripts_are_thin(path):
    src = path.read_text()
    assert "sys.path.insert" not in src and "sys.path.append" not in src, "run scripts with the lab installed or PYTHONPATH"
    assert "get_device_name" not in src, "describe the machine with lab.report.machine()"
    private = [n.name for n in ast.walk(ast.parse(src)) if isinstance(n, ast.FunctionDef)
               and n.name in ("_autocast", "_ink", "_machine")]
    assert not private, f"private copies of lab functions: {private}"


@pytest.mark.parametrize("name", ["optical", "llm"])
def test_report_notebooks_define_no_functions(name):
    """Tables and verdicts live in lab (lab/optical/study.py, lab/optical/qa/study.py, lab/llm/findings.py)."""
    tree = ast.parse((ROOT / "notebooks" / f"{name}.py").read_text())
    defs = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    assert defs == [], f"notebooks/{name}.py defines {defs}"


@pytest.mark.parametrize("cli", ["lab/procedural/cli.py", "lab/vortex/cli.py", "lab/llmzip/cli.py"])
def test_codec_clis_share_the_file_helper(cli):
    src = (ROOT / cli).read_text()
    assert "code_file(" in src and "atomic_write(" not in src, f"{cli}: code files through lab.files.code_file"
