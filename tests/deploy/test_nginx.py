"""The documented nginx configuration (docs/deploy/nginx/liandong.conf), run as written in front
of two uvicorn processes: static files from disk, the upload limit with a Chinese answer,
WebSockets under /ws/, forwarded headers set by the proxy alone, and a desk user's browser."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from contextlib import ExitStack
from pathlib import Path

import pytest

from apps.cases import services as workflow
from tests.conftest import (
    ROOT,
    _free_port,
    _worker_env,
    desk_login,
    stop_process,
    uvicorn_log_path,
    uvicorn_server,
    wait_for,
    wait_for_js,
)
from tests.notify.helpers import at_town_desk
from tests.notify.sockets import next_message, open_socket, session_cookie_for

pytestmark = [pytest.mark.django_db(transaction=True)]

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
CONF = ROOT / "docs" / "deploy" / "nginx" / "liandong.conf"


def nginx_available() -> None:
    if not Path(NGINX).exists():
        if os.environ.get("LIANDONG_REQUIRE_NGINX") == "1":
            pytest.fail(f"{NGINX} is missing (apt-get install nginx)")
        pytest.skip("nginx is not installed")


def render(conf: str, *, listen: int, upstreams: list[int], static_root: Path) -> str:
    """The documented file with this test's ports and paths, nothing else changed."""
    servers = "\n".join(f"    server 127.0.0.1:{port};" for port in upstreams)
    conf, n1 = re.subn(
        r"(?m)^    server 127\.0\.0\.1:800\d;\n(    server 127\.0\.0\.1:800\d;\n)?",
        servers + "\n",
        conf,
    )
    conf, n2 = re.subn(r"listen 80;", f"listen 127.0.0.1:{listen};", conf)
    conf, n3 = re.subn(r"alias /srv/liandong/var/static/;", f"alias {static_root}/;", conf)
    assert (n1, n2, n3) == (1, 1, 1), "the documented file no longer has the expected lines"
    return conf


@pytest.fixture(scope="module")
def proxy(django_db_setup, django_db_blocker, tmp_path_factory):
    """nginx on a free port in front of two uvicorn processes; yields (base URL, uvicorn logs)."""
    nginx_available()
    work = tmp_path_factory.mktemp("nginx")
    static_root = work / "static"
    env = {**_worker_env(), "STATIC_ROOT": str(static_root)}
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    with ExitStack() as stack:
        bases = [stack.enter_context(uvicorn_server(env)) for _ in range(2)]
        port = _free_port()
        (work / "liandong.conf").write_text(
            render(
                CONF.read_text(),
                listen=port,
                upstreams=[int(b.rsplit(":", 1)[1]) for b in bases],
                static_root=static_root,
            )
        )
        temp = work / "temp"
        temp.mkdir()
        user = "user root;\n" if os.geteuid() == 0 else ""  # workers must read the tmp static dir
        (work / "nginx.conf").write_text(
            f"""{user}daemon off;
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 512; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {work}/access.log;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {work}/liandong.conf;
}}
"""
        )
        check = subprocess.run(
            [NGINX, "-t", "-p", str(work), "-c", str(work / "nginx.conf")],
            capture_output=True,
            text=True,
        )
        assert check.returncode == 0, check.stderr
        server = subprocess.Popen(
            [NGINX, "-p", str(work), "-c", str(work / "nginx.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        stack.callback(stop_process, server)
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return urllib.request.urlopen(base + "/healthz", timeout=2).status == 200
            except OSError:
                return False

        wait_for(up, timeout=20)
        yield base, [uvicorn_log_path(b) for b in bases], static_root


def get(url: str, headers: dict[str, str] | None = None):
    request = urllib.request.Request(url, headers=headers or {})
    return urllib.request.urlopen(request, timeout=10)


def test_pages_go_through_to_both_web_processes_with_a_request_id(org_tx, proxy):
    base, logs, _ = proxy
    ids = set()
    for _ in range(6):
        response = get(base + "/track/")
        assert response.status == 200 and "流水号" in response.read().decode()
        ids.add(response.headers["X-Request-ID"])
    assert len(ids) == 6 and all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)

    # least_conn with keepalive spreads the requests; each id is in one process's access log.
    def logged() -> bool:
        text = "".join(p.read_text(errors="replace") for p in logs)
        return all(f"[{i}] GET /track/ 200" in text for i in ids)

    wait_for(logged, timeout=5)


def test_static_files_come_from_disk_cached_for_a_year(proxy):
    base, _, static_root = proxy
    name = "admin/css/base.css"
    assert (static_root / name).exists()
    response = get(f"{base}/static/{name}")
    assert response.status == 200
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "X-Request-ID" not in response.headers  # answered by nginx, not a web process


def test_an_upload_over_the_limit_is_refused_in_chinese_before_the_app(org_tx, proxy):
    base, _, _ = proxy
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.putrequest("POST", "/api/reports/")
    connection.putheader("Content-Type", "application/octet-stream")
    connection.putheader("Content-Length", str(60 * 1024 * 1024))
    connection.endheaders()
    connection.send(b"x" * 1024)
    response = connection.getresponse()
    assert response.status == 413
    assert "超过 48 MB" in json.loads(response.read())["detail"]


def test_a_clients_own_forwarded_for_is_thrown_away(org_tx, proxy):
    base, logs, _ = proxy
    response = get(base + "/track/", {"X-Forwarded-For": "203.0.113.9"})
    request_id = response.headers["X-Request-ID"]

    def line() -> str:
        for path in logs:
            for text in path.read_text(errors="replace").splitlines():
                if f"[{request_id}]" in text and "liandong.access" in text:
                    return text
        return ""

    wait_for(lambda: bool(line()), timeout=5)
    assert "client=127.0.0.1" in line() and "203.0.113.9" not in line()


def test_a_socket_through_the_proxy_gets_its_push(org_tx, proxy):
    base, _, _ = proxy
    u = org_tx.users
    case = at_town_desk(org_tx)
    with open_socket(base, cookie=session_cookie_for(u["dh"])) as phone:
        assert next_message(phone, "hello")["user"] == u["dh"].pk
        workflow.case_dispatch(case=case, actor=u["td"], lead_unit=org_tx.units["east-cg"])
        from tests.notify.helpers import fan_out

        fan_out(case)  # the worker's fan-out, run here: this test is about the proxy
        pushed = next_message(phone, "notification", timeout=5)
        assert pushed["kind"] == "dispatch" and pushed["case"] == case.pk


@pytest.mark.browser
def test_a_dispatcher_works_the_desk_through_the_proxy(org_tx, proxy, browser):
    base, _, _ = proxy
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    desk_login(page, base, org_tx.users["td"].username)
    assert page.title().endswith("联动指挥台")
    # The desk's live counters open their socket through the proxy too.
    wait_for_js(page, "window.liandongNotify && window.liandongNotify.ready()", timeout=15)
    page.goto(base + "/admin/cases/case/")
    assert page.locator("#result_list, .paginator").first.is_visible()
    shots = ROOT / "artifacts" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "deploy-nginx-desk.png"))
    page.close()
