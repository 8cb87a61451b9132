"""/docs renders offline: the Swagger UI page loads its script and styles from this API, no CDN."""

from __future__ import annotations

import re

from tests.api.conftest import Api


def test_the_docs_page_loads_every_asset_from_this_api(api: Api) -> None:
    page = api.client.get("/docs")

    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text) + re.findall(
        r"url: '([^']+)'", page.text
    )
    assert urls and not [url for url in urls if "//" in url], urls  # nothing absolute: no CDN
    for url in urls:
        asset = api.client.get(url)
        assert asset.status_code == 200, url
    assert (
        api.client.get("/docs-assets/swagger-ui-bundle.js")
        .headers["content-type"]
        .startswith(("application/javascript", "text/javascript"))
    )


def test_redoc_is_off_rather_than_blank(api: Api) -> None:
    assert api.client.get("/redoc").status_code == 404
