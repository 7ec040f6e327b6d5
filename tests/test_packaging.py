"""Packaging: the source archive (sdist) and the wheel hold what they should,
a wheel builds from the unpacked sdist, and the wheel installs and imports.

The project is copied to a temporary folder first, so the builds leave no
``build/`` or ``*.egg-info`` behind in the checkout. Builds run without build
isolation (the ``test`` extra pins a setuptools that knows PEP 639), so no
network is needed. The install check puts the wheel into a target folder with
``pip install --target`` and imports it from a fresh virtual environment's
interpreter that sees that folder first and this environment's site-packages
only for the dependencies (torch is not installed a second time).
"""

import email.parser
import re
import shutil
import site
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Left out of the copy of the project that is built: environments, build
#: outputs, caches and data.
_NOT_COPIED = shutil.ignore_patterns(
    ".git", ".venv", ".ci-venv", ".data", ".hypothesis", ".pytest_cache", "__pycache__",
    "build", "dist", "*.egg-info", "_build", "auto_examples", "generated", "gen_modules",
    "*.png", "*.safetensors",
)


def _version():
    text = (ROOT / "skc2bin" / "__init__.py").read_text(encoding="utf-8")
    return re.search(r'^__version__ = "([^"]+)"', text, re.M).group(1)


def _run(args, cwd, timeout=300):
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, (
        f"{' '.join(map(str, args))} failed ({result.returncode}):\n"
        f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result


def _build_sdist(source, out):
    """The PEP 517 ``build_sdist`` hook of the project's backend, run in ``source``."""
    _run([sys.executable, "-c",
          "import sys, setuptools.build_meta as backend; print(backend.build_sdist(sys.argv[1]))",
          str(out)], cwd=source)
    (sdist,) = out.glob("*.tar.gz")
    return sdist


def _build_wheel(source, out):
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
          "--no-cache-dir", "-q", "-w", str(out), str(source)], cwd=out)
    (wheel,) = out.glob("*.whl")
    return wheel


def _wheel_metadata(wheel):
    with zipfile.ZipFile(wheel) as zf:
        (name,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        return email.parser.Parser().parsestr(zf.read(name).decode("utf-8"))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Builds once per module: ``{'sdist', 'wheel', 'sdist_wheel', 'tmp'}``."""
    pytest.importorskip("setuptools", minversion="77")
    tmp = tmp_path_factory.mktemp("packaging")
    source = tmp / "project"
    shutil.copytree(ROOT, source, ignore=_NOT_COPIED)
    (tmp / "sdist").mkdir()
    (tmp / "wheel").mkdir()
    (tmp / "sdist_wheel").mkdir()
    sdist = _build_sdist(source, tmp / "sdist")
    wheel = _build_wheel(source, tmp / "wheel")
    # A wheel built from the unpacked sdist: what `pip install skc2bin-x.tar.gz` does.
    with tarfile.open(sdist) as tf:
        # The "data" filter (refuses links and paths outside the folder) where Python has it.
        extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tf.extractall(tmp / "unpacked", **extra)
    (unpacked,) = (tmp / "unpacked").iterdir()
    sdist_wheel = _build_wheel(unpacked, tmp / "sdist_wheel")
    return {"sdist": sdist, "wheel": wheel, "sdist_wheel": sdist_wheel, "tmp": tmp}


def test_sdist_holds_the_sources_license_readme_and_changelog(built):
    sdist = built["sdist"]
    assert sdist.name == f"skc2bin-{_version()}.tar.gz"
    with tarfile.open(sdist) as tf:
        names = {name.split("/", 1)[1] for name in tf.getnames() if "/" in name}
    for name in ("LICENSE", "README.md", "CHANGELOG.md", "pyproject.toml", "PKG-INFO",
                 "skc2bin/__init__.py", "skc2bin/clusterer.py", "tests/conftest.py"):
        assert name in names, name
    assert not any("__pycache__" in name or name.endswith(".pyc") for name in names)


@pytest.mark.parametrize("which", ["wheel", "sdist_wheel"])
def test_wheel_holds_the_package_and_the_license(built, which):
    wheel = built[which]
    assert wheel.name == f"skc2bin-{_version()}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        dist_info = f"skc2bin-{_version()}.dist-info"
        assert "skc2bin/__init__.py" in names
        assert "skc2bin/clusterer.py" in names
        license_path = f"{dist_info}/licenses/LICENSE"
        assert license_path in names
        license_text = zf.read(license_path).decode("utf-8")
    assert license_text == (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert license_text.startswith("BSD 3-Clause License")
    assert "Copyright (c) 2026, skc2bin developers" in license_text
    # Only the package is installed: no tests, benchmarks or examples at the top level.
    assert {name.split("/")[0] for name in names} == {"skc2bin", dist_info}

    metadata = _wheel_metadata(wheel)
    assert metadata["Name"] == "skc2bin"
    assert metadata["Version"] == _version()
    assert metadata["License-Expression"] == "BSD-3-Clause"
    assert metadata.get_all("License-File") == ["LICENSE"]
    # The README is the long description.
    assert metadata["Description-Content-Type"] == "text/markdown"
    assert metadata.get_payload().lstrip().startswith("# skc2bin")


def test_wheel_installs_and_imports_in_a_fresh_environment(built):
    tmp = built["tmp"]
    target = tmp / "site"
    _run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-cache-dir", "-q",
          "--target", str(target), str(built["sdist_wheel"])], cwd=tmp)
    assert (target / "skc2bin" / "clusterer.py").is_file()

    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp)
    python = venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    # This environment's site-packages give the dependencies (numpy, torch, ...);
    # added to sys.path as plain folders, so their .pth files (such as the
    # editable install of this checkout) are not run.
    dependencies = [p for p in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"],
                                *site.getsitepackages()} if Path(p).is_dir()]
    code = (
        "import sys\n"
        "sys.path[:] = [sys.argv[1]] + [p for p in sys.path if 'site-packages' not in p]"
        " + sys.argv[2:]\n"
        "import skc2bin\n"
        "from skc2bin import C2BINClusterer\n"
        "print(skc2bin.__file__)\n"
        "print(skc2bin.__version__)\n"
        "print(C2BINClusterer(n_clusters=3).get_params()['n_clusters'])\n"
    )
    # -I: isolated (no PYTHONPATH, no user site, no script folder on sys.path);
    # -S: no site-packages of its own and no .pth processing.
    result = _run([str(python), "-I", "-S", "-c", code, str(target), *dependencies], cwd=tmp)
    file, version, n_clusters = result.stdout.split()
    assert Path(file).resolve().is_relative_to(target.resolve())
    assert not Path(file).resolve().is_relative_to(ROOT)
    assert version == _version()
    assert n_clusters == "3"
