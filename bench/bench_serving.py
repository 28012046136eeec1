"""Blinded-instance serving beside Orthanc, on the same files, in the same run.

A throw-away study under a temporary ``VAR_DIR`` (SQLite) gets one case imported through the real
import (``--slices`` × ``--size``² MR images, the fixture generator's), and one reader whose open
session reads its series. The reader logs in through the login form, asks the reader API for the
read (as the reading page does) and GETs its instances from:

* **app**: the product's app server alone (granian, ``readerstudy/webserver.py``, as
  ``./run serve`` starts it; DICOM_SENDFILE_MODE unset, so Django streams the file);
* **app, no token**: the same, with the URLs stripped of their access token (the full rule per GET,
  as a coordinator's preview is served);
* **nginx + app**: nginx in front with ``DICOM_SENDFILE_MODE=x-accel-redirect``, configured with
  the production files of ``deploy/nginx/`` (see :class:`Nginx`), when nginx is installed; its
  answer is checked (type, private caching, no internal header, no file date) and, at the end,
  that a withdrawn reader is refused at the next GET through it;
* **Orthanc**: Debian's Orthanc on a spare port, holding the same blinded files
  (``GET /instances/<id>/file``), no authentication.

All servers run at once and are measured in turns (``--repeats``, default 3: each turn runs every
scenario once), so that the load of a shared machine falls on all of them alike; the table keeps
the median rate and each turn's ratio to Orthanc. Each is measured sequentially (one connection)
and 8-way (8 connections, each with its own thread), keep-alive, after a warm-up pass; figures are
instances/s, per-request p50/p95 latency (client side), and the CPU time each server's processes
(and the client) spent per GET, which shows where the time goes. The client is Python on the same
2 cores, the same for every server.

    python bench/bench_serving.py [--slices 30] [--size 384] [--rounds 10] [--repeats 3]

Prints the table and writes it to ``bench/results/serving.txt``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.appserver import AppServer, free_port, group_cpu_seconds, stop_group, wait_for_port  # noqa: E402
from bench.latency import cpu_reference_ms, percentile  # noqa: E402


def build_study(slices: int, size: int, work: Path) -> dict:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.utils import timezone

    from fixtures.make_fixture_dicom import make_fixture_dicom
    from readerstudy.reading.models import Read, Session
    from readerstudy.studies import services
    from readerstudy.studies.models import Membership, Series

    try:
        from readerstudy.imports.dicom_import import import_dicom  # after the import moved (issue 11)
    except ImportError:
        from readerstudy.imports.services import import_dicom

    call_command("migrate", verbosity=0)
    users = get_user_model()
    coordinator = users.objects.create_user("bench-coordinator", password="bench-password-1")
    study = services.study_create(name="Serving bench", created_by=coordinator)
    services.sequence_create(study=study, name="SAG T2 FS")
    services.arm_create(study=study, name="Standard", is_reference=True)
    services.arm_create(study=study, name="Fast")
    fixture = make_fixture_dicom(work / "source", cases=1, sequences=("SAG T2 FS",), slices=slices, size=size)
    import_dicom(study=study, source=fixture.root, mapping=fixture.mapping_csv, actor=coordinator)
    services.questionnaire_apply_template(study=study, template="seed000")
    reader = users.objects.create_user("bench-reader", password="bench-password-1")
    services.membership_add(study=study, user=reader, role=Membership.Role.READER)
    # Published as a whole schedule would leave it (the publish checklist wants a reading design,
    # which this one-read session stands in for; serving looks only at the status).
    type(study).objects.filter(pk=study.pk).update(status="published")
    series = Series.objects.get(case__study=study, arm__name="Standard")
    session = Session.objects.create(study=study, reader=reader, index=0, opens_at=timezone.now())
    read = Read.objects.create(session=session, position=0, series=series)
    from django.conf import settings

    files = [Path(settings.MEDIA_ROOT) / p for p in series.instances.order_by("index").values_list("path", flat=True)]
    return {"read": read.public_id, "files": files}


def login(port: int, username: str, password: str) -> str:
    """Log in through the form; returns the Cookie header a browser would send."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/accounts/login/")
    response = conn.getresponse()
    page = response.read().decode()
    cookies = dict(re.findall(r"(\w+)=([^;]+)", ";".join(v.split(";")[0] for k, v in response.getheaders() if k.lower() == "set-cookie")))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    body = urllib.parse.urlencode({"username": username, "password": password, "csrfmiddlewaretoken": token, "next": "/"})
    conn.request("POST", "/accounts/login/", body=body, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": f"csrftoken={cookies['csrftoken']}",
        "Referer": f"http://127.0.0.1:{port}/accounts/login/"})
    response = conn.getresponse()
    response.read()
    for k, v in response.getheaders():
        if k.lower() == "set-cookie" and v.startswith("sessionid="):
            return f"sessionid={v.split(';')[0].split('=', 1)[1]}"
    raise SystemExit(f"login failed: HTTP {response.status}")


def reader_urls(port: int, cookie: str, read: str) -> list[str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", f"/api/reader/reads/{read}/", headers={"Cookie": cookie})
    response = conn.getresponse()
    payload = json.loads(response.read())
    return payload["instances"]


def fetch_all(port: int, paths: list[str], headers: dict, expect: list[int] | None = None) -> list[float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    timings = []
    for n, path in enumerate(paths):
        t0 = time.perf_counter()
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        data = response.read()
        timings.append(time.perf_counter() - t0)
        if response.status != 200 or (expect is not None and len(data) != expect[n % len(expect)]):
            raise SystemExit(f"GET {path}: HTTP {response.status}, {len(data)} bytes")
    return timings


def measure(port: int, paths: list[str], headers: dict, sizes: list[int], rounds: int, ways: int,
            groups: dict[str, int] | None = None) -> dict:
    """One run: instances/s, latencies, and the CPU each server process group (and this client)
    spent per GET."""
    fetch_all(port, paths, headers, sizes)  # warm-up (and a check of every file's size)
    groups = groups or {}
    cpu_before = {k: group_cpu_seconds(v) for k, v in groups.items()}
    client_before = sum(os.times()[:2])
    work = paths * rounds
    results: list[list[float]] = [[] for _ in range(ways)]
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            results[i] = fetch_all(port, work, headers, sizes)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(ways)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        raise SystemExit(f"{errors[0]!r}")
    latencies = [t * 1000 for r in results for t in r]
    cpu = {k: (group_cpu_seconds(v) - cpu_before[k]) / len(latencies) * 1e6 for k, v in groups.items()}
    cpu["client"] = (sum(os.times()[:2]) - client_before) / len(latencies) * 1e6
    return {"n": len(latencies), "rate": len(latencies) / wall, "latencies": latencies, "cpu_us": cpu}


def combine(runs: list[dict]) -> dict:
    """The runs of one scenario: the median rate, latency percentiles over every GET, CPU per GET
    over every GET."""
    latencies = [t for r in runs for t in r["latencies"]]
    n = len(latencies)
    cpu = {k: sum(r["cpu_us"][k] * r["n"] for r in runs) / n for k in runs[0]["cpu_us"]}
    return {"n": n, "rate": statistics.median(r["rate"] for r in runs), "rates": [r["rate"] for r in runs],
            "p50": statistics.median(latencies), "p95": percentile(latencies, 0.95), "cpu_us": cpu}


def check_front_server_response(port: int, url: str, cookie: str, size: int) -> None:
    """What nginx sends is what the app decided: the file, typed and cached privately, and nothing
    of the internal redirect."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", url, headers={"Cookie": cookie})
    response = conn.getresponse()
    data = response.read()
    headers = {k.lower(): v for k, v in response.getheaders()}
    problems = [
        what for what, ok in (
            ("status 200", response.status == 200), ("the whole file", len(data) == size),
            ("Content-Type application/dicom", headers.get("content-type") == "application/dicom"),
            ("Cache-Control private immutable", headers.get("cache-control") == "private, max-age=31536000, immutable"),
            ("Vary Cookie", "cookie" in headers.get("vary", "").lower()),
            ("no X-Accel-Redirect", "x-accel-redirect" not in headers),
            ("nosniff", headers.get("x-content-type-options") == "nosniff"),
            ("no file date or ETag (blinding)", not {"last-modified", "etag"} & set(headers)),
        ) if not ok
    ]
    if problems:
        raise SystemExit(f"nginx response is wrong: {problems}; headers {headers}")


def check_withdrawal_behind(port: int, url: str, cookie: str) -> str:
    """Withdraw the reader: the next GET of an issued URL, through nginx, is refused (the rule per GET)."""
    from readerstudy.studies.models import Membership

    Membership.objects.filter(user__username="bench-reader", role=Membership.Role.READER).update(active=False)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", url, headers={"Cookie": cookie})
        response = conn.getresponse()
        response.read()
    finally:
        Membership.objects.filter(user__username="bench-reader", role=Membership.Role.READER).update(active=True)
    if response.status != 404:
        raise SystemExit(f"a withdrawn reader still got HTTP {response.status} through nginx")
    return "withdrawn reader refused at the next GET through nginx (404)"


class Orthanc:
    def __init__(self, work: Path):
        self.work = work
        self.port = free_port()
        self.proc = None

    def __enter__(self):
        storage = self.work / "orthanc-db"
        storage.mkdir(parents=True)
        config = self.work / "orthanc.json"
        config.write_text(json.dumps({
            "Name": "bench", "StorageDirectory": str(storage), "IndexDirectory": str(storage),
            "HttpPort": self.port, "DicomServerEnabled": False, "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False, "HttpServerEnabled": True, "Plugins": [],
            "StorageCompression": False, "HttpCompressionEnabled": False,
        }))
        self.proc = subprocess.Popen([shutil.which("Orthanc") or "Orthanc", str(config)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        wait_for_port(self.port, self.proc)
        return self

    def upload(self, files: list[Path]) -> list[str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        paths = []
        for f in files:
            conn.request("POST", "/instances", body=f.read_bytes(), headers={"Content-Type": "application/dicom"})
            response = conn.getresponse()
            payload = json.loads(response.read())
            paths.append(f"/instances/{payload['ID']}/file")
        return paths

    def __exit__(self, *exc):
        stop_group(self.proc)


DEPLOY = ROOT / "deploy" / "nginx"


class Nginx:
    """nginx in front of the app server with the production configuration (deploy/nginx/): its
    ``upstream`` block and its locations file, unchanged but for the upstream's port and the
    media/static paths; plain HTTP on a spare port (the TLS server block is the one part left out),
    Debian's top-level defaults (worker_processes auto), and no access log."""

    def __init__(self, work: Path, upstream: int, media_root: Path, static_root: Path):
        self.work, self.upstream, self.media_root, self.static_root = work, upstream, media_root, static_root
        self.port = free_port()
        self.proc = None

    def render(self) -> Path:
        site = (DEPLOY / "readerstudy.conf").read_text()
        upstream = re.search(r"^upstream readerstudy \{.*?^\}", site, re.S | re.M).group(0)
        upstream = upstream.replace("server 127.0.0.1:8000;", f"server 127.0.0.1:{self.upstream};")
        assert f":{self.upstream};" in upstream, upstream
        locations = (DEPLOY / "readerstudy-locations.conf").read_text()
        for prod, here in (("/srv/readerstudy/media/", f"{self.media_root}/"),
                           ("/srv/readerstudy/var/staticfiles/", f"{self.static_root}/")):
            assert prod in locations, prod
            locations = locations.replace(prod, here)
        (self.work / "readerstudy-locations.conf").write_text(locations)
        mime = "include /etc/nginx/mime.types;" if Path("/etc/nginx/mime.types").exists() else ""
        conf = self.work / "nginx.conf"
        conf.write_text(f"""
worker_processes auto;
daemon off;
pid {self.work}/nginx.pid;
error_log {self.work}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
  {mime}
  default_type application/octet-stream;
  access_log off;
  client_body_temp_path {self.work}/nginx-body;
  proxy_temp_path {self.work}/nginx-proxy;
  fastcgi_temp_path {self.work}/nginx-fastcgi;
  uwsgi_temp_path {self.work}/nginx-uwsgi;
  scgi_temp_path {self.work}/nginx-scgi;
{upstream}
  server {{
    listen 127.0.0.1:{self.port};
    include {self.work}/readerstudy-locations.conf;
  }}
}}
""")
        return conf

    def __enter__(self):
        conf = self.render()
        self.proc = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(self.work)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        wait_for_port(self.port, self.proc)
        return self

    def __exit__(self, *exc):
        stop_group(self.proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=30)
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--rounds", type=int, default=10, help="passes over the series per connection")
    parser.add_argument("--ways", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3, help="turns over all the servers (the median rate is kept)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "serving.txt")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    work.chmod(0o755)  # nginx's worker processes (user nobody) read the media files under it
    env = {**os.environ, "VAR_DIR": str(work / "var"), "DATABASE_URL": f"sqlite:///{work / 'var' / 'bench.sqlite3'}",
           "MEDIA_ROOT": str(work / "var" / "media"), "DEBUG": "0", "HTTPS": "0",
           "SECRET_KEY": "bench-only-" + "k3Y" * 20, "DJANGO_SETTINGS_MODULE": "readerstudy.settings",
           "WEB_WORKERS": os.environ.get("WEB_WORKERS", "2"), "WEB_THREADS": os.environ.get("WEB_THREADS", "4"),
           "LOG_LEVEL": "WARNING"}
    for key in ("DICOM_SENDFILE_MODE", "CELERY_BROKER_URL"):
        env.pop(key, None)
    os.environ.update(env)
    import django

    django.setup()
    try:
        study = build_study(args.slices, args.size, work)
        sizes = [f.stat().st_size for f in study["files"]]
        withdrawn = "not checked (no nginx)"
        load_start = os.getloadavg()
        from django.conf import settings
        from django.core.management import call_command

        call_command("collectstatic", interactive=False, verbosity=0)
        with contextlib.ExitStack() as stack:
            # Every server up at once; the scenarios are measured in turns, --repeats times, so
            # that the load of a shared machine falls on all of them alike.
            targets = []  # (name, port, paths, headers, rounds, process groups whose CPU is counted)
            port = free_port()
            app = stack.enter_context(AppServer(env, port, log=work / "app.log"))
            cookie = login(port, "bench-reader", "bench-password-1")
            urls = reader_urls(port, cookie, study["read"])
            assert all("?a=" in u for u in urls), urls[:1]
            targets.append(("app (granian)", port, urls, {"Cookie": cookie}, args.rounds, {"app": app.proc.pid}))
            plain = [u.split("?")[0] for u in urls]
            targets.append(("app, no token (full rule)", port, plain, {"Cookie": cookie}, max(1, args.rounds // 5),
                            {"app": app.proc.pid}))
            if shutil.which("nginx"):
                port = free_port()
                accel_env = {**env, "DICOM_SENDFILE_MODE": "x-accel-redirect", "DICOM_SENDFILE_PREFIX": "/protected-media/"}
                accel = stack.enter_context(AppServer(accel_env, port, log=work / "app-accel.log"))
                nginx = stack.enter_context(Nginx(work, port, Path(settings.MEDIA_ROOT), Path(settings.STATIC_ROOT)))
                cookie = login(nginx.port, "bench-reader", "bench-password-1")
                urls = reader_urls(nginx.port, cookie, study["read"])
                check_front_server_response(nginx.port, urls[0], cookie, sizes[0])
                targets.append(("nginx + app (x-accel)", nginx.port, urls, {"Cookie": cookie}, args.rounds,
                                {"app": accel.proc.pid, "nginx": nginx.proc.pid}))
            else:
                print("nginx not installed: the nginx + app rows are skipped")
            if shutil.which("Orthanc"):
                orthanc = stack.enter_context(Orthanc(work))
                targets.append(("Orthanc", orthanc.port, orthanc.upload(study["files"]), {}, args.rounds,
                                {"orthanc": orthanc.proc.pid}))
            else:
                print("Orthanc not installed (apt-get install orthanc): no peer rows")
            runs: dict[tuple[str, int], list[dict]] = {}
            for _ in range(args.repeats):
                for ways in (1, args.ways):
                    for name, port, paths, headers, rounds, groups in targets:
                        runs.setdefault((name, ways), []).append(measure(port, paths, headers, sizes, rounds, ways, groups))
            if shutil.which("nginx"):
                withdrawn = check_withdrawal_behind(nginx.port, urls[0], cookie)
        scenarios = [(name, ways, combine(rs)) for (name, ways), rs in runs.items()]

        orthanc_rate = {w: r["rate"] for name, w, r in scenarios if name == "Orthanc"}
        cpu_ms = cpu_reference_ms()  # after the measurements, not during them
        lines = [
            "Blinded instance serving beside Orthanc, same files, same run (bench/bench_serving.py)",
            f"machine: {platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} CPUs (shared); "
            f"CPU reference {cpu_ms:.0f} ms (2M-addition Python loop, best of 5; lower is faster)",
            f"series: {len(sizes)} instances, {args.size}x{args.size} 16-bit MR, {statistics.mean(sizes) / 1024:.0f} KiB each; "
            f"{args.rounds} passes per connection after a warm-up pass; keep-alive; Python client on the same cores; "
            f"all servers up at once, measured in {args.repeats} turns (median inst/s; percentiles over all GETs)",
            f"app server: granian (WSGI), {env['WEB_WORKERS']} workers x {env['WEB_THREADS']} threads, SQLite, DEBUG=0",
            "",
            f"{'server':<28}{'conns':>6}{'GETs':>7}{'inst/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'x Orthanc':>11}"
            f"  {'x Orthanc per turn':<{6 * args.repeats + 2}}CPU us per GET",
        ]
        for name, ways, r in scenarios:
            ratio = f"{r['rate'] / orthanc_rate[ways]:.2f}" if ways in orthanc_rate else "-"
            peer = runs.get(("Orthanc", ways))
            turns = ",".join(f"{a['rate'] / b['rate']:.2f}" for a, b in zip(runs[(name, ways)], peer)) if peer else "-"
            cpu = " ".join(f"{k} {v:.0f}" for k, v in r["cpu_us"].items())
            lines.append(f"{name:<28}{ways:>6}{r['n']:>7}{r['rate']:>9.0f}{r['p50']:>9.2f}{r['p95']:>9.2f}{ratio:>11}"
                         f"  {turns:<{6 * args.repeats + 2}}{cpu}")
        lines.append("")
        for name, target in (("app (granian)", 0.25), ("nginx + app (x-accel)", 0.5)):
            got = next((r["rate"] / orthanc_rate[w] for n, w, r in scenarios if n == name and w == args.ways and w in orthanc_rate), None)
            verdict = "not measured" if got is None else f"{got:.2f} -> {'met' if got >= target else 'NOT met'}"
            lines.append(f"target {name}, {args.ways}-way >= {target:.2f}x Orthanc: {verdict}")
        lines.append(f"security behind nginx: signed token + 1 SQL query per GET; {withdrawn}; "
                     "headers checked (application/dicom, private immutable, Vary Cookie, nosniff, no X-Accel-Redirect, "
                     "no Last-Modified/ETag)")
        fmt = lambda load: " / ".join(f"{x:.2f}" for x in load)  # noqa: E731
        lines += [f"load average (1/5/15 min) at the start: {fmt(load_start)}, at the end: {fmt(os.getloadavg())} "
                  "(the machine is shared with other work, which lowers every figure, the multi-process ones most)"]
        text = "\n".join(lines) + "\n"
        print(text, end="")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    except BaseException:
        print(f"failed; logs kept in {work}", file=sys.stderr)
        raise
    else:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
