"""Do the explanations deserve trust? Sanity (randomisation), faithfulness, robustness, the planted benchmark."""
