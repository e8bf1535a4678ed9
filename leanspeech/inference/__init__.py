"""Running trained models on audio: files, arrays and streams."""
