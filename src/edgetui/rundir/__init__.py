"""The run folder: the files a runner writes and the console, status and ranking read."""
