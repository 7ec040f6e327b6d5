"""What the refinement phase did, in words: the outcome names kept in ``history_`` and the
summary a fit prints with ``verbose`` (:meth:`skc2bin.training.C2BINNet.refine`)."""

from . import refine

__all__ = ["OUTCOMES", "refine_outcome", "refine_summary", "merged_text"]


#: What the refinement did to one scale's head (``history_[-1]["refine_per_scale"][s]["outcome"]``).
OUTCOMES = {
    "graph": "the graph partition replaced the head",
    "graph-refined": "the graph partition, refined, replaced the head",
    "kept": "kept the C2BIN head",
    "refined": "a refined head replaced the C2BIN head",
}


#: Added to the outcome where the last step, two clusters re-paired, replaced the head.
PAIRED = ", then two of its clusters re-paired"


#: Added to the outcome where a layout's partition, refined, replaced the head (before the re-pairing).
LAYOUT = ", then a partition of a layout of the neighbour graph, refined, replaced it"


def merged_text(rounds):
    """Added to the outcome where ``rounds`` (> 0) rounds of the merge-and-split step, the last
    step, replaced the head; '' for none."""
    if not rounds:
        return ""
    return f", then {rounds} pair{'s' if rounds > 1 else ''} of its clusters merged and as many split"


def _steps_text(layout, paired, merged):
    """What the steps after the selection did to a head, added to its outcome in
    :func:`refine_summary` (the primary scale's line and every other scale's)."""
    return f"{LAYOUT if layout else ''}{PAIRED if paired else ''}{merged_text(merged)}"


def refine_outcome(kept, graph):
    """``'graph'`` (the distilled graph candidate replaced the head; ``graph``
    ``'distilled'`` or True), ``'graph-refined'`` (the refined one did:
    ``graph == 'refined'``), else ``'kept'`` (the C2BIN head stayed) or
    ``'refined'`` (a refined head replaced it)."""
    if graph:
        return "graph-refined" if graph == "refined" else "graph"
    return "kept" if kept else "refined"


def refine_summary(record):
    """What the refinement did, from a history row's ``refine_*`` keys
    (printed after a fit's epoch table with ``verbose``): one line for the
    primary scale, one more per further scale."""
    head = OUTCOMES[refine_outcome(record.get("refine_kept"), record.get("refine_graph"))]
    space = f" (neighbours from the {record['refine_space'].replace('-', ' ')})" if "refine_space" in record else ""
    if record.get("refine_gated"):
        k = (record.get("refine_per_scale") or [{}])[0].get("n_clusters", 0)
        merged = f", its clusters merged down to {refine.GATE_CLUSTERS}," if k > refine.GATE_CLUSTERS else ""
        share = record.get("refine_gate_agreement", record["refine_agreement"][0])
        gate = record.get("refine_gate", refine.MIN_NEIGHBOR_AGREEMENT)
        return (f"refinement{space}: {record['refine_dur']:.1f} s; skipped: the C2BIN head{merged} puts "
                f"{100 * share:.1f} % of the mined neighbour pairs in one cluster, under {100 * gate:.0f} %: "
                "too weak neighbours to refine with; kept every C2BIN head")
    lines = [f"refinement{space}: {record['refine_dur']:.1f} s; primary scale: {head}"
             f"{_steps_text(record.get('refine_layout'), record.get('refine_paired'), record.get('refine_merged'))}; "
             f"{100 * record['refine_changed']:.1f} % of the samples changed cluster"
             f"{_agreement_text(record.get('refine_agreement'))}"]
    for scale in (record.get("refine_per_scale") or [])[1:]:
        lines.append(f"  scale of {scale['n_clusters']} clusters: {OUTCOMES[scale['outcome']]}"
                     f"{_steps_text(scale.get('layout'), scale.get('paired'), scale.get('merged'))}; "
                     f"{100 * scale['changed']:.1f} % of the samples changed cluster"
                     f"{_agreement_text(scale.get('agreement'))}")
    return "\n".join(lines)


def _agreement_text(agreement):
    """``'; neighbour pairs in one cluster 0.773 -> 0.841'`` from (before, after), or ''."""
    return "" if not agreement else f"; neighbour pairs in one cluster {agreement[0]:.3f} -> {agreement[1]:.3f}"
