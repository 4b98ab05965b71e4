import pytest

from lab import DataError, data


def test_registry_has_the_named_sets():
    for name in ("kodak", "photos", "canterbury", "canterbury-large", "tinystories"):
        ds = data.get(name)
        assert ds.files and all(len(h) == 64 for h in ds.files.values())
    assert len(data.get("kodak").files) == 24


def test_locates_shared_data_and_verifies():
    d = data.fetch("photos")  # located (no download), sha256 verified
    assert (d / "flower_foveon.png").is_file()


def test_lab_data_env_takes_precedence(tmp_path, monkeypatch):
    src = data.locate("canterbury-large")
    (tmp_path / "canterbury-large").mkdir()
    (tmp_path / "canterbury-large" / "bible.txt").symlink_to(src / "bible.txt")
    monkeypatch.setenv("LAB_DATA", str(tmp_path))
    assert data.locate("canterbury-large") == tmp_path / "canterbury-large"


def test_split_is_disjoint_and_complete():
    train, test = data.read_split("canterbury-large", "train"), data.read_split("canterbury-large", "test")
    full = data.path("canterbury-large", "bible.txt").read_bytes()
    assert train + test == full and len(test) > 0


def test_unknown_dataset_is_a_clear_error():
    with pytest.raises(DataError, match="unknown dataset"):
        data.get("nope")


def test_offline_download_failure_is_a_data_error(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "search_dirs", lambda name: [tmp_path / "x"])
    monkeypatch.setattr(data, "ROOT", tmp_path)

    def boom(*a, **k):
        raise OSError("network unreachable")

    monkeypatch.setattr(data.urllib.request, "urlopen", boom)
    with pytest.raises(DataError, match="download"):
        data.fetch("canterbury")
    assert not list((tmp_path / "data" / "canterbury").glob("*.part"))


def test_image_fallback_when_nothing_found(monkeypatch):
    monkeypatch.setattr(data, "files", lambda *a, **k: (_ for _ in ()).throw(DataError("offline")))
    imgs, note = data.load_images("kodak", limit=1)
    assert note.startswith("FALLBACK") and imgs[0][1].ndim == 3
