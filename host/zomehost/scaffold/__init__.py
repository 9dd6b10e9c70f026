"""Scaffold zomes and apps (``zomehost new``) and build them (``zomehost build``).

Templates are package data in ``templates/``; the SDKs and toolchains are found by
:mod:`zomehost.scaffold.sdk`.
"""

from zomehost.scaffold.build import Built, build_app, plan
from zomehost.scaffold.errors import BuildError, ScaffoldError
from zomehost.scaffold.new import Lang, Scaffolded, new_app, new_zome
from zomehost.scaffold.sdk import Sdks, find_sdks

__all__ = [
    "BuildError",
    "Built",
    "Lang",
    "ScaffoldError",
    "Scaffolded",
    "Sdks",
    "build_app",
    "find_sdks",
    "new_app",
    "new_zome",
    "plan",
]
