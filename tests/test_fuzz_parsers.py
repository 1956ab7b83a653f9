"""Property-based fuzzing of every log parser (issue 13): hostile lines built from each format's own tokens
and from arbitrary text never raise anything but BenchError, take bounded time per line, and never give `ok`
with a non-finite or non-positive throughput; `bench parse --json` output is always valid JSON.

The fast profile runs a few dozen examples per parser; `pytest -m slow` runs the deep profile."""

from __future__ import annotations

import json
import math
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.errors import BenchError
from bench.logs.registry import FORMAT_MODULES, new_parser
from bench.vocabulary import ParseStatus
from bench.measure.assess import measure
from parser_cases import FORMATS, times_for

# Pieces of every format's progress and config lines, so that generated lines come close to real ones.
TOKENS = [
    "iter: ", "time: ", "data: ", "data_time: ", "loss: ", "lr: ", "eta: 0:01:02", "max mem: ",
    "max_mem: 12M", "Epoch: [0]", "  [ 100/7329]", "Epoch [1][50/7330]\t", "Iter [50/90000]\t",
    "Epoch(train)  [1][  50/7330]",
    "json_stats: {", '{"iter": ', '{"iteration": ', '{"mode": "train", "epoch": 1, "iter": ', '"time": ', "}",
    "Epoch[0] Batch [110]\tSpeed: ", " samples/sec", "Epoch 3 (global_step 150) finished, time:",
    "Throughput (samples/sec): ", "50/50 [==============================] - 57s 1s/step - loss: ",
    "Epoch 3/40",
    "Namespace(batch_size=", "world_size=", "distributed=True", "| distributed init (rank 0)", "SOLVER:",
    "  IMS_PER_BATCH: ", "Running with full config:", "Running with config:", "Using 8 GPUs", "GPU number: ",
    "train_dataloader = dict(", "data = dict(", "samples_per_gpu=", "batch_size=", "gpu_ids = range(0, ",
    "'NUM_GPUS': ", "Horovod Rank=0, Size=", "Training with config:", " 'TRAIN': {", "'IMS_PER_BATCH': ",
    "BATCH_SIZE                     ", "GPU_COUNT                      ", "World size: ",
    "nan", "inf", "-inf", "1e308", "1e999", "1.2.3", "-1", "0", "0.3", "99999999999999999999", " ", "  ",
    "\t",
    "(", ")", "[", "]", ",", ":", "\r", "\x08", "\x1b[32m", "\x1b[0m",
]
NAMES = sorted(FORMAT_MODULES)
FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DEEP = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LINE_BUDGET_S = 0.5  # per line of up to a few thousand characters: generous for a linear parser

tokens = st.sampled_from(TOKENS)
numbers = st.one_of(st.integers(-10, 10**6).map(str),
                    st.floats(allow_nan=True, allow_infinity=True).map(repr))
pieces = st.one_of(tokens, numbers, st.text(max_size=20))
lines = st.lists(pieces, max_size=40).map("".join)
long_runs = st.tuples(tokens, st.integers(200, 2000)).map(lambda t: t[0] * t[1])


def check_parser(name: str, fed: list[str], real: list[str]) -> None:
    """Feed real progress lines with hostile ones mixed in; every property must hold."""
    parser = new_parser(name)
    for line in real[:5] + fed + real[5:]:
        # CPU time of this process, not wall time: a stall caused by other processes on a shared machine is
        # not the parser's (what a quadratic parser spends is what this catches)
        started = time.process_time()
        try:
            parser.feed(line + "\n")
        except BenchError:
            pass
        assert time.process_time() - started < LINE_BUDGET_S, (name, line[:80])
    window = FORMATS[name][1]
    m = measure(parser, 16, window)
    text = json.dumps(m.to_json(), allow_nan=False)
    json.loads(text)
    if m.status is ParseStatus.OK:
        assert m.throughput_img_s is not None and math.isfinite(m.throughput_img_s) and m.throughput_img_s > 0
    batch = parser.batch
    if batch is not None and batch.images_per_iter is not None:
        assert isinstance(batch.images_per_iter, int)


REAL = {name: FORMATS[name][0](times_for(name)) for name in NAMES}


@pytest.mark.parametrize("name", NAMES)
@FAST
@given(fed=st.lists(st.one_of(lines, long_runs), max_size=6))
def test_fuzz_fast(name: str, fed: list[str]) -> None:
    check_parser(name, fed, REAL[name])


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
@DEEP
@given(fed=st.lists(st.one_of(lines, long_runs), max_size=20))
def test_fuzz_deep(name: str, fed: list[str]) -> None:
    check_parser(name, fed, REAL[name])


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("token", ["  ", "iter: 1 ", "time: ", "1", "a", "] - ", "loss", "(", "Epoch: [0]  ",
                                   "samples_per_gpu=", "'IMS_PER_BATCH': ", "time: 111 "])
def test_repeated_token_lines_of_40_kb_are_linear(name: str, token: str) -> None:
    """Lines made of one token repeated: the inputs that make backtracking regexes quadratic."""
    parser = new_parser(name)
    line = token * (40_000 // len(token))
    started = time.process_time()  # CPU time, as in check_parser
    parser.feed(line + "\n")
    parser.feed("Epoch: [0]  [ 1/2]  eta: 0:00:01 " + line + "\n")
    assert time.process_time() - started < LINE_BUDGET_S, name
