"""The Preview tab: the schedule's curve at once (NumPy), its numbers and its pitfalls."""
from __future__ import annotations

import streamlit as st

from lrviz import figures, optimizers, panels
from lrviz.params import ConfigError
from lrviz.schedules import FAMILIES, check_on_run, check_schedule, coverage, family_id, pitfalls

from . import widgets
from .view import VIEW, view

SANE_RATE = 1.0  # Adam on these models diverges far below this; above it the page warns


def preview_data(cfg, spe, show_errors: bool = True, marks=()):
    """(figure, exact columns) of the preview, with the comparison schedule if it is valid."""
    epochs = cfg["training"]["epochs"]
    options = panels.read_preview(lambda k, d=None: view(k) if k in VIEW else st.session_state.get(k, d),
                                  spe, spe * epochs)
    compare = None
    if options.compare is not None:
        try:
            compare = check_schedule(options.compare, "comparison schedule")
            check_on_run(compare, epochs, spe, "comparison schedule")  # over this run, whatever the data
        except ConfigError as exc:
            if show_errors:
                widgets.show_error(exc, "Comparison schedule refused")
    return figures.preview(cfg, spe, compare, options.log_y, options.adam_step, marks)


def preview_tab(cfg, spe) -> None:
    if cfg is None:
        st.info("Fix the setting named above to see the curve.")
        return
    epochs = cfg["training"]["epochs"]
    notes = coverage.notes(cfg["schedule"], epochs, spe)
    for note in notes:
        st.warning(note.text, icon=":material/straighten:")
    for text in coverage.arithmetic(cfg["schedule"], epochs, spe):
        st.info(text, icon=":material/calculate:")
    fig, columns = preview_data(cfg, spe, marks=[(n.step, n.label) for n in notes])
    st.latex(FAMILIES[family_id(cfg["schedule"])].formula)
    st.plotly_chart(fig, key="preview.chart", config={"displaylogo": False})
    lr = columns["learning_rate"]
    cols = st.columns(5)
    cols[0].metric("steps per epoch", f"{spe:,}", help="ceil(training rows / batch size)")
    cols[1].metric("total steps", f"{epochs * spe:,}")
    for col, (label, value, why) in zip(cols[2:], (("first lr", lr[0], "The rate of step 0."),
                                                   ("last lr", lr[-1], "The rate of the run's last step."),
                                                   ("peak lr", lr.max(), "The highest rate of the run."))):
        col.metric(label, widgets.fmt(value), help=f"{why} Exact: {value!r}")
    with st.expander("Why warmup helps Adam early on", icon=":material/trending_up:"):
        beta_2 = optimizers.settings(cfg["optimizer"])["beta_2"]
        st.plotly_chart(figures.warmup_figure(beta_2, columns["step"], lr), key="preview.warmup",
                        config={"displaylogo": False})
        st.caption(f"Adam divides each step by √v̂, a running mean of squared gradients over about 1/(1−β₂) = "
                   f"{1 / (1 - beta_2):,.0f} steps. Early on it has seen few gradients, so √v̂ is a noisy "
                   "estimate and the steps can be far too large. RAdam (Liu et al. 2019) scales the adaptive "
                   "step by r_t, which says how much of that estimate to trust; Ma & Yarats (2019) showed that a "
                   "plain linear warmup over 2/(1−β₂) steps does about the same. A schedule that starts below "
                   "those lines is at least as careful; one at its peak from step 0 relies on small early "
                   "gradients. Computed from β₂ alone (r_t checked against PyTorch's RAdam).")
    if lr.max() > SANE_RATE:
        st.warning(f"**A peak rate of {widgets.fmt(lr.max())} is far above what Adam tolerates** on models like "
                   "these (it usually trains between 1e-4 and 1e-2): expect the loss to diverge.",
                   icon=":material/warning:")
    for i, pit in enumerate(pitfalls(cfg["schedule"], epochs, spe)):
        st.warning(f"**{pit.title}.** {pit.text}", icon=":material/warning:")
        if pit.curves:
            curves = [figures.Curve(label, s, v, "solid" if j == 0 else "dash")
                      for j, (label, s, v) in enumerate(pit.curves)]
            st.plotly_chart(figures.preview_figure(curves, spe, True, title=pit.title + " (log scale)"),
                            key=f"pitfall.chart.{i}", config={"displaylogo": False})
        if pit.code:
            st.code(pit.code, language="python")
