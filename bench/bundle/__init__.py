"""Offline bundles: what `bench setup` brings from the network for a comparison suite, frozen for one target
machine, so that the suite sets up and runs there with no network at all.

A bundle is a folder:

    manifest.json          the target, the suite and preset, every file with its sha256 and size, each
                           member's recipe and patch hashes, sources, wheels and install steps
    wheels/                every wheel the members' install steps need that the target does not provide,
                           including the compiled ones (mmcv with its ops, detectron2) built for the target's
                           Python, torch, CUDA and GPU architectures
    sources/<member>.git   a shallow bare git repository holding the member's pinned commit (bench's patches
                           travel with bench and are checked against the hashes the manifest records)

Two kinds of target (bench.bundle.target): a **full** bundle carries torch and torchvision too (a bare
machine: each environment is a plain virtual environment, as online); an **on-top** bundle is for an
interpreter that already provides torch (a site Python on a cluster, a GPU image): each environment sees that
interpreter's site-packages after its own, and the stack's torch pins become the target's.

`build` (bench.bundle.build) makes one on a machine with network with the same functions `bench setup` uses
(`bench.source.setup.prepare`, `bench.envs.ensure_environment`); `install` (bench.bundle.install) opens one
on the target: every file verified, the target matched, then the same `prepare` and `ensure_environment` with
the package index replaced by the bundle's wheels."""
