"""`invoke new-app`: a new app of the project, ready to build, test under qemu and release for
every board with no edits: apps/<name>/ (its descriptor, a CMake project in C++17 or a Meson
project in C11, with a library, a program and unit tests) and images/<name>/ (its installer
texts and its systemd template unit; the packages' other templates are edgeforge's defaults
until the app's folder has its own).

The program is a starting point that works end to end: it reads lines from a file (or
standard input) and writes each as a JSON object with its number (JSON Lines), with
--version naming the board and the source revision edgeforge builds it for.

Everything is written into a staging folder beside its place and renamed into place, and the
new descriptor is read back through the one loader before anything is renamed: a refused
name, an existing app or a failure leaves nothing behind.
"""

from __future__ import annotations

import datetime
import json
import re
from dataclasses import dataclass
from pathlib import Path

from edgeforge.core import DescriptorError, UsageError, rmtree

from .app import APP_NAME_PATTERN, APPS_DIR
from .apploader import RESERVED, load_app
from .deviceimage import IMAGES_DIR
from .installers import MAINTAINER_PATTERN
from .spdx import check_licence

KINDS = ("cmake", "meson")


@dataclass(frozen=True)
class NewApp:
    name: str
    kind: str
    summary: str
    license: str
    maintainer: str

    @property
    def ident(self) -> str:
        """The name as a C identifier (targets, macros)."""
        return re.sub(r"[^a-z0-9]", "_", self.name)

    @property
    def user(self) -> str:
        """The service's system user (letters, digits, '-')."""
        return re.sub(r"[^a-z0-9-]", "-", self.name)[:31]

    @property
    def args_variable(self) -> str:
        return self.ident.upper() + "_ARGS"


def check(name: str | None, kind: str | None, summary: str | None, license: str | None,
          maintainer: str | None) -> NewApp:
    """The options of `invoke new-app`, each refused with the fix."""
    if not name:
        raise UsageError("give the app's name: --name NAME (lower-case letters, digits, '.', '+' "
                         "and '-', starting with a letter or digit)")
    if not re.fullmatch(APP_NAME_PATTERN, name) or len(name) > 64:
        raise UsageError(f"--name {name!r}: an app's name uses lower-case letters, digits, '.', "
                         "'+' and '-', starts with a letter or digit, at most 64 characters "
                         f"(e.g. {re.sub(r'[^a-z0-9.+-]+', '-', name.lower()).strip('-.+') or 'my-app'})")
    if "+" in name:
        raise UsageError(f"--name {name}: its service unit is named after it, and a systemd "
                         f"unit's name has no '+': use {name.replace('+', '-')!r}")
    if name in RESERVED:
        raise UsageError(f"--name {name}: the name is one of the board's own build folders "
                         f"({', '.join(sorted(RESERVED))}); pick another")
    kind = kind or "cmake"
    if kind not in KINDS:
        raise UsageError(f"--kind {kind!r}: one of {', '.join(KINDS)} (for a Conan consumer of the "
                         "board's graph, copy the folder of an app with build.kind: conan)")
    summary = summary or "line-by-line JSON service for edge boards"
    if len(summary) < 10 or len(summary) > 79 or any(c in summary for c in "\n\r%"):
        raise UsageError("--summary: one line of 10 to 79 characters without '%'")
    if summary.lower().startswith(name):
        raise UsageError(f"--summary: say what it does without its name first (the packages' "
                         f"synopsis follows the name), e.g. {summary[len(name):].lstrip(' ,:-')!r}")
    license = license or "Apache-2.0"
    try:
        check_licence(license)
    except ValueError as exc:
        raise UsageError(f"--license {license!r}: {exc}") from None
    maintainer = maintainer or f"{name} maintainers <maintainers@example.org>"
    if not re.fullmatch(MAINTAINER_PATTERN, maintainer):
        raise UsageError(f"--maintainer {maintainer!r}: give 'Full Name <mail@example.org>'")
    return NewApp(name, kind, summary, license, maintainer)


def write(project_root: Path, new: NewApp) -> list[Path]:
    """Write apps/<name>/ and images/<name>/; returns the two folders."""
    root = Path(project_root)
    app_dir, images_dir = root / APPS_DIR / new.name, root / IMAGES_DIR / new.name
    for folder in (app_dir, images_dir):
        if folder.exists() or folder.is_symlink():
            raise UsageError(f"{folder.relative_to(root)} exists already: pick another --name "
                             "(nothing was written)")
    stage = {app_dir: app_dir.with_name(f".{new.name}.new"),
             images_dir: images_dir.with_name(f".{new.name}.new")}
    try:
        for final, staging in stage.items():
            rmtree(staging)
            files = app_files(new) if final == app_dir else image_files(new)
            for rel, text in files.items():
                path = staging / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
        # read back through the one loader, as the final folders will be
        for final, staging in stage.items():
            staging.rename(final)
        try:
            load_app(root, new.name)
        except DescriptorError as exc:  # a bug of this module: say so, keep nothing
            raise DescriptorError(f"the new app does not load ({exc}); nothing was kept") \
                from None
    except BaseException:
        # neither folder existed before (checked above): nothing of this call is kept
        for final, staging in stage.items():
            rmtree(staging)
            rmtree(final)
        raise
    return [app_dir, images_dir]


# ---- the files ---------------------------------------------------------------------------------
def _fill(text: str, new: NewApp) -> str:
    values = {"@NAME@": new.name, "@IDENT@": new.ident, "@SUMMARY@": new.summary,
              "@SUMMARY_YAML@": json.dumps(new.summary),
              "@LICENSE@": new.license, "@USER@": new.user, "@ARGS@": new.args_variable,
              "@KIND@": new.kind, "@MAINTAINER@": new.maintainer,
              "@SUITE@": "ctest" if new.kind == "cmake" else "meson_test",
              "@YEAR@": str(datetime.date.today().year)}
    for key, value in values.items():
        text = text.replace(key, value)
    return text


def app_files(new: NewApp) -> dict[str, str]:
    files = {"app.yaml": APP_YAML}
    files.update(CMAKE_FILES if new.kind == "cmake" else MESON_FILES)
    return {rel: _fill(text, new) for rel, text in files.items()}


def image_files(new: NewApp) -> dict[str, str]:
    return {rel: _fill(text, new) for rel, text in IMAGE_FILES.items()}


APP_YAML = """\
# yaml-language-server: $schema=../app.schema.json
# @NAME@: made by `invoke new-app --name @NAME@ --kind @KIND@`. It builds, tests under qemu and
# releases for every board as it is; make it yours (README: "Bringing your own app").
name: @NAME@
summary: @SUMMARY_YAML@
license: @LICENSE@                  # SPDX licence of your code
version: {from: @KIND@}             # the version of project() in its @KIND@ file

build:
  kind: @KIND@                      # built with the board's generated toolchain files
  configure_args: []

# Debian packages the app takes from the board's sysroot (headers and libraries), e.g.
# [libmosquitto-dev]; the device gets their runtime packages through the .deb's Depends
system_libraries: []

tests:
  @SUITE@: true                   # its unit tests and a run of the program, under qemu-user

install:
  prefix: /opt/@NAME@
  programs: [bin/@NAME@]

# a systemd template unit: @NAME@@<instance>.service, one per configuration file
services:
  - name: @NAME@
    unit_template: images/@NAME@/systemd/instance.service.j2
    config: /etc/@NAME@/{instance}.conf
    config_template: images/@NAME@/systemd/instance.conf.j2
    user: @USER@
    args_variable: @ARGS@

deliver:
  formats: [deb, rpm, run, dbg]     # each for the boards that list it under installers
  installer_info: images/@NAME@/installers.yaml
"""

CMAKE_FILES = {
    "CMakeLists.txt": """\
# @NAME@: @SUMMARY@
cmake_minimum_required(VERSION 3.16)
project(@IDENT@ VERSION 0.1.0 LANGUAGES CXX)

set(CMAKE_CXX_STANDARD 17)
set(CMAKE_CXX_STANDARD_REQUIRED ON)
set(CMAKE_CXX_EXTENSIONS OFF)

# edgeforge passes the board and the source revision (shown by --version)
set(EDGEFORGE_BOARD "host" CACHE STRING "the board the build is for")
set(EDGEFORGE_GIT_REVISION "unknown" CACHE STRING "the source revision")
option(@IDENT@_TESTS "build the unit tests" ON)
add_compile_options(-Wall -Wextra)

add_library(@IDENT@_core STATIC src/lines.cpp)
target_include_directories(@IDENT@_core PUBLIC src)

add_executable(@IDENT@ src/main.cpp)
set_target_properties(@IDENT@ PROPERTIES OUTPUT_NAME @NAME@)
target_link_libraries(@IDENT@ PRIVATE @IDENT@_core)
target_compile_definitions(@IDENT@ PRIVATE
  APP_VERSION="${PROJECT_VERSION}" APP_BOARD="${EDGEFORGE_BOARD}"
  APP_REVISION="${EDGEFORGE_GIT_REVISION}")
install(TARGETS @IDENT@ RUNTIME DESTINATION bin)

if(@IDENT@_TESTS)
  enable_testing()
  add_executable(@IDENT@_test tests/test_lines.cpp)
  target_link_libraries(@IDENT@_test PRIVATE @IDENT@_core)
  add_test(NAME lines COMMAND @IDENT@_test)
  add_test(NAME version COMMAND @IDENT@ --version)
  set_tests_properties(version PROPERTIES PASS_REGULAR_EXPRESSION "^@NAME@ 0\\\\.1\\\\.0 ")
  add_test(NAME bad-usage COMMAND @IDENT@ --no-such-option)
  set_tests_properties(bad-usage PROPERTIES WILL_FAIL TRUE)
endif()
""",
    "src/lines.hpp": """\
#pragma once
#include <cstddef>
#include <string>

namespace app {
// One input line as a JSON object: {"line":N,"text":"..."} (text escaped as JSON).
std::string json_line(std::size_t number, const std::string& text);
}  // namespace app
""",
    "src/lines.cpp": """\
#include "lines.hpp"

#include <cstdio>

namespace app {
std::string json_line(std::size_t number, const std::string& text) {
    std::string out = "{\\"line\\":" + std::to_string(number) + ",\\"text\\":\\"";
    for (unsigned char c : text) {
        switch (c) {
            case '"': out += "\\\\\\""; break;
            case '\\\\': out += "\\\\\\\\"; break;
            case '\\n': out += "\\\\n"; break;
            case '\\r': out += "\\\\r"; break;
            case '\\t': out += "\\\\t"; break;
            default:
                if (c < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\\\u%04x", c);
                    out += buf;
                } else {
                    out += static_cast<char>(c);
                }
        }
    }
    return out + "\\"}";
}
}  // namespace app
""",
    "src/main.cpp": """\
// @NAME@: @SUMMARY@
// Reads INPUT (a file, or - for standard input) and writes each line as a JSON object with its
// number, one per line. Exit codes: 0 done, 1 the input cannot be read, 2 bad usage.
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>

#include "lines.hpp"

int main(int argc, char** argv) {
    std::string input = "-";
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--version") {
            std::cout << "@NAME@ " APP_VERSION " (" APP_BOARD ", " APP_REVISION ")\\n";
            return 0;
        }
        if (a == "--help") {
            std::cout << "usage: @NAME@ [--version] [INPUT]\\n";
            return 0;
        }
        if (a.size() > 1 && a[0] == '-') {
            std::cerr << "@NAME@: unknown option " << a << "; see --help\\n";
            return 2;
        }
        input = a;
    }
    std::ifstream file;
    if (input != "-") {
        file.open(input);
        if (!file) {
            std::cerr << "@NAME@: cannot read " << input << ": " << std::strerror(errno) << "\\n";
            return 1;
        }
    }
    std::istream& in = input == "-" ? std::cin : file;
    std::string line;
    std::size_t n = 0;
    while (std::getline(in, line)) std::cout << app::json_line(++n, line) << "\\n";
    return 0;
}
""",
    "tests/test_lines.cpp": """\
#include <cstdio>
#include <string>

#include "lines.hpp"

static int failures = 0;

static void expect(const std::string& got, const std::string& want) {
    if (got != want) {
        std::fprintf(stderr, "got  %s\\nwant %s\\n", got.c_str(), want.c_str());
        ++failures;
    }
}

int main() {
    expect(app::json_line(1, "hello"), "{\\"line\\":1,\\"text\\":\\"hello\\"}");
    expect(app::json_line(2, "a \\"q\\" \\\\ b"),
           "{\\"line\\":2,\\"text\\":\\"a \\\\\\"q\\\\\\" \\\\\\\\ b\\"}");
    expect(app::json_line(3, std::string("\\t\\x01", 2)),
           "{\\"line\\":3,\\"text\\":\\"\\\\t\\\\u0001\\"}");
    return failures == 0 ? 0 : 1;
}
""",
}

MESON_FILES = {
    "meson.build": """\
# @NAME@: @SUMMARY@
project('@NAME@', 'c',
  version: '0.1.0',
  meson_version: '>=0.56',
  default_options: ['c_std=c11', 'warning_level=3', 'buildtype=release'])

conf = configuration_data()
conf.set_quoted('APP_VERSION', meson.project_version())
conf.set_quoted('APP_BOARD', get_option('board'))
conf.set_quoted('APP_REVISION', get_option('git_revision'))
version_h = configure_file(output: 'version.h', configuration: conf)

inc = include_directories('src')
core = static_library('@IDENT@_core', 'src/lines.c', include_directories: inc)
core_dep = declare_dependency(link_with: core, include_directories: include_directories('src'))

exe = executable('@NAME@', 'src/main.c', version_h, dependencies: core_dep, install: true)

if get_option('tests')
  test('lines', executable('@IDENT@_test', 'tests/test_lines.c', dependencies: core_dep))
  test('version', exe, args: ['--version'])
  test('bad-usage', exe, args: ['--no-such-option'], should_fail: true)
endif
""",
    "meson_options.txt": """\
option('board', type: 'string', value: 'host', description: 'the board the build is for')
option('git_revision', type: 'string', value: 'unknown', description: 'the source revision')
option('tests', type: 'boolean', value: true, description: 'build the unit tests')
""",
    "src/lines.h": """\
#ifndef APP_LINES_H
#define APP_LINES_H
#include <stddef.h>

/* One input line as a JSON object {"line":N,"text":"..."} into out (size cap, NUL-ended);
   returns its length, or 0 when it does not fit. */
size_t json_line(size_t number, const char *text, char *out, size_t cap);

#endif
""",
    "src/lines.c": """\
#include "lines.h"

#include <stdio.h>
#include <string.h>

size_t json_line(size_t number, const char *text, char *out, size_t cap)
{
    int n = snprintf(out, cap, "{\\"line\\":%zu,\\"text\\":\\"", number);
    size_t len;

    if (n < 0 || (size_t)n >= cap)
        return 0;
    len = (size_t)n;
    for (const unsigned char *p = (const unsigned char *)text; *p; ++p) {
        char esc[8];
        const char *add = esc;

        switch (*p) {
        case '"': add = "\\\\\\""; break;
        case '\\\\': add = "\\\\\\\\"; break;
        case '\\n': add = "\\\\n"; break;
        case '\\r': add = "\\\\r"; break;
        case '\\t': add = "\\\\t"; break;
        default:
            if (*p < 0x20)
                snprintf(esc, sizeof esc, "\\\\u%04x", *p);
            else {
                esc[0] = (char)*p;
                esc[1] = '\\0';
            }
        }
        if (len + strlen(add) + 3 > cap)
            return 0;
        memcpy(out + len, add, strlen(add));
        len += strlen(add);
    }
    memcpy(out + len, "\\"}", 3);
    return len + 2;
}
""",
    "src/main.c": """\
/* @NAME@: @SUMMARY@
   Reads INPUT (a file, or - for standard input) and writes each line as a JSON object with
   its number, one per line. Exit codes: 0 done, 1 the input cannot be read, 2 bad usage. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lines.h"
#include "version.h"

int main(int argc, char **argv)
{
    const char *input = "-";
    FILE *in = stdin;
    char line[65536], out[6 * 65536 + 64];
    size_t n = 0;

    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--version") == 0) {
            printf("@NAME@ %s (%s, %s)\\n", APP_VERSION, APP_BOARD, APP_REVISION);
            return 0;
        }
        if (strcmp(argv[i], "--help") == 0) {
            printf("usage: @NAME@ [--version] [INPUT]\\n");
            return 0;
        }
        if (argv[i][0] == '-' && argv[i][1] != '\\0') {
            fprintf(stderr, "@NAME@: unknown option %s; see --help\\n", argv[i]);
            return 2;
        }
        input = argv[i];
    }
    if (strcmp(input, "-") != 0 && !(in = fopen(input, "r"))) {
        fprintf(stderr, "@NAME@: cannot read %s: %s\\n", input, strerror(errno));
        return 1;
    }
    while (fgets(line, sizeof line, in)) {
        line[strcspn(line, "\\r\\n")] = '\\0';
        if (json_line(++n, line, out, sizeof out))
            puts(out);
    }
    if (in != stdin)
        fclose(in);
    return 0;
}
""",
    "tests/test_lines.c": """\
#include <stdio.h>
#include <string.h>

#include "lines.h"

static int failures;

static void expect(const char *text, const char *want)
{
    char out[256];

    if (!json_line(1, text, out, sizeof out) || strcmp(out, want) != 0) {
        fprintf(stderr, "got  %s\\nwant %s\\n", out, want);
        ++failures;
    }
}

int main(void)
{
    char tiny[8];

    expect("hello", "{\\"line\\":1,\\"text\\":\\"hello\\"}");
    expect("a \\"q\\" \\\\ b", "{\\"line\\":1,\\"text\\":\\"a \\\\\\"q\\\\\\" \\\\\\\\ b\\"}");
    expect("\\t\\x01", "{\\"line\\":1,\\"text\\":\\"\\\\t\\\\u0001\\"}");
    if (json_line(1, "too long for it", tiny, sizeof tiny) != 0)
        ++failures;
    return failures ? 1 : 0;
}
""",
}

IMAGE_FILES = {
    "installers.yaml": """\
# What @NAME@'s installers say (made by `invoke new-app`): package name, texts, the service.
# The packages' templates are edgeforge's defaults; put your own in this folder to replace one
# (deb/postinst.j2, doc/manpage.1.j2, rpm/package.spec.j2, run/header.sh.j2 ...).
package: @NAME@
summary: @SUMMARY_YAML@
description: |
  @NAME@ reads a file line by line and writes each line as a JSON object with its number.
  The program lives in /opt/@NAME@. The systemd template unit @NAME@@.service runs one
  instance per input, configured in /etc/@NAME@/INSTANCE.conf, as the unprivileged
  system user @USER@.
maintainer: @MAINTAINER@
vendor: @NAME@ authors
copyright: @YEAR@ The @NAME@ authors
section: misc
rpm_group: Applications/System
prefix: /opt/@NAME@
script_depends: [adduser]
service:
  user: @USER@
  supplementary_groups: []
  restart: on-failure
  restart_sec: 5
  start_limit_burst: 10
  start_limit_interval_sec: 300
  default_instance: default
  default_stream: /var/lib/@NAME@/default/input.txt
  args: []
run:
  default_prefix: /opt/@NAME@
""",
    "systemd/instance.conf.j2": """\
# {{ package }} instance "{{ service.default_instance }}":
#   systemctl enable --now {{ package }}@{{ service.default_instance }}
# Another input: copy this file to {{ conf_dir }}/NAME.conf, edit it, then
#   systemctl enable --now {{ package }}@NAME
# systemd reads it (EnvironmentFile=): one VAR=value per line, no shell syntax.

# The input file (not under /home or /tmp, which the unit hides)
STREAM={{ service.default_stream }}

# Options of {{ app }} (man {{ app }})
@ARGS@={{ service.args | join(" ") }}
""",
    "systemd/instance.service.j2": """\
# {{ unit }}: {{ app }} on one input per instance (installed by the {{ package }} package).
# An instance INSTANCE reads its input and options from {{ conf_dir }}/INSTANCE.conf:
#   cp {{ conf_dir }}/{{ service.default_instance }}.conf {{ conf_dir }}/INSTANCE.conf   (edit it)
#   systemctl enable --now {{ package }}@INSTANCE
# Its output goes to the journal: journalctl -u {{ package }}@INSTANCE
[Unit]
Description={{ app }} on %I
Documentation=man:{{ app }}(1)
AssertPathExists={{ conf_dir }}/%i.conf
StartLimitIntervalSec={{ service.start_limit_interval_sec }}
StartLimitBurst={{ service.start_limit_burst }}

[Service]
Type=simple
User={{ service.user }}
Group={{ service.user }}
{% if service.supplementary_groups %}SupplementaryGroups={{ service.supplementary_groups | join(" ") }}
{% endif %}EnvironmentFile={{ conf_dir }}/%i.conf
# /var/lib/{{ package }}/INSTANCE: the one folder the instance may write
StateDirectory={{ package }}/%i
ExecStart={{ program }} $@ARGS@ ${STREAM}
Restart={{ service.restart }}
RestartSec={{ service.restart_sec }}
# bad usage (2) does not heal by restarting
RestartPreventExitStatus=2
NoNewPrivileges=yes
CapabilityBoundingSet=
AmbientCapabilities=
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
LockPersonality=yes
RestrictAddressFamilies=AF_UNIX

[Install]
WantedBy=multi-user.target
""",
}
