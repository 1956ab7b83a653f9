"""Run mmdetection's own tools/train.py as the mmdet package from the package index ships it.

mmdet 3.3.0's wheel carries its tools and configs under mmdet/.mim/, so the smoke preset needs no git checkout:
this file only locates that train.py and runs it as __main__ with the same arguments (bench ships it; it is not
mmdetection code)."""

import os
import runpy
import sys

import mmdet

script = os.path.join(os.path.dirname(mmdet.__file__), ".mim", "tools", "train.py")
if not os.path.isfile(script):
    sys.exit(f"bench: {script} is missing: mmdet {mmdet.__version__} was not installed from a wheel with .mim/")
sys.argv[0] = script
runpy.run_path(script, run_name="__main__")
