"""The built-in host-rotation policy for courtyard tea talks (海棠小院 院长轮值).

Residents apply in turn to host; the meeting moves to the host's home. Everything here
is a pure function of plain data from :mod:`core.scheduling` — no database, no Flask —
so the hookimpl in :mod:`plugins.host_rotation` is a thin adapter.

Public functions
================

* :func:`plan_rotation` — propose a host for every slot.
* :func:`replan_after_decline` — a host declined: change as little as possible.
* :func:`swap` — exchange the hosts of two slots, refusing a swap that does not fit.

Rules
=====

Hard rules (never broken):

* a candidate *fits* a slot when the slot's date is in their ``available`` dates and
  their ``capacity >= slot.min_capacity``;
* nobody is given two slots that overlap in time (slots of different series may
  overlap; slots touching end-to-start do not overlap);
* ``fixed`` assignments are kept exactly as given (even a ``None`` or a staff override
  outside someone's availability);
* as many slots as possible are filled: if an assignment filling every slot exists,
  every slot is filled.

Preferences (in this order of importance):

1. no twice in a row — the host of the session just before (a slot or a history entry
   at the nearest earlier start time) or of a *fixed* session just after is passed
   over, unless nobody else fits without leaving a slot empty;
2. balance — at the end of the plan the hosting counts (history + fixed + planned) are
   as even as the availabilities allow;
3. fairness order — each slot goes to whoever has hosted least often so far, then
   least recently (never-hosted first), then the lowest ``member_id``.

Counts include history, every fixed assignment and the slots planned so far. A history
entry identical to a fixed assignment (same member, same start) is counted once.

Algorithm
=========

Slots are split into *overlap components* (maximal groups of slots chained by
overlaps). The hard "one place at a time" rule only acts inside a component; a
component whose slots all share one instant is a *clique* (intervals have the Helly
property, so ``max(start) < min(end)`` tests it).

A. **Quotas by min-cost flow.** A flow network source → open slot → (candidate,
   component) → candidate → sink, with unit capacities and, on the candidate → sink
   side, one unit edge per possible extra hosting whose cost is
   ``(count + k) * W + rank`` for the k-th extra. Successive shortest paths (Dijkstra
   with potentials) give a *maximum* flow (most slots filled) of *minimum* cost. The
   costs are a discrete convex function of each final count, so the minimum-cost
   maximum flow minimises ``sum(count²)``, which over the (M-convex) set of achievable
   count vectors is the decreasingly-minimal one: the largest count is as small and
   the smallest count as large as possible (Frank & Murota). ``rank`` (the fairness
   order at the start) only breaks ties: who gets the leftover extra hosting. The
   (candidate, component) nodes hold capacity 1, so a candidate gets at most one slot
   per multi-slot component — exact for cliques, conservative for chains (see C).

B. **Chronological assignment with a feasibility oracle.** The flow fixes how many
   slots each candidate gets (their quota) and is a witness that the rest can be
   filled. Slots are then walked in time order; for each, candidates are tried in
   preference order (not twice in a row, then fairness order) and the first whose
   choice keeps the remaining slots fillable within the remaining quotas is taken. The
   check re-routes the witness flow (cancel at most two unit paths, then look for
   augmenting paths by BFS), so it costs a couple of graph searches, and the witness's
   own choice always passes. When quotas would force someone to host twice in a row
   while another candidate fits, that candidate is taken if the remaining slots can
   still be filled as fully, and the quotas are recomputed (step A) for the rest.

C. **Repair of chain components.** In a component that is not a clique (14:00–16:00,
   15:00–17:00, 16:30–18:00) one person may host two non-overlapping slots, which step
   A did not allow. If such a component has an empty slot, a small branch-and-bound
   search (candidates in fairness order, bounded by "filled + still open") finds the
   maximum fill for it; if that fills more, its plan replaces the component's. The
   search has a node budget; components of real series are a handful of slots.

D. **Leftovers.** Steps A–B can trade one slot for another of equal count (the quota
   that would fill a later slot goes to a chain slot, which C then keeps), leaving a
   slot empty that someone free could host. Each such slot goes to whoever fits and is
   free then (not the previous host if another fits); if some stay empty, the same
   search as C runs over the chain components together with the components holding
   empty slots (up to ``LEFTOVER_SEARCH_SLOTS`` slots).

Deciding whether *every* slot can be filled with arbitrary overlapping slots is
NP-hard in general (list colouring of interval graphs); A–B are exact when overlapping
slots form cliques (parallel sessions) and C is exact within its budget.
"""

from __future__ import annotations

import heapq
import itertools
from bisect import bisect_left, bisect_right
from collections import deque
from datetime import datetime
from typing import Iterable, Mapping, Sequence

from core.errors import Invalid
from core.i18n import N_
from core.scheduling import Assignment, Candidate, PastHosting, Slot

__all__ = ["plan_rotation", "replan_after_decline", "swap"]

#: node budget of the exact search for one chain component (step C)
SEARCH_BUDGET = 50_000
#: the most open slots step D searches together (beyond, it keeps what steps A–C found)
LEFTOVER_SEARCH_SLOTS = 16

_SRC, _SINK = 0, 1


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------


def plan_rotation(
    slots: Sequence[Slot],
    candidates: Sequence[Candidate],
    history: Sequence[PastHosting],
    fixed: Sequence[Assignment] = (),
) -> list[Assignment]:
    """Propose a host for every slot.

    :param slots: the dates needing a host, in any order (they are planned in time
        order); slots may overlap.
    :param candidates: residents who applied to host.
    :param history: who hosted when; counts for fairness and the no-twice-in-a-row rule.
    :param fixed: assignments to keep exactly (confirmed hosts, staff overrides); each
        must name one of ``slots``.
    :returns: one :class:`Assignment` per slot, in the order of ``slots``;
        ``member_id`` is ``None`` where nobody fits.
    :raises Invalid: a capacity ``<= 0`` (``field="capacity"``), two candidates with
        one ``member_id``, a slot ending before it starts, a fixed assignment for an
        unknown slot or two different hosts fixed for one slot.
    """
    slots = list(slots)
    _validate_candidates(candidates)
    _validate_slots(slots)
    keep = _match_fixed(slots, fixed)
    hosts = _Planner(slots, candidates, history, keep, forbidden=frozenset()).run()
    return [Assignment(slot, member) for slot, member in zip(slots, hosts)]


def replan_after_decline(
    previous: Sequence[Assignment],
    declined_slot: Slot,
    declined_member: int,
    candidates: Sequence[Candidate],
    history: Sequence[PastHosting],
    confirmed: Iterable[datetime],
) -> list[Assignment]:
    """Re-plan after ``declined_member`` declined ``declined_slot``, changing as little
    as possible.

    Every other assignment stays as it is if a replacement can be found for the
    declined slot alone. Otherwise the only thing that can help is freeing *unconfirmed*
    slots of the same overlap component (a replacement is busy elsewhere at that time):
    the smallest such set that lets the declined slot be filled without emptying a
    freed slot is re-planned. Confirmed assignments (slot start in ``confirmed``) never
    change. If nothing helps, the declined slot is left empty and nothing else moves.

    :param previous: the current plan (one assignment per slot).
    :param declined_slot: the slot that lost its host.
    :param declined_member: who declined; not proposed again for that slot or for
        another freed slot of the same day.
    :param candidates: the applicants (the decliner keeps their other dates).
    :param history: past hostings, as for :func:`plan_rotation`.
    :param confirmed: starts of the slots whose host is confirmed.
    :returns: the new plan, in the order of ``previous``.
    :raises Invalid: the slot is not in the plan (``field="slot"``) or was not
        assigned to ``declined_member`` (``field="member_id"``).
    """
    previous = list(previous)
    slots = [a.slot for a in previous]
    _validate_candidates(candidates)
    _validate_slots(slots)
    k = _index_of(previous, declined_slot)
    if previous[k].member_id != declined_member:
        raise Invalid(
            N_("Member %(member_id)s is not the host of this session."),
            field="member_id",
            member_id=declined_member,
        )
    confirmed = set(confirmed)
    # they said no to that afternoon: do not move them to another session of the same day
    forbidden = frozenset(
        (j, declined_member) for j, s in enumerate(slots) if j == k or s.day == declined_slot.day
    )
    current = {j: a.member_id for j, a in enumerate(previous)}

    def attempt(freed: Iterable[int]) -> list[int | None]:
        freed = set(freed) | {k}
        keep = {j: m for j, m in current.items() if j not in freed}
        return _Planner(slots, candidates, history, keep, forbidden).run()

    def out(hosts: list[int | None]) -> list[Assignment]:
        return [Assignment(slot, member) for slot, member in zip(slots, hosts)]

    alone = attempt(())
    if alone[k] is not None:
        return out(alone)
    # Only slots overlapping (transitively) the declined one can block a replacement.
    comp = _component_of(slots, k)
    movable = [j for j in comp if j != k and slots[j].start not in confirmed]
    movable.sort(key=lambda j: (abs((slots[j].start - slots[k].start).total_seconds()), j))

    def acceptable(hosts: list[int | None], freed: Sequence[int]) -> bool:
        return hosts[k] is not None and all(
            hosts[j] is not None for j in freed if current[j] is not None
        )

    for size in range(1, min(len(movable), 3) + 1):
        for freed in itertools.combinations(movable, size):
            hosts = attempt(freed)
            if acceptable(hosts, freed):
                return out(hosts)
    if len(movable) > 3:
        hosts = attempt(movable)
        if acceptable(hosts, movable):
            return out(hosts)
    return out(alone)


def swap(
    previous: Sequence[Assignment],
    slot_a: Slot,
    slot_b: Slot,
    candidates: Sequence[Candidate],
) -> list[Assignment]:
    """Exchange the hosts of ``slot_a`` and ``slot_b``.

    :param previous: the current plan.
    :param slot_a: one slot of the plan.
    :param slot_b: another slot of the plan.
    :param candidates: the applicants, to check that each host fits the other date.
    :returns: the new plan, in the order of ``previous``.
    :raises Invalid: a slot is not in the plan (``field="slot"``), a host did not apply
        (``field="member_id"``), is not available on the other date
        (``field="available"``), whose home is too small for it (``field="capacity"``)
        or who would then host two overlapping sessions (``field="member_id"``).
    """
    plan = list(previous)
    ia, ib = _index_of(plan, slot_a), _index_of(plan, slot_b)
    if ia == ib:
        return plan
    by_id = {c.member_id: c for c in candidates}
    ma, mb = plan[ia].member_id, plan[ib].member_id
    for member, target in ((ma, slot_b), (mb, slot_a)):
        if member is None:
            continue
        cand = by_id.get(member)
        if cand is None:
            raise Invalid(
                N_("Member %(member_id)s did not apply to host."), field="member_id", member_id=member
            )
        if target.day not in cand.available:
            raise Invalid(
                N_("Member %(member_id)s is not available on %(date)s."),
                field="available",
                member_id=member,
                date=target.day.isoformat(),
            )
        if cand.capacity < target.min_capacity:
            raise Invalid(
                N_("Member %(member_id)s seats %(capacity)s; this session needs %(min_capacity)s."),
                field="capacity",
                member_id=member,
                capacity=cand.capacity,
                min_capacity=target.min_capacity,
            )
    plan[ia], plan[ib] = Assignment(plan[ia].slot, mb), Assignment(plan[ib].slot, ma)
    for idx in (ia, ib):
        member = plan[idx].member_id
        if member is None:
            continue
        for j, other in enumerate(plan):
            if j != idx and other.member_id == member and other.slot.overlaps(plan[idx].slot):
                raise Invalid(
                    N_("Member %(member_id)s would host two sessions at the same time."),
                    field="member_id",
                    member_id=member,
                )
    return plan


# ---------------------------------------------------------------------------
# Validation and small helpers
# ---------------------------------------------------------------------------


def _validate_candidates(candidates: Sequence[Candidate]) -> None:
    seen: set[int] = set()
    for c in candidates:
        if c.capacity <= 0:
            raise Invalid(
                N_("A host's home must seat at least one person (member %(member_id)s)."),
                field="capacity",
                member_id=c.member_id,
            )
        if c.member_id in seen:
            raise Invalid(
                N_("Member %(member_id)s applied twice."), field="candidates", member_id=c.member_id
            )
        seen.add(c.member_id)


def _validate_slots(slots: Sequence[Slot]) -> None:
    for s in slots:
        if s.end <= s.start:
            raise Invalid(N_("A session must end after it starts."), field="end")
        if s.min_capacity < 0:
            raise Invalid(N_("The number of seats needed cannot be negative."), field="min_capacity")


def _match_fixed(slots: Sequence[Slot], fixed: Sequence[Assignment]) -> dict[int, int | None]:
    """Map each fixed assignment to a slot index (equal slots are matched in order)."""
    free: dict[Slot, list[int]] = {}
    for i, s in enumerate(slots):
        free.setdefault(s, []).append(i)
    keep: dict[int, int | None] = {}
    for a in fixed:
        idxs = free.get(a.slot)
        if idxs is None:
            raise Invalid(N_("A fixed host is for a session that is not being planned."), field="fixed")
        todo = [i for i in idxs if i not in keep]
        if todo:  # equal slots take equal fixed assignments in order
            keep[todo[0]] = a.member_id
            continue
        if any(keep[i] == a.member_id for i in idxs):
            continue  # the same assignment given twice
        raise Invalid(N_("Two different hosts are fixed for one session."), field="fixed")
    return keep


def _index_of(plan: Sequence[Assignment], slot: Slot) -> int:
    for i, a in enumerate(plan):
        if a.slot == slot:
            return i
    raise Invalid(N_("This session is not in the plan."), field="slot")


def _components(slots: Sequence[Slot]) -> list[list[int]]:
    """Overlap components, each in time order, ordered by time."""
    order = sorted(range(len(slots)), key=lambda i: (slots[i].start, slots[i].end, i))
    comps: list[list[int]] = []
    end = None
    for i in order:
        if end is not None and slots[i].start < end:
            comps[-1].append(i)
            end = max(end, slots[i].end)
        else:
            comps.append([i])
            end = slots[i].end
    return comps


def _component_of(slots: Sequence[Slot], k: int) -> list[int]:
    return next(c for c in _components(slots) if k in c)


def _recency(last: datetime | None) -> tuple:
    return (0,) if last is None else (1, last)


# ---------------------------------------------------------------------------
# A tiny flow network (unit capacities, integer costs)
# ---------------------------------------------------------------------------


class _Network:
    """Residual network; edge ``e`` and its reverse ``e ^ 1``; ``cap[e ^ 1]`` is the flow
    on a forward edge ``e`` (reverse edges start at 0)."""

    def __init__(self) -> None:
        self.adj: list[list[int]] = [[], []]
        self.to: list[int] = []
        self.cap: list[int] = []
        self.cost: list[int] = []
        self.value = 0

    def node(self) -> int:
        self.adj.append([])
        return len(self.adj) - 1

    def edge(self, u: int, v: int, cap: int = 1, cost: int = 0) -> int:
        e = len(self.to)
        self.to += [v, u]
        self.cap += [cap, 0]
        self.cost += [cost, -cost]
        self.adj[u].append(e)
        self.adj[v].append(e + 1)
        return e

    def flow(self, e: int) -> int:
        return self.cap[e ^ 1]

    def min_cost_max_flow(self) -> None:
        """Successive shortest paths with Dijkstra on reduced costs (all costs >= 0)."""
        n = len(self.adj)
        pot = [0] * n
        inf = float("inf")
        adj, to, cap, cost = self.adj, self.to, self.cap, self.cost
        while True:
            dist = [inf] * n
            prev = [-1] * n
            dist[_SRC] = 0
            heap = [(0, _SRC)]
            while heap:
                d, u = heapq.heappop(heap)
                if d > dist[u]:
                    continue
                pu = pot[u]
                for e in adj[u]:
                    if cap[e] > 0:
                        v = to[e]
                        nd = d + cost[e] + pu - pot[v]
                        if nd < dist[v]:
                            dist[v] = nd
                            prev[v] = e
                            heapq.heappush(heap, (nd, v))
            dt = dist[_SINK]
            if dt == inf:
                return
            for v in range(n):
                pot[v] += dist[v] if dist[v] < dt else dt
            self._apply(prev)

    def _apply(self, prev: list[int]) -> None:
        v = _SINK
        while v != _SRC:
            e = prev[v]
            self.cap[e] -= 1
            self.cap[e ^ 1] += 1
            v = self.to[e ^ 1]
        self.value += 1

    def augment(self) -> bool:
        """One augmenting path by BFS, ignoring costs."""
        prev = [-1] * len(self.adj)
        prev[_SRC] = -2
        queue = deque([_SRC])
        adj, to, cap = self.adj, self.to, self.cap
        while queue:
            u = queue.popleft()
            for e in adj[u]:
                v = to[e]
                if cap[e] > 0 and prev[v] == -1:
                    prev[v] = e
                    if v == _SINK:
                        self._apply(prev)
                        return True
                    queue.append(v)
        return False

    def cancel_via(self, fe: int) -> None:
        """Remove one unit of flow along a source→sink path through forward edge ``fe``."""
        adj, to, cap = self.adj, self.to, self.cap
        path = [fe]
        u = to[fe ^ 1]
        while u != _SRC:
            e = next(e for e in adj[u] if e & 1 and cap[e] > 0)
            path.append(e ^ 1)
            u = to[e]
        v = to[fe]
        while v != _SINK:
            e = next(e for e in adj[v] if not e & 1 and cap[e ^ 1] > 0)
            path.append(e)
            v = to[e]
        for e in path:
            cap[e] += 1
            cap[e ^ 1] -= 1
        self.value -= 1

    def disable(self, e: int) -> None:
        """Remove an edge that carries no flow."""
        self.cap[e] = 0
        self.cap[e ^ 1] = 0


# ---------------------------------------------------------------------------
# The planner
# ---------------------------------------------------------------------------


class _Planner:
    """One planning run. ``keep`` maps slot index → fixed host; ``forbidden`` holds
    (slot index, member) pairs that must not be proposed (a decline)."""

    def __init__(
        self,
        slots: Sequence[Slot],
        candidates: Sequence[Candidate],
        history: Sequence[PastHosting],
        keep: Mapping[int, int | None],
        forbidden: frozenset[tuple[int, int]],
    ) -> None:
        self.slots = list(slots)
        self.cands = {c.member_id: c for c in candidates}
        self.keep = dict(keep)
        self.host: list[int | None] = [self.keep.get(i) for i in range(len(self.slots))]
        self.comps = _components(self.slots)
        self.comp_of = {i: n for n, comp in enumerate(self.comps) for i in comp}
        self.multi = [len(c) > 1 for c in self.comps]
        self.clique = [
            max(self.slots[i].start for i in c) < min(self.slots[i].end for i in c) for c in self.comps
        ]
        self.open = [i for comp in self.comps for i in comp if i not in self.keep]
        self.fits = {
            i: [m for m, c in self.cands.items() if c.can_host(self.slots[i]) and (i, m) not in forbidden]
            for i in self.open
        }
        # counts and recency: history (minus duplicates of fixed ones) + fixed
        fixed_events = {(m, self.slots[i].start) for i, m in self.keep.items() if m is not None}
        self.count: dict[int, int] = {m: 0 for m in self.cands}
        self.last: dict[int, datetime | None] = {m: None for m in self.cands}
        self.held: dict[int, list[int]] = {m: [] for m in self.cands}
        events: dict[datetime, list[int]] = {}
        for h in history:
            events.setdefault(h.start, [])
            if (h.member_id, h.start) in fixed_events:
                continue
            events[h.start].append(h.member_id)
            self._note(h.member_id, h.start)
        for i, m in self.keep.items():
            if m is not None:
                self._note(m, self.slots[i].start)
                self.held.setdefault(m, []).append(i)
        for s in self.slots:
            events.setdefault(s.start, [])
        self.history_at = events
        self.times = sorted(events)
        self.by_start: dict[datetime, list[int]] = {}
        for i, s in enumerate(self.slots):
            self.by_start.setdefault(s.start, []).append(i)

    # -- bookkeeping --------------------------------------------------------

    def _note(self, member: int, start: datetime) -> None:
        self.count[member] = self.count.get(member, 0) + 1
        last = self.last.get(member)
        self.last[member] = start if last is None or start > last else last

    def _assign(self, i: int, member: int) -> None:
        self.host[i] = member
        self.held.setdefault(member, []).append(i)
        self._note(member, self.slots[i].start)

    def _unassign(self, i: int) -> None:
        member = self.host[i]
        if member is None:
            return
        self.host[i] = None
        self.held[member].remove(i)
        self.count[member] -= 1
        starts = [self.slots[j].start for j in self.held[member]]
        starts += [t for t, ms in self.history_at.items() if member in ms]
        self.last[member] = max(starts) if starts else None

    def _key(self, member: int) -> tuple:
        return (self.count.get(member, 0), _recency(self.last.get(member)), member)

    def _overlap_busy(self, member: int, i: int) -> bool:
        s = self.slots[i]
        return any(j != i and self.slots[j].overlaps(s) for j in self.held.get(member, ()))

    def _comp_busy(self, member: int, i: int) -> bool:
        """Conservative rule of steps A–B: one slot per multi-slot component."""
        comp = self.comp_of[i]
        if not self.multi[comp]:
            return False
        return any(self.comp_of[j] == comp for j in self.held.get(member, ()) if j != i)

    def _neighbours(self, i: int) -> set[int]:
        """Hosts of the session just before slot ``i`` and of a fixed one just after."""
        t = self.slots[i].start
        out: set[int] = set()
        pos = bisect_left(self.times, t)
        if pos > 0:
            prev_t = self.times[pos - 1]
            out.update(self.history_at[prev_t])
            out.update(self.host[j] for j in self.by_start.get(prev_t, ()) if self.host[j] is not None)
        pos = bisect_right(self.times, t)
        if pos < len(self.times):
            next_t = self.times[pos]
            out.update(self.history_at[next_t])
            out.update(
                self.keep[j] for j in self.by_start.get(next_t, ()) if self.keep.get(j) is not None
            )
        return out

    # -- step A: quotas ---------------------------------------------------------

    def _network(self, todo: Sequence[int]) -> "_Quotas":
        """Min-cost max flow over the open slots ``todo``; quotas frozen to its flow."""
        net = _Network()
        q = _Quotas(net)
        order = sorted(self.cands, key=self._key)
        rank = {m: r for r, m in enumerate(order)}
        weight = (len(self.cands) + 1) * (len(todo) + 1)
        degree: dict[int, int] = {}
        for i in todo:
            s_node = net.node()
            q.src_edge[i] = net.edge(_SRC, s_node)
            comp = self.comp_of[i]
            for m in self.fits[i]:
                if self._overlap_busy(m, i) or self._comp_busy(m, i):
                    continue
                if m not in q.cand_node:
                    q.cand_node[m] = net.node()
                degree[m] = degree.get(m, 0) + 1
                if self.multi[comp]:
                    g = q.group_node.get((m, comp))
                    if g is None:
                        g = q.group_node[(m, comp)] = net.node()
                        q.group_edge[(m, comp)] = net.edge(g, q.cand_node[m])
                    net.edge(s_node, g)
                else:
                    net.edge(s_node, q.cand_node[m])
        for m, c_node in q.cand_node.items():
            base = self.count.get(m, 0)
            q.sink_edges[m] = [
                net.edge(c_node, _SINK, 1, (base + k) * weight + rank[m]) for k in range(degree[m])
            ]
        net.min_cost_max_flow()
        for edges in q.sink_edges.values():
            for e in edges:
                if net.flow(e) == 0:
                    net.disable(e)
        return q

    # -- the run ------------------------------------------------------------------

    def run(self) -> list[int | None]:
        if not self.open:
            return self.host
        q = self._network(self.open)
        for pos, i in enumerate(self.open):
            comp = self.comp_of[i]
            prefs = sorted((m for m in self.fits[i] if not self._overlap_busy(m, i)), key=self._key)
            near = self._neighbours(i)
            others = [m for m in prefs if m not in near]
            repeat = [m for m in prefs if m in near]
            chosen = next((m for m in others if q.try_assign(i, m, comp, self.multi[comp])), None)
            if chosen is None and others:
                # quotas would make someone host twice in a row: take another candidate if
                # the rest can still be filled as fully, and recompute the quotas
                target = q.net.value
                rest = self.open[pos + 1 :]
                for m in others:
                    if self._comp_busy(m, i):
                        continue
                    self._assign(i, m)
                    fresh = self._network(rest)
                    if fresh.net.value >= target - 1:
                        chosen, q = m, fresh
                        break
                    self._unassign(i)
                if chosen is not None:
                    continue
            if chosen is None:
                chosen = next((m for m in repeat if q.try_assign(i, m, comp, self.multi[comp])), None)
            if chosen is None:
                q.leave_empty(i)
            else:
                self._assign(i, chosen)
        self._repair_chains()
        self._fill_leftovers()
        return self.host

    # -- step C: chain components ------------------------------------------------------

    def _repair_chains(self) -> None:
        for n, comp in enumerate(self.comps):
            if self.clique[n]:
                continue
            todo = [i for i in comp if i not in self.keep]
            if not any(self.host[i] is None and self.fits[i] for i in todo):
                continue
            before = {i: self.host[i] for i in todo}
            for i in todo:
                self._unassign(i)
            best = self._search(todo)
            if best is not None and sum(m is not None for m in best) > sum(
                m is not None for m in before.values()
            ):
                chosen = dict(zip(todo, best))
            else:
                chosen = before
            for i in todo:
                if chosen[i] is not None:
                    self._assign(i, chosen[i])

    def _fill_leftovers(self) -> None:
        """Step D: a slot left empty although someone fits it. Steps A–B may trade a slot
        for another (the quota that would fill it went to a chain slot, which step C then
        kept): give it to whoever fits and is free at that time, preferring someone who
        did not host just before. If that is not enough, search the components holding
        empty slots together with the chain components they compete with."""
        empty = [i for i in self.open if self.host[i] is None and self.fits[i]]
        for i in empty:
            free = sorted((m for m in self.fits[i] if not self._overlap_busy(m, i)), key=self._key)
            near = self._neighbours(i)
            chosen = next((m for m in free if m not in near), free[0] if free else None)
            if chosen is not None:
                self._assign(i, chosen)
        if not any(self.host[i] is None and self.fits[i] for i in self.open):
            return
        todo = sorted({i for n, comp in enumerate(self.comps)
                       if not self.clique[n] or any(self.host[j] is None and self.fits.get(j) for j in comp)
                       for i in comp if i not in self.keep},
                      key=lambda i: (self.slots[i].start, i))
        if len(todo) > LEFTOVER_SEARCH_SLOTS:
            return
        before = {i: self.host[i] for i in todo}
        for i in todo:
            self._unassign(i)
        best = self._search(todo)
        better = best is not None and sum(m is not None for m in best) > sum(m is not None for m in before.values())
        chosen = dict(zip(todo, best)) if better else before
        for i in todo:
            if chosen[i] is not None:
                self._assign(i, chosen[i])

    def _search(self, todo: list[int]) -> list[int | None] | None:
        """Branch and bound: the most slots of ``todo`` filled, preferring the fairness
        order slot by slot (the first best solution found is kept)."""
        bound = [0] * (len(todo) + 1)
        for p in range(len(todo) - 1, -1, -1):
            bound[p] = bound[p + 1] + (1 if self.fits[todo[p]] else 0)
        best: list = [-1, None]
        picked: list[int | None] = []
        nodes = [0]

        def dfs(p: int, filled: int) -> None:
            if best[0] == bound[0] or nodes[0] > SEARCH_BUDGET:
                return
            nodes[0] += 1
            if filled + bound[p] <= best[0]:
                return
            if p == len(todo):
                best[0], best[1] = filled, list(picked)
                return
            i = todo[p]
            for m in sorted((m for m in self.fits[i] if not self._overlap_busy(m, i)), key=self._key):
                self._assign(i, m)
                picked.append(m)
                dfs(p + 1, filled + 1)
                picked.pop()
                self._unassign(i)
            picked.append(None)
            dfs(p + 1, filled)
            picked.pop()

        dfs(0, 0)
        return best[1]


class _Quotas:
    """The witness flow of step B with each candidate's remaining quota frozen."""

    def __init__(self, net: _Network) -> None:
        self.net = net
        self.src_edge: dict[int, int] = {}
        self.cand_node: dict[int, int] = {}
        self.group_node: dict[tuple[int, int], int] = {}
        self.group_edge: dict[tuple[int, int], int] = {}
        self.sink_edges: dict[int, list[int]] = {}

    def try_assign(self, i: int, member: int, comp: int, multi: bool) -> bool:
        """Give slot ``i`` to ``member`` if the remaining open slots can still be filled
        as fully within the remaining quotas; re-route the witness accordingly."""
        net = self.net
        active = [e for e in self.sink_edges.get(member, ()) if net.cap[e] + net.cap[e ^ 1] > 0]
        if not active:
            return False
        saved, saved_value = list(net.cap), net.value
        target = net.value - 1
        se = self.src_edge[i]
        if net.flow(se):
            net.cancel_via(se)
        net.disable(se)
        if multi:
            ge = self.group_edge.get((member, comp))
            if ge is not None:
                if net.flow(ge):
                    net.cancel_via(ge)
                net.disable(ge)
        free = next((e for e in active if net.flow(e) == 0), None)
        if free is None:
            free = active[0]
            net.cancel_via(free)
        net.disable(free)
        while net.value < target and net.augment():
            pass
        if net.value >= target:
            return True
        net.cap, net.value = saved, saved_value
        return False

    def leave_empty(self, i: int) -> None:
        """Nobody for slot ``i``; keep the rest as full as possible."""
        net = self.net
        target = net.value
        se = self.src_edge[i]
        if net.flow(se):
            net.cancel_via(se)
        net.disable(se)
        while net.value < target and net.augment():
            pass
