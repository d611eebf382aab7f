"""The warehouse as the flows reach it: dbt in a forked worker or a process of its own, DuckDB and
DuckLake connections, Gold queries on either target, and the writer lock. Imports ingestion only.
"""
