"""The type stubs (_alisa.pyi, what editors complete from) name exactly what the module has."""

import ast
from pathlib import Path

import alisa
import alisa._alisa as module


def stub_names():
    tree = ast.parse((Path(alisa.__file__).parent / "_alisa.pyi").read_text())
    names = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            names[node.name] = {n.name for n in node.body
                                if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")}
        elif isinstance(node, ast.FunctionDef):
            names[node.name] = None
    return names


def test_stubs_match_the_module():
    stubs = stub_names()
    assert set(stubs) == {n for n in dir(module) if not n.startswith("_")}
    for name, members in stubs.items():
        if members is None or name == "Error":  # Error's members are Exception's
            continue
        actual = {n for n in dir(getattr(module, name)) if not n.startswith("_")}
        assert members == actual, name
    assert set(alisa.__all__) >= set(stubs)
