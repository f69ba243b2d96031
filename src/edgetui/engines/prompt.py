"""The prompt text every engine cuts its fixed-length prompts from."""

# A fixed, ordinary English text: prompts of N tokens are its first N tokens (repeated if needed).
PROMPT_TEXT = (
    "Edge devices bring language models close to the people who use them. A small board on a desk, "
    "in a vehicle or in a field station can answer questions, summarise notes and translate short "
    "messages without sending anything to a data centre. Choosing the right board, model and settings "
    "is a matter of measurement: how fast the first token arrives, how many tokens follow each second, "
    "how much energy each token costs, how hot the board gets and how much memory the model needs. "
    "Explain, step by step, how you would compare three such boards fairly, what you would record for "
    "each run, and which mistakes would make the comparison misleading. "
)
