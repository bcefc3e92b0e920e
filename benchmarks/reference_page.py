"""The floor for bench_app.py's first-chart time: a bare Streamlit page with one Plotly chart,
served the same way as app.py. Whatever lrviz's page costs beyond this is ours."""
import plotly.graph_objects as go
import streamlit as st

st.plotly_chart(go.Figure(go.Scatter(x=list(range(1000)), y=[1 / (1 + i / 100) for i in range(1000)])))
