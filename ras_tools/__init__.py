"""Development tooling: the chaos run and the doubles it and the tests start. Never imported by a
production process (tests/test_layering.py checks it); `ras chaos` loads it only when asked."""
