"""`bipe demo --quick`: the whole pipeline in seconds (report, plot, summary)."""

from bipe.experiments.cli import main
from bipe.experiments.demo import demo_configs


def test_demo_configs_compare_rope_and_bipe_rope_on_both_tasks():
    configs = demo_configs()
    assert {(c.task, c.model.pe) for c in configs} == {
        (t, pe) for t in ("arith", "binfa_lm") for pe in ("rope", "bipe_rope", "alibi",
                                                          "bipe_alibi")}
    assert len({c.out for c in configs}) == len(configs)
    for c in configs:  # evaluated beyond the training range
        assert max(c.data.eval_lengths) >= 2 * max(
            int(x) for x in (c.data.operators if c.task == "arith" else c.data.segments)
            .split(":")[1:])


def test_quick_demo_writes_a_report_with_plots(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--out", str(out), "--jobs", "1"]) == 0
    text = (out / "report.md").read_text()
    assert "arith" in text and "binfa_lm" in text and "bipe_rope" in text
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert any("accuracy" in p for p in pngs)
    printed = capsys.readouterr().out
    assert str(out / "report.md") in printed and "| arith-rope | 1-2 | accuracy |" in printed
