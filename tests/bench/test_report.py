"""The bench report rewrites the tables between its markers and nothing else."""

from __future__ import annotations

from pathlib import Path

from zomehost.bench import report

MD = "| figure | verdict |\n|---|---|\n| `a` | met |\n\n| more | x |\n\nRun 2026 (9 s).\n"


def test_headline_is_the_verdict_table_and_the_run_line() -> None:
    table = "| figure | verdict |\n|---|---|\n| `a` | met |\n"
    assert report.headline(MD) == f"{table}\nRun 2026 (9 s).\n"


def test_refresh_replaces_only_between_the_markers(tmp_path: Path) -> None:
    page = tmp_path / "README.md"
    b, e = report.HEADLINE_BEGIN, report.HEADLINE_END
    page.write_text(f"before\n{b}\nold table\n{e}\nafter\n")
    report.refresh(page, b, e, "new table\n")
    assert page.read_text() == f"before\n{b}\nnew table\n{e}\nafter\n"
    report.refresh(page, b, e, "newer\n")  # again: the markers are kept
    assert page.read_text() == f"before\n{b}\nnewer\n{e}\nafter\n"


def test_refresh_leaves_a_page_without_markers_and_a_missing_page(tmp_path: Path) -> None:
    page = tmp_path / "README.md"
    page.write_text("no markers here\n")
    report.refresh(page, report.BEGIN, report.END, "x\n")
    assert page.read_text() == "no markers here\n"
    report.refresh(tmp_path / "absent.md", report.BEGIN, report.END, "x\n")
    assert not (tmp_path / "absent.md").exists()


def test_the_project_readme_carries_the_headline_markers() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert readme.count(report.HEADLINE_BEGIN) == 1 and readme.count(report.HEADLINE_END) == 1
    between = readme.split(report.HEADLINE_BEGIN)[1].split(report.HEADLINE_END)[0]
    for key in ("extism_over_inproc", "apps_100_over_1", "relaxed_writers_calls_per_s"):
        assert f"`{key}`" in between


def test_the_report_says_which_wasm_boundary_ran_the_calls() -> None:
    """Each figure that records its boundary (the in-process ones, the conductor processes'
    from their run.json) is checked: one not on the native boundary is named."""
    native = {
        "apps_100_over_1": {"median": 1.4, "boundary": "native"},
        "remote_call_p50_ms": {"median": 0.4, "boundary": "native"},
        "query_100k_ms": {"median": 0.5},
    }
    assert report.boundaries(native) == (
        "Zome calls ran on the native wasm boundary in every figure that records it (2)."
    )
    fell_back = {**native, "client_p50_over_ws_echo": {"median": 2.3, "boundary": "fast"}}
    assert report.boundaries(fell_back) == (
        "**Not on the native wasm boundary**: `client_p50_over_ws_echo` on fast."
    )
