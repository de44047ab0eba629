"""``stackflow report``: one release as a timeline, a traffic chart and a verdict.

``model`` builds the report from what a release leaves behind (pure); ``collect`` reads
it through the adapters; ``html``, ``markdown`` and ``model.Report.to_dict`` render it;
``summary`` appends the Markdown to a GitHub Actions job summary.
"""
