"""The warehouse as the flows reach it: dbt invoked in-process or in a forked worker, DuckDB and
DuckLake connections, Gold queries on either target, and the writer lock. Imports ingestion only.
"""
