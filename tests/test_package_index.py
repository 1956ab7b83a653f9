"""Fast tier, text only: every `name==version` a recipe or a Dockerfile pins (tests/package_pins.py) is either
recorded as found on the package index for its Python and platform (tests/package_index.toml, the answers of
the slow check tests/test_package_index_slow.py), or sits behind a custom index this machine cannot reach
(listed below with its URL, never skipped silently); and every published version the index lacks is a recorded
deviation: pinned nowhere, its replacement pinned where the record says and explained in the recipe's notes.
"""

from __future__ import annotations

import pytest

from bench.recipes.loader import find_recipe
from package_pins import (RECORD, all_pins, glibc_of, index_pins, manylinux_platforms, pins_in, recorded,
                          tomllib)

TORCH_STABLE = "https://download.pytorch.org/whl/torch_stable.html"
# Pins that only a custom index serves: only pip with that URL can check them, and it is not reachable from
# here.
NOT_CHECKABLE_HERE = {
    ("torch==1.5.0+cu101", TORCH_STABLE), ("torchvision==0.6.0+cu101", TORCH_STABLE),
    ("torch==2.9.1", "https://download.pytorch.org/whl/cu128"),
    ("torchvision==0.24.1", "https://download.pytorch.org/whl/cu128"),
}


def deviations() -> list[dict]:
    return tomllib.loads(RECORD.read_text())["deviation"]


def test_every_index_pin_is_recorded_as_found():
    record = recorded()
    missing = [f"{pin.where}: {' '.join(pin.key)}" for pin in index_pins() if pin.key not in record]
    not_found = [f"{pin.where}: {pin.requirement}" for pin in index_pins()
                 if record.get(pin.key) == "not found"]
    assert not missing, \
        "not in tests/package_index.toml (run the slow check and record it):\n" + "\n".join(missing)
    assert not not_found, "the index lacks:\n" + "\n".join(not_found)


def test_every_record_row_is_a_pin_of_today():
    pinned = {pin.key for pin in index_pins()}
    assert set(recorded()) <= pinned, sorted(set(recorded()) - pinned)


def test_custom_index_pins_are_exactly_the_listed_ones():
    behind = {(pin.requirement, pin.index_url) for pin in all_pins() if pin.index_url is not None}
    assert behind == NOT_CHECKABLE_HERE


@pytest.mark.parametrize("deviation", deviations(), ids=lambda d: d["published"])
def test_published_version_missing_from_the_index_is_a_recorded_deviation(deviation):
    published, pinned = deviation["published"], deviation["pinned"]
    requirements = {pin.requirement for pin in all_pins()}
    assert published not in requirements, f"{published} is still pinned"
    wheres = {pin.where.split()[0] for pin in all_pins() if pin.requirement == pinned}
    assert wheres == set(deviation["files"]), f"{pinned} pinned in {sorted(wheres)}"
    assert pinned in {key[0] for key in recorded()}, f"{pinned}: no index answer recorded"
    for path in deviation["files"]:
        if path.startswith("recipes/"):
            notes = find_recipe(path.removeprefix("recipes/").removesuffix(".toml")).notes
            versions = [published.partition("==")[2], pinned.partition("==")[2]]
            assert all(v in notes for v in versions), f"{path}: notes do not name {versions}"
    assert deviation["evidence"]


def test_pins_in_reads_pip_install_arguments():
    command = ("cd x && HOROVOD=1 python -m pip install --no-cache-dir a==1.0 'B_c==2.0rc1' d>=3 "
               "git+https://h/e.git -f https://example.invalid/f.html; "
               "/opt/venv/bin/pip install --global-option=--cpp_ext g==4 . "
               "&& pip download h==5 && pip install --index-url=https://example.invalid/i -e . j==6")
    assert pins_in(command) == [("a", "1.0", "https://example.invalid/f.html"),
                                ("B_c", "2.0rc1", "https://example.invalid/f.html"),
                                ("g", "4", None), ("j", "6", "https://example.invalid/i")]


def test_the_platform_is_the_base_images_glibc():
    assert glibc_of(find_recipe("detectron2")) == (2, 27)  # FROM ubuntu:18.04
    assert glibc_of(find_recipe("detectron2-current")) == (2, 35)  # nvidia/cuda:...-ubuntu22.04
    # the shared stack: nvidia/cuda:12.8.1-...-ubuntu22.04
    assert glibc_of(find_recipe("torchvision")) == (2, 35)
    assert glibc_of(find_recipe("builtin")) == (2, 36)  # Debian bookworm
    tags = manylinux_platforms("manylinux_2_27_x86_64")
    assert tags[0] == "manylinux_2_27_x86_64" and tags[22] == "manylinux_2_5_x86_64" and len(tags) == 26
    assert {"manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"} <= set(tags)
