"""The studio web app on Modal: a small CPU web function serving `web/` and its runtime config.

Files are served as they are (functions/static_site.py): hashed asset URLs are cached for a year, `index.html`
and `config.json` never. The config comes from the production secret (SUPABASE_URL, SUPABASE_PUBLISHABLE_KEY,
ATELIER_WEB_API_URL); add the function's URL to the API's CORS_ORIGINS. Any static host works as well.
"""

from __future__ import annotations

import modal

from functions.modal_app import SECRETS, app, web_image


@app.function(image=web_image, secrets=SECRETS, scaledown_window=300)
@modal.concurrent(max_inputs=200)
@modal.asgi_app(label="atelier-web")
def web() -> object:
    from config.settings import get_settings
    from functions.static_site import build_site

    return build_site(get_settings())
