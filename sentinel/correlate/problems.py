"""Problem records (ITIL problem management) from recurring root causes.

An incident's signature is its likeliest root cause and how it failed (``db-1/PostgresDown``).
When ``min_occurrences`` resolved incidents share one within ``period``, a problem opens and
links them; later incidents with that signature join it, and a resolved problem they recur on
reopens. A problem manager marks it a known error with a workaround, which the desk then
shows on every new incident that matches, and resolves it once fixed for good.

Every method runs inside the caller's store transaction, so the incident change and the
problem change it implies are committed together.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sentinel.correlate.topology import ProblemConfig
from sentinel.model import Incident, Problem, ProblemStatus, RootCause, TimelineEntry
from sentinel.store import Store

log = logging.getLogger("sentinel.problems")


class ProblemError(ValueError):
    """A problem action that does not apply to the problem as it is."""


def _days(seconds: float) -> str:
    return f"{seconds / 86400:g} d" if seconds >= 86400 else f"{seconds / 3600:g} h"


SEEN_BEFORE = 3  # earlier incidents shown with one, newest first
WORK = ("note", "resolved")  # the timeline entries that say how an incident was worked


def written(entries: Iterable[TimelineEntry]) -> list[TimelineEntry]:
    """The notes and resolutions people wrote, not sentinel's own: what was tried, what
    fixed it."""
    return [e for e in entries if e.kind in WORK and e.actor != "sentinel"]


@dataclass(frozen=True, slots=True)
class SeenBefore:
    """Earlier incidents with an incident's likeliest cause, newest first, each with how it
    was worked, and the problem record they fold into: what helped last time."""

    signature: str
    total: int  # earlier incidents in all; ``earlier`` holds the latest of them
    problem: Problem | None
    earlier: tuple[tuple[Incident, tuple[TimelineEntry, ...]], ...]

    def summary(self) -> str:
        """One line for a page: how often, and what a person last wrote of it, if anyone."""
        line = f"Seen before: {self.total} earlier incident(s) with root cause {self.signature}"
        if self.earlier:
            line += f" (latest #{self.earlier[0][0].id})"
        for past, work in self.earlier:
            if by_people := written(work):
                return f"{line}; {by_people[-1].actor} on #{past.id}: {by_people[-1].text}"
        return line


def seen_before(store: Store, incident: Incident, limit: int = SEEN_BEFORE) -> SeenBefore | None:
    """What the store knows of the incident's root cause from before it opened, if any."""
    if not incident.root_causes:
        return None
    signature = incident.root_causes[0].signature
    earlier, total = store.seen_before(signature, incident.created_at, limit)
    problem = store.problem_by_signature(signature)
    if not earlier and problem is None:
        return None
    worked = tuple(
        (past, tuple(e for e in store.timeline(past.id) if e.kind in WORK)) for past in earlier
    )
    return SeenBefore(signature, total, problem, worked)


class ProblemTracker:
    def __init__(self, store: Store, config: ProblemConfig | None = None) -> None:
        self.store = store
        self.config = config or ProblemConfig()

    def incident_resolved(self, incident: Incident, now: float) -> Problem | None:
        """Fold a resolved incident into the problem its signature recurs as, if any."""
        if not incident.root_causes:
            return None
        signature = incident.root_causes[0].signature
        store = self.store
        with store.transaction():
            store.set_signature(incident.id, signature)
            problem = store.problem_by_signature(signature)
            if problem is None:
                since = now - self.config.period
                recurring = store.resolved_with_signature(signature, since)
                if len(recurring) < self.config.min_occurrences:
                    return None
                problem_id = store.add_problem(signature, now)
                store.link_problem(problem_id, recurring)
                self._record(
                    problem_id,
                    now,
                    "opened",
                    f"{len(recurring)} incidents with root cause {signature} within "
                    f"{_days(self.config.period)}: " + ", ".join(f"#{i.id}" for i in recurring),
                )
                log.info("problem opened id=%s signature=%s", problem_id, signature)
            elif store.is_linked(problem.id, incident.id):
                # Resolved again after a reopen, or linked while open as a known error: it
                # counts once, with the services it took in since.
                problem_id = problem.id
                store.link_problem(problem_id, [incident])
            else:
                problem_id = problem.id
                self.link(problem, incident, now)
                if problem.status == ProblemStatus.RESOLVED:
                    store.update_problem(
                        problem_id, status=ProblemStatus.OPEN.value, resolved_at=None
                    )
                    self._record(
                        problem_id, now, "reopened", f"recurred after resolution: #{incident.id}"
                    )
                    log.info("problem reopened id=%s signature=%s", problem_id, signature)
            return store.problem(problem_id)

    def link(self, problem: Problem, incident: Incident, now: float) -> None:
        """Count one more incident of the problem."""
        self.store.link_problem(problem.id, [incident])
        self._record(problem.id, now, "incident", f"incident #{incident.id} recurred")

    def merged(self, source_ids: Sequence[int], target_id: int, now: float) -> None:
        """Incidents merged into another were its trouble, not recurrences of their own:
        the problems that counted them (a known error matched on opening) no longer do."""
        for source_id in source_ids:
            for problem_id in self.store.unlink_problems([source_id]):
                self._record(
                    problem_id, now, "incident", f"incident #{source_id} merged into #{target_id}"
                )

    def known_error(self, causes: tuple[RootCause, ...]) -> Problem | None:
        """The known-error problem whose signature the likeliest cause carries, if any."""
        if not causes:
            return None
        problem = self.store.problem_by_signature(causes[0].signature)
        return problem if problem and problem.status == ProblemStatus.KNOWN_ERROR else None

    def mark_known_error(self, problem_id: int, workaround: str, actor: str, now: float) -> Problem:
        if not workaround.strip():
            raise ProblemError("a known error needs a workaround")
        return self._move(
            problem_id,
            f"problem {problem_id} is resolved",
            {"status": ProblemStatus.KNOWN_ERROR.value, "workaround": workaround},
            TimelineEntry(problem_id, now, "known_error", f"workaround: {workaround}", actor),
        )

    def resolve(self, problem_id: int, actor: str, now: float, reason: str = "") -> Problem:
        return self._move(
            problem_id,
            f"problem {problem_id} is already resolved",
            {"status": ProblemStatus.RESOLVED.value, "resolved_at": now},
            TimelineEntry(problem_id, now, "resolved", reason or "fixed for good", actor),
        )

    def _move(
        self, problem_id: int, refusal: str, fields: dict[str, object], entry: TimelineEntry
    ) -> Problem:
        """A problem manager's step, refused once the problem is resolved."""
        with self.store.transaction():
            if self._get(problem_id).status == ProblemStatus.RESOLVED:
                raise ProblemError(refusal)
            self.store.update_problem(problem_id, **fields)
            self.store.add_problem_timeline(problem_id, entry)
        return self._get(problem_id)

    def _get(self, problem_id: int) -> Problem:
        problem = self.store.problem(problem_id)
        if problem is None:
            raise ProblemError(f"no problem {problem_id}")
        return problem

    def _record(
        self, problem_id: int, now: float, kind: str, text: str, actor: str = "sentinel"
    ) -> None:
        self.store.add_problem_timeline(
            problem_id, TimelineEntry(problem_id, now, kind, text, actor)
        )
