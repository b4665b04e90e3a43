"""The benchmark command (`python -m benchmarks`): issue 14's B1–B6 against the real servers."""
