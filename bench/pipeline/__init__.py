"""One pipeline for every launcher: resolve a run (bench.pipeline.run.resolve), prepare its source and stack,
start it with a launcher (local process, container engine, Kubernetes pod), watch it, and make its record with
the one record builder (bench.records.builder), which imported logs use too."""
