"""Names vulture cannot see used (it reads code statically). Each is used, by the reason given; everything else
vulture reports is dead code and goes. `vulture` reads this file with bench/ (see [tool.vulture] in pyproject)."""

# (vulture's whitelist format: never imported or run, only parsed.)

# pycocotools reads these Params attributes (COCOeval.evaluate/summarize); bench sets them.
_.areaRng
_.areaRngLbl

# bench/__init__.py: a module's __getattr__ (PEP 562) is what `bench.__version__` calls on first use.
__getattr__

# Schema fields: data that people and other tools read from the TOML and JSON files (recipes, stacks, protocols,
# run records), validated by pydantic on the way in, never read back by bench's own code.
equivalent_why  # protocol: why a declared value counts as the protocol's (protocol_1.toml, suite_current.toml)
others  # recipe [stack]: the stack's other pinned packages, for readers and `bench show --json`
description  # recipe [presets.*]
stack_pins  # recipe: which shared stack file fills its install pins (bench.recipes.stacks.fill_stack_pins)
cuda_tag  # stacks/*.toml: filled into recipes and checked against Dockerfiles (tests/test_stacks.py)
image_index
mmcv
mmengine
recipe_sha256  # record provenance: the recipe file's own sha256, for tracing a row to the file
bench_bundle  # bundle manifest.json: its format version (read_manifest checks it in the raw JSON)
described_by  # bundle target: where a target description comes from (a probe, or written by hand from what)
schema_version  # record: the version a reader migrates from (bench.records.schema)
coco_eval  # record: COCO metrics, where a run evaluated
requested_rate  # record telemetry.sampler: the rate the sampler was asked for (beside the one it achieved)
total_samples  # record telemetry.sampler: samples over the whole run (the window's are `samples`)
# record: the keys of environment, dataset and extra that tables and reports read (bench.records.schema.Facts),
# typed there so that a record of the wrong shape is refused on read; the readers use them as dict keys
logical
physical
frameworks
accelerators_per_node
synthetic_params
log_url

# Closed vocabularies: every member is a word records and options may hold, used or not in bench's own code.
WarningCode.DIVERGED_AFTER_WINDOW  # made by WarningCode.after_window
WarningCode.TRACEBACK_AFTER_WINDOW
LogFormat.MLPERF  # the registry iterates over LogFormat
LogFormat.DETECTRON2
LogFormat.MMDET_V2
LogFormat.MMDET_V2_JSON
LogFormat.MMENGINE
LogFormat.MASKRCNN_BENCHMARK
LogFormat.TENSORPACK
LogFormat.SIMPLEDET
LogFormat.DETECTRON
LogFormat.KERAS
LogFormat.TORCHVISION
