"""What a fit says about its refinement phase (skc2bin.training.refine_report)."""

import pytest

from skc2bin.training.refine_report import refine_outcome, refine_summary


def test_refine_summary_says_why_the_refinement_was_skipped():
    row = {"refine_dur": 0.25, "refine_changed": 0.0, "refine_kept": True, "refine_graph": False,
           "refine_gated": True, "refine_agreement": [0.7771, 0.7771], "refine_space": "representation"}
    assert refine_summary(row) == (
        "refinement (neighbours from the representation): 0.2 s; skipped: the C2BIN head puts 77.7 % of the mined "
        "neighbour pairs in one cluster, under 85 %: too weak neighbours to refine with; kept every C2BIN head")
    # the threshold the fit used, not the module's value at print time (older histories lack it)
    assert "under 90 %:" in refine_summary({**row, "refine_gate": 0.9})
    # a head of more than GATE_CLUSTERS clusters: the share the gate read, merged down
    finer = {**row, "refine_gate_agreement": 0.8012, "refine_per_scale": [{"n_clusters": 30}]}
    assert "skipped: the C2BIN head, its clusters merged down to 10, puts 80.1 % of" in refine_summary(finer)


def test_refine_summary_names_what_replaced_the_head():
    row = {"refine_dur": 1.25, "refine_changed": 0.373, "refine_kept": False, "refine_graph": True}
    assert refine_summary(row) == ("refinement: 1.2 s; primary scale: the graph partition replaced the head; "
                                   "37.3 % of the samples changed cluster")
    assert "kept the C2BIN head" in refine_summary({**row, "refine_graph": False, "refine_kept": True})
    assert "a refined head replaced" in refine_summary({**row, "refine_graph": False})
    scales = [{"n_clusters": 10, "outcome": "graph", "changed": 0.373},
              {"n_clusters": 100, "outcome": "kept", "changed": 0.0}]
    assert refine_summary({**row, "refine_per_scale": scales}).splitlines()[1:] == [
        "  scale of 100 clusters: kept the C2BIN head; 0.0 % of the samples changed cluster"]
    scales[1]["outcome"] = "graph-refined"
    assert refine_summary({**row, "refine_per_scale": scales}).splitlines()[1].startswith(
        "  scale of 100 clusters: the graph partition, refined, replaced the head;")
    assert refine_summary({**row, "refine_space": "weighted-input"}).startswith(
        "refinement (neighbours from the weighted input): 1.2 s; primary scale:")
    scales[1]["paired"] = True
    lines = refine_summary({**row, "refine_paired": True, "refine_per_scale": scales}).splitlines()
    assert lines[0].startswith("refinement: 1.2 s; primary scale: the graph partition replaced the head, then two "
                               "of its clusters re-paired; 37.3 %")
    assert lines[1].startswith("  scale of 100 clusters: the graph partition, refined, replaced the head, then two "
                               "of its clusters re-paired;")
    scales[1]["layout"] = True
    lines = refine_summary({**row, "refine_layout": True, "refine_paired": True, "refine_per_scale": scales}
                           ).splitlines()
    assert lines[0].startswith("refinement: 1.2 s; primary scale: the graph partition replaced the head, then a "
                               "partition of a layout of the neighbour graph, refined, replaced it, then two of its "
                               "clusters re-paired; 37.3 %")
    assert "then a partition of a layout of the neighbour graph, refined, replaced it, then two" in lines[1]
    scales[1]["layout"] = False
    scales[1]["agreement"] = [0.5, 0.8125]
    lines = refine_summary({**row, "refine_agreement": [0.7734, 0.8411], "refine_per_scale": scales}).splitlines()
    assert lines[0].endswith("37.3 % of the samples changed cluster; neighbour pairs in one cluster 0.773 -> 0.841")
    assert lines[1].endswith("; neighbour pairs in one cluster 0.500 -> 0.812")
    scales[1]["merged"] = 1
    lines = refine_summary({**row, "refine_paired": True, "refine_merged": 2, "refine_per_scale": scales}
                           ).splitlines()
    assert lines[0].startswith("refinement: 1.2 s; primary scale: the graph partition replaced the head, then two "
                               "of its clusters re-paired, then 2 pairs of its clusters merged and as many split; "
                               "37.3 %")
    assert "re-paired, then 1 pair of its clusters merged and as many split; 0.0 %" in lines[1]


@pytest.mark.parametrize("kept, graph, outcome", [(True, False, "kept"), (False, False, "refined"),
                                                   (True, True, "graph"), (False, True, "graph"),
                                                   (True, "distilled", "graph"), (False, "refined", "graph-refined")])
def test_refine_outcome(kept, graph, outcome):
    assert refine_outcome(kept, graph) == outcome
