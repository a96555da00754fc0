"""Secrets are never echoed: the redaction of URLs and free text, and the places that apply it
(the task layer's error handler and bug report, the reporter, the runner's echo, logs and
errors)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
from invoke import Exit

from edgeforge import cli
from edgeforge.context import Context
from edgeforge.core import CommandFailedError, Reporter, Runner, UsageError, redact, redact_url

PW = "S3cret-pw-9f2"


# ---- redact_url ------------------------------------------------------------------------------
@pytest.mark.parametrize("url, want", [
    ("ssh://edge:S3cret@host", "ssh://edge:***@host"),
    ("ssh://edge:S3cret@host:2222", "ssh://edge:***@host:2222"),
    ("ssh://edge:S3cret@[::1]:2222/", "ssh://edge:***@[::1]:2222/"),
    ("ssh://edge:S3cret@[::1", "ssh://edge:***@[::1"),                  # no ']': still hidden
    ("http://u:S3cret@[fe80::1%25eth0]:8080/x", "http://u:***@[fe80::1%25eth0]:8080/x"),
    ("https://bob:p%40ss%3Aw0rd@files.example/m", "https://bob:***@files.example/m"),
    ("https://bob:p@ss@files.example/m", "https://bob:***@files.example/m"),   # a raw '@'
    ("ssh://edge:pa/ss@host/x", "ssh://edge:***@host/x"),                # a raw '/'
    ("ssh://edge:pa?ss@host", "ssh://edge:***@host"),                    # a raw '?'
    ("http://user:p#ss@host/x", "http://user:***@host/x"),               # a raw '#'
    ("https://bob:@files.example/m", "https://bob:***@files.example/m"),
    ("ftp://bob:S3cret@files.example/conan", "ftp://bob:***@files.example/conan"),
    ("https://ghp_0123456789abcdefghijKLMNOPQRSTuv@github.com/o/r.git",
     "https://***@github.com/o/r.git"),                                  # a token as the user
    ("https://f.example/s/a.tgz?X-Amz-Signature=ab12&X-Amz-Credential=AK%2F1&X-Amz-Expires=60",
     "https://f.example/s/a.tgz?X-Amz-Signature=***&X-Amz-Credential=***&X-Amz-Expires=***"),
    ("https://f.example/m?token=abc#frag", "https://f.example/m?token=***#***"),
    ("https://f.example/m?a=&b", "https://f.example/m?a=&***"),
    ("bob:S3cret@registry.example/team/app", "bob:***@registry.example/team/app"),
])
def test_a_urls_password_query_values_and_fragment_are_hidden(url, want):
    assert redact_url(url) == want
    assert redact_url(want) == want  # redacting again changes nothing


@pytest.mark.parametrize("url", [
    "ssh://edge@host:2222", "ssh://edge@[::1]:2222", "https://files.example:8443/edgeforge/s",
    "file:///srv/edgeforge/sources", "http://127.0.0.1:5000", "https://git.example/o/r.git",
    "ssh://git@git.example:org/repo.git", "docker://127.0.0.1:5000/team/app@sha256:0123abcd",
    "http://[::1]:5000/v2/", "https://firstname.lastname@git.example/r",
])
def test_a_url_without_secrets_stays_as_it_is(url):
    assert redact_url(url) == url


# ---- redact (free text) ----------------------------------------------------------------------
@pytest.mark.parametrize("text, want", [
    ("--target 'ssh://edge:S3cret@[::1': expected ssh://user@host[:port]",
     "--target 'ssh://edge:***@[::1': expected ssh://user@host[:port]"),
    ("error: --push 'bob:S3cret@registry.example/team/app': no",
     "error: --push 'bob:***@registry.example/team/app': no"),
    ("push to bob:S3cret@[::1]:5000/team/app", "push to bob:***@[::1]:5000/team/app"),
    ("push to bob:p@ss@registry:5000/app", "push to bob:***@registry:5000/app"),
    ("EDGEFORGE_SYSROOT_URL='https://f.example/s?X-Amz-Signature=S3cret&sig=x' has a query",
     "EDGEFORGE_SYSROOT_URL='https://f.example/s?X-Amz-Signature=***&sig=***' has a query"),
    ("{'url': 'https://x.example/m?token=S3cret', 'n': 1}",
     "{'url': 'https://x.example/m?token=***', 'n': 1}"),
    ("'http://a.example','http://u:S3cret@b.example'",
     "'http://a.example','http://u:***@b.example'"),
    ("(see http://x.example/y?q=S3cret).", "(see http://x.example/y?q=***)."),
    ("curl -s https://h.example/f?token=S3cret -o f", "curl -s https://h.example/f?token=*** -o f"),
    ("token=S3cret access_token=S3cret X-Amz-Credential=S3cret api_key=S3cret key=S3cret",
     "token=*** access_token=*** X-Amz-Credential=*** api_key=*** key=***"),
    ("password=S3cret passwd=S3cret secret=S3cret Signature=S3cret apikey=S3cret",
     "password=*** passwd=*** secret=*** Signature=*** apikey=***"),
    ("CONAN_PASSWORD_TEAM=S3cret AWS_SECRET_ACCESS_KEY=S3cret GITHUB_TOKEN=S3cret",
     "CONAN_PASSWORD_TEAM=*** AWS_SECRET_ACCESS_KEY=*** GITHUB_TOKEN=***"),
    ("skopeo copy --dest-creds bob:S3cret --password S3cret --token=S3cret x",
     "skopeo copy --dest-creds *** --password *** --token=*** x"),
    ('{"auths": {"r.example": {"auth": "Ym9iOlMzY3JldA=="}}, "password": "S3\\"cret"}',
     '{"auths": {"r.example": {"auth": "***"}}, "password": "***"}'),
    ("curl -H 'Authorization: Bearer S3cret.x' u", "curl -H 'Authorization: Bearer ***' u"),
])
def test_secrets_in_text_are_hidden_and_the_rest_kept(text, want):
    assert redact(text) == want
    assert "S3cret" not in want
    assert redact(want) == want


@pytest.mark.parametrize("text", [
    "",
    "error: no such file: /home/edge/build/jetson-nx/release/deb/edge-infer_1.0_arm64.deb",
    "connect: ssh -p 2222 edge@127.0.0.1; deploy with --target ssh://edge@127.0.0.1:2222",
    "give the device: --target ssh://user@host[:port]",
    "pull by digest: 127.0.0.1:5000/team/edge-infer@sha256:0123456789abcdef",
    "pkg:conan/zlib@1.3.1?rrev=abc and pkg:deb/debian/libc6@2.31-13?arch=arm64",
    "libedge.so needs memcpy@GLIBC_2.29 (libc.so.6:memcpy@GLIBC_2.17 at most)",
    "git@github.com:org/repo.git; scp f edge@host:/tmp; mail bob@example.com at 12:30",
    "build_type=Release os=Linux arch=armv8 -DCMAKE_BUILD_TYPE=Release tokens=5 monkey=1",
    "-o IdentitiesOnly=yes -o UserKnownHostsFile=/k/known --sysroot=/x -Wl,--as-needed",
    "set EDGEFORGE_REGISTRY_USER and EDGEFORGE_REGISTRY_PASSWORD (CONAN_PASSWORD_<NAME>)",
    "CONAN_PASSWORD_TEAM=$EDGEFORGE_CONAN_PASSWORD docker login --password-stdin",
    "x cross-building ffmpeg for jetson-nx failed after 1m02s; log: /tmp/a b/c.log",
    "zlib/1.3.1#0123:ab12 (host): Download; sha256 0123... in published.sha256",
])
def test_ordinary_text_is_not_mangled(text):
    assert redact(text) == text


# ---- where it is applied ---------------------------------------------------------------------
def test_the_task_layer_never_shows_a_password_in_an_error():
    @cli.handled
    def task(c):
        raise UsageError(f"--target 'ssh://edge:{PW}@host': wrong")

    with pytest.raises(Exit) as info:
        task(None)
    assert info.value.message == "error: --target 'ssh://edge:***@host': wrong"


def test_a_bug_report_and_its_log_never_hold_a_password(tmp_path: Path, monkeypatch):
    ctx = Context.create(cache_dir=tmp_path / "cache", build_root=tmp_path / "build",
                         reporter=Reporter(quiet=True))
    monkeypatch.setitem(cli.STATE, "ctx", ctx)
    monkeypatch.setattr(sys, "argv", ["invoke", "deploy", "--target", f"ssh://edge:{PW}@[::1"])

    @cli.handled
    def explode(c):
        with ctx.reporter.step(f"copying to https://u:{PW}@h.example/x"):
            raise ValueError(f"cannot parse ssh://edge:{PW}@[::1")

    with pytest.raises(Exit) as info:
        explode(None)
    msg = info.value.message
    assert PW not in msg
    assert "while copying to https://u:***@h.example/x: cannot parse ssh://edge:***@[::1" in msg
    log = Path(msg.split("the traceback is in ")[1].split(" (")[0])
    text = log.read_text()
    assert PW not in text
    assert "ssh://edge:***@[::1" in text and "ValueError" in text


def test_the_reporter_never_prints_a_password():
    out, err = io.StringIO(), io.StringIO()
    r = Reporter(stream=out, err_stream=err)
    url = f"https://bob:{PW}@files.example/m?token={PW}"
    r.info(f"fetching {url}\nfrom {url}")
    r.warn(f"plain HTTP: {url}")
    r.warn_plain(f"$ curl {url}")
    with pytest.raises(RuntimeError), r.step(f"pushing to bob:{PW}@registry.example/app"):
        r.heartbeat(f"sent {url}")
        raise RuntimeError
    text = out.getvalue() + err.getvalue()
    assert PW not in text
    assert "https://bob:***@files.example/m?token=***" in text
    assert "pushing to bob:***@registry.example/app" in text and r.failed_step == \
        "pushing to bob:***@registry.example/app"


def test_the_runner_echoes_logs_and_fails_without_the_password(tmp_path: Path):
    out = io.StringIO()
    runner = Runner(Reporter(stream=out, err_stream=out), tmp_path / "logs")
    url = f"https://bob:{PW}@files.example/m?X-Amz-Signature={PW}"
    with pytest.raises(CommandFailedError) as info:
        runner.run(["sh", "-c", 'echo "fetching $1"; echo "$2"; exit 3', "sh", url,
                    f"token={PW}"], what="fetch")
    exc = info.value
    log = exc.log_path.read_text()
    for shown in (out.getvalue(), log, exc.message, "\n".join(exc.tail)):
        assert PW not in shown
    assert "https://bob:***@files.example/m?X-Amz-Signature=***" in out.getvalue()  # the echo
    assert log.startswith("# /") and "sh -c" in log.splitlines()[0]  # the argv header
    assert "fetching https://bob:***@files.example/m?X-Amz-Signature=***\ntoken=***" in log
    assert "  command: " in exc.message and "token=***" in exc.message
    # the caller still gets what the command printed (it may parse it): memory, not a file
    r = runner.run(["sh", "-c", 'echo "$1"', "sh", url], what="fetch", check=False)
    assert r.output.strip() == url and PW not in r.log_path.read_text()


def test_a_command_failed_error_hides_the_password_in_its_argv():
    exc = CommandFailedError(["skopeo", "copy", f"docker://bob:{PW}@r.example/a:1"], None, 1,
                             [f"level=fatal msg=\"bob:{PW}@r.example: unauthorized\""], None)
    assert PW not in exc.message
    assert "docker://bob:***@r.example/a:1" in exc.message
