"""Language models: loading Hugging Face models offline and embedding text with them."""
