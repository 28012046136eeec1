"""The nginx configuration shipped in deploy/nginx/ is valid (nginx -t), and the serving benchmark
measures that same configuration (its upstream and its locations, only paths and ports changed)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "nginx"

pytestmark = pytest.mark.skipif(not shutil.which("nginx"), reason="nginx is not installed")


def _nginx_test(conf: Path, prefix: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["nginx", "-t", "-c", str(conf), "-p", str(prefix)], capture_output=True, text=True, timeout=60)


def _temp_paths(work: Path) -> str:
    return "\n".join(f"  {kind}_temp_path {work}/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))


@pytest.mark.skipif(not shutil.which("openssl"), reason="openssl is not installed")
def test_the_production_site_passes_nginx_t(tmp_path):
    key, cert = tmp_path / "site.key", tmp_path / "site.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=reader.example.org",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=60)
    locations = tmp_path / "readerstudy-locations.conf"
    shutil.copy(DEPLOY / "readerstudy-locations.conf", locations)
    site = (DEPLOY / "readerstudy.conf").read_text()
    for production, here in (("/etc/nginx/readerstudy-locations.conf", str(locations)),
                             ("/etc/ssl/certs/reader.example.org.pem", str(cert)),
                             ("/etc/ssl/private/reader.example.org.key", str(key))):
        assert production in site, production
        site = site.replace(production, here)
    (tmp_path / "site.conf").write_text(site)
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
                    f"http {{\n{_temp_paths(tmp_path)}\n  include {tmp_path}/site.conf;\n}}\n")
    result = _nginx_test(conf, tmp_path)
    assert result.returncode == 0, result.stderr


def test_the_benchmark_runs_the_shipped_configuration(tmp_path):
    from bench.bench_serving import Nginx

    conf = Nginx(tmp_path, 8123, tmp_path / "media", tmp_path / "static").render()
    text = conf.read_text()
    shipped = re.search(r"^upstream readerstudy \{.*?^\}", (DEPLOY / "readerstudy.conf").read_text(), re.S | re.M).group(0)
    assert shipped.replace("127.0.0.1:8000", "127.0.0.1:8123") in text
    rendered = (tmp_path / "readerstudy-locations.conf").read_text()
    expected = (DEPLOY / "readerstudy-locations.conf").read_text()
    expected = expected.replace("/srv/readerstudy/media/", f"{tmp_path / 'media'}/")
    expected = expected.replace("/srv/readerstudy/var/staticfiles/", f"{tmp_path / 'static'}/")
    assert rendered == expected
    result = _nginx_test(conf, tmp_path)
    assert result.returncode == 0, result.stderr
