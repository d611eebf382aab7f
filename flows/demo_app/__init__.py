"""The demo application: a simulated shop whose DynamoDB tables and Kinesis stream feed the handlers
in the local run, the tests and the benchmarks. May import ingestion only.
"""
