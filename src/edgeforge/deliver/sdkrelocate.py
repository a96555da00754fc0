"""Relocating an unpacked SDK: its folder's name written into its files, only ever as data.

The SDK's generated files name the folder it was made for (SDK_PREFIX/<board>). After it is
unpacked elsewhere, relocate-sdk.sh writes the new folder into them. A folder's name can hold
anything but '/' and NUL: spaces, quotes, `$(...)`, backticks, ';', line breaks. Pasted as text
into a shell script it would run (environment-setup is sourced, the wrappers are executed);
into CMake or Meson it would change what they read. So relocation never edits text in place:

- each file that names the folder is kept as a template (share/edgeforge/relocate/<file>) in
  which every occurrence is a placeholder saying how that spot reads a value (`templates`);
- relocate-sdk.sh makes each file again from its template, with the folder's name written for
  each placeholder: a shell word (quoted only when needed), a word inside a single-quoted
  command fragment (CPP, LD, CONFIGURE_FLAGS: quoted for the shell that runs it later), a
  comment (one line), a CMake quoted argument, a Meson string;
- a language with no quoting (Conan profiles, pkg-config files) takes only plain names: a
  folder those files cannot hold is refused before anything changes.

`fill` is the same substitution in Python: the SDK's files as shipped are their templates
filled with SDK_PREFIX/<board>, and tests compare the script's output with it.
"""

from __future__ import annotations

import re

#: how the folder's name is written at each kind of spot
SH = "@EDGEFORGE_SDK_SH@"          # a shell word (unquoted context)
SH2 = "@EDGEFORGE_SDK_SH2@"        # inside a single-quoted shell word that is a command fragment
LINE = "@EDGEFORGE_SDK_LINE@"      # inside a comment
CMAKE = "@EDGEFORGE_SDK_CMAKE@"    # inside a CMake quoted argument ("...")
MESON = "@EDGEFORGE_SDK_MESON@"    # inside a Meson string ('...')
RAW = "@EDGEFORGE_SDK_RAW@"        # a language without quoting: Conan profiles, .pc files
PLACEHOLDERS = (SH, SH2, LINE, CMAKE, MESON, RAW)
MARK = "@EDGEFORGE_SDK_"
TEMPLATES = "share/edgeforge/relocate"
#: what a file without quoting can hold (a folder with anything else is refused)
RAW_SAFE = re.compile(r"[A-Za-z0-9 _./+,:@%-]+")
#: what a shell word holds unquoted (shlex.quote's set)
SH_SAFE = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")
LINE_BREAKS = ("\n", "\r")


class CannotRelocate(ValueError):
    """The folder cannot be written into some file of the SDK; the message says why."""


# ---- writing the folder's name (the script does the same) ------------------------------------
def sh_word(value: str) -> str:
    """One shell word for `value`, as the script writes it: bare when every character is safe
    (as shlex.quote), else single-quoted with each ' written '\\''."""
    if SH_SAFE.fullmatch(value):
        return value
    return "'" + value.replace("'", "'\\''") + "'"


def escaped(value: str, placeholder: str) -> str:
    """`value` written for a placeholder's spot, or CannotRelocate."""
    if placeholder == SH:
        return sh_word(value)
    if placeholder == SH2:
        return sh_word(value).replace("'", "'\\''")
    if placeholder == LINE:
        return value.replace("\n", " ").replace("\r", " ")
    if placeholder == CMAKE:
        if ";" in value:
            raise CannotRelocate("a ';' (CMake reads it as a list separator)")
        out = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
        return out.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    if placeholder == MESON:
        if any(c in value for c in LINE_BREAKS):
            raise CannotRelocate("a line break (Meson reads its machine file line by line)")
        return value.replace("\\", "\\\\").replace("'", "\\'")
    if placeholder == RAW:
        if not RAW_SAFE.fullmatch(value):
            raise CannotRelocate("a character other than letters, digits, spaces and _ . / + , "
                                 ": @ % - (Conan profiles and pkg-config files have no quoting)")
        return value
    raise ValueError(placeholder)


def fill(template: str, folder: str) -> str:
    """A file made from its template for the SDK in `folder`."""
    if MARK in folder:
        raise CannotRelocate(f"the text {MARK}")
    for ph in PLACEHOLDERS:
        if ph in template:
            template = template.replace(ph, escaped(folder, ph))
    return template


# ---- making the templates (pure) --------------------------------------------------------------
def kind_of(rel: str) -> str:
    """The language of an SDK file, by its place and name."""
    if rel in ("toolchain/environment-setup", "toolchain/pkg-config") or (
            rel.startswith("toolchain/bin/") and not rel.endswith(".cfg")):
        return "sh"
    if rel.endswith(".cmake"):
        return "cmake"
    if rel.endswith(".ini"):
        return "meson"
    return "raw"


def _shell_template(text: str, loc: str) -> str:
    """Each occurrence of `loc` as the placeholder for its quoting context, found by reading
    the script the way the shell does (quotes, backslashes, comments)."""
    out: list[str] = []
    state = "none"         # none, squote, dquote, comment
    i, n = 0, len(text)
    word_start = True
    while i < n:
        if text.startswith(loc, i):
            out.append({"none": SH, "squote": SH2, "comment": LINE,
                        "dquote": f'"{SH}"'}[state])
            i += len(loc)
            word_start = False
            continue
        c = text[i]
        if state == "comment":
            if c == "\n":
                state, word_start = "none", True
        elif state == "squote":
            if c == "'":
                state = "none"
        elif state == "dquote":
            if c == "\\" and i + 1 < n:
                out.append(text[i:i + 2])
                i += 2
                continue
            if c == '"':
                state = "none"
        else:
            if c == "\\" and i + 1 < n:
                out.append(text[i:i + 2])
                i += 2
                word_start = False
                continue
            if c == "'":
                state = "squote"
            elif c == '"':
                state = "dquote"
            elif c == "#" and word_start:
                state = "comment"
            word_start = c in " \t\n;&|()"
        out.append(c)
        i += 1
    return "".join(out)


def _cmake_template(text: str, loc: str, rel: str) -> str:
    out: list[str] = []
    state = "none"         # none, quoted, comment
    i, n = 0, len(text)
    while i < n:
        if text.startswith(loc, i):
            if state == "none":
                raise CannotRelocate(f"{rel}: the SDK's folder outside a quoted argument")
            out.append(CMAKE if state == "quoted" else LINE)
            i += len(loc)
            continue
        c = text[i]
        if state == "quoted" and c == "\\" and i + 1 < n:
            out.append(text[i:i + 2])
            i += 2
            continue
        if (state, c) in (("quoted", '"'), ("comment", "\n")):
            state = "none"
        elif state == "none" and c == '"':
            state = "quoted"
        elif state == "none" and c == "#":
            state = "comment"
        out.append(c)
        i += 1
    return "".join(out)


def _meson_template(text: str, loc: str, rel: str) -> str:
    lines = []
    for line in text.split("\n"):
        if line.lstrip().startswith(("#", ";")):
            lines.append(line.replace(loc, LINE))
            continue
        out, quoted, i = [], False, 0
        while i < len(line):
            if line.startswith(loc, i):
                if not quoted:
                    raise CannotRelocate(f"{rel}: the SDK's folder outside a string")
                out.append(MESON)
                i += len(loc)
                continue
            c = line[i]
            if quoted and c == "\\" and i + 1 < len(line):
                out.append(line[i:i + 2])
                i += 2
                continue
            if c == "'":
                quoted = not quoted
            out.append(c)
            i += 1
        lines.append("".join(out))
    return "\n".join(lines)


def template(rel: str, text: str, loc: str) -> str:
    """`text` (a file of the SDK made for `loc`) with each occurrence of `loc` a placeholder;
    `fill(template(...), loc) == text` up to quoting the shell reads the same."""
    kind = kind_of(rel)
    if kind == "sh":
        return _shell_template(text, loc)
    if kind == "cmake":
        return _cmake_template(text, loc, rel)
    if kind == "meson":
        return _meson_template(text, loc, rel)
    return text.replace(loc, RAW)


# ---- the script ---------------------------------------------------------------------------------
SCRIPT = r"""#!/bin/sh
# Generated by edgeforge: write this SDK's folder into its files (run once after unpacking,
# and again after moving the folder). Each file listed in share/edgeforge/relocate-files is
# made again from its template in share/edgeforge/relocate/, with the folder's name written
# the way that file's language reads it back: quoted for the shell, escaped for CMake and
# Meson. A folder that a file cannot hold (Conan profiles and pkg-config files have no
# quoting) is refused before anything changes. The name is only ever data: nothing in it runs.
set -eu
LC_ALL=C
export LC_ALL
nl='
'
cr=$(printf '\r')
tab=$(printf '\t')
q="'"
dir=${0%/*}
case $0 in */*) ;; *) dir=. ;; esac
[ -n "$dir" ] || dir=/
# the folder exactly, even one whose name ends with a line break
here=$(CDPATH='' cd -- "$dir" && pwd && echo x)
here=${here%"${nl}x"}
meta=$here/share/edgeforge

# replace_all TEXT OLD NEW: every OLD in TEXT replaced by NEW, into $out. The quoted parts of
# ${x%%"$2"*} and ${x#*"$2"} match themselves: OLD is text, never a pattern.
replace_all() {
  _rest=$1
  out=
  while :; do
    case $_rest in *"$2"*) ;; *) break ;; esac
    out=$out${_rest%%"$2"*}$3
    _rest=${_rest#*"$2"}
  done
  out=$out$_rest
}

refuse() {
  printf 'relocate-sdk.sh: cannot relocate to %s: %s cannot hold a folder name with %s;' \
    "$here" "$1" "$2" >&2
  printf ' nothing was changed. Unpack the SDK in a folder whose path has none\n' >&2
  exit 1
}

old=$(cat -- "$meta/location" && echo x)
old=${old%"${nl}x"}
[ "$old" = "$here" ] && exit 0

# the folder, written for each kind of spot
replace_all "$here" "$q" "$q\\$q$q"
case $here in
  *[!A-Za-z0-9_@%+=:,./-]*) sh1=$q$out$q ;;
  *) sh1=$here ;;
esac
replace_all "$sh1" "$q" "$q\\$q$q"
sh2=$out
replace_all "$here" "$nl" ' '
replace_all "$out" "$cr" ' '
line=$out
replace_all "$here" '\' '\\'
replace_all "$out" '"' '\"'
replace_all "$out" '$' '\$'
replace_all "$out" "$nl" '\n'
replace_all "$out" "$cr" '\r'
replace_all "$out" "$tab" '\t'
cmake=$out
replace_all "$here" '\' '\\'
replace_all "$out" "$q" "\\$q"
meson=$out
cmake_bad= meson_bad= raw_bad=
case $here in *';'*) cmake_bad="a ';' (CMake reads it as a list separator)" ;; esac
case $here in *"$nl"*|*"$cr"*) meson_bad="a line break (Meson reads its machine file line by line)" ;; esac
case $here in
  *[!A-Za-z0-9\ _./+,:@%-]*)
    raw_bad="a character other than letters, digits, spaces and _ . / + , : @ % -"
    raw_bad="$raw_bad (Conan profiles and pkg-config files have no quoting)" ;;
esac
case $here in *@EDGEFORGE_SDK_*) refuse "this script" "the text @EDGEFORGE_SDK_" ;; esac

# first every file is checked, then each is written (aside, then renamed into place)
for pass in check write; do
  while IFS= read -r f || [ -n "$f" ]; do
    [ -n "$f" ] || continue
    case /$f/ in
      *//*|*/../*|*/./*)
        printf 'relocate-sdk.sh: %s in relocate-files is not a file of this SDK\n' "$f" >&2
        exit 1 ;;
    esac
    tpl=$meta/relocate/$f
    text=$(cat -- "$tpl" && echo x)
    text=${text%x}
    if [ "$pass" = check ]; then
      case $text in *@EDGEFORGE_SDK_CMAKE@*) [ -z "$cmake_bad" ] || refuse "$f" "$cmake_bad" ;; esac
      case $text in *@EDGEFORGE_SDK_MESON@*) [ -z "$meson_bad" ] || refuse "$f" "$meson_bad" ;; esac
      case $text in *@EDGEFORGE_SDK_RAW@*) [ -z "$raw_bad" ] || refuse "$f" "$raw_bad" ;; esac
      continue
    fi
    replace_all "$text" @EDGEFORGE_SDK_SH@ "$sh1"
    replace_all "$out" @EDGEFORGE_SDK_SH2@ "$sh2"
    replace_all "$out" @EDGEFORGE_SDK_LINE@ "$line"
    replace_all "$out" @EDGEFORGE_SDK_CMAKE@ "$cmake"
    replace_all "$out" @EDGEFORGE_SDK_MESON@ "$meson"
    replace_all "$out" @EDGEFORGE_SDK_RAW@ "$here"
    new=$here/$f.relocating
    rm -f -- "$new"
    cp -p -- "$here/$f" "$new"
    printf '%s' "$out" > "$new"
    mv -f -- "$new" "$here/$f"
  done < "$meta/relocate-files"
done
printf '%s\n' "$here" > "$meta/location.new"
mv -f -- "$meta/location.new" "$meta/location"
printf 'SDK relocated from %s to %s\n' "$old" "$here"
"""
