"""The defaults of a watch for new channels, the sensor's and the trigger's alike.

Their own module because the sensor reads them when a DAG is parsed, and must stay cheap to import.
"""

from __future__ import annotations

DEFAULT_POLL_INTERVAL = 60.0  # seconds between two looks at the channel list
DEFAULT_CHANNELS_PER_PAGE = 100  # the page size (``limit``) of each channel-list request
# Well under Airflow's max_map_length (1024): an event maps to at most this many join tasks; a larger
# backlog arrives over several polls, oldest first.
DEFAULT_MAX_CHANNELS = 500
