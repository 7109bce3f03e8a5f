"""Client-side pacing under Truto's rate limits: ``limits`` (RateLimit and the GCRA), ``lock_files`` (the
budgets on one host), ``budgets`` (the budgets one client spends) and ``redis_store`` (the same budgets in
Redis, shared by every host). No Airflow here."""
