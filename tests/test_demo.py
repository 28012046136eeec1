"""The README's first command, run in a fresh clone: it serves a page that a logged-in
coordinator can open, showing the demo study with its cases and series."""

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

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


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


def test_demo_command_serves_the_study_to_the_coordinator(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "VAR_DIR", "MEDIA_ROOT"}}
    # The clone reuses this environment's virtualenv (same pinned packages) to save the install.
    env.update({"PORT": str(port), "VENV": str(Path(sys.prefix))})
    log = tmp_path / "demo.log"
    with log.open("w") as out:
        proc = subprocess.Popen(["./run", "demo"], cwd=clone, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{base}/accounts/login/", proc, log)
        output = log.read_text()
        assert "coordinator" in output and "reader1" in output and "reader2" in output
        password = re.search(r"coordinator\s+coordinator\s+password: (\S+)", output).group(1)

        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        login_page = opener.open(f"{base}/accounts/login/").read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login_page).group(1)
        data = urllib.parse.urlencode({"username": "coordinator", "password": password, "csrfmiddlewaretoken": token, "next": "/"})
        request = urllib.request.Request(f"{base}/accounts/login/", data=data.encode(), headers={"Referer": f"{base}/accounts/login/"})
        home = opener.open(request).read().decode()
        assert "Demo: accelerated lumbar spine MRI" in home
        study_url = re.search(r'href="(/studies/\d+/)"', home).group(1)
        page = opener.open(base + study_url).read().decode()
        assert "C001" in page and "SAG T2 FS" in page and "Standard" in page and "Fast" in page
        assert "missing" not in page
        # The worker runs beside the server.
        assert (clone / "var" / "worker.log").exists()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
