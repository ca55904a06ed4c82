"""Reports written to a folder draw diagrams offline, or say plainly how to get the bundle."""

from __future__ import annotations

from freshpoc_tasks.reporting import RepositoryReport, offline, render_repository_report

REPORT = RepositoryReport("local/x", "a" * 40, counts={"file": 2}, languages={"Python": 2},
                          module_edges=[("x.a", "x.b")])


def test_bundle_is_copied_next_to_the_report_and_loaded_by_relative_url(tmp_path):
    bundle = tmp_path / "cache" / "mermaid.min.js"
    bundle.parent.mkdir()
    bundle.write_text("window.mermaid={initialize(){}};")
    out = tmp_path / "out"
    out.mkdir()
    src, note = offline.ship_bundle(out, bundle)
    assert (src, note) == ("mermaid.min.js", "")
    assert (out / "mermaid.min.js").read_text() == bundle.read_text()
    _, page = render_repository_report(REPORT, mermaid_src=src, mermaid_note=note)
    assert '<script src="mermaid.min.js"></script>' in page and "mermaid-note" not in page
    assert offline.ship_bundle(out, bundle) == (src, "")  # a second report reuses the copy


def test_without_a_bundle_the_page_says_how_to_get_it_in_one_visible_line(tmp_path, monkeypatch):
    monkeypatch.setattr(offline, "find_bundle", lambda: None)
    src, note = offline.ship_bundle(tmp_path)
    assert not (tmp_path / "mermaid.min.js").exists()
    assert "freshpoc stack up" in note and "npm install mermaid@" in note
    md, page = render_repository_report(REPORT, mermaid_src=src, mermaid_note=note)
    assert page.count('<p id="mermaid-note" class="note">') == 1 and "hidden" not in page
    assert "if(window.mermaid)" in page  # no error when the script is absent; the note goes if it loads
    assert '<pre class="mermaid">flowchart' in page  # the diagram stays readable as text
    assert "mermaid-note" not in md


def test_find_bundle_honours_an_explicit_path(tmp_path, monkeypatch):
    bundle = tmp_path / "m.js"
    bundle.write_text("x")
    monkeypatch.setenv(offline.BUNDLE_ENV, str(bundle))
    assert offline.find_bundle() == bundle
