"""Process set-up that entry points do first: malloc's huge pages
(host_malloc) and XLA flags for bit-identical runs (deterministic_kernels);
and the process's memory as the kernel reports it (process_memory)."""
