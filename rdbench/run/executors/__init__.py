"""Executors: where jobs run. Every executor takes a list of jobs and yields one record per job
as it finishes; :func:`make_executor` builds one from the command-line options."""
