"""Architecture of C2BIN as skc2bin implements it (drawn at docs build time)."""

import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

ONLINE, TARGET, HEAD, LOSS, DATA = "#cfe2f3", "#e6e6e6", "#d9ead3", "#f4cccc", "#fff2cc"

fig, ax = plt.subplots(figsize=(11, 5.6))
ax.set_xlim(0, 11)
ax.set_ylim(0, 5.6)
ax.set_axis_off()


def box(x, y, text, color, w=1.35, h=0.6, fontsize=9):
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.04",
                                fc=color, ec="0.3", lw=0.8))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)


def arrow(x0, y0, x1, y1, text=None, style="-|>", color="0.2", ls="-", dx=0.0, dy=0.12, rad=0.0):
    ax.add_patch(FancyArrowPatch((x0, y0), (x1, y1), arrowstyle=style, mutation_scale=10,
                                 color=color, lw=0.9, ls=ls, connectionstyle=f"arc3,rad={rad}"))
    if text:
        ax.text((x0 + x1) / 2 + dx, (y0 + y1) / 2 + dy, text, ha="center", va="bottom", fontsize=8,
                color=color)


# data and the two views
box(0.7, 2.8, "batch $x$\n($N$ samples)", DATA, w=1.1, h=0.8)
box(2.1, 4.0, "view $v_1$", DATA, w=1.0)
box(2.1, 1.6, "view $v_2$", DATA, w=1.0)
arrow(1.25, 3.0, 1.6, 3.85, "$t_1$", dx=-0.15, dy=0.0)
arrow(1.25, 2.6, 1.6, 1.75, "$t_2$", dx=-0.15, dy=-0.2)

# online network on v1
box(3.7, 4.0, "backbone $f_\\theta$", ONLINE)
box(5.4, 4.0, "projector $g_\\theta$", ONLINE)
box(7.1, 4.0, "predictor $q_\\theta$", ONLINE)
arrow(2.6, 4.0, 3.02, 4.0)
arrow(4.38, 4.0, 4.72, 4.0, "$y$", dy=0.05)
arrow(6.08, 4.0, 6.42, 4.0, "$z$", dy=0.05)
ax.text(5.4, 4.55, "online network (trained by the optimizer)", ha="center", fontsize=8.5, color="#1f4e79")

# target network on v2
box(3.7, 1.6, "backbone $f_\\xi$", TARGET)
box(5.4, 1.6, "projector $g_\\xi$", TARGET)
arrow(2.6, 1.6, 3.02, 1.6)
arrow(4.38, 1.6, 4.72, 1.6)
ax.text(4.55, 1.0, "target network: no gradient,\n$\\xi \\leftarrow \\tau\\,\\xi + (1-\\tau)\\,\\theta$ after every step",
        ha="center", va="top", fontsize=8.5, color="0.3")
arrow(3.7, 3.68, 3.7, 1.92, "EMA", color="0.45", ls="--", dx=0.25, dy=-0.1)
arrow(5.4, 3.68, 5.4, 1.92, "EMA", color="0.45", ls="--", dx=0.25, dy=-0.1)

# instance loss
box(9.0, 2.8, "$\\mathcal{L}_{inst}$\nBYOL: $2 - 2\\cos$", LOSS, w=1.5, h=0.75)
arrow(7.78, 4.0, 8.6, 3.2, "$q(g(f(v_1)))$", dx=0.35, dy=0.0)
arrow(6.08, 1.6, 8.6, 2.42, "stop-grad $g_\\xi(f_\\xi(v_2))$", dx=0.2, dy=-0.42)

# cluster heads on y (both views through the online network)
box(3.7, 5.2, "cluster heads $h_k$\n(n_init per entry of n_clusters)", HEAD, w=2.4, h=0.6, fontsize=8.5)
arrow(3.7, 4.32, 3.7, 4.88)
box(7.1, 5.2, "$A_1, A_2 \\in \\mathbb{R}^{N \\times k}$ (softmax)", HEAD, w=2.6, h=0.55, fontsize=8.5)
arrow(4.92, 5.2, 5.78, 5.2)
box(9.9, 4.6, "$\\mathcal{L}_{contrast}$: column $j$ of $A_1$\nvs column $j$ of $A_2$\n$\\mathcal{L}_{ent}$: $\\log k - H(\\bar{A}_v)$",
    LOSS, w=1.9, h=1.0, fontsize=8)
arrow(8.42, 5.05, 8.93, 4.85)

ax.text(0.1, 0.25,
        "Each view also passes the other branch (the losses are symmetric in $v_1, v_2$). "
        "$L = \\mathcal{L}_{inst} + \\lambda_c\\cdot\\mathrm{mean}_{heads}"
        "(\\mathcal{L}_{contrast} + \\lambda_e\\,\\mathcal{L}_{ent})$.  "
        "transform$(X) = y$, predict$(X) = \\arg\\max$ of the primary head.",
        fontsize=8.5, color="0.15")
fig.tight_layout()
