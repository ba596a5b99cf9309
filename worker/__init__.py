"""The worker dyno: RQ jobs and the process that runs them. The web process names jobs by dotted path only."""
