"""The Prefect flows, their deployments, the `streamlake` command line, and what only they use:
warehouse/, demo_app/, athena_emulator/. May import ingestion and grafana (its dashboards command).
"""
