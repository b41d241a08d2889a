"""make_plan: every file and every stored item lands in exactly one place (property test), and
the rules for unchanged, touched, changed, moved and deleted files."""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st

from openbind.pipeline.plan import Stored, make_plan
from openbind.pipeline.scan import FileEntry, content_hash
from openbind.types import Modality

MODS = (Modality.TEXT, Modality.IMAGE)


def entry(path, modality=Modality.TEXT) -> FileEntry:
    st_ = os.stat(path)
    return FileEntry(path, modality, st_.st_size, st_.st_mtime)


def stored(key, path, modality=Modality.TEXT, **kw) -> Stored:
    st_ = os.stat(path) if path.exists() else None
    values = {
        "content_hash": content_hash(path) if st_ else "gone",
        "size": st_.st_size if st_ else 0,
        "mtime": st_.st_mtime if st_ else 0.0,
    }
    values.update(kw)
    return Stored(key, str(path), modality, values["content_hash"], values["size"], values["mtime"])


def test_rules(tmp_path):
    same, touched, changed, moved_src, new = (
        tmp_path / n for n in ("same", "touched", "changed", "moved", "new")
    )
    for p in (same, touched, changed, new):
        p.write_text(p.name)
    moved_src.write_text("moved content")
    old = [
        stored(1, same),
        stored(2, touched, mtime=1.0),  # same bytes, other mtime
        stored(3, changed, content_hash="old", size=1),
        stored(4, tmp_path / "deleted"),
        stored(5, tmp_path / "old-name", content_hash=content_hash(moved_src)),
    ]
    found = [entry(same), entry(touched), entry(changed), entry(moved_src), entry(new)]
    found.append(FileEntry(tmp_path / "x.bin", None, 1, 0.0))
    found.append(FileEntry(tmp_path / "a.wav", Modality.AUDIO, 1, 0.0))
    plan = make_plan(found, old, MODS)
    assert sorted(plan.keep) == [1, 2]
    assert sorted(plan.remove) == [3, 4, 5]
    assert sorted(t.path.name for t in plan.embed) == ["changed", "new"]
    assert [(t.path.name, k) for t, k in plan.reuse] == [("moved", 5)]
    assert [r for _, r in plan.unsupported] == [
        "unsupported file type",
        "the space has no audio tower (it has text, image)",
    ]


@settings(max_examples=40, deadline=None)
@given(
    files=st.lists(
        st.tuples(st.sampled_from("abcdef"), st.sampled_from("xyz")),
        max_size=6,
        unique_by=lambda t: t[0],
    ),
    old=st.lists(
        st.tuples(st.sampled_from("abcdefgh"), st.sampled_from("xyzw"), st.booleans()),
        max_size=6,
        unique_by=lambda t: t[0],
    ),
)
def test_every_file_and_item_is_accounted_for_once(tmp_path_factory, files, old):
    root = tmp_path_factory.mktemp("plan")
    for name, text in files:
        (root / name).write_text(text)
    found = [entry(root / name) for name, _ in files]
    items = []
    for key, (name, text, same_stat) in enumerate(old):
        path = root / name
        digest = (
            content_hash(path)
            if path.exists() and (root / name).read_text() == text
            else f"h-{text}"
        )
        size, mtime = (
            (os.stat(path).st_size, os.stat(path).st_mtime)
            if same_stat and path.exists()
            else (0, 0.0)
        )
        items.append(Stored(key, str(path), Modality.TEXT, digest, size, mtime))
    plan = make_plan(found, items, MODS)

    placed = [str(p) for p in (root / n for n, _ in files)]
    outcome = [str(t.path) for t in plan.embed] + [str(t.path) for t, _ in plan.reuse]
    kept_paths = [next(s.path for s in items if s.key == k) for k in plan.keep]
    assert sorted(outcome + kept_paths) == sorted(placed)  # each found file exactly once
    assert sorted(plan.keep + plan.remove) == sorted(s.key for s in items)  # each item once
    for todo, key in plan.reuse:  # reused vectors come from identical content
        assert next(s for s in items if s.key == key).content_hash == todo.content_hash
