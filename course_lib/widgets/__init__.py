"""Interactive demos (ipywidgets), one module per topic; import them explicitly."""
