"""The demo study through the real parts (Django glue of :mod:`readerstudy.demo`).

Steps, each idempotent (running it again reuses what exists):

1. :func:`demo_users_ensure`, :func:`demo_study_ensure`: a coordinator, two simulated readers and
   one reader for the person trying the demo; the study with its sequences, the arms the recon
   worker can make (Standard as reference, Fast, and the Fast-DL arms when the denoiser's model is
   present) plus ``Truth`` (the phantom's noise-free image: never scheduled, used to measure the
   other arms), seed 000's questionnaire and seed 001's per-level pathology grid.
2. :func:`demo_recon_queue`: one recon job per case (so a worker with concurrency 2 makes two cases
   at once), through :func:`recon.services.recon_job_create`; the worker imports each case's series
   and its phantom reference standard.
3. :func:`demo_quality_measure`: each series against Truth (:mod:`recon.quality`),
   cached per case under ``MEDIA_ROOT/demo/study_<id>/``; the study's image-integrity table.
4. :func:`demo_finish`: publish, schedule (crossover, 28-day washout), simulated answers
   (:func:`demo_answers_simulate`, through :mod:`readerstudy.reading.services`), and the report
   request.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.utils import timezone

from readerstudy.studies import audit, services
from readerstudy.studies.models import Case, Instance, Item, Membership, ReferenceStandard, Series, Study

from recon.quality import measure_series
from .reader_model import ItemSpec, Quality, ReaderModel, SimulatedReader

log = logging.getLogger(__name__)

DEMO_STUDY = "Demo: accelerated lumbar spine MRI"
DEMO_SEQUENCES = ("SAG T2 FS", "SAG T1", "AX T2")
TRUTH_ARM = "Truth"
REFERENCE_ARM = "Standard"
WASHOUT_DAYS = 28
#: Only these central slices of each series are measured (keeps the measurement to seconds a case).
MEASURED_SLICES = 12
SIMULATION_REASON = "simulated reader (demo): answers made by readerstudy.demo.reader_model"


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    role: str  # coordinator | reader
    simulated: bool = False


DEMO_USERS = (
    DemoUser("coordinator", "demo-coordinator-2026", "coordinator"),
    DemoUser("sim-reader1", "demo-sim-reader1-2026", "reader", simulated=True),
    DemoUser("sim-reader2", "demo-sim-reader2-2026", "reader", simulated=True),
    DemoUser("reader3", "demo-reader3-2026", "reader"),
)
#: The simulated readers' habits (see readerstudy.demo.reader_model): one scores a little high and
#: reports a little more, the other a little low, noisier and more conservative.
SIMULATED_READERS = {
    "sim-reader1": SimulatedReader("sim-reader1", bias=0.2, noise_sd=0.45, sensitivity_shift=0.03, specificity_shift=-0.01),
    "sim-reader2": SimulatedReader("sim-reader2", bias=-0.25, noise_sd=0.55, sensitivity_shift=-0.04, specificity_shift=0.01),
}
COORDINATOR_MODELS = ["study", "membership", "sequence", "arm", "case", "series", "item", "referencestandard", "auditevent", "importjob"]


@dataclass(frozen=True)
class DemoConfig:
    """The size of the demo: ``cases`` phantom cases, ``sequences`` of the lumbar protocol set;
    ``matrix``/``slices`` shrink the protocols and ``spacing_mm`` coarsens the phantom (tests); ``seed`` is the recon run's seed (anatomy,
    findings and noise of every case), ``study_seed`` the schedule's."""

    cases: int = 18
    sequences: tuple[str, ...] = DEMO_SEQUENCES
    matrix: int | None = None
    slices: int | None = None
    spacing_mm: float = 0.8
    seed: int = 2026
    study_seed: int = 7
    model_seed: int = 11
    name: str = DEMO_STUDY
    users: tuple[DemoUser, ...] = field(default=DEMO_USERS)


from readerstudy.studies.permissions import coordinator_grant  # noqa: E402


def coordinators_group() -> Group:
    """The group that lets coordinators use the Django admin for their own studies."""
    group, _ = Group.objects.get_or_create(name="Coordinators")
    perms = Permission.objects.filter(content_type__app_label="studies", content_type__model__in=COORDINATOR_MODELS)
    group.permissions.set(perms)
    return group


def demo_users_ensure(*, config: DemoConfig = DemoConfig()) -> dict[str, object]:
    User = get_user_model()
    users = {}
    for spec in config.users:
        user, created = User.objects.get_or_create(username=spec.username)
        if created:
            user.set_password(spec.password)
            user.is_staff = spec.role == "coordinator"
            if spec.simulated:
                user.first_name, user.last_name = "Simulated", "reader (demo)"
            user.save()
        users[spec.username] = user
    coordinator = users[next(u.username for u in config.users if u.role == "coordinator")]
    coordinator.groups.add(coordinators_group())
    coordinator_grant(user=coordinator)  # the coordinator permission: may create studies
    return users


def reading_arms() -> list[str]:
    """The arms the recon worker can make now (Standard, Fast, registered Fast-DL arms), no Truth."""
    from recon.pipeline import available_arms
    from recon.protocols import DEFAULT_PROTOCOL_SET, protocol_set

    return [a for a in available_arms(protocol_set(DEFAULT_PROTOCOL_SET)[0]) if a != TRUTH_ARM]


def study_reading_arms(study: Study) -> list[str]:
    return list(study.arms.exclude(name=TRUTH_ARM).order_by("order", "name").values_list("name", flat=True))


def demo_study(config: DemoConfig = DemoConfig()) -> Study | None:
    return Study.objects.filter(name=config.name).first()


def demo_study_ensure(*, config: DemoConfig, users: dict) -> tuple[Study, bool]:
    """The demo study, created with its design when missing. Returns (study, created)."""
    study = demo_study(config)
    if study is not None:
        return study, False
    coordinator = users["coordinator"]
    arms = reading_arms()
    simulated = [u.username for u in config.users if u.simulated]
    people = [u.username for u in config.users if u.role == "reader" and not u.simulated]
    note = (
        f"SIMULATED DATA: the answers of {' and '.join(simulated)} were made by the demo's simulated reader model "
        "(readerstudy/demo/reader_model.py: Likert scores follow each series' SNR and sharpness measured against the "
        "phantom's Truth, plus a per-reader bias and noise; detections follow the phantom's reference standard with a "
        f"per-arm sensitivity and specificity). Only {', '.join(people) or 'no reader'}'s answers, if any, are a person's. "
        f"The image-integrity table compares each arm with the phantom's noise-free {TRUTH_ARM} (and each Fast-DL arm "
        f"with Fast), on the central {MEASURED_SLICES} slices of every series."
    )
    with audit.acting_as(coordinator, reason="demo setup"), transaction.atomic():
        study = services.study_create(
            name=config.name, created_by=coordinator, seed=config.study_seed,
            description=(
                f"{config.cases} phantom cases x {len(config.sequences)} sequences x {len(arms)} arms made by the recon "
                "worker (recon/), crossover reading with a 28-day washout. "
                f"{' and '.join(simulated)} are simulated readers; {', '.join(people)} is yours to try."
            ),
        )
        for name in config.sequences:
            services.sequence_create(study=study, name=name)
        for order, name in enumerate(arms):
            services.arm_create(study=study, name=name, is_reference=(name == REFERENCE_ARM), order=order)
        services.arm_create(
            study=study, name=TRUTH_ARM, order=len(arms),
            description="The phantom's noise-free image. Never scheduled for readers; the demo measures the other arms against it.",
        )
        services.questionnaire_apply_template(study=study, template="seed000")
        for item in services.questionnaire_templates()["seed001"]["items"]:
            if item["kind"] == "checklist":
                services.item_create(study=study, **item)
        for spec in config.users:
            if spec.role == "reader":
                services.membership_add(study=study, user=users[spec.username], role=Membership.Role.READER)
        services.study_update(study=study, analysis_settings={
            "report": {"title": f"{config.name} (simulated readers)", "notes": [note]},
            # readers who answered every read (a human who tried a few is listed, not analysed); MRMC of one item
            "population": {"readers": "complete"},
            "mrmc": [{"item": "apparent_snr", "fom": "mean", "margin": -0.5, "name": "Apparent SNR (mean score)"}],
        })
    return study, True


# --- recon -----------------------------------------------------------------------------------------


def demo_recon_queue(*, study: Study, config: DemoConfig, actor, enqueue: bool = True) -> list:
    """One recon job per case that has none running or done (a failed one is queued again)."""
    from recon.export import case_label
    from recon.models import ReconJob
    from recon.services import recon_job_create

    jobs = []
    arms = [*study_reading_arms(study), TRUTH_ARM]
    live = {}
    for job in ReconJob.objects.filter(study=study).order_by("created_at", "pk"):
        if job.state != ReconJob.State.FAILED:
            live[int(job.parameters.get("first_case", 0))] = job
    with transaction.atomic():
        for i in range(config.cases):
            job = live.get(i)
            if job is None:
                job = recon_job_create(
                    study=study, actor=actor, cases=1, seed=config.seed, first_case=i,
                    sequences=list(config.sequences), arms=arms, recon_matrix=config.matrix, slices=config.slices,
                    spacing_mm=config.spacing_mm, enqueue=enqueue,
                )
                log.debug("queued recon job %s for case %s", job.pk, case_label(i))
            jobs.append(job)
    return jobs


@dataclass(frozen=True)
class ReconProgress:
    cases: int
    done: int
    failed: list[str]
    running: list[str]  # messages of running jobs
    series: int
    series_expected: int

    @property
    def complete(self) -> bool:
        return self.done == self.cases


def demo_recon_progress(study: Study) -> ReconProgress:
    from recon.models import ReconJob

    latest: dict[int, ReconJob] = {}
    for job in ReconJob.objects.filter(study=study).order_by("created_at", "pk"):
        latest[int(job.parameters.get("first_case", 0))] = job
    done = sum(1 for j in latest.values() if j.state == ReconJob.State.SUCCEEDED)
    failed = [f"job {j.pk}: {j.error}" for j in latest.values() if j.state == ReconJob.State.FAILED]
    running = [j.message for j in latest.values() if j.state == ReconJob.State.RUNNING and j.message]
    expected = len(latest) * study.sequences.count() * study.arms.count()
    return ReconProgress(cases=len(latest), done=done, failed=failed, running=running,
                         series=Series.objects.filter(case__study=study).count(), series_expected=expected)


# --- measurements ------------------------------------------------------------------------------------


def _quality_dir(study: Study) -> Path:
    return Path(settings.MEDIA_ROOT) / "demo" / f"study_{study.pk}"


def series_volume(series: Series, slices: slice | None = None) -> np.ndarray:
    """The stored pixel values of a series (slices, rows, cols), in stack order."""
    import pydicom

    paths = list(Instance.objects.filter(series=series).order_by("index").values_list("path", flat=True))
    if slices is not None:
        paths = paths[slices]
    root = Path(settings.MEDIA_ROOT)
    return np.stack([pydicom.dcmread(root / p).pixel_array.astype(np.float32) for p in paths])


def _central(n: int) -> slice:
    k = min(n, MEASURED_SLICES)
    start = (n - k) // 2
    return slice(start, start + k)


def demo_case_measure(*, study: Study, case: Case) -> pd.DataFrame:
    """Every series of ``case`` against its Truth (cached CSV). Columns: case, sequence, arm, and
    the fields of :class:`recon.quality.SeriesQuality`; plus ``reference`` (Truth, or
    Fast for the Fast-DL arms' integrity rows)."""
    path = _quality_dir(study) / f"{case.label}.csv"
    if path.exists():
        return pd.read_csv(path)
    rows = []
    series = {(s.sequence.name, s.arm.name): s for s in Series.objects.filter(case=case).select_related("sequence", "arm")}
    for sequence in study.sequences.order_by("order", "name").values_list("name", flat=True):
        truth_series = series.get((sequence, TRUTH_ARM))
        if truth_series is None:
            raise ValueError(f"case {case.label} has no {TRUTH_ARM} series for {sequence}; is its recon job done?")
        part = _central(truth_series.num_instances)
        truth = series_volume(truth_series, part)
        volumes = {arm: series_volume(s, part) for (seq, arm), s in series.items() if seq == sequence and arm != TRUTH_ARM}
        for arm, volume in volumes.items():
            rows.append({"case": case.label, "sequence": sequence, "arm": arm, "reference": TRUTH_ARM,
                         **measure_series(truth, volume).as_dict()})
        if "Fast" in volumes:
            for arm, volume in volumes.items():
                if arm.startswith("Fast-DL"):
                    rows.append({"case": case.label, "sequence": sequence, "arm": arm, "reference": "Fast",
                                 **measure_series(volumes["Fast"], volume).as_dict()})
    frame = pd.DataFrame(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    frame.to_csv(tmp, index=False, float_format="%.10g")
    tmp.replace(path)
    return frame


def demo_quality_measure(*, study: Study, progress: Callable[[int, int, str], None] | None = None) -> pd.DataFrame:
    cases = list(study.cases.filter(is_training=False).order_by("label"))
    frames = []
    for n, case in enumerate(cases, start=1):
        frames.append(demo_case_measure(study=study, case=case))
        if progress:
            progress(n, len(cases), case.label)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def integrity_table(quality: pd.DataFrame) -> pd.DataFrame:
    """The report's image-integrity table (``reports.services.report_integrity_set`` columns)."""
    cols = ["reference", "arm", "ssim", "l1", "case", "sequence", "l1_rel", "psnr", "nmse", "data_range"]
    out = quality[cols].rename(columns={"arm": "test"})
    return out[np.isfinite(out["psnr"])].reset_index(drop=True)


# --- simulated answers -------------------------------------------------------------------------------


def _item_specs(study: Study) -> dict[int, ItemSpec]:
    specs = {}
    for item in Item.objects.filter(study=study):
        if item.kind in (Item.Kind.LIKERT, Item.Kind.BINARY, Item.Kind.CHECKLIST):
            specs[item.pk] = ItemSpec(key=item.key, kind=str(item.kind), scale_min=int(item.scale_min or 1),
                                      scale_max=int(item.scale_max or 5), levels=tuple(item.levels or ()))
    return specs


def _simulated_read(read, model: ReaderModel, profile: SimulatedReader, specs: dict[int, ItemSpec],
                    q: pd.DataFrame, truth: dict) -> tuple[list[dict], float]:
    """The simulated reader's answers to ``read`` and its reading time. A series read answers its
    items for its sequence. A case read (several panes) answers each series-level item once per
    pane it applies to, from that pane's sequence's measurements, with the pane as the level
    (``"@K"``, as the reading page sends them); per-level items once for the case; the time is
    the sum over the panes."""
    from readerstudy.reading.selectors import applicable_items, case_panes, per_sequence_levels

    case, arm = read.series.case.label, read.series.arm.name
    items = [i for i in applicable_items(read) if i.pk in specs]
    panes = case_panes(read)

    def one(sequence: str, chosen) -> tuple[list[dict], float]:
        return model.read(
            reader=profile, case=case, sequence=sequence, arm=arm, items=[specs[i.pk] for i in chosen],
            quality=Quality.of(q.loc[(case, sequence, arm)].to_dict()),
            reference=Quality.of(q.loc[(case, sequence, model.reference_arm)].to_dict()),
            truth=truth.get(case, {}),
        )

    if not panes:
        return one(read.series.sequence.name, items)
    by_pane = {i.pk: {level for level, _ in per_sequence_levels(i, panes)} for i in items}
    once = [i for i in items if not by_pane[i.pk]]  # per-level (checklist) items: once per case
    answers, seconds = one(panes[0][2], once) if once else ([], 0.0)
    for level, _sequence_id, sequence in panes:
        chosen = [i for i in items if level in by_pane[i.pk]]
        if not chosen:
            continue
        pane_answers, pane_seconds = one(sequence, chosen)
        answers += [{**a, "level": level} for a in pane_answers]
        seconds += pane_seconds
    return answers, seconds


def demo_answers_simulate(
    *, study: Study, quality: pd.DataFrame, model: ReaderModel, readers: dict[str, SimulatedReader],
    progress: Callable[[int, int, str], None] | None = None,
) -> int:
    """Answer every unsubmitted read of the simulated readers through the real answer services, in
    simulated time: each session on the day it opens (its washout after the previous one), reads a
    minute or so apart. Returns the number of reads submitted now."""
    from readerstudy.reading.services import read_start, read_submit
    from readerstudy.reading.models import Read, Session
    from readerstudy.reading.selectors import session_opening_time

    q = quality[quality["reference"] == TRUTH_ARM].set_index(["case", "sequence", "arm"])
    truth: dict[str, dict[tuple[str, str], bool]] = {}
    for case, level, finding, present in ReferenceStandard.objects.filter(case__study=study).values_list(
        "case__label", "level", "finding", "present"
    ):
        truth.setdefault(case, {})[(finding, level)] = bool(present)
    specs = _item_specs(study)
    User = get_user_model()
    reads = Read.objects.filter(session__study=study, session__reader__username__in=list(readers))
    total, done_now = reads.count(), 0
    finished = reads.filter(submitted_at__isnull=False).count()
    for username, profile in readers.items():
        user = User.objects.get(username=username)
        sessions = list(Session.objects.filter(study=study, reader=user).order_by("index"))
        clock = (
            Read.objects.filter(session__in=sessions, submitted_at__isnull=False).order_by("-submitted_at")
            .values_list("submitted_at", flat=True).first()
        )
        with audit.acting_as(user, reason=SIMULATION_REASON):
            for session in sessions:
                session.refresh_from_db()
                if session.completed_at is not None:
                    continue
                opening = session_opening_time(session)
                clock = max(clock or opening, opening) + dt.timedelta(hours=1)
                for read in session.reads.filter(submitted_at__isnull=True).select_related(
                    "series__case", "series__sequence", "series__arm"
                ).order_by("position"):
                    answers, seconds = _simulated_read(read, model, profile, specs, q, truth)
                    read_start(read=read, reader=user, now=clock)
                    end = clock + dt.timedelta(seconds=seconds)
                    read_submit(read=read, reader=user, submission_id=f"sim-{read.public_id}", answers=answers,
                                comment="Simulated reader (readerstudy.demo.reader_model); not a person's reading.",
                                active_seconds=seconds, now=end)
                    clock = end + dt.timedelta(seconds=20)
                    done_now += 1
                    finished += 1
                    if progress:
                        progress(finished, total, username)
                session.refresh_from_db()
                clock = session.completed_at or clock
    return done_now


def simulated_timeline_start(n_sessions: int, now: dt.datetime | None = None) -> dt.datetime:
    """When the first sessions opened: far enough back that the simulated readers finish every
    session, each after its washout, before now."""
    now = now or timezone.now()
    days = max(n_sessions - 1, 0) * (WASHOUT_DAYS + 1) + 3
    return (now - dt.timedelta(days=days)).replace(minute=0, second=0, microsecond=0)


def demo_schedule(*, study: Study, actor) -> list:
    """The crossover schedule over the reading arms (Truth excluded), kept if it exists."""
    from readerstudy.reading.models import Session
    from readerstudy.reading.scheduler import CrossoverDesign
    from readerstudy.reading.services import schedule_materialize

    existing = list(Session.objects.filter(study=study).order_by("reader_id", "index"))
    if existing:
        return existing
    arms = study_reading_arms(study)
    design = CrossoverDesign(washout_days=WASHOUT_DAYS, arms=tuple(arms))
    return schedule_materialize(study=study, design=design, actor=actor, start=simulated_timeline_start(len(arms)))


def demo_publish(*, study: Study, actor) -> None:
    if study.status == Study.Status.DRAFT:
        with audit.acting_as(actor, reason="demo setup"):
            services.study_set_status(study=study, status=Study.Status.PUBLISHED, reason="demo setup: every series made")
        study.refresh_from_db()
