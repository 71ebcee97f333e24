"""`check --fix`: exact-position edits, byte for byte elsewhere, in every format and line-ending style;
refusals leave the file unchanged; `check` itself resolves names before torch and suggests --fix only
when it can change something.

Every round trip builds the original and the expected bytes from one template (``@PM@``-style markers
spliced with the wrong and the right value), so the test states exactly which characters may change.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest
import yaml

from tresnet_zoo import CheckFailedError, load_index
from tresnet_zoo.check import check_index, run_check
from tresnet_zoo.fix import FixError, _loader_class, apply_fixes, plan_fixes

from .helpers.paths import PYTHON, REPO, UPSTREAM, python_env

pytest.importorskip("torch")

M_PARAMS, L_PARAMS = 31389032, 55989256  # what the reference model measures
M_WRONG, L_WRONG = 41282200, 53456696  # the upstream page's counts


def fill(template: str, **values) -> str:
    for key, value in values.items():
        template = template.replace(f"@{key}@", str(value))
    return template


YAML = [
    "# a model index{C}",
    "Models:",
    "- Name: tresnet_m",
    "  Metadata:",
    "@INS@    Parameters: {Q}@PM@{Q}   # counted by hand{C}",
    "    FLOPs: 5736545792",
    "    File Size: 125861314",
    "    Image Size: 224",
    "  Weights: https://example.org/tresnet_m-0123abcd.pth",
    "- Name: tresnet_l",
    "  Metadata:",
    "    FLOPs: 10877566880",
    "    Parameters: {Q}@PL@{Q}",
    "    File Size: 224440219",
    "    Image Size: 224",
    "  Weights: https://example.org/tresnet_l-0123abcd.pth",
    "",
]


def yaml_template(newline: str = "\n", quote: str = "", comment: str = "") -> str:
    return newline.join(YAML).replace("{Q}", quote).replace("{C}", comment)


def round_trip(write, cli, name: str, template: str, *, expect_code: int = 0, **markers) -> bytes:
    """Write the template with the wrong values, run `check --fix`, compare with the right values."""
    original = fill(template, PM=M_WRONG, PL=L_WRONG, INS="", **markers)
    expected = fill(template, PM=M_PARAMS, PL=L_PARAMS, INS="", **markers)
    assert original != expected
    path = write(name, original.encode("utf-8"))
    result = cli("check", "--index", path, "--fix")
    assert result.code == expect_code, result.text
    assert path.read_bytes() == expected.encode("utf-8")
    return path.read_bytes()


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR"])
def test_yaml_round_trip_keeps_every_other_byte(write, cli, newline):
    round_trip(write, cli, "index.yml", yaml_template(newline))


@pytest.mark.parametrize("quote", ["'", '"'])
def test_quoted_values_stay_quoted(write, cli, quote):
    out = round_trip(write, cli, "index.yml", yaml_template(quote=quote))
    assert f"Parameters: {quote}{M_PARAMS}{quote}".encode() in out


@pytest.mark.parametrize("breaks", ["\u2028", "\x85", "\u2029"], ids=["LS", "NEL", "PS"])
def test_unicode_line_breaks_in_comments_do_not_shift_edits(write, cli, breaks):
    # YAML 1.1 ends a line at U+2028/NEL/U+2029: line numbers shift, character positions do not
    round_trip(write, cli, "index.yml", yaml_template(comment=f" note{breaks}# more"))


def test_byte_order_mark_is_kept(write, cli):
    round_trip(write, cli, "index.yml", "\ufeff" + yaml_template("\r\n"))


def _json_template(indent: int | None) -> str:
    data = {
        "Models": [
            {
                "Name": "tresnet_m",
                "Metadata": {"Parameters": "@PM@", "FLOPs": 5736545792, "File Size": 125861314, "Image Size": 224},
                "Weights": "https://example.org/tresnet_m-0123abcd.pth",
            },
            {
                "Name": "tresnet_l",
                "Metadata": {"Parameters": "@PL@", "FLOPs": 10877566880, "File Size": 224440219, "Image Size": 224},
                "Weights": "https://example.org/tresnet_l-0123abcd.pth",
            },
        ]
    }
    return json.dumps(data, indent=indent).replace('"@PM@"', "@PM@").replace('"@PL@"', "@PL@")


@pytest.mark.parametrize("indent", [None, 2], ids=["one-line", "pretty"])
def test_json_round_trip(write, cli, indent):
    template = _json_template(indent)
    if indent is None:
        assert template.count("\n") == 0  # both entries on one line: a line-based edit cannot tell them apart
    round_trip(write, cli, "index.json", template)


def test_one_line_json_with_the_same_wrong_value_twice(write, cli):
    """Both entries say 41282200 on one line; each gets its own measured count."""
    template = _json_template(None)
    original = fill(template, PM=M_WRONG, PL=M_WRONG)
    path = write("index.json", original.encode())
    assert cli("check", "--index", path, "--fix").code == 0
    assert path.read_bytes() == fill(template, PM=M_PARAMS, PL=L_PARAMS).encode()
    models = json.loads(path.read_text())["Models"]
    assert [m["Metadata"]["Parameters"] for m in models] == [M_PARAMS, L_PARAMS]


@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["LF", "CRLF"])
def test_markdown_page_round_trip(write, cli, newline):
    """The upstream page: six Parameters corrected inside the HTML comment, every other byte as it was."""
    text = UPSTREAM.read_text(encoding="utf-8").replace("\n", newline)
    corrections = {53456696: 55989256, 41282200: 31389032, 29278464: 31389032, 75646610: 78436244}
    template = text
    for n, (wrong, right) in enumerate(corrections.items()):
        assert text.count(f"Parameters: {wrong}") == text.count(str(wrong)) >= 1
        template = template.replace(f"Parameters: {wrong}", f"Parameters: @W{n}@")
    original = fill(template, **{f"W{n}": w for n, w in enumerate(corrections)})
    expected = fill(template, **{f"W{n}": r for n, r in enumerate(corrections.values())})
    assert original == text
    path = write("tresnet.md", original.encode())
    result = cli("check", "--index", path, "--fix")
    assert result.code == 1  # tresnet_xl_448's Weights and File Size are not measurable: still wrong
    assert path.read_bytes() == expected.encode()
    assert "6 value(s) written" in result.err


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR"])
def test_missing_parameters_line_is_inserted_with_the_files_newline(write, cli, newline):
    template = yaml_template(newline).replace(f"    Parameters: @PM@   # counted by hand{newline}", "")
    original = fill(template, PL=L_WRONG, INS="")
    expected = fill(template, PL=L_PARAMS, INS=f"    Parameters: {M_PARAMS}{newline}")
    path = write("index.yml", original.encode())
    assert cli("check", "--index", path, "--fix").code == 0
    assert path.read_bytes() == expected.encode()


@pytest.mark.parametrize(
    "name, metadata, inserted",
    [
        (
            "index.yml",
            "  Metadata: {@INS@FLOPs: 5736545792, File Size: 125861314, Image Size: 224}\n",
            f"Parameters: {M_PARAMS}, ",
        ),
        (
            "index.yml",
            '  Metadata: {@INS@"FLOPs": 5736545792, "File Size": 125861314, "Image Size": 224}\n',
            f'"Parameters": {M_PARAMS}, ',
        ),
    ],
)
def test_missing_key_in_a_flow_mapping_becomes_its_first_pair(write, cli, name, metadata, inserted):
    template = "Models:\n- Name: tresnet_m\n" + metadata + "  Weights: https://example.org/tresnet_m-0123abcd.pth\n"
    path = write(name, fill(template, INS="").encode())
    assert cli("check", "--index", path, "--fix").code == 0
    assert path.read_bytes() == fill(template, INS=inserted).encode()


def test_missing_key_in_json_one_line_and_pretty(write, cli):
    one = (
        '{"Models": [{"Name": "tresnet_m", "Metadata": {@INS@"FLOPs": 5736545792, "File Size": 125861314, '
        '"Image Size": 224}, "Weights": "https://example.org/tresnet_m-0123abcd.pth"}]}'
    )
    path = write("one.json", fill(one, INS="").encode())
    assert cli("check", "--index", path, "--fix").code == 0
    assert path.read_bytes() == fill(one, INS=f'"Parameters": {M_PARAMS}, ').encode()

    pretty = (
        '{\r\n  "Models": [\r\n    {\r\n      "Name": "tresnet_m",\r\n      "Metadata": {\r\n@INS@'
        '        "FLOPs": 5736545792,\r\n        "File Size": 125861314,\r\n        "Image Size": 224\r\n'
        '      },\r\n      "Weights": "https://example.org/tresnet_m-0123abcd.pth"\r\n    }\r\n  ]\r\n}\r\n'
    )
    path = write("pretty.json", fill(pretty, INS="").encode())
    assert cli("check", "--index", path, "--fix").code == 0
    assert path.read_bytes() == fill(pretty, INS=f'        "Parameters": {M_PARAMS},\r\n').encode()


def test_flops_outside_tolerance_are_fixed_too(write, cli):
    template = yaml_template().replace("FLOPs: 5736545792", "FLOPs: @FM@")
    path = write("index.yml", fill(template, PM=M_PARAMS, PL=L_PARAMS, INS="", FM=6000000000).encode())
    first = cli("check", "--index", path)
    assert first.code == 1 and "--fix" in first.err
    assert cli("check", "--index", path, "--fix").code == 0
    assert path.read_bytes() == fill(template, PM=M_PARAMS, PL=L_PARAMS, INS="", FM=5736545792).encode()


# --- refusals: a clear error, the file unchanged -------------------------------------------------------------


def assert_refused(cli, path, code: int, *fragments: str) -> None:
    before = path.read_bytes()
    result = cli("check", "--index", path, "--fix")
    assert result.code == code, result.text
    assert path.read_bytes() == before
    errors = [line for line in result.err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.err
    for fragment in fragments:
        assert fragment in errors[0]


def test_a_value_shared_through_an_alias_is_not_rewritten(write, cli):
    path = write(
        "index.yml",
        yaml_template()
        .replace("Parameters: @PM@", "Parameters: &count @PM@")
        .replace("Parameters: @PL@", "Parameters: *count")
        .replace("@PM@", str(M_WRONG))
        .replace("@INS@", ""),
    )
    assert_refused(cli, path, 1, "tresnet_m > Metadata > Parameters", "alias", "nothing was", str(M_PARAMS))


def test_an_entry_without_its_own_metadata_is_not_guessed_at(write, cli):
    path = write(
        "index.yml",
        """
        Collections:
        - Name: C
          Metadata: {Parameters: 1, FLOPs: 5736545792, File Size: 125861314, Image Size: 224}
        Models:
        - Name: tresnet_m
          In Collection: C
          Weights: https://example.org/tresnet_m-0123abcd.pth
    """,
    )
    assert_refused(cli, path, 1, "tresnet_m > Metadata > Parameters", "no Metadata mapping of its own")


@pytest.mark.parametrize("target", ["file", "folder"])
def test_read_only_index_or_folder_is_refused_with_the_reason(tmp_path, cli, target):
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "index.yml"
    path.write_text(fill(yaml_template(), PM=M_WRONG, PL=L_WRONG, INS=""))
    locked = path if target == "file" else folder
    mode = locked.stat().st_mode
    locked.chmod(0o444 if target == "file" else 0o555)
    try:
        assert_refused(cli, path, 3, "read-only" if target == "file" else "folder is not writable", "unchanged")
        assert sorted(p.name for p in folder.iterdir()) == ["index.yml"]  # no temp file left behind
    finally:
        locked.chmod(stat.S_IMODE(mode))
    assert stat.S_IMODE(path.stat().st_mode) != 0o444 or target == "folder"


def test_a_file_changed_between_plan_and_write_is_left_alone(write):
    path = write("index.yml", fill(yaml_template(), PM=M_WRONG, PL=L_WRONG, INS=""))
    plan = plan_fixes(check_index(load_index(path)))
    assert len(plan.edits) == 2
    path.write_text(path.read_text() + "# edited meanwhile\n")
    changed = path.read_bytes()
    with pytest.raises(FixError, match="changed while it was being fixed"):
        apply_fixes(plan)
    assert path.read_bytes() == changed


def test_the_plan_says_where_each_value_goes(write):
    path = write("index.json", fill(_json_template(None), PM=M_WRONG, PL=L_WRONG).encode())
    plan = plan_fixes(check_index(load_index(path)))
    text = path.read_text()
    assert [(e.entry, e.old, e.new, text[e.start : e.end], e.line) for e in plan.edits] == [
        ("tresnet_m", M_WRONG, M_PARAMS, str(M_WRONG), 1),
        ("tresnet_l", L_WRONG, L_PARAMS, str(L_WRONG), 1),
    ]
    assert text.index(str(M_WRONG)) == plan.edits[0].start


def test_both_loaders_give_character_positions():
    """fix.py uses libyaml's marks only because they count characters like the pure-Python loader's."""
    text = "a: \u00e9\u20ac\U0001f600  # \u2028# \x85\r\nb: [1, '22']\rc: {d: \"333\"}\n"
    loaders = [yaml.SafeLoader] + ([yaml.CSafeLoader] if getattr(yaml, "__with_libyaml__", False) else [])
    spans = []
    for cls in loaders:
        loader = cls(text)
        root = loader.get_single_node()
        loader.dispose()
        b, c = root.value[1][1], root.value[2][1]
        found = [text[n.start_mark.index : n.end_mark.index] for n in (b.value[1], c.value[0][1])]
        assert found == ["'22'", '"333"'], cls
        spans.append([(n.start_mark.index, n.end_mark.index) for n in (b.value[1], c.value[0][1])])
    assert all(s == spans[0] for s in spans)
    assert _loader_class() in loaders


# --- check: the library call, names first, the --fix suggestion ---------------------------------------------


def test_unknown_name_fails_fast_without_torch():
    code = (
        "import sys; from tresnet_zoo.cli import main; "
        "rc = main(['check', 'tresnet-xl']); "
        "print('torch' in sys.modules); sys.exit(rc)"
    )
    env = python_env() | {"PYTHONPATH": str(REPO)}
    result = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, env=env, cwd=REPO, timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stdout.split() == ["False"]  # fast: refused before torch (seconds to import) was loaded
    assert result.stderr.startswith("error: unknown model 'tresnet-xl'")


def test_fix_is_suggested_only_when_it_can_change_something(write, cli):
    wrong_weights = fill(yaml_template(), PM=M_PARAMS, PL=L_PARAMS, INS="").replace(
        "tresnet_l-0123abcd.pth", "tresnet_m-0123abcd.pth"
    )
    path = write("weights.yml", wrong_weights)
    result = cli("check", "--index", path)
    assert result.code == 1 and "tresnet_l > Weights" in result.out
    assert "--fix" not in result.text

    path = write("params.yml", fill(yaml_template(), PM=M_WRONG, PL=L_PARAMS, INS=""))
    result = cli("check", "--index", path, "tresnet_m")
    assert result.code == 1
    assert f"hint: tresnet-zoo check --index {path} --fix tresnet_m  # " in result.err


def test_run_check_returns_the_whole_report_and_raises_when_asked(write):
    path = write("index.yml", fill(yaml_template(), PM=M_WRONG, PL=L_PARAMS, INS=""))
    report = run_check(path)
    assert not report.ok and not report.problems
    assert [(e.name, v.field, v.measured) for e, v in report.fixable] == [("tresnet_m", "Parameters", M_PARAMS)]
    with pytest.raises(CheckFailedError, match="tresnet_m > Parameters") as raised:
        run_check(path, raise_on_failure=True)
    assert raised.value.report.entries[0].name == "tresnet_m"

    bad = write("bad.yml", "Models:\n- Name: tresnet_m\n  Metadata: {Parameters: many}\n")
    report = run_check(bad)
    assert report.problems and not report.entries and not report.ok
    assert run_check(REPO / "registry" / "tresnet.yml", raise_on_failure=True).ok


def test_unknown_architecture_is_bad_data_not_usage(write, cli):
    path = write("index.yml", fill(yaml_template(), PM=M_PARAMS, PL=L_PARAMS, INS="").replace("tresnet_l", "resnet50"))
    result = cli("check", "--index", path, "--json")
    assert result.code == 1
    verdicts = {(e["name"], v["field"]): v for e in json.loads(result.out)["entries"] for v in e["verdicts"]}
    assert verdicts[("resnet50", "Architecture")]["status"] == "wrong"
    assert "unknown architecture" in verdicts[("resnet50", "Architecture")]["message"]


def test_json_output_lists_what_was_fixed(write, cli):
    path = write("index.yml", fill(yaml_template(), PM=M_WRONG, PL=L_PARAMS, INS=""))
    result = cli("check", "--index", path, "--fix", "--json")
    assert result.code == 0
    data = json.loads(result.out)
    assert data["ok"] and [(f["entry"], f["old"], f["new"]) for f in data["fixed"]] == [
        ("tresnet_m", M_WRONG, M_PARAMS)
    ]
    assert data["fixed"][0]["line"] == 5 and os.path.samefile(data["fixed"][0]["file"], path)


def test_check_module_imports_neither_torch_nor_jsonschema():
    code = "import sys, tresnet_zoo.check, tresnet_zoo.fix; print('torch' in sys.modules, 'jsonschema' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=python_env() | {"PYTHONPATH": str(REPO)},
        cwd=REPO,
        timeout=60,
    )
    assert result.stdout.split() == ["False", "False"], result.stderr


def test_decoys_in_comments_strings_and_tags_are_left_alone(write, cli):
    """Text that looks like the value (a comment, another field's string) stays; a tag before the value stays."""
    template = (
        yaml_template()
        .replace(
            "    Parameters: @PM@   # counted by hand",
            f"    # Parameters: {M_WRONG} (upstream said)\n    Parameters: !!int @PM@   # counted by hand",
        )
        .replace(
            "  Weights: https://example.org/tresnet_l",
            f"  README: 'Parameters: {L_WRONG}'\n  Weights: https://example.org/tresnet_l",
        )
    )
    out = round_trip(write, cli, "index.yml", template)
    assert (
        f"# Parameters: {M_WRONG} (upstream said)".encode() in out
        and f"README: 'Parameters: {L_WRONG}'".encode() in out
    )


def test_values_in_an_imported_file_and_through_a_link_are_fixed_where_they_are_written(tmp_path, cli):
    template = yaml_template()
    real = tmp_path / "real"
    real.mkdir()
    (real / "models.yml").write_text(fill(template, PM=M_WRONG, PL=L_WRONG, INS=""))
    (tmp_path / "models.yml").symlink_to(real / "models.yml")
    root = tmp_path / "index.yml"
    root.write_text("Import:\n- models.yml\n")
    assert cli("check", "--index", root, "--fix").code == 0
    assert (tmp_path / "models.yml").is_symlink()  # the link is kept; the file it points at is fixed
    assert (real / "models.yml").read_text() == fill(template, PM=M_PARAMS, PL=L_PARAMS, INS="")
    assert root.read_text() == "Import:\n- models.yml\n"


def test_flow_style_models_list_on_one_line(write, cli):
    template = (
        "Models: [{Name: tresnet_l, Metadata: {Parameters: @PL@, FLOPs: 10877566880, File Size: 224440219, "
        "Image Size: 224}, Weights: 'https://example.org/tresnet_l-0123abcd.pth'}, {Name: tresnet_m, Metadata: "
        "{FLOPs: 5736545792, Parameters: '@PM@', File Size: 125861314, Image Size: 224}, "
        "Weights: 'https://example.org/tresnet_m-0123abcd.pth'}]\n"
    )
    round_trip(write, cli, "index.yaml", template)


@pytest.mark.parametrize("breaks", ["\u2028", "\x85", "\u2029"], ids=["LS", "NEL", "PS"])
def test_a_second_reading_hidden_in_a_comment_is_not_what_gets_fixed(write, cli, breaks):
    """check reads U+2028/NEL/U+2029 as ordinary characters (YAML 1.2); --fix read them as line breaks
    (PyYAML's 1.1), so a comment could hold a decoy entry that only --fix saw, followed by a quote that
    swallowed the real entry: --fix rewrote the comment and reported the real line as fixed. Both read alike."""
    decoy = breaks.join(
        [
            "",
            "Models:",
            "- Name: tresnet_m",
            "  Metadata: {Parameters: @DECOY@, FLOPs: 5736545792, File Size: 125861314, Image Size: 224}",
            "  Weights: https://example.org/tresnet_m-0123abcd.pth",
            'Hidden: "',
        ]
    )
    real = yaml_template().split("- Name: tresnet_l")[0]
    template = f"Type: model-index  #{decoy}\n{real}#{breaks}\"\n"
    out = round_trip(write, cli, "index.yml", template, DECOY=M_WRONG)
    assert out.count(str(M_WRONG).encode()) == 1  # the decoy in the comment is left as it was


def test_an_entry_changed_between_check_and_fix_is_not_given_the_old_measurement(write):
    template = yaml_template().replace("FLOPs: 5736545792", "FLOPs: 6000000000")
    path = write("index.yml", fill(template, PM=M_PARAMS, PL=L_PARAMS, INS="").encode())
    report = check_index(load_index(path))
    assert [(e.name, v.field) for e, v in report.fixable] == [("tresnet_m", "FLOPs")]
    before = "    Image Size: 224\n  Weights: https://example.org/tresnet_m"
    changed = path.read_text().replace(before, before.replace("224", "448"))
    assert changed != path.read_text()
    path.write_text(changed)
    with pytest.raises(FixError):
        apply_fixes(plan_fixes(report))
    assert path.read_text() == changed


def test_the_check_table_shows_verdicts_not_markup(write, cli):
    """The console prints with markup off, and the table's cells were markup strings: `[green]ok[/]` was
    printed literally in every cell."""
    path = write("index.yml", fill(yaml_template(), PM=M_WRONG, PL=L_PARAMS, INS="").encode())
    result = cli("check", "--index", path)
    assert result.code == 1
    assert "[green]" not in result.out and "[/]" not in result.out and "[bold red]" not in result.out, result.out
    row = next(line for line in result.out.splitlines() if "tresnet_m" in line)
    assert "WRONG" in row and "ok" in row
