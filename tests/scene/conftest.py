import os
import textwrap

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def repo():
    return REPO


@pytest.fixture
def write(tmp_path):
    """write(text, name='scene.xml') -> path of a file in tmp_path (text is dedented)."""

    def _write(text, name="scene.xml"):
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            p.write_bytes(text)
        else:
            p.write_text(textwrap.dedent(text).lstrip("\n"))
        return str(p)

    return _write


@pytest.fixture
def xml_scene(write):
    """xml_scene(body) -> path of '<scene version="3.0.0">body</scene>' (line 1 = <scene>)."""

    def _make(body, name="scene.xml"):
        body = textwrap.dedent(body).strip("\n")
        return write('<scene version="3.0.0">\n' + body + "\n</scene>\n", name)

    return _make
