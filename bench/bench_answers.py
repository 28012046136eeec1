"""Answer-submit latency under concurrent readers, against the real app server.

A throw-away database gets a published study with the demo questionnaire (seed 000's five items
and seed 001's eight per-level findings × 6 levels: 53 answers per read), ``--readers`` readers,
and a session of ``--reads`` reads each. The database is SQLite under a temporary ``VAR_DIR``, or
the PostgreSQL database named by ``--database-url`` (its tables are dropped and re-created: give
it a database of its own). The web server is the one ``./run serve`` starts (granian,
``readerstudy/webserver.py``, pooled connections on PostgreSQL) in its own session. Each simulated
reader is a thread with its own HTTP connection and API token and does four steps on each read: a
first autosave (53 new answers), an autosave with one change (the page always sends every answer),
the submission, and a repeat of the submission (the idempotent no-op). Latency is measured per
request, client side. Two load models:

* ``--arrivals barrier`` (default, the worst case): in every round all readers wait at a barrier
  and then do each step at the same instant.
* ``--arrivals poisson --rate R``: open loop. Each reader starts its reads at independent random
  times, a Poisson process of R/readers reads per second each (R reads per second in all); the four
  steps of a read follow each other at once. A reader starts a read late only if its previous one
  is still running. 100 readers reading a series every 60-90 s start 1.1-1.7 reads per second.

    python bench/bench_answers.py [--readers 20] [--reads 5]
    python bench/bench_answers.py --readers 100 --database-url postgres://postgres@127.0.0.1:5432/rs_i15 --append
    python bench/bench_answers.py --readers 100 --arrivals poisson --rate 5 --database-url ... --append

Prints the figures and writes them to ``bench/results/answers.txt`` (``--append`` adds a section).
Afterwards it checks that every read is submitted once with exactly its answers, each stored once
(nothing lost, nothing doubled), and that no request failed (a 503 counts as an error).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.appserver import AppServer, free_port, group_cpu_seconds, postgres_cpu_seconds  # noqa: E402
from bench.latency import cpu_reference_ms, percentile  # noqa: E402


def build_study(n_readers: int, n_reads: int) -> tuple[list[tuple[str, list[str]]], list[dict]]:
    """The study, through the real services; returns [(token, [read ids])] and the answers to send."""
    from django.core.management import call_command
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from readerstudy.reading.models import Read, Session
    from readerstudy.reading.services import schedule_materialize
    from readerstudy.studies import services
    from readerstudy.studies.models import Membership
    from tests.factories import series_row

    call_command("migrate", verbosity=0)
    from django.contrib.auth import get_user_model

    users = get_user_model()
    coordinator = users.objects.create_user("bench-coordinator", password="x")
    study = services.study_create(name="Bench study", created_by=coordinator, seed=7)
    sequence = services.sequence_create(study=study, name="SAG T2 FS")
    arms = [services.arm_create(study=study, name="Standard", is_reference=True), services.arm_create(study=study, name="Fast")]
    cases = [services.case_create(study=study, label=f"C{i:03d}") for i in range(1, (n_reads + 1) // 2 + 1)]
    services.questionnaire_apply_template(study=study, template="seed000")
    checklist = [i for i in services.questionnaire_templates()["seed001"]["items"] if i["kind"] == "checklist"]
    for item in checklist:
        services.item_create(study=study, **item)
    series = [series_row(case=c, sequence=sequence, arm=a, n_instances=1) for c in cases for a in arms]
    readers = []
    for r in range(n_readers):
        user = users.objects.create_user(f"bench-reader{r + 1:02d}", password="x")
        services.membership_add(study=study, user=user, role=Membership.Role.READER)
        readers.append(user)
    # The schedule as the product writes it (one session per reader holding every series, open
    # now); publishing needs it. A reader does the first n_reads reads of their session.
    schedule_materialize(study=study, design={"kind": "independent", "training": False}, actor=coordinator,
                         start=timezone.now() - timezone.timedelta(hours=1))
    services.study_set_status(study=study, status="published")
    plan = []
    for user in readers:
        session = Session.objects.get(study=study, reader=user)
        ids = list(Read.objects.filter(session=session).order_by("position").values_list("public_id", flat=True))[:n_reads]
        assert len(ids) == n_reads, (len(ids), n_reads)
        plan.append((Token.objects.create(user=user).key, ids))
    answers = [{"item": k, "level": "", "value": v} for k, v in
               (("apparent_snr", 4), ("anatomy_discernment", 4), ("diagnostic_confidence", 3), ("overall_quality", 4), ("artifacts", 0))]
    answers += [{"item": i["key"], "level": lv, "value": int(n % 5 == 0)} for n, (i, lv) in
                enumerate((i, lv) for i in checklist for lv in i["levels"])]
    return plan, answers


class Reader(threading.Thread):
    def __init__(self, port: int, token: str, reads: list[str], answers: list[dict], barrier: threading.Barrier | None,
                 starts: list[float] | None = None, start_event: threading.Event | None = None):
        super().__init__(daemon=True)
        self.port, self.token, self.reads, self.answers, self.barrier = port, token, reads, answers, barrier
        self.starts, self.start_event = starts, start_event  # open loop: when each read starts (s after t0)
        self.t0 = 0.0
        self.lateness: list[float] = []
        self.timings: dict[str, list[float]] = {"draft": [], "change": [], "submit": [], "replay": []}
        self.errors: list[str] = []
        self.reconnects = 0

    def post(self, conn, path: str, body: dict) -> tuple[int, dict, float]:
        data = json.dumps(body).encode()
        headers = {"Authorization": f"Token {self.token}", "Content-Type": "application/json"}
        t0 = time.perf_counter()
        conn.request("POST", path, body=data, headers=headers)
        response = conn.getresponse()
        payload = response.read()
        elapsed = time.perf_counter() - t0
        return response.status, (json.loads(payload) if payload else {}), elapsed

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        # Open the connection before the first round, as a reading page's browser has.
        conn.request("GET", "/api/reader/sessions/", headers={"Authorization": f"Token {self.token}"})
        conn.getresponse().read()
        if self.start_event is not None:
            self.start_event.wait()
        for n, read in enumerate(self.reads):
            if self.barrier is not None:
                self.barrier.wait()
            else:
                delay = self.t0 + self.starts[n] - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                else:
                    self.lateness.append(-delay)
            changed = [dict(a) for a in self.answers]
            changed[0]["value"] = 3  # what the page sends on a typical autosave: everything, one change
            steps = (
                ("draft", "draft", {"answers": self.answers}),
                ("change", "draft", {"answers": changed}),
                ("submit", "submit", {"answers": changed, "submission_id": f"bench-{read}", "active_seconds": 1}),
                ("replay", "submit", {"answers": changed, "submission_id": f"bench-{read}"}),
            )
            for kind, action, body in steps:
                if kind != "draft" and self.barrier is not None:
                    self.barrier.wait()
                try:
                    try:
                        status, payload, elapsed = self.post(conn, f"/api/reader/reads/{read}/{action}/", body)
                    except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
                        # The server closed the idle keep-alive connection as the request went out:
                        # a browser sends it again on a new connection (the submit is idempotent).
                        self.reconnects += 1
                        conn.close()
                        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
                        status, payload, elapsed = self.post(conn, f"/api/reader/reads/{read}/{action}/", body)
                except (OSError, http.client.HTTPException) as exc:
                    self.errors.append(f"{kind} {read}: {exc!r}")
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
                    continue
                if status != 200 or (kind == "replay") != payload.get("replayed", kind == "replay"):
                    self.errors.append(f"{kind} {read}: HTTP {status} {payload}")
                self.timings[kind].append(elapsed)


def reset_postgres(url: str) -> None:
    """Drop every table of the bench database (it must be one of its own)."""
    import psycopg

    with psycopg.connect(url.replace("postgres://", "postgresql://", 1), autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=20)
    parser.add_argument("--reads", type=int, default=5, help="reads per reader (one round each)")
    parser.add_argument("--database-url", default="", help="PostgreSQL database of its own (default: SQLite in a temporary folder)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "answers.txt")
    parser.add_argument("--append", action="store_true", help="add a section to --out instead of replacing it")
    parser.add_argument("--arrivals", choices=["barrier", "poisson"], default="barrier")
    parser.add_argument("--rate", type=float, default=5.0, help="poisson: reads started per second, all readers together")
    parser.add_argument("--seed", type=int, default=1, help="poisson: seed of the arrival times")
    parser.add_argument("--broker-url", default="", help="CELERY_BROKER_URL of the server (e.g. redis://127.0.0.1:6379/15)")
    args = parser.parse_args()

    var_dir = Path(tempfile.mkdtemp(prefix="bench-answers-"))
    database_url = args.database_url or f"sqlite:///{var_dir / 'bench.sqlite3'}"
    env = {**os.environ, "VAR_DIR": str(var_dir), "DATABASE_URL": database_url, "DEBUG": "0", "HTTPS": "0",
           "SECRET_KEY": "bench-only-" + "k3Y" * 20, "DJANGO_SETTINGS_MODULE": "readerstudy.settings",
           "WEB_WORKERS": os.environ.get("WEB_WORKERS", "2"), "WEB_THREADS": os.environ.get("WEB_THREADS", "4"),
           "LOG_LEVEL": "WARNING"}
    env.pop("CELERY_BROKER_URL", None)
    if args.broker_url:
        env["CELERY_BROKER_URL"] = args.broker_url
    postgres = database_url.startswith("postgres")
    if postgres:
        reset_postgres(database_url)
    os.environ.update(env)
    import django

    django.setup()
    from django.db import connection

    try:
        plan, answers = build_study(args.readers, args.reads)
        connection.close()  # the bench process holds no connection while the server runs
        port = free_port()
        with AppServer(env, port, log=var_dir / "server.log") as server:
            # Where the CPU goes (barrier only): at every crossing of the barrier (all readers
            # between two steps) the CPU time of the app server's processes, of PostgreSQL's and of
            # this client process is taken; the difference between two crossings is that step's.
            samples: list[tuple[float, float, float]] = []

            def sample() -> None:
                samples.append((group_cpu_seconds(server.proc.pid), postgres_cpu_seconds() if postgres else 0.0,
                                time.process_time()))

            if args.arrivals == "barrier":
                barrier = threading.Barrier(len(plan), action=sample)
                readers = [Reader(port, token, reads, answers, barrier) for token, reads in plan]
                go = None
            else:
                rng = random.Random(args.seed)
                per_reader = args.rate / len(plan)
                go = threading.Event()
                readers = []
                for token, reads in plan:
                    starts, t = [], 0.0
                    for _ in reads:
                        t += rng.expovariate(per_reader)
                        starts.append(t)
                    readers.append(Reader(port, token, reads, answers, None, starts=starts, start_event=go))
            load_before = os.getloadavg()
            for r in readers:
                r.start()
            if go is not None:
                time.sleep(2.0)  # every reader has opened its connection
                t0 = time.perf_counter()
                for r in readers:
                    r.t0 = t0
                go.set()
            else:
                t0 = time.perf_counter()
            for r in readers:
                r.join()
            wall = time.perf_counter() - t0
            if args.arrivals == "barrier":
                sample()
            load = os.getloadavg()
        cpu_ms = cpu_reference_ms()  # after the run, not during it
        errors = [e for r in readers for e in r.errors]

        from django.db.models import Count

        from readerstudy.reading.models import Answer, Read

        submitted = Read.objects.filter(submitted_at__isnull=False).count()
        stored = Answer.objects.count()
        doubled = (Answer.objects.values("read_id", "item_id", "level").annotate(n=Count("id")).filter(n__gt=1).count())
        expected_reads = args.readers * args.reads
        ok = not errors and submitted == expected_reads and stored == expected_reads * len(answers) and doubled == 0
        budget = ""
        if postgres:
            with connection.cursor() as cursor:
                cursor.execute("SHOW max_connections")
                budget = f", PostgreSQL max_connections {cursor.fetchone()[0]}"
        pool = f"pool of at most {env['WEB_THREADS']} connections per process" if postgres else "persistent connections"

        if args.arrivals == "barrier":
            model = f"{args.readers} readers at once (barrier), {args.reads} rounds"
        else:
            late = [x for r in readers for x in r.lateness]
            model = (f"open loop: Poisson arrivals, {args.rate:g} reads started per second in all "
                     f"({args.rate / args.readers:.3f}/s per reader, mean {args.readers / args.rate:.0f} s between a reader's reads; "
                     f"seed {args.seed}), {args.reads} reads per reader; {len(late)} reads started late "
                     f"(the reader's previous read still running{f', at most {max(late):.2f} s' if late else ''})")
        broker = f", broker {env['CELERY_BROKER_URL'].split('://')[0]}" if env.get("CELERY_BROKER_URL") else ""
        lines = [
            f"== {args.readers} readers on {'PostgreSQL' if postgres else 'SQLite (WAL)'}"
            f"{' (open loop, %g reads/s)' % args.rate if args.arrivals == 'poisson' else ' (barrier)'} ==",
            f"machine: {platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} CPUs (shared); "
            f"CPU reference {cpu_ms:.0f} ms (2M-addition Python loop, best of 5; lower is faster)",
            f"server: granian (WSGI) {env['WEB_WORKERS']} workers x {env['WEB_THREADS']} threads (./run serve), DEBUG=0, {pool}{budget}{broker}",
            f"load average (1/5/15 min) before the run {' / '.join(f'{x:.1f}' for x in load_before)}, "
            f"at its end {' / '.join(f'{x:.1f}' for x in load)} "
            "(other work on the machine inflates the figures)",
            f"{model}; {len(answers)} answers per read "
            "(seed 000 items + 8 findings x 6 levels)",
            "",
            f"{'request':<28}{'n':>5}{'median ms':>12}{'p95 ms':>10}{'max ms':>10}",
        ]
        kinds = ("draft", "change", "submit", "replay")
        cpu = {kind: [0.0, 0.0, 0.0] for kind in kinds}  # server, database, client seconds per step kind
        for n, (before, after) in enumerate(zip(samples, samples[1:])):
            for part in range(3):
                cpu[kinds[n % 4]][part] += after[part] - before[part]
        if samples:
            lines[-1] += f"{'CPU ms per request: server':>30}{'database' if postgres else '':>10}{'client':>8}"
        for kind, name in zip(kinds, ("first autosave (53 new)", "autosave (1 change of 53)",
                                      "submit (53 answers)", "repeated submit (no-op)")):
            values = [t * 1000 for r in readers for t in r.timings[kind]]
            if values:
                line = (f"{name:<28}{len(values):>5}{statistics.median(values):>12.1f}"
                        f"{percentile(values, 0.95):>10.1f}{max(values):>10.1f}")
                if samples:
                    server_s, db_s, client_s = (1000 * x / len(values) for x in cpu[kind])
                    line += f"{server_s:>30.1f}{f'{db_s:.1f}' if postgres else '':>10}{client_s:>8.1f}"
                lines.append(line)
        lines += [
            "",
            f"wall time {wall:.1f} s for {4 * expected_reads} requests"
            + ("; every step starts for all readers at once (barrier)" if args.arrivals == "barrier" else ""),
            f"check: {submitted}/{expected_reads} reads submitted, {stored}/{expected_reads * len(answers)} answers stored, "
            f"{doubled} stored twice, {len(errors)} errors -> {'OK' if ok else 'FAILED'}",
            f"reconnects after the server closed an idle keep-alive connection (request sent again, as browsers do): "
            f"{sum(r.reconnects for r in readers)}",
        ]
        lines += [f"  error: {e}" for e in errors[:10]]
        text = "\n".join(lines) + "\n"
        print(text, end="")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        if args.append and args.out.exists():
            args.out.write_text(args.out.read_text() + "\n" + text)
        else:
            args.out.write_text("Answer submission under concurrent readers (bench/bench_answers.py)\n\n" + text)
        if not ok:
            raise SystemExit(1)
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
