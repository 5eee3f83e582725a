"""PEP 517 build backend of `pip install .`: configures and builds the module alisa._alisa with
the project's CMake (in build/, or $ALISA_BUILD_DIR: a tree scripts/build.sh already built is
reused), then packs <build>/python/alisa into a wheel. The metadata is pyproject.toml's
[project] table. Only the standard library: it runs offline, with build isolation or without."""

import base64
import hashlib
import os
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _project():
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["project"]


def _metadata(project):
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {project['name']}",
        f"Version: {project['version']}",
        f"Summary: {project['description']}",
        f"Requires-Python: {project['requires-python']}",
    ]
    lines += [f"Requires-Dist: {d}" for d in project.get("dependencies", [])]
    return "\n".join(lines) + "\n"


def _tag():
    version = f"cp{sys.version_info.major}{sys.version_info.minor}"
    platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return f"{version}-{version}-{platform}"


def _build_module():
    build = Path(os.environ.get("ALISA_BUILD_DIR", ROOT / "build"))
    package = build / "python" / "alisa"
    module = package / f"_alisa{sysconfig.get_config_var('EXT_SUFFIX')}"
    configure = ["cmake", "-S", str(ROOT), "-B", str(build), "-DALISA_BUILD_PYTHON=ON"]
    if not (build / "CMakeCache.txt").exists():
        configure += ["-DCMAKE_BUILD_TYPE=Release", f"-DPython3_EXECUTABLE={sys.executable}"]
    # A configured tree keeps its interpreter (the tests' too) while it builds for this Python's
    # ABI; only another ABI (another Python version) makes it switch to this one.
    for attempt in range(2):
        subprocess.run(configure, check=True, stdout=sys.stderr)
        subprocess.run(["cmake", "--build", str(build), "--target", "_alisa", "-j",
                        str(os.cpu_count() or 1)], check=True, stdout=sys.stderr)
        if module.exists():
            return package
        configure.append(f"-DPython3_EXECUTABLE={sys.executable}")
    raise RuntimeError(f"the build made no {module}")


def _record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def get_requires_for_build_wheel(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    project = _project()
    package = _build_module()
    name, version = project["name"], project["version"]
    dist_info = f"{name}-{version}.dist-info"
    files = {}
    for path in sorted(package.iterdir()):
        if path.is_file() and path.suffix != ".pyc":
            files[f"alisa/{path.name}"] = path.read_bytes()
    files[f"{dist_info}/METADATA"] = _metadata(project).encode()
    files[f"{dist_info}/WHEEL"] = (
        f"Wheel-Version: 1.0\nGenerator: alisa build_backend\nRoot-Is-Purelib: false\n"
        f"Tag: {_tag()}\n").encode()
    files[f"{dist_info}/top_level.txt"] = b"alisa\n"
    record = [_record_line(n, d) for n, d in files.items()] + [f"{dist_info}/RECORD,,"]
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel_name = f"{name}-{version}-{_tag()}.whl"
    with zipfile.ZipFile(Path(wheel_directory) / wheel_name, "w", zipfile.ZIP_DEFLATED) as wheel:
        for n, data in files.items():
            info = zipfile.ZipInfo(n, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (0o755 if n.endswith(".so") else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            wheel.writestr(info, data)
    return wheel_name
