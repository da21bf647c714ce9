"""Where the tests look for the shared data, and what they do when it is not there."""

from pathlib import Path

import pytest
from _pytest.outcomes import Failed, Skipped

from tests.shared_data import ENV, PROJECT_ROOT, shared_dir, shared_path


class TestSharedDir:
    def test_without_the_variable_it_is_the_folder_beside_the_project(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv(ENV, raising=False)
        assert shared_dir() == (PROJECT_ROOT.parent / "shared").resolve()

    def test_a_relative_variable_is_taken_from_the_project_root(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv(ENV, "../shared")
        assert shared_dir() == (PROJECT_ROOT.parent / "shared").resolve()

    def test_an_absolute_variable_is_used_as_it_is(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv(ENV, str(tmp_path))
        assert shared_dir() == tmp_path.resolve()


class TestSharedPath:
    def test_a_file_that_is_there_is_returned(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        (tmp_path / "liar").mkdir()
        (tmp_path / "liar" / "valid.tsv").write_text("x")
        monkeypatch.setenv(ENV, str(tmp_path))
        assert shared_path("liar", "valid.tsv") == tmp_path.resolve() / "liar" / "valid.tsv"

    def test_a_missing_file_skips_naming_the_path_when_nothing_was_promised(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv(ENV, raising=False)
        monkeypatch.setattr("tests.shared_data.PROJECT_ROOT", tmp_path / "project")
        with pytest.raises(Skipped, match=str(tmp_path / "shared" / "liar" / "valid.tsv")):
            shared_path("liar", "valid.tsv")

    def test_a_missing_file_fails_when_the_variable_promised_the_data(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv(ENV, str(tmp_path / "nowhere"))
        with pytest.raises(Failed, match=str(tmp_path / "nowhere" / "seed-articles")):
            shared_path("seed-articles")
