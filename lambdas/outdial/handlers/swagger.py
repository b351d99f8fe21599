"""The Swagger UI page served at ``GET /docs``, with its script and style inlined."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources


@cache
def _swagger_assets() -> tuple[str, str]:
    """Swagger UI's script and style, as Powertools ships them (no CDN: the page works offline)."""
    package = resources.files("aws_lambda_powertools.event_handler.openapi.swagger_ui")
    return (
        (package / "swagger-ui-bundle.min.js").read_text(encoding="utf-8"),
        (package / "swagger-ui.min.css").read_text(encoding="utf-8"),
    )


def swagger_page(document_url: str = "openapi.json") -> str:
    """A Swagger UI page that loads the document from ``document_url`` (relative to the page, so
    it works under an API Gateway stage path too)."""
    script, style = _swagger_assets()
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="UTF-8">
  <title>outdial API</title>
  <style>{style}</style>
</head>
<body>
  <div id="swagger-ui">Loading…</div>
  <script>{script}</script>
  <script>
    window.ui = SwaggerUIBundle({{
      url: new URL({json.dumps(document_url)}, window.location.href).href,
      dom_id: "#swagger-ui",
      deepLinking: true,
      presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
      layout: "BaseLayout"
    }});
  </script>
</body>
</html>
"""
