"""Truto over HTTP, sync and async, from one config; no Airflow here.

``config`` (TrutoConfig and its defaults), ``validation`` (argument checks), ``query``, ``unified_api``
(facts read when a DAG is parsed), ``signatures``, ``request`` (a call prepared once), ``response`` (an
answer decoded once), ``retry``, ``pagination``, ``redaction``, ``network``, ``deadline``, ``base`` (what
both clients share), ``sync_client`` (:class:`TrutoClient`, requests) and ``async_client``
(:class:`AsyncTrutoClient`, httpx).

Kept import-free: operators read ``client.unified_api`` and ``client.validation`` when a DAG is parsed, and
nothing heavy may load with them.
"""
