"""Truto's signed webhooks, received inside Airflow's api-server.

``signature`` (Truto's HMAC-SHA256 header), ``delivery`` (checks and decoding of one delivery, the replay
window), ``events`` (what an event asks for: which asset event, with which extra), ``receiver`` (one
delivery's answer, over a secret source and an event store handed in) and ``app`` (the FastAPI app).
None imports Airflow: :mod:`airflow_provider_truto.plugins` wires them to Airflow's connections and asset
events. Kept import-free, so importing one module loads only what it needs.
"""
