"""What the provider runs inside Airflow's api-server: its plugin, and the webhook receiver behind it.

``truto`` (the ``AirflowPlugin``, registered by the ``airflow.plugins`` entry point) and ``webhooks`` (the
receiver wired to Airflow: connections for the secret, asset events for the work).
"""
