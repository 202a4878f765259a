"""The tally command line: load_file(), run() and main()."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from plugins.tally.cli import TallyInputError, load_file, main, run

ROOT = Path(__file__).resolve().parents[3]

GOOD = {
    "options": ["Garden", "Parking", "Playground"],
    "ballots": [["Garden", "Playground"], ["Parking"], ["Playground", "Garden"],
                ["Parking", "Garden"], ["Garden"]],
    "counts": [4, 3, 2, 1, 1],
}


def write(tmp_path, data, name="ballots.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return str(path)


def test_run_irv_on_good_data():
    result = run("irv", GOOD)
    assert result["winners"] == ["Garden"]
    assert [r["counts"] for r in result["rounds"]] == [
        {"Garden": 5, "Parking": 4, "Playground": 2}, {"Garden": 7, "Parking": 4}]


@pytest.mark.parametrize("method,ballots,winners", [
    ("majority", ["yes", "no", "yes"], ["yes"]),
    ("plurality", ["Parking", "Garden", "Parking"], ["Parking"]),
    ("approval", [["Garden", "Parking"], ["Parking"]], ["Parking"]),
    ("schulze", [["Playground", "Garden"], ["Playground"]], ["Playground"]),
    ("borda", [["Garden", "Parking", "Playground"]], ["Garden"]),
    ("score", [{"Garden": 3, "Parking": 9}], ["Parking"]),
    ("satisfaction", [{"Garden": 5}, {"Garden": 4, "Parking": 5}], ["Parking"]),
])
def test_run_every_method_with_raw_ballots(method, ballots, winners):
    result = run(method, {"options": GOOD["options"], "ballots": ballots})
    assert result["winners"] == winners


def test_run_passes_params():
    data = {"options": ["x"], "ballots": ["yes", "no", "yes"], "params": {"threshold": "two_thirds", "quorum": 4}}
    result = run("majority", data)
    assert result["quorum_met"] is False and result["passed"] is False


def test_run_with_custom_methods_mapping():
    from plugins.tally import METHODS

    with pytest.raises(TallyInputError, match="unknown method 'irv'"):
        run("irv", GOOD, {"borda": METHODS["borda"]})
    assert run("borda", GOOD, {"borda": METHODS["borda"]})["winners"] == ["Garden"]


@pytest.mark.parametrize("data,fragment", [
    ([], "JSON object"),
    ({"ballots": []}, "options"),
    ({"options": [], "ballots": []}, "options"),
    ({"options": ["A", ""], "ballots": []}, "options[1]"),
    ({"options": ["A", 3], "ballots": []}, "options[1]"),
    ({"options": ["A", "A"], "ballots": []}, "'A' is listed more than once"),
    ({"options": ["A"], "ballots": {}}, "ballots: must be a list"),
    ({"options": ["A"], "ballots": [["A"]], "counts": [1, 2]}, "counts"),
    ({"options": ["A"], "ballots": [["A"], ["A"]], "counts": [1, -2]}, "counts[1]"),
    ({"options": ["A"], "ballots": [["A"]], "counts": [True]}, "counts[0]"),
    ({"options": ["A"], "ballots": [], "params": []}, "params"),
    ({"options": ["A"], "ballots": [], "param": {}}, "unknown key(s): param"),
    ({"options": ["A"], "ballots": [], "params": {"quorum": 1}}, "params: unknown parameter"),
])
def test_run_refuses_bad_structure(data, fragment):
    with pytest.raises(TallyInputError) as info:
        run("irv", data)
    assert fragment in info.value.message


@pytest.mark.parametrize("method,ballots,index,fragment", [
    ("irv", [["Garden"], ["Parking"], ["Garden", "Garden"]], 2, "ranking: An option is ranked more than once."),
    ("irv", [["Garden"], "Parking"], 1, "ranking: Give a list of options."),
    ("borda", [["Garden"], ["Garden", None]], 1, "ranking: The ranking has an empty place."),
    ("plurality", ["Garden", "Garden", "Pool"], 2, "choice: This option is not on the ballot."),
    ("approval", [["Garden"], []], 1, "approvals: Approve at least one option."),
    ("score", [{"Garden": 3}, {"Garden": 3}, {"Garden": 3}, {"Garden": 11}], 3, "scores: A score is out of range."),
    ("majority", ["yes", "si"], 1, "choice: Vote yes, no or abstain."),
])
def test_run_names_the_bad_ballot(method, ballots, index, fragment):
    with pytest.raises(TallyInputError) as info:
        run(method, {"options": GOOD["options"], "ballots": ballots})
    assert info.value.message == f"ballots[{index}]: {fragment}"


def test_first_bad_ballot_is_reported_even_after_identical_good_ones():
    ballots = [["Garden"]] * 5 + [["Pool"]] + [["Garden"]] + [["Pool"]]
    with pytest.raises(TallyInputError, match=r"^ballots\[5\]: ranking"):
        run("irv", {"options": GOOD["options"], "ballots": ballots})


def test_approval_limit_from_params():
    data = {"options": GOOD["options"], "ballots": [["Garden", "Parking"]], "params": {"max_approvals": 1}}
    with pytest.raises(TallyInputError, match=r"ballots\[0\]: approvals: Too many"):
        run("approval", data)


def test_load_file_good_and_malformed(tmp_path):
    assert load_file(write(tmp_path, GOOD))["ballots"] == GOOD["ballots"]
    with pytest.raises(TallyInputError, match="not valid JSON .line 1"):
        load_file(write(tmp_path, '{"options": ["A",', "broken.json"))
    with pytest.raises(TallyInputError, match="cannot read"):
        load_file(str(tmp_path / "missing.json"))


def test_main_prints_json_result(tmp_path, capsys):
    assert main(["--method", "irv", write(tmp_path, GOOD)]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["winner"] == "Garden" and err == ""


@pytest.mark.parametrize("content,args,fragment", [
    ("{not json", ["--method", "irv"], "not valid JSON"),
    (json.dumps(GOOD), ["--method", "condorcet-ish"], "unknown method 'condorcet-ish'"),
    (json.dumps({"options": ["A", "B"], "ballots": [["A"], ["B"], ["A", "C"]]}), ["--method", "schulze"],
     "ballots[2]: ranking: A ranked option is not on the ballot."),
])
def test_main_bad_input_exits_2_with_message(tmp_path, capsys, content, args, fragment):
    path = write(tmp_path, content)
    assert main([*args, path]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("error: ") and fragment in err


def test_module_entry_point(tmp_path):
    path = write(tmp_path, {"options": ["A", "B"], "ballots": [["B"], ["A", "B"], ["B", "A"]]})
    ok = subprocess.run([sys.executable, "-m", "plugins.tally.cli", "--method", "borda", path],
                        cwd=ROOT, capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["scores"] == {"A": 1, "B": 2}
    bad = subprocess.run([sys.executable, "-m", "plugins.tally.cli", "--method", "borda", path + ".nope"],
                         cwd=ROOT, capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and "cannot read" in bad.stderr
