"""The polling behind :class:`~airflow_provider_truto.triggers.truto.TrutoNewChannelsTrigger`: one asyncio
loop that reads the account list (``"all"``), starts each workspace's poll when the schedule says, reads
its channel list page by page, and hands the events over in the order they come.

The decisions are the pure pieces' (:mod:`~airflow_provider_truto.auto_join.schedule`,
:mod:`~airflow_provider_truto.auto_join.watermark`, :mod:`~airflow_provider_truto.auto_join.fleet`); this
module only sends, waits, keeps the state store and queues the events. Imported when the trigger runs,
never when a DAG is parsed.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_truto.auto_join.fleet import (
    Failure,
    WorkspaceWatch,
    discovery_changes,
    failure_of,
    watch_state_key,
)
from airflow_provider_truto.auto_join.listing import channel_list_query
from airflow_provider_truto.auto_join.planning import ACCOUNTS_PAGE_SIZE, discover_joinable_accounts
from airflow_provider_truto.auto_join.report import describe_left_out
from airflow_provider_truto.auto_join.schedule import FleetSchedule
from airflow_provider_truto.auto_join.timestamps import created_at, parse_timestamp
from airflow_provider_truto.auto_join.watermark import NewChannels, bounded_watermark, channel_summary
from airflow_provider_truto.client.pagination import CursorWalk
from airflow_provider_truto.client.query import format_scalar
from airflow_provider_truto.client.request import unified_path
from airflow_provider_truto.client.unified_api import CHANNELS, INSTANT_MESSAGING
from airflow_provider_truto.exceptions import TrutoAuthError, TrutoError, TrutoInputError, error_payload
from airflow_provider_truto.hooks.metrics import AirflowMetrics

if TYPE_CHECKING:
    from airflow_provider_truto.client.async_client import AsyncTrutoClient
    from airflow_provider_truto.triggers.truto import TrutoNewChannelsTrigger

ACCOUNTS_PATH = "/integrated-account"
# A discovery that failed for a while is tried again this soon (or at the interval, if sooner).
DISCOVERY_RETRY_SECONDS = 15.0
# Statuses that say a connected workspace needs someone's attention, not that it is on its way.
PROBLEM_STATUSES = frozenset({"needs_reauth", "post_install_error", "validation_error"})


@dataclass(frozen=True)
class _Item:
    """An event to hand over; ``snapshot``: the workspace state behind it, saved once it is handed over."""

    payload: dict[str, Any]
    account: str | None
    snapshot: dict[str, Any] | None = None
    final: bool = False


class FleetWatch:
    """One run of a trigger: its workspaces, their polls and their state, and the events they make.

    :param trigger: the trigger's settings.
    :param client: the async client (the connection's token, retries and pacing).
    :param store: the asset's state store (``aget`` / ``aset``), ``None`` outside an AssetWatcher.
    :param clock: monotonic seconds.
    """

    def __init__(
        self,
        trigger: TrutoNewChannelsTrigger,
        client: AsyncTrutoClient,
        *,
        store: Any = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.trigger = trigger
        self.client = client
        self.store = store
        self.log = trigger.log
        self.schedule = FleetSchedule(trigger.budgets(client.config))
        self.states: dict[str, WorkspaceWatch] = {}
        self.single: str | None = None
        self._clock = clock
        self._path = unified_path(INSTANT_MESSAGING, CHANNELS, "list", None)[1]
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._next_discovery: float | None = None
        self._closing = False
        self._saves: dict[str, int] = {}  # per workspace: the last snapshot handed over, and the last saved
        self._saved: dict[str, int] = {}
        # Airflow's metrics, as the hook hands them to the client; none for a client made otherwise.
        observer = client.config.observer
        self.metrics = observer if isinstance(observer, AirflowMetrics) else None
        # The pass over the fleet under way: when it began, and the workspaces it still has to poll.
        self._cycle_began = clock()
        self._cycle_left: set[str] | None = None

    # -- the events ---------------------------------------------------------------------------------------

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        """The events to fire, until one ends the watch."""
        try:
            self._start()
        except TrutoInputError as error:
            yield error_payload(error, self.trigger.integrated_account_id)
            return
        loop = asyncio.create_task(self._loop())
        loop.add_done_callback(self._loop_ended)
        try:
            while True:
                item = await self._queue.get()
                self._report_latency(item.payload)
                yield item.payload
                if item.final:
                    return
                if item.snapshot is not None and item.account is not None:
                    self._handed_over(item.account, item.snapshot)
        finally:
            self._closing = True
            tasks = [loop, *self._tasks]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _start(self) -> None:
        now = self._clock()
        wanted = self.trigger.integrated_account_ids
        if wanted is None:
            self.single = self.client.account_id(self.trigger.integrated_account_id)
            self.states[self.single] = WorkspaceWatch(
                watermark=self.trigger.watermark, seen_ids=list(self.trigger.seen_ids)
            )
            self.schedule.add(self.single, now)
        elif isinstance(wanted, list):
            for account in wanted:
                self.schedule.add(account, now)
        else:
            self._next_discovery = now

    def _loop_ended(self, loop: asyncio.Task[None]) -> None:
        # The loop only ends by cancellation; anything else is a fault here, which must end the watch
        # with an event rather than leave it waiting for ever.
        if not loop.cancelled() and loop.exception() is not None:
            error = loop.exception()
            assert error is not None
            self.log.error("The watch stopped: %s", error, exc_info=error)
            self._queue.put_nowait(_Item(self._error(error, None), None, final=True))

    # -- the loop -----------------------------------------------------------------------------------------

    async def _loop(self) -> None:
        while True:
            now = self._clock()
            if self._next_discovery is not None and now >= self._next_discovery:
                await self._discover()
                continue
            decision = self.schedule.next_poll(now)
            if decision.workspace is not None:
                self._spawn(self._poll(decision.workspace))
                continue
            wake_at = min(
                decision.wake_at, self._next_discovery if self._next_discovery is not None else math.inf
            )
            # No await since next_poll: no poll can have ended in between, so no wake-up is lost here.
            self._wake.clear()
            await self._sleep_until_woken(None if wake_at == math.inf else max(0.0, wake_at - self._clock()))

    async def _sleep_until_woken(self, timeout: float | None) -> None:
        """Until a poll ends or ``timeout`` passes. Not ``asyncio.wait_for``: it can swallow a cancellation
        that arrives as the wait ends, and a loop that outlives its cancellation never lets the watch end."""
        waiter = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({waiter}, timeout=timeout)
        finally:
            waiter.cancel()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        if self._closing:  # the watch is ending: nothing new starts
            work.close()
            return
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._wake.set()
        if not task.cancelled() and task.exception() is not None:
            self._loop_ended(task)

    # -- one workspace's poll -----------------------------------------------------------------------------

    async def _poll(self, account: str) -> None:
        state = self.states.setdefault(account, WorkspaceWatch())
        policy = self.trigger.policy_for(account)
        walk = CursorWalk(
            self._path,
            {**channel_list_query(policy), "integrated_account_id": account},
            limit=self.trigger.limit,
            max_pages=None,
            page_cap=self.client.config.page_cap,
        )
        left_out: Counter[str] = Counter()
        try:
            await self._restore(account, state)
            self._bound_watermark(account, state)
            # One workspace's selection: an odd created_at is that channel's problem, a channel stamped in
            # the future moves this workspace's watermark to now at most; no other workspace is touched.
            selection = NewChannels(
                created_after=self.trigger.created_after,
                watermark=state.watermark,
                seen_ids=state.seen_ids,
                lookback=timedelta(seconds=self.trigger.lookback_seconds),
                max_channels=self.trigger.max_channels,
                policy=policy,
                left_out=left_out,
                warn_to=self.log,
            )
            while (query := walk.next_query()) is not None:
                await self._page_slot(account)
                # No name holds the page: it is dropped once read, not kept while the next one comes.
                for channel in walk.take(await self.client.request("GET", self._path, query=query)):
                    selection.feed(channel)
            selected, watermark, seen = selection.result()
        except Exception as error:  # every failure of a poll: polled again, set aside, or the end
            self._failed(account, state, error, walk.pages)
            return
        self.log.debug("Channels of %s left out: %s", account, describe_left_out(left_out))
        self.schedule.finish(account, pages=walk.pages)
        self._polled(account)
        if state.failure_reported:
            state.failure_reported = False
            self.log.info("Workspace %s answers again: watched as before", account)
        if not selected:
            return
        state.watermark, state.seen_ids = watermark, seen
        if account == self.single:  # serialize() carries a one-workspace watch's state
            self.trigger.watermark, self.trigger.seen_ids = watermark, seen
        payload = {
            "status": "success",
            "integrated_account_id": account,
            "watermark": _iso(watermark),
            "channels": [channel_summary(channel, account) for channel in selected],
        }
        self.log.info("%d new channels in %s; watermark now %s", len(selected), account, payload["watermark"])
        self._queue.put_nowait(_Item(payload, account, snapshot=state.snapshot()))

    async def _page_slot(self, account: str | None) -> None:
        """Wait for the page's turn in the watch's budgets (the token's share alone for the admin list)."""
        while True:
            if account is None:
                wait, reserved = self.schedule.token_slot(self._clock()), True
            else:
                wait, reserved = self.schedule.page_slot(account, self._clock())
            if wait > 0:
                await asyncio.sleep(wait)
            if reserved:
                return

    def _failed(self, account: str, state: WorkspaceWatch, error: Exception, pages: int) -> None:
        failure = failure_of(error)
        if failure is Failure.TRANSIENT:
            retry_after = getattr(error, "retry_after", None)
            retry_at = self._clock() + retry_after if retry_after else None
            self.schedule.finish(account, pages=pages, retry_at=retry_at)
            self._polled(account)
            self.log.warning("Polling %s failed, polling again later: %s", account, error)
            return
        payload = self._error(error, account)
        if self.single is not None or failure is Failure.WATCH:
            self.schedule.set_aside(account, math.inf)
            self._queue.put_nowait(_Item(payload, account, final=True))
            return
        recheck = self.trigger.recheck_interval
        self.schedule.set_aside(account, self._clock() + recheck)
        self._polled(account)  # a pass over the fleet does not wait for a workspace set aside
        payload["set_aside_until"] = format_scalar(datetime.now(timezone.utc) + timedelta(seconds=recheck))
        self.log.warning("Workspace %s set aside until %s: %s", account, payload["set_aside_until"], error)
        if not state.failure_reported:
            state.failure_reported = True
            self._queue.put_nowait(_Item(payload, account))

    def _error(self, error: BaseException, account: str | None) -> dict[str, Any]:
        if not isinstance(error, TrutoError):  # a fault here, not Truto's: its traceback helps
            self.log.error("Watching %s failed: %s", account or "the fleet", error, exc_info=error)
        return error_payload(error, account, token=self.client.config.token)

    # -- metrics ------------------------------------------------------------------------------------------

    def _report_latency(self, payload: dict[str, Any]) -> None:
        """Each channel of an event handed over: the time from its creation (Slack's clock) to now."""
        if self.metrics is None or payload.get("status") != "success":
            return
        now = datetime.now(timezone.utc)
        for channel in payload["channels"]:
            created = created_at(channel)
            if created is not None:
                self.metrics.reported((now - created).total_seconds())

    def _polled(self, account: str) -> None:
        """``account``'s poll ended (or it left the fleet): once every workspace watched when the pass
        began has been polled, the pass is timed and the next begins, over the workspaces watched then
        (those set aside wait for their recheck, outside the passes)."""
        if self.metrics is None:
            return
        if self._cycle_left is None:  # the first pass: over the workspaces watched at its first poll's end
            self._cycle_left = self._watched_now()
        self._cycle_left.discard(account)
        if self._cycle_left:
            return
        now = self._clock()
        self.metrics.cycled(now - self._cycle_began)
        # The next pass, over the workspaces watched now (none: it begins with the next poll that ends).
        self._cycle_began, self._cycle_left = now, self._watched_now() or None

    def _watched_now(self) -> set[str]:
        return {w for w in self.schedule.workspaces if self.schedule.set_aside_until(w) is None}

    # -- "all": the account list --------------------------------------------------------------------------

    async def _discover(self) -> None:
        self._next_discovery = self._clock() + self.trigger.discovery_interval
        accounts: list[dict[str, Any]] = []
        walk = CursorWalk(
            ACCOUNTS_PATH,
            None,
            limit=ACCOUNTS_PAGE_SIZE,
            max_pages=None,
            page_cap=self.client.config.page_cap,
        )
        try:
            while (query := walk.next_query()) is not None:
                await self._page_slot(None)
                for listed in walk.take(await self.client.request("GET", ACCOUNTS_PATH, query=query)):
                    accounts.append(
                        {key: listed.get(key) for key in ("id", "status", "is_sandbox", "integration")}
                    )
        except Exception as error:
            if failure_of(error) is Failure.TRANSIENT:
                retry = min(self.trigger.discovery_interval, DISCOVERY_RETRY_SECONDS)
                self._next_discovery = self._clock() + retry
                self.log.warning("Reading the account list failed; reading it again in %gs: %s", retry, error)
                return
            # The token cannot list its environment's accounts: "all" can watch nothing.
            self._queue.put_nowait(_Item(self._error(error, None), None, final=True))
            return
        chosen, left_out = discover_joinable_accounts(accounts)
        added, dropped = discovery_changes(self.schedule.workspaces, chosen, left_out)
        now = self._clock()
        for account in added:
            self.schedule.add(account, now)
        if added:
            self.log.info("Watching %d more workspaces (%d in all): %s", len(added), len(chosen), _few(added))
        statuses = {str(listed["id"]): listed.get("status") for listed in accounts}
        for account, why in dropped.items():
            self.schedule.remove(account)
            self._polled(account)
            state = self.states.pop(account, None)
            status = statuses.get(account)
            if status in PROBLEM_STATUSES and not (state is not None and state.failure_reported):
                problem = TrutoAuthError(
                    f"integrated account {account} has status {status}: connect it again in Truto; it is "
                    "watched again as soon as it is active"
                )
                self._queue.put_nowait(_Item(self._error(problem, account), account))
            self.log.warning("No longer watching workspace %s: %s", account, why)

    # -- the state store ----------------------------------------------------------------------------------

    async def _restore(self, account: str, state: WorkspaceWatch) -> None:
        if state.restored:
            return
        state.restored = True
        if self.store is None:
            return
        try:
            saved = await self.store.aget(self._state_key(account))
        except Exception as error:  # several watched assets, no state store configured, an old Airflow
            self.log.warning("Cannot read %s's watermark from the asset state store: %s", account, error)
            return
        if not isinstance(saved, dict) or not saved.get("watermark"):
            return
        try:
            watermark = parse_timestamp(saved["watermark"], "watermark")
        except TrutoInputError:
            return
        if state.watermark is None or watermark > state.watermark:
            state.watermark = watermark
            state.seen_ids = sorted({str(i) for i in saved.get("seen_ids") or ()})
            if account == self.single:
                self.trigger.watermark, self.trigger.seen_ids = state.watermark, state.seen_ids
            self.log.info(
                "Resuming %s after watermark %s from the asset state store", account, _iso(watermark)
            )

    def _bound_watermark(self, account: str, state: WorkspaceWatch) -> None:
        """A workspace's watermark in the future (given, or saved before a clock was corrected) is read
        as now, once, with a warning: kept, it would hide every channel created until then."""
        bounded = bounded_watermark(state.watermark, datetime.now(timezone.utc))
        if bounded == state.watermark:
            return
        self.log.warning(
            "The watermark %s of %s is ahead of this host's clock; watching from now (%s) instead",
            _iso(state.watermark),
            account,
            _iso(bounded),
        )
        state.watermark = bounded
        if account == self.single:
            self.trigger.watermark = bounded

    def _handed_over(self, account: str, snapshot: dict[str, Any]) -> None:
        """The event of ``snapshot`` was handed over: save it one poll interval later, by then the
        triggerer has written the event (a crash sooner must not save the watermark of a lost event)."""
        if self.store is None:
            return
        number = self._saves[account] = self._saves.get(account, 0) + 1
        self._spawn(self._save_later(account, snapshot, number))

    async def _save_later(self, account: str, snapshot: dict[str, Any], number: int) -> None:
        await asyncio.sleep(self.trigger.poll_interval)
        if number <= self._saved.get(account, 0):  # a later state was saved already
            return
        self._saved[account] = number
        try:
            await self.store.aset(self._state_key(account), snapshot)
        except Exception as error:
            self.log.warning("Cannot save %s's watermark to the asset state store: %s", account, error)

    def _state_key(self, account: str) -> str:
        trigger = self.trigger
        return watch_state_key(
            trigger.truto_conn_id, account, trigger.created_after, trigger.policy_for(account)
        )


def _iso(value: datetime | None) -> str | None:
    return format_scalar(value) if value is not None else None


def _few(accounts: list[str], shown: int = 5) -> str:
    return ", ".join(accounts[:shown]) + (
        f" and {len(accounts) - shown} more" if len(accounts) > shown else ""
    )
