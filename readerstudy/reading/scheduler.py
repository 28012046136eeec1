"""Reading schedules as pure functions of (study seed, design, inputs).

No Django here: the service in ``reading.services`` turns a :class:`Schedule` into Session and Read
rows. Everything is plain ids (``int`` or ``str``): readers, cases, sequences and arms.

Three designs, one per seed paper:

* :class:`IndependentDesign` (seed 000): every series of the chosen sequences and arms is read on its
  own, in an order randomized per reader.
* :class:`CrossoverDesign` (seeds 001, 002): one session per arm; in each session every case is read
  once, in one arm; arms are counterbalanced across readers, cases and sessions; sessions after the
  first carry a washout.
* :class:`SideBySideDesign` (seed 003): pairs of arms shown side by side, left/right randomized and
  balanced per reader.

Any design may add training reads (cases outside the analysis) in a session before the first one.

Determinism
-----------
Inputs are sorted canonically (ints before strings, each in natural order), so the schedule does not
depend on the order the caller lists them in. Every random choice comes from its own stream::

    random.Random(int.from_bytes(sha256(json([seed, *labels])).digest()[:8], "big"))

where ``labels`` name the purpose (e.g. ``["order", "crossover", reader, session_index]``). Only
``Random.shuffle`` and ``Random.random`` are used, whose output for a given seed has been stable since
Python 3.2. A reader's orders depend on the seed and that reader's id, not on the other readers.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
from collections import Counter, defaultdict
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, ClassVar, Iterable, Iterator, Union

Id = Union[int, str]

__all__ = [
    "CrossoverDesign",
    "CaseRead",
    "Design",
    "Id",
    "IndependentDesign",
    "PairRead",
    "Schedule",
    "ScheduledSession",
    "SeriesRead",
    "SideBySideDesign",
    "build_schedule",
    "design_from_dict",
]


# --------------------------------------------------------------------------------------------------
# Ids and randomness
# --------------------------------------------------------------------------------------------------


def _check_id(value: Any, what: str) -> Id:
    # bool is an int subclass; True as a case id is a bug, not an id.
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"{what}: ids must be int or str, got {value!r} ({type(value).__name__})")
    return value


def _id_key(value: Id) -> tuple[int, Any]:
    return (0, value) if isinstance(value, int) else (1, value)


def _canonical(values: Iterable[Id], what: str, *, required: bool = True) -> tuple[Id, ...]:
    """Sorted, validated tuple of ids; duplicates and (if ``required``) emptiness are errors."""
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{what}: expected a collection of ids, got the string {values!r}")
    items = [_check_id(v, what) for v in values]
    if required and not items:
        raise ValueError(f"{what}: empty; a schedule needs at least one")
    duplicates = sorted({v for v, n in Counter(items).items() if n > 1}, key=_id_key)
    if duplicates:
        raise ValueError(f"{what}: duplicate ids {duplicates!r}")
    return tuple(sorted(items, key=_id_key))


def _rng(seed: int, *labels: Id) -> random.Random:
    material = json.dumps([seed, *labels], separators=(",", ":"), ensure_ascii=True)
    digest = hashlib.sha256(material.encode("ascii")).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


# --------------------------------------------------------------------------------------------------
# Designs
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Design:
    """Options every design shares (keyword-only).

    Parameters
    ----------
    sequences : tuple of Id, optional
        Restrict the schedule to these sequences; empty (default) means every sequence given to
        :func:`build_schedule`.
    arms : tuple of Id, optional
        Restrict the schedule to these arms; empty (default) means every arm given.
    training : bool, default True
        Schedule a training session before the first session when training cases are given.
    training_arms : tuple of Id, optional
        Arms shown in training reads; empty (default) means the design's arms. For side-by-side
        designs, the training pairs are the design's pairs whose two arms are both listed.
    case_reads : bool or None, default None
        Case reads with a hanging protocol: all chosen sequences of a case in one arm are one read
        (:class:`CaseRead`), shown together, instead of one read per series. ``None`` means "the
        service decides" (the Django service turns it on for per-level pathology questionnaires
        with more than one sequence); here it counts as False. Not for side-by-side designs.
    case_layout : tuple of Id, optional
        The order of the sequences in a case read's panes (the hanging protocol), e.g.
        ``("SAG T2 FS", "SAG T1", "AX T2")``; sequences not listed follow in canonical order.
    """

    KIND: ClassVar[str] = ""
    _: KW_ONLY
    sequences: tuple[Id, ...] = ()
    arms: tuple[Id, ...] = ()
    training: bool = True
    training_arms: tuple[Id, ...] = ()
    case_reads: bool | None = None
    case_layout: tuple[Id, ...] = ()

    def __post_init__(self) -> None:
        for name in ("sequences", "arms", "training_arms"):
            object.__setattr__(self, name, _canonical(getattr(self, name), f"design.{name}", required=False))
        if not isinstance(self.training, bool):
            raise TypeError(f"design.training must be a bool, got {self.training!r}")
        if self.case_reads is not None and not isinstance(self.case_reads, bool):
            raise TypeError(f"design.case_reads must be a bool or None, got {self.case_reads!r}")
        layout = tuple(self.case_layout)
        _canonical(layout, "design.case_layout", required=False)  # ids, no duplicates; order kept
        object.__setattr__(self, "case_layout", layout)
        if self.case_reads and self.KIND == "side_by_side":
            raise ValueError("design.case_reads: a side-by-side design compares two series; case reads are for "
                             "independent and crossover designs")
        if self.case_reads and getattr(self, "session_per_sequence", False):
            raise ValueError("design.case_reads shows every sequence of a case in one read; it cannot be combined "
                             "with session_per_sequence")
        washout = getattr(self, "washout_days", 0)
        if isinstance(washout, bool) or not isinstance(washout, int) or washout < 0:
            raise ValueError(f"design.washout_days must be a whole number of days >= 0, got {washout!r}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict that :func:`design_from_dict` turns back into an equal design."""
        data: dict[str, Any] = {"kind": self.KIND}
        for f in dataclasses.fields(self):
            if f.name == "_":
                continue
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = [list(v) if isinstance(v, tuple) else v for v in value]
            data[f.name] = value
        return data


@dataclass(frozen=True)
class IndependentDesign(Design):
    """Every series of the chosen sequences and arms read once, in a random order per reader (seed 000).

    Parameters
    ----------
    session_per_sequence : bool, default False
        One session per sequence (seed 000 randomized "for each sequence"), in a random order per
        reader; otherwise one session holding every series.
    washout_days : int, default 0
        Days between the end of one session and the opening of the next (per-sequence sessions).
    """

    KIND: ClassVar[str] = "independent"
    session_per_sequence: bool = False
    washout_days: int = 0


@dataclass(frozen=True)
class CrossoverDesign(Design):
    """Crossover sessions with washout (seeds 001, 002).

    There are as many sessions as arms. In session k every reader reads every case once (all chosen
    sequences of it, one after another) in one arm; across the sessions each reader reads each case in
    every arm exactly once. See :func:`build_schedule`, Notes, for the counterbalancing.

    Parameters
    ----------
    washout_days : int, default 28
        Days between the end of one session and the opening of the next (seeds 001/002: 4 weeks).
    sessions : int, optional
        The number of sessions the coordinator expects; it must equal the number of arms. Stating
        it turns a mismatch into an error instead of a surprise.
    """

    KIND: ClassVar[str] = "crossover"
    washout_days: int = 28
    sessions: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.sessions is not None and (
            isinstance(self.sessions, bool) or not isinstance(self.sessions, int) or self.sessions < 1
        ):
            raise ValueError(f"design.sessions must be a positive whole number, got {self.sessions!r}")


@dataclass(frozen=True)
class SideBySideDesign(Design):
    """Paired side-by-side reads (seed 003), one session.

    Parameters
    ----------
    pairs : sequence of (Id, Id)
        The arm pairs to compare, e.g. ``[("Standard", "Fast"), ("Standard", "Fast-DL50")]``. The
        order inside a pair is the point of view for analysis (first vs second); what the reader sees
        left and right is randomized and balanced.
    """

    KIND: ClassVar[str] = "side_by_side"
    pairs: tuple[tuple[Id, Id], ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.pairs, (str, bytes)):
            raise TypeError(f"design.pairs: expected a list of arm pairs, got {self.pairs!r}")
        pairs = []
        for pair in self.pairs:
            if isinstance(pair, (str, bytes)) or len(pair) != 2:
                raise ValueError(f"design.pairs: {pair!r} is not a pair of two arms")
            first, second = (_check_id(a, "design.pairs") for a in pair)
            if first == second:
                raise ValueError(f"design.pairs: {pair!r} compares arm {first!r} with itself")
            pairs.append((first, second))
        if not pairs:
            raise ValueError("design.pairs: empty; a side-by-side design needs at least one pair of arms")
        seen: dict[frozenset, tuple[Id, Id]] = {}
        for pair in pairs:
            key = frozenset(pair)
            if key in seen:
                raise ValueError(f"design.pairs: {pair!r} repeats {seen[key]!r}")
            seen[key] = pair
        # Canonical order of the pairs themselves; the order inside each pair is meaningful and kept.
        pairs.sort(key=lambda p: (_id_key(p[0]), _id_key(p[1])))
        object.__setattr__(self, "pairs", tuple(pairs))


    def pair_shown(self, left_arm: Id, right_arm: Id) -> tuple[tuple[Id, Id], bool]:
        """The design pair a read showed as ``left_arm | right_arm``, and whether it was flipped.

        For the answers table: a preference answer is analysed from the pair's point of view
        (first vs second) whatever side the reader saw each arm on.

        Raises
        ------
        ValueError
            The two arms are not a pair of this design.
        """
        for pair in self.pairs:
            if (left_arm, right_arm) == pair:
                return pair, False
            if (right_arm, left_arm) == pair:
                return pair, True
        raise ValueError(f"arms {left_arm!r} | {right_arm!r} are not a pair of the design {list(self.pairs)!r}")


_DESIGNS = {cls.KIND: cls for cls in (IndependentDesign, CrossoverDesign, SideBySideDesign)}


def design_from_dict(data: dict[str, Any]) -> Design:
    """Rebuild a design from :meth:`Design.to_dict` output (e.g. ``Study.reading_design``).

    Raises
    ------
    ValueError
        Unknown ``kind`` or unknown fields.
    """
    if not isinstance(data, dict) or "kind" not in data:
        raise ValueError(f"reading design: expected a dict with a 'kind', got {data!r}")
    kind = data["kind"]
    cls = _DESIGNS.get(kind)
    if cls is None:
        raise ValueError(f"reading design: unknown kind {kind!r}; expected one of {sorted(_DESIGNS)}")
    known = {f.name for f in dataclasses.fields(cls) if f.name != "_"}
    unknown = sorted(set(data) - known - {"kind"})
    if unknown:
        raise ValueError(f"reading design ({kind}): unknown fields {unknown}")
    kwargs = {k: v for k, v in data.items() if k != "kind"}
    if "pairs" in kwargs:
        kwargs["pairs"] = [tuple(p) if isinstance(p, list) else p for p in kwargs["pairs"]]
    return cls(**kwargs)


# --------------------------------------------------------------------------------------------------
# Schedules
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeriesRead:
    """One series (case × sequence × arm) read on its own."""

    case: Id
    sequence: Id
    arm: Id

    @property
    def arms(self) -> tuple[Id, ...]:
        return (self.arm,)


@dataclass(frozen=True)
class PairRead:
    """Two arms of one case and sequence side by side.

    ``pair`` is the design's pair (analysis point of view); ``left_arm``/``right_arm`` are what the
    reader sees. ``flipped`` records the placement: the design's second arm is on the left.
    """

    case: Id
    sequence: Id
    left_arm: Id
    right_arm: Id
    pair: tuple[Id, Id]

    @property
    def flipped(self) -> bool:
        return self.left_arm != self.pair[0]

    @property
    def arms(self) -> tuple[Id, ...]:
        return (self.left_arm, self.right_arm)


@dataclass(frozen=True)
class CaseRead:
    """All chosen sequences of one case in one arm, read together with a hanging protocol.

    ``sequences`` is the protocol's pane order (``design.case_layout`` first, then canonical order).
    """

    case: Id
    arm: Id
    sequences: tuple[Id, ...]

    @property
    def arms(self) -> tuple[Id, ...]:
        return (self.arm,)


ScheduledRead = Union[SeriesRead, PairRead, CaseRead]


def _as_case_reads(reads: list[ScheduledRead], layout: tuple[Id, ...]) -> list[ScheduledRead]:
    """The series reads of one session grouped into case reads: one per case × arm, at the position
    of its first series read, the randomized order of everything else kept. A case with one
    sequence stays a series read."""
    order = {seq: i for i, seq in enumerate(layout)}
    groups: dict[tuple[Id, Id], list[Id]] = {}
    firsts: list[tuple[Id, Id] | ScheduledRead] = []
    for read in reads:
        if not isinstance(read, SeriesRead):
            firsts.append(read)
            continue
        key = (read.case, read.arm)
        if key not in groups:
            groups[key] = []
            firsts.append(key)
        groups[key].append(read.sequence)
    out: list[ScheduledRead] = []
    for entry in firsts:
        if not isinstance(entry, tuple):
            out.append(entry)
            continue
        case, arm = entry
        sequences = sorted(groups[entry], key=lambda s: (0, order[s], (0, 0)) if s in order else (1, 0, _id_key(s)))
        out.append(CaseRead(case, arm, tuple(sequences)) if len(sequences) > 1 else SeriesRead(case, sequences[0], arm))
    return out


@dataclass(frozen=True)
class ScheduledSession:
    """An ordered block of reads for one reader.

    ``washout_days`` is the minimum time between the reader finishing the previous session and this
    one opening (0 for the first session and for the first session after training); the server turns
    it into dates.
    """

    reader: Id
    index: int
    is_training: bool
    washout_days: int
    reads: tuple[ScheduledRead, ...]


@dataclass(frozen=True)
class Schedule:
    """Every reader's sessions, readers in canonical order, sessions by index."""

    seed: int
    design: Design
    sessions: tuple[ScheduledSession, ...]
    readers: tuple[Id, ...] = field(default=())

    def for_reader(self, reader: Id) -> tuple[ScheduledSession, ...]:
        """The reader's sessions in order (training first, when scheduled)."""
        return tuple(s for s in self.sessions if s.reader == reader)

    def reads(self, *, training: bool | None = None) -> Iterator[tuple[ScheduledSession, int, ScheduledRead]]:
        """Yield ``(session, position, read)``; ``training`` filters training (True) or study (False) reads."""
        for session in self.sessions:
            if training is not None and session.is_training != training:
                continue
            for position, read in enumerate(session.reads):
                yield session, position, read


# --------------------------------------------------------------------------------------------------
# Counterbalancing helpers
# --------------------------------------------------------------------------------------------------


def williams_sequence(n: int) -> list[int]:
    """First row of a Williams square: 0, 1, n-1, 2, n-2, ...

    Used as ``(offset + w[k]) mod n`` it gives rows that are Latin in the sessions and, for even ``n``
    with every offset used equally often, balanced for first-order carryover (each arm follows every
    other arm equally often).
    """
    seq = [0]
    low, high = 1, n - 1
    take_low = True
    while len(seq) < n:
        if take_low:
            seq.append(low)
            low += 1
        else:
            seq.append(high)
            high -= 1
        take_low = not take_low
    return seq


def balanced_offsets(n_readers: int, n_arms: int) -> list[int]:
    """Reader offsets in ``range(n_arms)`` for the crossover's Latin-square rows (canonical order).

    Each offset is used ``n_readers // n_arms`` times; the remaining ``s`` readers get ``s`` distinct
    offsets spread evenly round the cycle (``floor(t * n_arms / s)``). Distinct offsets keep every
    case's arms balanced across readers; even spreading keeps the per-session arm totals balanced
    when the number of cases is not a multiple of the number of arms.
    """
    full, rest = divmod(n_readers, n_arms)
    return list(range(n_arms)) * full + [(t * n_arms) // rest for t in range(rest)]


def _orient_pairs(pairs: list[tuple[Id, Id]], rng: random.Random) -> dict[tuple[Id, Id], bool]:
    """For each pair, whether its first arm gets the odd extra left placement.

    An Euler orientation of the graph whose vertices are arms and edges are pairs (a dummy vertex
    joined to every odd-degree arm makes every degree even): each arm then gets the extra left as
    often as the extra right, within one, so left/right is balanced per arm as well as per pair.
    """
    dummy = object()
    edges: list[tuple[Any, Any]] = list(pairs)
    degree: Counter = Counter()
    for a, b in pairs:
        degree[a] += 1
        degree[b] += 1
    odd = sorted((v for v, d in degree.items() if d % 2), key=_id_key)
    edges += [(v, dummy) for v in odd]
    adjacency: dict[Any, list[tuple[int, Any]]] = defaultdict(list)
    for eid, (a, b) in enumerate(edges):
        adjacency[a].append((eid, b))
        adjacency[b].append((eid, a))
    for vertex in sorted(degree, key=_id_key):
        rng.shuffle(adjacency[vertex])
    used = [False] * len(edges)
    direction: dict[int, tuple[Any, Any]] = {}
    for start in [*sorted(degree, key=_id_key), dummy]:
        while True:
            # In a graph with even degrees a walk from ``start`` can only get stuck at ``start``:
            # every walk is a closed trail, so in-degree equals out-degree at every vertex.
            trail = []
            vertex = start
            while True:
                neighbours = adjacency[vertex]
                while neighbours and used[neighbours[-1][0]]:
                    neighbours.pop()
                if not neighbours:
                    break
                eid, other = neighbours.pop()
                used[eid] = True
                trail.append((eid, vertex, other))
                vertex = other
            if not trail:
                break
            reverse = rng.random() < 0.5
            for eid, a, b in trail:
                direction[eid] = (b, a) if reverse else (a, b)
    return {pair: direction[eid][0] == pair[0] for eid, pair in enumerate(pairs)}


def _place_pairs(
    items: list[tuple[Id, Id, tuple[Id, Id]]], pairs: tuple[tuple[Id, Id], ...], rng: random.Random
) -> list[PairRead]:
    """Left/right placement for (case, sequence, pair) items, balanced within one per pair and arm."""
    by_pair: dict[tuple[Id, Id], list[tuple[Id, Id]]] = {p: [] for p in pairs}
    for case, sequence, pair in items:
        by_pair[pair].append((case, sequence))
    odd_pairs = [p for p in pairs if len(by_pair[p]) % 2]
    extra_first_left = _orient_pairs(odd_pairs, rng)
    placed = []
    for pair in pairs:
        members = by_pair[pair]
        n_first_left = len(members) // 2 + (1 if extra_first_left.get(pair, False) else 0)
        flags = [True] * n_first_left + [False] * (len(members) - n_first_left)
        rng.shuffle(flags)
        for (case, sequence), first_left in zip(members, flags):
            left, right = pair if first_left else (pair[1], pair[0])
            placed.append(PairRead(case=case, sequence=sequence, left_arm=left, right_arm=right, pair=pair))
    return placed


# --------------------------------------------------------------------------------------------------
# The scheduler
# --------------------------------------------------------------------------------------------------


def _subset(chosen: tuple[Id, ...], available: tuple[Id, ...], what: str) -> tuple[Id, ...]:
    if not chosen:
        return available
    missing = [v for v in chosen if v not in set(available)]
    if missing:
        raise ValueError(f"design.{what}: {missing!r} not among the {what} {list(available)!r}")
    return chosen


def _independent(seed, design, readers, cases, sequences, arms) -> dict[Id, list[list[ScheduledRead]]]:
    plan = {}
    for reader in readers:
        rng = _rng(seed, "order", design.KIND, reader)
        if design.session_per_sequence:
            blocks = [[SeriesRead(c, s, a) for c in cases for a in arms] for s in sequences]
            rng.shuffle(blocks)
        else:
            blocks = [[SeriesRead(c, s, a) for c in cases for s in sequences for a in arms]]
        for block in blocks:
            rng.shuffle(block)
        plan[reader] = blocks
    return plan


def _crossover(seed, design, readers, cases, sequences, arms) -> dict[Id, list[list[ScheduledRead]]]:
    n_arms = len(arms)
    if design.sessions is not None and design.sessions != n_arms:
        if design.sessions < n_arms:
            raise ValueError(
                f"crossover: {n_arms} arms {list(arms)!r} cannot be read in {design.sessions} sessions: "
                f"a case may appear in only one arm per session, so every reader needs {n_arms} sessions"
            )
        raise ValueError(
            f"crossover: {design.sessions} sessions for {n_arms} arms would show a case in the same arm "
            f"twice; a crossover has one session per arm ({n_arms})"
        )
    case_order = list(cases)
    _rng(seed, "crossover", "cases").shuffle(case_order)
    offsets = balanced_offsets(len(readers), n_arms)
    _rng(seed, "crossover", "readers").shuffle(offsets)
    labels = list(arms)
    _rng(seed, "crossover", "arms").shuffle(labels)
    williams = williams_sequence(n_arms)
    plan = {}
    for reader, offset in zip(readers, offsets):
        sessions = []
        for k in range(n_arms):
            blocks = [
                [SeriesRead(case, s, labels[(offset + j + williams[k]) % n_arms]) for s in sequences]
                for j, case in enumerate(case_order)
            ]
            _rng(seed, "order", design.KIND, reader, k).shuffle(blocks)
            sessions.append([read for block in blocks for read in block])
        plan[reader] = sessions
    return plan


def _side_by_side_pairs(design: SideBySideDesign, arms: tuple[Id, ...]) -> tuple[tuple[Id, Id], ...]:
    available = set(arms)
    for pair in design.pairs:
        missing = [a for a in pair if a not in available]
        if missing:
            raise ValueError(f"side_by_side: pair {pair!r} names arm(s) {missing!r} not among the arms {list(arms)!r}")
    return design.pairs


def _side_by_side(seed, design, readers, cases, sequences, arms) -> dict[Id, list[list[ScheduledRead]]]:
    pairs = _side_by_side_pairs(design, arms)
    plan = {}
    for reader in readers:
        rng = _rng(seed, "order", design.KIND, reader)
        items = [(c, s, p) for c in cases for s in sequences for p in pairs]
        reads = _place_pairs(items, pairs, rng)
        rng.shuffle(reads)
        plan[reader] = [reads]
    return plan


def _training_reads(seed, design, reader, training_cases, sequences, arms) -> list[ScheduledRead]:
    rng = _rng(seed, "training", design.KIND, reader)
    chosen = _subset(design.training_arms, arms, "training_arms") if design.training_arms else arms
    if isinstance(design, SideBySideDesign):
        pairs = tuple(p for p in design.pairs if p[0] in chosen and p[1] in chosen)
        if not pairs:
            raise ValueError(
                f"design.training_arms: {list(chosen)!r} contain no complete pair of {list(design.pairs)!r}"
            )
        reads: list[ScheduledRead] = list(
            _place_pairs([(c, s, p) for c in training_cases for s in sequences for p in pairs], pairs, rng)
        )
    else:
        reads = [SeriesRead(c, s, a) for c in training_cases for s in sequences for a in chosen]
    rng.shuffle(reads)
    return reads


def build_schedule(
    seed: int,
    design: Design,
    readers: Iterable[Id],
    cases: Iterable[Id],
    sequences: Iterable[Id],
    arms: Iterable[Id],
    training_cases: Iterable[Id] = (),
) -> Schedule:
    """Build every reader's sessions for a study.

    Parameters
    ----------
    seed : int
        The study seed. Same seed, design and inputs (in any order) give an identical schedule.
    design : IndependentDesign, CrossoverDesign or SideBySideDesign
        The reading design.
    readers, cases, sequences, arms : iterable of int or str
        Ids of the study's readers, (non-training) cases, sequences and arms. The design may restrict
        sequences and arms further (``design.sequences``, ``design.arms``).
    training_cases : iterable of int or str, optional
        Cases read for training only, before the first session (when ``design.training``).

    Returns
    -------
    Schedule
        Sessions per reader. Session indices start at 0; with training, session 0 is the training
        session (``is_training=True``). The first study session has ``washout_days=0``; later ones carry
        the design's washout. Reads are :class:`SeriesRead` or, for side-by-side, :class:`PairRead`.

    Raises
    ------
    TypeError
        An id that is not an int or str, or a seed that is not an int.
    ValueError
        Empty readers/cases/sequences/arms, duplicate ids, a training case that is also a study case,
        design arms or sequences that are not among the inputs, or an impossible crossover (its number
        of sessions must equal its number of arms).

    Notes
    -----
    **Independent** (seed 000): the series case × sequence × arm, shuffled per reader; with
    ``session_per_sequence`` one shuffled session per sequence, sessions in a random order per reader.

    **Crossover** (seeds 001, 002): with ``A`` arms there are ``A`` sessions. The cases are put in one
    random order ``j = 0..C-1`` for the study, the arms in one random order ``labels``, and each reader
    ``i`` gets an offset ``o_i`` from :func:`balanced_offsets`, assigned at random. Reader ``i`` reads
    case ``j`` in session ``k`` in arm ``labels[(o_i + j + w_k) mod A]`` where ``w`` is
    :func:`williams_sequence` ``(A)``. Hence:

    * each reader reads each case in every arm exactly once, one arm per session, never two arms of
      a case in one session (the sequences of a case are read one after another, same arm);
    * within a reader's session, the arms' case counts differ by at most one (consecutive ``j``);
    * for each session and case, the arms' reader counts differ by at most one (balanced offsets);
    * for each session, the arms' totals over readers and cases differ by at most one (evenly spread
      offsets for the remainder readers);
    * for even ``A`` with every offset used equally often, first-order carryover is balanced
      (Williams, 1949).

    The order of cases within each session is shuffled per reader and session.

    **Side-by-side** (seed 003): every case × sequence × pair, shuffled per reader. For each reader and
    pair the design's first arm is on the left in half the reads (within one); the odd extras are
    oriented along an Euler tour of the arm/pair graph, so that each arm also appears left and right
    equally often within one.

    References
    ----------
    .. [1] Williams, E. J. (1949). Experimental designs balanced for the estimation of residual
       effects of treatments. Australian Journal of Scientific Research, Series A, 2(2), 149-168.
    .. [2] de Werra, D. (1971). Balanced schedules. INFOR: Information Systems and Operational
       Research, 9(3), 230-237.

    Examples
    --------
    >>> s = build_schedule(7, CrossoverDesign(washout_days=28), ["r1", "r2"], ["C1", "C2"],
    ...                    ["SAG T2"], ["Standard", "Fast"])
    >>> [(x.index, x.washout_days, len(x.reads)) for x in s.for_reader("r1")]
    [(0, 0, 2), (1, 28, 2)]
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {seed!r}")
    if not isinstance(design, (IndependentDesign, CrossoverDesign, SideBySideDesign)):
        raise TypeError(f"design must be an IndependentDesign, CrossoverDesign or SideBySideDesign, got {design!r}")
    readers = _canonical(readers, "readers")
    cases = _canonical(cases, "cases")
    sequences = _subset(design.sequences, _canonical(sequences, "sequences"), "sequences")
    arms = _subset(design.arms, _canonical(arms, "arms"), "arms")
    training_cases = _canonical(training_cases, "training_cases", required=False)
    overlap = sorted(set(training_cases) & set(cases), key=_id_key)
    if overlap:
        raise ValueError(f"training_cases: {overlap!r} are also study cases; training reads are excluded from analysis")

    builders = {"independent": _independent, "crossover": _crossover, "side_by_side": _side_by_side}
    plan = builders[design.KIND](seed, design, readers, cases, sequences, arms)
    unknown_layout = [s for s in design.case_layout if s not in sequences]
    if unknown_layout:
        raise ValueError(f"design.case_layout: {unknown_layout!r} are not among the chosen sequences {list(sequences)!r}")
    if design.case_reads:
        plan = {reader: [_as_case_reads(reads, design.case_layout) for reads in blocks] for reader, blocks in plan.items()}

    with_training = design.training and bool(training_cases)
    sessions = []
    for reader in readers:
        index = 0
        if with_training:
            reads = _training_reads(seed, design, reader, training_cases, sequences, arms)
            if design.case_reads:
                reads = _as_case_reads(reads, design.case_layout)
            sessions.append(ScheduledSession(reader, index, True, 0, tuple(reads)))
            index += 1
        for k, reads in enumerate(plan[reader]):
            washout = design.washout_days if k > 0 and hasattr(design, "washout_days") else 0
            sessions.append(ScheduledSession(reader, index, False, washout, tuple(reads)))
            index += 1
    return Schedule(seed=seed, design=design, sessions=tuple(sessions), readers=readers)
