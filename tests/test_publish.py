"""Atomic publishing: unpredictable, exclusive temporary files that never follow a planted link, no clobbering
without overwrite, and nothing left behind whatever ends the block."""

from __future__ import annotations

import os
import stat

import pytest

from sentiment_batch import publish
from sentiment_batch.errors import UserError
from sentiment_batch.publish import (
    TEMP_SUFFIX,
    OutputExistsError,
    check_apart,
    check_output,
    staged_file,
    staged_folder,
)


def names(folder):
    return sorted(path.name for path in folder.iterdir())


def test_staged_file_publishes_complete_and_private_until_then(tmp_path):
    path = tmp_path / "out.csv"
    with staged_file(path) as handle:
        handle.write(b"rows")
        [temp] = tmp_path.iterdir()
        assert temp.name.startswith(".out.csv.") and temp.name.endswith(TEMP_SUFFIX)
        assert not path.exists()
    assert path.read_bytes() == b"rows" and names(tmp_path) == ["out.csv"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~current_umask()


def current_umask() -> int:
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


def test_temp_names_are_unpredictable(tmp_path):
    seen = set()
    for _ in range(3):
        with staged_file(tmp_path / "out.csv", overwrite=True):
            seen |= {path.name for path in tmp_path.iterdir() if path.name.endswith(TEMP_SUFFIX)}
    assert len(seen) == 3 and not any(str(os.getpid()) in name for name in seen)


def test_a_planted_symlink_at_the_temp_name_is_never_followed(tmp_path, monkeypatch):
    """An attacker who guesses the next temporary name and plants a link there changes nothing: the file is
    created exclusively (O_EXCL), so the name is skipped and the link's target is untouched."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    planted = tmp_path / f".out.csv.guessed{TEMP_SUFFIX}"
    planted.symlink_to(victim)
    candidates = iter(["guessed", "fresh"])
    monkeypatch.setattr(publish, "_random_part", lambda: next(candidates))
    with staged_file(tmp_path / "out.csv") as handle:
        handle.write(b"scored rows")
    assert victim.read_text() == "precious"
    assert (tmp_path / "out.csv").read_bytes() == b"scored rows"
    assert planted.is_symlink() and names(tmp_path) == sorted([planted.name, "out.csv", "victim.txt"])


def test_without_overwrite_a_file_that_appeared_meanwhile_is_kept(tmp_path):
    path = tmp_path / "out.csv"
    with pytest.raises(OutputExistsError, match="appeared while it was being written"), staged_file(path) as handle:
        handle.write(b"mine")
        path.write_bytes(b"another run's")  # another run published first
    assert path.read_bytes() == b"another run's" and names(tmp_path) == ["out.csv"]


def test_with_overwrite_the_last_complete_file_wins(tmp_path):
    path = tmp_path / "out.csv"
    with staged_file(path, overwrite=True) as handle:
        handle.write(b"mine")
        path.write_bytes(b"another run's")
    assert path.read_bytes() == b"mine" and names(tmp_path) == ["out.csv"]


def test_a_folder_that_appeared_at_the_output_path_is_a_one_line_error(tmp_path):
    path = tmp_path / "out.csv"
    for overwrite in (False, True):
        with pytest.raises(UserError) as raised, staged_file(path, overwrite=overwrite) as handle:
            handle.write(b"rows")
            path.mkdir(exist_ok=True)
        assert "\n" not in str(raised.value)
        assert names(tmp_path) == ["out.csv"] and path.is_dir() and not any(path.iterdir())


@pytest.mark.parametrize("error", [RuntimeError("crash"), KeyboardInterrupt(), SystemExit(3)])
def test_anything_that_ends_the_block_removes_the_temp_file(tmp_path, error):
    path = tmp_path / "out.csv"
    path.write_text("previous run")
    with pytest.raises(type(error)), staged_file(path, overwrite=True) as handle:
        handle.write(b"half")
        raise error
    assert names(tmp_path) == ["out.csv"] and path.read_text() == "previous run"


def test_unwritable_folder_is_a_one_line_user_error(tmp_path):
    staged = staged_file(tmp_path / "missing" / "out.csv")
    with pytest.raises(UserError, match="cannot write .*: No such file or directory"), staged:
        pass


def test_check_output_refuses_existing_outputs_and_the_wrong_kind(tmp_path):
    (tmp_path / "file.csv").write_text("x")
    (tmp_path / "folder.csv").mkdir()
    (tmp_path / "dangling.csv").symlink_to(tmp_path / "nowhere")
    check_output(tmp_path / "new.csv", overwrite=False, folder=False)
    with pytest.raises(OutputExistsError):
        check_output(tmp_path / "file.csv", overwrite=False, folder=False)
    with pytest.raises(OutputExistsError):
        check_output(tmp_path / "dangling.csv", overwrite=False, folder=False)
    check_output(tmp_path / "file.csv", overwrite=True, folder=False)
    with pytest.raises(UserError, match="is a folder"):
        check_output(tmp_path / "folder.csv", overwrite=True, folder=False)
    with pytest.raises(UserError, match="is a file"):
        check_output(tmp_path / "file.csv", overwrite=True, folder=True)


def test_staged_folder_replaces_only_with_overwrite_and_leaves_nothing(tmp_path):
    path = tmp_path / "bundle"
    with staged_folder(path) as staging:
        (staging / "a").write_text("1")
    with pytest.raises(OutputExistsError), staged_folder(path) as staging:
        (staging / "a").write_text("2")
    assert (path / "a").read_text() == "1"
    with staged_folder(path, overwrite=True) as staging:
        (staging / "b").write_text("3")
    assert names(path) == ["b"] and names(tmp_path) == ["bundle"]


def test_a_file_whose_folder_moved_mid_write_is_refused_and_its_temp_file_removed(tmp_path):
    dest, moved = tmp_path / "dest", tmp_path / "moved"
    dest.mkdir()
    refused = pytest.raises(UserError, match="dest was moved or replaced while out.csv was being written")
    with refused, staged_file(dest / "out.csv") as handle:
        handle.write(b"first batch")
        dest.rename(moved)
        handle.write(b"second batch")
    assert names(tmp_path) == ["moved"] and names(moved) == []


def test_a_folder_moved_and_replaced_mid_write_gets_nothing_either(tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(UserError, match="moved or replaced"), staged_file(dest / "out.csv") as handle:
        handle.write(b"rows")
        dest.rename(tmp_path / "old")
        dest.mkdir()  # a rotation: the old folder kept aside, a new one in its place
    assert names(tmp_path) == ["dest", "old"] and names(dest) == [] and names(tmp_path / "old") == []


def test_a_folder_moved_back_before_the_end_is_published_there(tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    with staged_file(dest / "out.csv") as handle:
        dest.rename(tmp_path / "aside")
        handle.write(b"rows")
        (tmp_path / "aside").rename(dest)
    assert (dest / "out.csv").read_bytes() == b"rows" and names(dest) == ["out.csv"]


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_staged_folder_whose_parent_moved_is_refused_and_removed_wherever_it_is(tmp_path, overwrite):
    """Writers that work by path (Spark, `save_pretrained`) re-create the staging folder at its old place; that
    copy goes too."""
    dest, moved = tmp_path / "dest", tmp_path / "moved"
    (dest / "bundle").mkdir(parents=True)
    with (
        pytest.raises(UserError, match="moved or replaced"),
        staged_folder(dest / "bundle", overwrite=overwrite) as staging,
    ):
        (staging / "model.onnx").write_text("half")
        dest.rename(moved)
        (staging / "part").mkdir(parents=True)  # by path: dest/.bundle.<random>.sentiment-batch.tmp/part
        (staging / "part" / "rows").write_text("more")
    assert names(moved) == ["bundle"] and names(dest) == []


def test_overwriting_a_folder_swaps_it_through_the_folder_descriptor(tmp_path):
    path = tmp_path / "bundle"
    path.mkdir()
    (path / "old").write_text("1")
    with staged_folder(path, overwrite=True) as staging:
        (staging / "nested").mkdir()
        (staging / "nested" / "new").write_text("2")
    assert names(tmp_path) == ["bundle"] and names(path) == ["nested"] and (path / "nested" / "new").read_text() == "2"


def test_check_apart_refuses_an_output_that_is_holds_or_lies_inside_an_input(tmp_path):
    data = tmp_path / "data"
    (data / "inner").mkdir(parents=True)
    (data / "reviews.csv").write_text("text\n")
    (tmp_path / "link").symlink_to(data)
    for output, expected in [
        (data / "reviews.csv", "is also an input"),
        (data, "holds the input"),
        (tmp_path, "holds the input"),
        (data / "inner" / "model", "lies inside the input"),
        (tmp_path / "link", "holds the input"),  # the same folder by another name
    ]:
        with pytest.raises(UserError, match=expected):
            check_apart(output, [data / "reviews.csv", tmp_path / "missing", data / "inner"])
    check_apart(tmp_path / "model", [data / "reviews.csv", tmp_path / "missing"])  # beside the input: fine
    check_apart(tmp_path / "stanfordnlp", [tmp_path / "stanfordnlp" / "imdb"])  # an input that is no path (Hub id)
