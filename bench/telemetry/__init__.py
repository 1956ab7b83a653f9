"""The samplers that run beside a launch (NVML, psutil, RAPL) and the series they write
(bench.telemetry.series); `measure/` summarises the series over the window, the pipeline starts and stops the
sampler (bench.telemetry.control), and the Slurm batch script starts one per node."""
