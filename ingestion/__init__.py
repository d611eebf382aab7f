"""The Lambda handlers and what lands their records as Bronze Parquet, exactly once, or quarantines
them with a reason. Imports nothing of the project's other packages: it ships alone in the Lambdas.
"""
