"""The API describes itself: the OpenAPI schema and its docs page, served without a CDN."""


def test_the_docs_page_shows_the_schema_with_local_files(client, db):
    response = client.get("/api/docs")

    assert response.status_code == 200
    page = response.content.decode()
    assert "/api/v1/openapi.json" in page
    assert "/static/ninja/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower()


def test_the_schema_declares_bearer_tokens(client, db):
    schema = client.get("/api/v1/openapi.json").json()

    assert "/api/v1/records" in schema["paths"]
    assert {scheme["scheme"] for scheme in schema["components"]["securitySchemes"].values()} == {"bearer"}
