"""Quality of a model variant: perplexity over a corpus, divergence from a reference."""
