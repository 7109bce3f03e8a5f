"""The defaults of a watch for new channels, the sensor's and the trigger's alike.

Their own module because the sensor reads them when a DAG is parsed, and must stay cheap to import.
"""

from __future__ import annotations

DEFAULT_POKE_INTERVAL = 60.0  # the sensor's seconds between two looks at the channel list
# The watcher's shortest time between two polls of one workspace: new channels reported within about
# half a minute, at 2 requests a poll of a 2,000-channel workspace (4 of Slack's 20 list calls a minute).
DEFAULT_WATCH_POLL_INTERVAL = 30.0
# The share of every budget (the token's, each workspace's, Slack's list tier) a fleet watcher may spend:
# the scheduled auto-join DAG and the joins find the other half.
DEFAULT_BUDGET_SHARE = 0.5
DEFAULT_CHANNELS_PER_PAGE = 1000  # the page size (``limit``) asked for: Slack's largest
# Well under Airflow's max_map_length (1024): an event maps to at most this many join tasks; a larger
# backlog arrives over several polls, oldest first.
DEFAULT_MAX_CHANNELS = 500
# A fleet of every active Slack account of the token's environment (the auto-join DAG's and the watch's).
ALL_ACCOUNTS = "all"
