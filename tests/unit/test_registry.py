"""`release --push`: the destination parser, credentials, TLS policy, skopeo's argv, the private
auth file, what each failure means, and what is pushed from a release or an index folder."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest

from edgeforge.core import UsageError
from edgeforge.deliver.oci import layout as oci
from edgeforge.team import Credentials, Destination, parse_destination, registry

PASSWORD = "pa55-w0rd:with$odd'chars"


# ---- the destination -------------------------------------------------------------------------------
@pytest.mark.parametrize("text, want", [
    ("127.0.0.1:5000/edge-infer", Destination("127.0.0.1:5000", "edge-infer")),
    ("docker://127.0.0.1:5000/team/edge-infer:1.0.0",
     Destination("127.0.0.1:5000", "team/edge-infer", "1.0.0")),
    ("localhost/edge_infer:v1.0_git.abc-1", Destination("localhost", "edge_infer",
                                                         "v1.0_git.abc-1")),
    ("registry.example:443/a/b/c", Destination("registry.example:443", "a/b/c")),
    ("[::1]:5000/edge-infer:latest", Destination("[::1]:5000", "edge-infer", "latest")),
    ("REGISTRY.example/edge__infer", Destination("REGISTRY.example", "edge__infer")),
])
def test_destinations_parse(text: str, want: Destination):
    assert parse_destination(text) == want


@pytest.mark.parametrize("text, says", [
    ("", "empty"),
    ("edge-infer", "no registry"),
    ("team/edge-infer", "looks like a repository, not a registry host"),
    ("127.0.0.1:5000", "no registry"),
    ("127.0.0.1:5000/", "no repository"),
    ("127.0.0.1:5000/Edge-Infer", "(repository names are lower case)"),
    ("127.0.0.1:5000/edge//infer", "'' is not a valid path component"),
    ("127.0.0.1:5000/edge-infer:", "tag ''"),
    ("127.0.0.1:5000/edge-infer:-1", "tag '-1'"),
    ("127.0.0.1:5000/edge-infer@sha256:" + "0" * 64, "a push needs a tag"),
    ("127.0.0.1:99999/edge-infer", "port '99999'"),
    ("127.0.0.1:http/edge-infer", "port 'http'"),
    ("bad_host.example/edge-infer", "is not a host name or address"),
    ("[::1/edge-infer", "not an IPv6 address in brackets"),
    ("[zz::1]:5000/edge-infer", "not an IPv6 address in brackets"),
    ("127.0.0.1:5000/edge infer", "white space"),
])
def test_malformed_destinations_are_usage_errors_with_an_example(text: str, says: str):
    with pytest.raises(UsageError) as info:
        parse_destination(text)
    msg = info.value.message
    assert says in msg and "expected REGISTRY[:PORT]/REPO[:TAG], e.g. 127.0.0.1:5000/" in msg
    assert info.value.exit_code == 2


def test_the_tag_is_the_given_one_or_the_version_as_a_tag():
    assert registry.push_tag(parse_destination("127.0.0.1:5000/e"), "1.0.0+git2026.abc") == \
        "1.0.0_git2026.abc"
    assert registry.push_tag(parse_destination("127.0.0.1:5000/e:stable"), "1.0.0") == "stable"
    assert parse_destination("127.0.0.1:5000/e").reference("1.0.0") == "127.0.0.1:5000/e:1.0.0"


@pytest.mark.parametrize("text, loopback", [
    ("127.0.0.1:5000/e", True), ("127.1.2.3:5000/e", True), ("localhost:5000/e", True),
    ("[::1]:5000/e", True), ("10.0.0.5:5000/e", False), ("registry.example/e", False),
    ("localhost.example/e", False),
])
def test_only_loopback_registries_get_plain_http(text: str, loopback: bool):
    dest = parse_destination(text)
    assert dest.loopback is loopback
    assert registry.tls_verify(dest, {}) is not loopback
    assert registry.tls_verify(dest, {registry.ENV_INSECURE: "1"}) is False
    assert registry.tls_verify(dest, {registry.ENV_INSECURE: "0"}) is not loopback


def test_an_odd_insecure_value_is_a_usage_error():
    with pytest.raises(UsageError, match="EDGEFORGE_REGISTRY_INSECURE='maybe': expected 1"):
        registry.tls_verify(parse_destination("registry.example/e"),
                            {registry.ENV_INSECURE: "maybe"})


# ---- credentials -------------------------------------------------------------------------------
def test_credentials_from_the_environment_keep_the_password_out_of_repr():
    creds = registry.credentials({registry.ENV_USER: "edge", registry.ENV_PASSWORD: PASSWORD},
                                 "127.0.0.1:5000")
    assert (creds.user, creds.password, creds.authfile) == ("edge", PASSWORD, None)
    assert PASSWORD not in repr(creds) and PASSWORD not in creds.describe()
    assert creds.describe() == \
        "user edge (from EDGEFORGE_REGISTRY_USER and EDGEFORGE_REGISTRY_PASSWORD)"


@pytest.mark.parametrize("env, says", [
    ({registry.ENV_USER: "edge"}, "EDGEFORGE_REGISTRY_USER is set but EDGEFORGE_REGISTRY_PASSWORD"),
    ({registry.ENV_PASSWORD: PASSWORD}, "EDGEFORGE_REGISTRY_PASSWORD is set but "
                                        "EDGEFORGE_REGISTRY_USER"),
    ({registry.ENV_USER: "ed:ge", registry.ENV_PASSWORD: PASSWORD}, "holds a ':'"),
    ({registry.ENV_AUTHFILE: "/no/such/auth.json"}, "REGISTRY_AUTH_FILE='/no/such/auth.json': "
                                                    "no such file"),
])
def test_half_credentials_are_usage_errors_without_the_password(env: dict, says: str):
    with pytest.raises(UsageError) as info:
        registry.credentials(env, "127.0.0.1:5000")
    assert says in info.value.message and PASSWORD not in info.value.message


def test_an_auth_file_is_handed_over_and_only_its_user_name_read(tmp_path: Path):
    auth = tmp_path / "auth.json"
    auth.write_bytes(registry.auth_json("127.0.0.1:5000", "edge", PASSWORD))
    creds = registry.credentials({registry.ENV_AUTHFILE: str(auth)}, "127.0.0.1:5000")
    assert (creds.authfile, creds.user, creds.password) == (auth, "edge", None)
    assert creds.source == f"auth file {auth} (from REGISTRY_AUTH_FILE)"
    other = registry.credentials({registry.ENV_AUTHFILE: str(auth)}, "10.0.0.5:5000")
    assert other.user is None and other.authfile == auth
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "config.json").write_bytes(auth.read_bytes())
    docker = registry.credentials({"DOCKER_CONFIG": str(tmp_path / "docker")}, "127.0.0.1:5000")
    assert docker.authfile == tmp_path / "docker" / "config.json" and docker.user == "edge"
    none = registry.credentials({"DOCKER_CONFIG": str(tmp_path / "nothing")}, "127.0.0.1:5000")
    assert none.authfile is None and "skopeo's default auth files" in none.source


def test_the_private_auth_file_is_0600_in_a_0700_folder_and_gone_after():
    creds = Credentials("env", "edge", PASSWORD)
    with registry.private_authfile(creds, "127.0.0.1:5000") as path:
        assert path is not None
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        entry = json.loads(path.read_text())["auths"]["127.0.0.1:5000"]
        assert base64.b64decode(entry["auth"]).decode() == f"edge:{PASSWORD}"
    assert not path.exists() and not path.parent.exists()
    with pytest.raises(RuntimeError), registry.private_authfile(creds, "r.example") as path:
        raise RuntimeError("the push failed")
    assert not path.parent.exists()


def test_an_existing_auth_file_is_used_as_it_is(tmp_path: Path):
    creds = Credentials("file", "edge", authfile=tmp_path / "auth.json")
    with registry.private_authfile(creds, "r.example") as path:
        assert path == tmp_path / "auth.json"
    with registry.private_authfile(Credentials("defaults"), "r.example") as path:
        assert path is None


# ---- skopeo's argv ------------------------------------------------------------------------------
def test_copy_argv_preserves_digests_and_carries_no_credentials():
    argv = registry.copy_argv("oci:/d/e.oci:1.0.0-jetson-nx", "127.0.0.1:5000/e:1.0.0",
                              all_images=False, tls_verify=False,
                              authfile=Path("/tmp/edgeforge-auth-x/auth.json"),
                              digestfile=Path("/tmp/w/digest"))
    assert argv == ["skopeo", "copy", "--preserve-digests", "--retry-times=2",
                    "--dest-tls-verify=false", "--dest-authfile",
                    "/tmp/edgeforge-auth-x/auth.json", "--digestfile", "/tmp/w/digest",
                    "oci:/d/e.oci:1.0.0-jetson-nx", "docker://127.0.0.1:5000/e:1.0.0"]
    index = registry.copy_argv("oci:/d/i.oci:1.0.0", "r.example/e:1.0.0", all_images=True,
                               tls_verify=True, authfile=None, digestfile=Path("/w/d"))
    assert "--all" in index and "--dest-tls-verify=true" in index
    assert not any(a.startswith("--dest-creds") or a == "--dest-authfile" for a in index)


def test_skopeo_sees_no_password_variable(monkeypatch):
    monkeypatch.setenv(registry.ENV_PASSWORD, PASSWORD)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    env = registry.skopeo_env()
    assert PASSWORD not in "".join(env.values()) and registry.ENV_PASSWORD not in env
    assert env["HTTPS_PROXY"] == "http://proxy.example:3128"


# ---- what a failure means ---------------------------------------------------------------------------
DEST = parse_destination("127.0.0.1:5999/edge/infer")
ENV_CREDS = Credentials("from EDGEFORGE_REGISTRY_USER and EDGEFORGE_REGISTRY_PASSWORD", "edge",
                        PASSWORD)
#: skopeo 1.9's own last lines against Debian's registry 2.8
UNAUTHORIZED = ('time="2026-11-25T10:15:27Z" level=fatal msg="trying to reuse blob sha256:7df9 at '
                'destination: checking whether a blob sha256:7df9 exists in 127.0.0.1:5999/edge/'
                'infer: unauthorized: authentication required"')
REFUSED = ('time="2026-11-25T10:15:27Z" level=fatal msg="trying to reuse blob sha256:7df9 at '
           'destination: pinging container registry 127.0.0.1:5997: Get \\"http://127.0.0.1:5997'
           '/v2/\\": dial tcp 127.0.0.1:5997: connect: connection refused"')
HTTP_ONLY = ('level=fatal msg="pinging container registry 10.0.0.5:5000: Get \\"https://10.0.0.5'
             ':5000/v2/\\": http: server gave HTTP response to HTTPS client"')
NO_HOST = ('level=fatal msg="pinging container registry no-such.example:5000: Get ...: dial tcp: '
           'lookup no-such.example on 10.255.255.53:53: no such host"')


def test_a_wrong_password_names_the_registry_the_user_and_the_fix():
    msg = registry.explain_failure(UNAUTHORIZED, DEST, ENV_CREDS, False)
    assert msg == ("registry 127.0.0.1:5999 refused the credentials for user edge (from "
                   "EDGEFORGE_REGISTRY_USER and EDGEFORGE_REGISTRY_PASSWORD); fix: check "
                   "EDGEFORGE_REGISTRY_USER and EDGEFORGE_REGISTRY_PASSWORD")
    from_file = Credentials("auth file /a.json (from REGISTRY_AUTH_FILE)", "edge",
                            authfile=Path("/a.json"))
    assert "fix: log in again: skopeo login --authfile /a.json 127.0.0.1:5999" in \
        registry.explain_failure(UNAUTHORIZED, DEST, from_file, False)
    anonymous = registry.explain_failure(UNAUTHORIZED, DEST, Credentials("skopeo's defaults"),
                                         False)
    assert anonymous.startswith("registry 127.0.0.1:5999 asks for credentials and skopeo's "
                                "defaults hold none for it; fix: set EDGEFORGE_REGISTRY_USER")


@pytest.mark.parametrize("output, says", [
    (REFUSED, "cannot reach registry 127.0.0.1:5999: connection refused"),
    (HTTP_ONLY, "speaks plain HTTP; edgeforge uses plain HTTP only for loopback"),
    (NO_HOST, "the host name 127.0.0.1 does not resolve"),
    ('msg="... x509: certificate signed by unknown authority"',
     "/etc/containers/certs.d/127.0.0.1:5999/ca.crt"),
    ('msg="... denied: requested access to the resource is denied"', "denied edge pushing to "
                                                                      "edge/infer"),
    ('msg="... dial tcp 10.0.0.5:443: i/o timeout"', "cannot reach registry 127.0.0.1:5999 (i/o "
                                                    "timeout)"),
    ('msg="writing manifest: manifest invalid: manifest invalid"', "does not accept the "
                                                                   "release's OCI image"),
])
def test_each_known_failure_is_a_sentence_with_a_fix(output: str, says: str):
    msg = registry.explain_failure(output, DEST, ENV_CREDS, True)
    assert msg is not None and says in msg and "fix: " in msg and PASSWORD not in msg


def test_a_digest_holding_401_is_not_taken_for_a_refusal():
    refused = REFUSED.replace("sha256:7df9", "sha256:a401f403")
    assert "connection refused" in registry.explain_failure(refused, DEST, ENV_CREDS, False)
    local = 'msg="open /d/e.oci/blobs/sha256/ab401: permission denied"'
    assert registry.explain_failure(local, DEST, ENV_CREDS, False) is None


def test_an_unknown_failure_is_left_to_the_runner_and_the_fatal_message_is_unwrapped():
    assert registry.explain_failure("level=fatal msg=\"disk full\"", DEST, ENV_CREDS, True) is None
    assert registry.last_message(["Copying blob", REFUSED]).startswith(
        'trying to reuse blob sha256:7df9 at destination: pinging container registry '
        '127.0.0.1:5997: Get "http://127.0.0.1:5997/v2/"')


def test_the_dry_run_line_says_where_how_and_with_whose_credentials():
    target = registry.PushTarget(DEST, ENV_CREDS, False)
    line = target.describe("the jetson-nx image")
    assert line == ("then push the jetson-nx image to 127.0.0.1:5999/edge/infer:<the release "
                    "version> (plain HTTP allowed (loopback); credentials: user edge (from "
                    "EDGEFORGE_REGISTRY_USER and EDGEFORGE_REGISTRY_PASSWORD))")


# ---- what is pushed -----------------------------------------------------------------------------------
def test_a_missing_release_or_index_is_a_usage_error(tmp_path: Path):
    with pytest.raises(UsageError, match="no release with a container image at .*run `invoke "
                                         "release --board BOARD --version VERSION` first"):
        registry.release_source(tmp_path / "jetson-nx" / "1.0.0")
    with pytest.raises(UsageError, match="no multi-board image index in"):
        registry.index_source(tmp_path / "index" / "1.0.0")


def test_an_index_source_names_its_index_digest_and_each_platform(tmp_path: Path):
    folder = tmp_path / "index" / "1.0.0"
    layout = oci.Layout(folder / "edge-infer-1.0.0.oci")
    arm64 = oci.Descriptor(oci.MEDIA_MANIFEST, "sha256:" + "a" * 64, 10,
                           platform=oci.Platform("linux", "arm64"))
    armv7 = oci.Descriptor(oci.MEDIA_MANIFEST, "sha256:" + "b" * 64, 10,
                           platform=oci.Platform("linux", "arm", "v7"))
    index = layout.put_json(oci.image_index([arm64, armv7]), oci.MEDIA_INDEX)
    layout.finish([oci.Descriptor(oci.MEDIA_INDEX, index.digest, index.size,
                                  annotations={oci.REF_NAME: "1.0.0"})])
    src = registry.index_source(folder)
    assert (src.ref, src.digest, src.index, src.version) == ("1.0.0", index.digest, True, "1.0.0")
    assert src.platforms == (("linux/arm64", arm64.digest), ("linux/arm/v7", armv7.digest))
    assert src.what == "the image index (linux/arm64, linux/arm/v7)"
    assert src.oci_ref == f"oci:{folder / 'edge-infer-1.0.0.oci'}:1.0.0"
    assert src.record == tmp_path / "index" / "1.0.0.push.json"


def test_the_record_lives_beside_the_release_and_keeps_one_entry_per_reference(tmp_path: Path):
    src = registry.Source("the jetson-nx image", tmp_path / "1.0.0" / "e.oci", "1.0.0-jetson-nx",
                          "sha256:" + "c" * 64, "1.0.0", False, tmp_path / "1.0.0.push.json")
    registry.record(src, registry.Pushed("127.0.0.1:5000/e:1.0.0", src.digest))
    registry.record(src, registry.Pushed("127.0.0.1:5000/e:1.0.0", src.digest))
    registry.record(src, registry.Pushed("127.0.0.1:5000/e:stable", src.digest))
    data = json.loads(src.record.read_text())
    assert sorted(data["pushes"]) == ["127.0.0.1:5000/e:1.0.0", "127.0.0.1:5000/e:stable"]
    assert data["pushes"]["127.0.0.1:5000/e:1.0.0"]["digest"] == src.digest
    assert registry.Pushed("127.0.0.1:5000/e:1.0.0", src.digest).pinned == \
        f"127.0.0.1:5000/e@{src.digest}"


@pytest.mark.parametrize("text", [
    "[]",
    '{"schema_version": 1, "version": "1.0.0", "pushes": {"127.0.0.1:5000/e:1.0.0": '
    '{"digest": "$(touch m)", "source": "e.oci", "index": false, "platforms": {}}}}',
    '{"schema_version": 1, "version": "1.0.0", "pushes": {"a b; touch m": {"digest": '
    '"sha256:' + "c" * 64 + '", "source": "e.oci", "index": false, "platforms": {}}}}',
    '{"schema_version": 1, "version": "2.0.0", "pushes": {}}',
    '{"schema_version": 1, "version": "1.0.0", "pushes": {}, "run": "sh -c x"}',
])
def test_a_push_record_edgeforge_did_not_write_is_refused_and_kept(tmp_path: Path, text: str):
    from edgeforge.core import StateFileError

    src = registry.Source("the jetson-nx image", tmp_path / "1.0.0" / "e.oci", "1.0.0-jetson-nx",
                          "sha256:" + "c" * 64, "1.0.0", False, tmp_path / "1.0.0.push.json")
    src.record.write_text(text)
    with pytest.raises(StateFileError, match=r"1\.0\.0\.push\.json is not a state file "
                                             r"edgeforge wrote .*Delete it"):
        registry.record(src, registry.Pushed("127.0.0.1:5000/e:1.0.0", src.digest))
    assert src.record.read_text() == text
