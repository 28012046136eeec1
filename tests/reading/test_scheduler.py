"""Property tests of the reading scheduler (issue 6): random designs, the invariants every schedule keeps."""

from __future__ import annotations

import itertools
import os
from collections import Counter, defaultdict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from readerstudy.reading.scheduler import (
    CrossoverDesign,
    IndependentDesign,
    PairRead,
    SeriesRead,
    SideBySideDesign,
    balanced_offsets,
    build_schedule,
    design_from_dict,
    williams_sequence,
)

# SCHEDULER_EXAMPLES=2000 for a longer hunt; the default keeps the suite to a few seconds.
PROPERTY = settings(
    max_examples=int(os.environ.get("SCHEDULER_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def within_one(counts) -> bool:
    values = list(counts)
    return not values or max(values) - min(values) <= 1


# --- strategies ------------------------------------------------------------------------------------

ids = st.one_of(st.integers(min_value=-5, max_value=10_000), st.text("abcXYZ-_ 019", min_size=1, max_size=6))


def unique_ids(min_size, max_size):
    return st.lists(ids, min_size=min_size, max_size=max_size, unique=True)


@st.composite
def studies(draw, kinds=("independent", "crossover", "side_by_side")):
    """(seed, design, readers, cases, sequences, arms, training_cases) for a random small study."""
    kind = draw(st.sampled_from(kinds))
    readers = draw(unique_ids(1, 7))
    everything = draw(unique_ids(1, 14))
    n_training = draw(st.integers(0, min(3, len(everything) - 1)))
    cases, training_cases = everything[n_training:], everything[:n_training]
    sequences = draw(unique_ids(1, 3))
    arms = draw(unique_ids(2 if kind == "side_by_side" else 1, 5))
    training = draw(st.booleans())
    if kind == "independent":
        design = IndependentDesign(
            session_per_sequence=draw(st.booleans()), washout_days=draw(st.integers(0, 30)), training=training
        )
    elif kind == "crossover":
        design = CrossoverDesign(washout_days=draw(st.integers(0, 60)), training=training)
    else:
        combos = list(itertools.combinations(arms, 2))
        chosen = draw(st.lists(st.sampled_from(combos), min_size=1, max_size=len(combos), unique=True))
        flips = draw(st.lists(st.booleans(), min_size=len(chosen), max_size=len(chosen)))
        pairs = [(b, a) if flip else (a, b) for (a, b), flip in zip(chosen, flips)]
        design = SideBySideDesign(pairs=pairs, training=training)
    seed = draw(st.integers(min_value=0, max_value=2**31 - 1))
    return seed, design, readers, cases, sequences, arms, training_cases


def build(study):
    seed, design, readers, cases, sequences, arms, training_cases = study
    return build_schedule(seed, design, readers, cases, sequences, arms, training_cases=training_cases)


# --- coverage ---------------------------------------------------------------------------------------


@PROPERTY
@given(studies())
def test_every_required_read_happens_exactly_once(study):
    seed, design, readers, cases, sequences, arms, training_cases = study
    schedule = build(study)
    seen = Counter()
    for session, _, read in schedule.reads(training=False):
        if isinstance(read, PairRead):
            assert {read.left_arm, read.right_arm} == set(read.pair)
            seen[(session.reader, read.case, read.sequence, read.pair)] += 1
        else:
            seen[(session.reader, read.case, read.sequence, read.arm)] += 1
    if isinstance(design, SideBySideDesign):
        required = set(itertools.product(readers, cases, sequences, design.pairs))
    else:
        required = set(itertools.product(readers, cases, sequences, arms))
    assert set(seen) == required
    assert set(seen.values()) == {1}


@PROPERTY
@given(studies())
def test_training_reads_come_first_flagged_and_only_training_cases(study):
    seed, design, readers, cases, sequences, arms, training_cases = study
    schedule = build(study)
    for reader in readers:
        sessions = schedule.for_reader(reader)
        training = [s for s in sessions if s.is_training]
        if design.training and training_cases:
            assert training == [sessions[0]]
            shown = Counter()
            for read in training[0].reads:
                assert read.case in training_cases
                shown[(read.case, read.sequence, getattr(read, "pair", None) or read.arm)] += 1
            if isinstance(design, SideBySideDesign):
                expected = set(itertools.product(training_cases, sequences, design.pairs))
            else:
                expected = set(itertools.product(training_cases, sequences, arms))
            assert set(shown) == expected and set(shown.values()) == {1}
        else:
            assert training == []
        for session in sessions:
            if not session.is_training:
                assert all(read.case in cases for read in session.reads)


# --- sessions, washout ------------------------------------------------------------------------------


@PROPERTY
@given(studies())
def test_sessions_are_numbered_in_order_and_carry_the_washout(study):
    seed, design, readers, cases, sequences, arms, training_cases = study
    schedule = build(study)
    assert schedule.readers == tuple(sorted(readers, key=lambda v: (isinstance(v, str), v)))
    for reader in readers:
        sessions = schedule.for_reader(reader)
        assert [s.index for s in sessions] == list(range(len(sessions)))
        study_sessions = [s for s in sessions if not s.is_training]
        if isinstance(design, CrossoverDesign):
            assert len(study_sessions) == len(arms)
        elif isinstance(design, IndependentDesign) and design.session_per_sequence:
            assert len(study_sessions) == len(sequences)
        else:
            assert len(study_sessions) == 1
        for s in sessions:
            if s.is_training:
                assert s.washout_days == 0
        assert study_sessions[0].washout_days == 0
        for s in study_sessions[1:]:
            assert s.washout_days == design.washout_days
        assert all(s.reads for s in sessions)


# --- crossover --------------------------------------------------------------------------------------


@PROPERTY
@given(studies(kinds=("crossover",)))
def test_crossover_never_shows_a_case_twice_in_a_session(study):
    seed, design, readers, cases, sequences, arms, training_cases = study
    schedule = build(study)
    for session in schedule.sessions:
        if session.is_training:
            continue
        arms_of_case = defaultdict(set)
        for read in session.reads:
            arms_of_case[read.case].add(read.arm)
        assert set(arms_of_case) == set(cases)  # every case once per session...
        assert all(len(a) == 1 for a in arms_of_case.values())  # ...in one arm
        assert len(session.reads) == len(cases) * len(sequences)
        # The sequences of a case are read one after another, like an exam.
        runs = [case for case, _ in itertools.groupby(read.case for read in session.reads)]
        assert len(runs) == len(cases)


@PROPERTY
@given(studies(kinds=("crossover",)))
def test_crossover_arms_are_balanced_within_one(study):
    seed, design, readers, cases, sequences, arms, training_cases = study
    schedule = build(study)
    # arm[(reader, case, k)] for the study sessions (k = 0.. in order)
    arm = {}
    for reader in readers:
        study_sessions = [s for s in schedule.for_reader(reader) if not s.is_training]
        for k, session in enumerate(study_sessions):
            for read in session.reads:
                arm[(reader, read.case, k)] = read.arm
    for reader, case in itertools.product(readers, cases):
        assert Counter(arm[(reader, case, k)] for k in range(len(arms))) == Counter(arms)
    for k in range(len(arms)):
        for reader in readers:  # within a reader's session, over cases
            counts = Counter(arm[(reader, c, k)] for c in cases)
            assert within_one(counts[a] for a in arms)
        for case in cases:  # for a case in a session, over readers
            counts = Counter(arm[(r, case, k)] for r in readers)
            assert within_one(counts[a] for a in arms)
        totals = Counter(arm[(r, c, k)] for r in readers for c in cases)  # the whole session
        assert within_one(totals[a] for a in arms)


def test_crossover_two_arms_like_seed_002():
    """4 readers, 50 cases, 2 sessions 4 weeks apart: every session half conventional, half DL."""
    schedule = build_schedule(
        2025, CrossoverDesign(washout_days=28), ["R1", "R2", "R3", "R4"], [f"P{i:02d}" for i in range(50)],
        ["SAG T2"], ["Conventional", "DL"],
    )
    for session in schedule.sessions:
        assert Counter(r.arm for r in session.reads) == {"Conventional": 25, "DL": 25}
    for reader in schedule.readers:
        first, second = schedule.for_reader(reader)
        assert (first.washout_days, second.washout_days) == (0, 28)
        assert {r.case: r.arm for r in first.reads}.keys() == {r.case: r.arm for r in second.reads}.keys()
        assert all(
            a.arm != b.arm
            for a, b in zip(sorted(first.reads, key=lambda r: r.case), sorted(second.reads, key=lambda r: r.case))
        )


def test_crossover_with_even_arms_balances_carryover():
    """Williams: with 4 arms and offsets used equally often, each arm follows each other arm equally often."""
    arms = ["A", "B", "C", "D"]
    schedule = build_schedule(11, CrossoverDesign(), [1, 2, 3, 4], ["C1", "C2", "C3", "C4"], ["S"], arms)
    transitions = Counter()
    for reader in schedule.readers:
        sessions = schedule.for_reader(reader)
        for case in ["C1", "C2", "C3", "C4"]:
            seq = [next(r.arm for r in s.reads if r.case == case) for s in sessions]
            transitions.update(zip(seq, seq[1:]))
    assert set(transitions) == {(a, b) for a in arms for b in arms if a != b}
    assert set(transitions.values()) == {4}


@PROPERTY
@given(studies(kinds=("crossover",)))
def test_crossover_carryover_is_balanced_for_even_arms(study):
    seed, design, readers, cases, sequences, arms, training_cases = study
    if len(arms) % 2 or (len(readers) * len(cases)) % len(arms):
        return  # Williams balance needs an even number of arms and every row offset equally often
    schedule = build(study)
    transitions = Counter()
    for reader in readers:
        sessions = [s for s in schedule.for_reader(reader) if not s.is_training]
        arm_of = [{r.case: r.arm for r in s.reads} for s in sessions]
        for case in cases:
            seq = [a[case] for a in arm_of]
            transitions.update(zip(seq, seq[1:]))
    if len(arms) > 1:
        assert set(transitions) == {(a, b) for a in arms for b in arms if a != b}
        assert len(set(transitions.values())) == 1


@pytest.mark.parametrize("n_arms", range(1, 9))
def test_balanced_offsets_spread_the_remainder(n_arms):
    for n_readers in range(1, 3 * n_arms + 2):
        offsets = balanced_offsets(n_readers, n_arms)
        assert len(offsets) == n_readers
        counts = Counter(offsets)
        assert within_one(counts[a] for a in range(n_arms))
        for window in range(n_arms):
            cover = Counter((o + t) % n_arms for o in offsets for t in range(window))
            assert within_one(cover[a] for a in range(n_arms)), (n_readers, n_arms, window)


@pytest.mark.parametrize("n", range(1, 9))
def test_williams_sequence_is_a_permutation(n):
    assert sorted(williams_sequence(n)) == list(range(n))


# --- side by side -----------------------------------------------------------------------------------


@PROPERTY
@given(studies(kinds=("side_by_side",)))
def test_left_right_is_balanced_within_one_per_reader(study):
    seed, design, readers, cases, sequences, arms, training_cases = study
    schedule = build(study)
    for reader in readers:
        for session in schedule.for_reader(reader):
            reads = session.reads
            assert all(isinstance(r, PairRead) for r in reads)
            for pair in {r.pair for r in reads}:
                flipped = Counter(r.flipped for r in reads if r.pair == pair)
                assert abs(flipped[True] - flipped[False]) <= 1, (reader, pair, flipped)
            left = Counter(r.left_arm for r in reads)
            right = Counter(r.right_arm for r in reads)
            for a in arms:
                assert abs(left[a] - right[a]) <= 1, (reader, a, left, right)


def test_pair_shown_maps_a_placement_back_to_the_design_pair():
    design = SideBySideDesign(pairs=[("Standard", "Fast"), ("Fast-DL", "Fast")])
    assert design.pair_shown("Standard", "Fast") == (("Standard", "Fast"), False)
    assert design.pair_shown("Fast", "Fast-DL") == (("Fast-DL", "Fast"), True)
    with pytest.raises(ValueError, match="not a pair of the design"):
        design.pair_shown("Standard", "Fast-DL")


def test_side_by_side_like_seed_003_records_placement():
    pairs = [("SOC", "FAST"), ("SOC", "FAST-DL"), ("FAST-DL", "FAST")]
    schedule = build_schedule(3, SideBySideDesign(pairs=pairs), ["n1", "n2", "n3"], [f"P{i}" for i in range(61)],
                              ["SAG T2"], ["SOC", "FAST", "FAST-DL"])
    for reader in schedule.readers:
        (session,) = schedule.for_reader(reader)
        assert len(session.reads) == 61 * 3
        for read in session.reads:
            assert read.flipped == (read.left_arm == read.pair[1])
            assert schedule.design.pair_shown(read.left_arm, read.right_arm) == (read.pair, read.flipped)
        assert 0 < sum(r.flipped for r in session.reads) < len(session.reads)


# --- determinism ------------------------------------------------------------------------------------


@PROPERTY
@given(studies(), st.randoms(use_true_random=False))
def test_same_seed_and_inputs_in_any_order_give_the_same_schedule(study, rnd):
    seed, design, readers, cases, sequences, arms, training_cases = study
    shuffled = []
    for values in (readers, cases, sequences, arms, training_cases):
        values = list(values)
        rnd.shuffle(values)
        shuffled.append(values)
    again = build_schedule(seed, design, *shuffled[:4], training_cases=shuffled[4])
    assert again == build(study)
    rebuilt = design_from_dict(design.to_dict())
    assert rebuilt == design
    assert build_schedule(seed, rebuilt, readers, cases, sequences, arms, training_cases=training_cases) == again


@pytest.mark.parametrize(
    "design",
    [IndependentDesign(), IndependentDesign(session_per_sequence=True), CrossoverDesign(),
     SideBySideDesign(pairs=[("Standard", "Fast"), ("Standard", "DL")])],
    ids=lambda d: d.KIND,
)
def test_different_seeds_give_different_orders(design):
    args = (["r1", "r2"], [f"C{i}" for i in range(12)], ["SAG T1", "SAG T2"], ["Standard", "Fast", "DL"])
    orders = set()
    for seed in (1, 2, 3, 42, 2**31 - 1):
        schedule = build_schedule(seed, design, *args)
        orders.add(tuple(s.reads for s in schedule.sessions))
    assert len(orders) == 5


def test_a_readers_order_does_not_depend_on_the_other_readers():
    args = ([f"C{i}" for i in range(10)], ["S"], ["A", "B"])
    alone = build_schedule(5, IndependentDesign(), ["r2"], *args)
    together = build_schedule(5, IndependentDesign(), ["r1", "r2", "r3"], *args)
    assert alone.for_reader("r2") == together.for_reader("r2")


def test_known_schedules_are_stable():
    """Pins the seed derivation: changing it silently would reshuffle every existing study."""
    schedule = build_schedule(12345, IndependentDesign(), [1], ["C1", "C2"], ["S"], ["A", "B"])
    assert [(r.case, r.arm) for r in schedule.sessions[0].reads] == [("C1", "B"), ("C2", "A"), ("C1", "A"), ("C2", "B")]
    schedule = build_schedule(12345, CrossoverDesign(), [1, 2], ["C1", "C2", "C3"], ["S"], ["A", "B"])
    assert [[(r.case, r.arm) for r in s.reads] for s in schedule.sessions] == [
        [("C3", "A"), ("C1", "B"), ("C2", "B")],
        [("C2", "A"), ("C3", "B"), ("C1", "A")],
        [("C1", "A"), ("C3", "B"), ("C2", "A")],
        [("C2", "B"), ("C1", "B"), ("C3", "A")],
    ]


# --- impossible designs -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"readers": []}, "readers: empty"),
        ({"cases": []}, "cases: empty"),
        ({"sequences": []}, "sequences: empty"),
        ({"arms": []}, "arms: empty"),
        ({"readers": ["r1", "r1"]}, "readers: duplicate ids \\['r1'\\]"),
        ({"cases": ["C1", "C2", "C1"]}, "cases: duplicate ids \\['C1'\\]"),
        ({"training_cases": ["C1"]}, "training_cases: \\['C1'\\] are also study cases"),
        ({"design": CrossoverDesign(sessions=2)}, "3 arms .* cannot be read in 2 sessions"),
        ({"design": CrossoverDesign(sessions=4)}, "4 sessions for 3 arms"),
        ({"design": SideBySideDesign(pairs=[("A", "Z")])}, "pair \\('A', 'Z'\\) names arm\\(s\\) \\['Z'\\]"),
        ({"design": IndependentDesign(arms=("A", "Q"))}, "design.arms: \\['Q'\\] not among"),
        ({"design": IndependentDesign(sequences=("T9",))}, "design.sequences: \\['T9'\\] not among"),
        ({"design": CrossoverDesign(training_arms=("Q",)), "training_cases": ["T1"]}, "training_arms"),
    ],
)
def test_impossible_designs_raise_precise_errors(kwargs, message):
    args = {
        "seed": 1, "design": CrossoverDesign(), "readers": ["r1"], "cases": ["C1", "C2"], "sequences": ["S"],
        "arms": ["A", "B", "C"], "training_cases": [],
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        build_schedule(**args)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: SideBySideDesign(pairs=[]), "needs at least one pair"),
        (lambda: SideBySideDesign(pairs=[("A", "A")]), "compares arm 'A' with itself"),
        (lambda: SideBySideDesign(pairs=[("A", "B"), ("B", "A")]), "repeats"),
        (lambda: SideBySideDesign(pairs=[("A", "B", "C")]), "not a pair"),
        (lambda: CrossoverDesign(washout_days=-1), "washout_days must be"),
        (lambda: CrossoverDesign(sessions=0), "sessions must be a positive"),
        (lambda: design_from_dict({"kind": "latin"}), "unknown kind"),
        (lambda: design_from_dict({"kind": "crossover", "washout": 3}), "unknown fields \\['washout'\\]"),
    ],
)
def test_invalid_designs_raise(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_ids_must_be_int_or_str():
    with pytest.raises(TypeError, match="ids must be int or str"):
        build_schedule(1, IndependentDesign(), [1.5], ["C"], ["S"], ["A"])
    with pytest.raises(TypeError, match="seed must be an int"):
        build_schedule("1", IndependentDesign(), [1], ["C"], ["S"], ["A"])


def test_reads_are_value_objects():
    read = SeriesRead("C1", "S", "A")
    assert read.arms == ("A",)
    pair = PairRead("C1", "S", "B", "A", ("A", "B"))
    assert pair.flipped and pair.arms == ("B", "A")
    assert read == SeriesRead("C1", "S", "A") and hash(read) == hash(SeriesRead("C1", "S", "A"))
