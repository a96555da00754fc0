"""Nothing app-specific in src/edgeforge (issue 23): the reference app's name, paths, model file
and service name appear only in its own descriptors and sources (apps/edge-infer/,
images/edge-infer/), in tests and in docs; edgeforge reads them from apps/<app>/app.yaml."""

from __future__ import annotations

from pathlib import Path

import edgeforge

PACKAGE = Path(edgeforge.__file__).resolve().parent
#: the reference app's name (and its Conan conf namespace), model file and install prefix
FORBIDDEN = ("edge-infer", "edge_infer", "pedestrian-grid", "/opt/edge-infer")


def occurrences(root: Path, words: tuple[str, ...]) -> list[str]:
    """file:line: word for every occurrence of a word in the files under root."""
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if "__pycache__" in path.parts:
            continue
        text = path.read_bytes().decode("utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            for word in words:
                if word in line:
                    found.append(f"{path.relative_to(root.parent)}:{number}: {word}: "
                                 f"{line.strip()[:100]}")
    return found


def test_no_file_of_edgeforge_names_the_reference_app():
    found = occurrences(PACKAGE, FORBIDDEN)
    assert not found, ("the reference app is named in edgeforge's code; read it from the app's "
                       "descriptor (ctx.app(), App.spec) instead, or write examples as <app>:\n"
                       + "\n".join(found))


def test_the_check_finds_a_name_and_says_where(tmp_path: Path):
    pkg = tmp_path / "pkg"
    (pkg / "wing").mkdir(parents=True)
    (pkg / "wing" / "mod.py").write_text('"""fine"""\nPROGRAM = "/opt/edge-infer/bin/x"\n')
    (pkg / "wing" / "tmpl.j2").write_text("{{ app }}\nuser.edge_infer:board\n")
    assert occurrences(pkg, FORBIDDEN) == [
        'pkg/wing/mod.py:2: edge-infer: PROGRAM = "/opt/edge-infer/bin/x"',
        'pkg/wing/mod.py:2: /opt/edge-infer: PROGRAM = "/opt/edge-infer/bin/x"',
        "pkg/wing/tmpl.j2:2: edge_infer: user.edge_infer:board",
    ]
