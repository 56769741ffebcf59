"""Figures and reports (matplotlib; never torch): primitives, panels, the report builder."""
