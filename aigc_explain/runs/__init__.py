"""Run folders: the output contract (names), atomic writing, the folder life cycle, and the one reader."""
