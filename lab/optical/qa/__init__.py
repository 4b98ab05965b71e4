"""Questions answered from vision-token memories: extractive questions from pages (questions), the answering
paths (ask: vision / ocr; answer: the text answerer) and the QA study (study)."""
