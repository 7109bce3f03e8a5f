"""Today's design, kept for the side-by-side benchmark: one watcher per workspace, as
``TrutoNewChannelsTrigger`` polled before it could watch a fleet (up to commit d7c7edf).

Each watcher reads every page of its workspace's channel list (pages of 100, every type and state), holds
the whole list, selects the new channels with the package's selection, yields an event and sleeps 60 s.
Built on the package's own client and selection, so only the design differs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from airflow_provider_truto.auto_join.policy import AutoJoinPolicy
from airflow_provider_truto.auto_join.watermark import channel_summary, select_new_channels
from airflow_provider_truto.client.retry import is_retryable
from airflow_provider_truto.client.unified_api import CHANNELS, INSTANT_MESSAGING
from airflow_provider_truto.hooks.truto import TrutoHook

POLL_INTERVAL = 60.0
PAGE_SIZE = 100
LOOKBACK = timedelta(seconds=300)
MAX_CHANNELS = 500


class Event:
    def __init__(self, payload: dict[str, Any]) -> None:
        self.payload = payload


class TodayWatcher:
    """One workspace's watcher, polling as the trigger did: ``run()`` yields events like a trigger's."""

    def __init__(self, account: str, created_after: datetime) -> None:
        self.account = account
        self.created_after = created_after
        self.watermark: datetime | None = None
        self.seen: list[str] = []
        self.policy = AutoJoinPolicy()

    async def run(self) -> AsyncIterator[Event]:
        async with await TrutoHook().get_async_conn() as client:
            while True:
                try:
                    listing = client.list_unified(
                        INSTANT_MESSAGING, CHANNELS, integrated_account_id=self.account, limit=PAGE_SIZE
                    )
                    channels = [channel async for channel in listing]  # the whole list, held
                    selected, watermark, seen = select_new_channels(
                        channels,
                        created_after=self.created_after,
                        watermark=self.watermark,
                        seen_ids=self.seen,
                        lookback=LOOKBACK,
                        max_channels=MAX_CHANNELS,
                        policy=self.policy,
                    )
                    del channels
                except Exception as error:
                    if not is_retryable(error):
                        yield Event(
                            {"status": "error", "integrated_account_id": self.account, "message": str(error)}
                        )
                        return
                else:
                    if selected:
                        self.watermark, self.seen = watermark, seen
                        yield Event(
                            {
                                "status": "success",
                                "integrated_account_id": self.account,
                                "channels": [channel_summary(c, self.account) for c in selected],
                            }
                        )
                await asyncio.sleep(POLL_INTERVAL)
