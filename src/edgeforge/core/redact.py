"""Secrets are never echoed: passwords and tokens in URLs and text, replaced by `***`.

    redact_url("ssh://edge:S3cret@[::1]:22")        -> "ssh://edge:***@[::1]:22"
    redact_url("https://f.example/s?X-Amz-Signature=ab&X-Amz-Expires=60#part")
                                                    -> "https://f.example/s?X-Amz-Signature=***&X-Amz-Expires=***#***"
    redact("--push 'bob:S3cret@registry.example/team/app': ...")
                                                    -> "--push 'bob:***@registry.example/team/app': ..."

`redact_url` takes one URL: the password of its user info (`user:***@`; a user name that is
itself a token, `https://<token>@host`, becomes `***@`), every query value and the fragment.
`redact` finds in free text every URL (scheme://...), every registry reference without a scheme
(`user:password@host/...`), and every `name=value` whose name says it holds a credential
(`token=`, `X-Amz-Signature=`, `PASSWORD=`, `--password X`, `Authorization: Bearer X`, JSON
`"password": "..."`), and redacts them. Ordinary text stays as it is: paths,
`ssh://edge@host:2222`, `REPO@sha256:...`, `memcpy@GLIBC_2.17`, `build_type=Release`.

Pure functions; the task layer's error handler, the reporter and the runner apply `redact` to
everything they print or log (see commands.handled, report.Reporter, runner.Runner).
"""

from __future__ import annotations

import re

MASK = "***"

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
#: where a URL starts in free text: a scheme not glued to a longer word
_URL_START = re.compile(r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]*://")
_SPACE = re.compile(r"\s")
#: a user name that is itself a token (GitHub, GitLab, ... personal access tokens)
_TOKEN_USER = re.compile(r"(?=[A-Za-z0-9_-]*[0-9])(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]{20,}")
_CLOSING = {")": "(", "]": "[", "}": "{"}

#: `user:password@host` without a scheme (a registry reference, an scp-like target): the user at
#: the start of a word, no '/' before the '@' (so `pkg:conan/zlib@1.3`, `localhost:5000/app@sha256`
#: stay), a host name or an IPv6 address after it
_BARE_USERINFO = re.compile(
    r"(?<![^\s'\"=(,\[<])([A-Za-z0-9._~%+-]+):([^\s'\"/]*)@"
    r"(?=\[[0-9A-Fa-f:.%]*\]?|(?:[A-Za-z0-9-]+\.)*[A-Za-z0-9-]+(?:[:/\s'\",;)]|$))")

#: parameter names (URL query, `name=value` in text) that hold a credential
_SECRET_NAMES = (
    "x-amz-signature", "x-amz-credential", "x-amz-security-token", "x-goog-signature",
    "x-goog-credential", "signature", "sig", "token", "access_token", "refresh_token",
    "id_token", "auth_token", "private_token", "password", "passwd", "pwd", "secret",
    "client_secret", "api_key", "apikey", "api-key", "key", "access_key", "secret_key", "auth",
    "credential", "credentials", "creds", "passphrase")
_SECRET_SET = frozenset(_SECRET_NAMES)
#: environment-style names: CONAN_PASSWORD_TEAM=..., AWS_SECRET_ACCESS_KEY=..., GITHUB_TOKEN=...
_ENV_SECRET = re.compile(r"[A-Z0-9_]*(?:PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|ACCESS_KEY|"
                         r"PRIVATE_KEY|CREDENTIALS?)[A-Z0-9_]*")
#: a value already redacted, or a reference to one ($VAR, ${{ secrets.X }}), is left alone
_NOT_A_VALUE = r"(?!\*\*\*|\$)"
#: `name=`: the name is looked up, then its value (up to a '&' for a parameter) is replaced
_ASSIGN = re.compile(r"(?<![A-Za-z0-9_])([A-Za-z][A-Za-z0-9_-]*)=")
_PARAM_VALUE = re.compile(rf"{_NOT_A_VALUE}[^\s&'\"<>]+")
_ENV_VALUE = re.compile(rf"{_NOT_A_VALUE}[^\s'\"<>]+")
#: a command line's `--password VALUE` (the `--password=VALUE` form is a parameter above)
_FLAG = re.compile(
    r"(?i)(?<!\S)(--(?:[a-z0-9]+-)*(?:password|passwd|passphrase|token|secret|creds|credentials|api-key|"
    rf"apikey))(\s+){_NOT_A_VALUE}(?!-)\S+")
_JSON_FIELD = re.compile(
    r"(?i)(\"(?:password|passwd|token|secret|access_token|refresh_token|api_key|apikey|auth|"
    r"client_secret|identitytoken)\"\s*:\s*\")(?:[^\"\\]|\\.)*(\")")
_AUTH_HEADER = re.compile(
    r"(?i)\b((?:proxy-)?authorization\s*[:=]\s*(?:(?:bearer|basic|token|digest|negotiate)\s+)?+)"
    rf"{_NOT_A_VALUE}[^\s'\"]+")


def redact_url(url: str) -> str:
    """The URL with its password, query values and fragment replaced by `***`; the scheme,
    user name, host, port and path stay readable. Never fails, whatever the text."""
    m = _SCHEME.match(url)
    head = m.group(0) if m else ""
    body = url[len(head):]
    end = _authority_end(body)
    authority, rest = body[:end], body[end:]
    if "@" not in authority and head:
        # a password with a raw '/', '?' or '#' in it ends the authority early: user:pa/ss@host
        m = re.match(r"[^:@\[\]]*:(.*)", authority)
        at = body.find("@", end)
        if m and m.group(1) and not m.group(1).isdigit() and at > 0:
            stop = at + 1 + _authority_end(body[at + 1:])
            authority, rest = body[:stop], body[stop:]
    return head + _userinfo(authority, bool(head)) + _query_fragment(rest)


def _authority_end(body: str) -> int:
    ends = [i for i in (body.find(c) for c in "/?#") if i >= 0]
    return min(ends) if ends else len(body)


def _userinfo(authority: str, schemed: bool) -> str:
    info, at, hostport = authority.rpartition("@")
    if not at:
        return authority
    user, colon, _password = info.partition(":")
    if colon:
        return f"{user}:{MASK}@{hostport}"
    if schemed and _TOKEN_USER.fullmatch(user):
        return f"{MASK}@{hostport}"
    return authority


def _query_fragment(rest: str) -> str:
    path, hashsign, fragment = rest.partition("#")
    path, question, query = path.partition("?")
    out = path
    if question:
        out += "?" + "&".join(_query_item(item) for item in query.split("&"))
    if hashsign:
        out += "#" + (MASK if fragment else "")
    return out


def _query_item(item: str) -> str:
    name, eq, value = item.partition("=")
    if eq:
        return f"{name}={MASK}" if value else item
    return MASK if item else item  # a bare item may be a token on its own


def _trim(candidate: str) -> tuple[str, str]:
    """A URL found in text without the punctuation or quote that follows it."""
    end = len(candidate)
    while end:
        c = candidate[end - 1]
        if c in "'\".,;:!?>`" or (c in _CLOSING and candidate.count(_CLOSING[c], 0, end)
                                  < candidate.count(c, 0, end)):
            end -= 1
            continue
        break
    return candidate[:end], candidate[end:]


def _redact_urls(text: str) -> str:
    starts = [m.start() for m in _URL_START.finditer(text)]
    if not starts:
        return text
    out, pos = [], 0
    for i, start in enumerate(starts):
        space = _SPACE.search(text, start)
        end = space.start() if space else len(text)
        if i + 1 < len(starts):
            end = min(end, starts[i + 1])  # 'http://a','http://b': two URLs
        url, tail = _trim(text[start:end])
        out += [text[pos:start], redact_url(url), tail]
        pos = end
    out.append(text[pos:])
    return "".join(out)


def redact(text: str) -> str:
    """`text` with every credential it shows replaced by `***` (see the module's doc)."""
    if not text:
        return text
    text = _redact_urls(text) if "://" in text else text
    if "@" in text:
        text = _BARE_USERINFO.sub(rf"\1:{MASK}@", text)
    if "=" in text:
        text = _redact_assignments(text)
    if "--" in text:
        text = _FLAG.sub(rf"\1\2{MASK}", text)
    if '"' in text:
        text = _JSON_FIELD.sub(rf"\1{MASK}\2", text)
    if "uthorization" in text or "UTHORIZATION" in text:
        text = _AUTH_HEADER.sub(rf"\1{MASK}", text)
    return text


def _redact_assignments(text: str) -> str:
    out, pos = [], 0
    for m in _ASSIGN.finditer(text):
        if m.start() < pos:
            continue  # inside a value just replaced
        name = m.group(1)
        if name.lower() in _SECRET_SET:
            value = _PARAM_VALUE.match(text, m.end())
        elif _ENV_SECRET.fullmatch(name):
            value = _ENV_VALUE.match(text, m.end())
        else:
            continue
        if value:
            out += [text[pos:m.end()], MASK]
            pos = value.end()
    out.append(text[pos:])
    return "".join(out)
