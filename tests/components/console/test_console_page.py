import http.client
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest
from waiting import wait_for

from components.console import config as console_config
from components.console import page, status

TOKEN = "s3cret-token-for-tests"


@pytest.fixture
def served(site):
    cfg = console_config.load(site.config_file, {"statusTokenSha256": page.token_hash(TOKEN)})

    def report():
        return status.build_status(status.gather(cfg, site.clock, "dev-001"), cfg)

    server = page.StatusServer(("127.0.0.1", 0), cfg.statusTokenSha256, report)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, report
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def _get(port, path, headers=None, method="GET", body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def test_no_token_is_401_with_a_challenge(served):
    server, _ = served
    code, headers, body = _get(server.port, "/status.json")
    assert code == 401 and headers["WWW-Authenticate"].startswith("Bearer")
    assert b"fault" not in body


def test_wrong_token_is_403(served):
    server, _ = served
    assert _get(server.port, "/status.json", {"Authorization": "Bearer nope"})[0] == 403
    assert _get(server.port, "/status.json", {"Authorization": f"Bearer {TOKEN}x"})[0] == 403
    assert server.counts["denied"] == 2


@pytest.mark.slow
def test_right_token_serves_the_same_report_as_the_cli(served, site):
    server, report = served
    code, headers, body = _get(server.port, "/status.json", {"Authorization": f"Bearer {TOKEN}"})
    assert code == 200 and headers["Content-Type"] == "application/json"
    assert headers["Cache-Control"] == "no-store"
    served_report, fresh = json.loads(body), json.loads(json.dumps(report()))
    for r in (served_report, fresh):  # the one figure that moves between two reads
        r["buffer"].pop("free_disk_bytes")
    assert served_report == fresh


def _sign_in(port, token):
    body = f"token={token}"
    code, headers, _ = _get(
        port,
        "/login",
        {"Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
        body=body,
    )
    return code, headers


@pytest.mark.slow
def test_a_browser_signs_in_with_a_form_and_then_sees_the_page(served):
    server, _ = served
    code, headers, body = _get(server.port, "/status")
    assert code == 401 and headers["Content-Type"].startswith("text/html")
    assert b"<form method='post' action='/login'>" in body and b"fault" not in body
    code, headers = _sign_in(server.port, TOKEN)
    assert code == 303 and headers["Location"] == "/status"
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and TOKEN not in cookie
    code, headers, body = _get(server.port, "/status", {"Cookie": cookie.split(";")[0]})
    assert code == 200 and headers["Content-Type"].startswith("text/html")
    html = body.decode()
    assert "width=device-width" in html  # readable on a phone
    # values never wrap (the table scrolls sideways on a phone); free text does
    assert "<td class='v'>env/bme280@0x76</td>" in html
    assert "<td class='t'>no health reported by its component</td>" in html
    for text in (
        "dev-001",
        "Status LED",
        "fault",
        "env/bme280@0x76",
        "evicted raw",
        "offline: buffering to disk",
    ):
        assert text in html
    # Signing out ends the session.
    code, headers, _ = _get(
        server.port, "/logout", {"Cookie": cookie.split(";")[0]}, method="POST", body=""
    )
    assert code == 303
    assert _get(server.port, "/status", {"Cookie": cookie.split(";")[0]})[0] == 401


def test_a_wrong_token_in_the_form_is_refused_and_a_token_in_the_url_ignored(served):
    server, _ = served
    assert _sign_in(server.port, "nope")[0] == 403
    code, _, body = _get(server.port, f"/status?token={TOKEN}")
    assert code == 401 and b"not accepted" in body and b"env/bme280" not in body


@pytest.mark.slow
def test_read_only_and_unknown_paths(served):
    server, _ = served
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert _get(server.port, "/status.json", auth, method="POST")[0] == 405
    assert _get(server.port, "/status.json", auth, method="DELETE")[0] == 405
    assert _get(server.port, "/etc/passwd", auth)[0] == 404
    code, headers, body = _get(server.port, "/status.json", auth, method="HEAD")
    assert code == 200 and body == b"" and int(headers["Content-Length"]) > 0


def test_the_token_never_reaches_the_request_log(served, caplog):
    server, _ = served
    with caplog.at_level(logging.INFO, logger="floorline.console.page"):
        _get(server.port, f"/status?token={TOKEN}")
        _get(server.port, "/status?token=wrong-guess")
        _sign_in(server.port, TOKEN)
        _sign_in(server.port, "wrong-guess")
    assert "path=/status" in caplog.text and "event=signed_in" in caplog.text
    assert TOKEN not in caplog.text and "wrong-guess" not in caplog.text


def test_page_stays_off_without_a_token_hash():
    with pytest.raises(page.PageDisabled):
        page.StatusServer(("127.0.0.1", 0), "", lambda: {})


def test_report_failure_is_a_503_not_a_crash():
    def broken():
        raise RuntimeError("log is busy")

    server = page.StatusServer(("127.0.0.1", 0), page.token_hash(TOKEN), broken)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        code, _, body = _get(server.port, "/status.json", {"Authorization": f"Bearer {TOKEN}"})
        assert code == 503 and b"log is busy" in body
    finally:
        server.shutdown()
        server.server_close()


def test_html_escapes_what_it_shows():
    from components.console.views import Row, Table

    html = page.render_html(
        {"device": "<b>x</b>", "level": "OK"},
        [Table("t", ["c"], [Row(["<script>alert(1)</script>"])])],
    )
    assert "<script>" not in html and "&lt;script&gt;" in html and "<b>x</b>" not in html


def test_token_check_is_exact():
    digest = page.token_hash(TOKEN)
    assert page.authorise(TOKEN, digest) is None
    assert page.authorise(None, digest) == 401 and page.authorise("", digest) == 401
    assert page.authorise(TOKEN.upper(), digest) == 403


@pytest.mark.slow
def test_floorline_page_serve_as_a_process(site):
    """The component's Run command: listens, answers with the token, stops on SIGTERM."""
    cfg = {**site.config, "statusTokenSha256": page.token_hash(TOKEN)}
    Path(site.config_file).write_text(json.dumps(cfg))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "components.console",
            "serve",
            "--config",
            str(site.config_file),
            "--bind",
            "127.0.0.1",
            "--port",
            "0",
        ],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        port = None
        for line in proc.stderr:
            m = re.search(r"event=status_page_listening bind=\S+ port=(\d+)", line)
            if m:
                port = int(m.group(1))
                break
        assert port, "the page did not say where it listens"
        assert _get(port, "/status.json")[0] == 401
        code, _, body = _get(port, "/status.json", {"Authorization": f"Bearer {TOKEN}"})
        assert code == 200 and json.loads(body)["device"] == "dev-001"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()


# --------------------------------------------------------------------------- as a component
COMPONENT = "com.floorline.Console"


@pytest.fixture
def short_dir():
    path = tempfile.mkdtemp(prefix="flc-", dir="/tmp")  # a Unix socket path must stay short
    yield Path(path)
    shutil.rmtree(path, ignore_errors=True)


def _wait_line(proc, pattern, timeout_s=30.0):
    def matched_or_ended():
        found = next(filter(None, (re.search(pattern, ln) for ln in list(proc.lines))), None)
        if found is None and proc.proc.poll() is not None:
            raise AssertionError(f"ended with no line matching {pattern!r}:\n{proc.stderr}")
        return found

    return wait_for(
        matched_or_ended, timeout_s=timeout_s, interval_s=0.05, what=f"a line matching {pattern!r}"
    )


@pytest.mark.slow
def test_serve_under_the_nucleus_idles_without_a_token_then_follows_updates(site, short_dir):
    """The Run command of recipes/Console.yaml under edge_sim's nucleus, through the real
    awsiotsdk client: configuration from GetConfiguration, token set and rotated by
    deployment updates without a restart, stopped by SIGTERM."""
    from edge_sim.hardware.component_process import ComponentProcess
    from edge_sim.nucleus.ipc_server import NucleusServer

    sock = str(short_dir / "ipc.sock")
    server = NucleusServer(sock, {COMPONENT: ("tok-console", {})}, thing_name="dev-001")
    server.config.set_component(
        COMPONENT, {**site.config, "bindAddress": "127.0.0.1", "port": 0, "statusTokenSha256": ""}
    )
    server.start()
    env = {
        **os.environ,
        "SVCUID": "tok-console",
        "AWS_IOT_THING_NAME": "dev-001",
        "AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT": sock,
    }
    proc = ComponentProcess("components.console", ["serve"], env)
    try:
        proc.wait_started()
        _wait_line(proc, r"event=status_page_off")
        assert server.component_states[COMPONENT] == "RUNNING"
        server.config.set_component(COMPONENT, {"statusTokenSha256": page.token_hash(TOKEN)})
        port = int(_wait_line(proc, r"event=status_page_listening .*port=(\d+)").group(1))
        code, _, body = _get(port, "/status.json", {"Authorization": f"Bearer {TOKEN}"})
        assert code == 200 and json.loads(body)["device"] == "dev-001"
        server.config.set_component(COMPONENT, {"statusTokenSha256": page.token_hash("new")})
        wait_for(
            lambda: _get(port, "/status.json", {"Authorization": f"Bearer {TOKEN}"})[0] == 403,
            timeout_s=30,
            interval_s=0.1,
            what="the old token refused",
        )
        assert _get(port, "/status.json", {"Authorization": "Bearer new"})[0] == 200
        proc.proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout_s=30) == 0, proc.stderr
    finally:
        if proc.proc.poll() is None:
            proc.proc.kill()
            proc.wait()
        server.stop()
