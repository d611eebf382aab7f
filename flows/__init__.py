"""The Prefect flows, their deployments, the `streamlake` command line, and what only they use:
warehouse/, demo_app/. May import ingestion, grafana and athena_emulator (their commands).
"""
