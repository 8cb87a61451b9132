"""SQL plumbing behind `ras_platform.state_store`: schema, engines, migrations, domain events."""
