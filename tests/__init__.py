"""The test suite: each test drives real parts (DuckDB, DuckLake, Parquet, Prefect, the emulator).
May import every package of the project.
"""
