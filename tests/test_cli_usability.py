"""What a new user and a fault injector found (issue "the lab as people use it, round 2"): each defect as a test
that failed before the fix, plus start-up time (CPU, not wall clock) and defaults in every --help."""
import resource
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

LAB = [sys.executable, "-m", "lab"]


def lab(*args, input=None):
    return subprocess.run([*LAB, *map(str, args)], capture_output=True, text=True, timeout=600, input=input)


def cpu_seconds(*args) -> tuple[float, subprocess.CompletedProcess]:
    """A `lab` command's CPU time (user + system of the child): robust to a busy machine."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = lab(*args)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), r


def lab_here(capsys, *args):
    """The CLI in this process (no interpreter start a call: torch and transformers load once), as a result with
    `returncode` and `stderr`; a test keeps one real process for what only a process shows."""
    from types import SimpleNamespace

    from lab.cli import main

    capsys.readouterr()
    rc = main(list(map(str, args)))
    return SimpleNamespace(returncode=rc, stderr=capsys.readouterr().err)


def one_line_error(r, *words):
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lab"), r.stderr
    for w in words:
        assert w in lines[0], lines[0]


@pytest.mark.parametrize("family", ["", "holo", "proc", "vortex", "optical", "llm", "llmzip"])
def test_help_is_quick_and_shows_defaults(family):
    """`lab --help` and each family's --help start without torch, numba or transformers (< 0.5 s on a quiet
    2-core machine; bounded here by CPU time, generously)."""
    secs, r = cpu_seconds(*([family] if family else []), "--help")
    assert r.returncode == 0 and "usage:" in r.stdout
    assert secs < 1.5, f"lab {family} --help took {secs:.2f} s of CPU"


def test_every_help_shows_its_defaults():
    r = lab("optical", "render", "--help")
    assert "(default: 640)" in r.stdout and "(default: 14)" in r.stdout and "(default: DejaVuSans)" in r.stdout
    r = lab("optical", "ocr", "--help")
    assert "(default: ctc)" in r.stdout and "(default: small)" in r.stdout and "--reference" in r.stdout
    assert "(default: 2048)" in lab("llmzip", "compress", "--help").stdout


def test_a_half_created_bank_is_reported_never_rewritten_and_add_completes_it(tmp_path):
    """A bank.sqlite without tables (a creation killed): read-only verbs say so and leave it alone; `add`
    completes the creation with the options asked for; a folder where bank.sqlite should be is named."""
    bank = tmp_path / "zb"
    bank.mkdir()
    (bank / "bank.sqlite").write_bytes(b"")
    for verb in (["check"], ["list"], ["stats"], ["search", "x"]):
        one_line_error(lab("optical", verb[0], bank, *verb[1:]), "holds no memory bank")
        assert (bank / "bank.sqlite").stat().st_size == 0
    doc = tmp_path / "note.txt"
    doc.write_text("The tea was poured by the March Hare at six o'clock.\n")
    r = lab("optical", "add", bank, doc, "--encoder", "random:0", "--embedder", "hashing-64", "--mode", "tiny")
    assert r.returncode == 0, r.stderr
    assert lab("optical", "check", bank).stdout.strip().endswith("ok")
    r = lab("optical", "add", bank, doc, "--embedder", "all-minilm-l6-v2")
    one_line_error(r, "hashing-64")                          # it was created with the options asked for
    odd = tmp_path / "zd"
    (odd / "bank.sqlite").mkdir(parents=True)
    one_line_error(lab("optical", "check", odd), "is a folder")


def test_empty_questions_and_queries_are_refused_before_any_model_loads(tmp_path):
    bank = tmp_path / "b"
    doc = tmp_path / "a.txt"
    doc.write_text("Alice sat by her sister on the bank.\n")
    assert lab("optical", "add", bank, doc, "--encoder", "random:0", "--embedder", "hashing-64", "--mode", "tiny").returncode == 0
    secs, r = cpu_seconds("optical", "ask", bank, "  ")
    one_line_error(r, "question is empty")
    assert secs < 8, f"{secs:.1f} s of CPU: a model was loaded before the question was checked"
    one_line_error(lab("optical", "search", bank, ""), "query is empty")


def test_a_dotted_text_file_is_text_and_binary_is_refused(tmp_path):
    lic = tmp_path / "LICENSE-2.0"
    lic.write_text("Apache License\nVersion 2.0, January 2004\n\nTERMS AND CONDITIONS FOR USE.\n" * 5)
    r = lab("optical", "render", lic, "-o", tmp_path / "pages", "--quiet")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "pages" / "LICENSE-2.0-p001.png").is_file() or list((tmp_path / "pages").glob("*.png"))
    blob = tmp_path / "x.dat"
    blob.write_bytes(b"\x00\x01\x02binary" * 10)
    one_line_error(lab("optical", "render", blob, "-o", tmp_path / "p2"), "x.dat", "not UTF-8 text")


def test_ocr_of_a_tiny_image_says_why(tmp_path):
    Image.fromarray(np.full((1, 1), 255, np.uint8)).save(tmp_path / "1x1.png")
    one_line_error(lab("optical", "ocr", tmp_path / "1x1.png"), "1x1.png", "too small")


@pytest.mark.parametrize("verb,suffix", [(["holo", "info"], ".holo"), (["optical", "ocr"], ".vtok"),
                                         (["proc", "decompress"], ".proc"), (["vortex", "decompress"], ".vtx"),
                                         (["llmzip", "decompress"], ".llmz")])
def test_every_format_error_names_the_file(tmp_path, verb, suffix):
    for name, data in (("empty", b""), ("magic", b"NOPE" * 8)):
        f = tmp_path / f"{name}{suffix}"
        f.write_bytes(data)
        out = ["-o", tmp_path / f"{name}.out"] if verb[1] == "decompress" else []
        if verb[0] == "llmzip":
            out += ["--model", "tiny-random"]
        one_line_error(lab(*verb, f, *out), str(f))


def test_llmzip_says_which_setting_is_wrong_and_which_model_wrote_a_file(tmp_path, capsys):
    src = tmp_path / "a.txt"
    src.write_text("hello hello hello\n")
    here = lambda *a: lab_here(capsys, *a)      # noqa: E731
    one_line_error(here("llmzip", "compress", src, "-o", tmp_path / "a.llmz", "--keep", "5000", "--context", "100",
                        "--model", "tiny-random"), "--keep 5000", "below the context")
    one_line_error(here("llmzip", "compress", src, "-o", tmp_path / "a.llmz", "--mix", "bias,ppm",
                        "--model", "tiny-random"), "--mix", "'ppm'", "bias, ngram, match")
    assert here("llmzip", "compress", src, "-o", tmp_path / "m.llmz", "--mix", "all", "--model", "tiny-random").returncode == 0
    assert here("llmzip", "decompress", tmp_path / "m.llmz", "-o", tmp_path / "m.txt", "--model",
                "tiny-random").returncode == 0 and (tmp_path / "m.txt").read_bytes() == src.read_bytes()
    assert here("llmzip", "compress", src, "-o", tmp_path / "a.llmz", "--model", "tiny-random").returncode == 0
    secs, r = cpu_seconds("llmzip", "decompress", tmp_path / "a.llmz", "-o", tmp_path / "b.txt")
    one_line_error(r, "tiny-random", "not smollm2-135m-instruct")
