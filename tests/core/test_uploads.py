"""Files sent in chat: kept under the data dir's uploads folder, under plain names, up to a size,
and accepted by start_run as attachments."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.runs.uploads import (
    MAX_NAME,
    MAX_UPLOAD_BYTES,
    UploadTooBig,
    safe_name,
    save_upload,
    uploads_dir,
)


@pytest.mark.parametrize(("sent", "kept"), [
    ("notes.txt", "notes.txt"),
    ("../../etc/passwd", "passwd"),
    ("C:\\Users\\ada\\report.pdf", "report.pdf"),
    (".env", "file.env"),
    (".hidden.txt", "hidden.txt"),
    ("--force.sh", "force.sh"),
    ("résumé final (2).pdf", "resume_final_2_.pdf"),
    ("日本語.txt", "file.txt"),
    ("日本語 notes.txt", "notes.txt"),
    ("", "file"),
    ("..", "file"),
    ("/", "file"),
    ("name.", "name"),
])
def test_a_sent_name_becomes_a_plain_file_name(sent: str, kept: str) -> None:
    assert safe_name(sent) == kept


def test_a_very_long_name_is_shortened_and_keeps_its_extension() -> None:
    kept = safe_name("a" * 300 + ".tar.gz")
    assert len(kept) == MAX_NAME and kept.endswith("a.gz")
    assert len(safe_name("b" * 300)) == MAX_NAME


async def test_two_files_of_the_same_name_are_both_kept(tmp_path: Path) -> None:
    first = await save_upload(tmp_path, "notes.txt", b"one")
    second = await save_upload(tmp_path, "notes.txt", b"two")
    assert first != second and (first.read_bytes(), second.read_bytes()) == (b"one", b"two")
    assert first.parent.parent == second.parent.parent == uploads_dir(tmp_path)


async def test_a_file_over_the_limit_is_refused_in_one_line_and_not_kept(
        tmp_path: Path) -> None:
    with pytest.raises(UploadTooBig) as refused:
        await save_upload(tmp_path, "big.bin", b"x" * 2_000_001, limit=2_000_000)
    assert str(refused.value) == ("'big.bin' is 2.0 MB; I take files up to 2 MB: send a "
                                  "smaller file, or a link to it.")
    assert not uploads_dir(tmp_path).exists()
    assert MAX_UPLOAD_BYTES >= 20_000_000  # what Telegram and Discord let people send
