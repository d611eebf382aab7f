"""Grafana on Gold: provisioning, the generated dashboards and alert rules, and builder/, the code
that generates them and renders previews. May import ingestion, flows.warehouse and flows.alerts.
"""
