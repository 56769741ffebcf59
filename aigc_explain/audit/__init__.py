"""Data-side evidence: what besides the generator gives the label away (file cues, shortcut checks)."""
