"""How the server is run: gunicorn forks its workers from a master that loaded the registry (``--preload``,
``create_app(warm=True)``), and the workers serve features from one shared buffer of encoded text."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import requests

from api import create_app
from registry import editing, features
from registry.features import Fragments
from registry.store import GeoPackageStore
from registry.store.edits import Author

from .conftest import serve


def test_fragments_join_gives_the_texts_of_the_rows_in_their_order():
    rng = np.random.default_rng(7)
    texts = [bytes(rng.integers(97, 123, rng.integers(0, 30)).astype(np.uint8)) for _ in range(400)]
    fragments = Fragments.of(texts)
    cases = [np.arange(0), np.arange(400), np.arange(17, 18), np.arange(390, 400), rng.permutation(400)[:50],
             np.sort(rng.choice(400, 120, replace=False)), np.array([5, 6, 7, 3, 4, 399, 0, 1])]
    for rows in cases:
        assert fragments.join(rows) == b",".join(texts[i] for i in rows)


def test_fragments_spliced_after_edits_give_the_texts_of_the_rows_as_made():
    rng = np.random.default_rng(3)

    def made(count: int) -> list[bytes]:
        return [bytes(rng.integers(97, 123, rng.integers(0, 15)).astype(np.uint8)) for _ in range(count)]

    texts = made(300)
    fragments = Fragments.of(texts)
    for _ in range(30):  # past 8 buffers they are compacted: both forms are read
        order = [("kept", int(k)) for k in np.sort(rng.choice(len(texts), len(texts) * 3 // 4, replace=False))]
        for _ in range(int(rng.integers(0, 40))):
            order.insert(int(rng.integers(0, len(order) + 1)), ("new", -1))
        added = made(sum(kind == "new" for kind, _ in order))
        fresh = iter(added)
        texts = [texts[k] if kind == "kept" else next(fresh) for kind, k in order]
        fragments = fragments.spliced(np.array([k for _, k in order], dtype=np.int64), added)
        for rows in (np.arange(len(texts)), rng.choice(len(texts), 50), np.sort(rng.choice(len(texts), 80))):
            assert fragments.join(rows) == b",".join(texts[i] for i in rows)


def test_fragments_after_many_small_edits_keep_the_layers_text_and_join_only_the_edited_texts():
    texts = [f'{{"id":{i}}}'.encode() for i in range(5000)]
    fragments = Fragments.of(texts)
    whole = fragments.buffers[0]
    for edit in range(20):  # one row edited at a time, as a PATCH does, past 8 buffers twice
        row = (edit * 397) % len(texts)
        texts[row] = f'{{"id":{row},"edit":{edit}}}'.encode()
        fragments = fragments.replaced(np.array([row]), [texts[row]])
        assert fragments.join(np.arange(len(texts))) == b",".join(texts)
    assert fragments.buffers[0] is whole and len(fragments.buffers) < 9


@pytest.mark.parametrize("kept_apart", [4096, 50], ids=["edits kept apart", "edits folded past 50 rows"])
def test_fragments_with_rows_replaced_give_the_new_texts_there_and_the_old_elsewhere(monkeypatch, kept_apart):
    monkeypatch.setattr(features, "_EDITED_ROWS", kept_apart)
    rng = np.random.default_rng(5)
    texts = [f'{{"id":{i}}}'.encode() for i in range(700)]
    fragments = Fragments.of(texts)
    for edit in range(12):  # past 8 buffers: merged, and compacted when the edited texts outweigh the first
        rows = np.sort(rng.choice(len(texts), int(rng.integers(1, 400)), replace=False))
        for row in rows:
            texts[row] = f'{{"id":{row},"edit":{edit},"pad":"{"x" * int(rng.integers(0, 9))}"}}'.encode()
        fragments = fragments.replaced(rows, [texts[row] for row in rows])
        for asked in (np.arange(len(texts)), rng.choice(len(texts), 60), rows):
            assert fragments.join(asked) == b",".join(texts[i] for i in asked)
    assert len(fragments.buffers) < 9


def test_a_warmed_app_holds_no_descriptor_of_the_registry_when_gunicorn_forks(demo_copy):
    os.environ["REGISTRY_STORE"] = str(demo_copy)
    try:
        create_app(warm=True)
    finally:
        del os.environ["REGISTRY_STORE"]
    opened = []
    for fd in Path("/proc/self/fd").iterdir():
        try:
            opened.append(os.readlink(fd))
        except OSError:
            continue  # closed meanwhile (the listing's own descriptor)
    assert not [name for name in opened if name.startswith(str(demo_copy))]


def test_preloaded_workers_serve_the_whole_layer_as_the_in_process_app_does(demo_path, client):
    path = "collections/rivers/items?limit=10000"
    with serve(str(demo_path)) as url:
        served = [requests.get(url + path, timeout=60) for _ in range(4)]  # both workers, most likely
    expected = client.get("/" + path)
    assert all(r.status_code == 200 for r in served)
    assert {r.json()["numberMatched"] for r in served} == {expected.json["numberMatched"]}
    assert all(r.json()["features"] == expected.json["features"] for r in served)



def _children(pid: int) -> set[int]:
    return {int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


def _workers(master: int) -> set[int]:
    """A gunicorn master's workers: its forked children, not a child it runs briefly (the columnar reader of a
    large registry, refreshed before each fork)."""
    workers = set()
    for child in _children(master):
        try:
            if b"gunicorn" in Path(f"/proc/{child}/cmdline").read_bytes():
                workers.add(child)
        except OSError:
            continue  # ended meanwhile
    return workers


def _wait_for_workers(master: int, gone: int = -1) -> set[int]:
    """The master's two workers once ``gone`` is no longer one of them."""
    deadline = time.monotonic() + 60
    while (gone in (workers := _workers(master)) or len(workers) != 2) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert gone not in workers and len(workers) == 2
    return workers


def _replace_workers(master: int) -> None:
    """Stop each of a gunicorn master's workers in turn, each once its replacement is up."""
    for old in sorted(_wait_for_workers(master)):
        os.kill(old, signal.SIGTERM)
        _wait_for_workers(master, gone=old)


def test_workers_started_after_an_edit_serve_the_edited_registry(demo_copy):
    store = GeoPackageStore(demo_copy)
    fid = int(store.features("rivers").index[0])
    with serve(str(demo_copy)) as url:
        port = url.rsplit(":", 1)[1].strip("/")
        [master] = [pid for pid in _children(os.getpid())
                    if f"127.0.0.1:{port}" in Path(f"/proc/{pid}/cmdline").read_text()]
        editing.patch_item(store, "rivers", fid, {"properties": {"feature_name": "改過的河段"}}, Author("test"))
        _replace_workers(master)  # every worker now is forked after the edit
        names = {requests.get(f"{url}collections/rivers/items/{fid}", timeout=30).json()["properties"]["feature_name"]
                 for _ in range(8)}
    assert names == {"改過的河段"}
