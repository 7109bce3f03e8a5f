"""The auto-join policy: which of the new public channels the bot may join, by name and by sharing.

One value, :class:`AutoJoinPolicy`, taken by the scheduled auto-join DAG, ``TrutoNewChannelsSensor`` and
``TrutoNewChannelsTrigger``, so "a channel the bot should join" means the same thing everywhere. It only
narrows the auto-join selection of :mod:`airflow_provider_truto.auto_join.selection` (public, active, not
a member, new): it is asked about the channels that selection would otherwise join. Pure: no Airflow, no
HTTP.

- ``include``: shell-style globs on the channel name (``eng-*``, ``support-??``, ``[!x]*``); none means
  every name. Matching ignores case (Slack keeps channel names lower-case, so ``ENG-*`` is taken to mean
  ``eng-*``) and is the same on every platform; a leading ``#`` on a pattern is ignored (``#eng-*``).
- ``exclude``: globs that win over ``include``.
- ``include_shared`` (default false): channels shared with other organisations (Slack Connect) are left
  alone unless it is true. Truto's unified channel does not say it; Slack's object in ``remote_data``
  does: ``is_ext_shared`` or ``is_pending_ext_shared`` (an invitation to share is pending). Sharing
  inside one Enterprise Grid organisation (``is_org_shared``, ``is_shared`` without ``is_ext_shared``)
  is internal.

**A channel whose sharing cannot be read** (no ``remote_data``, or one without Slack's ``is_ext_shared``)
is left out, counted as :data:`SHARING_UNKNOWN`, while ``include_shared`` is false. A bot that joins a
channel shared with another company becomes visible to that company, which a join cannot take back;
a channel left out shows in the run's report and is joined on the first run that can read it (or with
``include_shared``). Slack always sends ``is_ext_shared``, so this happens only when ``remote_data``
was dropped, and the selection therefore never asks Truto for ``truto_ignore_remote_data`` while
:attr:`AutoJoinPolicy.needs_remote_data`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from airflow_provider_truto.exceptions import TrutoInputError

__all__ = [
    "EXCLUDED_BY_NAME",
    "NOT_INCLUDED_BY_NAME",
    "POLICY_KEYS",
    "SHARED_EXTERNALLY",
    "SHARING_UNKNOWN",
    "AutoJoinPolicy",
    "external_sharing",
    "parse_account_policies",
]

POLICY_KEYS = ("include", "exclude", "include_shared")

# The reasons the policy leaves a channel out: the run's report counts each beside the selection's own.
EXCLUDED_BY_NAME = "excluded by name"
NOT_INCLUDED_BY_NAME = "not included by name"
SHARED_EXTERNALLY = "shared with other organisations"
SHARING_UNKNOWN = "sharing unknown (no remote_data)"


@dataclass(frozen=True)
class AutoJoinPolicy:
    """Which new public channels the bot may join. Build it with :meth:`build` from user input.

    :param include: globs on the channel name, stored lower-case; empty means every name.
    :param exclude: globs that win over ``include``.
    :param include_shared: join channels shared with other organisations too.
    """

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    include_shared: bool = False

    def __post_init__(self) -> None:
        # Direct construction is checked like build(): a policy never holds a pattern it cannot match.
        object.__setattr__(self, "include", _patterns(self.include, "include"))
        object.__setattr__(self, "exclude", _patterns(self.exclude, "exclude"))
        object.__setattr__(self, "include_shared", _flag(self.include_shared, "include_shared"))

    @classmethod
    def build(cls, include: Any = None, exclude: Any = None, include_shared: Any = False) -> AutoJoinPolicy:
        """A policy from user input: a pattern or a list of them (``None``: none); ``include_shared`` a bool.

        Raises :class:`TrutoInputError` naming ``include``, ``exclude`` or ``include_shared``.
        """
        return cls(
            include=_patterns(include, "include"),
            exclude=_patterns(exclude, "exclude"),
            include_shared=_flag(include_shared, "include_shared"),
        )

    def override(self, changes: Any, argument: str) -> AutoJoinPolicy:
        """This policy with the keys of ``changes`` (a mapping of :data:`POLICY_KEYS`) replaced.

        Errors name ``argument`` (the param the mapping came from) and say which key was wrong.
        """
        if not isinstance(changes, Mapping):
            raise TrutoInputError(argument, f"must be a mapping of {', '.join(POLICY_KEYS)}, got {changes!r}")
        unknown = sorted(str(key) for key in changes if key not in POLICY_KEYS)
        if unknown:
            raise TrutoInputError(
                argument, f"unknown key(s) {', '.join(unknown)}; a policy has {', '.join(POLICY_KEYS)}"
            )
        try:
            return AutoJoinPolicy.build(
                include=changes.get("include", self.include),
                exclude=changes.get("exclude", self.exclude),
                include_shared=changes.get("include_shared", self.include_shared),
            )
        except TrutoInputError as error:
            raise TrutoInputError(argument, f"{error.argument}: {_problem(error)}") from None

    @property
    def needs_remote_data(self) -> bool:
        """Whether deciding needs Slack's object: a list without ``remote_data`` cannot tell sharing."""
        return not self.include_shared

    def exclusion_reason(self, channel: Mapping[str, Any]) -> str | None:
        """Why the policy leaves this channel out, or ``None`` when it may be joined.

        Name rules come first (``exclude``, then ``include``), then sharing: one reason per channel.
        """
        name = _normalise(channel.get("name"))
        if any(fnmatchcase(name, pattern) for pattern in self.exclude):
            return EXCLUDED_BY_NAME
        if self.include and not any(fnmatchcase(name, pattern) for pattern in self.include):
            return NOT_INCLUDED_BY_NAME
        if self.include_shared:
            return None
        shared = external_sharing(channel)
        if shared is None:
            return SHARING_UNKNOWN
        return SHARED_EXTERNALLY if shared else None

    def to_kwargs(self) -> dict[str, Any]:
        """Plain JSON (lists, a bool), the same for equal policies: for trigger kwargs and XCom."""
        return {
            "include": list(self.include),
            "exclude": list(self.exclude),
            "include_shared": self.include_shared,
        }


def external_sharing(channel: Mapping[str, Any]) -> bool | None:
    """Whether Slack says the channel is shared with another organisation; ``None`` when it cannot tell."""
    remote = channel.get("remote_data")
    if not isinstance(remote, Mapping):
        return None
    if _true(remote.get("is_ext_shared")) or _true(remote.get("is_pending_ext_shared")):
        return True
    return False if "is_ext_shared" in remote else None


def parse_account_policies(value: Any, base: AutoJoinPolicy) -> dict[str, AutoJoinPolicy]:
    """``account_policies`` (account id -> its own include / exclude / include_shared) as policies.

    Keys an account's mapping leaves out keep ``base``'s value. Raises :class:`TrutoInputError`
    naming ``account_policies`` before any request.
    """
    if value is None or value == {}:
        return {}
    if not isinstance(value, Mapping):
        raise TrutoInputError("account_policies", f"must map account ids to policies, got {value!r}")
    policies: dict[str, AutoJoinPolicy] = {}
    for account, changes in value.items():
        if not isinstance(account, str) or not account.strip():
            raise TrutoInputError("account_policies", f"keys must be account ids, got {account!r}")
        try:
            policies[account] = base.override(changes, "account_policies")
        except TrutoInputError as error:
            raise TrutoInputError("account_policies", f"account {account}: {_problem(error)}") from None
    return policies


def _patterns(value: Any, argument: str) -> tuple[str, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise TrutoInputError(argument, f"must be a glob pattern or a list of them, got {value!r}")
    patterns: list[str] = []
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise TrutoInputError(argument, f"pattern {index} is not a string: {item!r}")
        pattern = _normalise(item)
        if not pattern:
            raise TrutoInputError(argument, f"pattern {index} is empty")
        patterns.append(pattern)
    return tuple(dict.fromkeys(patterns))  # each once, in the order given: stable between parses


def _normalise(text: Any) -> str:
    return text.strip().removeprefix("#").lower() if isinstance(text, str) else ""


def _flag(value: Any, argument: str) -> bool:
    if not isinstance(value, bool):
        raise TrutoInputError(argument, f"must be true or false, got {value!r}")
    return value


def _true(value: Any) -> bool:
    # Slack sends JSON booleans; a proxy that turned them into text must not make a shared channel internal.
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _problem(error: TrutoInputError) -> str:
    return error.message.removeprefix(f"invalid argument {error.argument!r}: ")
