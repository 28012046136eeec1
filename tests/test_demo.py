"""The README's first command, run in a fresh clone (a smaller demo: 2 cases, 1 sequence, small
matrix): it serves a page within the time budget while the recon worker makes the series, then
finishes the study (schedule, simulated answers, report) and prints the URLs and logins, which
work: the coordinator sees the study and its report, the person's reader opens a blinded read."""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.ops.processes import kill_leftovers, new_marker, wait_until_gone

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow
SMALL_DEMO = ["--cases", "2", "--sequences", "SAG T1", "--matrix", "64", "--slices", "4", "--spacing", "2.0"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(url: str, proc: subprocess.Popen, log: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"./run demo exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(1)
    raise AssertionError(f"{url} did not answer within {timeout} s:\n{log.read_text()[-4000:]}")


def _wait_for_text(text: str, proc: subprocess.Popen, log: Path, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        output = log.read_text()
        if text in output:
            return output
        if proc.poll() is not None:
            raise AssertionError(f"./run demo exited with {proc.returncode}:\n{output[-4000:]}")
        time.sleep(1)
    raise AssertionError(f"{text!r} not printed within {timeout} s:\n{log.read_text()[-4000:]}")


def _login(base: str, username: str, password: str):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    login_page = opener.open(f"{base}/accounts/login/").read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page).group(1)
    data = urllib.parse.urlencode({"username": username, "password": password, "csrfmiddlewaretoken": token, "next": "/"})
    request = urllib.request.Request(f"{base}/accounts/login/", data=data.encode(), headers={"Referer": f"{base}/accounts/login/"})
    home = opener.open(request).read().decode()
    return opener, home


def _printed_url(output: str, label: str) -> str:
    return re.search(rf"^{label}:\s+(http://\S+)", output, re.M).group(1)


def test_demo_command_serves_the_study_then_completes_it(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "VAR_DIR", "MEDIA_ROOT"}}
    # The clone reuses this environment's virtualenv (same pinned packages) to save the install.
    env.update({"PORT": str(port), "VENV": str(Path(sys.prefix))})
    marker = new_marker()  # carried by every process the demo starts, to find any left behind
    env.update(marker)
    log = tmp_path / "demo.log"
    with log.open("w") as out:
        proc = subprocess.Popen(["./run", "demo", *SMALL_DEMO], cwd=clone, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{base}/accounts/login/", proc, log)
        output = log.read_text()
        logins = dict(re.findall(r"^\s+\w+\s+(\S+)\s+password: (\S+)", output, re.M))
        assert {"coordinator", "sim-reader1", "sim-reader2", "reader3"} <= set(logins)
        assert "simulated    sim-reader1" in output

        # Served while the worker builds: the coordinator already sees the study.
        opener, home = _login(base, "coordinator", logins["coordinator"])
        assert "Demo: accelerated lumbar spine MRI" in home

        output = _wait_for_text("is complete", proc, log, timeout=900)
        assert "recon: cases imported" in output and "simulated readers" in output
        assert (clone / "var" / "worker.log").exists()  # the series came from the worker beside the server
        study_url = _printed_url(output, "Study page")
        page = opener.open(study_url).read().decode()
        assert "C001" in page and "SAG T1" in page and "Standard" in page and "Fast" in page
        assert "missing" not in page
        report_page = opener.open(_printed_url(output, "Report")).read().decode()
        assert 'data-state="succeeded"' in report_page and "Download PDF" in report_page

        reader, _ = _login(base, "reader3", logins["reader3"])
        worklist = reader.open(_printed_url(output, "Reading worklist")).read().decode()
        assert "Session 1" in worklist and "Start reading" in worklist
        session_url = re.search(r'href="(/reading/sessions/[^"]+)"', worklist).group(1)
        read_page = reader.open(base + session_url).read().decode()  # redirected to its first read
        assert "csrfmiddlewaretoken" in read_page
        # Blinded. Opaque ids (22 random URL-safe characters) are masked first: a case read lists ~90
        # instance URLs, and "DL" or "Fast" inside a random id is not a leak.
        visible = re.sub(r"[A-Za-z0-9_-]{22}", "<id>", read_page)
        assert not any(arm in visible for arm in ("Standard", "Fast", "Truth", "DL"))
        simulated, _ = _login(base, "sim-reader1", logins["sim-reader1"])
        assert "Start reading" not in simulated.open(f"{base}/reading/").read().decode()  # all read already
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        left = wait_until_gone(marker, timeout=15)
        kill_leftovers(marker)
    assert not left, f"./run demo left processes behind: {left}"
