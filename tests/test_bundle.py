"""The Lambda bundle: real requirements from the package index through pip, real zips, the Docker builder in a real
engine (skipped with the reason when none answers or the test image is missing)."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloudorm.errors import CloudError, InvalidInput
from cloudorm.serverless import bundle as bundle_module
from cloudorm.serverless import bundle_docker, vendor
from cloudorm.serverless.bundle import MAX_ZIPPED, Bundle, build_bundle
from cloudorm.serverless.provided import PROVIDED, leave_out_provided, named
from cloudorm.serverless.runtimes import (
    RUNTIMES,
    check_architecture,
    check_handler_name,
    get_runtime,
    platform_tags,
)
from cloudorm.serverless.vendor import tag_compatible

BUILD_IMAGE = os.environ.get("CLOUDORM_BUILD_IMAGE", "cloudorm/lambda-build:python3.11")
"""The stand-in build image that .ci/lambda-build-image.sh makes (Debian, Python 3.11)."""

HANDLER = "import json\n\n\ndef handler(event, context):\n    return {'ok': True}\n"

CEXT_C = r"""
#include <Python.h>
static PyObject *add(PyObject *self, PyObject *args) {
    long a, b;
    if (!PyArg_ParseTuple(args, "ll", &a, &b)) return NULL;
    return PyLong_FromLong(a + b);
}
static PyMethodDef methods[] = {{"add", add, METH_VARARGS, "Add two integers."}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "cext", NULL, -1, methods};
PyMODINIT_FUNC PyInit_cext(void) { return PyModule_Create(&module); }
"""
CEXT_SETUP = ("from setuptools import Extension, setup\n\n"
              "setup(name='cext', version='1.0', ext_modules=[Extension('cext', ['cext.c'])])\n")


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One bundle cache for the test session, so vendored requirements are downloaded once."""
    return tmp_path_factory.mktemp("bundle-cache")


@pytest.fixture(autouse=True)
def cache_env(shared_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test builds into the shared cache unless it points ``CLOUDORM_CACHE_DIR`` elsewhere."""
    monkeypatch.setenv("CLOUDORM_CACHE_DIR", str(shared_cache))
    return shared_cache


@pytest.fixture
def src(tmp_path: Path) -> Path:
    """A source directory: a handler module, a helper package, and clutter that must stay out of the zip."""
    root = tmp_path / "src"
    (root / "lib").mkdir(parents=True)
    (root / "app.py").write_text(HANDLER)
    (root / "lib" / "__init__.py").write_text("VALUE = 1\n")
    (root / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (root / "run.sh").chmod(0o755)
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"\0")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / "lib" / "stale.pyc").write_bytes(b"\0")
    return root


@pytest.fixture(scope="session")
def cext_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local project with a C extension (``cext.add``): something only a compiler can provide."""
    root = tmp_path_factory.mktemp("cext-project")
    (root / "setup.py").write_text(CEXT_SETUP)
    (root / "cext.c").write_text(CEXT_C)
    return root


@pytest.fixture
def no_pip(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if the bundle module starts pip: input errors must come first."""
    def refuse(*args: str) -> Any:
        raise AssertionError(f"pip ran: {args}")
    monkeypatch.setattr(vendor, "_pip", refuse)


def wheel_tags(bundle: Bundle) -> dict[str, list[str]]:
    """The WHEEL tags of every distribution in the zip, by dist-info folder."""
    tags: dict[str, list[str]] = {}
    with zipfile.ZipFile(bundle.path) as z:
        for name in z.namelist():
            if name.endswith(".dist-info/WHEEL"):
                text = z.read(name).decode()
                tags[name.split("/")[0]] = [line.split(":", 1)[1].strip() for line in text.splitlines()
                                            if line.startswith("Tag:")]
    return tags


# ---- runtimes -----------------------------------------------------------------------------------------------------

def test_runtimes_and_their_glibc() -> None:
    assert list(RUNTIMES) == ["python3.10", "python3.11", "python3.12", "python3.13", "python3.14"]
    assert get_runtime("python3.11").glibc == (2, 26) and get_runtime("python3.12").glibc == (2, 34)
    assert get_runtime("python3.13").python == (3, 13)
    with pytest.raises(InvalidInput) as e:
        get_runtime("python2.7")
    assert e.value.field == "runtime" and "python2.7" in e.value.reason and "python3.12" in e.value.reason
    with pytest.raises(InvalidInput):
        get_runtime(None)


def test_architectures() -> None:
    assert check_architecture("arm64") == "arm64"
    for bad in ("aarch64", "amd64", None):
        with pytest.raises(InvalidInput) as e:
            check_architecture(bad)
        assert e.value.field == "architecture"


def test_platform_tags_newest_first_with_legacy_aliases() -> None:
    x86 = platform_tags(get_runtime("python3.12"), "x86_64")
    assert x86[0] == "manylinux_2_34_x86_64" and x86[-1] == "manylinux1_x86_64"
    assert x86[x86.index("manylinux_2_17_x86_64") + 1] == "manylinux2014_x86_64"
    assert x86[x86.index("manylinux_2_12_x86_64") + 1] == "manylinux2010_x86_64"
    assert len([t for t in x86 if t.startswith("manylinux_2_")]) == 34 - 5 + 1
    arm = platform_tags(get_runtime("python3.11"), "arm64")
    assert arm[0] == "manylinux_2_26_aarch64" and arm[-1] == "manylinux_2_5_aarch64"
    assert "manylinux2014_aarch64" in arm and not any("2010" in t or "manylinux1" in t for t in arm)
    assert all(t.endswith("_aarch64") for t in arm)


def test_handler_names() -> None:
    assert check_handler_name("app.handler") == ("app", "handler")
    assert check_handler_name("pkg.mod.func") == ("pkg.mod", "func")
    for bad in ("handler", "app.", ".handler", "app.my-handler", "1app.handler", "app.class", None, ""):
        with pytest.raises(InvalidInput) as e:
            check_handler_name(bad)
        assert e.value.field == "handler"


def test_wheel_tag_compatibility() -> None:
    py312, py311 = get_runtime("python3.12"), get_runtime("python3.11")
    assert tag_compatible("py3-none-any", py312, "arm64")
    assert tag_compatible("cp312-cp312-manylinux_2_17_aarch64", py312, "arm64")
    assert tag_compatible("cp312-cp312-manylinux2014_aarch64", py312, "arm64")
    assert tag_compatible("cp39-abi3-manylinux_2_17_x86_64", py311, "x86_64")
    assert not tag_compatible("cp312-cp312-manylinux_2_17_x86_64", py312, "arm64")     # other machine
    assert not tag_compatible("cp311-cp311-manylinux_2_17_aarch64", py312, "arm64")    # other Python
    assert not tag_compatible("cp311-cp311-manylinux_2_28_x86_64", py311, "x86_64")    # glibc newer than AL2's
    assert not tag_compatible("cp311-cp311-linux_x86_64", py311, "x86_64")             # built for a host
    assert tag_compatible("cp311-cp311-linux_x86_64", py311, "x86_64", allow_linux=True)
    assert not tag_compatible("cp312-cp312-musllinux_1_2_x86_64", py312, "x86_64")
    assert not tag_compatible("cp312-cp312-win_amd64", py312, "x86_64")


# ---- input errors come before pip ---------------------------------------------------------------------------------

@pytest.mark.usefixtures("no_pip")
@pytest.mark.parametrize(("change", "field", "words"), [
    ({"runtime": "python3.9"}, "runtime", ["python3.9", "supported"]),
    ({"runtime": "nodejs20.x"}, "runtime", ["nodejs20.x"]),
    ({"architecture": "aarch64"}, "architecture", ["aarch64"]),
    ({"handler": "app"}, "handler", ["module.function"]),
    ({"handler": "app.missing"}, "handler", ["app.py", "'missing'"]),
    ({"handler": "nope.handler"}, "handler", ["nope.py", "nope/__init__.py"]),
    ({"handler": "lib.VALUE"}, "handler", []),  # an assignment at top level is a name the module defines: fine
    ({"include": ["no-such-file.txt"]}, "include", ["no-such-file.txt"]),
    ({"include": ["{src}/app.py"]}, "include", ["app.py"]),
    ({"source": "{src}/missing"}, "source", ["missing"]),
    ({"requirements": "no-such-requirements.txt"}, "requirements", ["no-such-requirements.txt"]),
    ({"requirements": ["./no-such-project"]}, "requirements", ["no-such-project"]),
    ({"requirements": ["x @ file:///no-such-project"]}, "requirements", ["no-such-project"]),
    ({"requirements": ["six\nattrs"]}, "requirements", []),
    ({"builder": "podman"}, "builder", ["podman"]),
    ({"image": ""}, "image", []),
])
def test_bad_input_is_refused_before_pip(src: Path, change: dict[str, Any], field: str, words: list[str]) -> None:
    args: dict[str, Any] = {"source": src, "handler": "app.handler", "requirements": ["six"]}
    for key, value in change.items():
        args[key] = [v.format(src=src) for v in value] if isinstance(value, list) else \
            value.format(src=src) if isinstance(value, str) else value
    if change == {"handler": "lib.VALUE"}:
        args["requirements"] = None
        assert build_bundle(**args).names()
        return
    with pytest.raises(InvalidInput) as e:
        build_bundle(**args)
    assert e.value.field == field
    for word in words:
        assert word in str(e.value)


@pytest.mark.usefixtures("no_pip")
def test_handler_forms_found_by_parsing(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "mod.py").write_text(
        "from json import dumps as handle_a\n"
        "async def handle_b(event, context):\n    pass\n"
        "try:\n    import json as handle_c\nexcept ImportError:\n    pass\n"
        "def outer():\n    def inner(event, context):\n        pass\n")
    for function in ("handle_a", "handle_b", "handle_c"):
        assert "pkg/mod.py" in build_bundle(source=tmp_path, handler=f"pkg.mod.{function}").names()
    with pytest.raises(InvalidInput, match="inner"):
        build_bundle(source=tmp_path, handler="pkg.mod.inner")  # not at top level
    (tmp_path / "broken.py").write_text("def handler(:\n")
    with pytest.raises(InvalidInput, match="does not parse"):
        build_bundle(source=tmp_path, handler="broken.handler")


# ---- the zip ------------------------------------------------------------------------------------------------------

def test_a_single_file_goes_at_the_root(tmp_path: Path) -> None:
    script = tmp_path / "folder" / "my_script.py"
    script.parent.mkdir()
    script.write_text(HANDLER.replace("def handler", "def my_handler"))
    extra = tmp_path / "data.json"
    extra.write_text("{}")
    bundle = build_bundle(source=script, handler="my_script.my_handler", include=[extra])
    assert bundle.names() == ["data.json", "my_script.py"]
    assert bundle.pip_runs == 0 and bundle.runtime == "python3.12" and bundle.architecture == "x86_64"


def test_zip_layout_modes_and_timestamps(src: Path, tmp_path: Path) -> None:
    assets = tmp_path / "assets"
    assets.mkdir()
    (assets / "logo.txt").write_text("logo")
    (assets / "direct_url.json").write_text("{}")  # a name pip uses, but the user's file: shipped
    bundle = build_bundle(source=src, handler="app.handler", include=[assets])
    assert bundle.names() == ["app.py", "assets/direct_url.json", "assets/logo.txt", "lib/__init__.py", "run.sh"]
    with zipfile.ZipFile(bundle.path) as z:
        infos = {i.filename: i for i in z.infolist()}
    assert {i.date_time for i in infos.values()} == {(1980, 1, 1, 0, 0, 0)}
    assert {i.compress_type for i in infos.values()} == {zipfile.ZIP_DEFLATED}
    assert infos["run.sh"].external_attr >> 16 == 0o100755
    assert infos["app.py"].external_attr >> 16 == 0o100644
    assert bundle.sha256 == base64.b64encode(hashlib.sha256(bundle.read()).digest()).decode()
    assert bundle.size == len(bundle.read()) and bundle.unzipped_size == sum(i.file_size for i in infos.values())


def add_links(root: Path, outside: Path) -> None:
    """The links ``cloudorm.trees``' rule is about: in-tree ones (a folder, a file, a cycle), a dangling one, and a
    folder and a file outside ``root``."""
    outside.mkdir()
    (outside / "secret.txt").write_text("not yours\n")
    (outside / "pkg").mkdir()
    (outside / "pkg" / "util.py").write_text("X = 1\n")
    (root / "lib2").symlink_to(root / "lib", target_is_directory=True)       # a linked folder inside: followed
    (root / "lib" / "loop").symlink_to(root / "lib", target_is_directory=True)  # a cycle: walked once
    (root / "alias.py").symlink_to(root / "app.py")                           # a linked file inside: followed
    (root / "gone.txt").symlink_to(root / "nowhere.txt")                      # dangling: skipped
    (root / "pkg").symlink_to(outside / "pkg", target_is_directory=True)     # outside: only when asked
    (root / "secret.txt").symlink_to(outside / "secret.txt")


@pytest.mark.usefixtures("no_pip")
def test_links_out_of_the_source_are_refused_unless_asked(src: Path, tmp_path: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    add_links(src, tmp_path / "outside")
    with pytest.raises(InvalidInput) as e:
        build_bundle(source=src, handler="app.handler")
    assert e.value.field == "source" and "outside" in e.value.reason and "follow_links=True" in e.value.reason
    (src / "secret.txt").unlink()
    (src / "pkg").unlink()
    assert build_bundle(source=src, handler="app.handler").names() == [
        "alias.py", "app.py", "lib/__init__.py", "lib2/__init__.py", "run.sh"]
    assert "gone.txt" in caplog.text  # the dangling link is named in a warning
    extra = tmp_path / "inc"
    extra.mkdir()
    (extra / "pkg").symlink_to(tmp_path / "outside" / "pkg", target_is_directory=True)
    with pytest.raises(InvalidInput) as e:
        build_bundle(source=src, handler="app.handler", include=[extra])
    assert e.value.field == "include"


@pytest.mark.usefixtures("no_pip")
def test_follow_links_bundles_what_links_out_of_the_source_point_to(src: Path, tmp_path: Path) -> None:
    add_links(src, tmp_path / "outside")
    assert build_bundle(source=src, handler="app.handler", follow_links=True).names() == [
        "alias.py", "app.py", "lib/__init__.py", "lib2/__init__.py", "pkg/util.py", "run.sh", "secret.txt"]
    with pytest.raises(InvalidInput) as e:
        build_bundle(source=src, handler="app.handler", follow_links="yes")  # type: ignore[arg-type]
    assert e.value.field == "follow_links"


@pytest.mark.usefixtures("no_pip")
def test_a_function_follows_the_same_rule(src: Path, tmp_path: Path) -> None:
    import cloudorm

    add_links(src, tmp_path / "outside")
    s = cloudorm.Session()
    with s.count_requests() as c, pytest.raises(InvalidInput) as e:
        s.Function("linked", handler="app.handler", source=src, role="arn:aws:iam::123456789012:role/r").save()
    assert e.value.field == "source" and c.total == 0
    role = s.Role(f"linked-{os.getpid()}", service="lambda").save()
    fn = s.Function(f"linked-{os.getpid()}", handler="app.handler", source=src, role=role, follow_links=True).save()
    try:
        assert fn.bundle is not None and "pkg/util.py" in fn.bundle.names()
    finally:
        fn.delete()
        role.delete()


def test_same_inputs_same_bytes_in_two_caches(src: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    built = []
    for cache in ("one", "two"):
        monkeypatch.setenv("CLOUDORM_CACHE_DIR", str(tmp_path / cache))
        built.append(build_bundle(source=src, handler="app.handler", requirements=["six==1.17.0"]))
    first, second = built
    assert first.path != second.path and not first.cached and not second.cached
    assert first.pip_runs >= 1 and second.pip_runs >= 1
    assert first.read() == second.read() and first.sha256 == second.sha256
    assert "six.py" in first.names()
    with zipfile.ZipFile(first.path) as z:  # nothing in the zip names the build or cache folders
        for name in z.namelist():
            data = z.read(name)
            assert str(tmp_path).encode() not in data and str(src).encode() not in data, name
        assert not [n for n in z.namelist() if n.endswith(("direct_url.json", ".pyc")) or n.startswith("bin/")]


@pytest.mark.usefixtures("no_pip")
def test_the_cache_key_holds_what_changes_the_zip_and_nothing_else(src: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    first = build_bundle(source=src, handler="app.handler")
    moved = shutil.copytree(src, tmp_path / "elsewhere")
    variants: list[dict[str, Any]] = [{"runtime": "python3.11"}, {"architecture": "arm64"},
                                      {"builder": "docker", "image": "x/y:1"}, {"source": moved}]
    for args in variants:  # without requirements none of these changes a byte of the zip
        same = build_bundle(**{"source": src, "handler": "app.handler", **args})
        assert same.cached and same.path == first.path, args
        assert same.runtime == args.get("runtime", "python3.12")
    for path in moved.rglob("*"):  # as if checked out later under umask 077: other times, other modes
        if path.is_file():
            path.chmod(0o700 if path.name == "run.sh" else 0o600)
            os.utime(path, (1e9, 1e9))
    monkeypatch.setenv("CLOUDORM_CACHE_DIR", str(tmp_path / "other-cache"))
    rebuilt = build_bundle(source=moved, handler="app.handler")
    assert not rebuilt.cached and rebuilt.read() == first.read()
    (moved / "lib" / "__init__.py").chmod(0o755)   # a mode is part of the zip
    assert not build_bundle(source=moved, handler="app.handler").cached
    (moved / "run.sh").write_text("#!/bin/sh\necho bye\n")
    assert not build_bundle(source=moved, handler="app.handler").cached


def test_a_second_build_runs_pip_zero_times(src: Path) -> None:
    first = build_bundle(source=src, handler="app.handler", requirements=["six==1.16.0"])
    again = build_bundle(source=src, handler="app.handler", requirements=["six==1.16.0"])
    assert again.cached and again.pip_runs == 0 and again.path == first.path and again.sha256 == first.sha256
    (src / "app.py").write_text(HANDLER + "\nVERSION = 2\n")   # only the handler changed: re-zip, no pip
    changed = build_bundle(source=src, handler="app.handler", requirements=["six==1.16.0"])
    assert not changed.cached and changed.pip_runs == 0 and changed.sha256 != first.sha256
    with zipfile.ZipFile(changed.path) as z:
        assert b"VERSION = 2" in z.read("app.py") and "six.py" in z.namelist()


def test_requirements_file_relative_paths(src: Path, tmp_path: Path) -> None:
    (tmp_path / "base.txt").write_text("six==1.17.0  # pinned\n")
    (tmp_path / "requirements.txt").write_text("# the handler's needs\n-r base.txt\n\n")
    from_file = build_bundle(source=src, handler="app.handler", requirements=tmp_path / "requirements.txt")
    from_list = build_bundle(source=src, handler="app.handler", requirements=["six==1.17.0"])
    assert "six.py" in from_file.names()
    assert from_file.read() == from_list.read()


# ---- what Lambda's runtime provides ---------------------------------------------------------------------------------

def fake_dist(site: Path, name: str, files: dict[str, str], requires: tuple[str, ...] = ()) -> None:
    """A distribution as ``pip install --target`` leaves it: its files, METADATA and a RECORD listing them all."""
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    lines = [f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n", *(f"Requires-Dist: {r}\n" for r in requires)]
    (info / "METADATA").write_text("".join(lines))
    for rel, text in files.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_text(text)
    record = [f"{rel},sha256=x,1" for rel in files] + [f"{info.name}/METADATA,,", f"{info.name}/RECORD,,",
                                                      "../../bin/tool,,"]
    (info / "RECORD").write_text("\n".join(record) + "\n")


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """boto3's distributions (with their real dependency edges) beside a package of the user's."""
    root = tmp_path / "site"
    fake_dist(root, "boto3", {"boto3/__init__.py": "", "boto3/data/x.json": "{}"},
              ("botocore (<1.45,>=1.44)", "jmespath (<2.0.0,>=0.7.1)", "s3transfer (<0.20,>=0.19)"))
    fake_dist(root, "botocore", {"botocore/__init__.py": ""},
              ("jmespath", "python-dateutil (<3,>=2.1)", "urllib3 (!=2.2.0,<3,>=1.25.4) ; python_version >= '3.10'",
               "awscrt (==0.38.0) ; extra == 'crt'"))
    fake_dist(root, "s3transfer", {"s3transfer/__init__.py": ""}, ("botocore (<2,>=1.37.4)",))
    fake_dist(root, "jmespath", {"jmespath/__init__.py": ""})
    fake_dist(root, "python-dateutil", {"dateutil/__init__.py": "", "dateutil/tz/tz.py": ""}, ("six (>=1.5)",))
    fake_dist(root, "urllib3", {"urllib3/__init__.py": ""})
    fake_dist(root, "six", {"six.py": ""})
    fake_dist(root, "awscrt", {"awscrt/__init__.py": ""})
    fake_dist(root, "mine", {"mine/__init__.py": "", "dateutil/extra_by_mine.py": ""}, ("six",))
    (root / "bin").mkdir()
    (root / "bin" / "tool").write_text("#!/bin/sh\n")  # ../../bin/tool in RECORD points outside: never touched
    return root


def test_named_requirements() -> None:
    lines = ["boto3==1.35.0", "Python_Dateutil>=2", "-c /x/constraints.txt", "--index-url https://example.org",
             "/abs/local/project", "six @ https://example.org/six.whl", "https://example.org/pkg.whl",
             "urllib3[socks] ; python_version > '3'"]
    assert named(lines) == {"boto3", "python-dateutil", "six", "urllib3"}


def test_what_the_runtime_provides_is_removed_with_its_files_only(site: Path) -> None:
    removed = leave_out_provided(site, named(["mine==1.0"]))
    assert removed == sorted(PROVIDED)
    left = sorted(str(p.relative_to(site)) for p in site.rglob("*") if p.is_file())
    assert left == ["awscrt-1.0.dist-info/METADATA", "awscrt-1.0.dist-info/RECORD", "awscrt/__init__.py",
                    "bin/tool", "dateutil/extra_by_mine.py", "mine-1.0.dist-info/METADATA",
                    "mine-1.0.dist-info/RECORD", "mine/__init__.py"]
    assert not (site / "boto3").exists() and not (site / "dateutil" / "tz").exists()  # emptied folders go too


def test_a_named_provided_package_keeps_what_it_requires(site: Path) -> None:
    assert leave_out_provided(site, named(["boto3==1.44.0"])) == []  # boto3 needs all the others
    fresh = site.parent / "again"
    shutil.copytree(site, fresh)
    assert leave_out_provided(fresh, named(["python-dateutil==2.9.0"])) == ["boto3", "botocore", "jmespath",
                                                                            "s3transfer", "urllib3"]
    assert (fresh / "six.py").is_file() and (fresh / "dateutil" / "tz" / "tz.py").is_file()


def test_a_bundle_leaves_out_what_lambda_provides(src: Path) -> None:
    bundle = build_bundle(source=src, handler="app.handler", requirements=["ecdsa==0.19.1"])  # needs six
    names = bundle.names()
    assert "ecdsa/__init__.py" in names and "six.py" not in names
    assert not any(n.startswith("six-") for n in names)


def test_a_pinned_provided_package_is_vendored_as_pinned(src: Path) -> None:
    bundle = build_bundle(source=src, handler="app.handler", requirements=["ecdsa==0.19.1", "six==1.16.0"])
    names = bundle.names()
    assert "ecdsa/__init__.py" in names and "six.py" in names and "six-1.16.0.dist-info/RECORD" in names


# ---- Lambda-platform wheels -----------------------------------------------------------------------------------------

def test_binary_wheels_are_for_the_target_not_this_machine(src: Path) -> None:
    bundle = build_bundle(source=src, handler="app.handler", runtime="python3.12", architecture="arm64",
                          requirements=["markupsafe==3.0.2", "six==1.17.0"])
    so = [n for n in bundle.names() if n.endswith(".so")]
    assert so and all("cpython-312-aarch64-linux-gnu" in n for n in so), so
    tags = wheel_tags(bundle)
    markupsafe = next(v for k, v in tags.items() if k.lower().startswith("markupsafe"))
    assert all(t.startswith("cp312-cp312-manylinux") and t.endswith("_aarch64") for t in markupsafe), markupsafe
    assert tags["six-1.17.0.dist-info"] == ["py2-none-any", "py3-none-any"]
    assert not [n for n in bundle.names() if "x86_64" in n or "cpython-311" in n]


def test_amazon_linux_2_gets_wheels_for_its_glibc(src: Path) -> None:
    bundle = build_bundle(source=src, handler="app.handler", runtime="python3.11", architecture="x86_64",
                          requirements=["markupsafe==3.0.2"])
    for tag in next(iter(wheel_tags(bundle).values())):
        assert tag.startswith("cp311-cp311-") and tag_compatible(tag, get_runtime("python3.11"), "x86_64"), tag
    assert any(n.endswith("cpython-311-x86_64-linux-gnu.so") for n in bundle.names())


def test_a_pure_sdist_is_built_into_a_wheel(src: Path) -> None:
    bundle = build_bundle(source=src, handler="app.handler", runtime="python3.13", architecture="arm64",
                          requirements=["docopt==0.6.2"])                    # docopt ships only an sdist
    assert "docopt.py" in bundle.names()
    assert "py3-none-any" in wheel_tags(bundle)["docopt-0.6.2.dist-info"]  # pure, built here from the sdist
    assert bundle.pip_runs >= 2  # the install that found no wheel, the wheel build, the install that worked


def test_a_c_extension_is_refused_by_the_pip_builder(src: Path, cext_project: Path) -> None:
    before = sorted(p.name for p in cext_project.iterdir())
    with pytest.raises(InvalidInput) as e:
        build_bundle(source=src, handler="app.handler", runtime="python3.11", requirements=[str(cext_project)],
                     builder="pip")
    assert e.value.field == "requirements"
    assert str(cext_project) in e.value.reason and "builder='docker'" in e.value.reason  # names the project
    assert "would compile for this machine" in e.value.reason
    assert sorted(p.name for p in cext_project.iterdir()) == before  # built from a copy: no build/ or egg-info


def test_a_local_pure_project_is_vendored(src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "helpers"
    project.mkdir()
    (project / "setup.py").write_text("from setuptools import setup\n\nsetup(name='helpers', version='2.0', "
                                      "py_modules=['helpers'], entry_points={'console_scripts': "
                                      "['double=helpers:main']})\n")
    (project / "helpers.py").write_text("def double(x):\n    return 2 * x\n")
    (tmp_path / "requirements.txt").write_text("./helpers\n")
    bundle = build_bundle(source=src, handler="app.handler", architecture="arm64",
                          requirements=tmp_path / "requirements.txt", builder="pip")
    assert "helpers.py" in bundle.names() and "helpers-2.0.dist-info/WHEEL" in bundle.names()
    assert not (project / "build").exists()
    with zipfile.ZipFile(bundle.path) as z:  # no lines for the removed script and direct_url.json
        record = z.read("helpers-2.0.dist-info/RECORD").decode()
    assert "helpers.py," in record and "bin/" not in record and "direct_url" not in record, record
    moved = shutil.copytree(project, tmp_path / "moved" / "helpers")
    again = build_bundle(source=src, handler="app.handler", architecture="arm64",
                         requirements=[f"helpers @ {moved.as_uri()}"], builder="pip")
    assert again.cached and again.path == bundle.path  # where the project is does not matter, its contents do
    monkeypatch.setenv("CLOUDORM_CACHE_DIR", str(tmp_path / "other-cache"))
    elsewhere = build_bundle(source=src, handler="app.handler", architecture="arm64", requirements=[str(moved)],
                             builder="pip")
    assert not elsewhere.cached and elsewhere.read() == bundle.read()  # built again in other folders: same bytes
    (project / "helpers.py").write_text("def double(x):\n    return x + x\n")   # the project's code is an input
    rebuilt = build_bundle(source=src, handler="app.handler", architecture="arm64",
                           requirements=tmp_path / "requirements.txt", builder="pip")
    assert not rebuilt.cached and rebuilt.pip_runs >= 1
    with zipfile.ZipFile(rebuilt.path) as z:
        assert b"x + x" in z.read("helpers.py")


def test_unknown_package_names_pip_output(src: Path) -> None:
    with pytest.raises(InvalidInput) as e:
        build_bundle(source=src, handler="app.handler", requirements=["six==0.0.0.404"])
    assert e.value.field == "requirements" and "six==0.0.0.404" in e.value.reason
    assert "neither a wheel for python3.12 on x86_64 nor a source distribution" in e.value.reason


# ---- size limits --------------------------------------------------------------------------------------------------

def test_zipped_limit_with_an_incompressible_file(src: Path, tmp_path: Path) -> None:
    blob = tmp_path / "noise.bin"
    with blob.open("wb") as f:
        for _ in range(MAX_ZIPPED // (1 << 20) + 1):
            f.write(os.urandom(1 << 20))
    with pytest.raises(InvalidInput) as e:
        build_bundle(source=src, handler="app.handler", include=[blob])
    assert e.value.field == "bundle" and "MB zipped" in e.value.reason and "50 MB" in e.value.reason
    assert not list((Path(os.environ["CLOUDORM_CACHE_DIR"]) / "bundles").glob("*.tmp"))


def test_limits_apply_to_cached_bundles_too(src: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = build_bundle(source=src, handler="app.handler")
    monkeypatch.setattr(bundle_module, "MAX_UNZIPPED", bundle.unzipped_size - 1)
    with pytest.raises(InvalidInput, match="MB unzipped; Lambda allows"):
        build_bundle(source=src, handler="app.handler")
    monkeypatch.setattr(bundle_module, "MAX_UNZIPPED", 250 * 1024 * 1024)
    monkeypatch.setattr(bundle_module, "MAX_ZIPPED", bundle.size - 1)
    with pytest.raises(InvalidInput, match="a direct upload allows"):
        build_bundle(source=src, handler="app.handler")


# ---- the Docker builder -------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    """A client of the Docker engine with the test build image, or a skip saying what is missing."""
    try:
        import docker
        import docker.errors
    except ImportError:
        pytest.skip("the docker SDK is not installed (pip install 'cloudorm[docker]')")
    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except Exception as e:
        pytest.skip(f"no Docker engine answers ({type(e).__name__}); .ci/lambda-build-image.sh starts one")
    try:
        client.images.get(BUILD_IMAGE)
    except docker.errors.ImageNotFound:
        pytest.skip(f"the build image {BUILD_IMAGE} is missing; .ci/lambda-build-image.sh builds it")
    yield client
    client.close()


def run_in_image(client: Any, folder: Path, code: str) -> str:
    """Run ``python3 -c code`` in the build image with ``folder`` as /var/task (Lambda's code folder); the
    container is removed even when it cannot start."""
    container = client.containers.create(BUILD_IMAGE, ["python3", "-c", code], volumes={
        str(folder): {"bind": "/var/task", "mode": "ro"}}, working_dir="/var/task", network_mode="none")
    try:
        container.start()
        assert container.wait(timeout=120)["StatusCode"] == 0, container.logs().decode()
        out: bytes = container.logs(stdout=True, stderr=False)
        return out.decode().strip()
    finally:
        container.remove(force=True)


def build_image_containers(docker_client: Any) -> list[str]:
    """The ids of containers run from the build image itself (other tests' images descend from it: the hardening
    tests' machines, whose containers a filter on ``ancestor`` would count too)."""
    return sorted(c.id for c in docker_client.containers.list(all=True, filters={"ancestor": BUILD_IMAGE})
                  if c.attrs["Config"]["Image"] == BUILD_IMAGE)


def test_docker_builds_a_c_extension_that_imports(docker_client: Any, src: Path, cext_project: Path,
                                                  tmp_path: Path) -> None:
    def build_containers() -> int:
        return len(build_image_containers(docker_client))

    containers_before = build_containers()
    bundle = build_bundle(source=src, handler="app.handler", runtime="python3.11", requirements=[str(cext_project)],
                          builder="docker", image=BUILD_IMAGE)
    so = [n for n in bundle.names() if n.endswith(".so")]
    assert so == ["cext.cpython-311-x86_64-linux-gnu.so"], bundle.names()
    assert build_containers() == containers_before  # the build container is gone
    vendor = Path(os.environ["CLOUDORM_CACHE_DIR"], "bundles", "vendor")
    assert {p.stat().st_uid for p in vendor.rglob("*")} == {os.getuid()}    # owned by the caller
    task = tmp_path / "task"
    with zipfile.ZipFile(io.BytesIO(bundle.read())) as z:
        z.extractall(task)
    assert run_in_image(docker_client, task, "import cext, app; print(cext.add(2, 3), app.handler({}, None))") \
        == "5 {'ok': True}"
    again = build_bundle(source=src, handler="app.handler", runtime="python3.11", requirements=[str(cext_project)],
                         builder="docker", image=BUILD_IMAGE)
    assert again.cached and again.pip_runs == 0 and again.sha256 == bundle.sha256


def test_auto_falls_back_to_docker_for_a_c_extension(docker_client: Any, src: Path, cext_project: Path) -> None:
    bundle = build_bundle(source=src, handler="app.handler", runtime="python3.11",
                          requirements=[str(cext_project), "six==1.17.0"], image=BUILD_IMAGE)
    assert "cext.cpython-311-x86_64-linux-gnu.so" in bundle.names() and "six.py" in bundle.names()
    assert bundle.pip_runs >= 2  # the host's wheel build that showed a compiler is needed, then the container


def test_docker_refuses_an_image_of_another_python(docker_client: Any, src: Path) -> None:
    with pytest.raises(CloudError, match=re.escape("runs Python 3.11, not 3.12")):
        build_bundle(source=src, handler="app.handler", runtime="python3.12", requirements=["six==1.15.0"],
                     builder="docker", image=BUILD_IMAGE)


def test_a_build_container_over_its_time_is_stopped_and_removed(docker_client: Any, src: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    slow = tmp_path / "slow"
    slow.mkdir()
    (slow / "setup.py").write_text("import time\n\ntime.sleep(120)\n")   # pip runs it in the container
    containers_before = build_image_containers(docker_client)
    monkeypatch.setattr(bundle_docker, "_TIMEOUT", 2)
    with pytest.raises(CloudError, match="did not finish within 2 s") as e:
        build_bundle(source=src, handler="app.handler", runtime="python3.11", requirements=[str(slow)],
                     builder="docker", image=BUILD_IMAGE)
    assert not isinstance(e.value, InvalidInput)
    assert build_image_containers(docker_client) == containers_before


def test_docker_builder_without_an_engine_says_how_to_fix_it(src: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("docker", reason="the docker SDK is not installed (pip install 'cloudorm[docker]')")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    with pytest.raises(CloudError) as e:
        build_bundle(source=src, handler="app.handler", requirements=["six==1.14.0"], builder="docker")
    assert not isinstance(e.value, InvalidInput)
    assert "Docker engine" in str(e.value) and "builder='pip'" in str(e.value)


def test_auto_without_an_engine_names_the_package_that_needs_one(src: Path, cext_project: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("docker", reason="the docker SDK is not installed (pip install 'cloudorm[docker]')")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    with pytest.raises(InvalidInput) as e:
        build_bundle(source=src, handler="app.handler", requirements=[str(cext_project)])
    assert e.value.field == "requirements" and str(cext_project) in e.value.reason
    assert "would compile for this machine" in e.value.reason and "a Docker engine and none answers" in e.value.reason
