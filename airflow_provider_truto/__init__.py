"""Apache Airflow provider for Truto's unified API.

Kept import-free on purpose: Airflow imports provider packages while parsing DAGs.
"""

__version__ = "0.1.0"
