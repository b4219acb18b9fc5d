"""Presenting results: tables, figures and explorers; nothing here computes a score.

- :mod:`mvae_lib.present.tables`       Tables 1-3 as text (command line) and Markdown (the book)
- :mod:`mvae_lib.present.plots`        the tables as static figures (Matplotlib), axis limits of code maps
- :mod:`mvae_lib.present.images`       MNIST halves as pixels and digits, the explorers' figures
- :mod:`mvae_lib.present.interactive`  interactive figures (Bokeh) with their static image for print
- :mod:`mvae_lib.present.latent_maps`  zoomable maps of codes, coloured by label, a digit on hover
- :mod:`mvae_lib.present.bar_charts`   the tables as interactive bars, every split on hover
- :mod:`mvae_lib.present.explore`      what the explorers show, computed from saved runs
- :mod:`mvae_lib.present.widgets`      the explorers as widgets, and their static form in the book
"""
