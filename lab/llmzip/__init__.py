"""llmzip: a pretrained LM driving the range coder (lossless, `.llmz`)."""
